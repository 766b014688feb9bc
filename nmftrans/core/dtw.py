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

    C = unit(X).T @ unit(Y)
    np.subtract(np.float32(1.0), C, out=C)
    np.clip(C, 0.0, 1.0, out=C)
    return np.ascontiguousarray(C, dtype=np.float32)


@numba.njit(cache=True, nogil=True)
def _accumulate(C, diagonal_weight):  # pragma: no cover - compiled
    """Accumulated cost with steps (1, 1), (1, 0), (0, 1); returns the step taken into each
    cell (0 diagonal, 1 from above, 2 from the left), and the last row's accumulated costs and
    path lengths (cells)."""
    n, m = C.shape
    D = np.empty(m, dtype=np.float64)  # one row of the accumulated cost at a time
    L = np.empty(m, dtype=np.int64)  # and of the path lengths
    step = np.empty((n, m), dtype=np.int8)
    D[0] = C[0, 0]
    L[0] = 1
    step[0, 0] = 0
    for j in range(1, m):
        D[j] = D[j - 1] + C[0, j]
        L[j] = j + 1
        step[0, j] = 2
    for i in range(1, n):
        diag = D[0]
        diag_len = L[0]
        D[0] = D[0] + C[i, 0]
        L[0] += 1
        step[i, 0] = 1
        for j in range(1, m):
            up = D[j]
            up_len = L[j]
            best = diag + diagonal_weight * C[i, j]
            length = diag_len + 1
            s = 0
            if up + C[i, j] < best:
                best = up + C[i, j]
                length = up_len + 1
                s = 1
            if D[j - 1] + C[i, j] < best:
                best = D[j - 1] + C[i, j]
                length = L[j - 1] + 1
                s = 2
            diag = up
            diag_len = up_len
            D[j] = best
            L[j] = length
            step[i, j] = s
    return step, D, L


@numba.njit(cache=True, nogil=True)
def _backtrack(step, j_end):  # pragma: no cover - compiled
    n, m = step.shape
    path = np.empty((n + m, 2), dtype=np.int64)
    i, j, k = n - 1, j_end, 0
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


def dtw_path(C: np.ndarray, diagonal_weight: float = 1.0, end_from: int | None = None) -> np.ndarray:
    """The cheapest monotone path from ``(0, 0)`` to ``(n-1, m-1)`` through a cost matrix.

    Steps (1, 1), (1, 0) and (0, 1); the diagonal step's cost is multiplied by
    ``diagonal_weight`` (1: the classic DTW, which favours diagonal moves; 2: no preference).
    ``end_from``: the path may end at any ``(n-1, j)`` with ``j >= end_from``
    (the lowest cost once the ``y`` frames left over are charged at the path's mean cost per
    cell; ``y`` may go on after ``x`` ends, e.g. a recording cut before the score's end).

    Parameters
    ----------
    C : np.ndarray [shape=(n, m)], nonnegative
    diagonal_weight : float
    end_from : int, optional

    Returns
    -------
    path : np.ndarray [shape=(n_steps, 2)], int64
        Pairs ``(i, j)`` in increasing order, first ``(0, 0)``, last ``(n-1, m-1)`` (or
        ``(n-1, j)``, ``j >= end_from``).
    """
    C = np.ascontiguousarray(C, dtype=np.float32)
    if C.ndim != 2 or C.size == 0:
        raise ValueError(f"C must be a non-empty 2-D array, got shape {C.shape}")
    m = C.shape[1]
    lo = m - 1 if end_from is None else int(np.clip(end_from, 0, m - 1))
    step, last, length = _accumulate(C, float(diagonal_weight))
    mean = last[lo:] / length[lo:]
    return _backtrack(step, lo + int(np.argmin(last[lo:] + mean * (m - 1 - np.arange(lo, m)))))


def time_map(path: np.ndarray, x_times: np.ndarray, y_times: np.ndarray, smooth: int = 0):
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
    smooth : int
        Half-width (frames) of a moving average over the mapped times (0: none): the path
        wobbles around a smooth tempo curve where the features are ambiguous.

    Returns
    -------
    warp : callable
        ``warp(t)`` for an array ``t`` of ``y`` times gives their ``x`` times (same shape).
    """
    m = len(y_times)
    sums = np.bincount(path[:, 1], weights=np.asarray(x_times, dtype=np.float64)[path[:, 0]], minlength=m)
    counts = np.bincount(path[:, 1], minlength=m)
    y_times = np.asarray(y_times, dtype=np.float64)
    hit = counts > 0  # frames a (1, 2) step jumped over are interpolated
    mapped = np.interp(y_times, y_times[hit], sums[hit] / counts[hit])
    last = np.flatnonzero(hit)[-1]  # an open end: the frames after it go on at the same pace
    mapped[last:] = mapped[last] + (y_times[last:] - y_times[last])
    if smooth > 0 and m > 1:
        padded = np.concatenate([np.full(smooth, mapped[0]), mapped, np.full(smooth, mapped[-1])])
        kernel = np.ones(2 * smooth + 1) / (2 * smooth + 1)
        mapped = np.convolve(padded, kernel, mode="valid")
    mapped = np.maximum.accumulate(mapped)

    def warp(t):
        t = np.asarray(t, dtype=np.float64)
        out = np.interp(t, y_times, mapped)
        out = np.where(t < y_times[0], mapped[0] + (t - y_times[0]), out)
        return np.where(t > y_times[-1], mapped[-1] + (t - y_times[-1]), out)

    return warp
