"""Loading the package's cached Numba kernels quickly (start-up of a short run).

Array modules with ``@numba.njit(cache=True)`` functions call :func:`load_without_refresh` on
their namespace at the end of the module; the command line imports Numba with
:func:`import_numba_quickly`. A load also brings up Numba's runtime, whose module is compiled
once and then read from an object file beside the kernels (:func:`_initialize_runtime`).
"""

from __future__ import annotations

import gc
import sys

__all__ = ["load_without_refresh", "import_numba_quickly"]

#: Bumped when the layout of the runtime's object file (:func:`_initialize_runtime`) changes.
_RUNTIME_FORMAT = 1


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
            _initialize_runtime(rtsys, target_context, cache._cache_path)
            with cache._guard_against_spurious_io_errors():
                loaded = cache._load_overload(sig, target_context)
        except Exception:
            loaded = None
        finally:
            environment._rebuild_env = rebuild
        return loaded if loaded is not None else full(sig, target_context)

    return load_overload


def _initialize_runtime(rtsys, target_context, folder: str) -> None:
    """``rtsys.initialize(target_context)`` with Numba's runtime module from an object file.

    Numba builds its runtime module (reference counting and atomics, a few LLVM functions) and
    compiles it at every process start: 20-28 ms of a short run, the only LLVM compilation such a
    run makes. Here the first start compiles it as Numba does (with object caching on) and writes
    its object code and bitcode to ``folder`` (where Numba keeps this package's kernels), under a
    name that holds Numba's and llvmlite's versions and the codegen's target, CPU and features:
    later starts load that file as Numba loads a cached kernel. A file that cannot be read or
    written, or any surprise in Numba's internals, leaves Numba to compile the module itself.
    """
    if rtsys._init:
        return
    from numba.core.runtime import nrtdynmod

    build = nrtdynmod.compile_nrt_functions
    if not callable(getattr(nrtdynmod, "create_nrt_module", None)):
        rtsys.initialize(target_context)
        return

    def cached(ctx):
        try:
            return _runtime_library(nrtdynmod, ctx, folder)
        except Exception:  # noqa: BLE001 - Numba's own way
            return build(ctx)

    nrtdynmod.compile_nrt_functions = cached  # rtsys.initialize looks it up at the call
    try:
        rtsys.initialize(target_context)
    finally:
        nrtdynmod.compile_nrt_functions = build


def _runtime_library(nrtdynmod, ctx, folder: str):
    """Numba's runtime library: loaded from its object file in ``folder``, or compiled and saved."""
    import hashlib
    import os

    import llvmlite
    import numba

    codegen = ctx.codegen()
    key = repr((numba.__version__, llvmlite.__version__, codegen.magic_tuple(), _RUNTIME_FORMAT))
    path = os.path.join(folder, f"numba-runtime-{hashlib.sha256(key.encode()).hexdigest()[:16]}.bin")
    try:
        with open(path, "rb") as fh:
            blob = fh.read()
    except OSError:
        blob = None
    if blob is not None:
        parts = _unpack(blob, key)
        if parts is not None:
            return codegen.unserialize_library(("nrt", "object", parts))
    ir_mod, library = nrtdynmod.create_nrt_module(ctx)
    library.enable_object_caching()
    library.add_ir_module(ir_mod)
    library.finalize()
    _, _, (object_code, bitcode) = library.serialize_using_object_code()
    tmp = f"{path}.{os.getpid()}.tmp"
    try:
        os.makedirs(folder, exist_ok=True)
        with open(tmp, "wb") as fh:
            fh.write(_pack(key, object_code, bitcode))
        os.replace(tmp, path)  # whole or not at all, for concurrent starts
    except OSError:
        try:
            os.remove(tmp)
        except OSError:
            pass
    return library


def _pack(key: str, object_code: bytes, bitcode: bytes) -> bytes:
    """The runtime file: the key, the object code and the bitcode, each after its length."""
    parts = [key.encode(), bytes(object_code), bytes(bitcode)]
    return b"".join(len(p).to_bytes(8, "little") + p for p in parts)


def _unpack(blob: bytes, key: str) -> tuple[bytes, bytes] | None:
    """``(object_code, bitcode)`` of a runtime file written for ``key``; None otherwise."""
    parts, at = [], 0
    while at + 8 <= len(blob) and len(parts) < 3:
        n = int.from_bytes(blob[at:at + 8], "little")
        parts.append(blob[at + 8:at + 8 + n])
        at += 8 + n
    if len(parts) != 3 or at != len(blob) or parts[0] != key.encode() or not parts[1] or not parts[2]:
        return None
    return parts[1], parts[2]


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
