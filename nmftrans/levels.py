"""Per-frame normalisation of per-pitch activations: a reference that follows the music, and no
notes where there is no music. Pure array code (no I/O, no solving).

Two numbers per frame summarise the activations (:func:`frame_levels`): the *peak* (the
strongest pitch) and the *carpet* (the pitch at rank ``CARPET_RANK`` of the frame's pitches,
from the bottom: 0.75 is the upper quartile). Music is sparse over pitch (a few pitches
far above the rest); noise, hiss, rumble, clicks and applause are explained by many pitch
templates at once, smoothly, so their strongest pitch stays within a small multiple of the carpet.

Frames are grouped in segments of ``segment_s`` seconds counted from the first frame (so the
result does not depend on how the audio was read or solved), and each segment looks at the
frames of the ``2 * context + 1`` segments around it (about 6 s by default), using only
*active* frames (peak above ``1e-3`` of the file's highest; silence is left out, as the
per-file reference always did). In that window

* the *music ratio* is the window's ``percentile`` of the active peaks over the median carpet.
  Music gave at least 23 on the development pieces and real recordings, even with white noise
  at 20 dB SNR; white, pink, brown noise, tape hiss, clicks and applause-like bursts gave 3-17.
  Windows below ``music_ratio_off`` get a gain of 0 (no notes there), windows above
  ``music_ratio_on`` a gain of 1, linearly in between;
* the *reference* (what becomes 1: the loud notes) is that percentile of the active peaks, so a
  passage 20 dB quieter than the rest of its file is judged against its own loud notes, but
  never more than ``max_relative`` times the same percentile over the whole file (the per-file
  reference of earlier versions, kept wherever the music is loud), never less than
  ``min_relative`` times it (a near-silent stretch is not blown up), and never less than
  ``noise_ratio`` times the median carpet: a note needs evidence above the noise. Without that
  last bound, quiet stretches of noisy music were judged against their own noise (-0.02 onset
  F with white noise at 20 dB SNR).

The segment values are interpolated linearly between segment centres, so the per-frame
divisor changes smoothly. Everything is a ratio of activations, so the result does not depend
on the input level.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# Rank (fraction of the pitches, from the bottom) of the frame's "carpet" level.
CARPET_RANK = 0.75
# Frames whose peak is below this fraction of the file's highest peak count as silence.
SILENCE_FRACTION = 1e-3
# Frames whose levels are taken at once (bounds the copy that the partition makes).
_LEVEL_COLUMNS = 4096


@dataclass(frozen=True)
class LevelParams:
    """How activations are normalised frame by frame (:func:`frame_gains`).

    Attributes
    ----------
    percentile : float
        Percentile of the active frames' peaks that becomes 1 (the loud notes).
    segment_s : float
        Seconds per segment (the step at which the reference is estimated).
    context : int
        Segments on either side that a segment's window includes (0: the segment alone).
    min_relative : float
        The local reference is at least this fraction of the whole file's (0.1: with
        magnitude^0.6 features that allows passages down to about 33 dB below the file's loud
        part). 1 (with ``max_relative = 1``): the per-file reference everywhere.
    max_relative : float
        The local reference is at most this multiple of the whole file's: 1 keeps the per-file
        reference wherever the music is loud, and only lowers it in passages quieter than the
        file's (raising it in the loudest passages lost soft notes next to loud ones on the real
        recordings: SMD frame F 0.882 -> 0.821).
    noise_ratio : float
        The local reference is at least this multiple of the window's median carpet (the noise
        a pitch template takes: in noise the strongest pitch reached up to 25 times it, and
        notes need 0.3 of the reference). 0: no such bound.
    music_ratio_off, music_ratio_on : float
        The window's ``percentile`` of the active peaks (before the bounds above) over its
        median carpet: below ``music_ratio_off`` the gain is 0, above ``music_ratio_on`` it is 1
        (linear in between). 0 and 0 switch the check off.
    """

    percentile: float = 90.0
    segment_s: float = 2.0
    context: int = 1
    min_relative: float = 0.1
    max_relative: float = 1.0
    noise_ratio: float = 80.0
    music_ratio_off: float = 18.0
    music_ratio_on: float = 22.0

    def __post_init__(self) -> None:
        if not 0 < self.percentile <= 100:
            raise ValueError(f"percentile must be in (0, 100], got {self.percentile}")
        if not self.segment_s > 0 or self.context < 0:
            raise ValueError(f"need segment_s > 0 and context >= 0, got {self.segment_s}, {self.context}")
        if not 0 < self.min_relative <= 1 <= self.max_relative:
            raise ValueError(f"need 0 < min_relative <= 1 <= max_relative, got {self.min_relative}, "
                             f"{self.max_relative}")
        if not 0 <= self.music_ratio_off <= self.music_ratio_on or self.noise_ratio < 0:
            raise ValueError("need 0 <= music_ratio_off <= music_ratio_on and noise_ratio >= 0")


def frame_levels(A: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each frame's peak and carpet (the pitch at rank ``CARPET_RANK`` from the bottom).

    Parameters
    ----------
    A : np.ndarray [shape=(n_pitches, n_frames)]
        Per-pitch activations (any scale).

    Returns
    -------
    peak, carpet : np.ndarray [shape=(n_frames,)], float32
    """
    A = np.asarray(A, dtype=np.float32)
    peak = np.zeros(A.shape[1], dtype=np.float32)
    carpet = np.zeros(A.shape[1], dtype=np.float32)
    if A.shape[0] == 0:
        return peak, carpet
    k = int(CARPET_RANK * (A.shape[0] - 1))
    for lo in range(0, A.shape[1], _LEVEL_COLUMNS):  # the partition copies: a few columns at a time
        cols = A[:, lo:lo + _LEVEL_COLUMNS]
        peak[lo:lo + cols.shape[1]] = cols.max(axis=0)
        carpet[lo:lo + cols.shape[1]] = np.partition(cols, k, axis=0)[k]
    return peak, carpet


def frame_gains(peak: np.ndarray, carpet: np.ndarray, frame_rate: float,
                params: LevelParams = LevelParams()) -> np.ndarray:
    """Per-frame factors that normalise activations (see the module docstring).

    Parameters
    ----------
    peak, carpet : np.ndarray [shape=(n_frames,)]
        From :func:`frame_levels` on the whole file (in frame order).
    frame_rate : float
        Frames per second.
    params : LevelParams

    Returns
    -------
    gain : np.ndarray [shape=(n_frames,)], float32
        Multiply frame ``t`` of the activations by ``gain[t]``: ``music / reference``, 0 where
        there is no music (or nothing at all).
    """
    peak = np.asarray(peak, dtype=np.float64)
    carpet = np.asarray(carpet, dtype=np.float64)
    n = len(peak)
    top = float(peak.max(initial=0.0))
    if n == 0 or not top > 0:
        return np.zeros(n, dtype=np.float32)
    active = peak > SILENCE_FRACTION * top
    whole = float(np.percentile(peak[active], params.percentile))
    size = max(1, int(round(params.segment_s * frame_rate)))
    n_seg = -(-n // size)
    ref = np.empty(n_seg)
    music = np.empty(n_seg)
    for s in range(n_seg):
        lo, hi = max(0, (s - params.context) * size), min(n, (s + params.context + 1) * size)
        on = active[lo:hi]
        if not on.any():  # silence all round: nothing here will reach a threshold anyway
            ref[s], music[s] = whole, 1.0
            continue
        local = float(np.percentile(peak[lo:hi][on], params.percentile))
        floor = float(np.median(carpet[lo:hi][on]))
        music[s] = _music(local / max(floor, 1e-30), params)
        ref[s] = min(max(local, params.min_relative * whole, params.noise_ratio * floor), params.max_relative * whole)
    centres = (np.arange(n_seg) * size + 0.5 * (min(size, n) - 1)).astype(np.float64)
    centres[-1] = min(centres[-1], 0.5 * ((n_seg - 1) * size + n - 1))  # the last, shorter segment
    t = np.arange(n, dtype=np.float64)
    gain = np.interp(t, centres, music) / np.interp(t, centres, ref)
    return gain.astype(np.float32)


def _music(ratio: float, params: LevelParams) -> float:
    """0 below ``music_ratio_off``, 1 above ``music_ratio_on``, linear in between."""
    off, on = params.music_ratio_off, params.music_ratio_on
    if ratio >= on:
        return 1.0
    if ratio <= off:
        return 0.0
    return (ratio - off) / (on - off)


def normalise_frames(A: np.ndarray, frame_rate: float, params: LevelParams = LevelParams(), *,
                     copy: bool = True) -> np.ndarray:
    """Per-pitch activations times :func:`frame_gains` of their own :func:`frame_levels`.

    Parameters
    ----------
    A : np.ndarray [shape=(n_pitches, n_frames)]
    frame_rate : float
    params : LevelParams
    copy : bool
        False: a float32 ``A`` is scaled in place.

    Returns
    -------
    np.ndarray [shape=(n_pitches, n_frames)], float32
    """
    out = np.array(A, dtype=np.float32, copy=True) if copy or A.dtype != np.float32 else A
    gain = frame_gains(*frame_levels(out), frame_rate, params)
    np.multiply(out, gain[None, :], out=out)
    return out
