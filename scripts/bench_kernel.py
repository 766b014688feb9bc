"""Benchmark nmftrans.core.kernels.update_activations against the GEMMs it cannot avoid.

Usage::

    python scripts/bench_kernel.py [--frames N --bins N --comp N --iters N --repeats N]

First the Numba kernels are called on tiny arrays and the compile (or on-disk cache load)
time is reported on its own.  Then, for beta in (1, 0.5, 2), with W fixed and the same
shapes and iteration count, it times (best of ``--repeats`` interleaved rounds):

* ``kernel``        update_activations(..., tol=0): exactly ``iters`` updates, no stop test;
* ``kernel+stop``   the same with the stop test on (objective every 5 iterations, tol tiny so
                    it never triggers): the cost of the default convergence check;
* ``kernel exact``  beta = 0.5 with ``den_every=1``: the exact MU, whose denominator
                    ``W.T @ (WH)^(beta-1)`` is a third GEMM every iteration. The default
                    recomputes it every ``kernels.DEN_EVERY`` iterations and rescales it per
                    column in between; the script prints how far that default's fit after
                    ``iters`` updates is from the exact MU's, in exact updates;
* ``2-GEMM ref``    NumPy/BLAS float32 ``W @ H`` and ``W.T @ R`` per iteration, buffers
                    preallocated, W.T as a C-contiguous copy made outside the timing (the
                    fastest NumPy way; the project's reference cost of one iteration);
* ``2-GEMM W.T``    the same with the transposed view ``W.T`` (slower in OpenBLAS), for
                    information;
* ``3-GEMM ref``    the 2-GEMM reference plus a second ``W.T @ B``: what the MU for beta
                    not in {1, 2} needs (numerator and denominator are different products);
* ``numpy MU``      a straightforward NumPy float32 MU implementation.

Ratios are relative to the 2-GEMM (and 3-GEMM) reference, for wall-clock and for process
CPU time.  The 1-minute load average is printed: wall-clock ratios on a busy machine are
noise.  ``--threads 1`` gives load-robust CPU-time ratios.  Nothing is asserted.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from nmftrans.core import kernels  # noqa: E402
from nmftrans.core.kernels import (  # noqa: E402
    beta_divergence,
    dictionary_update_terms,
    gamma_exponent,
    update_activations,
    update_dictionary,
)

EPS = np.float32(1e-10)


def make_gemm_reference(V, W, H, n_iter: int, n_back: int, transposed_view: bool = False):
    """Return a function doing, ``n_iter`` times: WH = W @ H, then ``n_back`` products
    W^T @ (n_bins, n_frames). Buffers (and the contiguous W^T) are prepared outside the
    timed call, so the reference pays for nothing but the GEMMs."""
    Wt = W.T if transposed_view else np.ascontiguousarray(W.T)
    WH = np.empty(V.shape, np.float32)
    B = np.ones(V.shape, np.float32)
    num = np.empty(H.shape, np.float32)
    den = np.empty(H.shape, np.float32)

    def run() -> None:
        for _ in range(n_iter):
            np.matmul(W, H, out=WH)
            np.matmul(Wt, WH, out=num)
            if n_back > 1:
                np.matmul(Wt, B, out=den)

    return run


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


@contextlib.contextmanager
def limit_blas_threads(n):
    if n is None:
        yield
        return
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=n, user_api="blas"):
        yield


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--frames", type=int, default=5000)
    p.add_argument("--bins", type=int, default=1025)
    p.add_argument("--comp", type=int, default=88)
    p.add_argument("--iters", type=int, default=30)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--threads", type=int, default=None, help="limit BLAS threads (needs threadpoolctl)")
    args = p.parse_args(argv)

    seconds, hits, misses = compile_all()
    how = "loaded from the on-disk cache" if misses == 0 else "compiled"
    print(f"numba kernels {how}: {seconds:.2f} s  (cache hits {hits}, misses {misses})")
    print(f"BLAS: {blas_info()}")

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
    # that load from other processes hits them alike. CPU time (all threads of this
    # process) is recorded too: with --threads 1 it is nearly insensitive to other load.
    cases = {
        ("-", "2-GEMM ref"): make_gemm_reference(V, W, H0, n_iter, 1),
        ("-", "3-GEMM ref"): make_gemm_reference(V, W, H0, n_iter, 2),
        ("-", "2-GEMM W.T"): make_gemm_reference(V, W, H0, n_iter, 1, transposed_view=True),
    }
    for beta in (1.0, 0.5, 2.0):
        cases[(beta, "kernel")] = lambda b=beta: update_activations(V, W, H0, beta=b, n_iter=n_iter, tol=0)
        cases[(beta, "kernel+stop")] = lambda b=beta: update_activations(
            V, W, H0, beta=b, n_iter=n_iter, tol=1e-30, check_every=5
        )
        if beta == 0.5:
            cases[(beta, "kernel exact")] = lambda b=beta: update_activations(
                V, W, H0, beta=b, n_iter=n_iter, tol=0, den_every=1
            )
        cases[(beta, "numpy MU")] = lambda b=beta: numpy_mu(V, W, H0, b, n_iter)
    wall = {key: float("inf") for key in cases}
    cpu = {key: float("inf") for key in cases}
    load_before = os.getloadavg()[0]
    with limit_blas_threads(args.threads):
        for _ in range(args.repeats):
            for key, fn in cases.items():
                c0, t0 = time.process_time(), time.perf_counter()
                fn()
                wall[key] = min(wall[key], time.perf_counter() - t0)
                cpu[key] = min(cpu[key], time.process_time() - c0)
    load_after = os.getloadavg()[0]
    w2, w3 = wall[("-", "2-GEMM ref")], wall[("-", "3-GEMM ref")]
    c2 = cpu[("-", "2-GEMM ref")]
    header = f"{'beta':>5}  {'case':<12} {'wall s':>8} {'/2-GEMM':>8} {'/3-GEMM':>8} {'cpu s':>8} {'cpu/2-GEMM':>10}"
    print(header)
    print("-" * len(header))
    for (beta, name), w in wall.items():
        b = beta if isinstance(beta, str) else f"{beta:.1f}"
        print(f"{b:>5}  {name:<12} {w:8.3f} {w / w2:8.2f} {w / w3:8.2f} {cpu[(beta, name)]:8.3f} {cpu[(beta, name)] / c2:10.2f}")
    for beta in (1.0, 0.5, 2.0):
        Hk, _ = update_activations(V, W, H0, beta=beta, n_iter=n_iter, tol=0, den_every=1)
        Hn = numpy_mu(V, W, H0, beta, n_iter)
        diff = float(np.max(np.abs(Hk - Hn)) / np.max(np.abs(Hn)))
        what = "kernel exact" if beta == 0.5 else "kernel"
        print(f"beta={beta}: max |H_{what} - H_numpy| / max H_numpy = {diff:.1e}")
    # What a lagged update is worth: the exact MU's objective after each of its updates,
    # and where the default's objective after n_iter updates falls on that curve.
    Hd, _ = update_activations(V, W, H0, beta=0.5, n_iter=n_iter, tol=0)
    lagged = beta_divergence(V, W @ Hd, 0.5)
    exact, H = [beta_divergence(V, W @ H0, 0.5)], H0
    for _ in range(n_iter):
        H, _ = update_activations(V, W, H, beta=0.5, n_iter=1, tol=0, den_every=1)
        exact.append(beta_divergence(V, W @ H, 0.5))
    worth = float(np.interp(-lagged, -np.asarray(exact), np.arange(n_iter + 1)))
    print(
        f"beta=0.5: the default's objective after {n_iter} updates (den_every={kernels.DEN_EVERY}) "
        f"is the exact MU's after {worth:.1f} updates ({lagged / exact[-1]:.5f} x its objective)"
    )
    print(
        "kernel: tol=0 (exactly the iterations, no stop test); kernel+stop: objective every 5 "
        "iterations.\nbeta=1 needs 2 GEMMs per iteration, beta=0.5 needs 3 (W@H, W.T@A, W.T@B), "
        "beta=2 none of n_bins size (W.T@W@H only)."
    )
    print(f"load average (1 min) before/after: {load_before:.2f} / {load_after:.2f} on {os.cpu_count()} cores")
    if max(load_before, load_after) > 0.5 * (os.cpu_count() or 1):
        print("WARNING: other processes were running; wall-clock ratios are unreliable.")


if __name__ == "__main__":
    main()
