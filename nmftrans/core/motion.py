"""No notes where the spectrum glides (speech) or does not move at all (hum): a per-frame gate
from the features. Pure array code (no I/O, no solving).

A piano or guitar note holds its pitch and decays: from one frame to the next its partials stay
where they are, and a second later they are weaker (or new notes have come). Two kinds of
sound without notes break this, each in its own way:

* **glides** (a voice): its harmonics move continuously, so a frame's spectrum matches the
  spectrum ``lag_frames`` earlier best when one of them is shifted by a few tens of cents. Each
  frame (the features ``V``) is resampled on a log-frequency grid of ``step_cents`` between
  ``fmin`` and ``fmax``, its spectral peaks kept (minus a moving average over
  ± ``whiten_cents``, clipped at 0), and correlated with the grid ``lag_frames`` earlier at
  shifts up to ± ``max_shift_cents``. A frame *glides* when its best correlation reaches
  ``min_match`` (both frames hold the same partials; noise does not), at a shift of at least
  ``min_shift_cents``, and beats the unshifted one by ``min_gain`` - unless the same spectrum,
  unshifted, was there one vibrato period before (a correlation of ``return_match`` with a
  frame ``return_min_s`` to ``return_max_s`` earlier: 4-9 Hz). A voice does not come back like
  that; a vibrato does (rendered nylon guitar, ±30 cents at 5.5 Hz on every note: glide
  fraction 0.45 -> 0.085, onset F 0.000 -> 0.902, 0.889 without any gate).
* **slow glides** (an engine or a siren running up, a sweep): the same check against the frame
  ``slow_lag_frames`` earlier (87 ms), where a glide of 2.3-9 semitones a second moves
  ``min_shift_cents`` to ``max_shift_cents`` (the check above, 29 ms apart, sees 7 semitones a
  second and more). Measured over 3 s windows: an engine running up (19 partials, 30 -> 90 Hz in
  8 s) 0.98 (median of its windows; 0 with the fast check), a siren 0.87, speech 0.24; the 145
  development, real, noisy, reverberant, MAPS-sampled and re-rendered guitar files at most 0.165
  (99.9 % of their windows at most 0.117). At ``slow_lag_frames`` 8 music reached 0.225. Vibrato
  returns as above. Where this gate is below a half no notes are kept (no held or clear notes:
  an engine's activations step from pitch to pitch, which the held check read as a held pitch);
* **steady tones** (mains hum, a buzz): nothing moves. A frame is *steady* when ``V`` correlates
  with ``V`` of ``steady_lag_s`` earlier by at least ``steady_match`` and its sum is within a
  factor ``steady_level`` of that frame's (a struck or plucked note loses more than that in a
  second; any attack breaks it for ``steady_lag_s``).

Frames are grouped in segments of ``segment_s`` from the first frame (as in
:mod:`nmftrans.core.levels`, so the result does not depend on how the audio was read or solved), and
for each segment the fraction of gliding, and of steady, frames among the frames counted (a
frame to compare with, energy above ``SILENCE_FRACTION`` of the file's loudest frame) in the
``2 * context + 1`` segments around it. Measured over 3 s windows:

* glide fraction: speech (espeak-ng: English male and female voices, slow, fast, French,
  German) and seeded synthetic gliding voices 0.18-0.62; every development piece and real
  recording, also with white noise at 20 or 10 dB SNR and in 0.4 s and 0.8 s rooms, at most
  0.030 (with ``lag_frames`` 3 the margin was 0.053 against 0.18);
* steady fraction: 50 / 60 Hz hum with harmonics (with or without noise 20 dB down, any
  phases), a 50 Hz square buzz 0.93-1.0; the same music at most 0.087 (a window holding an
  attack has at least a third of its frames not steady). A sound that loses less than about
  1 dB a second (``steady_level`` on ``V``, magnitude to the power 0.6) counts as steady: an
  organ, not a piano or guitar note.

The gate is 1 up to ``glide_on`` / ``slow_on`` / ``steady_on`` and 0 from ``glide_off`` /
``slow_off`` / ``steady_off`` (linear in between; the smallest of the three), and multiplies the
level gains of :mod:`nmftrans.core.levels`. Where the glide gate is below a half (and neither the
slow-glide nor the steady one is), notes tracked without the gate are kept if they hold their pitch
and last (:func:`held_notes`: a string under a voice; no voice note of 25 voices, 134 s, passed with
the piano dictionary, one with the guitar; the Slakh guitar part under a gliding voice 20 dB down
kept onset F 0.494 instead of 0.000), or, where the window glides little, if no frame within
``clear_s`` of their onset glides (music with a voice under it, heard in its gaps). Everything is a
ratio within a frame, between frames, or a count, so it does not depend on the input level.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

# Frames whose energy (sum of V) is below this fraction of the file's loudest are not counted.
SILENCE_FRACTION = 1e-3
# Segments with fewer counted frames than this in their window are not gated.
MIN_FRAMES = 30


@dataclass(frozen=True)
class MotionParams:
    """How gliding and steady sound is detected and gated (see the module docstring).

    Attributes
    ----------
    fmin, fmax : float
        Frequency range (Hz) of the log-frequency grid of the glide check.
    step_cents : float
        Grid step.
    whiten_cents : float
        Half-width of the moving average subtracted from the grid (keeps the spectral peaks).
    lag_frames : int
        A frame is compared with the frame this many before it for glides (2: 29 ms).
    slow_lag_frames : int
        ... and with the frame this many before it for slow glides (6: 87 ms); a multiple of
        ``stride``.
    stride : int
        Only frames whose number is a multiple of ``stride`` are checked for glides (a
        fraction over seconds needs no more; half the work). ``lag_frames`` is a multiple of it.
    max_shift_cents, min_shift_cents : float
        Shifts tried (up to ± ``max_shift_cents``) and the smallest that counts as a glide.
    min_match : float
        Smallest best correlation (0-1) of a gliding frame.
    min_gain : float
        The shifted correlation must beat the unshifted one by this much.
    return_min_s, return_max_s : float
        A gliding frame whose unshifted spectrum was there this many seconds before (any of the
        checked frames in between) is a vibrato, not a glide.
    return_match : float
        Correlation (0-1) with such a frame that counts as a return; 1 switches the check off.
    held_drift, held_min_s, held_s : float
        Where the glide gate is below a half (and the steady gate is not), notes tracked without
        the gate are kept if they hold their pitch: over ``held_s`` from their peak, the
        activation centroid of the pitch and its two neighbours (in semitones) moves by less
        than ``held_drift``, and they last at least ``held_min_s`` (a string under a voice).
        ``held_min_s`` 0 or ``held_drift`` 0: none are kept.
    clear_s, clear_glide_max : float
        Music with a voice under it: where the window's glide fraction is below
        ``clear_glide_max`` (a voice heard in the music's gaps; speech alone gave 0.20-0.61), a
        note tracked without the gate is also kept when no frame within ``clear_s`` of its onset
        glides. Piano pieces and recordings with espeak speech or a gliding voice 20-30 dB under
        them: of the notes starting in voice frames, 67 % of the true ones had no gliding frame
        within 0.25 s, 13 % of the false ones and none of 947 notes tracked in speech alone.
        ``clear_s`` 0: off.
    steady_lag_s : float
        A frame is compared with the frame this many seconds before it for steadiness.
    steady_match : float
        Smallest correlation of the two frames' ``V`` of a steady frame.
    steady_level : float
        Largest ratio (either way) of the two frames' sums of ``V`` of a steady frame.
    segment_s : float
        Seconds per segment.
    context : int
        Segments on either side in a segment's window.
    glide_on, glide_off, slow_on, slow_off, steady_on, steady_off : float
        Fractions of gliding (slowly gliding, steady) frames up to which the gate is 1 and from
        which it is 0. An ``_on`` of 1 or more switches that check off.
    """

    fmin: float = 200.0
    fmax: float = 4000.0
    step_cents: float = 10.0
    whiten_cents: float = 100.0
    lag_frames: int = 2
    slow_lag_frames: int = 6
    stride: int = 2
    max_shift_cents: float = 80.0
    min_shift_cents: float = 20.0
    min_match: float = 0.5
    min_gain: float = 0.03
    return_min_s: float = 0.11
    return_max_s: float = 0.27
    return_match: float = 0.8
    held_drift: float = 0.05
    held_min_s: float = 0.4
    held_s: float = 0.15
    clear_s: float = 0.25
    clear_glide_max: float = 0.15
    steady_lag_s: float = 1.0
    steady_match: float = 0.98
    steady_level: float = 1.07
    segment_s: float = 1.0
    context: int = 1
    glide_on: float = 0.05
    glide_off: float = 0.09
    slow_on: float = 0.3
    slow_off: float = 0.5
    steady_on: float = 0.7
    steady_off: float = 0.85

    def __post_init__(self) -> None:
        if not 0 < self.fmin < self.fmax or not self.step_cents > 0 or self.whiten_cents < 0:
            raise ValueError(f"need 0 < fmin < fmax, step_cents > 0 and whiten_cents >= 0, got {self.fmin}, "
                             f"{self.fmax}, {self.step_cents}, {self.whiten_cents}")
        if self.stride < 1 or self.lag_frames < 1 or self.lag_frames % self.stride:
            raise ValueError(f"need stride >= 1 and lag_frames a positive multiple of it, got {self.lag_frames}, "
                             f"{self.stride}")
        if self.slow_lag_frames < 1 or self.slow_lag_frames % self.stride:
            raise ValueError(f"need slow_lag_frames a positive multiple of stride, got {self.slow_lag_frames}, "
                             f"{self.stride}")
        if not 0 < self.min_shift_cents <= self.max_shift_cents:
            raise ValueError("need 0 < min_shift_cents <= max_shift_cents")
        if not 0 <= self.min_match <= 1 or self.min_gain < 0:
            raise ValueError(f"need 0 <= min_match <= 1 and min_gain >= 0, got {self.min_match}, {self.min_gain}")
        if not 0 < self.return_min_s <= self.return_max_s or not 0 <= self.return_match <= 1:
            raise ValueError(f"need 0 < return_min_s <= return_max_s and 0 <= return_match <= 1, got "
                             f"{self.return_min_s}, {self.return_max_s}, {self.return_match}")
        if self.held_drift < 0 or self.held_min_s < 0 or not self.held_s > 0:
            raise ValueError(f"need held_drift >= 0, held_min_s >= 0 and held_s > 0, got {self.held_drift}, "
                             f"{self.held_min_s}, {self.held_s}")
        if not 0 <= self.clear_s <= 1e3 or not 0 <= self.clear_glide_max <= 1:
            raise ValueError(f"need 0 <= clear_s and 0 <= clear_glide_max <= 1, got {self.clear_s}, "
                             f"{self.clear_glide_max}")
        if not self.steady_lag_s > 0 or not 0 <= self.steady_match <= 1 or not self.steady_level >= 1:
            raise ValueError(f"need steady_lag_s > 0, 0 <= steady_match <= 1 and steady_level >= 1, got "
                             f"{self.steady_lag_s}, {self.steady_match}, {self.steady_level}")
        if not self.segment_s > 0 or self.context < 0:
            raise ValueError(f"need segment_s > 0 and context >= 0, got {self.segment_s}, {self.context}")
        if not (0 <= self.glide_on <= self.glide_off and 0 <= self.steady_on <= self.steady_off
                and 0 <= self.slow_on <= self.slow_off):
            raise ValueError(f"need 0 <= glide_on <= glide_off, 0 <= steady_on <= steady_off and 0 <= slow_on <= "
                             f"slow_off, got {self.glide_on}, {self.glide_off}, {self.steady_on}, {self.steady_off}, "
                             f"{self.slow_on}, {self.slow_off}")


@functools.lru_cache(maxsize=8)
def _grid(freqs: tuple, fmin: float, fmax: float, step_cents: float) -> tuple[np.ndarray, np.ndarray]:
    """Linear interpolation from feature bins at ``freqs`` to the log grid: for each grid point the
    bin below it and the weight of the bin above, ``(n_grid,)`` each."""
    f = np.asarray(freqs, dtype=np.float64)
    n = int(np.floor(1200 * np.log2(fmax / fmin) / step_cents)) + 1
    grid = fmin * 2.0 ** (np.arange(n) * step_cents / 1200)
    grid = grid[(grid >= f[0]) & (grid <= f[-1])] if len(f) >= 2 else grid[:0]
    j = np.clip(np.searchsorted(f, grid, side="right") - 1, 0, max(0, len(f) - 2))
    w = ((grid - f[j]) / (f[j + 1] - f[j])).astype(np.float32) if len(grid) else np.zeros(0, np.float32)
    return j, w


def _peaks_on_grid(V: np.ndarray, j: np.ndarray, w: np.ndarray, half: int) -> np.ndarray:
    """``V`` interpolated on the grid, minus its moving average over ``2 * half + 1`` grid points
    (the edges extended by their nearest value), clipped at 0: the spectral peaks,
    ``(n_grid, n_frames)`` float32."""
    X = V[j] * (1 - w)[:, None] + V[j + 1] * w[:, None]
    if half <= 0 or X.shape[0] == 0:
        return X
    X -= _moving_average(X, half)
    return np.maximum(X, np.float32(0), out=X)


def _moving_average(X: np.ndarray, half: int) -> np.ndarray:
    """Mean over ``2 * half + 1`` rows centred on each row, the edges extended by their nearest
    row (``scipy.ndimage.uniform_filter1d(X, 2 * half + 1, axis=0, mode="nearest")``, whose import
    alone costs a short run 0.1-0.2 s): summed in float64, returned as float32, ``X``'s shape."""
    size, n = 2 * half + 1, X.shape[0]
    sums = np.empty((n + 2 * half, X.shape[1]), dtype=np.float64)  # the padded rows, summed in place
    sums[:half] = X[:1]
    sums[half:half + n] = X
    sums[half + n:] = X[-1:]
    np.cumsum(sums, axis=0, out=sums)  # a float64 array: no casting buffer (4x faster than dtype=)
    window = sums[size - 1:].copy()
    window[1:] -= sums[:-size]
    window /= size
    return window.astype(np.float32)


def _correlation(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Column-wise ``a·b / (|a| |b|)`` (0 where either is all zero)."""
    norm = np.sqrt(np.einsum("ij,ij->j", a, a) * np.einsum("ij,ij->j", b, b))
    dot = np.einsum("ij,ij->j", a, b)
    return np.where(norm > 0, dot / np.where(norm > 0, norm, np.float32(1)), np.float32(0))


class MotionMeter:
    """Per-frame glide and steady flags of a spectrogram that arrives block by block (in frame
    order): any cut of the frames into blocks gives the same flags.

    Parameters
    ----------
    freqs : np.ndarray [shape=(n_bins,)]
        Centre frequency (Hz) of each feature bin (:func:`nmftrans.core.features.frequencies`).
    frame_rate : float
        Frames per second (sets ``steady_lag_s`` in frames).
    params : MotionParams
    """

    def __init__(self, freqs: np.ndarray, frame_rate: float, params: MotionParams = MotionParams()):
        self.params = params
        self.j, self.w = _grid(tuple(np.asarray(freqs, dtype=np.float64)), params.fmin, params.fmax,
                               params.step_cents)
        self.half = int(round(params.whiten_cents / params.step_cents))
        self.shift = int(round(params.max_shift_cents / params.step_cents))
        self.min_shift = int(np.ceil(params.min_shift_cents / params.step_cents - 1e-9))
        self.steady_lag = max(1, int(round(params.steady_lag_s * frame_rate)))
        lo, hi = (int(round(x * frame_rate / params.stride)) for x in (params.return_min_s, params.return_max_s))
        self.returns = tuple(range(max(lo, 1), hi + 1)) if params.return_match < 1 else ()  # in strided columns
        self.grid_tail = np.zeros((len(self.j), 0), dtype=np.float32)  # the last lag_frames grids
        self.tail = np.zeros((len(freqs), 0), dtype=np.float32)  # the last steady_lag frames of V
        self.glides, self.steady, self.glide_seen, self.steady_seen, self.energy = [], [], [], [], []
        self.slow, self.slow_seen = [], []  # the same check at slow_lag_frames
        self.n_pushed = 0  # frames so far

    def push(self, V: np.ndarray) -> None:
        """Add frames ``V`` ``(n_bins, n)`` (the features, any scale)."""
        V = np.asarray(V, dtype=np.float32)
        if V.shape[1] == 0:
            return
        self._push_glides(V)
        self._push_steady(V)
        self.energy.append(V.sum(axis=0, dtype=np.float64))
        self.n_pushed += V.shape[1]

    def _push_glides(self, V: np.ndarray) -> None:
        p = self.params
        off = (-self.n_pushed) % p.stride  # the first frame of V whose number is a multiple of stride
        X = _peaks_on_grid(V[:, off::p.stride], self.j, self.w, self.half)
        both = np.concatenate([self.grid_tail, X], axis=1)
        sq = np.einsum("ij,ij->j", both, both)
        for lag_frames, flags, counted in ((p.lag_frames, self.glides, self.glide_seen),
                                           (p.slow_lag_frames, self.slow, self.slow_seen)):
            glides, seen = self._glides_at(both, sq, X.shape[1], off, V.shape[1], lag_frames // p.stride)
            flags.append(glides)
            counted.append(seen)
        keep = max(p.lag_frames // p.stride, p.slow_lag_frames // p.stride, max(self.returns, default=0))
        self.grid_tail = both[:, both.shape[1] - min(keep, both.shape[1]):].copy()

    def _glides_at(self, both: np.ndarray, sq: np.ndarray, n_new: int, off: int, n_frames: int, lag: int
                   ) -> tuple[np.ndarray, np.ndarray]:
        """Gliding and counted frames of the ``n_new`` last grid columns of ``both`` (``sq``: each
        column's squared norm), each compared with the column ``lag`` before it; ``(n_frames,)``
        bool each (``off``: the first frame of the block with a column)."""
        p, D = self.params, self.shift
        n_prev, n = both.shape[1] - n_new, both.shape[0]
        glides = np.zeros(n_frames, dtype=bool)
        seen = np.zeros(n_frames, dtype=bool)
        first = max(0, lag - n_prev)  # the first new column with a column lag before it
        if first < n_new and n > 2 * D:
            start = n_prev + first
            cur = both[:, start:]
            prev = both[:, start - lag:both.shape[1] - lag]
            norm = np.sqrt(sq[start:] * sq[start - lag:both.shape[1] - lag])
            ok = norm > 0
            core = cur[D:n - D]
            corr = np.stack([np.einsum("ij,ij->j", prev[D + d:n - D + d], core) for d in range(-D, D + 1)])
            corr /= np.where(ok, norm, np.float32(1))
            best = corr.argmax(axis=0)
            top = corr[best, np.arange(corr.shape[1])]
            glide = ok & (top >= p.min_match) & (np.abs(best - D) >= self.min_shift) & (top - corr[D] >= p.min_gain)
            if self.returns and glide.any():  # vibrato: the same spectrum, unshifted, a period earlier
                back = np.zeros(cur.shape[1], dtype=np.float32)
                for r in self.returns:
                    lo = max(start, r)  # columns with one r before them
                    if lo >= both.shape[1]:
                        continue
                    a, b = both[:, lo:], both[:, lo - r:both.shape[1] - r]
                    nn = np.sqrt(sq[lo:] * sq[lo - r:both.shape[1] - r])
                    c = np.einsum("ij,ij->j", a, b) / np.where(nn > 0, nn, np.float32(1))
                    np.maximum(back[lo - start:], c, out=back[lo - start:])
                glide &= back < p.return_match
            frames = off + p.stride * np.arange(first, n_new)
            glides[frames] = glide
            seen[frames] = ok
        return glides, seen

    def _push_steady(self, V: np.ndarray) -> None:
        p, lag = self.params, self.steady_lag
        both = np.concatenate([self.tail, V], axis=1)
        n_prev = self.tail.shape[1]
        steady = np.zeros(V.shape[1], dtype=bool)
        seen = np.zeros(V.shape[1], dtype=bool)
        first = max(0, lag - n_prev)
        if first < V.shape[1]:
            cur = both[:, n_prev + first:]
            prev = both[:, n_prev + first - lag:both.shape[1] - lag]
            e_cur = cur.sum(axis=0, dtype=np.float64)
            e_prev = prev.sum(axis=0, dtype=np.float64)
            ok = (e_cur > 0) & (e_prev > 0)
            ratio = np.where(ok, e_cur / np.where(ok, e_prev, 1.0), 0.0)
            steady[first:] = (ok & (_correlation(cur, prev) >= p.steady_match) & (ratio <= p.steady_level)
                              & (ratio * p.steady_level >= 1.0))
            seen[first:] = ok
        self.steady.append(steady)
        self.steady_seen.append(seen)
        self.tail = both[:, both.shape[1] - min(lag, both.shape[1]):].copy()

    def flags(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """``glides, glide_counted, steady, steady_counted``, each ``(n_frames,)`` bool.

        The counted frames have a frame to compare with and energy above ``SILENCE_FRACTION``
        of the loudest frame; the flags are set only on counted frames.
        """
        if not self.energy:
            empty = np.zeros(0, dtype=bool)
            return empty, empty, empty, empty
        energy = np.concatenate(self.energy)
        loud = energy > SILENCE_FRACTION * float(energy.max(initial=0.0))
        g_seen = np.concatenate(self.glide_seen) & loud
        s_seen = np.concatenate(self.steady_seen) & loud
        return np.concatenate(self.glides) & g_seen, g_seen, np.concatenate(self.steady) & s_seen, s_seen

    def slow_flags(self) -> tuple[np.ndarray, np.ndarray]:
        """``slow_glides, slow_counted``, each ``(n_frames,)`` bool: the glide check of
        :meth:`flags` against the frame ``slow_lag_frames`` before (a slow glide: an engine or a
        siren running up, a sweep)."""
        if not self.energy:
            empty = np.zeros(0, dtype=bool)
            return empty, empty
        energy = np.concatenate(self.energy)
        seen = np.concatenate(self.slow_seen) & (energy > SILENCE_FRACTION * float(energy.max(initial=0.0)))
        return np.concatenate(self.slow) & seen, seen


def _window_fractions(flags: np.ndarray, counted: np.ndarray, size: int, context: int) -> np.ndarray:
    """Per segment of ``size`` frames: flagged / counted frames over segments ``s ± context``
    (-1 where fewer than ``MIN_FRAMES`` are counted)."""
    starts = np.arange(0, len(flags), size)
    hits = np.add.reduceat(flags.astype(np.int64), starts)
    seen = np.add.reduceat(counted.astype(np.int64), starts)
    out = np.full(len(starts), -1.0)
    for s in range(len(starts)):
        lo, hi = max(0, s - context), min(len(starts), s + context + 1)
        m = seen[lo:hi].sum()
        if m >= MIN_FRAMES:
            out[s] = hits[lo:hi].sum() / m
    return out


def _ramp(x: np.ndarray, on: float, off: float) -> np.ndarray:
    """1 up to ``on`` (and where ``x`` < 0: not measured), 0 from ``off``, linear between; all 1 if ``on >= 1``."""
    if on >= 1:
        return np.ones(len(x))
    if off <= on:
        return np.where(x >= off, 0.0, 1.0)
    return np.clip((off - x) / (off - on), 0.0, 1.0)


@dataclass(frozen=True)
class Gate:
    """The motion gate of a file (:func:`motion_gate`).

    Attributes
    ----------
    gate : np.ndarray [shape=(n_frames,)], float32
        Per-frame factor of the activations (1: notes as usual, 0: none).
    voice : np.ndarray [shape=(n_frames,)], bool
        Frames where the glide gate is below a half, the slow-glide gate is not and the steady
        gate is 1: there notes that hold their pitch are kept (:func:`gated_notes`).
    clear : np.ndarray [shape=(n_frames,)], bool, or None
        Voice frames of a window that glides little (``clear_glide_max``) with no gliding frame
        within ``clear_s``: a note starting there is kept too (music with a voice under it).
        None: no such frames.
    """

    gate: np.ndarray
    voice: np.ndarray
    clear: np.ndarray | None = None


def motion_gate(glides: np.ndarray, glide_counted: np.ndarray, steady: np.ndarray, steady_counted: np.ndarray,
                frame_rate: float, params: MotionParams = MotionParams(), slow: np.ndarray | None = None,
                slow_counted: np.ndarray | None = None) -> Gate:
    """The gate from the flags of :meth:`MotionMeter.flags` (and :meth:`MotionMeter.slow_flags`).

    Parameters
    ----------
    glides, glide_counted, steady, steady_counted : np.ndarray [shape=(n_frames,)], bool
    frame_rate : float
    params : MotionParams
    slow, slow_counted : np.ndarray [shape=(n_frames,)], bool, or None
        The slow glides (None: not checked); their gate (``slow_on``, ``slow_off``) joins the
        glide gate.

    Returns
    -------
    Gate
        ``gate``: the smaller of the glide and steady gates, per frame; ``voice``: see :class:`Gate`.
    """
    n = len(glides)
    if n == 0:
        return Gate(np.ones(0, dtype=np.float32), np.zeros(0, dtype=bool))
    size = max(1, int(round(params.segment_s * frame_rate)))
    n_seg = -(-n // size)
    centres = (np.arange(n_seg) * size + 0.5 * (min(size, n) - 1)).astype(np.float64)
    centres[-1] = min(centres[-1], 0.5 * ((n_seg - 1) * size + n - 1))
    t = np.arange(n, dtype=np.float64)
    fraction = _window_fractions(glides, glide_counted, size, params.context)
    glide = np.interp(t, centres, _ramp(fraction, params.glide_on, params.glide_off)).astype(np.float32)
    if slow is not None:
        slow_gate = np.interp(t, centres, _ramp(_window_fractions(slow, slow_counted, size, params.context),
                                                params.slow_on, params.slow_off)).astype(np.float32)
    still = np.interp(t, centres, _ramp(_window_fractions(steady, steady_counted, size, params.context),
                                        params.steady_on, params.steady_off)).astype(np.float32)
    voice = (glide < 0.5) & (still >= 1)  # a voice: held notes are kept, and those in its gaps (clear)
    clear = None
    if params.clear_s > 0 and voice.any():
        half = int(round(params.clear_s * frame_rate))
        seen = np.concatenate([[0], np.cumsum(glides, dtype=np.int64)])  # gliding frames before each frame
        idx = np.arange(n)
        near = seen[np.minimum(idx + half + 1, n)] - seen[np.maximum(idx - half, 0)]
        # segments without a fraction (too few counted frames) are not "gliding little"
        little = np.interp(t, centres, np.where(fraction >= 0, fraction, 1.0)) < params.clear_glide_max
        clear = voice & little & (near == 0)
    if slow is not None:  # a slow glide (an engine, a siren): no notes, held or in its gaps
        glide = np.minimum(glide, slow_gate)
        voice &= slow_gate >= 0.5
        if clear is not None:
            clear &= voice
    return Gate(np.minimum(glide, still), voice, clear)


def held_notes(notes: np.ndarray, rows: np.ndarray, first: int, pitches: np.ndarray, frame_rate: float,
               params: MotionParams = MotionParams()) -> np.ndarray:
    """Which notes hold their pitch and last (see ``held_drift`` in :class:`MotionParams`).

    Parameters
    ----------
    notes : np.ndarray [shape=(n_notes, 4)]
        Tracked from ``rows[first:first + len(pitches)]``.
    rows : np.ndarray [shape=(n_rows, n_frames)]
        Per-pitch activations (semitone neighbours in consecutive rows), with the row below and
        above the notes' rows where there is one.
    first : int
        Row of ``pitches[0]``.
    pitches : np.ndarray [shape=(n_pitches,)]
        MIDI pitch of rows ``first ...``.
    frame_rate : float
    params : MotionParams

    Returns
    -------
    held : np.ndarray [shape=(n_notes,)], bool
    """
    notes = np.asarray(notes, dtype=np.float64).reshape(-1, 4)
    held = np.zeros(len(notes), dtype=bool)
    if params.held_min_s <= 0 or params.held_drift <= 0:
        return held
    n_rows, T = rows.shape
    span = max(2, int(round(params.held_s * frame_rate)))
    index = first + np.searchsorted(np.asarray(pitches), notes[:, 2])
    for k in np.flatnonzero(notes[:, 1] - notes[:, 0] >= params.held_min_s):
        r = int(index[k])
        o = min(T - 1, max(0, int(round(notes[k, 0] * frame_rate))))
        peak = o + int(np.argmax(rows[r, o:o + span]))
        w = slice(peak, min(T, peak + span))
        below = rows[r - 1, w] if r > 0 else 0.0
        above = rows[r + 1, w] if r + 1 < n_rows else 0.0
        total = below + rows[r, w] + above
        centroid = (above - below) / np.maximum(total, np.float32(1e-30))
        held[k] = len(centroid) > 1 and float(centroid.max() - centroid.min()) < params.held_drift
    return held


def gated_notes(rows: np.ndarray, first: int, pitches: np.ndarray, gate: Gate, track, frame_rate: float,
                params: MotionParams = MotionParams()) -> np.ndarray:
    """Notes of ``rows[first:first + len(pitches)]`` with the gate: tracked from the gated rows
    (which are gated in place), and where ``gate.voice`` holds at a note's onset, instead the
    notes tracked without the gate that :func:`held_notes` keeps or that start in a
    ``gate.clear`` frame.

    Parameters
    ----------
    rows : np.ndarray [shape=(n_rows, n_frames)], float32
        Activations after the level gains, with a neighbour row each side where there is one.
    first : int
        Row of ``pitches[0]``.
    pitches : np.ndarray [shape=(n_pitches,)]
    gate : Gate
    track : callable
        ``track(activations, pitches) -> notes`` (the note tracker with its settings).
    frame_rate : float
    params : MotionParams

    Returns
    -------
    notes : np.ndarray [shape=(n_notes, 4)], sorted by onset then pitch
    """
    own = rows[first:first + len(pitches)]
    voice = gate.voice
    free = None
    if voice.any():
        free = track(own.copy(), pitches)
        at = np.clip(np.round(free[:, 0] * frame_rate).astype(np.int64), 0, len(voice) - 1)
        kept = held_notes(free, rows, first, pitches, frame_rate, params)
        if gate.clear is not None:
            kept |= gate.clear[at]
        free = free[voice[at] & kept]
    np.multiply(own, gate.gate[None, :], out=own)
    notes = track(own, pitches)
    if free is None:
        return notes
    at = np.clip(np.round(notes[:, 0] * frame_rate).astype(np.int64), 0, len(voice) - 1)
    notes = np.concatenate([notes[~voice[at]], free])
    return notes[np.lexsort((notes[:, 2], notes[:, 0]))]
