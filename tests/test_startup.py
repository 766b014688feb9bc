"""Start-up of a short transcription (issue 23): what a run imports, and that the shortcuts taken
for it leave every number as it was.

* ``nmftrans.core.fft.rfft`` calls SciPy's pocketfft extension without importing ``scipy.fft``: its
  result must be ``scipy.fft.rfft``'s, bit for bit.
* ``core.jitcache.load_without_refresh`` loads cached kernels without registering all of Numba's
  extensions: a transcription must give the same bits as one after Numba's full registration.

No timings here (``scripts/bench_transcribe.py --startup-only`` prints them).
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import scipy.fft

from nmftrans.core.fft import rfft

REPO = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("n", [2048, 1000, 511, 1])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("workers", [1, -1])
def test_rfft_is_scipy_fft_rfft_bit_for_bit(n, dtype, workers):
    x = np.random.default_rng(n).standard_normal((37, n)).astype(dtype)
    got = rfft(x, workers=workers)
    want = scipy.fft.rfft(x, axis=-1, workers=workers)
    assert got.dtype == want.dtype and got.shape == (37, n // 2 + 1)
    np.testing.assert_array_equal(got, want)
    # and it is a Fourier transform: bin 0 is the sum, bin 1 the first harmonic (numpy's own DFT)
    np.testing.assert_allclose(got[:, 0].real, x.astype(np.float64).sum(axis=1), rtol=1e-4, atol=1e-3)
    if n > 2:
        k = np.exp(-2j * np.pi * np.arange(n) / n)
        np.testing.assert_allclose(got[:, 1], x.astype(np.float64) @ k, rtol=1e-4, atol=1e-3)


def test_rfft_falls_back_to_scipy_fft_where_the_extension_is_not_found(monkeypatch):
    from nmftrans.core import fft

    monkeypatch.setattr(fft, "_pocketfft", lambda: None)  # another SciPy layout
    x = np.random.default_rng(2).standard_normal((4, 300)).astype(np.float32)
    np.testing.assert_array_equal(fft.rfft(x), scipy.fft.rfft(x, axis=-1))


def test_rfft_of_a_strided_view_equals_its_copy():
    x = np.random.default_rng(1).standard_normal(5000).astype(np.float32)
    frames = np.lib.stride_tricks.sliding_window_view(x, 256)[::100]
    np.testing.assert_array_equal(rfft(frames), scipy.fft.rfft(np.ascontiguousarray(frames), axis=-1))


# A short transcription in a fresh interpreter: which heavy modules it imported, and a digest of
# its activations and notes. With FULL set, Numba's context is fully registered first (what
# Numba's own cache loader does), as the reference.
_RUN = textwrap.dedent("""
    import hashlib, json, sys
    FULL = {full}
    if FULL:
        from numba.core.registry import cpu_target
        cpu_target.target_context.refresh()
    import numpy as np
    from nmftrans.io.dictionary import load_dictionary
    from nmftrans.kernelcache import kernels_cached
    from nmftrans.transcribe import transcribe_signal
    d = load_dictionary("piano")
    sr = d.settings.sample_rate
    t = np.arange(int(0.7 * sr)) / sr
    tone = lambda f: sum(np.sin(2 * np.pi * m * f * t) / m for m in range(1, 8)) * np.exp(-3 * t)
    y = np.concatenate([tone(261.63), tone(392.0)])  # C4, then G4
    r = transcribe_signal((0.2 * y).astype(np.float32), d)
    heavy = ["scipy.fft", "scipy.linalg", "numba.np.arraymath", "numba.np.random.generator_methods",
             "numba.typed.typeddict", "numba.core.typing.cffi_utils"]
    print(json.dumps({{
        "cached": kernels_cached(),
        "imported": [m for m in heavy if m in sys.modules],
        "activations": hashlib.sha256(np.ascontiguousarray(r.activations).tobytes()).hexdigest(),
        "notes": r.notes.tolist(),
    }}))
""")


def _run(full: bool) -> dict:
    proc = subprocess.run([sys.executable, "-c", _RUN.format(full=full)], cwd=REPO, capture_output=True,
                          text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_short_transcription_imports_little_and_gives_the_same_bits():
    reference = _run(full=True)  # also compiles and caches the kernels if the cache is cold
    light = _run(full=False)
    if not light["cached"]:
        pytest.skip("Numba's cache is not writable here: every run compiles")
    assert light["imported"] == []
    assert "scipy.linalg" in reference["imported"]  # what the full registration pulls in
    assert light["activations"] == reference["activations"]
    assert light["notes"] == reference["notes"]
    assert {int(n[2]) for n in light["notes"]} >= {60, 67}  # C4 and G4 were played


# The CLI asks for one BLAS thread before NumPy loads (the solvers use one anyway): OpenBLAS then
# starts no thread pool whose threads would only spin. A value the user set is kept.
_CLI_BLAS = textwrap.dedent("""
    import json, sys
    from nmftrans.cli import app  # main() would end the process when the command returns
    sys.argv = ["nmftrans", "transcribe", {audio!r}, "-o", {midi!r}, "-q"]
    try:
        app()
    except SystemExit as exc:
        assert not exc.code, exc.code
    from threadpoolctl import threadpool_info
    blas = [i for i in threadpool_info() if i["user_api"] == "blas" and "numpy" in i["filepath"]]
    print(json.dumps([i["num_threads"] for i in blas]))
""")


@pytest.mark.parametrize("preset", [None, "2"])
def test_cli_transcribe_loads_blas_with_one_thread_unless_told(tmp_path, preset):
    import os

    import soundfile as sf

    sr = 22050
    t = np.arange(sr) / sr
    sf.write(tmp_path / "a.wav", (0.2 * np.sin(2 * np.pi * 261.63 * t) * np.exp(-2 * t)).astype(np.float32), sr)
    env = {k: v for k, v in os.environ.items() if k != "OPENBLAS_NUM_THREADS"}
    if preset is not None:
        env["OPENBLAS_NUM_THREADS"] = preset
    code = _CLI_BLAS.format(audio=str(tmp_path / "a.wav"), midi=str(tmp_path / "a.mid"))
    proc = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    threads = json.loads(proc.stdout.strip().splitlines()[-1])
    if not threads:
        pytest.skip("NumPy's BLAS is not an OpenBLAS that threadpoolctl sees here")
    assert threads == ([1] if preset is None else [min(2, os.cpu_count() or 1)])
    assert (tmp_path / "a.mid").stat().st_size > 0


def _python_m_nmftrans(args, tmp_path, *pre):
    env = {k: v for k, v in __import__("os").environ.items() if k != "NMFTRANS_FORCE_TTY"}
    return subprocess.run([sys.executable, *pre, "-m", "nmftrans", *args], capture_output=True, text=True,
                          cwd=tmp_path, env=env, timeout=300)


def test_the_console_entry_ends_with_every_output_and_the_exit_code(tmp_path):
    """``main`` ends the process without the interpreter's teardown: stdout must still carry every
    note (400 notes of JSON, several times the stream's buffer), files must be complete, codes must
    be kept."""
    import soundfile as sf

    from tests.synth import SR, render

    notes = np.array([[0.15 * i, 0.15 * i + 0.12, 48 + (7 * i) % 25, 100] for i in range(400)])  # 60 s
    sf.write(tmp_path / "many.wav", render(notes), SR)
    ok = _python_m_nmftrans(["transcribe", "many.wav", "-o", "-", "--json"], tmp_path)
    assert ok.returncode == 0, ok.stderr
    rows = json.loads(ok.stdout)  # complete and valid: nothing cut off at exit
    assert len(rows) >= 380
    done = _python_m_nmftrans(["transcribe", "many.wav", "-o", "many.mid"], tmp_path)
    assert done.returncode == 0 and (tmp_path / "many.mid").stat().st_size > 1000
    import mido

    assert sum(m.type == "note_on" and m.velocity > 0 for m in mido.MidiFile(tmp_path / "many.mid")) == len(rows)
    missing = _python_m_nmftrans(["transcribe", "nothere.wav", "-o", "x.mid"], tmp_path)
    assert missing.returncode != 0 and missing.stderr.strip().count("\n") == 0 and "nothere.wav" in missing.stderr
    usage = _python_m_nmftrans(["transcribe", "many.wav", "--no-such-option"], tmp_path)
    assert usage.returncode == 2


def test_under_a_profiler_the_interpreter_exits_as_usual(tmp_path):
    """``python -m cProfile -o F -m nmftrans ...`` writes its profile at exit: the fast exit is skipped."""
    run = _python_m_nmftrans(["--help"], tmp_path, "-m", "cProfile", "-o", str(tmp_path / "prof.out"))
    assert run.returncode == 0, run.stderr
    assert (tmp_path / "prof.out").stat().st_size > 0


def test_the_cli_imports_numba_without_pyyaml_and_leaves_it_importable(tmp_path):
    """``transcribe`` hides PyYAML while Numba loads (Numba imports it only for an optional
    ``.numba_config.yaml``); afterwards ``import yaml`` works as before. The collector, paused
    during the import, runs again afterwards, with what the import made frozen."""
    pytest.importorskip("yaml")
    import soundfile as sf

    sf.write(tmp_path / "a.wav", np.zeros(22050, dtype=np.float32), 22050)
    code = textwrap.dedent(f"""
        import sys
        from nmftrans.cli import app
        sys.argv = ["nmftrans", "transcribe", {str(tmp_path / "a.wav")!r}, "-o", {str(tmp_path / "a.mid")!r}, "-q"]
        try:
            app()
        except SystemExit as exc:
            assert not exc.code, exc.code
        print("numba" in sys.modules, "yaml" in sys.modules)
        import yaml
        print(yaml.safe_load("a: 1") == {{"a": 1}})
        import gc
        print(gc.isenabled(), gc.get_freeze_count() > 10000)
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, timeout=300)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split()[-5:] == ["True", "False", "True", "True", "True"]  # after the written path


# Numba's runtime module from an object file (core.jitcache._initialize_runtime): the first start
# compiles it and writes the file, later starts load it; either way, and against Numba's own
# runtime, a transcription gives the same bits, and a function compiled afterwards (one that
# allocates, so it needs the runtime) works.
_RUNTIME = textwrap.dedent("""
    import hashlib, json
    import numba
    import numpy as np
    from numba.core.registry import cpu_target
    from numba.core.runtime import nrtdynmod, rtsys
    from nmftrans.core import jitcache

    built = []
    create = nrtdynmod.create_nrt_module
    def counting(ctx):
        built.append(1)
        return create(ctx)
    nrtdynmod.create_nrt_module = counting
    if {mode!r} == "numba":
        rtsys.initialize(cpu_target.target_context)
    else:
        jitcache._initialize_runtime(rtsys, cpu_target.target_context, {folder!r})

    from nmftrans.io.dictionary import load_dictionary
    from nmftrans.transcribe import transcribe_signal
    d = load_dictionary("piano")
    sr = d.settings.sample_rate
    t = np.arange(int(0.7 * sr)) / sr
    y = sum(np.sin(2 * np.pi * m * 329.63 * t) / m for m in range(1, 8)) * np.exp(-3 * t)
    r = transcribe_signal((0.2 * y).astype(np.float32), d)

    compiled = None
    if {compile_one}:
        @numba.njit
        def allocating(n):
            return np.arange(n).sum()
        compiled = int(allocating(10))

    print(json.dumps({{
        "built": len(built),
        "activations": hashlib.sha256(np.ascontiguousarray(r.activations).tobytes()).hexdigest(),
        "notes": r.notes.tolist(),
        "compiled_afterwards": compiled,
    }}))
""")


def _runtime_run(mode: str, folder: Path, compile_one: bool = False) -> dict:
    code = _RUNTIME.format(mode=mode, folder=str(folder), compile_one=compile_one)
    proc = subprocess.run([sys.executable, "-c", code], cwd=REPO,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_numbas_runtime_is_compiled_once_then_loaded_with_the_same_results(tmp_path):
    folder = tmp_path / "cache"
    reference = _runtime_run("numba", folder)
    first = _runtime_run("cached", folder)
    files = list(folder.glob("numba-runtime-*.bin"))
    second = _runtime_run("cached", folder, compile_one=True)
    assert reference["built"] == 1 and first["built"] == 1  # compiled by Numba, then by us with the file
    assert len(files) == 1 and files[0].stat().st_size > 1000
    assert second["built"] == 0  # loaded from the file
    for run in (first, second):
        assert run["activations"] == reference["activations"]
        assert run["notes"] == reference["notes"]
    assert second["compiled_afterwards"] == 45  # a fresh compilation links against the loaded runtime
    assert {int(n[2]) for n in reference["notes"]} >= {64}  # E4 was played

    files[0].write_bytes(b"not a runtime")  # a damaged file: compiled again, and rewritten
    again = _runtime_run("cached", folder)
    assert again["built"] == 1 and again["notes"] == reference["notes"]
    assert files[0].stat().st_size > 1000


def test_scoring_two_note_files_does_not_load_the_solver(tmp_path):
    """``evaluate EST REF`` scores note files without importing the solver's modules or Numba
    (0.2-0.3 s of its start-up); the scores are still right."""
    est = tmp_path / "song.csv"
    ref = tmp_path / "ref" / "song.csv"
    ref.parent.mkdir()
    est.write_text("onset,offset,pitch,velocity\n0.5,1.0,60,80\n1.0,1.5,64,80\n")
    ref.write_text("onset,offset,pitch,velocity\n0.51,1.0,60,80\n2.0,2.5,67,80\n")
    code = textwrap.dedent(f"""
        import sys
        from nmftrans.cli import app
        sys.argv = ["nmftrans", "evaluate", {str(est)!r}, {str(ref)!r}, "--csv", "-"]
        try:
            app()
        except SystemExit as exc:
            assert not exc.code, exc.code
        print("loaded", "numba" in sys.modules, "nmftrans.transcribe" in sys.modules)
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, timeout=300)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.strip().splitlines()
    assert lines[-1] == "loaded False False"
    header, row = lines[0].split(","), lines[1].split(",")
    assert float(row[header.index("onset_f")]) == 0.5  # one of two notes on each side
