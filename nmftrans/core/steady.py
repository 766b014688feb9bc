"""Steady floors: the part of a pitch's activation that never goes away is not a note. Pure array code.

Mains hum, a buzz, a drone of the room, or an acoustic guitar's air resonance (near 100 Hz, rung by
every strum) keep a few pitch templates busy the whole time. Their activations sit on a floor that
the music around them only modulates: the solver hands the hum now to one template, now to another,
and the normalisation (:mod:`nmftrans.core.levels`) scales it up where the music is soft, so the
floor rises and falls and the tracker reads notes in it. Notes, even repeated ones, come and go.

Each pitch row's floor (:func:`steady_floors`) is the ``percentile``-th percentile (the lower order
statistic) of its activation, read on every ``STRIDE``-th frame, over a window of
``2 * CONTEXT + 1`` segments of ``SEGMENT_S`` seconds around each segment (segments counted from the
first frame, as in :mod:`nmftrans.core.levels`, so the result does not depend on how the audio was
read or solved). :func:`subtract_steady` takes ``factor`` times it off the row (clipped at 0).
Rows are independent, so a few rows give what the whole array gives.

Measured (``transcribe``, factor 2, percentile 10; onset F / frame F, before -> after): with mains
hum (50 or 60 Hz and harmonics) added at -40 / -30 dBFS, the 14 piano pieces (12 rendered, 2 real)
50 Hz 0.914 / 0.802 -> 0.922 / 0.826 and 0.863 / 0.725 -> 0.886 / 0.794 (the hum had become notes
at G1 and G#1), 60 Hz 0.910 / 0.814 -> 0.915 / 0.817 and 0.872 / 0.723 -> 0.886 / 0.795; the 4
guitar pieces 0.900 / 0.858 -> 0.901 / 0.867 and 0.884 / 0.842 -> 0.881 / 0.851 (50 Hz), 0.895 /
0.842 -> 0.895 / 0.855 and 0.891 / 0.847 -> 0.896 / 0.858 (60 Hz); the real guitar track 0.709 /
0.708 -> 0.715 / 0.711. Clean rendered, MAPS-sampled and real pianos, the rendered guitars and the
0.4 / 0.8 s rooms moved by at most 0.002; in pink noise at 20 / 10 dB SNR the pianos 0.915 / 0.802
-> 0.913 / 0.799 and 0.867 / 0.690 -> 0.860 / 0.706, the guitars 0.878 / 0.831 -> 0.881 / 0.844 and
0.788 / 0.729 -> 0.787 / 0.739. Factor 4 gave the real guitar 0.713 / 0.733 but cost the pianos in
pink noise at 10 dB 0.011 onset F. Noise, hiss, clicks, applause and speech still give no notes:
the levels' music check reads the activations before the floors come off (read after, white noise
gave hundreds of notes).
"""

from __future__ import annotations

import numpy as np

#: Seconds per segment of the floor's windows.
SEGMENT_S = 2.0
#: Segments either side of a segment in its window (2 * 3 + 1 segments: 14 s).
CONTEXT = 3
#: The percentile is read on every STRIDE-th frame (from the first): a floor needs far fewer
#: frames than a note. Every 3rd frame gave the same development, real and MAPS-sampled scores and
#: hum figures within 0.003; this costs about 5 ms per 180 s of 88 pitches (every frame, with
#: np.percentile: 85 ms).
STRIDE = 6


def steady_floors(A: np.ndarray, frame_rate: float, percentile: float) -> np.ndarray:
    """Each row's floor in each segment.

    Parameters
    ----------
    A : np.ndarray [shape=(n_rows, n_frames)]
        Per-pitch activations (any scale).
    frame_rate : float
        Frames per second.
    percentile : float
        In [0, 100).

    Returns
    -------
    floors : np.ndarray [shape=(n_rows, n_segments)], float32
        ``n_segments = ceil(n_frames / segment)``, ``segment = round(SEGMENT_S * frame_rate)``.
    """
    A = np.asarray(A, dtype=np.float32)
    n_rows, n = A.shape
    size = max(1, int(round(SEGMENT_S * frame_rate)))
    n_seg = -(-n // size)
    floors = np.zeros((n_rows, n_seg), dtype=np.float32)
    if n_rows == 0:
        return floors
    sampled = np.ascontiguousarray(A[:, ::STRIDE])  # frames 0, STRIDE, 2 * STRIDE, ...: a fixed grid
    for s in range(n_seg):
        lo = -(-max(0, s - CONTEXT) * size // STRIDE)  # first sampled frame at or after the window's start
        hi = -(-min(n, (s + CONTEXT + 1) * size) // STRIDE)
        window = sampled[:, lo:hi]
        k = int(percentile / 100.0 * (window.shape[1] - 1))  # the lower order statistic
        floors[:, s] = np.partition(window, k, axis=1)[:, k]
    return floors


def subtract_floors(A: np.ndarray, floors: np.ndarray, frame_rate: float, factor: float) -> np.ndarray:
    """``A`` less ``factor`` times ``floors`` (:func:`steady_floors` of these rows), clipped at 0, in place.

    Parameters
    ----------
    A : np.ndarray [shape=(n_rows, n_frames)], float32
        Changed in place.
    floors : np.ndarray [shape=(n_rows, n_segments)]
    frame_rate : float
    factor : float

    Returns
    -------
    A : np.ndarray [shape=(n_rows, n_frames)], float32
    """
    scaled = np.asarray(floors, dtype=np.float32) * np.float32(factor)
    size = max(1, int(round(SEGMENT_S * frame_rate)))
    per_frame = np.repeat(scaled, size, axis=1)[:, :A.shape[1]]  # each frame's segment floor
    np.subtract(A, per_frame, out=A)
    np.maximum(A, np.float32(0.0), out=A)
    return A


def subtract_steady(A: np.ndarray, frame_rate: float, factor: float, percentile: float) -> np.ndarray:
    """``A`` less ``factor`` times its :func:`steady_floors`, clipped at 0, in place.

    Parameters
    ----------
    A : np.ndarray [shape=(n_rows, n_frames)], float32
        Changed in place.
    frame_rate : float
    factor : float
        0: ``A`` as it is.
    percentile : float

    Returns
    -------
    A : np.ndarray [shape=(n_rows, n_frames)], float32
    """
    if factor <= 0 or A.size == 0:
        return A
    return subtract_floors(A, steady_floors(A, frame_rate, percentile), frame_rate, factor)
