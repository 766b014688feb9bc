"""Deep NMF array code: Kullback-Leibler MU updates of H unfolded into layers with untied templates.

Layer ``k`` (``k = 1..K``) is one multiplicative update of the activations with its own templates
``W_k`` (Hershey, Le Roux & Weninger 2014; Le Roux et al., ICASSP 2015)::

    H_k = H_{k-1} * ((W_k^T (V / max(W_k H_{k-1}, eps))) / W_k^T 1) ** gamma

so every layer stays nonnegative and costs one MU update. :func:`unfolded_forward` runs the layers,
:func:`unfolded_backward` back-propagates a gradient on ``H_K`` to every ``W_k`` (written by hand,
NumPy only), and :func:`roll_loss` scores normalised per-pitch activations against a piano roll.
Only arrays in and out: no files, no settings objects.
"""

from __future__ import annotations

import numpy as np

EPS = 1e-10


def initial_activations(V: np.ndarray, W: np.ndarray) -> np.ndarray:
    """The flat start of the solve: each frame's level spread evenly over the templates.

    Parameters
    ----------
    V : np.ndarray [shape=(n_bins, n_frames)]
    W : np.ndarray [shape=(n_bins, n_templates)]

    Returns
    -------
    H0 : np.ndarray [shape=(n_templates, n_frames)], dtype of ``V``
        ``V.sum(axis=0) / (n_templates * mean column sum of W) + 1e-9`` in every row (the start of
        :func:`nmftrans.transcribe.solve_activations`).
    """
    scale = W.sum(axis=0).mean()
    H = np.empty((W.shape[1], V.shape[1]), dtype=V.dtype)
    H[:] = V.sum(axis=0) / (W.shape[1] * scale) + V.dtype.type(1e-9)
    return H


def unfolded_forward(V: np.ndarray, Ws: np.ndarray, H0: np.ndarray, gamma: float = 1.0, eps: float = EPS,
                     keep: bool = False):
    """Run the K unfolded KL MU layers.

    Parameters
    ----------
    V : np.ndarray [shape=(n_bins, n_frames)], nonnegative
    Ws : np.ndarray [shape=(K, n_bins, n_templates)], nonnegative
        Templates of each layer (layer ``k`` uses ``Ws[k]``).
    H0 : np.ndarray [shape=(n_templates, n_frames)], positive
        Start of the first layer (not modified).
    gamma : float
        Exponent of each step (1: the plain, monotone KL update).
    eps : float
        Floor of ``W_k H`` and of the denominators.
    keep : bool
        Also return the layers' inputs ``[H0, ..., H_{K-1}]`` (what :func:`unfolded_backward` needs).

    Returns
    -------
    H : np.ndarray [shape=(n_templates, n_frames)]
        ``H_K``.
    inputs : list of np.ndarray, only with ``keep``
    """
    H = np.array(H0, copy=True)
    inputs = []
    for W in Ws:
        if keep:
            inputs.append(H)
        ratio = V / np.maximum(W @ H, eps)
        den = np.maximum(W.sum(axis=0), eps)
        H = H * (W.T @ ratio / den[:, None]) ** gamma
    return (H, inputs) if keep else H


def unfolded_backward(V: np.ndarray, Ws: np.ndarray, inputs, grad_H: np.ndarray, gamma: float = 1.0,
                      eps: float = EPS) -> np.ndarray:
    """Gradient of a loss with respect to every layer's templates, given its gradient on ``H_K``.

    Parameters
    ----------
    V, Ws, gamma, eps
        As given to :func:`unfolded_forward`.
    inputs : list of np.ndarray [shape=(n_templates, n_frames)]
        The layers' inputs returned by :func:`unfolded_forward` with ``keep=True``.
    grad_H : np.ndarray [shape=(n_templates, n_frames)]
        dLoss / dH_K.

    Returns
    -------
    grad_Ws : np.ndarray [shape=(K, n_bins, n_templates)]
        dLoss / dW_k (the ``eps`` floors treated as inactive).
    """
    grads = np.zeros_like(Ws)
    G = grad_H
    for k in range(len(Ws) - 1, -1, -1):
        W, H = Ws[k], inputs[k]
        WH = np.maximum(W @ H, eps)
        ratio = V / WH
        num = W.T @ ratio
        den = np.maximum(W.sum(axis=0), eps)[:, None]
        Q = num / den
        Qg = Q ** gamma
        # H_k = H * Q^gamma
        GQ = G * H * gamma * Qg / np.maximum(Q, eps)  # dL/dQ
        G_num = GQ / den
        G_den = -(GQ * num).sum(axis=1) / den[:, 0] ** 2  # dL/d(column sums of W)
        G_ratio = W @ G_num
        G_WH = -G_ratio * ratio / WH
        grads[k] = ratio @ G_num.T + G_WH @ H.T + G_den[None, :]
        G = G * Qg + W.T @ G_WH
    return grads


def pitch_matrix(template_pitches: np.ndarray, weights: np.ndarray, n_templates: int) -> tuple[np.ndarray, np.ndarray]:
    """The matrix that sums weighted template activations into per-pitch activations.

    Parameters
    ----------
    template_pitches : np.ndarray [shape=(n_comp,)], int
        Pitch of each dictionary template (the first ``n_comp`` rows of H).
    weights : np.ndarray [shape=(n_comp,)]
        Weight of each template in its pitch's activation.
    n_templates : int
        Rows of H (``n_comp`` plus the untracked floor templates after them).

    Returns
    -------
    P : np.ndarray [shape=(n_pitches, n_templates)], float64
        ``A = P @ H``; zero columns for the floor templates.
    pitch_set : np.ndarray [shape=(n_pitches,)]
    """
    pitch_set, index = np.unique(np.asarray(template_pitches), return_inverse=True)
    P = np.zeros((len(pitch_set), n_templates))
    P[index.reshape(-1), np.arange(len(index))] = weights
    return P, pitch_set


def roll_loss(A: np.ndarray, Y: np.ndarray, ref: float, scale: float = 10.0, bias: float = 0.2,
              pos_weight: float = 1.0, weights: np.ndarray | None = None) -> tuple[float, np.ndarray]:
    """Weighted binary cross-entropy of ``sigmoid(scale * (A / ref - bias))`` against a roll.

    Parameters
    ----------
    A : np.ndarray [shape=(n_pitches, n_frames)], nonnegative
        Per-pitch activations.
    Y : np.ndarray [shape=(n_pitches, n_frames)], 0 or 1
        Piano roll.
    ref : float > 0
        Reference level that normalises ``A`` (a constant: no gradient flows through it).
    scale, bias : float
        Slope and centre of the sigmoid in units of the normalised activation.
    pos_weight : float
        Weight of the frames where ``Y = 1``.
    weights : np.ndarray [shape=(n_pitches, n_frames)], optional
        Weight of each entry, on top of ``pos_weight`` (0: the entry does not count).

    Returns
    -------
    loss : float
        Mean over all entries.
    grad_A : np.ndarray [shape=(n_pitches, n_frames)]
        dLoss / dA.
    """
    z = scale * (A / ref - bias)
    # -log sigmoid(z) = logaddexp(0, -z); -log(1 - sigmoid(z)) = logaddexp(0, z)
    per = pos_weight * Y * np.logaddexp(0.0, -z) + (1.0 - Y) * np.logaddexp(0.0, z)
    p = 0.5 * (1.0 + np.tanh(0.5 * z))  # sigmoid(z) without overflow
    grad_z = pos_weight * Y * (p - 1.0) + (1.0 - Y) * p
    if weights is not None:
        per, grad_z = per * weights, grad_z * weights
    n = max(A.size, 1)
    return float(per.sum() / n), grad_z * (scale / (ref * n))


def unfolded_solve(V: np.ndarray, Ws: np.ndarray, gamma: float = 1.0) -> np.ndarray:
    """Transcription-time forward pass: the K layers with the compiled MU kernel, in float32.

    Each layer is one :func:`nmftrans.core.kernels.update_activations` step with its own templates
    (the cost of one MU update); the start is :func:`initial_activations` of the first layer.

    Parameters
    ----------
    V : np.ndarray [shape=(n_bins, n_frames)], float32
    Ws : np.ndarray [shape=(K, n_bins, n_templates)], float32
    gamma : float

    Returns
    -------
    H : np.ndarray [shape=(n_templates, n_frames)], float32
    """
    from nmftrans.core.kernels import update_activations

    V = np.ascontiguousarray(V, dtype=np.float32)
    H = initial_activations(V, Ws[0])
    for W in Ws:
        H, _ = update_activations(V, W, H, beta=1.0, n_iter=1, tol=0.0, gamma=gamma)
    return H


def reference_level_and_gradient(A: np.ndarray, percentile: float = 90.0) -> tuple[float, np.ndarray]:
    """A file's reference level (:func:`nmftrans.core.notes.reference_level`) and its gradient.

    The level is the ``percentile`` of the frames' loudest pitch (frames under 1e-3 of the loudest
    left out), interpolated linearly between two order statistics: its gradient is nonzero at the
    (at most two) entries of ``A`` that give them.

    Parameters
    ----------
    A : np.ndarray [shape=(n_pitches, n_frames)], nonnegative
    percentile : float

    Returns
    -------
    ref : float
    grad : np.ndarray [shape=(n_pitches, n_frames)]
        d ref / d A.
    """
    grad = np.zeros_like(A)
    if A.size == 0:
        return 0.0, grad
    rows = A.argmax(axis=0)
    peak = A[rows, np.arange(A.shape[1])]
    top = peak.max()
    if top <= 0:
        return 0.0, grad
    active = np.flatnonzero(peak > 1e-3 * top)
    order = active[np.argsort(peak[active], kind="stable")]
    pos = percentile / 100.0 * (len(order) - 1)
    lo = int(np.floor(pos))
    hi = min(lo + 1, len(order) - 1)
    frac = pos - lo
    j_lo, j_hi = order[lo], order[hi]
    ref = peak[j_lo] + (peak[j_hi] - peak[j_lo]) * frac
    grad[rows[j_lo], j_lo] += 1.0 - frac
    grad[rows[j_hi], j_hi] += frac
    return float(ref), grad


def normalised_roll_loss(A: np.ndarray, Y: np.ndarray, scale: float = 10.0, bias: float = 0.2,
                         pos_weight: float = 1.0, weights: np.ndarray | None = None, percentile: float = 90.0
                         ) -> tuple[float, np.ndarray]:
    """:func:`roll_loss` of ``A`` normalised by its own reference level, with the full gradient.

    The gradient includes the path through the reference level (:func:`reference_level_and_gradient`):
    raising every activation together does not lower the loss, as it does not change the
    normalised activations the tracker sees.

    Returns
    -------
    loss : float
    grad_A : np.ndarray [shape=(n_pitches, n_frames)]
        dLoss / dA (zero when the level is 0).
    """
    ref, grad_ref = reference_level_and_gradient(A, percentile)
    if ref <= 0:
        return 0.0, np.zeros_like(A)
    loss, grad = roll_loss(A, Y, ref, scale, bias, pos_weight, weights)
    d_ref = -float((grad * A).sum()) / ref  # A / ref: dL/dref = -sum(dL/dA|ref * A) / ref
    return loss, grad + d_ref * grad_ref
