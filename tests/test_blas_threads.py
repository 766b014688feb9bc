"""The solver's one-thread BLAS limit holds whichever thread transcribes.

threadpoolctl lets one thread at a time control a shared (non-OpenMP) OpenBLAS pool. The solver's
limit was restored without being exited, so the first thread that transcribed kept the control for
good. A later transcription from another thread (a dask worker thread, a notebook's thread) then
had its limit silently ignored and ran BLAS with every core: on a loaded 2-core machine a 1 s file
with 3000 iterations took 16.7 s from a second thread against 0.7 s from the main thread.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent

_RUN = textwrap.dedent("""
    import json, threading
    import numpy as np
    from threadpoolctl import threadpool_info
    from nmftrans.core import kernels
    from nmftrans.io.dictionary import load_dictionary
    from nmftrans.transcribe import SolverParams, transcribe_signal

    seen = []
    solve = kernels._mu_loop

    def spy(*args, **kwargs):  # BLAS threads as the solver's GEMMs (NumPy's BLAS) see them
        blas = [i for i in threadpool_info() if i["user_api"] == "blas"]
        own = [i for i in blas if "numpy" in i["filepath"]] or blas  # not SciPy's, loaded later by scipy.ndimage
        seen.append((threading.current_thread().name, max(i["num_threads"] for i in own)))
        return solve(*args, **kwargs)

    kernels._mu_loop = spy
    d = load_dictionary("piano")
    sr = d.settings.sample_rate
    t = np.arange(sr // 2) / sr
    y = (0.2 * np.sin(2 * np.pi * 261.63 * t) * np.exp(-t)).astype(np.float32)
    layers = [i.get("threading_layer") for i in threadpool_info() if i["user_api"] == "blas"]
    transcribe_signal(y, d, SolverParams(threads=1))  # the main thread first, as the CLI does
    for name in ("second", "third"):
        thread = threading.Thread(target=transcribe_signal, args=(y, d, SolverParams(threads=1)), name=name)
        thread.start()
        thread.join()
    print(json.dumps({"seen": seen, "layers": layers}))
""")


def test_blas_limit_holds_in_a_later_thread():
    if (os.cpu_count() or 1) < 2:
        pytest.skip("one CPU: BLAS has one thread anyway")
    proc = subprocess.run([sys.executable, "-c", _RUN], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    if not report["layers"] or "openmp" in report["layers"]:
        pytest.skip("no BLAS, or an OpenMP one: threadpoolctl limits it per thread")
    threads = {name for name, _ in report["seen"]}
    assert threads == {"MainThread", "second", "third"}
    assert [n for _, n in report["seen"]] == [1] * len(report["seen"])
