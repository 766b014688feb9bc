"""Score-informed NMF: activations constrained by a synchronised score, and each note's timing.

Pure array code, no I/O (Müller, FMP C8.3; Ewert & Müller 2012). Given a score already mapped
onto the recording's time axis (a global synchronisation, :mod:`nmftrans.core.dtw`), every score
note opens a window of support in H: its pitch's attack templates around its onset, its sustain
templates from a little before its onset to a little after its offset. H is zero everywhere
else and MU keeps zeros at zero, so refining H only redistributes energy among the notes the
score allows. Each note's performed onset is then where its pitch's activation rises most
within its onset window.
"""

from __future__ import annotations

from dataclasses import dataclass

import numba
import numpy as np

from nmftrans.core import kernels
from nmftrans.errors import SettingError
from nmftrans.core.notes import _first_long_run, _prev_min, _rise_time

# Frames solved at once (columns are independent with W fixed: the result does not depend on it).
BLOCK_FRAMES = 128
# Candidate onsets: local maxima of a pitch's rise above this (normalised units).
CANDIDATE_MIN = 0.01
# Rises of at least this much count as fully strong in the matching of onsets to notes.
STRONG_RISE = 0.3
# Weight of a candidate's weakness against its distance from the synchronised onset.
MATCH_WEIGHT = 1.0
# Cost of leaving a strong candidate onset of a pitch unused (scaled by its strength like
# MATCH_WEIGHT): the k-th note of a run of repeated notes should take the k-th strike, not slip
# to a neighbouring one when the synchronisation is off by a repetition.
UNUSED_COST = 0.5
# Re-synchronisation (:func:`resynchronise`): search window (s) around each synchronised onset in
# the unconstrained activations, the cost of an unused strong strike there, and the radius (s)
# of the median of the notes' offsets.
RESYNC_SEARCH_S = 0.5
RESYNC_UNUSED_COST = 2.0
RESYNC_RADIUS_S = 0.5


@dataclass(frozen=True)
class AlignParams:
    """Settings of ``align``; validated here once for the CLI and the Python API.

    Attributes
    ----------
    before_s : float
        Support of a note opens this long before its synchronised onset; its onset is searched
        within ``± before_s`` of it.
    after_s : float
        Support of a note's sustain templates closes this long after its synchronised offset.
    n_iter : int
        MU iterations of the score-informed refinement.
    sync_rate : float
        Frames per second of the global synchronisation (DTW); lower is coarser and cheaper.
    threshold : float
        A note counts as played when its pitch's activation in the unconstrained transcription
        rises by at least this much around its performed onset (:func:`onset_rises`; units of
        the normalised activations, as ``transcribe``'s thresholds); its confidence is then >= 0.5.
    onset_rise_fraction : float
        The onset is timed where the activation has risen this fraction of the way to its peak.
    frame_threshold : float
        A note ends where its activation falls below this fraction of its peak.
    extra_threshold : float
        ``--extra``: unconstrained notes at least this strong that no score note explains.
    chord_s : float
        Notes written at the same time in the score are taken as struck together: each played
        note found within ``chord_s`` after the earliest of its chord takes that onset (a soft
        inner note's activation rises later than it sounds). 0: each note on its own.
    """

    before_s: float = 0.2
    after_s: float = 0.5
    n_iter: int = 15
    sync_rate: float = 20.0
    threshold: float = 0.08
    onset_rise_fraction: float = 0.3
    frame_threshold: float = 0.05
    extra_threshold: float = 0.3
    chord_s: float = 0.08

    def __post_init__(self) -> None:
        checks = [
            ("before_s", self.before_s, 0.0, 5.0), ("after_s", self.after_s, 0.0, 10.0),
            ("n_iter", self.n_iter, 1, 1000), ("sync_rate", self.sync_rate, 1.0, 100.0),
            ("threshold", self.threshold, 0.0, 10.0), ("frame_threshold", self.frame_threshold, 0.0, 1.0),
            ("onset_rise_fraction", self.onset_rise_fraction, 0.0, 1.0),
            ("extra_threshold", self.extra_threshold, 0.0, 10.0), ("chord_s", self.chord_s, 0.0, 1.0),
        ]
        for name, value, lo, hi in checks:
            if not (np.isfinite(value) and lo <= value <= hi):
                raise SettingError(name, f"must be between {lo:g} and {hi:g}, got {value:g}")
        if self.before_s <= 0:
            raise SettingError("before_s", f"must be above 0, got {self.before_s:g}")
        if not isinstance(self.n_iter, (int, np.integer)):
            raise SettingError("n_iter", f"must be a whole number, got {self.n_iter!r}")


def frames_of(seconds, frame_rate: float) -> np.ndarray:
    """Nearest frame index of each time, shape as ``seconds`` (int64)."""
    return np.rint(np.asarray(seconds, dtype=np.float64) * frame_rate).astype(np.int64)


def score_features(notes: np.ndarray, pitch_set: np.ndarray, n_frames: int, frame_rate: float,
                   decay_s: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """Synchronisation features of a score: a decaying piano roll and an onset roll.

    Parameters
    ----------
    notes : np.ndarray [shape=(n_notes, 4)]
        Onset (s), offset (s), MIDI pitch, velocity.
    pitch_set : np.ndarray [shape=(n_pitches,)]
        Rows of the result; notes of other pitches are left out.
    n_frames : int
    frame_rate : float
    decay_s : float
        Each note's row decays as ``exp(-t / decay_s)`` from its onset (a struck string fades).

    Returns
    -------
    roll, onsets : np.ndarray [shape=(n_pitches, n_frames)], float32
    """
    roll = np.zeros((len(pitch_set), n_frames), dtype=np.float32)
    onsets = np.zeros_like(roll)
    row = {int(p): i for i, p in enumerate(pitch_set)}
    for onset, offset, pitch, _ in np.asarray(notes, dtype=np.float64).reshape(-1, 4):
        i = row.get(int(round(pitch)))
        if i is None:
            continue
        a = int(np.clip(round(onset * frame_rate), 0, n_frames - 1))
        b = int(np.clip(round(offset * frame_rate), a + 1, n_frames))
        t = np.arange(b - a) / frame_rate
        roll[i, a:b] = np.maximum(roll[i, a:b], np.exp(-t / decay_s))
        onsets[i, a] = 1.0
    return roll, onsets


def audio_features(A: np.ndarray, step: int) -> tuple[np.ndarray, np.ndarray]:
    """Synchronisation features of normalised activations, pooled over ``step`` frames.

    Parameters
    ----------
    A : np.ndarray [shape=(n_pitches, n_frames)]
        Per-pitch activations normalised per file (loud notes about 1).
    step : int
        Frames pooled (maximum) into one synchronisation frame.

    Returns
    -------
    level, onsets : np.ndarray [shape=(n_pitches, ceil(n_frames / step))], float32
        Log-compressed activation and its log-compressed rise (half-wave rectified difference).
    """
    n_p, n = A.shape
    m = -(-n // step)
    padded = np.zeros((n_p, m * step), dtype=np.float32)
    padded[:, :n] = A
    pooled = padded.reshape(n_p, m, step).max(axis=2)
    level = np.log1p(10.0 * pooled)
    rise = np.maximum(np.diff(level, axis=1, prepend=0.0), 0.0)
    return level.astype(np.float32), rise.astype(np.float32)


def support_mask(onsets: np.ndarray, offsets: np.ndarray, rows: np.ndarray, n_rows: int, n_frames: int,
                 frame_rate: float, before_s: float, after_s: float, attack: bool) -> np.ndarray:
    """Where a pitch's templates may be active: the union of its notes' windows.

    Attack templates (``attack=True``): ``onset ± before_s``; sustain templates: from
    ``onset - before_s`` to ``offset + after_s``.

    Parameters
    ----------
    onsets, offsets : np.ndarray [shape=(n_notes,)]
        Synchronised note times (s).
    rows : np.ndarray [shape=(n_notes,)], int
        Row (pitch) of each note.
    n_rows, n_frames : int
    frame_rate, before_s, after_s : float
    attack : bool

    Returns
    -------
    mask : np.ndarray [shape=(n_rows, n_frames)], bool
    """
    mask = np.zeros((n_rows, n_frames), dtype=bool)
    lo = np.clip(frames_of(onsets - before_s, frame_rate), 0, n_frames)
    end = onsets + before_s if attack else np.maximum(offsets, onsets) + after_s
    hi = np.clip(frames_of(end, frame_rate) + 1, 0, n_frames)
    for r, a, b in zip(rows, lo, hi):
        mask[r, a:b] = True
    return mask


def solve_constrained(V: np.ndarray, W: np.ndarray, mask: np.ndarray, beta: float, n_iter: int,
                      tol: float = 0.0, gamma: float | None = None, threads: int = 1) -> np.ndarray:
    """Solve ``V ≈ W H`` for H with W fixed and H zero wherever ``mask`` is False.

    H starts at a constant (each frame's energy spread over its allowed templates) inside the
    mask; MU never moves a zero, so the support is kept. Solved ``BLOCK_FRAMES`` frames at a
    time with only the templates allowed somewhere in the block (the same H, less work).

    Parameters
    ----------
    V : np.ndarray [shape=(n_bins, n_frames)]
    W : np.ndarray [shape=(n_bins, n_templates)], unit-sum columns
    mask : np.ndarray [shape=(n_templates, n_frames)], bool
    beta : float
    n_iter : int
    tol : float
    gamma : float or None
        Step exponent (:func:`nmftrans.core.kernels.update_activations`); None: the monotone one.
    threads : int
        Blocks solved at once (the result does not depend on it; give BLAS one thread then).

    Returns
    -------
    H : np.ndarray [shape=(n_templates, n_frames)], float32
    """
    n_t, n = mask.shape
    H = np.zeros((n_t, n), dtype=np.float32)
    energy = V.sum(axis=0)

    def solve(start: int):
        cols = slice(start, min(n, start + BLOCK_FRAMES))
        comps = np.flatnonzero(mask[:, cols].any(axis=1))
        if len(comps) == 0:
            return comps, cols, None
        m = mask[comps, cols]
        start_level = np.maximum(energy[cols] / np.maximum(m.sum(axis=0), 1), np.float32(1e-9))
        H0 = np.where(m, start_level, np.float32(0.0)).astype(np.float32)
        Wb = np.ascontiguousarray(W[:, comps])
        Hb, _ = kernels.update_activations(np.ascontiguousarray(V[:, cols]), Wb, H0, beta=beta, n_iter=n_iter,
                                           tol=tol, gamma=gamma)
        return comps, cols, Hb

    starts = range(0, n, BLOCK_FRAMES)
    if threads > 1 and len(starts) > 1:
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(max_workers=threads, thread_name_prefix="nmftrans-align") as pool:
            results = list(pool.map(solve, starts))
    else:
        results = map(solve, starts)
    for comps, cols, Hb in results:
        if Hb is not None:
            H[comps, cols] = Hb
    return H


def chord_onsets(score_onsets: np.ndarray, onsets: np.ndarray, played: np.ndarray, within_s: float) -> np.ndarray:
    """Onsets of notes written together (equal score onsets, to 1 ms), drawn together.

    In each chord with at least two played notes, every note (played or not) found within
    ``within_s`` of the chord's earliest played note takes its onset; the others keep theirs.

    Parameters
    ----------
    score_onsets, onsets : np.ndarray [shape=(n_notes,)]
    played : np.ndarray [shape=(n_notes,)], bool
    within_s : float

    Returns
    -------
    onsets : np.ndarray [shape=(n_notes,)] (a new array)
    """
    out = np.array(onsets, dtype=np.float64)
    key = np.rint(np.asarray(score_onsets) * 1000.0).astype(np.int64)
    for k in np.unique(key[played]):
        chord = key == k
        if np.count_nonzero(chord & played) < 2:
            continue
        first = out[chord & played].min()
        near = np.flatnonzero(chord & (np.abs(out - first) <= within_s))
        out[near] = first
    return out


def local_offsets(synced: np.ndarray, found: np.ndarray, ok: np.ndarray, radius_s: float = 1.0) -> np.ndarray:
    """How far the performance runs ahead of the synchronised score around each note.

    The median of ``found - synced`` over the notes marked ``ok`` whose synchronised onsets lie
    within ``radius_s`` of the note's (0 where there are none): the global synchronisation is
    coarse (tens of ms), the strong notes found near it say which way to move their neighbours.

    Parameters
    ----------
    synced, found : np.ndarray [shape=(n_notes,)]
        Synchronised and located onsets (s).
    ok : np.ndarray [shape=(n_notes,)], bool
    radius_s : float

    Returns
    -------
    offsets : np.ndarray [shape=(n_notes,)]
    """
    order = np.argsort(synced[ok], kind="stable")
    t = synced[ok][order]
    d = (found[ok] - synced[ok])[order]
    lo = np.searchsorted(t, synced - radius_s, side="left")
    hi = np.searchsorted(t, synced + radius_s, side="right")
    return np.array([float(np.median(d[a:b])) if b > a else 0.0 for a, b in zip(lo, hi)])


@numba.njit(cache=True, nogil=True)
def _match(note_f, cand_f, cand_s, half, strength_ref, weight, unused):  # pragma: no cover - compiled
    """Order-preserving assignment of candidate onsets to notes of one pitch (edit distance).

    ``note_f``: synchronised onsets (frames, increasing); ``cand_f``, ``cand_s``: candidate
    frames (increasing) and their rises. Matching note ``j`` with candidate ``k`` costs
    ``|dt| / half + weight * (1 - min(1, s / strength_ref))`` (only within ``half``), leaving a
    note unmatched ``1 + weight``, leaving a candidate unused ``unused * min(1, s / strength_ref)``.
    Returns the candidate of each note, -1 for none.
    """
    J, K = len(note_f), len(cand_f)
    miss = 1.0 + weight
    D = np.zeros((J + 1, K + 1))
    how = np.zeros((J + 1, K + 1), dtype=np.int8)  # 0 skip candidate, 1 skip note, 2 match
    for k in range(1, K + 1):
        D[0, k] = D[0, k - 1] + unused * min(1.0, cand_s[k - 1] / strength_ref)
    for j in range(1, J + 1):
        D[j, 0] = j * miss
        how[j, 0] = 1
    for j in range(1, J + 1):
        for k in range(1, K + 1):
            best = D[j, k - 1] + unused * min(1.0, cand_s[k - 1] / strength_ref)
            h = 0
            if D[j - 1, k] + miss < best:
                best = D[j - 1, k] + miss
                h = 1
            dt = abs(cand_f[k - 1] - note_f[j - 1])
            if dt <= half:
                c = D[j - 1, k - 1] + dt / half + weight * (1.0 - min(1.0, cand_s[k - 1] / strength_ref))
                if c < best:
                    best = c
                    h = 2
            D[j, k] = best
            how[j, k] = h
    out = np.full(J, -1, dtype=np.int64)
    j, k = J, K
    while j > 0:
        h = how[j, k]
        if h == 2:
            out[j - 1] = k - 1
            j -= 1
            k -= 1
        elif h == 1:
            j -= 1
        else:
            k -= 1
    return out


def locate_notes(C: np.ndarray, rows: np.ndarray, onsets: np.ndarray, frame_rate: float, params: AlignParams,
                 limits: np.ndarray, window_s: float = 0.0, *, search_s: float | None = None,
                 unused: float = UNUSED_COST):
    """Each score note's performed onset, offset and strength in its pitch's activation.

    The candidate onsets of a pitch are the local maxima of its activation's rise (over the
    last 35 ms); the notes of that pitch take candidates in order (:func:`_match`: near their
    synchronised onsets, strong rises preferred, each candidate at most once, strong candidates
    left unused cost ``unused``, so a run of repeated notes keeps its count).

    Parameters
    ----------
    C : np.ndarray [shape=(n_rows, n_frames)]
        Per-pitch activations of the score-informed solve, normalised (loud notes about 1).
    rows : np.ndarray [shape=(n_notes,)], int
        Row of each note in ``C``.
    onsets : np.ndarray [shape=(n_notes,)]
        Synchronised onsets (s).
    frame_rate : float
    params : AlignParams
    limits : np.ndarray [shape=(n_notes,)]
        Latest end (s) of each note's sound (synchronised offset + ``after_s``).
    window_s : float
        Analysis window (s): offsets move back by half of it (frames are centred).
    search_s : float, optional
        A note's onset is searched within ``± search_s`` of its synchronised one (default
        ``params.before_s``).
    unused : float
        Cost of a strong candidate left unused (see :func:`_match`).

    Returns
    -------
    onset, offset, rise, peak : np.ndarray [shape=(n_notes,)], float64
        Performed onset and offset (s; the synchronised ones where no rise was found), the rise
        of the activation at the onset and its peak after it (normalised units; 0: none found).
    unique : np.ndarray [shape=(n_notes,)], bool
        The note's onset was the only strong rise of its pitch within ``search_s`` (so it could
        not have been taken for a neighbouring repetition of the note).
    """
    n_notes = len(rows)
    n = C.shape[1]
    onset = np.asarray(onsets, dtype=np.float64).copy()
    offset = np.asarray(limits, dtype=np.float64) - params.after_s
    rise = np.zeros(n_notes)
    unique = np.zeros(n_notes, dtype=bool)
    peak = np.zeros(n_notes)
    n_rise = max(1, int(round(0.035 * frame_rate)))
    n_peak = max(1, int(round(0.1 * frame_rate)))
    gap = max(1, int(round(0.1 * frame_rate)))
    shift = 0.5 * window_s * frame_rate
    half = (params.before_s if search_s is None else search_s) * frame_rate
    for r in np.unique(rows):
        idx = np.flatnonzero(rows == r)
        idx = idx[np.argsort(onsets[idx], kind="stable")]
        a = np.asarray(C[r], dtype=np.float64)
        up = np.maximum(a - _prev_min(a, n_rise), 0.0)
        inner = (up[1:-1] >= up[:-2]) & (up[1:-1] > up[2:]) & (up[1:-1] > CANDIDATE_MIN)
        cand = np.flatnonzero(inner) + 1
        if len(cand) == 0:
            continue
        match = _match(onsets[idx] * frame_rate, cand.astype(np.float64), up[cand], half,
                       STRONG_RISE, MATCH_WEIGHT, float(unused))
        found = [(j, cand[m]) for j, m in enumerate(match) if m >= 0]
        for q, (j, o) in enumerate(found):
            i = idx[j]
            # the rise began before the frame where it is largest
            o = int(o)
            nxt = found[q + 1][1] if q + 1 < len(found) else n
            start = o - n_rise + 1 + int(np.argmin(a[max(0, o - n_rise + 1):o + 1])) if o >= n_rise else o
            k = start + int(np.argmax(a[start:max(start + 1, min(start + n_peak, nxt))]))
            t = _rise_time(a, start, k, n_rise, float(params.onset_rise_fraction))
            stop = int(min(nxt, n, max(k + 1, np.ceil(limits[i] * frame_rate))))
            end = _first_long_run(a, k, stop, max(0.005, params.frame_threshold * a[k]), gap)
            end = max(k + 1.0, end - shift)
            onset[i] = max(0.0, t / frame_rate)
            offset[i] = max(end / frame_rate, onset[i] + 1.0 / frame_rate)
            if q + 1 < len(found):
                offset[i] = max(min(offset[i], nxt / frame_rate), onset[i] + 1.0 / frame_rate)
            rise[i] = up[o]
            strong = cand[(np.abs(cand - o) <= half) & (up[cand] >= 0.5 * up[o])]
            unique[i] = len(strong) == 1
            peak[i] = a[k]
    return onset, offset, rise, peak, unique


def resynchronise(A: np.ndarray, rows: np.ndarray, onsets: np.ndarray, limits: np.ndarray, frame_rate: float,
                  params: AlignParams, window_s: float = 0.0) -> np.ndarray:
    """Correction of a coarse synchronisation by the strikes heard around each note.

    A frame-level synchronisation of repeated notes or chords can slip by a repetition or two
    (the features repeat). Here each pitch's notes take the onsets of the unconstrained
    activations in order within ``± RESYNC_SEARCH_S`` (:func:`locate_notes`, strong strikes
    left unused costly: the k-th note of a run takes the k-th strike), and every note moves by
    the median offset of the strong ones within ``RESYNC_RADIUS_S`` (:func:`local_offsets`).

    Parameters
    ----------
    A : np.ndarray [shape=(n_rows, n_frames)]
        Per-pitch activations of the unconstrained transcription, normalised.
    rows : np.ndarray [shape=(n_notes,)], int
    onsets, limits : np.ndarray [shape=(n_notes,)]
        Synchronised onsets (s) and the latest end of each note's sound (s).
    frame_rate : float
    params : AlignParams
    window_s : float

    Returns
    -------
    shift : np.ndarray [shape=(n_notes,)]
        Seconds to add to each note's synchronised times.
    """
    onsets = np.asarray(onsets, dtype=np.float64)
    found, _, rise, _, _ = locate_notes(A, rows, onsets, frame_rate, params, limits, window_s,
                                        search_s=RESYNC_SEARCH_S, unused=RESYNC_UNUSED_COST)
    return local_offsets(onsets, found, rise >= STRONG_RISE, RESYNC_RADIUS_S)


def onset_rises(A: np.ndarray, rows: np.ndarray, onsets: np.ndarray, frame_rate: float, before_s: float = 0.035,
                after_s: float = 0.07) -> np.ndarray:
    """How much each note's pitch rises around its onset in activations ``A``.

    The rise of a frame is the activation minus its minimum over the 35 ms before; a note's is
    the largest from ``before_s`` before to ``after_s`` after its onset. On the unconstrained
    transcription's activations it tells a note heard from one the score-informed solve only
    filled with its neighbours' partials (there its pitch was the only one allowed).

    Parameters
    ----------
    A : np.ndarray [shape=(n_rows, n_frames)]
    rows : np.ndarray [shape=(n_notes,)], int
    onsets : np.ndarray [shape=(n_notes,)]
        Onsets (s).
    frame_rate, before_s, after_s : float

    Returns
    -------
    rise : np.ndarray [shape=(n_notes,)], float64 (0 for onsets past the end)
    """
    n = A.shape[1]
    n_rise = max(1, int(round(0.035 * frame_rate)))
    lo = np.clip(frames_of(np.asarray(onsets) - before_s, frame_rate), 0, n)
    hi = np.clip(frames_of(np.asarray(onsets) + after_s, frame_rate) + 1, 0, n)
    out = np.zeros(len(rows))
    for r in np.unique(rows):
        a = np.asarray(A[r], dtype=np.float64)
        up = np.maximum(a - _prev_min(a, n_rise), 0.0)
        for i in np.flatnonzero(rows == r):
            if hi[i] > lo[i]:
                out[i] = up[lo[i]:hi[i]].max()
    return out
