"""Real FFT along the last axis, as ``scipy.fft.rfft`` computes it, without importing ``scipy.fft``.

``import scipy.fft`` takes 0.1-0.2 s (its ``fftlog`` part pulls in ``scipy.special`` and SciPy's
array-API layer), a fifth of a short file's whole run. The transform itself is SciPy's compiled
``pypocketfft`` extension, which ``scipy.fft.rfft`` calls as ``r2c(x, (axis,), True, 0, None,
workers)``. :func:`rfft` loads that extension alone (under its own module name, so a later
``import scipy.fft`` uses the same module) and makes the same call, so its result is bit for bit
``scipy.fft.rfft``'s. Where the extension is not where this SciPy keeps it, :func:`rfft` is
``scipy.fft.rfft``.
"""

from __future__ import annotations

import functools
import importlib.machinery
import importlib.util
import os
import sys

import numpy as np

__all__ = ["rfft"]

_NAME = "scipy.fft._pocketfft.pypocketfft"


@functools.lru_cache(maxsize=1)
def _pocketfft():
    """SciPy's ``pypocketfft`` extension module, or None where it cannot be loaded on its own."""
    module = sys.modules.get(_NAME)
    if module is not None:
        return module
    try:
        spec = importlib.util.find_spec("scipy")  # locates the package without importing it
        for folder in spec.submodule_search_locations or ():
            for suffix in importlib.machinery.EXTENSION_SUFFIXES:
                path = os.path.join(folder, "fft", "_pocketfft", "pypocketfft" + suffix)
                if os.path.isfile(path):
                    loader = importlib.machinery.ExtensionFileLoader(_NAME, path)
                    module = importlib.util.module_from_spec(importlib.util.spec_from_loader(_NAME, loader))
                    loader.exec_module(module)
                    if not callable(getattr(module, "r2c", None)):
                        return None
                    sys.modules[_NAME] = module
                    return module
    except Exception:  # any other layout: scipy.fft.rfft instead
        return None
    return None


def rfft(x: np.ndarray, workers: int = 1) -> np.ndarray:
    """``scipy.fft.rfft(x, axis=-1, workers=workers)`` for a float32/float64 array.

    Parameters
    ----------
    x : np.ndarray [shape=(..., n)], float32 or float64
    workers : int
        Threads; ``-1`` means all CPUs (as in ``scipy.fft``).

    Returns
    -------
    X : np.ndarray [shape=(..., n // 2 + 1)], complex64 or complex128
    """
    module = _pocketfft()
    x = np.asarray(x)
    if module is None or x.dtype not in (np.float32, np.float64) or not x.flags.aligned or x.shape[-1] < 1 or workers == 0:
        import scipy.fft

        return scipy.fft.rfft(x, axis=-1, workers=workers)
    if workers < 0:
        workers = max(1, (os.cpu_count() or 1) + 1 + workers)
    return module.r2c(x, (x.ndim - 1,), True, 0, None, int(workers))
