"""Run one function over many items: in-process, on local worker processes, or on a dask cluster.

The use cases (``transcribe`` over a batch of files, ``learn`` over labelled files) call
:func:`map_ordered` or :func:`reduce_sum` with ``jobs`` and ``scheduler`` from the CLI; this module
knows nothing about audio.

Contract
--------
* Results come back in **input order**, whatever ``jobs`` is, so outputs (files written, messages,
  sums) are identical for any number of workers. :func:`reduce_sum` adds the results in input
  order too, so its sums are bit-identical for any ``jobs`` or cluster.
* A :class:`~nmftrans.errors.NmftransError` raised by ``fn(item)`` is a user-facing failure of that
  item: it is returned with the item and the other items go on. Any other exception is a bug: it
  propagates to the caller (the remaining work is cancelled).
* ``jobs > 1`` uses worker processes (:class:`concurrent.futures.ProcessPoolExecutor`): ``fn``
  must be picklable, i.e. a **top-level function** of an importable module (or a
  :func:`functools.partial` of one with picklable arguments), never a lambda or closure; items and
  results must be picklable too. Each worker is limited to ``threads_per_worker`` BLAS/OpenMP/Numba
  threads (default 1) so that ``jobs`` workers do not oversubscribe the cores.
* ``scheduler`` (an address such as ``"tcp://host:8786"``, a ``distributed.Client`` or a
  ``LocalCluster``) sends the work to a dask.distributed cluster; ``jobs`` is then ignored. The
  workers need the same nmftrans installed and must see the input files at the same paths.

Memory
------
At most ``2 * jobs`` items are in flight on local workers, so finished results wait in the parent
only while an earlier item is still running. On a cluster every item is submitted at once; results
stay on the workers until the parent gathers them, in order, one at a time. :func:`reduce_sum`
keeps one running total plus the result being added (it does not tree-reduce on the workers, so
that the summation order, hence the bits, do not depend on the cluster).
"""

from __future__ import annotations

import collections
import os
import sys
from typing import Any, Callable, Iterable, Iterator, Sequence

from nmftrans.core.threads import BUDGET_ENV
from nmftrans.errors import NmftransError
from nmftrans.interrupt import on_abort, worker_signals

__all__ = ["Runner", "map_ordered", "reduce_sum", "terminate_workers", "THREAD_ENV_VARS"]

# Environment variables read by BLAS/OpenMP/Numba libraries when they load.
THREAD_ENV_VARS = (
    "OMP_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "MKL_NUM_THREADS",
    "BLIS_NUM_THREADS",
    "VECLIB_MAXIMUM_THREADS",
    "NUMEXPR_NUM_THREADS",
    "NUMBA_NUM_THREADS",
)
# Seconds to wait for a dask scheduler before reporting it unreachable.
CONNECT_TIMEOUT_S = 5.0

_limits = None  # threadpoolctl limiter kept alive in a worker
_EXECUTORS: list = []  # process pools alive in this process, for terminate_workers()


def terminate_workers(grace_s: float = 0.5) -> None:
    """Stop every worker process of this process's pools now (an interrupt).

    Each worker gets SIGTERM (it removes its half-written files and exits, see
    :func:`nmftrans.interrupt.worker_signals`); one still alive after ``grace_s`` is killed.
    Returns once all of them are gone, so that no file is written afterwards. (Runs on a dask
    cluster are stopped by :func:`nmftrans.clusterstop.stop_runs`, its own interrupt hook.)
    """
    import time

    processes = [p for ex in list(_EXECUTORS) for p in list((getattr(ex, "_processes", None) or {}).values())]
    for p in processes:
        try:
            p.terminate()
        except (OSError, ValueError, AttributeError):
            pass
    deadline = time.monotonic() + grace_s
    for p in processes:
        try:
            p.join(max(0.0, deadline - time.monotonic()))
            if p.is_alive():
                p.kill()  # cannot be ignored: wait until it is gone, so that nothing is written after
                p.join(10.0)
        except (OSError, ValueError, AssertionError, AttributeError):
            pass


on_abort(terminate_workers)


def _init_worker(threads: int) -> None:
    """Process-pool initializer: cap BLAS/OpenMP/Numba threads of this worker at ``threads``.

    The environment variables take effect for libraries loaded after this point (spawn /
    forkserver workers import NumPy later); threadpoolctl and ``numba.set_num_threads`` cap the
    libraries already loaded (fork workers inherit a loaded NumPy).
    """
    global _limits
    worker_signals()
    numba_loaded = "numba" in sys.modules
    for var in THREAD_ENV_VARS:
        # A fork worker inherits Numba's launched thread pool; Numba re-reads NUMBA_NUM_THREADS
        # whenever it compiles (a cold cache) and refuses a changed value: cap it with
        # set_num_threads below instead.
        if not (numba_loaded and var == "NUMBA_NUM_THREADS"):
            os.environ[var] = str(threads)
    os.environ[BUDGET_ENV] = str(threads)
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        pass
    else:
        _limits = threadpool_limits(limits=threads)
    if numba_loaded:
        import numba

        numba.set_num_threads(max(1, min(threads, numba.config.NUMBA_NUM_THREADS)))


def _default_start_method() -> str | None:
    """``fork`` on Linux (workers start in milliseconds, inherit loaded modules and caches),
    the platform default elsewhere; ``NMFTRANS_START_METHOD`` overrides (``spawn``, ``forkserver``)."""
    chosen = os.environ.get("NMFTRANS_START_METHOD")
    if chosen:
        return chosen
    return "fork" if sys.platform.startswith("linux") else None


class Runner:
    """A reusable pool: a plain loop (``jobs=1``), local worker processes, or a dask client.

    Use it as a context manager when the same workers serve several calls (e.g. one
    :meth:`reduce_sum` per learning epoch), so that processes start once::

        with Runner(jobs=4) as run:
            for epoch in range(50):
                num, den = run.reduce_sum(partial(update_terms, W=W), files)

    Parameters
    ----------
    jobs : int
        Worker processes; 1 runs in this process without a pool. 0 or negative: all CPUs
        (``os.cpu_count()``).
    scheduler : str or distributed.Client or distributed.LocalCluster, optional
        A dask.distributed scheduler; overrides ``jobs``.
    threads_per_worker : int
        BLAS/OpenMP/Numba threads of each local worker process (``jobs > 1`` only).
    connect_timeout : float
        Seconds to wait for the scheduler.

    Raises
    ------
    NmftransError
        dask.distributed is not installed, or the scheduler cannot be reached.
    """

    def __init__(self, jobs: int = 1, scheduler: Any = None, *, threads_per_worker: int = 1,
                 connect_timeout: float = CONNECT_TIMEOUT_S):
        if jobs is None or jobs < 1:
            jobs = os.cpu_count() or 1
        self.jobs = int(jobs)
        self.scheduler = scheduler
        self.threads_per_worker = max(1, int(threads_per_worker))
        self.connect_timeout = connect_timeout
        self._executor = None
        self._client = None
        self._own_client = False

    # -- lifetime ---------------------------------------------------------------------------

    def __enter__(self) -> "Runner":
        self._start()
        return self

    def __exit__(self, *exc) -> bool:
        self.close()
        return False

    def _start(self) -> None:
        if self.scheduler is not None:
            if self._client is None:
                self._client, self._own_client = _connect(self.scheduler, self.connect_timeout)
        elif self.jobs > 1 and self._executor is None:
            import multiprocessing
            from concurrent.futures import ProcessPoolExecutor

            method = _default_start_method()
            ctx = multiprocessing.get_context(method) if method else None
            self._executor = ProcessPoolExecutor(max_workers=self.jobs, mp_context=ctx,
                                                 initializer=_init_worker, initargs=(self.threads_per_worker,))
            _EXECUTORS.append(self._executor)

    def close(self) -> None:
        """Stop the worker processes / close a client this runner opened (idempotent)."""
        if self._executor is not None:
            self._executor.shutdown(wait=True, cancel_futures=True)
            if self._executor in _EXECUTORS:
                _EXECUTORS.remove(self._executor)
            self._executor = None
        if self._client is not None:
            if self._own_client:
                self._client.close()
            self._client = None

    @property
    def kind(self) -> str:
        """``'serial'``, ``'processes'`` or ``'dask'``: what runs the items."""
        return "dask" if self.scheduler is not None else ("processes" if self.jobs > 1 else "serial")

    # -- work -------------------------------------------------------------------------------

    def map_ordered(self, fn: Callable[[Any], Any], items: Iterable[Any]) -> Iterator[tuple[Any, Any, NmftransError | None]]:
        """``(item, fn(item), None)`` or ``(item, None, error)`` for each item, in input order.

        See :func:`map_ordered`.
        """
        items = list(items)
        if self.kind == "serial":
            yield from _serial(fn, items)
            return
        self._start()
        if self.kind == "dask":
            yield from _dask(self._client, fn, items)
        else:
            yield from _processes(self._executor, fn, items, window=2 * self.jobs)

    def reduce_sum(self, fn: Callable[[Any], Sequence], items: Iterable[Any]) -> tuple[tuple | None, list[tuple[Any, NmftransError]]]:
        """Elementwise sum over items of the tuples of arrays ``fn(item)`` returns, in input order.

        See :func:`reduce_sum`.
        """
        total: list | None = None
        failed: list[tuple[Any, NmftransError]] = []
        for item, result, error in self.map_ordered(fn, items):
            if error is not None:
                failed.append((item, error))
                continue
            if result is None:
                continue
            parts = tuple(result)
            if total is None:
                total = [_copy(p) for p in parts]
            else:
                if len(parts) != len(total):
                    raise ValueError(f"fn returned {len(parts)} arrays for {item!r}, {len(total)} before")
                for k, p in enumerate(parts):
                    total[k] = _add(total[k], p)
        return (tuple(total) if total is not None else None), failed


def map_ordered(fn: Callable[[Any], Any], items: Iterable[Any], *, jobs: int = 1, scheduler: Any = None,
                threads_per_worker: int = 1) -> Iterator[tuple[Any, Any, NmftransError | None]]:
    """Apply ``fn`` to every item; yield ``(item, result, error)`` in input order.

    Parameters
    ----------
    fn : callable
        ``fn(item) -> result``. With ``jobs > 1`` or a scheduler it must be picklable: a top-level
        function of an importable module (or a ``functools.partial`` of one), not a lambda or a
        closure. It may raise :class:`~nmftrans.errors.NmftransError` for a bad item.
    items : iterable
        Consumed at once (the list is needed to keep the order); items must be picklable when
        they travel to workers.
    jobs : int
        1 (default): a plain loop in this process, no pool. ``N > 1``: ``N`` worker processes,
        each limited to ``threads_per_worker`` BLAS/Numba threads. ``<= 0``: one per CPU.
    scheduler : str or distributed.Client or distributed.LocalCluster, optional
        Run on a dask.distributed cluster instead (``"tcp://host:8786"``); ``jobs`` is ignored.
    threads_per_worker : int
        Thread cap of each local worker process.

    Yields
    ------
    item : object
        The item, as given.
    result : object or None
        ``fn(item)``, or None when it failed.
    error : NmftransError or None
        The error ``fn(item)`` raised, or None.

    Raises
    ------
    NmftransError
        A scheduler was given but dask.distributed is missing or the scheduler is unreachable.
    Exception
        Anything else ``fn`` raised (a bug): the remaining items are cancelled.

    Notes
    -----
    The generator owns its workers: they stop when it is exhausted or closed. To reuse workers
    over several calls, use :class:`Runner`.
    """
    runner = Runner(jobs, scheduler, threads_per_worker=threads_per_worker)
    try:
        yield from runner.map_ordered(fn, items)
    finally:
        runner.close()


def reduce_sum(fn: Callable[[Any], Sequence], items: Iterable[Any], *, jobs: int = 1, scheduler: Any = None,
               threads_per_worker: int = 1) -> tuple[tuple | None, list[tuple[Any, NmftransError]]]:
    """Sum, elementwise and in input order, the tuples of arrays that ``fn`` returns per item.

    Meant for sufficient statistics (``learn``: ``X Yᵀ`` and ``Y Yᵀ`` per labelled file, or an
    epoch's MU numerator and denominator).

    Parameters
    ----------
    fn : callable
        ``fn(item) -> tuple of np.ndarray`` (same length and shapes for every item), or None to
        contribute nothing. Picklable as in :func:`map_ordered`. May raise ``NmftransError`` to
        skip an item.
    items : iterable
    jobs, scheduler, threads_per_worker
        As in :func:`map_ordered`.

    Returns
    -------
    sums : tuple of np.ndarray or None
        The elementwise sums (new arrays; the first result is copied, never modified in place), or
        None when no item contributed.
    failed : list of (item, NmftransError)
        The items that raised ``NmftransError``, in input order.

    Notes
    -----
    The parent holds the running total and one result at a time (results are gathered in order
    and added as they arrive), plus up to ``2 * jobs`` finished results waiting behind a slower
    earlier item. Summing in input order makes the sums bit-identical for every ``jobs`` and
    cluster size.
    """
    with Runner(jobs, scheduler, threads_per_worker=threads_per_worker) as runner:
        return runner.reduce_sum(fn, items)


# -- implementations ------------------------------------------------------------------------


def _copy(x):
    copy = getattr(x, "copy", None)
    return copy() if callable(copy) else x


def _add(total, part):
    """``total + part``, in place when ``total`` is an array of a type that holds the sum."""
    try:
        import numpy as np
    except ImportError:  # pragma: no cover - numpy is a dependency
        return total + part
    if isinstance(total, np.ndarray) and np.result_type(total, part) == total.dtype and np.shape(part) == total.shape:
        total += part
        return total
    return total + part


def _serial(fn, items):
    for item in items:
        try:
            result = fn(item)
        except NmftransError as exc:
            yield item, None, exc
        else:
            yield item, result, None


def _processes(executor, fn, items, window: int):
    """Keep at most ``window`` items in flight; yield the oldest as soon as it is done."""
    pending: collections.deque = collections.deque()
    it = iter(items)
    try:
        for item in it:
            pending.append((item, executor.submit(fn, item)))
            if len(pending) >= window:
                yield _outcome(*pending.popleft())
        while pending:
            yield _outcome(*pending.popleft())
    finally:
        for _, future in pending:  # a bug raised, or the consumer stopped early
            future.cancel()


def _outcome(item, future):
    try:
        return item, future.result(), None
    except NmftransError as exc:
        return item, None, exc


def _connect(scheduler, timeout: float):
    """(client, owned): a dask Client for an address, a Client or a cluster object."""
    try:
        from distributed import Client
    except ImportError:
        raise NmftransError("--scheduler needs dask.distributed: install nmftrans[cluster]") from None
    if isinstance(scheduler, Client):
        return scheduler, False
    address = getattr(scheduler, "scheduler_address", scheduler)  # LocalCluster and friends
    if isinstance(address, str) and "://" not in address:
        address = "tcp://" + address
    if isinstance(address, str) and address.startswith("inproc://") and f"/{os.getpid()}/" not in address:
        # another process's in-process scheduler: unreachable, and a Client half built for it
        # blocks the exit for 10 s and prints a traceback
        raise NmftransError(f"{address} is an in-process scheduler of another process; give its tcp://HOST:PORT")
    if isinstance(address, str) and address.startswith("tcp://"):
        from distributed.comm.addressing import parse_address, parse_host_port

        try:  # a malformed address fails here, before a half-built Client hangs at exit
            parse_host_port(parse_address(address)[1])
        except ValueError as exc:
            raise NmftransError(f"bad dask scheduler address {address!r} ({exc}); use tcp://HOST:PORT") from None
    try:
        client = Client(address, timeout=f"{timeout}s", set_as_default=False)
    except (OSError, TimeoutError, ValueError) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise NmftransError(f"cannot reach the dask scheduler at {address} ({reason[:160]})") from None
    return client, True


def _dask(client, fn, items):
    if not items:
        return
    from nmftrans import clusterstop

    name, task = clusterstop.guarded(fn)  # an interrupt cancels these and stops their outputs
    futures = client.map(task, items, pure=False)
    clusterstop.track(name, client, futures)
    try:
        for i, (item, future) in enumerate(zip(items, futures)):
            try:
                result = future.result()
            except NmftransError as exc:
                yield item, None, exc
            else:
                yield item, result, None
            futures[i] = None  # drop our reference: the cluster forgets the result
    finally:
        clusterstop.untrack(name)
        remaining = [f for f in futures if f is not None and not f.done()]
        if remaining:
            client.cancel(remaining)
