"""Max-pooling of activation columns: a long file's activations reduced to a picture's width."""

from __future__ import annotations

import numpy as np

# The widest picture is 14 in at 110 dpi (1540 px): more activation columns than this only cost memory.
PICTURE_COLUMNS = 2048


def max_pool_columns(A: np.ndarray, limit: int) -> np.ndarray:
    """``A`` with at most ``limit`` columns, each the maximum over a run of ``ceil(n / limit)``
    columns (the last run may be shorter), so that short notes stay visible.

    Parameters
    ----------
    A : np.ndarray [shape=(n_rows, n)]
    limit : int
        At least 1.

    Returns
    -------
    pooled : np.ndarray [shape=(n_rows, min(n, ceil(n / ceil(n / limit))))], float32
        ``A`` itself (as float32) when ``n <= limit``.
    """
    A = np.asarray(A, dtype=np.float32)
    n = A.shape[1]
    if n <= limit:
        return A
    step = -(-n // limit)
    full = (n // step) * step
    out = np.empty((A.shape[0], -(-n // step)), dtype=np.float32)
    # no padded copy of A: the full runs through a reshaped view, the short last run apart
    np.max(A[:, :full].reshape(A.shape[0], -1, step), axis=2, out=out[:, :full // step])
    if full < n:
        np.max(A[:, full:], axis=1, out=out[:, -1])
    return out
