"""Benchmark nmftrans.kernels.update_activations against the GEMMs it cannot avoid.

Usage::

    python scripts/bench_kernel.py [--frames N --bins N --comp N --iters N --repeats N]

First the Numba kernels are called on tiny arrays and the compile (or on-disk cache load)
time is reported on its own.  Then, for beta in (1, 0.5, 2), with W fixed and the same
shapes and iteration count, it times (best of ``--repeats`` interleaved rounds):

* ``kernel``        update_activations(..., tol=0): exactly ``iters`` updates, no stop test;
* ``kernel+stop``   the same with the stop test on (objective every 5 iterations, tol tiny so
                    it never triggers): the cost of the default convergence check;
* ``2-GEMM``        NumPy/BLAS float32 ``W @ H`` and ``W.T @ R`` per iteration, preallocated:
                    the project's reference cost of one iteration;
* ``3-GEMM``        the same plus a second ``W.T @ B``: what the MU for beta not in {1, 2}
                    needs (numerator and denominator are two different products);
* ``numpy MU``      a straightforward NumPy float32 MU implementation.

Ratios are relative to the 2-GEMM reference.  Nothing is asserted.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from nmftrans import kernels  # noqa: E402
from nmftrans.kernels import (  # noqa: E402
    beta_divergence,
    dictionary_update_terms,
    gamma_exponent,
    update_activations,
    update_dictionary,
)

EPS = np.float32(1e-10)


def gemm_reference(V, W, H, n_iter: int, n_back: int) -> None:
    """``n_iter`` times: WH = W @ H, then ``n_back`` products W.T @ (n_bins, n_frames)."""
    WH = np.empty(V.shape, np.float32)
    B = np.empty(V.shape, np.float32)
    num = np.empty(H.shape, np.float32)
    den = np.empty(H.shape, np.float32)
    for _ in range(n_iter):
        np.matmul(W, H, out=WH)
        np.matmul(W.T, WH, out=num)
        if n_back > 1:
            np.matmul(W.T, B, out=den)


def numpy_mu(V, W, H, beta: float, n_iter: int) -> np.ndarray:
    """Plain NumPy float32 MU on H (what one would write without a kernel)."""
    H = H.copy()
    g = np.float32(gamma_exponent(beta))
    if beta == 2:
        WtV = W.T @ V
        WtW = W.T @ W
        for _ in range(n_iter):
            H *= WtV / np.maximum(WtW @ H, EPS)
        return H
    for _ in range(n_iter):
        WH = np.maximum(W @ H, EPS)
        if beta == 1:
            H *= (W.T @ (V / WH)) / np.maximum(W.sum(axis=0), EPS)[:, None]
        else:
            num = W.T @ (V * WH ** np.float32(beta - 2))
            den = W.T @ WH ** np.float32(beta - 1)
            H *= (num / np.maximum(den, EPS)) ** g
    return H


def compile_all() -> tuple[float, int, int]:
    """Trigger compilation (or cache loading) of every kernel; returns (seconds, hits, misses)."""
    rng = np.random.default_rng(0)
    W = rng.random((6, 3), dtype=np.float32) + 0.1
    H = rng.random((3, 5), dtype=np.float32) + 0.1
    V = W @ H
    t0 = time.perf_counter()
    for beta in (2.0, 1.0, 0.5, 0.0, 1.5, 0.3):
        update_activations(V, W, H, beta=beta, n_iter=2, check_every=1, l1=0.1)
        update_dictionary(V, W, H, beta=beta, n_iter=2, check_every=1)
        dictionary_update_terms(V, W, H, beta=beta)
        beta_divergence(V, W @ H, beta)
    seconds = time.perf_counter() - t0
    hits = misses = 0
    for name in dir(kernels):
        obj = getattr(kernels, name)
        stats = getattr(obj, "stats", None)
        if stats is not None and hasattr(stats, "cache_hits"):
            hits += sum(stats.cache_hits.values())
            misses += sum(stats.cache_misses.values())
    return seconds, hits, misses


def blas_info() -> str:
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return "threadpoolctl not installed"
    return "; ".join(
        f"{d.get('internal_api')} {os.path.basename(d.get('filepath', ''))} threads={d.get('num_threads')}"
        for d in threadpool_info()
    )


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--frames", type=int, default=5000)
    p.add_argument("--bins", type=int, default=1025)
    p.add_argument("--comp", type=int, default=88)
    p.add_argument("--iters", type=int, default=30)
    p.add_argument("--repeats", type=int, default=5)
    args = p.parse_args(argv)

    seconds, hits, misses = compile_all()
    how = "loaded from the on-disk cache" if misses == 0 else "compiled"
    print(f"numba kernels {how}: {seconds:.2f} s  (cache hits {hits}, misses {misses})")
    print(f"BLAS: {blas_info()}")
    print(f"cores: {os.cpu_count()}")

    rng = np.random.default_rng(0)
    n_bins, n_comp, n_frames, n_iter = args.bins, args.comp, args.frames, args.iters
    W = (rng.random((n_bins, n_comp), dtype=np.float32) + 0.01).astype(np.float32)
    H_true = rng.random((n_comp, n_frames), dtype=np.float32)
    V = (W @ H_true) * (0.5 + rng.random((n_bins, n_frames), dtype=np.float32))
    H0 = np.full((n_comp, n_frames), 0.5, np.float32)
    print(
        f"shapes: V ({n_bins}, {n_frames}), W ({n_bins}, {n_comp}), H ({n_comp}, {n_frames}); "
        f"{n_iter} iterations, best of {args.repeats}"
    )

    # All candidates are timed interleaved (one run of each per round, best round kept) so
    # that load from other processes hits them alike.
    cases = {
        "2gemm": lambda: gemm_reference(V, W, H0, n_iter, 1),
        "3gemm": lambda: gemm_reference(V, W, H0, n_iter, 2),
    }
    for beta in (1.0, 0.5, 2.0):
        cases[("kernel", beta)] = lambda b=beta: update_activations(V, W, H0, beta=b, n_iter=n_iter, tol=0)
        cases[("stop", beta)] = lambda b=beta: update_activations(
            V, W, H0, beta=b, n_iter=n_iter, tol=1e-30, check_every=5
        )
        cases[("numpy", beta)] = lambda b=beta: numpy_mu(V, W, H0, b, n_iter)
    best = {key: float("inf") for key in cases}
    for _ in range(args.repeats):
        for key, fn in cases.items():
            t0 = time.perf_counter()
            fn()
            best[key] = min(best[key], time.perf_counter() - t0)
    t2, t3 = best["2gemm"], best["3gemm"]
    header = (
        f"{'beta':>5} {'kernel s':>9} {'ratio':>6} {'k+stop s':>9} {'ratio':>6} "
        f"{'2-GEMM s':>9} {'3-GEMM s':>9} {'3G ratio':>8} {'numpy MU s':>10} {'ratio':>6} {'max rel diff':>12}"
    )
    print(header)
    print("-" * len(header))
    for beta in (1.0, 0.5, 2.0):
        tk, ts, tn = best[("kernel", beta)], best[("stop", beta)], best[("numpy", beta)]
        Hk, _ = update_activations(V, W, H0, beta=beta, n_iter=n_iter, tol=0)
        Hn = numpy_mu(V, W, H0, beta, n_iter)
        diff = float(np.max(np.abs(Hk - Hn)) / np.max(np.abs(Hn)))
        print(
            f"{beta:5.1f} {tk:9.3f} {tk / t2:6.2f} {ts:9.3f} {ts / t2:6.2f} "
            f"{t2:9.3f} {t3:9.3f} {tk / t3:8.2f} {tn:10.3f} {tn / t2:6.2f} {diff:12.1e}"
        )
    print(
        "ratio = time / 2-GEMM time; 3G ratio = kernel / 3-GEMM time. beta=1 needs 2 GEMMs per "
        "iteration, beta=0.5 needs 3 (W@H, W.T@A, W.T@B), beta=2 needs none of n_bins size."
    )


if __name__ == "__main__":
    main()
