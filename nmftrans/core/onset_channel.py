"""Re-strikes of ringing notes: a per-pitch onset channel from the partials, and the split it allows.

A note struck again while it still rings barely raises its NMF activation (often by less than
the tracker's ``rise_ratio``), but the hammer gives new energy to *all* of the string's partials
at once. A ringing note's own beating, a pedal's resonance or a neighbour's onset raise only
some of them. So, per pitch and frame, this module counts the pitch's partials whose magnitude
rises (:func:`partial_rises`): the largest value of the partial's band over frames ``t .. t+2``
above ``rise`` times the smallest of its per-frame band maxima over ``t-3 .. t-1``. The bands
are the feature bins within ±3 % of the first ``N_PARTIALS`` harmonics up to the top of the
spectrogram (at least the nearest bin). The counts come from the input spectrogram ``V`` as it
streams (:class:`PartialRiseStream`), so they do not depend on how the audio is cut into blocks.

:func:`split_restrikes` then splits a tracked note at a weaker onset candidate inside it (an
onset found with ``rise_ratio`` lowered to ``restrike_ratio``) when at least ``restrike_partials``
of the pitch's partials (and at least two) rise within a frame of the candidate, for pitches
whose fundamental the bins resolve (:func:`resolved_pitches`).

Pure array code: no I/O, no solving.
"""

from __future__ import annotations

import numba
import numpy as np

#: Harmonics of each pitch looked at.
N_PARTIALS = 10
#: Half-width of a partial's band, relative to its frequency.
BAND_TOLERANCE = 0.03
#: Frames before (``t-3 .. t-1``) and after (``t .. t+2``) a frame compared.
BEFORE, AFTER = 3, 3


def partial_bands(freqs: np.ndarray, pitches: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Bins of each pitch's partials in a spectrogram with bin centre frequencies ``freqs``.

    Parameters
    ----------
    freqs : np.ndarray [shape=(n_bins,)]
        Increasing centre frequency (Hz) of each bin.
    pitches : np.ndarray [shape=(n_pitches,)], int
        MIDI pitches (69 = 440 Hz).

    Returns
    -------
    lo, hi : np.ndarray [shape=(n_bands,)], int
        Bins ``lo:hi`` of each band (partials below ``freqs[-1]``), pitch by pitch.
    owner : np.ndarray [shape=(n_bands,)], int
        Row (index into ``pitches``) of each band.
    """
    freqs = np.asarray(freqs, dtype=np.float64)
    # all pitches and partials at once (a per-partial loop cost a short run ~3 ms): the same
    # products and searches, pitch by pitch, partial by partial
    f0 = np.array([440.0 * 2.0 ** ((float(p) - 69.0) / 12.0) for p in np.asarray(pitches)], dtype=np.float64)
    f = f0[:, None] * np.arange(1, N_PARTIALS + 1, dtype=np.float64)  # h * f0
    owner, harmonic = np.nonzero((f >= freqs[0]) & (f <= freqs[-1]))
    f = f[owner, harmonic]
    lo = np.searchsorted(freqs, f * (1 - BAND_TOLERANCE)).astype(np.intp)
    hi = np.searchsorted(freqs, f * (1 + BAND_TOLERANCE)).astype(np.intp)
    narrow = hi <= lo  # no bin centre inside the band: the nearest bin
    if narrow.any():
        lo[narrow] = np.argmin(np.abs(freqs[None, :] - f[narrow, None]), axis=1)
        hi[narrow] = lo[narrow] + 1
    return lo, hi, owner.astype(np.intp)


@numba.njit(cache=True, nogil=True)
def _band_maxima(V, lo, hi):  # pragma: no cover - compiled
    out = np.empty((len(lo), V.shape[1]), dtype=np.float32)
    for b in range(len(lo)):
        row = out[b]
        first = V[lo[b]]
        for t in range(V.shape[1]):  # a loop, not a slice assignment: the kernel loads faster
            row[t] = first[t]
        for k in range(lo[b] + 1, hi[b]):
            src = V[k]
            for t in range(V.shape[1]):
                if src[t] > row[t]:
                    row[t] = src[t]
    return out


def resolved_pitches(freqs: np.ndarray, pitches: np.ndarray, min_spacing: float = 0.0) -> np.ndarray:
    """Whether the spectrogram's bins resolve each pitch's fundamental from its semitone neighbours
    (a semitone there at least the spacing of the bins around it, and at least ``min_spacing`` Hz:
    the STFT's own bin spacing, for bins interpolated from it), shape ``(n_pitches,)`` bool.

    Below that (MIDI 54 with the default 2048-point STFT at 22050 Hz) the bands of a pitch's
    partials are the same bins as its neighbours' and as the partials of the chords above it, so
    their rises are no evidence of the pitch itself: measured, splits there were all false alarms
    (31 of 31 on the development, real-piano-sampled and held-out pieces).
    """
    freqs = np.asarray(freqs, dtype=np.float64)
    f0 = 440.0 * 2.0 ** ((np.asarray(pitches, dtype=np.float64) - 69.0) / 12.0)
    i = np.clip(np.searchsorted(freqs, f0), 1, len(freqs) - 1)
    spacing = np.maximum(freqs[i] - freqs[i - 1], float(min_spacing))
    return f0 * (2.0 ** (1.0 / 12.0) - 1.0) >= spacing


def band_maxima(V: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """Largest value of each band ``V[lo:hi]`` per frame, shape ``(n_bands, n_frames)``, float32."""
    V = np.ascontiguousarray(V, dtype=np.float32)
    if len(lo) == 0 or V.shape[1] == 0:
        return np.zeros((len(lo), V.shape[1]), dtype=np.float32)
    return _band_maxima(V, np.asarray(lo, dtype=np.int64), np.asarray(hi, dtype=np.int64))


def partial_rises(B: np.ndarray, owner: np.ndarray, n_pitches: int, rise: float,
                  before: np.ndarray | None = None) -> np.ndarray:
    """Number of partials of each pitch that rise, per frame.

    Parameters
    ----------
    B : np.ndarray [shape=(n_bands, n_frames + AFTER - 1)]
        :func:`band_maxima` of the frames, followed by ``AFTER - 1`` frames after them.
    owner : np.ndarray [shape=(n_bands,)], int
    n_pitches : int
    rise : float
        Factor (in the units of ``V``) a band must exceed over its level before.
    before : np.ndarray [shape=(n_bands, BEFORE)], optional
        The band maxima of the ``BEFORE`` frames before the first (zeros at the start of a signal).

    Returns
    -------
    counts : np.ndarray [shape=(n_pitches, n_frames)], uint8
    """
    n_bands, m = B.shape
    n = m - (AFTER - 1)
    if before is None:
        before = np.zeros((n_bands, BEFORE), dtype=np.float32)
    full = np.ascontiguousarray(np.concatenate([before, B], axis=1), dtype=np.float32)  # frame t is column t + BEFORE
    return _count_rises(full, np.asarray(owner, dtype=np.int64), n_pitches, n, np.float32(rise), BEFORE, AFTER)


@numba.njit(cache=True, nogil=True)
def _count_rises(full, owner, n_pitches, n, rise, before, after):  # pragma: no cover - compiled
    counts = np.zeros((n_pitches, n), dtype=np.uint8)
    for b in range(full.shape[0]):
        row = full[b]
        out = counts[owner[b]]
        for t in range(n):
            low = row[t]
            for k in range(1, before):
                if row[t + k] < low:
                    low = row[t + k]
            high = row[t + before]
            for k in range(1, after):
                if row[t + before + k] > high:
                    high = row[t + before + k]
            if high > rise * low:
                out[t] += 1
    return counts


class PartialRiseStream:
    """:func:`partial_rises` of a spectrogram that arrives in pieces (the counts equal those of the
    whole spectrogram at once, however it is cut).

    Parameters
    ----------
    freqs : np.ndarray [shape=(n_bins,)]
        Bin centre frequencies of the spectrogram.
    pitches : np.ndarray [shape=(n_pitches,)], int
    rise : float
        See :func:`partial_rises`.
    min_spacing : float
        See :func:`resolved_pitches`.
    """

    def __init__(self, freqs: np.ndarray, pitches: np.ndarray, rise: float, min_spacing: float = 0.0):
        lo, hi, owner = partial_bands(freqs, pitches)
        keep = resolved_pitches(freqs, pitches, min_spacing)[owner]  # no bands (no counts) for unresolved pitches
        self.lo, self.hi, self.owner = lo[keep], hi[keep], owner[keep]
        self.pitches = np.asarray(pitches)
        self.n_pitches = len(pitches)
        self.rise = float(rise)
        self.n_partials = np.bincount(self.owner, minlength=self.n_pitches).astype(np.int64)
        self._before = np.zeros((len(self.lo), BEFORE), dtype=np.float32)
        self._pending = np.zeros((len(self.lo), 0), dtype=np.float32)  # band maxima not yet counted
        self._parts: list[np.ndarray] = []

    def push(self, V: np.ndarray) -> None:
        """Add frames ``(n_bins, n)`` of the spectrogram."""
        self._pending = np.concatenate([self._pending, band_maxima(V, self.lo, self.hi)], axis=1)
        n = self._pending.shape[1] - (AFTER - 1)
        if n > 0:
            self._count(n)

    def _count(self, n: int) -> None:
        B = self._pending[:, :n + AFTER - 1]
        self._parts.append(partial_rises(B, self.owner, self.n_pitches, self.rise, self._before))
        both = np.concatenate([self._before, self._pending[:, :n]], axis=1)
        self._before = both[:, both.shape[1] - BEFORE:]
        self._pending = self._pending[:, n:]

    def finish(self) -> np.ndarray:
        """The counts of the whole signal, ``(n_pitches, n_frames)`` uint8 (frames after the end
        count as zeros)."""
        n = self._pending.shape[1]
        if n:
            self._pending = np.concatenate([self._pending, np.zeros((len(self.lo), AFTER - 1), np.float32)], axis=1)
            self._count(n)
        return (np.concatenate(self._parts, axis=1) if self._parts
                else np.zeros((self.n_pitches, 0), dtype=np.uint8))


def split_restrikes(notes: np.ndarray, candidates: np.ndarray, rises: np.ndarray, n_partials: np.ndarray,
                    pitches: np.ndarray, frame_rate: float, share: float, gap_s: float) -> np.ndarray:
    """Split tracked notes at the re-strikes the partials confirm.

    Parameters
    ----------
    notes : np.ndarray [shape=(n_notes, 4)]
        Onset (s), offset (s), pitch, velocity: the tracker's notes.
    candidates : np.ndarray [shape=(n_candidates, 4)]
        Notes tracked with a lower rise ratio (their onsets are the candidate re-strikes).
    rises : np.ndarray [shape=(n_pitches, n_frames)]
        :func:`partial_rises` counts, one row per entry of ``pitches``.
    n_partials : np.ndarray [shape=(n_pitches,)]
        Partials (bands) of each pitch.
    pitches : np.ndarray [shape=(n_pitches,)]
    frame_rate : float
    share : float
        Fraction of a pitch's partials that must rise within a frame of a candidate.
    gap_s : float
        A candidate must lie more than this inside the note (after its onset, before its end).

    Returns
    -------
    notes : np.ndarray [shape=(n_out, 4)], sorted by onset then pitch. A split note ends at the
        candidate's onset; the new note runs from there to the old end, with the candidate's velocity.
    """
    notes = np.asarray(notes, dtype=np.float64)
    if len(notes) == 0 or len(candidates) == 0:
        return notes
    row = {int(p): i for i, p in enumerate(pitches)}
    n_frames = rises.shape[1]
    out = []
    for on, off, p, vel in notes:
        i = row.get(int(p))
        inside = candidates[(candidates[:, 2] == p) & (candidates[:, 0] > on + gap_s) & (candidates[:, 0] < off - gap_s)]
        start, v = on, vel
        if i is not None and n_partials[i] >= 2 and len(inside):
            need = share * n_partials[i]
            for c_on, _, _, c_vel in inside:
                t = int(round(c_on * frame_rate))
                if rises[i, max(0, t - 1):min(n_frames, t + 2)].max(initial=0) >= need:
                    out.append((start, c_on, p, v))
                    start, v = c_on, c_vel
        out.append((start, off, p, v))
    out = np.array(out, dtype=np.float64)
    return out[np.lexsort((out[:, 2], out[:, 0]))]


def restrike_candidates(A: np.ndarray, pitch_set: np.ndarray, frame_rate: float, params, window_s: float,
                        lowest: int = 0) -> np.ndarray:
    """Notes tracked in the normalised activations ``A`` with ``rise_ratio`` lowered to
    ``params.restrike_ratio`` (a :class:`~nmftrans.core.notes.NoteParams`), pitches from ``lowest`` up:
    the candidate re-strikes of :func:`split_restrikes`, shape ``(n, 4)``."""
    import dataclasses

    from nmftrans.core.notes import activations_to_notes

    params = dataclasses.replace(params, rise_ratio=params.restrike_ratio, lowest=max(params.lowest, int(lowest)))
    return activations_to_notes(A, pitch_set, frame_rate, params, window_s)


# start-up: load the cached kernels without registering all of Numba (see core/jitcache.py)
from nmftrans.core.jitcache import load_without_refresh  # noqa: E402

load_without_refresh(vars())
