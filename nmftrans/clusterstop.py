"""Ctrl-C with ``--scheduler``: cancel what this process gave the dask cluster, and keep the tasks
that are already running there from writing their outputs afterwards.

The interrupted process ends at once (:mod:`nmftrans.interrupt`); without more, the cluster goes
on: tasks being run finish and write their files after the message, and dask cannot stop a task
that a worker thread is running. So each task of a run is wrapped (:func:`guarded`): it runs under
:func:`nmftrans.io.fileio.commit_guard`, which asks the run's ``distributed.Event`` before a file is
committed (renamed into place) and drops the file once the event is set. On an interrupt,
:func:`stop_runs` (an :func:`nmftrans.interrupt.on_abort` hook) sets the events of this process's runs and cancels their futures, within a
bounded time (the scheduler may be unreachable).
"""

from __future__ import annotations

import functools
import threading
import uuid

from nmftrans.errors import NmftransError
from nmftrans.interrupt import on_abort

__all__ = ["guarded", "track", "untrack", "stop_runs"]

# run name -> (client, the run's futures list, whose entries may become None once consumed)
_RUNS: dict = {}
_LOCK = threading.Lock()


def guarded(fn):
    """(run name, a picklable wrapper of ``fn`` for the cluster that honours :func:`stop_runs`)."""
    name = f"nmftrans-stop-{uuid.uuid4().hex}"
    return name, functools.partial(_run_guarded, fn, name)


def track(name: str, client, futures: list) -> None:
    """Remember a run's client and futures, for :func:`stop_runs`."""
    with _LOCK:
        _RUNS[name] = (client, futures)


def untrack(name: str) -> None:
    with _LOCK:
        _RUNS.pop(name, None)


def stop_runs(timeout_s: float = 0.5) -> None:
    """Stop every run of this process on its cluster: set its event (running tasks commit no more
    files) and cancel its futures (queued tasks never start). Waits at most ``timeout_s``."""
    with _LOCK:
        runs = list(_RUNS.items())
        _RUNS.clear()
    if not runs:
        return

    def stop() -> None:
        from distributed import Event

        for name, (client, futures) in runs:
            try:
                Event(name, client=client).set()
            except Exception:  # noqa: BLE001 - the cluster may be gone already
                pass
            try:
                client.cancel([f for f in list(futures) if f is not None], force=True)
            except Exception:  # noqa: BLE001
                pass

    thread = threading.Thread(target=stop, name="nmftrans-cluster-stop", daemon=True)
    thread.start()
    thread.join(timeout_s)


on_abort(stop_runs)  # an interrupt stops the runs of this process (imported by every --scheduler run)


def _run_guarded(fn, name: str, item):
    """On a worker: ``fn(item)``, its outputs committed only while run ``name`` is not stopped."""
    from distributed import Event

    from nmftrans.io.fileio import commit_guard

    event = Event(name)

    def stopped() -> bool:
        try:
            return bool(event.is_set())
        except Exception:  # noqa: BLE001 - scheduler unreachable: the client decides what it keeps
            return False

    if stopped():
        raise NmftransError("the run was interrupted")
    with commit_guard(stopped):
        return fn(item)
