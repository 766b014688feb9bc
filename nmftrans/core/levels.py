"""Per-frame normalisation of per-pitch activations: a reference that follows the music, and no
notes where there is no music. Pure array code (no I/O, no solving).

Two numbers per frame summarise the activations (:func:`frame_levels`): the *peak* (the
strongest pitch) and the *carpet* (the pitch at rank ``CARPET_RANK`` of the frame's pitches,
from the bottom: 0.75 is the upper quartile, but with at least ``CARPET_ABOVE`` = 12 pitches
above it, down to the median: :func:`carpet_index`). Music is sparse over pitch (a few pitches
far above the rest); noise, hiss, rumble, clicks and applause are explained by many pitch
templates at once, smoothly, so their strongest pitch stays within a small multiple of the carpet.

Why a count and not only a fraction: a chord lights up more pitches than it has notes (its
notes, the pitches at their octaves and twelfths, which explain their partials, and with
templates learned with H = Y, ``learn --method fixed``, the notes each template was learned
with). The upper quartile has 22 pitches above it in the shipped piano dictionary (88 pitches)
and 12 in the guitar (49), but only 7 in a 29-pitch dictionary (MIDI 44-72) learned with H = Y
from the first half of the real GuitarSet track; on its second half a median of 15 of those
pitches were within 1/20 of the frame's peak, so the quartile was music: the music ratio fell to
13-15 (69 with the shipped guitar) and the music check and the noise bound below gave no notes
at all (onset F 0). With 12 pitches above the carpet that ratio is 34-39 there (and 89-102 with
the informed dictionary of the same pitches, 135-196 with harmonic combs C3-C5), while noise
stays at 4-8 with such narrow dictionaries (white, pink, brown noise, hiss, clicks, bursts with
25-29 pitches; the quartile gave 3-4); the shipped dictionaries' carpets are unchanged. The
median bound keeps small dictionaries (25 pitches or fewer) from a carpet among their weakest
pitches, which noise leaves far down (the 6th weakest of 29 was up to 22 times below the peak in
noise, the 2nd weakest of 25 up to 98 times). Music that holds half of the dictionary's pitches
still reads partly as noise: 4-6-note chords ringing 1.5 s, one every 0.6 s (12-18 notes
sounding of 25 pitches), kept onset F 0.48 (0 with the quartile).

Frames are grouped in segments of ``segment_s`` seconds counted from the first frame (so the
result does not depend on how the audio was read or solved), and each segment looks at the
frames of the ``2 * context + 1`` segments around it (3 s by default), using only
*active* frames (peak above ``1e-3`` of the file's highest; silence is left out, as the
per-file reference always did). In that window

* the *music ratio* is the ``percentile`` of the active peaks over their median carpet, in a
  wider window (``music_context`` segments either side: 7 s), or over 0.8 of the median carpet
  of the loudest quarter of those frames where that is higher (sparse clicks over a quiet room:
  ``loud_carpet``); the window is music too where its loudest 1 % of frames stand far above
  their own carpet (sparse notes over a room, ``sparse_quantile``). Music gave at least 23 on the
  development pieces and real recordings (6 s windows), even with white noise at 20 dB SNR;
  white, pink, brown noise, tape hiss, clicks and applause-like bursts gave 3-17. Windows below
  ``music_ratio_off`` get a gain of 0 (no notes there), windows above ``music_ratio_on`` a gain
  of 1, linearly in between (3 s windows silenced more music at 10 dB SNR);
* the *reference* (what becomes 1: the loud notes) is that percentile of the active peaks (or
  half their 99th percentile where that is higher and the percentile alone is not music: sparse
  notes, ``sparse_share``), so a
  passage 20 dB quieter than the rest of its file is judged against its own loud notes, but
  never more than the same percentile over the whole file (the per-file reference of earlier
  versions, kept wherever the music is loud: raising it in the loudest passages lost soft notes
  next to loud ones, SMD frame F 0.882 -> 0.821), nor in passages down to ``knee_high`` of it
  (lowering it for mild dips cost the SMD recording up to 0.13 frame F), never less than
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

# Rank (fraction of the pitches, from the bottom) of the frame's "carpet" level ...
CARPET_RANK = 0.75
# ... but at least this many pitches above it (a chord and the pitches its partials light up) ...
CARPET_ABOVE = 12
# ... as long as that leaves it at this rank or higher (the median).
CARPET_LOWEST = 0.5
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
        Seconds per segment (the step at which the reference is estimated; 2 s windows of 6 s
        kept only 88 % of a quiet half's onset F on a 13.5 s piece, because its first 3 s were
        still judged with the loud half in the window).
    context : int
        Segments on either side that a segment's window includes for its reference (0: the
        segment alone).
    music_context : int
        The same for the music ratio.
    min_relative : float
        The local reference is at least this fraction of the whole file's (0.1: with
        magnitude^0.6 features that allows passages down to about 33 dB below the file's loud
        part). 1: the per-file reference everywhere.
    knee_low, knee_high : float
        A window whose percentile is ``x`` times the whole file's (``x < 1``) gets a reference of
        ``x`` times it below ``knee_low``, the file's above ``knee_high``, and log-linearly in
        between: only clearly quieter passages get their own reference.
    noise_ratio : float
        The local reference is at least this multiple of the window's median carpet (the noise
        a pitch template takes: in noise the strongest pitch reached up to 25 times it, and
        notes need 0.3 of the reference). 0: no such bound.
    music_ratio_off, music_ratio_on : float
        The ``percentile`` of the active peaks of the ``music_context`` window over their
        median carpet: below ``music_ratio_off`` the gain is 0, above ``music_ratio_on`` it is 1
        (linear in between). 0 and 0 switch the check off.
    loud_quantile, loud_carpet : float
        The music ratio's carpet is also read in the loud frames alone (those whose peak is at
        or above the ``loud_quantile`` of the window's active peaks): ``loud_carpet`` times their
        median carpet counts where that is higher than the window's. A click, a keystroke or a
        knock over a quiet room lights up many pitches at once, but only in its own frames: the
        window's peaks were the clicks' and its median carpet the room's, so sparse clicks read
        as music (ratio 23-135 with 8-60 clicks in 8 s; 8-15 against their own frames' carpet,
        10-19 against 0.8 of it).
        Music's loud frames have a higher carpet too (a chord's partials, its room, the noise the
        notes spread over): 0.8 of it kept white noise at 10 dB SNR as it was. 0: off.
    sparse_quantile, sparse_ratio_off, sparse_ratio_on : float
        Sparse music: notes in fewer than a tenth of a window's frames (a note every few seconds
        over a room's noise) leave the ``percentile`` of its peaks to the room, so the music
        ratio read noise. The window's loudest frames (peaks at or above the
        ``sparse_quantile``) are read on their own too: the median of their peak-to-carpet
        ratios, frame by frame, is music from ``sparse_ratio_on`` on (0 below ``sparse_ratio_off``,
        linear in between), and the higher of the two verdicts counts. Sparse notes gave 74 or
        more, noise, hiss, clicks and keystrokes at most 34 (each burst lights every pitch of its
        own frames). ``sparse_quantile`` 1: off.
    sparse_share : float
        Where the ``percentile`` of the peaks is not music by itself (below ``music_ratio_on`` times
        the median carpet), the level of the loud notes (the file's, a window's: what becomes 1)
        is at least this share of the active peaks' ``sparse_quantile``: with sparse notes the
        ``percentile`` is the room's, and every partial the notes light up would pass the onset
        threshold. (Where the percentile is music, two loud accents in a quiet texture raised it
        and lost the quiet notes 25 dB under them; at 1.0 everywhere the real recordings lost,
        SMD 0.804 → 0.634.) 0.4 s tones 0.8-6 s apart over noise 60 dB down (24 cases, both
        dictionaries): onset F 0.59 → 0.78; dense music unchanged (4 of 102 noisy, reverberant and
        MAPS-sampled files changed, with the same onset F). 0: off.
    """

    percentile: float = 90.0
    segment_s: float = 1.0
    context: int = 1
    music_context: int = 3
    min_relative: float = 0.1
    noise_ratio: float = 80.0
    knee_low: float = 0.3
    knee_high: float = 0.6
    music_ratio_off: float = 18.0
    music_ratio_on: float = 22.0
    loud_quantile: float = 0.75
    loud_carpet: float = 0.8
    sparse_quantile: float = 0.99
    sparse_ratio_off: float = 40.0
    sparse_ratio_on: float = 60.0
    sparse_share: float = 0.5

    def __post_init__(self) -> None:
        if not 0 < self.percentile <= 100:
            raise ValueError(f"percentile must be in (0, 100], got {self.percentile}")
        if not self.segment_s > 0 or self.context < 0 or self.music_context < 0:
            raise ValueError(f"need segment_s > 0 and contexts >= 0, got {self.segment_s}, {self.context}, "
                             f"{self.music_context}")
        if not 0 < self.min_relative <= 1:
            raise ValueError(f"need 0 < min_relative <= 1, got {self.min_relative}")
        if not 0 < self.knee_low <= self.knee_high <= 1:
            raise ValueError(f"need 0 < knee_low <= knee_high <= 1, got {self.knee_low}, {self.knee_high}")
        if not 0 <= self.music_ratio_off <= self.music_ratio_on or self.noise_ratio < 0:
            raise ValueError("need 0 <= music_ratio_off <= music_ratio_on and noise_ratio >= 0")
        if (not 0 < self.sparse_quantile <= 1 or not 0 <= self.sparse_ratio_off <= self.sparse_ratio_on
                or self.sparse_share < 0):
            raise ValueError(f"need 0 < sparse_quantile <= 1, 0 <= sparse_ratio_off <= sparse_ratio_on and "
                             f"sparse_share >= 0, got {self.sparse_quantile}, {self.sparse_ratio_off}, "
                             f"{self.sparse_ratio_on}, {self.sparse_share}")
        if not 0 <= self.loud_quantile < 1 or self.loud_carpet < 0:
            raise ValueError(f"need 0 <= loud_quantile < 1 and loud_carpet >= 0, got {self.loud_quantile}, "
                             f"{self.loud_carpet}")


def carpet_index(n_pitches: int) -> int:
    """Index, from the bottom, of the carpet among ``n_pitches`` sorted activations: the upper
    quartile, lowered to leave ``CARPET_ABOVE`` pitches above it, but not below the median
    (88 pitches: 65; 49: 36; 29: 16; 25 or fewer: the median)."""
    top = n_pitches - 1
    return max(min(int(CARPET_RANK * top), top - CARPET_ABOVE), int(CARPET_LOWEST * top), 0)


def frame_rank(A: np.ndarray, k: int) -> np.ndarray:
    """Each frame's ``k``-th smallest activation (0: the lowest), a few thousand frames at a time
    (bounded copies).

    Parameters
    ----------
    A : np.ndarray [shape=(n_pitches, n_frames)], n_pitches > k
    k : int

    Returns
    -------
    values : np.ndarray [shape=(n_frames,)], float32
    """
    A = np.asarray(A, dtype=np.float32)
    values = np.zeros(A.shape[1], dtype=np.float32)
    for lo in range(0, A.shape[1], _LEVEL_COLUMNS):
        rows = np.ascontiguousarray(A[:, lo:lo + _LEVEL_COLUMNS].T)  # a frame per row: contiguous partitions
        values[lo:lo + rows.shape[0]] = np.partition(rows, k, axis=1)[:, k]
    return values


def frame_levels(A: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each frame's peak and carpet (the pitch at :func:`carpet_index` from the bottom).

    Parameters
    ----------
    A : np.ndarray [shape=(n_pitches, n_frames)]
        Per-pitch activations (any scale).

    Returns
    -------
    peak, carpet : np.ndarray [shape=(n_frames,)], float32
    """
    A = np.asarray(A, dtype=np.float32)
    if A.shape[0] == 0:
        return np.zeros(A.shape[1], dtype=np.float32), np.zeros(A.shape[1], dtype=np.float32)
    return A.max(axis=0), frame_rank(A, carpet_index(A.shape[0]))


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
    whole = _level(peak[active], _quantile(carpet[active], 50.0), params)
    size = max(1, int(round(params.segment_s * frame_rate)))
    n_seg = -(-n // size)
    ref = np.empty(n_seg)
    music = np.empty(n_seg)

    def window(s: int, context: int) -> tuple[float, float] | None:
        """The loud notes' level (:func:`_level`) and the median carpet of the active frames of
        segments ``s ± context``."""
        lo, hi = max(0, (s - context) * size), min(n, (s + context + 1) * size)
        on = active[lo:hi]
        if not on.any():
            return None
        floor = _quantile(carpet[lo:hi][on], 50.0)
        return _level(peak[lo:hi][on], floor, params), floor

    def music_of(s: int) -> float:
        """The music verdict (0-1) of the ``music_context`` window of segment ``s``."""
        lo, hi = max(0, (s - params.music_context) * size), min(n, (s + params.music_context + 1) * size)
        on = active[lo:hi]
        peaks, carpets = peak[lo:hi][on], carpet[lo:hi][on]
        floor = _quantile(carpets, 50.0)
        if params.loud_carpet > 0:
            loudest = carpets[peaks >= _quantile(peaks, 100.0 * params.loud_quantile)]
            floor = max(floor, params.loud_carpet * _quantile(loudest, 50.0))
        verdict = _music(_quantile(peaks, params.percentile) / max(floor, 1e-30), params)
        if params.sparse_quantile < 1 and verdict < 1:
            loudest_few = peaks >= _quantile(peaks, 100.0 * params.sparse_quantile)
            ratios = peaks[loudest_few] / np.maximum(carpets[loudest_few], 1e-30)
            verdict = max(verdict, _ramp(_quantile(ratios, 50.0), params.sparse_ratio_off, params.sparse_ratio_on))
        return verdict

    for s in range(n_seg):
        near = window(s, params.context)
        if near is None:  # silence all round: nothing here will reach a threshold anyway
            ref[s], music[s] = whole, 1.0
            continue
        music[s] = music_of(s)
        local = whole * _knee(near[0] / whole, params.knee_low, params.knee_high)
        ref[s] = min(max(local, params.min_relative * whole, params.noise_ratio * near[1]), whole)
    centres = (np.arange(n_seg) * size + 0.5 * (min(size, n) - 1)).astype(np.float64)
    centres[-1] = min(centres[-1], 0.5 * ((n_seg - 1) * size + n - 1))  # the last, shorter segment
    t = np.arange(n, dtype=np.float64)
    gain = np.interp(t, centres, music) / np.interp(t, centres, ref)
    return gain.astype(np.float32)


def _level(peaks: np.ndarray, median_carpet: float, params: LevelParams) -> float:
    """The loud notes' level among frames of ``peaks`` whose carpets have the median
    ``median_carpet``: the ``percentile`` of the peaks; where that is not music by itself (below
    ``music_ratio_on`` times the median carpet:
    notes in fewer than a tenth of the frames over a room), ``sparse_share`` of their
    ``sparse_quantile`` if that is higher (where the percentile is music, a few loud accents
    among quiet notes do not raise it)."""
    level = _quantile(peaks, params.percentile)
    if (params.sparse_share > 0 and params.sparse_quantile < 1
            and level < params.music_ratio_on * median_carpet):
        level = max(level, params.sparse_share * _quantile(peaks, 100.0 * params.sparse_quantile))
    return level


def _quantile(x: np.ndarray, q: float) -> float:
    """``np.percentile(x, q)`` (linear interpolation) by one partition: a tenth of its overhead."""
    pos = (len(x) - 1) * q / 100.0
    lo = int(pos)
    hi = min(lo + 1, len(x) - 1)
    v = np.partition(x, (lo, hi))
    return float(v[lo] + (v[hi] - v[lo]) * (pos - lo))


def _knee(x: float, low: float, high: float) -> float:
    """``x`` below ``low``, 1 from ``high`` up, log-linear in between (``low`` -> ``low``, ``high`` -> 1)."""
    if x >= high:
        return 1.0
    if x <= low or high <= low:
        return x
    return float(low * np.exp(np.log(x / low) * np.log(1.0 / low) / np.log(high / low)))


def _music(ratio: float, params: LevelParams) -> float:
    """0 below ``music_ratio_off``, 1 above ``music_ratio_on``, linear in between."""
    return _ramp(ratio, params.music_ratio_off, params.music_ratio_on)


def _ramp(x: float, off: float, on: float) -> float:
    """0 up to ``off``, 1 from ``on``, linear in between."""
    if x >= on:
        return 1.0
    if x <= off:
        return 0.0
    return (x - off) / (on - off)


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
