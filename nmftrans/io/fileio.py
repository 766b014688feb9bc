"""Files on disk: atomic writing (a temporary file beside the target, then a rename), outputs that
are streams, and the one walker of input folders.

An interrupted run never leaves a half-written output, and an existing file is replaced in one step.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import stat
import tempfile
import threading
from pathlib import Path
from typing import Iterator

from nmftrans.errors import NmftransError

# Temporary files being written by this process, removed by remove_partial() on an interrupt.
_PARTIAL: set[Path] = set()
# Per thread: a function saying the run was stopped, asked before each output is committed.
_GUARD = threading.local()


@contextlib.contextmanager
def commit_guard(stopped) -> Iterator[None]:
    """Within the block, this thread's outputs are dropped instead of committed (renamed into
    place or copied into a stream) once ``stopped()`` is true: a task on a cluster whose run was
    interrupted (:mod:`nmftrans.clusterstop`)."""
    previous = getattr(_GUARD, "stopped", None)
    _GUARD.stopped = stopped
    try:
        yield
    finally:
        _GUARD.stopped = previous


def files_under(folder: str | Path, suffixes: tuple[str, ...] | None = None) -> list[Path]:
    """The files under ``folder``, recursively, sorted; hidden files and folders are left out.

    Parameters
    ----------
    folder : path
    suffixes : tuple of str, optional
        Keep only these (lower-case, with the dot); compared case-insensitively.

    Returns
    -------
    list of Path
        Regular files (or links to them) in sorted path order.
    """
    folder = Path(folder)
    out = []
    for p in folder.rglob("*"):
        if any(part.startswith(".") for part in p.relative_to(folder).parts):
            continue
        if (suffixes is None or p.suffix.lower() in suffixes) and p.is_file():
            out.append(p)
    return sorted(out)


def remove_partial() -> None:
    """Delete the temporary files this process is writing (an interrupt: they will never be renamed)."""
    for tmp in list(_PARTIAL):
        with contextlib.suppress(OSError):
            tmp.unlink()
    _PARTIAL.clear()


def _stat(path: Path):
    """``os.stat`` (following links), None when nothing is there; a one-line error otherwise."""
    try:
        return os.stat(path)
    except FileNotFoundError:
        return None
    except NotADirectoryError:
        raise NmftransError(f"{path}: folder {path.parent} does not exist (a file is in the way)") from None
    except OSError as exc:
        raise NmftransError(f"{path}: cannot write ({exc.strerror})") from None


def own_descriptor(path: str | Path) -> int | None:
    """The open file descriptor of this process that ``path`` names (``/dev/stdout``,
    ``/dev/stderr``, ``/dev/fd/N``, ``/proc/self/fd/N``), else None.

    Such a path is the stream the shell gave this process, whatever it is open on: with
    ``-o /dev/stdout > notes.mid`` it leads to a regular file, which must be written through
    the descriptor (at its offset, keeping ``>>``'s append) rather than replaced by name.
    """
    text = os.path.abspath(str(path))  # not resolved: /dev/stdout is itself a link
    named = {"/dev/stdin": 0, "/dev/stdout": 1, "/dev/stderr": 2}
    if text in named:
        fd = named[text]
    else:
        head, _, tail = text.rpartition("/")
        if head not in ("/dev/fd", "/proc/self/fd", f"/proc/{os.getpid()}/fd") or not tail.isdigit():
            return None
        fd = int(tail)
    try:
        os.fstat(fd)
    except OSError:
        return None
    return fd


def is_stream(path: str | Path) -> bool:
    """Whether ``path`` is (or links to) a device or FIFO (``/dev/stdout``, a named pipe), or names
    one of this process's open descriptors (:func:`own_descriptor`): an output that is one file,
    written through, never a folder."""
    if own_descriptor(path) is not None:
        return True
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return False
    return stat.S_ISCHR(mode) or stat.S_ISFIFO(mode) or stat.S_ISBLK(mode)


def existing_file(path: str | Path) -> bool:
    """Whether ``path`` is (or links to) a regular file: an output that ``--overwrite`` guards.
    Devices, FIFOs and this process's own descriptors are not: writing into them is what the
    user asked for."""
    if own_descriptor(path) is not None:
        return False
    try:
        return stat.S_ISREG(os.stat(path).st_mode)
    except OSError:
        return False


def check_output(path: str | Path, *, overwrite: bool) -> None:
    """Fail now, before any work, if ``path`` cannot be written as an output.

    ``-`` (stdout), a device or a FIFO (written through) and a missing file in an existing,
    writable folder pass; an existing file passes only with ``overwrite``; a symlink is judged by
    what it points to (it is written through, never replaced).

    Raises
    ------
    NmftransError
        The path is a folder, exists without ``overwrite``, or its folder is missing or not writable.
    """
    path = Path(path)
    if str(path) == "-":
        return
    own = own_descriptor(path)
    if own is not None:  # the shell's stream (/dev/stdout): written through if it is open for writing
        import fcntl

        if fcntl.fcntl(own, fcntl.F_GETFL) & os.O_ACCMODE == os.O_RDONLY:
            raise NmftransError(f"{path}: cannot write (open for reading only)")
        return
    st = _stat(path)
    if st is not None and stat.S_ISDIR(st.st_mode):
        raise NmftransError(f"{path}: is a folder")
    if st is not None and not stat.S_ISREG(st.st_mode):
        if not os.access(path, os.W_OK):
            raise NmftransError(f"{path}: cannot write (permission denied)")
        return
    if st is not None and not overwrite:
        raise NmftransError(f"{path}: exists (use --overwrite to replace it)")
    final = Path(os.path.realpath(path)) if path.is_symlink() else path
    folder = final.parent if str(final.parent) else Path(".")
    if not folder.is_dir():
        raise NmftransError(f"{path}: folder {folder} does not exist")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise NmftransError(f"{path}: cannot write in {folder} (permission denied)")


@contextlib.contextmanager
def atomic_path(path: str | Path, *, overwrite: bool = True) -> Iterator[Path]:
    """Yield a temporary path in the target's folder; rename it onto ``path`` on success.

    A symlink is written through: its target is replaced and the link stays. A device or FIFO
    (``/dev/stdout``, a named pipe) cannot be renamed onto: the finished temporary file is
    copied into it instead; a path naming this process's own descriptor (``/dev/stdout``
    redirected to a file) is written through that descriptor.

    Parameters
    ----------
    path : str or Path
        Final destination.
    overwrite : bool
        If False and ``path`` is an existing regular file, raise :class:`NmftransError` before
        writing anything.
    """
    path = Path(path)
    check_output(path, overwrite=overwrite)
    own = own_descriptor(path)
    st = _stat(path) if own is None else None
    special = own is not None or (st is not None and not stat.S_ISREG(st.st_mode))
    final = Path(os.path.realpath(path)) if path.is_symlink() and not special else path
    folder = final.parent if str(final.parent) else Path(".")
    try:
        if special:  # a device or FIFO: its folder (/dev) is not ours to write temporary files in
            fd, tmp = tempfile.mkstemp(prefix=".nmftrans.", suffix=".part" + path.suffix)
        else:
            fd, tmp = tempfile.mkstemp(prefix=f".{final.name}.", suffix=".part" + final.suffix, dir=folder)
    except OSError as exc:
        raise NmftransError(f"{path}: cannot write ({exc.strerror})") from None
    os.close(fd)
    tmp_path = Path(tmp)
    _PARTIAL.add(tmp_path)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp_path, 0o666 & ~umask)  # mkstemp makes 0600; outputs get the usual permissions
    try:
        yield tmp_path
        stopped = getattr(_GUARD, "stopped", None)
        if stopped is not None and stopped():
            raise NmftransError(f"{path}: not written (the run was interrupted)")
        if own is not None:  # the shell's stream: write at its offset, never reopen or truncate it
            _copy_to_descriptor(tmp_path, own)
        elif special:
            with open(tmp_path, "rb") as src, open(path, "wb") as dst:
                shutil.copyfileobj(src, dst)
        else:
            os.replace(tmp_path, final)
    except OSError as exc:
        raise NmftransError(f"{path}: cannot write ({exc.strerror})") from None
    finally:
        _PARTIAL.discard(tmp_path)
        if tmp_path.exists():
            tmp_path.unlink()


def _copy_to_descriptor(src: Path, fd: int) -> None:
    """Write the bytes of file ``src`` to open descriptor ``fd`` (after what Python buffered for it)."""
    import sys

    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            if stream.fileno() == fd:
                stream.flush()
    with open(src, "rb") as f:
        while chunk := f.read(1 << 20):
            view = memoryview(chunk)
            while view:
                view = view[os.write(fd, view):]


def write_text_atomic(path: str | Path, text: str, *, overwrite: bool = True) -> None:
    """Write a text file atomically."""
    with atomic_path(path, overwrite=overwrite) as tmp:
        tmp.write_text(text, encoding="utf-8")


def read_npz(path: str | Path, keys, what: str) -> dict:
    """Read the named arrays of an ``.npz`` file without pickle; a clear one-line error otherwise.

    Parameters
    ----------
    path : str or Path
    keys : sequence of str
        Entries that must all be present.
    what : str
        What the file should be, for messages (e.g. ``"dictionary"``).

    Returns
    -------
    dict of str -> np.ndarray
    """
    import zipfile

    import numpy as np

    path = Path(path)
    if not path.is_file():
        raise NmftransError(f"{path}: no such {what} file")
    if not zipfile.is_zipfile(path):
        raise NmftransError(f"{path}: not a valid .npz file")
    try:
        with np.load(path, allow_pickle=False) as npz:
            missing = [k for k in keys if k not in npz.files]
            if missing:
                raise NmftransError(f"{path}: not an nmftrans {what} file (missing {', '.join(missing)})")
            return {k: npz[k] for k in keys}
    except ValueError as exc:
        if "pickle" in str(exc).lower() or "object" in str(exc).lower():
            raise NmftransError(f"{path}: contains object arrays; refusing to load it") from None
        raise NmftransError(f"{path}: not a valid .npz file ({exc})") from None
    except (OSError, zipfile.BadZipFile, EOFError, KeyError) as exc:
        raise NmftransError(f"{path}: not a valid .npz file ({exc})") from None
