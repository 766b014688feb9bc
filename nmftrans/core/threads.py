"""How many threads the array code of this process may use for its own thread pools.

A worker process started by :mod:`nmftrans.parallel` sets :data:`BUDGET_ENV` to its share of the
cores; array code that sizes a pool outside BLAS/OpenMP (scipy.fft's ``workers``) asks
:func:`thread_budget` instead of hard-coding ``-1``.
"""

from __future__ import annotations

import os
import sys

__all__ = ["BUDGET_ENV", "thread_budget", "blas_controller", "one_blas_thread_at_load"]

#: Set in worker processes: the number of threads each one may use.
BUDGET_ENV = "NMFTRANS_THREADS"


def thread_budget() -> int:
    """Threads this process may use for its own thread pools (e.g. ``scipy.fft(workers=...)``).

    Returns
    -------
    int
        The per-worker limit inside a worker started by :mod:`nmftrans.parallel`, else ``-1``
        (meaning "all cores", as ``scipy.fft`` understands it).
    """
    value = os.environ.get(BUDGET_ENV, "")
    return int(value) if value.isdigit() and int(value) > 0 else -1


def blas_controller():
    """threadpoolctl's view of the BLAS libraries loaded in this process now.

    Block solvers run one block per thread with single-threaded BLAS:
    ``with blas_controller().limit(limits=1, user_api="blas"): ...``. Made afresh for each use
    (a scan of the process's libraries, about 1 ms): a library loaded later (SciPy's own OpenBLAS,
    brought in by ``scipy.ndimage``) is limited too. Worker processes cap all their pools once at
    start (:mod:`nmftrans.parallel`).
    """
    from threadpoolctl import ThreadpoolController

    return ThreadpoolController()


def one_blas_thread_at_load() -> None:
    """Ask the BLAS that NumPy will load for one thread, before NumPy is imported.

    The solvers run BLAS on one thread always (a long product's bits depend on the thread count,
    :func:`blas_controller`), but OpenBLAS starts a thread per core when it loads, and each of them
    spins before it sleeps: about 70 ms of CPU for every short ``transcribe`` run, for threads that
    never work. A value the user set (``OPENBLAS_NUM_THREADS``) is kept; once NumPy is loaded (the
    Python API, tests) this does nothing. Worker processes set their own share
    (:mod:`nmftrans.parallel`).
    """
    if "numpy" not in sys.modules:
        os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
