"""Dynamic time warping between two feature sequences, and the time map it gives.

Pure array code (Numba for the accumulation): no I/O, no audio or score knowledge.
"""

from __future__ import annotations

import numba
import numpy as np


def cosine_cost(X: np.ndarray, Y: np.ndarray, floor: float = 0.1) -> np.ndarray:
    """Cosine distance between every column of ``X`` and every column of ``Y``.

    A constant ``floor`` is appended to every column first, so two silent (all-zero) columns
    are close (distance 0) and a silent column is far from a loud one.

    Parameters
    ----------
    X : np.ndarray [shape=(n_features, n)], nonnegative
    Y : np.ndarray [shape=(n_features, m)], nonnegative
    floor : float > 0

    Returns
    -------
    C : np.ndarray [shape=(n, m)], float32, in [0, 1]
    """
    def unit(Z: np.ndarray) -> np.ndarray:
        Z = np.vstack([np.asarray(Z, dtype=np.float32), np.full((1, Z.shape[1]), floor, dtype=np.float32)])
        return Z / np.linalg.norm(Z, axis=0, keepdims=True)

    C = 1.0 - unit(X).T @ unit(Y)
    np.clip(C, 0.0, 1.0, out=C)
    return np.ascontiguousarray(C, dtype=np.float32)


@numba.njit(cache=True, nogil=True)
def _accumulate(C, diagonal_weight):  # pragma: no cover - compiled
    """Accumulated cost with steps (1, 1), (1, 0), (0, 1); returns the step taken into each
    cell (0 diagonal, 1 from above, 2 from the left) and the total cost."""
    n, m = C.shape
    D = np.empty(m, dtype=np.float64)  # one row of the accumulated cost at a time
    step = np.empty((n, m), dtype=np.int8)
    D[0] = C[0, 0]
    step[0, 0] = 0
    for j in range(1, m):
        D[j] = D[j - 1] + C[0, j]
        step[0, j] = 2
    for i in range(1, n):
        diag = D[0]
        D[0] = D[0] + C[i, 0]
        step[i, 0] = 1
        for j in range(1, m):
            up = D[j]
            best = diag + diagonal_weight * C[i, j]
            s = 0
            if up + C[i, j] < best:
                best = up + C[i, j]
                s = 1
            if D[j - 1] + C[i, j] < best:
                best = D[j - 1] + C[i, j]
                s = 2
            diag = up
            D[j] = best
            step[i, j] = s
    return step, D[m - 1]


@numba.njit(cache=True, nogil=True)
def _backtrack(step):  # pragma: no cover - compiled
    n, m = step.shape
    path = np.empty((n + m, 2), dtype=np.int64)
    i, j, k = n - 1, m - 1, 0
    while True:
        path[k, 0] = i
        path[k, 1] = j
        k += 1
        if i == 0 and j == 0:
            break
        s = step[i, j]
        if s == 0:
            i -= 1
            j -= 1
        elif s == 1:
            i -= 1
        else:
            j -= 1
    return path[:k][::-1].copy()


def dtw_path(C: np.ndarray, diagonal_weight: float = 1.0) -> np.ndarray:
    """The cheapest monotone path from ``(0, 0)`` to ``(n-1, m-1)`` through a cost matrix.

    Steps (1, 1), (1, 0) and (0, 1); the diagonal step's cost is multiplied by
    ``diagonal_weight`` (1: the classic DTW, which favours diagonal moves; 2: no preference).

    Parameters
    ----------
    C : np.ndarray [shape=(n, m)], nonnegative
    diagonal_weight : float

    Returns
    -------
    path : np.ndarray [shape=(n_steps, 2)], int64
        Pairs ``(i, j)`` in increasing order, first ``(0, 0)``, last ``(n-1, m-1)``.
    """
    C = np.ascontiguousarray(C, dtype=np.float32)
    if C.ndim != 2 or C.size == 0:
        raise ValueError(f"C must be a non-empty 2-D array, got shape {C.shape}")
    step, _ = _accumulate(C, float(diagonal_weight))
    return _backtrack(step)


def time_map(path: np.ndarray, x_times: np.ndarray, y_times: np.ndarray):
    """The warping path as a monotone function from ``y`` time to ``x`` time.

    Each ``y`` frame maps to the mean time of the ``x`` frames the path pairs it with; times
    between frame centres are interpolated linearly, times outside are shifted by the end
    points' offsets.

    Parameters
    ----------
    path : np.ndarray [shape=(n_steps, 2)]
        From :func:`dtw_path`: ``(x frame, y frame)`` pairs.
    x_times : np.ndarray [shape=(n,)]
        Time of each ``x`` frame.
    y_times : np.ndarray [shape=(m,)]
        Time of each ``y`` frame (increasing).

    Returns
    -------
    warp : callable
        ``warp(t)`` for an array ``t`` of ``y`` times gives their ``x`` times (same shape).
    """
    m = len(y_times)
    sums = np.bincount(path[:, 1], weights=np.asarray(x_times, dtype=np.float64)[path[:, 0]], minlength=m)
    counts = np.bincount(path[:, 1], minlength=m)
    mapped = np.maximum.accumulate(sums / np.maximum(counts, 1))
    y_times = np.asarray(y_times, dtype=np.float64)

    def warp(t):
        t = np.asarray(t, dtype=np.float64)
        out = np.interp(t, y_times, mapped)
        out = np.where(t < y_times[0], mapped[0] + (t - y_times[0]), out)
        return np.where(t > y_times[-1], mapped[-1] + (t - y_times[-1]), out)

    return warp
