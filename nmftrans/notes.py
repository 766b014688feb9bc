"""Activations -> note events. Pure NumPy post-processing: no I/O, no solving.

A note list is ``np.ndarray [shape=(n_notes, 4)], float64`` with columns onset (s), offset (s),
MIDI pitch and MIDI velocity, sorted by onset then pitch.

The tracker works on per-pitch activations normalised per file (see
:func:`normalise_activations`), so its thresholds do not depend on the recording's level or on
the instrument the dictionary was learned from. For each pitch it

1. finds candidate onsets where the activation rises (above ``rise_ratio`` times its minimum over
   the last ``rise_s`` seconds, by at least ``candidate_min``);
2. accepts a candidate whose peak over the next ``peak_window_s`` reaches ``onset_threshold`` and
   whose rise reaches ``rise_threshold``, unless a pitch an octave, a twelfth, two octaves or a
   seventeenth below rises more at the same time (``sub_ratio``: the candidate is then that
   note's partial, the classic octave error of NMF), and times it where the activation has risen
   ``onset_rise_fraction`` of the way from that minimum to its peak;
3. ends the note where the activation falls below ``frame_threshold`` times its peak, or at the
   next accepted onset of the same pitch (a re-struck note).
"""

from __future__ import annotations

from dataclasses import dataclass

import numba
import numpy as np

_EPS = 1e-12


@dataclass(frozen=True)
class NoteParams:
    """Settings of the note tracker (thresholds in units of the normalised activation).

    Attributes
    ----------
    onset_threshold : float
        Minimum peak of a note's normalised activation (lower finds quieter notes).
    frame_threshold : float
        A note ends when its activation falls below this fraction of its peak.
    rise_threshold : float
        Minimum rise of the activation at an onset.
    rise_s : float
        The rise is measured against the minimum over this many seconds before.
    rise_ratio : float
        A candidate onset's activation must exceed this multiple of that minimum.
    candidate_min : float
        Smallest rise considered at all.
    peak_window_s : float
        A note's peak is looked for this long after its onset.
    sub_intervals : tuple of int
        Intervals (semitones) below a pitch whose partials fall on it.
    sub_ratio : float
        Reject an onset if a pitch ``sub_intervals`` below rises more than ``sub_ratio`` times as
        much within ``sub_window_s``; 0 disables the check.
    sub_window_s : float
    floor : float
        Absolute floor of the offset threshold.
    offset_gap_s : float
        A note ends only where its activation stays below the offset threshold this long;
        shorter dips (a decaying note whose energy other templates take for a moment) are bridged.
    offset_shift_s : float or None
        Subtracted from each note's end: frames are centred, so the analysis window still
        overlaps a note for half a window after it stops. None: half the window (``window_s / 2``
        of :func:`activations_to_notes`).
    min_duration_s : float
        Notes shorter than this are lengthened to it (a real onset still counts).
    min_note_s : float
        Notes whose activation lasts less than this are dropped (0: keep all).
    min_ioi_s : float
        Minimum time between two onsets of the same pitch.
    onset_lag_s : float
        Subtracted from note times (centred frames rise a little before the annotated onset).
    onset_rise_fraction : float or None
        Time each onset where the activation has risen this fraction of the way from its
        minimum just before the onset (over ``rise_s``) to its peak, interpolated between
        frames. A sudden onset enters a centred window gradually, so a fixed fraction of the
        rise marks the same moment for loud and soft notes alike, whereas the first rising
        frame comes early for loud notes in silence and late for soft notes under others.
        None: the first rising frame.
    steepest_onset : bool
        Move each onset to the steepest rise before its peak (before ``onset_rise_fraction``).
    lowest, highest : int
        MIDI pitch range kept.
    """

    onset_threshold: float = 0.3
    frame_threshold: float = 0.05
    rise_threshold: float = 0.03
    rise_s: float = 0.035
    rise_ratio: float = 1.5
    candidate_min: float = 0.005
    peak_window_s: float = 0.1
    sub_intervals: tuple = (12, 19, 24, 28)
    sub_ratio: float = 0.0
    sub_window_s: float = 0.024
    floor: float = 0.005
    min_duration_s: float = 0.05
    min_note_s: float = 0.0
    min_ioi_s: float = 0.06
    onset_lag_s: float = 0.0
    onset_rise_fraction: float | None = 0.3
    offset_gap_s: float = 0.1
    offset_shift_s: float | None = None
    steepest_onset: bool = False
    lowest: int = 0
    highest: int = 127


def empty_notes() -> np.ndarray:
    """An empty note list, shape ``(0, 4)``."""
    return np.zeros((0, 4), dtype=np.float64)


def pitch_activations(H: np.ndarray, pitches: np.ndarray, weights: np.ndarray | None = None
                      ) -> tuple[np.ndarray, np.ndarray]:
    """Sum the (weighted) activations of all templates of each pitch.

    Parameters
    ----------
    H : np.ndarray [shape=(n_components, n_frames)]
    pitches : np.ndarray [shape=(n_components,)], int
        MIDI pitch of each template.
    weights : np.ndarray [shape=(n_components,)], optional
        Weight of each template in the sum (default 1).

    Returns
    -------
    A : np.ndarray [shape=(n_pitches, n_frames)], float32
    pitch_set : np.ndarray [shape=(n_pitches,)], int
        The sorted distinct pitches, one per row of ``A``.
    """
    pitch_set, index = np.unique(np.asarray(pitches), return_inverse=True)
    index = index.reshape(-1)
    A = np.zeros((len(pitch_set), H.shape[1]), dtype=np.float32)
    w = None if weights is None else np.asarray(weights, dtype=np.float32)
    # the r-th template of every pitch at once (in template order, as np.add.at would add them)
    rank = np.zeros(len(index), dtype=np.intp)
    seen = np.zeros(len(pitch_set), dtype=np.intp)
    for k, i in enumerate(index):
        rank[k] = seen[i]
        seen[i] += 1
    for r in range(int(seen.max(initial=0))):
        comps = np.flatnonzero(rank == r)
        rows = H[comps] if w is None else H[comps] * w[comps, None]
        A[index[comps]] += rows
    return A, pitch_set


def reference_level(A: np.ndarray, percentile: float = 90.0) -> float:
    """A file's reference activation: a high percentile of the loudest pitch per frame.

    Frames far below the file's maximum (silence) are left out, so long pauses do not lower it.
    """
    if A.size == 0:
        return 0.0
    peak = A.max(axis=0)
    top = float(peak.max())
    if top <= 0:
        return 0.0
    active = peak[peak > 1e-3 * top]
    return float(np.percentile(active, percentile))


def normalise_activations(A: np.ndarray, percentile: float = 90.0, *, copy: bool = True) -> np.ndarray:
    """Divide per-pitch activations by the file's :func:`reference_level` (loud notes ≈ 1).

    With ``copy=False`` a float32 ``A`` is divided in place (no second whole-file array).
    """
    ref = reference_level(A, percentile)
    out = np.array(A, dtype=np.float32, copy=True) if copy or A.dtype != np.float32 else A
    if ref > 0:
        np.divide(out, np.float32(ref), out=out)
    return out


def _prev_min(a: np.ndarray, k: int) -> np.ndarray:
    """Minimum of ``a[t-k:t]`` for each ``t`` of a nonnegative 1-D array (zeros before the start)."""
    out = np.zeros_like(a)
    n = len(a)
    if n > k:
        if k <= 16:  # a few shifted minima are cheaper than a running-minimum filter
            m = a[: n - k].copy()
            for j in range(1, k):
                np.minimum(m, a[j: n - k + j], out=m)
        else:
            from numpy.lib.stride_tricks import sliding_window_view

            m = sliding_window_view(a[:-1], k).min(axis=1)
        out[k:] = m
    return out


def _max_at(a: np.ndarray, at: np.ndarray, lo: int, hi: int) -> np.ndarray:
    """Maximum of ``a[t+lo : t+hi+1]`` and 0 for each ``t`` in ``at`` (zeros outside ``a``)."""
    from numpy.lib.stride_tricks import sliding_window_view

    if len(at) == 0:
        return np.zeros(0, dtype=a.dtype)
    pad_lo, pad_hi = max(0, -lo), max(0, hi)
    padded = np.concatenate([np.zeros(pad_lo, a.dtype), a, np.zeros(pad_hi, a.dtype)])
    windows = sliding_window_view(padded, hi - lo + 1)
    return np.maximum(windows[at + lo + pad_lo].max(axis=1), 0.0)


@numba.njit(cache=True, nogil=True)
def _first_long_run(a, start, stop, threshold, length):  # pragma: no cover - compiled
    """First ``t`` in ``[start, stop)`` where ``a`` stays below ``threshold`` for ``length`` items
    (or up to ``stop``); ``stop`` when there is none. A scalar scan (compiled): notes usually
    end a few frames after their peak, and the per-note NumPy version cost ~25 µs of overhead."""
    run = -1
    for t in range(start, stop):
        if a[t] < threshold:
            if run < 0:
                run = t
            if t - run + 1 >= length:
                return run
        else:
            run = -1
    return run if run >= 0 else stop


@numba.njit(cache=True, nogil=True)
def _rise_time(a, o, k, back, fraction):  # pragma: no cover - compiled
    """Fractional frame where ``a`` first reaches ``fraction`` of its rise from the minimum of
    ``a[o-back : o+1]`` (its first occurrence) to the peak ``a[k]`` (``k >= o``)."""
    lo = max(0, o - back)
    b = lo
    for t in range(lo + 1, o + 1):
        if a[t] < a[b]:
            b = t
    threshold = a[b] + fraction * (a[k] - a[b])
    for j in range(b, k):  # a[j] < threshold <= a[j + 1]
        if a[j + 1] >= threshold:
            return j + (threshold - a[j]) / max(a[j + 1] - a[j], _EPS)
    return float(k)


def activations_to_notes(A: np.ndarray, pitch_set: np.ndarray, frame_rate: float,
                         params: NoteParams = NoteParams(), window_s: float = 0.0) -> np.ndarray:
    """Track notes in normalised per-pitch activations.

    Parameters
    ----------
    A : np.ndarray [shape=(n_pitches, n_frames)]
        Normalised activations (about 1 for the loud notes of the file).
    pitch_set : np.ndarray [shape=(n_pitches,)], int
    frame_rate : float
        Frames per second; frame ``t`` is centred at ``t / frame_rate`` seconds.
    params : NoteParams
    window_s : float
        Length of the analysis window in seconds (sets the default ``offset_shift_s``).

    Returns
    -------
    notes : np.ndarray [shape=(n_notes, 4)], float64
    """
    A = np.asarray(A)
    if A.ndim != 2 or A.shape[0] != len(pitch_set):
        raise ValueError(f"A has shape {A.shape} but there are {len(pitch_set)} pitches")
    n_p, n = A.shape
    if n == 0 or n_p == 0:
        return empty_notes()
    frames = lambda s: max(1, int(round(s * frame_rate)))  # noqa: E731
    n_rise = frames(params.rise_s)
    sub_w = frames(params.sub_window_s) if params.sub_window_s > 0 else 0
    n_peak = frames(params.peak_window_s)
    row_of = {int(p): i for i, p in enumerate(pitch_set)}
    min_len = frames(params.min_duration_s)
    drop_len = params.min_note_s * frame_rate
    min_ioi = frames(params.min_ioi_s)
    gap = int(round(params.offset_gap_s * frame_rate))
    shift_s = window_s / 2.0 if params.offset_shift_s is None else params.offset_shift_s
    shift = int(round(shift_s * frame_rate))
    # one pitch at a time (float64 rows): memory stays at a few rows whatever the file's length
    rises: dict[int, np.ndarray] = {}

    def rise(i: int, a: np.ndarray | None = None, prev: np.ndarray | None = None) -> np.ndarray:
        """Rise of row ``i`` over its running minimum (``a``, ``prev``: the row and that minimum,
        where the caller has them)."""
        if i not in rises:
            a = np.asarray(A[i], dtype=np.float64) if a is None else a
            prev = _prev_min(a, n_rise) if prev is None else prev
            rises[i] = np.maximum(a - prev, 0.0)
        return rises[i]

    rows = []
    for i, p in enumerate(pitch_set):
        if p < params.lowest or p > params.highest:
            continue
        a = np.asarray(A[i], dtype=np.float64)
        if a.max() < params.onset_threshold:  # no onset can reach the threshold
            continue
        prev = _prev_min(a, n_rise)
        cand = ((a - prev) > params.candidate_min) & (a > params.rise_ratio * prev)
        starts = np.flatnonzero(cand & ~np.concatenate([[False], cand[:-1]]))
        if len(starts) == 0:
            continue
        r = _max_at(rise(i, a, prev), starts, -sub_w, sub_w)
        keep = (_max_at(a, starts, 0, n_peak - 1) >= params.onset_threshold) & (r >= params.rise_threshold)
        subs = [row_of[int(p) - k] for k in params.sub_intervals if int(p) - k in row_of]
        if subs and params.sub_ratio > 0 and keep.any():
            sub_rise = np.max([_max_at(rise(j), starts, -sub_w, sub_w) for j in subs], axis=0)
            keep &= ~(sub_rise > params.sub_ratio * r)
        onsets: list[int] = []
        for t in starts[keep].tolist():
            if onsets and t - onsets[-1] < min_ioi:
                continue
            onsets.append(t)
        if len(rises) > 2 * (len(params.sub_intervals) + 1):
            rises.clear()
        # optionally place each onset on the steepest rise before its peak (with long centred
        # frames the first rising frame can come tens of milliseconds before a sharp attack)
        if params.steepest_onset:
            steep = np.diff(a, prepend=0.0)
            onsets = sorted({o + int(np.argmax(steep[o:o + max(1, int(np.argmax(a[o:o + n_peak])) + 1)])) for o in onsets})
        limits = onsets[1:] + [n]
        peaks = [o + int(np.argmax(a[o:min(o + n_peak, lim)])) for o, lim in zip(onsets, limits)]
        if params.onset_rise_fraction is None:
            times = [float(o) for o in onsets]
        else:
            times = [_rise_time(a, o, k, n_rise, params.onset_rise_fraction) for o, k in zip(onsets, peaks)]
        times = [max(0.0, t / frame_rate - params.onset_lag_s) for t in times]
        for j, (o, k) in enumerate(zip(onsets, peaks)):
            peak = a[k]
            end = _first_long_run(a, k, limits[j], max(params.floor, params.frame_threshold * peak), gap)
            end = max(k + 1, end - shift)
            if end - o < drop_len:
                continue
            end = max(end, min(o + min_len, n))
            velocity = float(min(127, max(1, round(30 + 90 * min(1.0, peak) ** 0.5))))
            onset = times[j]
            offset = end / frame_rate - params.onset_lag_s
            if j + 1 < len(times):  # a re-struck note ends where the next one starts
                offset = min(offset, times[j + 1])
            rows.append((onset, max(offset, onset + 1.0 / frame_rate), float(p), velocity))
    if not rows:
        return empty_notes()
    notes = np.array(rows, dtype=np.float64)
    return notes[np.lexsort((notes[:, 2], notes[:, 0]))]
