"""Template construction: pitch-informed harmonic combs, broadband floor templates, and the
smooth response gain that adapts templates to a recording.

Pure array code (no I/O): callers feed it frequencies and spectrograms, it returns arrays.
"""

from __future__ import annotations

import numpy as np

from nmftrans.core.pitches import midi_to_hz


def harmonic_templates(pitches, freqs: np.ndarray, *, n_partials: int = 30, tolerance: float = 0.02,
                       decay: float = 1.0) -> np.ndarray:
    """Pitch-informed comb templates (Müller, FMP C8): partials at ``m * f0`` weighted ``1 / m**decay``.

    Parameters
    ----------
    pitches : array-like [shape=(n_pitches,)]
        MIDI pitches.
    freqs : np.ndarray [shape=(n_bins,)]
        Centre frequency in Hz of each feature bin.
    n_partials : int
        Maximum number of partials (those above the highest bin are dropped).
    tolerance : float
        Half-width of each partial's triangular lobe relative to its frequency (0.02 = ±2 %,
        about a third of a semitone); a lobe never covers less than the nearest bin.
    decay : float
        Partial ``m`` has weight ``1 / m**decay``.

    Returns
    -------
    W : np.ndarray [shape=(n_bins, n_pitches)], float32
        Each column sums to 1.
    """
    freqs = np.asarray(freqs, dtype=np.float64)
    spacing = np.gradient(freqs) if len(freqs) > 1 else np.ones(1)
    W = np.zeros((len(freqs), len(np.atleast_1d(pitches))), dtype=np.float64)
    for j, f0 in enumerate(midi_to_hz(np.atleast_1d(pitches))):
        for m in range(1, n_partials + 1):
            fm = m * f0
            if fm > freqs[-1] + spacing[-1]:
                break
            width = np.maximum(tolerance * fm, spacing)
            W[:, j] += np.clip(1.0 - np.abs(freqs - fm) / width, 0.0, None) / m**decay
        if W[:, j].sum() == 0:
            W[np.argmin(np.abs(freqs - f0)), j] = 1.0
    return (W / W.sum(axis=0, keepdims=True)).astype(np.float32)


def floor_templates(freqs: np.ndarray, widths: np.ndarray, *, spacing_octaves: float = 2.0) -> np.ndarray:
    """Smooth broadband templates for what no note explains: noise, hammer knocks, room.

    A raised-cosine bump over log-frequency every ``spacing_octaves`` from the lowest bin up,
    each ``2 * spacing_octaves`` wide on either side, weighted by the bins' bandwidths (a flat
    spectral density sums over a wider bin). They are far too smooth to fit a harmonic note, so
    they only take the broadband floor that pitch templates would otherwise absorb as spurious
    low-level notes.

    Parameters
    ----------
    freqs : np.ndarray [shape=(n_bins,)]
        Centre frequency in Hz of each feature bin.
    widths : np.ndarray [shape=(n_bins,)]
        Bandwidth in Hz that each feature bin covers.
    spacing_octaves : float > 0
        Octaves between the centres of neighbouring templates.

    Returns
    -------
    W : np.ndarray [shape=(n_bins, n_templates)], float32
        Each column sums to 1; ``n_templates = 1 + floor(octaves spanned / spacing_octaves)``.
    """
    if not spacing_octaves > 0:
        raise ValueError(f"spacing_octaves must be > 0, got {spacing_octaves}")
    log_f = np.log2(np.maximum(np.asarray(freqs, dtype=np.float64), 1e-3))
    widths = np.asarray(widths, dtype=np.float64)
    centres = np.arange(log_f[0], log_f[-1] + 1e-9, spacing_octaves)
    x = (log_f[:, None] - centres[None, :]) / (2.0 * spacing_octaves)
    W = np.where(np.abs(x) < 1.0, np.cos(0.5 * np.pi * x) ** 2, 0.0) * widths[:, None]
    return (W / W.sum(axis=0, keepdims=True)).astype(np.float32)


def response_gains(V: np.ndarray, V_hat: np.ndarray, freqs: np.ndarray, *, width_octaves: float = 0.5,
                   max_gain: float = 4.0) -> np.ndarray:
    """A smooth per-bin gain that brings a model's long-term spectrum to the input's.

    The ratio of the input's to the model's spectrum summed over frames, both smoothed over
    log-frequency with a Gaussian of standard deviation ``width_octaves``, scaled to a geometric
    mean of 1 and clipped to ``[1 / max_gain, max_gain]``. It estimates how a recording's
    instrument, microphone and room colour the spectrum relative to the sound the dictionary
    was learned from (for a dictionary's own instrument it stays close to 1); it is too smooth to
    follow single partials, so it does not fit notes.

    Parameters
    ----------
    V : np.ndarray [shape=(n_bins, n_frames)]
        Input features.
    V_hat : np.ndarray [shape=(n_bins, n_frames)]
        The model's reconstruction of ``V`` (``W @ H``).
    freqs : np.ndarray [shape=(n_bins,)]
        Centre frequency in Hz of each bin.
    width_octaves : float > 0
    max_gain : float >= 1

    Returns
    -------
    gains : np.ndarray [shape=(n_bins,)], float32
    """
    if not width_octaves > 0 or not max_gain >= 1:
        raise ValueError(f"need width_octaves > 0 and max_gain >= 1, got {width_octaves}, {max_gain}")
    log_f = np.log2(np.maximum(np.asarray(freqs, dtype=np.float64), 1e-3))
    kernel = np.exp(-0.5 * ((log_f[:, None] - log_f[None, :]) / width_octaves) ** 2)
    num = kernel @ np.asarray(V, dtype=np.float64).sum(axis=1)
    den = kernel @ np.asarray(V_hat, dtype=np.float64).sum(axis=1)
    if not (num.max(initial=0.0) > 0 and den.max(initial=0.0) > 0):
        return np.ones(len(log_f), dtype=np.float32)
    tiny = 1e-12 * max(num.max(), den.max())
    ratio = np.maximum(num, tiny) / np.maximum(den, tiny)
    ratio /= np.exp(np.mean(np.log(ratio)))
    return np.clip(ratio, 1.0 / max_gain, max_gain).astype(np.float32)
