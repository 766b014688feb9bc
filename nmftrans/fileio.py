"""Atomic file writing: write to a temporary file beside the target, then rename.

An interrupted run never leaves a half-written output, and an existing file is replaced in one step.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import Iterator

from nmftrans.errors import NmftransError

# Temporary files being written by this process, removed by remove_partial() on an interrupt.
_PARTIAL: set[Path] = set()


def remove_partial() -> None:
    """Delete the temporary files this process is writing (an interrupt: they will never be renamed)."""
    for tmp in list(_PARTIAL):
        with contextlib.suppress(OSError):
            tmp.unlink()
    _PARTIAL.clear()


@contextlib.contextmanager
def atomic_path(path: str | Path, *, overwrite: bool = True) -> Iterator[Path]:
    """Yield a temporary path in the target's folder; rename it onto ``path`` on success.

    Parameters
    ----------
    path : str or Path
        Final destination.
    overwrite : bool
        If False and ``path`` exists, raise :class:`NmftransError` before writing anything.
    """
    path = Path(path)
    if not overwrite and path.exists():
        raise NmftransError(f"{path}: exists (use --overwrite to replace it)")
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise NmftransError(f"{path}: folder {folder} does not exist")
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part" + path.suffix, dir=folder)
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
        os.replace(tmp_path, path)
    except OSError as exc:
        raise NmftransError(f"{path}: cannot write ({exc.strerror})") from None
    finally:
        _PARTIAL.discard(tmp_path)
        if tmp_path.exists():
            tmp_path.unlink()


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
