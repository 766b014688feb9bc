"""β-divergence multiplicative updates (MU) for NMF, compiled with Numba.

Pure numerical kernels: arrays in, arrays out; no I/O, no printing, no audio knowledge.

The model is ``V ≈ W @ H`` with

* ``V : np.ndarray [shape=(n_bins, n_frames)]``, nonnegative,
* ``W : np.ndarray [shape=(n_bins, n_comp)]``, nonnegative dictionary,
* ``H : np.ndarray [shape=(n_comp, n_frames)]``, nonnegative activations,

and the objective is the elementwise β-divergence ``D_β(V | W H)`` (plus ``l1 * sum(H)``
for :func:`update_activations`).  The updates are the heuristic-free MU of Févotte & Idier
(2011), "Algorithms for nonnegative matrix factorization with the β-divergence", with the
exponent :func:`gamma_exponent` that makes the objective non-increasing for every β; for
β < 1 their third matrix product is by default recomputed every ``DEN_EVERY`` updates and
rescaled per column in between (``den_every`` in :func:`update_activations`).

All computation is float32 (C-contiguous); divergences are accumulated in float64.
Private ``_name`` functions trust their inputs: ``numba.njit(cache=True)`` kernels for all
elementwise work (fused single passes), small Python drivers that call NumPy's ``matmul``
for the GEMMs. The public wrappers validate, convert and allocate.
"""

from __future__ import annotations

import math

import numba
import numpy as np
from llvmlite import ir
from numba import types
from numba.extending import intrinsic

__all__ = [
    "beta_divergence",
    "conv_divergence",
    "dictionary_update_terms",
    "gamma_exponent",
    "shifted_activations",
    "stack_patches",
    "update_activations",
    "update_activations_conv",
    "update_dictionary",
]

# Elementwise work is memory bound and small next to the GEMMs of an iteration; on the
# 2-core target Numba's threads competing with OpenBLAS's (spinning) threads made the whole
# iteration slower, so the elementwise kernels are serial and BLAS owns the cores.
_PARALLEL = False

# Kernel "modes": special-cased β values get sqrt/reciprocal arithmetic instead of pow.
_EUC = 0  # beta == 2
_KL = 1  # beta == 1
_HALF = 2  # beta == 0.5
_IS = 3  # beta == 0
_THREE_HALF = 4  # beta == 1.5
_GENERAL = 5  # any other finite beta


# Default lag of the β < 1 denominator (update_activations' ``den_every``).
DEN_EVERY = 6


def _mode(beta: float) -> int:
    return {2.0: _EUC, 1.0: _KL, 0.5: _HALF, 0.0: _IS, 1.5: _THREE_HALF}.get(beta, _GENERAL)


# ---------------------------------------------------------------------------------------
# Compiled kernels
# ---------------------------------------------------------------------------------------


def _bitcast(src, dst, llvm_type, doc: str):
    """An intrinsic that reinterprets the bits of a ``src`` scalar as ``dst`` (an LLVM bitcast;
    vectorisable, unlike frexp)."""

    @intrinsic
    def cast(typingctx, x):
        if x != src:
            return None

        def codegen(context, builder, sig, args):
            return builder.bitcast(args[0], llvm_type)

        return dst(src), codegen

    cast.__doc__ = doc
    return cast


_f64_to_bits = _bitcast(types.float64, types.int64, ir.IntType(64), "Reinterpret a float64 as int64.")
_bits_to_f64 = _bitcast(types.int64, types.float64, ir.DoubleType(), "Reinterpret an int64 as float64.")
_f32_to_bits = _bitcast(types.float32, types.int32, ir.IntType(32), "Reinterpret a float32 as int32.")
_bits_to_f32 = _bitcast(types.int32, types.float32, ir.FloatType(), "Reinterpret an int32 as float32.")


# fdlibm's log(1 + f) polynomial, |error| < 1 ulp on normal positive float64.
_LN2 = 0.6931471805599453
_LG1 = 6.666666666666735130e-01
_LG2 = 3.999999999940941908e-01
_LG3 = 2.857142874366239149e-01
_LG4 = 2.222219843214978396e-01
_LG5 = 1.818357216161805012e-01
_LG6 = 1.531383769920937332e-01
_LG7 = 1.479819860511658591e-01


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _log(x):  # pragma: no cover - compiled
    """Natural log of a positive normal float64, branch-free so that loops vectorise.

    libm's log is a scalar call (Numba has no vector math library here), which made the
    objective evaluation cost as much as a GEMM. Returns a finite value (about -709) at 0.
    """
    bits = _f64_to_bits(x)
    e = ((bits >> 52) & 0x7FF) - 1023
    m = _bits_to_f64((bits & 0x000FFFFFFFFFFFFF) | 0x3FF0000000000000)  # in [1, 2)
    big = m > 1.4142135623730951
    m = m * 0.5 if big else m
    k = np.float64(np.int32(e)) + (1.0 if big else 0.0)
    f = m - 1.0
    s = f / (2.0 + f)
    z = s * s
    w = z * z
    t1 = w * (_LG2 + w * (_LG4 + w * _LG6))
    t2 = z * (_LG1 + w * (_LG3 + w * (_LG5 + w * _LG7)))
    hfsq = 0.5 * f * f
    return k * _LN2 + (f - hfsq + s * (hfsq + t2 + t1))


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _pow_two_thirds(q):  # pragma: no cover - compiled
    """q ** (2/3) for float32 q, branch-free (vectorisable), relative error < 1e-6.

    Cube root by a bit-trick first guess and two Halley steps, then squared; powf is a
    scalar libm call ~20x slower, and γ(0.5) = 2/3 is applied to every activation per
    iteration. q below the smallest normal float32 gives 0; q is clamped at 1e37.
    """
    two = np.float32(2.0)
    q = min(q, np.float32(1e37))
    y = _bits_to_f32(np.int32(_f32_to_bits(q) // 3 + 709921077))
    y3 = y * y * y
    y = y * ((y3 + two * q) / (two * y3 + q))
    y3 = y * y * y
    y = y * ((y3 + two * q) / (two * y3 + q))
    return y * y if q >= np.float32(1.1754944e-38) else np.float32(0.0)


@numba.njit(cache=True, nogil=True, error_model="numpy", fastmath={"reassoc"})
def _row_divergence(x_row, y_row, beta, mode, eps):  # pragma: no cover - compiled
    """Sum over one row of d_β(x | max(y, eps)), float64. For β <= 0, x is floored at eps.

    ``reassoc`` lets the float64 sum vectorise (summation order is not sequential).
    """
    s = 0.0
    n = x_row.shape[0]
    e = np.float64(eps)
    if mode == _EUC:
        for j in range(n):
            d = np.float64(x_row[j]) - max(np.float64(y_row[j]), e)
            s += 0.5 * d * d
    elif mode == _KL:
        for j in range(n):
            x = np.float64(x_row[j])
            y = max(np.float64(y_row[j]), e)
            s += x * _log(x / y) - x + y  # x = 0: _log is finite, the term is y
    elif mode == _IS:
        for j in range(n):
            x = max(np.float64(x_row[j]), e)
            y = max(np.float64(y_row[j]), e)
            r = x / y
            s += r - _log(r) - 1.0
    elif mode == _HALF:
        # d_{1/2}(x | y) = 2 (sqrt(x) - sqrt(y))^2 / sqrt(y): no cancellation.
        for j in range(n):
            x = np.float64(x_row[j])
            sy = math.sqrt(max(np.float64(y_row[j]), e))
            d = math.sqrt(x) - sy
            s += 2.0 * d * d / sy
    elif mode == _THREE_HALF:
        # (x^1.5 + 0.5 y^1.5 - 1.5 x y^0.5) / 0.75
        for j in range(n):
            x = np.float64(x_row[j])
            y = max(np.float64(y_row[j]), e)
            sy = math.sqrt(y)
            s += (x * math.sqrt(x) + 0.5 * y * sy - 1.5 * x * sy) / 0.75
    else:
        b = np.float64(beta)
        c = 1.0 / (b * (b - 1.0))
        for j in range(n):
            x = np.float64(x_row[j])
            if b <= 0.0:
                x = max(x, e)
            y = max(np.float64(y_row[j]), e)
            s += c * (x**b + (b - 1.0) * y**b - b * x * y ** (b - 1.0))
    return s


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _beta_divergence(V, V_hat, beta, mode, eps):  # pragma: no cover - compiled
    total = 0.0
    for i in range(V.shape[0]):
        total += _row_divergence(V[i], V_hat[i], beta, mode, eps)
    return total


@numba.njit(cache=True, nogil=True, error_model="numpy", parallel=_PARALLEL)
def _kl_ratio(V, WH, eps, want_obj):  # pragma: no cover - compiled
    """WH <- V / max(WH, eps) in place; returns D_KL(V | WH) (float64) if want_obj else 0."""
    n_rows, n_cols = V.shape
    acc = np.zeros(n_rows, dtype=np.float64)
    for i in numba.prange(n_rows):
        v = V[i]
        r = WH[i]
        if want_obj:
            acc[i] = _row_divergence(v, r, 1.0, _KL, eps)
        for j in range(n_cols):
            r[j] = v[j] / max(r[j], eps)
    return acc.sum()


@numba.njit(cache=True, nogil=True, error_model="numpy", fastmath={"arcp", "afn"})
def _half_ratio_row(v, r, b, eps, want_b):  # pragma: no cover - compiled
    """β = 1/2 row of :func:`_beta_ratio`: s = max(r, eps)^(-1/2); r <- v s^3, b <- s.

    ``arcp``/``afn`` let LLVM compute 1/sqrt as a hardware reciprocal-sqrt estimate plus a
    Newton step (rsqrt14 on AVX-512, rsqrt on AVX): about 2x faster than sqrt and a
    division, within a few float32 ulp (measured 5e-7 relative on r).
    """
    one = np.float32(1.0)
    if want_b:
        for j in range(r.shape[0]):
            s = one / math.sqrt(max(r[j], eps))
            r[j] = v[j] * (s * s * s)
            b[j] = s
    else:
        for j in range(r.shape[0]):
            s = one / math.sqrt(max(r[j], eps))
            r[j] = v[j] * (s * s * s)


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _beta_ratio(V, WH, B, beta, mode, eps, want_obj, want_b):  # pragma: no cover - compiled
    """With Y = max(WH, eps) and S = Y**(beta-1): WH <- V * S / Y in place, and B <- S if
    want_b.

    Returns D_β(V | WH) (float64) if want_obj else 0.
    """
    n_rows, n_cols = V.shape
    acc = np.zeros(n_rows, dtype=np.float64)
    bm1 = np.float32(beta - 1.0)
    one = np.float32(1.0)
    for i in range(n_rows):
        v = V[i]
        r = WH[i]
        b = B[i]
        if want_obj:
            acc[i] = _row_divergence(v, r, beta, mode, eps)
        if mode == _HALF:
            _half_ratio_row(v, r, b, eps, want_b)
        elif mode == _IS:
            if want_b:
                for j in range(n_cols):
                    q = one / max(r[j], eps)
                    r[j] = v[j] * q * q
                    b[j] = q
            else:
                for j in range(n_cols):
                    y = max(r[j], eps)
                    r[j] = v[j] / (y * y)
        elif mode == _THREE_HALF:
            if want_b:
                for j in range(n_cols):
                    p = math.sqrt(max(r[j], eps))
                    r[j] = v[j] / p
                    b[j] = p
            else:
                for j in range(n_cols):
                    r[j] = v[j] / math.sqrt(max(r[j], eps))
        elif want_b:
            for j in range(n_cols):
                y = max(r[j], eps)
                p = y**bm1
                r[j] = v[j] * p / y
                b[j] = p
        else:
            for j in range(n_cols):
                y = max(r[j], eps)
                r[j] = v[j] * y**bm1 / y
    return acc.sum()


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _rescale_columns(den, level, prev, expo, floor):  # pragma: no cover - compiled
    """den[:, j] *= (max(level[j], floor) / max(prev[j], floor)) ** expo; then prev <- level."""
    for j in range(level.shape[0]):
        now = max(level[j], floor)
        prev[j] = (now / max(prev[j], floor)) ** expo
    for k in range(den.shape[0]):
        d = den[k]
        for j in range(d.shape[0]):
            d[j] *= prev[j]
    prev[:] = level


@numba.njit(cache=True, nogil=True, error_model="numpy", parallel=_PARALLEL)
def _scale_rows(X, num, inv_den, gamma):  # pragma: no cover - compiled
    """X[k] *= (num[k] * inv_den[k]) ** gamma (the step with a per-row constant denominator);
    γ = 1, 1.5, 1.75 and 2 without pow. One kernel for every γ: each cached kernel costs a
    short run a few milliseconds to load."""
    for k in numba.prange(X.shape[0]):
        x = X[k]
        nk = num[k]
        c = inv_den[k]
        if gamma == 1.0:
            for j in range(X.shape[1]):
                x[j] *= nk[j] * c
        elif gamma == 1.5:
            for j in range(X.shape[1]):
                t = nk[j] * c
                x[j] *= t * math.sqrt(t)
        elif gamma == 1.75:
            for j in range(X.shape[1]):
                t = nk[j] * c
                r = math.sqrt(t)
                x[j] *= t * r * math.sqrt(r)
        elif gamma == 2.0:
            for j in range(X.shape[1]):
                t = nk[j] * c
                x[j] *= t * t
        else:
            for j in range(X.shape[1]):
                x[j] *= (nk[j] * c) ** gamma


@numba.njit(cache=True, nogil=True, error_model="numpy", parallel=_PARALLEL)
def _mu_step(X, num, den, l1, gamma, mode, eps):  # pragma: no cover - compiled
    """X <- X * (num / max(den + l1, eps)) ** gamma, elementwise, in place.

    ``mode`` selects pow-free arithmetic for γ(0.5) = 2/3 and γ(0) = 1/2.
    """
    n_rows, n_cols = X.shape
    for k in numba.prange(n_rows):
        x = X[k]
        nk = num[k]
        dk = den[k]
        if gamma == 1.0:
            for j in range(n_cols):
                x[j] *= nk[j] / max(dk[j] + l1, eps)
        elif mode == _HALF and abs(gamma - np.float32(2.0 / 3.0)) < 1e-6:
            for j in range(n_cols):
                x[j] *= _pow_two_thirds(nk[j] / max(dk[j] + l1, eps))
        elif mode == _IS and gamma == 0.5:
            for j in range(n_cols):
                x[j] *= math.sqrt(nk[j] / max(dk[j] + l1, eps))
        else:
            for j in range(n_cols):
                x[j] *= (nk[j] / max(dk[j] + l1, eps)) ** gamma
    return X


@numba.njit(cache=True, nogil=True, error_model="numpy", fastmath={"reassoc"})
def _sum64(X):  # pragma: no cover - compiled
    s = 0.0
    for i in range(X.shape[0]):
        for j in range(X.shape[1]):
            s += X[i, j]
    return s


@numba.njit(cache=True, nogil=True, error_model="numpy", fastmath={"reassoc"})
def _dot64(A, B):  # pragma: no cover - compiled
    """sum(A * B) accumulated in float64."""
    s = 0.0
    for i in range(A.shape[0]):
        for j in range(A.shape[1]):
            s += np.float64(A[i, j]) * np.float64(B[i, j])
    return s


# ---------------------------------------------------------------------------------------
# Iteration drivers
#
# The loops run in Python and call NumPy's matmul for the GEMMs, the compiled kernels
# above for everything elementwise. Measured (1 BLAS thread, CPU time, float32): np.dot
# inside njit goes through SciPy's OpenBLAS build and was 1.1-4x slower than NumPy's
# matmul on these shapes (W @ H at (1025, 88, 5000): 19 ms vs 9 ms), and W.T @ R is ~1.7x
# faster with a C-contiguous copy of W.T than with the transposed view. The Python
# overhead is a few microseconds per iteration.
# ---------------------------------------------------------------------------------------


# Column blocks of _mu_loop: an (m, cols) float32 block of F @ X of about this many bytes
# stays in the L2/L3 cache between the GEMM that writes it, the elementwise pass and the
# GEMM that reads it (measured at (1025, 88, 5000): the two GEMMs alone 5-14 % faster in
# 256-1250-column blocks than on the whole width, and the elementwise pass no longer goes
# through memory).
_BLOCK_BYTES = 4 << 20
_MIN_BLOCK = 256


def _column_blocks(m: int, n: int) -> list[slice]:
    """Column slices of width about ``_BLOCK_BYTES / (4 m)`` (at least ``_MIN_BLOCK``)
    covering ``range(n)``, as even as possible."""
    width = max(_MIN_BLOCK, _BLOCK_BYTES // (4 * max(m, 1)))
    n_blocks = max(1, round(n / width))
    edges = [round(i * n / n_blocks) for i in range(n_blocks + 1)]
    return [slice(a, b) for a, b in zip(edges[:-1], edges[1:])]


def _mu_loop(V, F, Ft, X, beta, mode, gamma, l1, eps, n_iter, tol, check_every, den_every=1):
    """Update X (k, n) in place so that F @ X ≈ V (m, n), with F (m, k) fixed.

    ``Ft`` is ``F.T`` C-contiguous. Returns the number of updates applied. With tol > 0 the
    objective D_β(V | F X) + l1 * sum(X) is evaluated every ``check_every`` iterations,
    fused into the elementwise pass (no extra GEMM), and the loop stops after an update
    whose starting objective was at most ``tol`` (relative) below the previous evaluation.

    Every iteration runs over column blocks (:func:`_column_blocks`; the columns of X are
    independent problems), so the ``(m, n)`` intermediates never leave the cache. For β
    < 1 (callers pass ``den_every = 1`` otherwise) the denominator ``F^T (F X)^(β-1)`` is
    recomputed at iterations divisible by ``den_every`` and reused in between, each column
    rescaled by the change of that column's level (see below and
    :func:`update_activations`). If an
    objective evaluation finds an increase while the denominator is lagged, the rest of
    the loop recomputes it every iteration (exact MU) instead of stopping.
    """
    m, n = V.shape
    k = F.shape[1]
    blocks = _column_blocks(m, n)
    if len(blocks) == 1:
        Vb, Xb = [V], [X]
    else:
        Vb = [np.ascontiguousarray(V[:, b]) for b in blocks]
        Xb = [np.ascontiguousarray(X[:, b]) for b in blocks]
    width = max(b.stop - b.start for b in blocks)
    # Flat scratch, viewed C-contiguous at each block's width.
    FX_all = np.empty(m * width, dtype=np.float32)
    num_all = np.empty(k * width, dtype=np.float32)
    if mode == _KL:
        # the denominator F^T 1 + l1 is constant: 1 / max(column sums + l1, eps) in float32, the
        # sums in float64 (NumPy adds the rows in order; one compiled kernel less to load per run)
        inv_den = np.float32(1.0) / np.maximum(F.sum(axis=0, dtype=np.float64).astype(np.float32) + l1, eps)
    else:
        B_all = np.empty(m * width, dtype=np.float32)
        dens = [np.empty((k, x.shape[1]), dtype=np.float32) for x in Xb]
        # Level of each column of F X: its mean weighted by F's mean row, w^T F X = c^T X
        # (k products a column, not m). Between recomputations the denominator
        # F^T (F X)^(β-1) is rescaled column by column by (level / old level)^(β-1), which
        # is exact when a column of F X only changes by a factor (as in the first updates
        # from a flat start); the floor is the level of an all-eps column.
        row_w = F.mean(axis=1, dtype=np.float64)
        c = (row_w @ F).astype(np.float32)
        floor = np.float32(max(float(eps) * float(row_w.sum()), 1e-30))
        expo = np.float32(beta - 1.0)
        levels = [np.empty(x.shape[1], dtype=np.float32) for x in Xb]
    check = tol > 0.0
    prev = math.inf
    for it in range(n_iter):
        want = check and it % check_every == 0
        fresh = it % den_every == 0
        obj = 0.0
        for j, x in enumerate(Xb):
            w = x.shape[1]
            FX = FX_all[: m * w].reshape(m, w)
            num = num_all[: k * w].reshape(k, w)
            np.matmul(F, x, out=FX)
            if want and l1 > 0.0:
                obj += float(l1) * _sum64(x)
            if mode == _KL:
                obj += _kl_ratio(Vb[j], FX, eps, want)
            else:
                obj += _beta_ratio(Vb[j], FX, B_all[: m * w].reshape(m, w), beta, mode, eps, want, fresh)
            np.matmul(Ft, FX, out=num)
            if mode == _KL:
                _scale_rows(x, num, inv_den, gamma)
            else:
                if fresh:
                    np.matmul(Ft, B_all[: m * w].reshape(m, w), out=dens[j])
                    if den_every > 1:  # the levels only serve the lagged updates
                        np.matmul(c, x, out=levels[j])
                else:
                    _rescale_columns(dens[j], np.matmul(c, x), levels[j], expo, floor)
                _mu_step(x, num, dens[j], l1, gamma, mode, eps)
        if want:
            # obj is that of X before this iteration's update (evaluated block by block
            # in the same pass); the update is kept either way.
            if it > 0 and obj > prev and den_every > 1:
                den_every = 1  # the lag cost a step: exact MU from the next iteration on
            elif it > 0 and prev - obj <= tol * abs(prev):
                n_iter = it + 1
                break
            prev = obj
    if len(blocks) > 1:
        for b, x in zip(blocks, Xb):
            X[:, b] = x
    return n_iter


def _mu_loop_euc(V, F, Ft, X, l1, eps, n_iter, tol, check_every):
    """β = 2 version of :func:`_mu_loop`: X <- X * (F^T V) / (F^T F X + l1).

    F^T V and F^T F are computed once; F @ X is never formed. The objective
    0.5 ||V - F X||^2 + l1 sum(X) is evaluated by the expansion
    0.5 ||V||^2 - <X, F^T V> + 0.5 <X, F^T F X>, accumulated in float64.
    """
    FtV = np.matmul(Ft, V)
    FtF = np.matmul(Ft, F)
    den = np.empty(X.shape, dtype=np.float32)
    check = tol > 0.0
    half_v2 = 0.5 * _dot64(V, V) if check else 0.0
    prev = math.inf
    for it in range(n_iter):
        want = check and it % check_every == 0
        np.matmul(FtF, X, out=den)
        if want:
            obj = max(half_v2 - _dot64(X, FtV) + 0.5 * _dot64(X, den), 0.0)
            if l1 > 0.0:
                obj += float(l1) * _sum64(X)
        _mu_step(X, FtV, den, l1, np.float32(1.0), _EUC, eps)
        if want:
            # As in _mu_loop: obj is that of X before this update, which is kept.
            if it > 0 and prev - obj <= tol * abs(prev):
                return it + 1
            prev = obj
    return n_iter


def _update_terms(V, W, H, beta, mode, eps):
    """Numerator and denominator (n_bins, n_comp) of one MU step on W."""
    Ht = np.ascontiguousarray(H.T)
    if mode == _EUC:
        return np.matmul(V, Ht), np.matmul(W, np.matmul(H, Ht))
    WH = np.matmul(W, H)
    if mode == _KL:
        _kl_ratio(V, WH, eps, False)
        row_sums = H.sum(axis=1, dtype=np.float64).astype(np.float32)
        den = np.ascontiguousarray(np.broadcast_to(row_sums, (V.shape[0], H.shape[0])))
        return np.matmul(WH, Ht), den
    B = np.empty_like(WH)
    _beta_ratio(V, WH, B, beta, mode, eps, False, True)
    return np.matmul(WH, Ht), np.matmul(B, Ht)


# ---------------------------------------------------------------------------------------
# Validation helpers
# ---------------------------------------------------------------------------------------


def _check_beta(beta: float) -> float:
    try:
        b = float(beta)
    except (TypeError, ValueError):
        raise ValueError(f"beta must be a real number, got {beta!r}") from None
    if not math.isfinite(b):
        raise ValueError(f"beta must be finite, got {beta!r}")
    return b


def _check_positive(name: str, value: float, *, allow_zero: bool) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        v = math.nan
    if not math.isfinite(v) or v < 0 or (v == 0 and not allow_zero):
        bound = ">= 0" if allow_zero else "> 0"
        raise ValueError(f"{name} must be finite and {bound}, got {value!r}")
    return v


def _check_count(name: str, value: int, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def _as_matrix(name: str, X) -> np.ndarray:
    """Validate a nonnegative finite real 2-D array and return it as float32, C order."""
    A = np.asarray(X)
    if A.ndim != 2:
        raise ValueError(f"{name} must be 2-D, got shape {A.shape}")
    if A.size == 0:
        raise ValueError(f"{name} must not be empty, got shape {A.shape}")
    if A.dtype.kind not in "biuf":
        raise ValueError(f"{name} must be a real numeric array, got dtype {A.dtype}")
    A = np.ascontiguousarray(A, dtype=np.float32)
    lo = A.min()
    hi = A.max()
    if not lo >= 0:  # also catches NaN
        raise ValueError(f"{name} must be nonnegative and not NaN (min is {lo})")
    if not np.isfinite(hi):
        raise ValueError(f"{name} must be finite (max is {hi})")
    return A


def _lag(beta: float, den_every: int) -> int:
    """The validated ``den_every``, or 1 where a lagged denominator is not used (β >= 1)."""
    den_every = _check_count("den_every", den_every, 1)
    return den_every if beta < 1 else 1


def _check_shapes(V: np.ndarray, W: np.ndarray, H: np.ndarray) -> None:
    if W.shape[0] != V.shape[0] or H.shape[1] != V.shape[1] or W.shape[1] != H.shape[0]:
        raise ValueError(
            f"shapes do not match V ≈ W @ H: V {V.shape}, W {W.shape}, H {H.shape}"
        )


# ---------------------------------------------------------------------------------------
# Public API
# ---------------------------------------------------------------------------------------


def gamma_exponent(beta: float) -> float:
    """Exponent of the MU step that makes the β-divergence non-increasing.

    Févotte & Idier (2011): ``1 / (2 - beta)`` for ``beta < 1``, ``1`` for
    ``1 <= beta <= 2`` and ``1 / (beta - 1)`` for ``beta > 2``.

    Parameters
    ----------
    beta : float
        Finite β of the divergence.

    Returns
    -------
    gamma : float
    """
    b = _check_beta(beta)
    if b < 1.0:
        return 1.0 / (2.0 - b)
    if b > 2.0:
        return 1.0 / (b - 1.0)
    return 1.0


def _step_exponent(beta: float, gamma: float | None) -> np.float32:
    """The validated MU step exponent: ``gamma`` in (0, 2], or the monotone one of ``beta``."""
    if gamma is None:
        return np.float32(gamma_exponent(beta))
    g = np.float32(_check_positive("gamma", gamma, allow_zero=False))
    if not g <= 2.0:
        raise ValueError(f"gamma must be in (0, 2], got {gamma!r}")
    return g


def beta_divergence(V, V_hat, beta: float, eps: float = 1e-10) -> float:
    """Sum over all elements of the β-divergence ``d_β(V | V_hat)``.

    ``beta=2``: ``0.5 * ||V - V_hat||^2``; ``beta=1``: generalised Kullback-Leibler
    ``sum(V log(V/V_hat) - V + V_hat)``; ``beta=0``: Itakura-Saito
    ``sum(V/V_hat - log(V/V_hat) - 1)``; otherwise
    ``sum(V^β + (β-1) V_hat^β - β V V_hat^(β-1)) / (β(β-1))``.

    Parameters
    ----------
    V : np.ndarray [shape=(n_bins, n_frames)], nonnegative
        Target.
    V_hat : np.ndarray [shape=(n_bins, n_frames)], nonnegative
        Approximation; floored at ``eps``.
    beta : float
        Finite β.
    eps : float > 0
        Floor for ``V_hat`` (and for ``V`` when ``beta <= 0``, where zeros are undefined).
        ``0 * log 0`` is taken as 0 for ``beta = 1``.

    Returns
    -------
    divergence : float
        Accumulated in float64 from float32 inputs.
    """
    b = _check_beta(beta)
    e = np.float32(_check_positive("eps", eps, allow_zero=False))
    V = _as_matrix("V", V)
    V_hat = _as_matrix("V_hat", V_hat)
    if V.shape != V_hat.shape:
        raise ValueError(f"V {V.shape} and V_hat {V_hat.shape} must have the same shape")
    return float(_beta_divergence(V, V_hat, b, _mode(b), e))


def update_activations(
    V,
    W,
    H=None,
    *,
    beta: float = 1.0,
    n_iter: int = 50,
    tol: float = 1e-4,
    l1: float = 0.0,
    eps: float = 1e-10,
    check_every: int = 5,
    gamma: float | None = None,
    den_every: int = DEN_EVERY,
) -> tuple[np.ndarray, int]:
    """Fit activations ``H`` with the dictionary ``W`` fixed, by β-divergence MU.

    ``H <- H * [(W^T (V * (WH)^(β-2))) / (W^T (WH)^(β-1) + l1)] ** gamma_exponent(beta)``;
    for ``beta = 2`` this is ``H <- H * (W^T V) / (W^T W H + l1)`` with ``W^T V`` and
    ``W^T W`` precomputed (``W @ H`` is never formed), for ``beta = 1`` the denominator
    ``W^T 1 + l1`` is constant. With the default ``gamma``, each update does not increase
    ``D_β(V | W H) + l1 * sum(H)``, except that for β < 1 the denominator is by default
    recomputed only every ``den_every`` updates (below).

    Parameters
    ----------
    V : np.ndarray [shape=(n_bins, n_frames)], nonnegative
        Spectrogram to explain.
    W : np.ndarray [shape=(n_bins, n_comp)], nonnegative
        Dictionary, not modified.
    H : np.ndarray [shape=(n_comp, n_frames)], nonnegative, optional
        Initial activations (copied, not modified). Default: the constant
        ``mean(V) / mean(W.sum(axis=1))``, so that ``W @ H`` has ``V``'s mean level.
    beta : float
        β of the divergence (2: Euclidean, 1: KL, 0: Itakura-Saito).
    n_iter : int >= 0
        Maximum number of updates.
    tol : float >= 0
        Stop when the objective decreased by at most ``tol`` (relative) over the last
        ``check_every`` updates (the update in whose pass that was measured is still
        applied). ``tol = 0`` disables the test (and its objective evaluations): exactly
        ``n_iter`` updates are run.
    l1 : float >= 0
        Weight of the L1 penalty ``l1 * sum(H)`` (added to the denominator).
    eps : float > 0
        Floor for ``W @ H`` and for denominators.
    check_every : int >= 1
        Iterations between objective evaluations.
    gamma : float in (0, 2], optional
        Exponent of the step (not used by the β = 2 rule). Default :func:`gamma_exponent` (``beta``), for which every
        update is non-increasing. A larger one over-relaxes the step: for KL, ``gamma`` in
        (1, 2) keeps the fixed points and their local stability (Badeau, Bertin & Vincent,
        IEEE TNN 2010) and reaches a given fit in fewer iterations, without the monotonicity
        guarantee. 1.5, 1.75 and 2 are computed without ``pow``.
    den_every : int >= 1
        For β < 1 only, whose denominator ``W^T (WH)^(β-1)`` is a third matrix product
        per update: it is recomputed at every ``den_every``-th update (the first included);
        in between, each column of the last one is scaled by ``(l / l_old)^(β-1)``, where
        ``l`` is the column's level ``mean_f(W) @ WH`` (exact when a column of ``WH`` only
        changes by a factor). ``1`` is the exact MU above. For β < 1 the denominator is the
        gradient of the tangent that bounds the concave part of the divergence; a stale,
        rescaled one is the gradient of a tangent at another point, so it still gives an
        upper bound, only a looser one, and the fixed points are the same (at a fixed point
        ``WH`` no longer changes). Measured on 30 s of four piano and guitar recordings
        (the shipped piano dictionary, 269 bins x 176 templates): with ``den_every = 6`` 40 updates
        did the work of 37-39 exact ones (β = 0: 37-38.6, β = 1/2: 38.5-39.2) in 0.74-0.77
        of their time. There is no per-update guarantee: if an objective evaluation
        (``tol > 0``) finds an increase, the remaining updates are exact. For β > 1 the
        denominator comes from the convex part and a stale one is no bound (the iteration
        diverged), so updates are always exact there.

    Returns
    -------
    H : np.ndarray [shape=(n_comp, n_frames)], float32
        Updated activations.
    n_run : int
        Number of updates applied.
    """
    b = _check_beta(beta)
    n_iter = _check_count("n_iter", n_iter, 0)
    check_every = _check_count("check_every", check_every, 1)
    tol = _check_positive("tol", tol, allow_zero=True)
    l1 = np.float32(_check_positive("l1", l1, allow_zero=True))
    e = np.float32(_check_positive("eps", eps, allow_zero=False))
    V = _as_matrix("V", V)
    W = _as_matrix("W", W)
    if H is None:
        level = float(V.mean(dtype=np.float64)) / max(float(W.sum(axis=1, dtype=np.float64).mean()), float(e))
        H = np.full((W.shape[1], V.shape[1]), max(level, float(e)), dtype=np.float32)
    else:
        H = np.array(_as_matrix("H", H), dtype=np.float32, order="C", copy=True)
    _check_shapes(V, W, H)
    Wt = np.ascontiguousarray(W.T)
    g = _step_exponent(b, gamma)
    den_every = _lag(b, den_every)
    mode = _mode(b)
    if mode == _EUC:
        n_run = _mu_loop_euc(V, W, Wt, H, l1, e, n_iter, tol, check_every)
    else:
        n_run = _mu_loop(V, W, Wt, H, b, mode, g, l1, e, n_iter, tol, check_every, den_every)
    return H, int(n_run)


def update_dictionary(
    V,
    W,
    H,
    *,
    beta: float = 1.0,
    n_iter: int = 50,
    tol: float = 1e-4,
    eps: float = 1e-10,
    check_every: int = 5,
    den_every: int = DEN_EVERY,
) -> tuple[np.ndarray, int]:
    """Fit the dictionary ``W`` with the activations ``H`` fixed, by β-divergence MU.

    The transposed rules of :func:`update_activations`:
    ``W <- W * [((V * (WH)^(β-2)) H^T) / ((WH)^(β-1) H^T)] ** gamma_exponent(beta)``.
    Columns of ``W`` are **not** normalised; the caller decides.

    Parameters
    ----------
    V : np.ndarray [shape=(n_bins, n_frames)], nonnegative
    W : np.ndarray [shape=(n_bins, n_comp)], nonnegative
        Initial dictionary (copied, not modified).
    H : np.ndarray [shape=(n_comp, n_frames)], nonnegative
        Activations, not modified.
    beta, n_iter, tol, eps, check_every, den_every
        As in :func:`update_activations`.

    Returns
    -------
    W : np.ndarray [shape=(n_bins, n_comp)], float32
        Updated dictionary.
    n_run : int
        Number of updates applied.
    """
    b = _check_beta(beta)
    n_iter = _check_count("n_iter", n_iter, 0)
    check_every = _check_count("check_every", check_every, 1)
    tol = _check_positive("tol", tol, allow_zero=True)
    e = np.float32(_check_positive("eps", eps, allow_zero=False))
    V = _as_matrix("V", V)
    W = _as_matrix("W", W)
    H = _as_matrix("H", H)
    _check_shapes(V, W, H)
    # Transposed problem V^T ≈ H^T W^T: the same kernel, with W^T as the free factor.
    Vt = np.ascontiguousarray(V.T)
    Ht = np.ascontiguousarray(H.T)
    Wt = np.array(W.T, order="C", copy=True)  # updated in place: never the caller's W
    zero = np.float32(0.0)
    den_every = _lag(b, den_every)
    mode = _mode(b)
    if mode == _EUC:
        n_run = _mu_loop_euc(Vt, Ht, H, Wt, zero, e, n_iter, tol, check_every)
    else:
        g = np.float32(gamma_exponent(b))
        n_run = _mu_loop(Vt, Ht, H, Wt, b, mode, g, zero, e, n_iter, tol, check_every, den_every)
    return np.ascontiguousarray(Wt.T), int(n_run)


def dictionary_update_terms(V, W, H, *, beta: float = 1.0, eps: float = 1e-10) -> tuple[np.ndarray, np.ndarray]:
    """Numerator and denominator of one MU step on ``W``, for summing over many files.

    For several files (each its own ``V``, ``H``; the same ``W``) sum the terms, then
    ``W <- W * (num / max(den, eps)) ** gamma_exponent(beta)``; this equals one
    :func:`update_dictionary` step on the frame-concatenated data.

    ``num = (V * Y^(β-2)) @ H^T`` and ``den = Y^(β-1) @ H^T`` with ``Y = max(W @ H, eps)``;
    for ``beta = 2``: ``num = V @ H^T``, ``den = W @ (H @ H^T)``; for ``beta = 1``:
    ``den[f, k] = sum_t H[k, t]``.

    Parameters
    ----------
    V : np.ndarray [shape=(n_bins, n_frames)], nonnegative
    W : np.ndarray [shape=(n_bins, n_comp)], nonnegative
    H : np.ndarray [shape=(n_comp, n_frames)], nonnegative
    beta : float
    eps : float > 0
        Floor for ``W @ H``.

    Returns
    -------
    num : np.ndarray [shape=(n_bins, n_comp)], float32
    den : np.ndarray [shape=(n_bins, n_comp)], float32
    """
    b = _check_beta(beta)
    e = np.float32(_check_positive("eps", eps, allow_zero=False))
    V = _as_matrix("V", V)
    W = _as_matrix("W", W)
    H = _as_matrix("H", H)
    _check_shapes(V, W, H)
    return _update_terms(V, W, H, b, _mode(b), e)


# ---------------------------------------------------------------------------------------
# Convolutive model (Smaragdis 2004): V[:, t] ≈ sum_k sum_τ W[:, k, τ] H[k, t - τ]
#
# The τ-frame templates are stacked into one (n_bins, n_cols) matrix S, a column per
# (template, shift) pair (a template's trailing all-zero frames get no column), and H
# into the matching shifted activations ``Hs[c, t] = H[comp[c], t - shift[c]]``; then
# W * H = S @ Hs and the MU numerator is S^T R gathered back by shift: one GEMM each way,
# as in the one-frame model, against n_cols instead of n_comp rows.
# ---------------------------------------------------------------------------------------


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _conv_gather(H, comp, shift, Hs):  # pragma: no cover - compiled
    """Hs[c, t] = H[comp[c], t - shift[c]] (0 for t < shift[c]), in place."""
    n = H.shape[1]
    for c in range(Hs.shape[0]):
        s = shift[c]
        h = H[comp[c]]
        out = Hs[c]
        for t in range(min(s, n)):
            out[t] = 0.0
        for t in range(s, n):
            out[t] = h[t - s]


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _conv_scatter(G, comp, shift, out):  # pragma: no cover - compiled
    """out[k, t] = sum over c with comp[c] = k of G[c, t + shift[c]] (terms past the end
    are 0), in place."""
    n = G.shape[1]
    out[:] = 0.0
    for c in range(G.shape[0]):
        s = shift[c]
        g = G[c]
        o = out[comp[c]]
        for t in range(n - s):
            o[t] += g[t + s]


def stack_patches(W) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The stacked matrix of shifted templates of a convolutive dictionary.

    Parameters
    ----------
    W : np.ndarray [shape=(n_bins, n_comp, n_shifts)], nonnegative
        τ-frame templates; a 2-D ``(n_bins, n_comp)`` array is the one-frame case.

    Returns
    -------
    S : np.ndarray [shape=(n_bins, n_cols)], float32
        ``S[:, c] = W[:, comp[c], shift[c]]``, one column per frame of each template up to its
        last nonzero frame (every template keeps its first frame), ordered by shift, then
        template.
    comp, shift : np.ndarray [shape=(n_cols,)], int64
    """
    W = np.asarray(W, dtype=np.float32)
    if W.ndim == 2:
        W = W[:, :, None]
    if W.ndim != 3:
        raise ValueError(f"W must be 2-D or 3-D, got shape {W.shape}")
    used = W.any(axis=0)  # (n_comp, n_shifts)
    used[:, 0] = True
    length = W.shape[2] - np.argmax(used[:, ::-1], axis=1)
    comp, shift = [], []
    for s in range(W.shape[2]):
        ks = np.flatnonzero(length > s)
        comp.append(ks)
        shift.append(np.full(len(ks), s))
    comp, shift = np.concatenate(comp).astype(np.int64), np.concatenate(shift).astype(np.int64)
    return np.ascontiguousarray(W[:, comp, shift]), comp, shift


def shifted_activations(H, comp: np.ndarray, shift: np.ndarray) -> np.ndarray:
    """``Hs[c, t] = H[comp[c], t - shift[c]]`` (0 before the start), shape ``(n_cols, n_frames)``.

    ``S @ shifted_activations(H, comp, shift)`` is the convolutive model of :func:`stack_patches`.
    """
    H = np.ascontiguousarray(H, dtype=np.float32)
    Hs = np.empty((len(comp), H.shape[1]), dtype=np.float32)
    _conv_gather(H, np.asarray(comp, dtype=np.int64), np.asarray(shift, dtype=np.int64), Hs)
    return Hs


def _conv_denominator(S, comp, shift, n_comp, n, l1):
    """KL denominator ``sum_τ sum_f W[f, k, τ]`` over the shifts still inside the frames, + l1."""
    ones = np.broadcast_to(S.sum(axis=0, dtype=np.float64).astype(np.float32)[:, None], (S.shape[1], n))
    den = np.empty((n_comp, n), dtype=np.float32)
    _conv_scatter(np.ascontiguousarray(ones), comp, shift, den)
    return den + l1


def update_activations_conv(V, W, H=None, *, beta: float = 1.0, n_iter: int = 50, l1: float = 0.0,
                            eps: float = 1e-10, gamma: float | None = None) -> np.ndarray:
    """Fit the activations of a convolutive dictionary with the templates fixed, by β-divergence MU.

    ``V ≈ Λ = sum_τ W[:, :, τ] @ shift(H, τ)``;
    ``H[k, t] <- H[k, t] * [sum_τ W[:, k, τ]^T (V Λ^(β-2))[:, t+τ] / (sum_τ W[:, k, τ]^T Λ^(β-1)[:, t+τ] + l1)] ** gamma``
    (Smaragdis' convolutive NMF). With the default ``gamma`` (:func:`gamma_exponent`) each
    update does not increase ``D_β(V | Λ) + l1 sum(H)``. Each update is two GEMMs against the
    stacked templates of :func:`stack_patches` (three for β ≠ 1). Exactly ``n_iter`` updates.

    Parameters
    ----------
    V : np.ndarray [shape=(n_bins, n_frames)], nonnegative
    W : np.ndarray [shape=(n_bins, n_comp, n_shifts)] or [shape=(n_bins, n_comp)], nonnegative
        τ-frame templates (2-D: one frame, the ordinary model), not modified.
    H : np.ndarray [shape=(n_comp, n_frames)], nonnegative, optional
        Initial activations (copied). Default: the constant that gives ``Λ`` the mean level of ``V``.
    beta, n_iter, l1, eps, gamma
        As in :func:`update_activations`.

    Returns
    -------
    H : np.ndarray [shape=(n_comp, n_frames)], float32
    """
    b = _check_beta(beta)
    n_iter = _check_count("n_iter", n_iter, 0)
    l1 = np.float32(_check_positive("l1", l1, allow_zero=True))
    e = np.float32(_check_positive("eps", eps, allow_zero=False))
    V = _as_matrix("V", V)
    W = np.asarray(W)
    if W.ndim == 2:
        W = W[:, :, None]
    if W.ndim != 3 or W.shape[0] != V.shape[0]:
        raise ValueError(f"W must be (n_bins, n_comp[, n_shifts]) with V's {V.shape[0]} bins, got {W.shape}")
    _as_matrix("W", W.reshape(W.shape[0], -1))
    S, comp, shift = stack_patches(W)
    n_comp = W.shape[1]
    if H is None:
        level = float(V.mean(dtype=np.float64)) / max(float(W.sum(axis=(1, 2), dtype=np.float64).mean()), float(e))
        H = np.full((n_comp, V.shape[1]), max(level, float(e)), dtype=np.float32)
    else:
        H = np.array(_as_matrix("H", H), dtype=np.float32, order="C", copy=True)
    if H.shape != (n_comp, V.shape[1]):
        raise ValueError(f"H must have shape {(n_comp, V.shape[1])}, got {H.shape}")
    g = _step_exponent(b, gamma)
    _conv_loop(V, S, comp, shift, H, b, _mode(b), g, l1, e, n_iter)
    return H


def _conv_loop(V, S, comp, shift, H, beta, mode, gamma, l1, eps, n_iter):
    """``n_iter`` convolutive MU updates of H in place (trusted inputs; see :func:`update_activations_conv`)."""
    m, n = V.shape
    St = np.ascontiguousarray(S.T)
    Hs = np.empty((S.shape[1], n), dtype=np.float32)
    L = np.empty((m, n), dtype=np.float32)
    G = np.empty((S.shape[1], n), dtype=np.float32)
    num = np.empty(H.shape, dtype=np.float32)
    if mode == _KL:
        den = _conv_denominator(S, comp, shift, H.shape[0], n, np.float32(0.0))
    else:
        den = np.empty(H.shape, dtype=np.float32)
        B = np.empty((m, n), dtype=np.float32)
    zero = np.float32(0.0) if mode == _KL else l1
    if mode == _KL:
        den += l1
    for _ in range(n_iter):
        _conv_gather(H, comp, shift, Hs)
        np.matmul(S, Hs, out=L)
        if mode == _KL:
            _kl_ratio(V, L, eps, False)
        else:
            _beta_ratio(V, L, B, beta, mode, eps, False, True)
            np.matmul(St, B, out=G)
            _conv_scatter(G, comp, shift, den)
        np.matmul(St, L, out=G)
        _conv_scatter(G, comp, shift, num)
        _mu_step(H, num, den, zero, gamma, mode, eps)


def conv_divergence(V, W, H, beta: float = 1.0, eps: float = 1e-10) -> float:
    """``D_β(V | sum_τ W[:, :, τ] @ shift(H, τ))`` (see :func:`beta_divergence`)."""
    S, comp, shift = stack_patches(W)
    return beta_divergence(V, S @ shifted_activations(H, comp, shift), beta, eps)


# start-up: load the cached kernels without registering all of Numba (see core/jitcache.py)
from nmftrans.core.jitcache import load_without_refresh  # noqa: E402

load_without_refresh(vars())
