"""Ctrl-C that stops a run at once: no traceback, no output after it, a true report, exit 130.

A Python ``KeyboardInterrupt`` reaches the main thread only between bytecodes: a long Numba solve
(``--iterations 100000``), a thread pool's ``shutdown(wait=True)`` or worker processes that go on
with their queued files would delay it or write files after it. :func:`stop_on_interrupt` instead
handles SIGINT/SIGTERM itself, in the main thread's signal handler or, when the main thread is
inside a (GIL-free) kernel, in a watcher thread woken by :func:`signal.set_wakeup_fd`. Either one:

1. runs the hooks registered with :func:`on_abort` (:mod:`nmftrans.parallel` registers its
   ``terminate_workers``: the worker processes remove their own half-written temporary files,
   :func:`worker_signals`);
2. removes this process's half-written temporary files (:func:`nmftrans.io.fileio.remove_partial`);
3. prints the caller's one-line report on stderr (written after the workers are gone, so that a
   count of finished files read from disk is true);
4. ends the process with ``os._exit(130)``.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
from typing import Callable, Iterator

__all__ = ["interruptible", "on_abort", "stop_on_interrupt", "worker_signals", "EXIT_INTERRUPTED"]

EXIT_INTERRUPTED = 130
# How long the watcher thread leaves the main thread to handle a signal itself.
_MAIN_THREAD_GRACE_S = 0.3

_lock = threading.Lock()
_abort_hooks: list[Callable[[], None]] = []


def on_abort(hook: Callable[[], None]) -> None:
    """Run ``hook`` first when an interrupt stops the process (e.g. to stop worker processes)."""
    if hook not in _abort_hooks:
        _abort_hooks.append(hook)


def _write(fd: int, text: str) -> None:
    """Write without Python's buffered streams (their lock may be held by the interrupted code)."""
    with contextlib.suppress(OSError):
        os.write(fd, text.encode("utf-8", "replace"))


def _abort(report: Callable[[], str] | None, code: int) -> None:
    """Stop everything and exit; only the first caller gets past the lock."""
    if not _lock.acquire(blocking=False):
        return
    try:
        from nmftrans.io import fileio

        for hook in list(_abort_hooks):
            with contextlib.suppress(Exception):
                hook()
        fileio.remove_partial()
        message = "interrupted"
        if report is not None:
            with contextlib.suppress(Exception):
                message = report()
        if os.isatty(2):
            _write(2, "\r\x1b[2K\x1b[?25h")  # a progress bar's line and hidden cursor
        _write(2, f"error: {message}\n")
    finally:
        os._exit(code)


def _install(on_signal: Callable[[], None], signals: tuple[int, ...]) -> Callable[[], None]:
    """Run ``on_signal`` for ``signals`` from the main thread's handler or a watcher thread.

    Returns a function that restores the previous handlers (the watcher thread is a daemon that
    ends with the pipe).
    """
    if threading.current_thread() is not threading.main_thread():
        return lambda: None
    handling = threading.Event()
    stopped = threading.Event()

    def handler(signum, frame):
        handling.set()
        on_signal()

    read_fd, write_fd = os.pipe()
    os.set_blocking(write_fd, False)
    previous = {s: signal.signal(s, handler) for s in signals}
    try:
        previous_fd = signal.set_wakeup_fd(write_fd, warn_on_full_buffer=False)
    except ValueError:  # not the main thread of the main interpreter
        previous_fd = None

    def watch():
        # Only this thread closes read_fd: closed under a blocked read elsewhere, its number
        # could be reused by another file whose bytes would read as signals.
        try:
            while not stopped.is_set():
                data = os.read(read_fd, 64)
                if not data or stopped.is_set():
                    return
                if any(b in signals for b in data) and not handling.wait(_MAIN_THREAD_GRACE_S):
                    if not stopped.is_set():
                        on_signal()  # the main thread is busy in a kernel: act from here
        except OSError:
            return
        finally:
            with contextlib.suppress(OSError):
                os.close(read_fd)

    if previous_fd is not None:
        threading.Thread(target=watch, name="nmftrans-interrupt", daemon=True).start()
    else:
        os.close(read_fd)

    def restore() -> None:
        if previous_fd is not None:
            signal.set_wakeup_fd(previous_fd)
        for s, h in previous.items():
            signal.signal(s, h)
        stopped.set()
        with contextlib.suppress(OSError):
            os.write(write_fd, b"\0")  # wakes the watcher, which then ends
        with contextlib.suppress(OSError):
            os.close(write_fd)

    return restore


@contextlib.contextmanager
def stop_on_interrupt(report: Callable[[], str] | None = None) -> Iterator[None]:
    """Within the block, SIGINT or SIGTERM stops the process at once (see the module docstring).

    Parameters
    ----------
    report : callable, optional
        Called once the workers are stopped; returns the one-line message (without ``error:``),
        e.g. how many files were finished. Default: ``"interrupted"``.
    """
    restore = _install(lambda: _abort(report, EXIT_INTERRUPTED), (signal.SIGINT, signal.SIGTERM))
    try:
        yield
    finally:
        restore()


def interruptible(message: str):
    """Decorator: the whole call runs under :func:`stop_on_interrupt` with a fixed ``message``."""
    import functools

    def wrap(fn):
        @functools.wraps(fn)
        def run(*args, **kwargs):
            with stop_on_interrupt(lambda: message):
                return fn(*args, **kwargs)
        return run
    return wrap


def worker_signals() -> None:
    """In a worker process: leave Ctrl-C to the parent; on SIGTERM remove partial files and exit.

    Called by the process-pool initializer. A forked worker inherits the parent's wakeup pipe,
    which is detached first so that the worker's signals do not wake the parent's watcher.
    """
    if threading.current_thread() is not threading.main_thread():
        return
    with contextlib.suppress(ValueError):
        signal.set_wakeup_fd(-1)
    signal.signal(signal.SIGINT, signal.SIG_IGN)

    def die() -> None:
        from nmftrans.io import fileio

        fileio.remove_partial()
        os._exit(143)

    _install(die, (signal.SIGTERM,))
