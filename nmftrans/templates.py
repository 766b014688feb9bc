"""Pitch-informed harmonic comb templates.

Pure array code (no I/O): ``learn`` feeds it spectrograms, it returns template columns.
"""

from __future__ import annotations

import numpy as np

from nmftrans.pitches import midi_to_hz


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
