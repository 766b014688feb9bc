"""Whether Numba's on-disk cache already holds the compiled kernels.

The first run after an install compiles every kernel (10-20 s on a laptop) and says nothing; the
CLI asks :func:`kernels_cached` first and prints one line when they are not, so that the wait is
not taken for a hang.
"""

from __future__ import annotations

import importlib
import os

__all__ = ["kernels_cached", "KERNEL_MODULES"]

#: Modules whose ``@numba.njit(cache=True)`` functions a transcription calls.
KERNEL_MODULES = ("nmftrans.core.kernels", "nmftrans.core.notes", "nmftrans.core.onset_channel")


def kernels_cached() -> bool:
    """False when most cached Numba functions of :data:`KERNEL_MODULES` have no index on disk.

    Uses the location Numba itself resolved (``NUMBA_CACHE_DIR``, the package's ``__pycache__``
    or the user-wide cache). Helpers only ever inlined into other kernels never get an index of
    their own, hence "most"; any surprise in Numba's internals counts as cached (no message).
    """
    present = missing = 0
    for name in KERNEL_MODULES:
        module = importlib.import_module(name)
        for obj in vars(module).values():
            try:
                index = obj._cache._cache_file._index_path
            except AttributeError:
                continue
            if isinstance(index, str):
                if os.path.exists(index):
                    present += 1
                else:
                    missing += 1
    return missing <= present
