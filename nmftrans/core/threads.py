"""How many threads the array code of this process may use for its own thread pools.

A worker process started by :mod:`nmftrans.parallel` sets :data:`BUDGET_ENV` to its share of the
cores; array code that sizes a pool outside BLAS/OpenMP (scipy.fft's ``workers``) asks
:func:`thread_budget` instead of hard-coding ``-1``.
"""

from __future__ import annotations

import functools
import os

__all__ = ["BUDGET_ENV", "thread_budget", "blas_controller"]

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


@functools.lru_cache(maxsize=1)
def blas_controller():
    """threadpoolctl's view of the BLAS libraries loaded in this process, made once.

    Block solvers run one block per thread with single-threaded BLAS:
    ``with blas_controller().limit(limits=1, user_api="blas"): ...``. (Scanning the process's
    libraries costs about 1 ms, hence the cache; worker processes cap all their pools once at
    start, :mod:`nmftrans.parallel`.)
    """
    from threadpoolctl import ThreadpoolController

    return ThreadpoolController()
