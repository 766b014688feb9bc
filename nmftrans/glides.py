"""No notes where the sound glides in pitch (speech): a per-frame gate from the spectrogram.
Pure array code (no I/O, no solving).

A piano or guitar note holds its pitch: from one frame to the next its partials stay where they
are (they decay, and new notes add partials elsewhere). A voice glides: its harmonics move
continuously, so a frame's spectrum matches the spectrum ``lag_frames`` earlier best when one of
them is shifted by a few tens of cents. Each frame's spectrum (the features ``V``) is resampled
on a log-frequency grid of ``step_cents`` between ``fmin`` and ``fmax`` (where 2048-point STFT
bins are 20 cents or finer), its spectral peaks kept (minus a moving average over ± one
semitone, clipped at 0), and correlated with the grid ``lag_frames`` earlier at shifts up to
± ``max_shift_cents``. A frame *glides* when its best correlation reaches ``min_match`` (the
two frames hold the same partials; noise does not), at a shift of at least ``min_shift_cents``,
and beats the unshifted one by ``min_gain``.

Frames are grouped in segments of ``segment_s`` from the first frame (as in
:mod:`nmftrans.levels`, so the result does not depend on how the audio was read or solved), and
each segment's *glide ratio* is the fraction of gliding frames among the comparable frames
(both spectra non-zero, energy above ``SILENCE_FRACTION`` of the file's loudest frame) of the
``2 * context + 1`` segments around it. Measured (3 s windows): speech (espeak-ng) and
synthetic gliding voices 0.23-0.78, the development pieces and real recordings at most 0.06,
also with white noise at 10 dB SNR. The gate is 1 below ``ratio_on``, 0 above ``ratio_off``
and linear in between; it multiplies the level gains of :mod:`nmftrans.levels`. Everything is
a ratio within a frame or a count, so it does not depend on the input level.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

# Frames whose energy (sum of V) is below this fraction of the file's loudest are not counted.
SILENCE_FRACTION = 1e-3
# Segments with fewer comparable frames than this in their window are not gated.
MIN_FRAMES = 10


@dataclass(frozen=True)
class GlideParams:
    """How gliding pitch is detected and gated (see the module docstring).

    Attributes
    ----------
    fmin, fmax : float
        Frequency range (Hz) of the log-frequency grid.
    step_cents : float
        Grid step.
    whiten_cents : float
        Half-width of the moving average subtracted from the grid (keeps the spectral peaks).
    lag_frames : int
        A frame is compared with the frame this many before it.
    max_shift_cents, min_shift_cents : float
        Shifts tried (up to ± ``max_shift_cents``) and the smallest that counts as a glide.
    min_match : float
        Smallest best correlation (0-1) of a gliding frame.
    min_gain : float
        The shifted correlation must beat the unshifted one by this much.
    segment_s : float
        Seconds per segment.
    context : int
        Segments on either side in a segment's window.
    ratio_on, ratio_off : float
        Glide ratio up to which the gate is 1 and from which it is 0. ``ratio_on >= 1``
        switches the gate off.
    """

    fmin: float = 200.0
    fmax: float = 4000.0
    step_cents: float = 10.0
    whiten_cents: float = 100.0
    lag_frames: int = 3
    max_shift_cents: float = 80.0
    min_shift_cents: float = 20.0
    min_match: float = 0.5
    min_gain: float = 0.03
    segment_s: float = 1.0
    context: int = 1
    ratio_on: float = 0.08
    ratio_off: float = 0.12

    def __post_init__(self) -> None:
        if not 0 < self.fmin < self.fmax or not self.step_cents > 0 or self.whiten_cents < 0:
            raise ValueError(f"need 0 < fmin < fmax, step_cents > 0 and whiten_cents >= 0, got {self.fmin}, "
                             f"{self.fmax}, {self.step_cents}, {self.whiten_cents}")
        if self.lag_frames < 1 or not 0 < self.min_shift_cents <= self.max_shift_cents:
            raise ValueError("need lag_frames >= 1 and 0 < min_shift_cents <= max_shift_cents")
        if not 0 <= self.min_match <= 1 or self.min_gain < 0:
            raise ValueError(f"need 0 <= min_match <= 1 and min_gain >= 0, got {self.min_match}, {self.min_gain}")
        if not self.segment_s > 0 or self.context < 0:
            raise ValueError(f"need segment_s > 0 and context >= 0, got {self.segment_s}, {self.context}")
        if not 0 <= self.ratio_on <= self.ratio_off:
            raise ValueError(f"need 0 <= ratio_on <= ratio_off, got {self.ratio_on}, {self.ratio_off}")


@functools.lru_cache(maxsize=8)
def _grid_matrix(freqs: tuple, fmin: float, fmax: float, step_cents: float) -> np.ndarray:
    """Linear interpolation from feature bins at ``freqs`` to the log grid, ``(n_grid, n_bins)``."""
    f = np.asarray(freqs, dtype=np.float64)
    n = int(np.floor(1200 * np.log2(fmax / fmin) / step_cents)) + 1
    grid = fmin * 2.0 ** (np.arange(n) * step_cents / 1200)
    grid = grid[(grid >= f[0]) & (grid <= f[-1])]
    M = np.zeros((len(grid), len(f)), dtype=np.float32)
    j = np.clip(np.searchsorted(f, grid, side="right") - 1, 0, len(f) - 2)
    w = (grid - f[j]) / (f[j + 1] - f[j])
    M[np.arange(len(grid)), j] = 1 - w
    M[np.arange(len(grid)), j + 1] = w
    M.flags.writeable = False
    return M


def _peaks(X: np.ndarray, half: int) -> np.ndarray:
    """``X`` minus its moving average over ``2 * half + 1`` rows (edges: the rows there), clipped at 0."""
    if half <= 0:
        return X
    c = np.cumsum(np.vstack([np.zeros((1, X.shape[1]), X.dtype), X]), axis=0, dtype=np.float64)
    i = np.arange(X.shape[0])
    lo, hi = np.maximum(i - half, 0), np.minimum(i + half + 1, X.shape[0])
    mean = (c[hi] - c[lo]) / (hi - lo)[:, None]
    return np.maximum(X - mean, 0).astype(np.float32)


class GlideMeter:
    """Per-frame glide flags of a spectrogram that arrives block by block (in frame order).

    Parameters
    ----------
    freqs : np.ndarray [shape=(n_bins,)]
        Centre frequency (Hz) of each feature bin (:func:`nmftrans.features.frequencies`).
    params : GlideParams
    """

    def __init__(self, freqs: np.ndarray, params: GlideParams = GlideParams()):
        self.params = params
        self.M = _grid_matrix(tuple(np.asarray(freqs, dtype=np.float64)), params.fmin, params.fmax,
                              params.step_cents)
        self.half = int(round(params.whiten_cents / params.step_cents))
        self.shift = int(round(params.max_shift_cents / params.step_cents))
        self.tail = np.zeros((self.M.shape[0], 0), dtype=np.float32)  # the last lag_frames grids
        self.glides, self.valid, self.energy = [], [], []

    def push(self, V: np.ndarray) -> None:
        """Add frames ``V`` ``(n_bins, n)`` (the features, any scale)."""
        if V.shape[1] == 0:
            return
        p, D = self.params, self.shift
        X = _peaks(self.M @ np.asarray(V, dtype=np.float32), self.half)
        both = np.concatenate([self.tail, X], axis=1)
        lag = p.lag_frames
        n_prev = self.tail.shape[1]
        glides = np.zeros(X.shape[1], dtype=bool)
        valid = np.zeros(X.shape[1], dtype=bool)
        first = max(0, lag - n_prev)  # frames of X with a frame lag_frames before them
        if first < X.shape[1] and X.shape[0] > 2 * D:
            cur = both[:, n_prev + first:]
            prev = both[:, n_prev + first - lag:both.shape[1] - lag]
            n = X.shape[0]
            norm = np.sqrt((cur * cur).sum(axis=0) * (prev * prev).sum(axis=0))
            ok = norm > 0
            core = cur[D:n - D]
            corr = np.stack([(prev[D + d:n - D + d] * core).sum(axis=0) for d in range(-D, D + 1)])
            corr /= np.where(ok, norm, 1.0)
            best = corr.argmax(axis=0)
            top = corr[best, np.arange(corr.shape[1])]
            min_shift = int(np.ceil(p.min_shift_cents / p.step_cents - 1e-9))
            glides[first:] = ok & (top >= p.min_match) & (np.abs(best - D) >= min_shift) & (top - corr[D] >= p.min_gain)
            valid[first:] = ok
        self.glides.append(glides)
        self.valid.append(valid)
        self.energy.append(np.asarray(V, dtype=np.float32).sum(axis=0))
        self.tail = both[:, both.shape[1] - min(lag, both.shape[1]):].copy()

    def flags(self) -> tuple[np.ndarray, np.ndarray]:
        """``glides``, ``counted`` ``(n_frames,)`` bool: gliding frames, and frames counted at all."""
        if not self.glides:
            return np.zeros(0, dtype=bool), np.zeros(0, dtype=bool)
        energy = np.concatenate(self.energy)
        counted = np.concatenate(self.valid) & (energy > SILENCE_FRACTION * float(energy.max(initial=0.0)))
        return np.concatenate(self.glides) & counted, counted


def glide_gate(glides: np.ndarray, counted: np.ndarray, frame_rate: float,
               params: GlideParams = GlideParams()) -> np.ndarray:
    """Per-frame gate (1: keep, 0: no notes) from the glide flags of :class:`GlideMeter`.

    Parameters
    ----------
    glides, counted : np.ndarray [shape=(n_frames,)], bool
    frame_rate : float
    params : GlideParams

    Returns
    -------
    gate : np.ndarray [shape=(n_frames,)], float32
    """
    n = len(glides)
    if n == 0 or params.ratio_on >= 1:
        return np.ones(n, dtype=np.float32)
    size = max(1, int(round(params.segment_s * frame_rate)))
    n_seg = -(-n // size)
    hits = np.add.reduceat(glides.astype(np.int64), np.arange(0, n, size))
    seen = np.add.reduceat(counted.astype(np.int64), np.arange(0, n, size))
    gate = np.ones(n_seg)
    for s in range(n_seg):
        lo, hi = max(0, s - params.context), min(n_seg, s + params.context + 1)
        m = seen[lo:hi].sum()
        if m < MIN_FRAMES:
            continue
        ratio = hits[lo:hi].sum() / m
        if ratio >= params.ratio_off:
            gate[s] = 0.0
        elif ratio > params.ratio_on:
            gate[s] = (params.ratio_off - ratio) / (params.ratio_off - params.ratio_on)
    centres = (np.arange(n_seg) * size + 0.5 * (min(size, n) - 1)).astype(np.float64)
    centres[-1] = min(centres[-1], 0.5 * ((n_seg - 1) * size + n - 1))
    return np.interp(np.arange(n, dtype=np.float64), centres, gate).astype(np.float32)
