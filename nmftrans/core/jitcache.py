"""Loading the package's cached Numba kernels quickly (start-up of a short run).

Array modules with ``@numba.njit(cache=True)`` functions call :func:`load_without_refresh` on
their namespace at the end of the module; the command line imports Numba with
:func:`import_numba_quickly`.
"""

from __future__ import annotations

import gc
import sys

__all__ = ["load_without_refresh", "import_numba_quickly"]


def load_without_refresh(namespace: dict) -> None:
    """Let the cached Numba functions in ``namespace`` load from the disk cache without first
    registering all of Numba's compiler extensions.

    Numba's cache loader calls ``target_context.refresh()`` before each load: that imports and
    registers every typing and lowering extension (``numba.np.random``, ``numba.typed``, cffi,
    unicode, ...), which only a compilation needs. A load needs the runtime (NRT), the machine
    code and each inlined function's ``Environment``, which Numba rebuilds from the module that
    defined the function: for Numba's own array functions that imports ``numba.np.arraymath``
    and with it ``scipy.linalg`` (0.1-0.2 s). Here a load initialises the runtime only, and the
    environment of a function from a ``numba.*`` module that is not imported yet gets a globals
    dict holding just the module's name: those functions are nopython code, which reads its
    environment's constants but never its globals (only object mode does).

    When anything goes wrong (or nothing is cached) Numba's own loader runs, and a compilation
    refreshes the context itself. The machine code is the same either way, so results are bit
    for bit equal. Any surprise in Numba's internals leaves the functions as they are.
    """
    try:
        from numba.core import environment
        from numba.core.caching import Cache
        from numba.core.runtime import rtsys
    except ImportError:
        return
    if not callable(getattr(environment, "_rebuild_env", None)):
        return
    for obj in list(namespace.values()):
        cache = getattr(obj, "_cache", None)
        if not isinstance(cache, Cache) or not hasattr(cache, "_load_overload"):
            continue
        cache.load_overload = _light_loader(cache, rtsys, environment)


def _light_loader(cache, rtsys, environment):
    full = cache.load_overload  # Numba's: refresh, then load
    rebuild = environment._rebuild_env

    def rebuild_lazily(modname, consts, env_name):
        env = environment.lookup_environment(env_name)
        if env is not None or not str(modname).startswith("numba.") or modname in sys.modules:
            return env if env is not None else rebuild(modname, consts, env_name)
        env = environment.Environment({"__name__": modname})
        env.consts[:] = consts
        env.env_name = env_name
        environment.Environment._memo[env_name] = env
        return env

    def load_overload(sig, target_context):
        # Numba holds its global compiler lock here, so the swap cannot race another load
        environment._rebuild_env = rebuild_lazily  # what the cached data's pickle calls
        try:
            rtsys.initialize(target_context)
            with cache._guard_against_spurious_io_errors():
                loaded = cache._load_overload(sig, target_context)
        except Exception:
            loaded = None
        finally:
            environment._rebuild_env = rebuild
        return loaded if loaded is not None else full(sig, target_context)

    return load_overload


def import_numba_quickly() -> None:
    """Import Numba for a command-line start-up: without PyYAML and without garbage collections.

    * Numba imports PyYAML, when it is installed, only to read an optional ``.numba_config.yaml``
      in the current folder (about 20 ms of a 0.5 s run); Numba's ``NUMBA_*`` environment
      variables work as ever. PyYAML is hidden while Numba's configuration loads and importable
      again afterwards.
    * Importing Numba (with NumPy) makes some 10^5 objects that live as long as the process, and
      the collector scanned them over and over while they were made, and again in every later
      full collection (60-100 ms of a short run). The collector is paused during the import, and
      what the import made is then frozen (``gc.freeze``: kept out of all later collections, the
      pattern Python's documentation gives for start-up); it runs as before afterwards.

    Nothing happens when Numba or PyYAML is already imported (the Python API, tests).
    """
    if "numba" in sys.modules or "yaml" in sys.modules:
        return
    sys.modules["yaml"] = None  # ``import yaml`` raises ImportError: Numba carries on without it
    collecting = gc.isenabled()
    gc.disable()
    try:
        import numba  # noqa: F401
    finally:
        if sys.modules.get("yaml", 0) is None:
            del sys.modules["yaml"]
        gc.freeze()
        if collecting:
            gc.enable()
