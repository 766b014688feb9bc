"""A mix against its reference tracks: activations of fixed spectrogram-frame templates.

Array code only (no I/O). The model is ``V ≈ W @ H`` where the columns of ``W`` are the
spectrogram frames of every reference track, one block of columns per track (``bounds``:
track ``i`` owns templates ``bounds[i]:bounds[i + 1]``), and ``V`` is the mix. With ``W``
fixed, each column of ``H`` is an independent problem, solved by β-divergence MU.

* **Gain** of track ``i`` in mix frame ``n``: ``g_i(n) = sum_k H_i[k, n] / sum_k H[k, n]``.
* **Position**: the centre of mass of column ``n`` of ``H_i`` within ``± POSITION_RADIUS``
  templates of its peak, in templates of track ``i`` (so a column that holds two places of a
  track, at a jump or a loop's seam, gives the place of the stronger one, not the midpoint).

Multi-resolution solver (:func:`solve_multires`): level ``f`` sees frames ``f`` times as long
and ``f`` times as far apart (:func:`pool_frames`, same overlap); the coarsest level is
solved dense, then ``H`` is made sparse (per column and track only the templates near where
the track plays, :func:`sparsify`), mapped to the next finer level (:func:`upsample`) where
the zeros stay zero under MU, and solved there only on its non-zero band
(:func:`solve_sparse`). Sparse activations are stored as :class:`SparseH`.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numba
import numpy as np

from nmftrans.core.kernels import gamma_exponent, update_activations

__all__ = [
    "SolveStats",
    "SparseH",
    "default_levels",
    "dense_to_sparse",
    "gains_positions",
    "pool_frames",
    "pool_templates",
    "solve_dense",
    "solve_multires",
    "solve_single",
    "solve_sparse",
    "sparsify",
    "upsample",
]

# Templates each side of a column's peak over which the position is the centre of mass.
POSITION_RADIUS = 4
# Sparsify: keep a track in a column where its gain is at least DROP_GAIN, and there the
# templates whose activation is at least KEEP_REL of the track's peak in that column,
# widened by DILATE templates each side.
# Measured on bench_decompose's mixes (scores unchanged from 0.002 / 0.02 / 2, 2.2x fewer
# non-zeros at the finest level).
DROP_GAIN = 0.01
KEEP_REL = 0.05
DILATE = 1


@dataclass
class SparseH:
    """Activations stored as runs of consecutive templates, column by column.

    Column ``n`` holds the runs ``col_ptr[n]:col_ptr[n + 1]``; run ``s`` covers templates
    ``start[s]:start[s] + (val_ptr[s + 1] - val_ptr[s])`` with the activations
    ``values[val_ptr[s]:val_ptr[s + 1]]``. Runs of a column are sorted, disjoint and never
    cross a track boundary. Everything outside the runs is zero.

    Attributes
    ----------
    col_ptr : np.ndarray [shape=(n_frames + 1,)], int64
    start : np.ndarray [shape=(n_runs,)], int64
    val_ptr : np.ndarray [shape=(n_runs + 1,)], int64
    values : np.ndarray [shape=(nnz,)], float32
    n_comp : int
        Number of templates (rows of the dense H).
    """

    col_ptr: np.ndarray
    start: np.ndarray
    val_ptr: np.ndarray
    values: np.ndarray
    n_comp: int

    @property
    def n_frames(self) -> int:
        return len(self.col_ptr) - 1

    @property
    def nnz(self) -> int:
        return len(self.values)

    @property
    def nbytes(self) -> int:
        return self.col_ptr.nbytes + self.start.nbytes + self.val_ptr.nbytes + self.values.nbytes

    def to_dense(self) -> np.ndarray:
        """The dense ``(n_comp, n_frames)`` float32 array (for tests and small cases)."""
        H = np.zeros((self.n_comp, self.n_frames), dtype=np.float32)
        for n in range(self.n_frames):
            for s in range(self.col_ptr[n], self.col_ptr[n + 1]):
                a, b = self.val_ptr[s], self.val_ptr[s + 1]
                H[self.start[s]:self.start[s] + b - a, n] = self.values[a:b]
        return H


# ---------------------------------------------------------------------------------------
# Frames
# ---------------------------------------------------------------------------------------


def pool_frames(X: np.ndarray, factor: int, overlap: int = 4) -> np.ndarray:
    """Frames ``factor`` times as long and as far apart, by summing frames.

    With base frames of window ``overlap * hop`` centred at ``t * hop``, pooled frame ``j``
    is the sum of base frames ``j*factor - (overlap/2)(factor-1) ... j*factor +
    (overlap/2)(factor-1)``, which covers ``factor`` times the base window centred at
    ``j * factor * hop`` (the same overlap); frames beyond the ends count as zero.

    Parameters
    ----------
    X : np.ndarray [shape=(n_bins, n_frames)]
    factor : int >= 1
    overlap : int
        Base window over base hop (4 for 75 % overlap).

    Returns
    -------
    np.ndarray [shape=(n_bins, ceil(n_frames / factor))], float32, C-contiguous
    """
    X = np.asarray(X, dtype=np.float32)
    if factor == 1:
        return np.ascontiguousarray(X)
    n = X.shape[1]
    half = (overlap * (factor - 1)) // 2
    csum = np.zeros((X.shape[0], n + 1), dtype=np.float64)
    np.cumsum(X, axis=1, dtype=np.float64, out=csum[:, 1:])
    centres = np.arange(0, n, factor)
    lo = np.clip(centres - half, 0, n)
    hi = np.clip(centres + half + 1, 0, n)
    return np.ascontiguousarray((csum[:, hi] - csum[:, lo]).astype(np.float32))


def pool_templates(W: np.ndarray, bounds: np.ndarray, factor: int, overlap: int = 4) -> tuple[np.ndarray, np.ndarray]:
    """:func:`pool_frames` applied to each track's block of templates separately.

    Returns
    -------
    W_pooled : np.ndarray [shape=(n_bins, n_pooled)], float32
    bounds_pooled : np.ndarray [shape=(n_tracks + 1,)], int64
    """
    blocks = [pool_frames(W[:, bounds[i]:bounds[i + 1]], factor, overlap) for i in range(len(bounds) - 1)]
    new_bounds = np.concatenate([[0], np.cumsum([b.shape[1] for b in blocks])]).astype(np.int64)
    return np.ascontiguousarray(np.concatenate(blocks, axis=1)), new_bounds


# ---------------------------------------------------------------------------------------
# Dense and sparse solves
# ---------------------------------------------------------------------------------------


def solve_dense(V, W, *, beta: float = 0.0, n_iter: int = 200, tol: float = 1e-4) -> tuple[np.ndarray, int]:
    """All activations of ``V ≈ W H`` with ``W`` fixed (:func:`nmftrans.core.kernels.update_activations`).

    Parameters
    ----------
    V : np.ndarray [shape=(n_bins, n_frames)]
    W : np.ndarray [shape=(n_bins, n_comp)]

    Returns
    -------
    H : np.ndarray [shape=(n_comp, n_frames)], float32
    n_run : int
    """
    return update_activations(V, W, beta=beta, n_iter=n_iter, tol=tol, check_every=5)


def dense_to_sparse(H: np.ndarray, bounds: np.ndarray) -> SparseH:
    """Every template of every track as one run per track and column."""
    H = np.asarray(H, dtype=np.float32)
    K, N = H.shape
    T = len(bounds) - 1
    col_ptr = np.arange(N + 1, dtype=np.int64) * T
    start = np.tile(np.asarray(bounds[:-1], dtype=np.int64), N)
    val_ptr = np.concatenate([[0], np.cumsum(np.tile(np.diff(bounds), N))]).astype(np.int64)
    values = np.ascontiguousarray(H.T).reshape(-1)  # column by column, templates in order
    return SparseH(col_ptr, start, val_ptr, values, K)


@numba.njit(cache=True, nogil=True, parallel=True, error_model="numpy", fastmath={"reassoc", "contract"})
def _solve_columns(Vt, Wt, col_ptr, start, val_ptr, values, beta, gamma, n_iter, tol, check_every, eps, runs):  # pragma: no cover - compiled
    """MU on every column's runs until its objective stabilises (columns in parallel)."""
    N, m = Vt.shape
    for n in numba.prange(N):
        v = Vt[n]
        wh = np.empty(m, dtype=np.float32)
        r1 = np.empty(m, dtype=np.float32)
        r2 = np.empty(m, dtype=np.float32)
        s0, s1 = col_ptr[n], col_ptr[n + 1]
        if s0 == s1:
            runs[n] = 0
            continue
        prev = np.inf
        done = n_iter
        for it in range(n_iter):
            wh[:] = 0.0
            for s in range(s0, s1):
                k0 = start[s]
                for q in range(val_ptr[s + 1] - val_ptr[s]):
                    h = values[val_ptr[s] + q]
                    if h != 0.0:
                        wk = Wt[k0 + q]
                        for f in range(m):
                            wh[f] += h * wk[f]
            want = tol > 0.0 and it % check_every == 0
            obj = 0.0
            for f in range(m):
                x = max(wh[f], eps)
                y = max(v[f], eps)
                if beta == 0.0:
                    q_ = y / x
                    if want:
                        obj += q_ - math.log(q_) - 1.0
                    r2[f] = 1.0 / x
                    r1[f] = q_ * r2[f]
                elif beta == 1.0:
                    if want:
                        obj += y * math.log(y / x) - y + x
                    r2[f] = 1.0
                    r1[f] = y / x
                else:
                    if want:
                        obj += (y ** beta + (beta - 1.0) * x ** beta - beta * y * x ** (beta - 1.0)) / (beta * (beta - 1.0))
                    r2[f] = x ** (beta - 1.0)
                    r1[f] = y * x ** (beta - 2.0)
            if want:
                if it > 0 and prev - obj <= tol * abs(prev):
                    done = it
                    break
                prev = obj
            for s in range(s0, s1):
                k0 = start[s]
                for q in range(val_ptr[s + 1] - val_ptr[s]):
                    j = val_ptr[s] + q
                    h = values[j]
                    if h == 0.0:
                        continue
                    wk = Wt[k0 + q]
                    num = 0.0
                    den = 0.0
                    for f in range(m):
                        num += wk[f] * r1[f]
                        den += wk[f] * r2[f]
                    ratio = num / max(den, eps)
                    if gamma == 1.0:
                        values[j] = h * ratio
                    else:
                        values[j] = h * ratio ** gamma
        runs[n] = done


def solve_sparse(V, W, H: SparseH, *, beta: float = 0.0, n_iter: int = 200, tol: float = 1e-4,
                 check_every: int = 5, eps: float = 1e-10) -> np.ndarray:
    """MU of the non-zero runs of ``H`` (in place), column by column, with ``W`` fixed.

    Zeros of ``H`` are never touched (under MU a zero stays zero, so they need no storage
    and no work). Each column stops when its β-divergence decreased by at most ``tol``
    (relative) over ``check_every`` updates, or after ``n_iter`` updates.

    Parameters
    ----------
    V : np.ndarray [shape=(n_bins, n_frames)]
    W : np.ndarray [shape=(n_bins, n_comp)]
    H : SparseH
        ``n_frames`` columns, ``n_comp`` templates; its ``values`` are updated.

    Returns
    -------
    runs : np.ndarray [shape=(n_frames,)], int64
        Updates applied to each column.
    """
    Vt = np.ascontiguousarray(np.asarray(V, dtype=np.float32).T)
    Wt = np.ascontiguousarray(np.asarray(W, dtype=np.float32).T)
    if Vt.shape[0] != H.n_frames or Wt.shape[0] != H.n_comp or Vt.shape[1] != Wt.shape[1]:
        raise ValueError(f"shapes do not match V ≈ W @ H: V {V.shape}, W {W.shape}, H ({H.n_comp}, {H.n_frames})")
    runs = np.zeros(H.n_frames, dtype=np.int64)
    _solve_columns(Vt, Wt, H.col_ptr, H.start, H.val_ptr, H.values, float(beta), float(gamma_exponent(beta)),
                   int(n_iter), float(tol), int(check_every), np.float32(eps), runs)
    return runs


# ---------------------------------------------------------------------------------------
# Sparsify, upsample
# ---------------------------------------------------------------------------------------


@numba.njit(cache=True, nogil=True)
def _track_of(bounds, k):  # pragma: no cover - compiled
    return np.searchsorted(bounds, k, side="right") - 1


@numba.njit(cache=True, nogil=True)
def _sparsify(col_ptr, start, val_ptr, values, bounds, drop, rel, dilate):  # pragma: no cover - compiled
    N = len(col_ptr) - 1
    T = len(bounds) - 1
    cap = len(values) + 1
    o_col = np.zeros(N + 1, dtype=np.int64)
    o_lo = np.empty(cap, dtype=np.int64)
    o_hi = np.empty(cap, dtype=np.int64)
    tot = np.zeros(T, dtype=np.float64)
    mx = np.zeros(T, dtype=np.float64)
    r = 0
    for n in range(N):
        tot[:] = 0.0
        mx[:] = 0.0
        for s in range(col_ptr[n], col_ptr[n + 1]):
            t = _track_of(bounds, start[s])
            for j in range(val_ptr[s], val_ptr[s + 1]):
                tot[t] += values[j]
                mx[t] = max(mx[t], values[j])
        total = tot.sum()
        first = r
        for s in range(col_ptr[n], col_ptr[n + 1]):
            t = _track_of(bounds, start[s])
            if total <= 0.0 or tot[t] < drop * total:
                continue
            thr = rel * mx[t]
            q = val_ptr[s]
            while q < val_ptr[s + 1]:
                if values[q] >= thr and values[q] > 0.0:
                    a = q
                    while q < val_ptr[s + 1] and values[q] >= thr:
                        q += 1
                    lo = max(start[s] + (a - val_ptr[s]) - dilate, bounds[t])
                    hi = min(start[s] + (q - val_ptr[s]) + dilate, bounds[t + 1])
                    if r > first and lo <= o_hi[r - 1] and _track_of(bounds, o_lo[r - 1]) == t:
                        o_hi[r - 1] = max(o_hi[r - 1], hi)
                    else:
                        o_lo[r] = lo
                        o_hi[r] = hi
                        r += 1
                else:
                    q += 1
        o_col[n + 1] = r
    return o_col, o_lo[:r].copy(), o_hi[:r].copy()


@numba.njit(cache=True, nogil=True)
def _lookup(col_ptr, start, val_ptr, values, n, k):  # pragma: no cover - compiled
    """H[k, n] of a sparse H (0 outside its runs)."""
    for s in range(col_ptr[n], col_ptr[n + 1]):
        if start[s] <= k < start[s] + val_ptr[s + 1] - val_ptr[s]:
            return values[val_ptr[s] + k - start[s]]
    return 0.0


@numba.njit(cache=True, nogil=True)
def _supported(col_ptr, start, val_ptr, values, s_col, s_lo, s_hi, n_frames_out, bounds_in, bounds_out, scale):  # pragma: no cover - compiled
    """Runs (and initial values) at the output level from runs ``s_*`` given at the input level.

    ``scale`` = 2: output column ``n'`` takes the runs of the input columns within one input
    hop of its time (``(n' - 1) // 2 ... (n' + 2) // 2``: a place the track plays a little
    earlier or later, e.g. across a loop's seam, stays in reach), template ``j`` of a track maps to ``2j - 1 ... 2j + 1`` (clipped to the
    track); ``scale`` = 1: the same runs. Values: the input H at the nearest input template
    and column, at least ``1e-3`` of the input column's largest value (so every supported
    entry starts positive).
    """
    N_in = len(s_col) - 1
    T = len(bounds_in) - 1
    cap_runs = 4 * len(s_lo) + 1
    lo_buf = np.empty(cap_runs, dtype=np.int64)
    hi_buf = np.empty(cap_runs, dtype=np.int64)
    col_ptr_o = np.zeros(n_frames_out + 1, dtype=np.int64)
    # first pass: runs
    tmp_lo = np.empty(64, dtype=np.int64)
    tmp_hi = np.empty(64, dtype=np.int64)
    r = 0
    for n in range(n_frames_out):
        if scale == 1:
            c0 = n
            c1 = n
        else:  # the input columns within one input hop of this column's time
            c0 = max(0, (n - 1) // 2)
            c1 = min(N_in - 1, (n + 2) // 2)
        cnt = 0
        for c in range(c0, c1 + 1):
            for s in range(s_col[c], s_col[c + 1]):
                t = _track_of(bounds_in, s_lo[s])
                if scale == 1:
                    lo = s_lo[s]
                    hi = s_hi[s]
                else:
                    lo = bounds_out[t] + max(2 * (s_lo[s] - bounds_in[t]) - 1, 0)
                    hi = min(bounds_out[t] + 2 * (s_hi[s] - bounds_in[t]), bounds_out[t + 1])
                if hi <= lo:
                    continue
                if cnt == len(tmp_lo):
                    tmp_lo = np.concatenate((tmp_lo, np.empty(cnt, dtype=np.int64)))
                    tmp_hi = np.concatenate((tmp_hi, np.empty(cnt, dtype=np.int64)))
                tmp_lo[cnt] = lo
                tmp_hi[cnt] = hi
                cnt += 1
        order = np.argsort(tmp_lo[:cnt], kind="mergesort")
        first = r
        for i in order:
            lo, hi = tmp_lo[i], tmp_hi[i]
            if r > first and lo <= hi_buf[r - 1] and _track_of(bounds_out, lo) == _track_of(bounds_out, hi_buf[r - 1] - 1):
                hi_buf[r - 1] = max(hi_buf[r - 1], hi)
            else:
                if r == len(lo_buf):
                    lo_buf = np.concatenate((lo_buf, np.empty(r, dtype=np.int64)))
                    hi_buf = np.concatenate((hi_buf, np.empty(r, dtype=np.int64)))
                lo_buf[r] = lo
                hi_buf[r] = hi
                r += 1
        col_ptr_o[n + 1] = r
    start_o = lo_buf[:r].copy()
    val_ptr_o = np.zeros(r + 1, dtype=np.int64)
    for s in range(r):
        val_ptr_o[s + 1] = val_ptr_o[s] + hi_buf[s] - lo_buf[s]
    values_o = np.empty(val_ptr_o[r], dtype=np.float32)
    # second pass: values
    for n in range(n_frames_out):
        c = min(n // scale, len(col_ptr) - 2)
        cmax = 0.0
        for j in range(val_ptr[col_ptr[c]], val_ptr[col_ptr[c + 1]]):
            cmax = max(cmax, values[j])
        floor = 1e-3 * cmax if cmax > 0.0 else 1e-6
        for s in range(col_ptr_o[n], col_ptr_o[n + 1]):
            t = _track_of(bounds_out, start_o[s])
            for k in range(start_o[s], start_o[s] + val_ptr_o[s + 1] - val_ptr_o[s]):
                if scale == 1:
                    k_in = k
                else:
                    k_in = bounds_in[t] + min((k - bounds_out[t] + 1) // 2, bounds_in[t + 1] - bounds_in[t] - 1)
                v = _lookup(col_ptr, start, val_ptr, values, c, k_in)
                values_o[val_ptr_o[s] + k - start_o[s]] = max(v, floor)
    return col_ptr_o, start_o, val_ptr_o, values_o


def sparsify(H: SparseH, bounds: np.ndarray, *, drop: float = DROP_GAIN, rel: float = KEEP_REL,
             dilate: int = DILATE) -> SparseH:
    """Zero the activations far from where each track plays.

    In each column, a track whose gain is below ``drop`` is removed; of the others, the
    templates whose activation is at least ``rel`` times the track's largest in that column
    are kept, widened by ``dilate`` templates each side (within the track). Kept entries
    keep their value (entries brought in by the widening that were zero start at ``1e-3``
    of the column's largest value, so MU can move them).

    Returns
    -------
    SparseH
        Same shape, fewer non-zeros.
    """
    bounds = np.asarray(bounds, dtype=np.int64)
    s_col, s_lo, s_hi = _sparsify(H.col_ptr, H.start, H.val_ptr, H.values, bounds, float(drop), float(rel), int(dilate))
    out = _supported(H.col_ptr, H.start, H.val_ptr, H.values, s_col, s_lo, s_hi, H.n_frames, bounds, bounds, 1)
    return SparseH(*out, H.n_comp)


def upsample(H: SparseH, bounds: np.ndarray, bounds_fine: np.ndarray, n_frames_fine: int) -> SparseH:
    """Initial activations at the next finer level (half the window and hop) from ``H``.

    Fine column ``n`` is supported where the coarse columns within one coarse hop of its time
    (``(n - 1) // 2 ... (n + 2) // 2``) are;
    coarse template ``j`` of a track covers fine templates ``2j - 1 ... 2j + 1``. Values
    come from the nearest coarse entry (at least ``1e-3`` of the coarse column's largest);
    everything else is zero and stays zero under MU.

    Parameters
    ----------
    H : SparseH
        Coarse activations, templates split by ``bounds``.
    bounds, bounds_fine : np.ndarray [shape=(n_tracks + 1,)]
        Track boundaries at the coarse and the fine level (:func:`pool_templates`).
    n_frames_fine : int

    Returns
    -------
    SparseH
    """
    bounds = np.asarray(bounds, dtype=np.int64)
    bounds_fine = np.asarray(bounds_fine, dtype=np.int64)
    s_lo = H.start.copy()
    s_hi = H.start + np.diff(H.val_ptr)
    out = _supported(H.col_ptr, H.start, H.val_ptr, H.values, H.col_ptr, s_lo, s_hi, int(n_frames_fine), bounds,
                     bounds_fine, 2)
    return SparseH(*out, int(bounds_fine[-1]))


# ---------------------------------------------------------------------------------------
# Gains and positions
# ---------------------------------------------------------------------------------------


@numba.njit(cache=True, nogil=True)
def _gains_positions(col_ptr, start, val_ptr, values, bounds, radius):  # pragma: no cover - compiled
    N = len(col_ptr) - 1
    T = len(bounds) - 1
    gains = np.zeros((T, N), dtype=np.float64)
    pos = np.full((T, N), np.nan, dtype=np.float64)
    peak = np.zeros(T, dtype=np.float64)
    arg = np.zeros(T, dtype=np.int64)
    for n in range(N):
        peak[:] = -1.0
        total = 0.0
        for s in range(col_ptr[n], col_ptr[n + 1]):
            t = _track_of(bounds, start[s])
            for q in range(val_ptr[s + 1] - val_ptr[s]):
                v = values[val_ptr[s] + q]
                gains[t, n] += v
                total += v
                if v > peak[t]:
                    peak[t] = v
                    arg[t] = start[s] + q
        if total <= 0.0:
            continue
        for t in range(T):
            gains[t, n] /= total
        # centre of mass near the peak
        for t in range(T):
            if peak[t] <= 0.0:
                continue
            a = arg[t] - radius
            b = arg[t] + radius
            m0 = 0.0
            m1 = 0.0
            for s in range(col_ptr[n], col_ptr[n + 1]):
                for q in range(val_ptr[s + 1] - val_ptr[s]):
                    k = start[s] + q
                    if a <= k <= b and bounds[t] <= k < bounds[t + 1]:
                        v = values[val_ptr[s] + q]
                        m0 += v
                        m1 += v * (k - bounds[t])
            if m0 > 0.0:
                pos[t, n] = m1 / m0
    return gains, pos


def gains_positions(H: SparseH, bounds: np.ndarray, radius: int = POSITION_RADIUS) -> tuple[np.ndarray, np.ndarray]:
    """Each track's gain share and position in every column of ``H``.

    Parameters
    ----------
    H : SparseH
    bounds : np.ndarray [shape=(n_tracks + 1,)]
    radius : int
        Templates each side of the track's peak over which the centre of mass is taken.

    Returns
    -------
    gains : np.ndarray [shape=(n_tracks, n_frames)], float64
        ``sum_k H_i[k, n] / sum_k H[k, n]`` (0 for an all-zero column).
    positions : np.ndarray [shape=(n_tracks, n_frames)], float64
        Centre of mass in templates of the track (NaN where the track has no activation).
    """
    return _gains_positions(H.col_ptr, H.start, H.val_ptr, H.values, np.asarray(bounds, dtype=np.int64), int(radius))


# ---------------------------------------------------------------------------------------
# The solvers
# ---------------------------------------------------------------------------------------


@dataclass
class SolveStats:
    """What a solve cost: per level ``(factor, n_frames, n_templates, nnz, mean updates, cpu s)``."""

    levels: list


def solve_single(V, W, bounds, *, beta: float = 0.0, n_iter: int = 200, tol: float = 1e-4,
                 block_bytes: int = 64 << 20, progress=None) -> tuple[np.ndarray, np.ndarray, SolveStats]:
    """Single-resolution solve: dense ``H`` on all templates, column block by column block.

    Memory is bounded by ``block_bytes`` of ``H`` at a time (columns are independent).

    Parameters
    ----------
    V : np.ndarray [shape=(n_bins, n_frames)]
    W : np.ndarray [shape=(n_bins, n_comp)]
    bounds : np.ndarray [shape=(n_tracks + 1,)]
    progress : callable(done_frames, total_frames), optional

    Returns
    -------
    gains, positions : np.ndarray [shape=(n_tracks, n_frames)]
        As :func:`gains_positions` (positions in templates).
    stats : SolveStats
    """
    V = np.asarray(V, dtype=np.float32)
    W = np.ascontiguousarray(W, dtype=np.float32)
    K, N = W.shape[1], V.shape[1]
    width = max(16, block_bytes // (4 * K))
    cpu = time.process_time()
    gains, pos, updates = [], [], 0
    for a in range(0, N, width):
        b = min(N, a + width)
        H, n_run = solve_dense(np.ascontiguousarray(V[:, a:b]), W, beta=beta, n_iter=n_iter, tol=tol)
        g, p = gains_positions(dense_to_sparse(H, bounds), bounds)
        gains.append(g)
        pos.append(p)
        updates += n_run * (b - a)
        if progress is not None:
            progress(b, N)
    stats = SolveStats([(1, N, K, K * N, round(updates / max(N, 1), 1), round(time.process_time() - cpu, 2))])
    return np.concatenate(gains, axis=1), np.concatenate(pos, axis=1), stats


def default_levels(n_frames: int, n_comp: int, dense_budget: int = 1 << 17) -> int:
    """Levels for :func:`solve_multires`: enough that the coarsest dense ``H`` has at most
    ``dense_budget`` entries (each level divides it by 4), at most 8 (factor 128).

    Measured on a 6-minute mix against 10 tracks of 5 minutes (2881 x 24010 at the base
    level): 5 levels 6.9 s CPU, 6 levels 6.9 s, 7 levels (this rule) 4.7 s, same scores.
    """
    levels = 1
    while levels < 8 and n_frames * n_comp / 4 ** (levels - 1) > dense_budget:
        levels += 1
    return levels


def solve_multires(V, W, bounds, *, levels: int, beta: float = 0.0, n_iter: int = 200, tol: float = 1e-4,
                   coarse_iter: int | None = None, drop: float = DROP_GAIN, rel: float = KEEP_REL,
                   dilate: int = DILATE, overlap: int = 4, progress=None) -> tuple[np.ndarray, np.ndarray, SolveStats]:
    """Multi-resolution solve: coarse dense, then sparse bands at each finer level.

    Level factors ``2^(levels-1), ..., 2, 1``. The coarsest level pools ``V`` and every
    track's templates (:func:`pool_frames`) and is solved dense; after each level ``H`` is
    sparsified (:func:`sparsify`) and upsampled (:func:`upsample`) to start the next; the
    finer levels update only the non-zero runs (:func:`solve_sparse`). ``levels = 1`` is
    :func:`solve_single`.

    Parameters
    ----------
    V : np.ndarray [shape=(n_bins, n_frames)]
        Mix at the base level (window = ``overlap`` hops).
    W : np.ndarray [shape=(n_bins, n_comp)]
        Reference frames at the base level, split by ``bounds``.
    bounds : np.ndarray [shape=(n_tracks + 1,)]
    levels : int >= 1
    n_iter, tol : int, float
        Most updates and stopping tolerance (:func:`solve_sparse`) at every level.
    coarse_iter : int, optional
        Most updates at the sparse levels above the base one (they only need to find where
        each track plays); default ``n_iter``. The coarsest (dense) level always gets
        ``n_iter``: a sparser solution there keeps the next levels' bands narrow.
    drop, rel, dilate : float, float, int
        :func:`sparsify`'s settings.
    progress : callable(level_done, levels), optional

    Returns
    -------
    gains, positions : np.ndarray [shape=(n_tracks, n_frames)]
        At the base level (positions in base templates).
    stats : SolveStats
    """
    if levels <= 1:
        return solve_single(V, W, bounds, beta=beta, n_iter=n_iter, tol=tol)
    V = np.asarray(V, dtype=np.float32)
    W = np.ascontiguousarray(W, dtype=np.float32)
    bounds = np.asarray(bounds, dtype=np.int64)
    stats = SolveStats([])
    H = None
    prev_bounds = None
    for level in range(levels - 1, -1, -1):
        cpu = time.process_time()
        f = 2 ** level
        Vf = pool_frames(V, f, overlap)
        Wf, bf = pool_templates(W, bounds, f, overlap)
        iters = n_iter if level == 0 or H is None or coarse_iter is None else coarse_iter
        if H is None:
            Hd, n_run = solve_dense(Vf, Wf, beta=beta, n_iter=iters, tol=tol)
            H = dense_to_sparse(Hd, bf)
            del Hd
            mean_run = float(n_run)
        else:
            H = upsample(sparsify(H, prev_bounds, drop=drop, rel=rel, dilate=dilate), prev_bounds, bf, Vf.shape[1])
            runs = solve_sparse(Vf, Wf, H, beta=beta, n_iter=iters, tol=tol)
            mean_run = float(runs.mean()) if len(runs) else 0.0
        stats.levels.append((f, Vf.shape[1], Wf.shape[1], H.nnz, round(mean_run, 1),
                             round(time.process_time() - cpu, 2)))
        prev_bounds = bf
        if progress is not None:
            progress(levels - level, levels)
    gains, pos = gains_positions(H, bounds)
    return gains, pos, stats
