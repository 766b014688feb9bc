"""Convolutive (τ-frame) templates: array code shared by ``learn`` and ``transcribe``.

A convolutive dictionary holds ``W : (n_bins, n_comp, n_frames)``; the model is
``V[:, t] ≈ sum_k sum_τ W[:, k, τ] H[k, t - τ]`` (Smaragdis 2004; Wu, Marmoret & Cohen, SMC
2022), so a struck note is a spike of its activation and the note's evolution over its first
``n_frames`` frames lives in the template. The MU kernels are in :mod:`nmftrans.core.kernels`
(:func:`~nmftrans.core.kernels.update_activations_conv`, :func:`~nmftrans.core.kernels.stack_patches`).
"""

from __future__ import annotations

import numpy as np

from nmftrans.core import kernels

# Alternating updates (h, then W) of the rank-one fit of one note's patch.
PATCH_ITER = 30
# The patch is fitted on this many times its length of the note, from the onset: the frames
# after it show what the patch's last frames must leave to later activations.
PATCH_SPAN = 3
# Initial activation after the onset, relative to the onset's (a spike, but not zero: MU
# cannot grow an exact zero).
PATCH_TAIL = 0.05


def learn_patch(V: np.ndarray, frames: int, *, beta: float = 1.0, n_iter: int = PATCH_ITER) -> np.ndarray:
    """Rank-one convolutive NMF of one isolated note: ``V ≈ sum_τ w[:, τ] h[t - τ]``.

    Initialised from the note's own first ``frames`` frames (``w``) and a spike at the onset
    (``h``); ``n_iter`` alternating MU updates of ``h`` and ``w``.

    Parameters
    ----------
    V : np.ndarray [shape=(n_bins, n_frames_note)]
        The note's spectrogram from its onset (the fit uses the first ``PATCH_SPAN * frames``).
    frames : int >= 1
        Length τ of the patch.
    beta : float
        β of the divergence.

    Returns
    -------
    w : np.ndarray [shape=(n_bins, frames)], float64
        The patch, of unit sum (all zeros if the note is silent).
    """
    V = np.ascontiguousarray(V[:, :PATCH_SPAN * frames], dtype=np.float32)
    w = np.zeros((V.shape[0], frames), dtype=np.float32)
    n0 = min(frames, V.shape[1])
    w[:, :n0] = V[:, :n0]
    total = float(w.sum(dtype=np.float64))
    if total <= 0:
        return np.zeros((V.shape[0], frames))
    w = w / np.float32(total) + np.float32(1e-9)
    w /= w.sum()
    h = np.full((1, V.shape[1]), PATCH_TAIL * total / max(n0, 1), dtype=np.float32)
    h[0, 0] = total
    comp = np.zeros(frames, dtype=np.int64)
    shift = np.arange(frames, dtype=np.int64)
    for _ in range(n_iter):
        h = kernels.update_activations_conv(V, w[:, None, :], h, beta=beta, n_iter=1)
        # the W step of the convolutive model: each frame of the patch is a column of the
        # stacked matrix against the shifted activations
        w, _ = kernels.update_dictionary(V, w, kernels.shifted_activations(h, comp, shift), beta=beta,
                                         n_iter=1, tol=0.0)
        scale = w.sum(dtype=np.float64)
        if scale <= 0:
            return np.zeros((V.shape[0], frames))
        w /= np.float32(scale)
        h *= np.float32(scale)
    return w.astype(np.float64) / w.sum(dtype=np.float64)


def with_frames(W: np.ndarray, frames: int) -> np.ndarray:
    """One-frame templates ``(n_bins, n)`` as ``(n_bins, n, frames)`` patches (later frames 0)."""
    out = np.zeros((W.shape[0], W.shape[1], frames), dtype=np.float32)
    out[:, :, 0] = W
    return out


MAX_FRAMES = 64


def check_frames(frames) -> int:
    """Validate a template length in frames (``--frames``): an integer in 1..``MAX_FRAMES``."""
    from nmftrans.errors import SettingError

    if isinstance(frames, bool) or not isinstance(frames, (int, np.integer)) or not 1 <= frames <= MAX_FRAMES:
        raise SettingError("frames", f"must be an integer from 1 to {MAX_FRAMES}, got {frames!r}")
    return int(frames)
