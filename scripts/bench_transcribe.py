"""Benchmark ``nmftrans transcribe`` end to end: speed (× real time), start-up, peak memory.

Usage::

    python scripts/bench_transcribe.py [--data DIR] [--audio FILE] [--seconds 180]
                                       [--repeats 3] [--long-minutes 60] [--no-memory]
                                       [--no-reference] [--profile]
    python scripts/bench_transcribe.py --startup-only [--repeats 7] [--baseline ../main] [--bytecode]

Without ``--audio`` a piano recording of ``--seconds`` seconds is made by concatenating
``DATA/pieces/*fluidr3-piano.flac`` (repeated as needed) into a temporary FLAC.

Measured in the same run (best of ``--repeats``; timings on a shared machine are noisy, so read
the ratios):

* ``nmftrans``: ``load_dictionary('piano')`` + ``transcribe_file`` + ``write_midi`` in this
  process, after one warm-up call (Numba compile / cache load reported on its own);
* ``reference``: NumPy/librosa/scikit-learn of the same pipeline: ``librosa.load`` at the
  dictionary's rate, ``librosa.stft`` magnitude cropped to the same bins and scaled the same,
  ``sklearn.decomposition.non_negative_factorization`` on the transposed problem with the
  dictionary fixed (``X = Vᵀ``, ``H = Wᵀ``, ``update_H=False``, KL, ``mu``, as many H updates
  as nmftrans runs, ``tol=0``; bins merged as the settings say; no over-relaxation and no W
  adaptation), then the same note extraction and MIDI writing;
* the real CLI in a subprocess (``python -m nmftrans transcribe FILE -o out.mid``) once, and
  ``nmftrans --help``; start-up = CLI wall time minus the in-process time;
* start-up: the whole process on a 2 s file, median wall and CPU seconds of at least 5 runs, as a
  ratio of the 0.5 s target; ``--baseline DIR`` runs another checkout's CLI interleaved with this
  one's and prints the ratio of the two (the only figure worth comparing on a loaded machine).
  With ``PYTHONDONTWRITEBYTECODE`` set (as in some sandboxes) a checkout's modules have no
  bytecode and every run compiles them from source (~50 ms); ``--bytecode`` runs every command
  with bytecode written to and read from a temporary ``PYTHONPYCACHEPREFIX`` (filled by the
  warm-up run, nothing written into the checkouts), as an installed package runs.

Peak memory (``--no-memory`` skips it): every pipeline runs once in a fresh subprocess of this
script, which reports its own peak RSS (``VmHWM``; ``ru_maxrss`` of a child
would include this parent's peak, carried across fork + exec), for the ``--seconds`` file
and a ``--long-minutes`` file made by concatenation (a temporary FLAC). ``imports`` is the
interpreter with the modules and the dictionary loaded but no audio: the floor.

Nothing is asserted. Targets reported against: >= 300x real time on 2 cores, ``--help`` < 1 s,
peak RSS <= 200 MB (180 s) and <= 300 MB (60 min).
"""

from __future__ import annotations

import argparse
import cProfile
import glob
import io
import json
import os
import pstats
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402

TARGET_XRT = 300.0
TARGET_HELP_S = 1.0
TARGET_MB = {180: 200.0, 3600: 300.0}


# ---------------------------------------------------------------------------------------------
# test audio
# ---------------------------------------------------------------------------------------------


def make_recording(data: Path, seconds: float, out: Path) -> Path:
    """Concatenate the FluidR3 piano pieces (repeated) into ``seconds`` of mono FLAC, block-wise."""
    import soundfile as sf

    sources = sorted(glob.glob(str(data / "pieces" / "*fluidr3-piano.flac")))
    if not sources:
        raise SystemExit(f"no {data}/pieces/*fluidr3-piano.flac; give --data or --audio")
    sr = sf.info(sources[0]).samplerate
    total = int(round(seconds * sr))
    written = 0
    with sf.SoundFile(str(out), "w", samplerate=sr, channels=1, format="FLAC", subtype="PCM_16") as f:
        while written < total:
            for src in sources:
                y, file_sr = sf.read(src, dtype="float32", always_2d=True)
                if file_sr != sr:
                    raise SystemExit(f"{src}: sample rate {file_sr}, expected {sr}")
                y = y.mean(axis=1)[: total - written]
                f.write(y)
                written += len(y)
                if written >= total:
                    break
    return out


def duration(path: Path) -> float:
    import soundfile as sf

    info = sf.info(str(path))
    return info.frames / info.samplerate


# ---------------------------------------------------------------------------------------------
# the pipelines (each one call: file in, MIDI out)
# ---------------------------------------------------------------------------------------------


def run_nmftrans(audio: Path, midi: Path):
    from nmftrans.io.dictionary import load_dictionary
    from nmftrans.io.midi import write_midi
    from nmftrans.transcribe import SolverParams, transcribe_file

    dictionary = load_dictionary("piano")
    solver = SolverParams()
    result = transcribe_file(audio, dictionary, solver, keep_activations=False)  # as the CLI does
    write_midi(midi, result.notes, program=int(dictionary.provenance.get("program", 0)))
    return result.notes


def run_reference(audio: Path, midi: Path):
    """librosa + scikit-learn version of the same pipeline (no nmftrans numerics)."""
    import librosa
    from sklearn.decomposition import non_negative_factorization

    from nmftrans.io.dictionary import load_dictionary
    from nmftrans.core.features import _merge_starts, stft_frequencies
    from nmftrans.io.midi import write_midi
    from nmftrans.core.levels import normalise_frames
    from nmftrans.transcribe import SolverParams, notes_from_activations
    from nmftrans.core.notes import pitch_activations

    dictionary = load_dictionary("piano")
    s = dictionary.settings
    if s.frontend != "stft":
        raise SystemExit("the reference pipeline only implements the 'stft' front end")
    y, _ = librosa.load(str(audio), sr=s.sample_rate, mono=True)
    S = np.abs(librosa.stft(y, n_fft=s.n_fft, hop_length=s.hop_length, window="hann", center=True))
    freqs = stft_frequencies(s)
    keep = np.flatnonzero((freqs >= s.fmin) & (freqs <= s.fmax))
    V = S[keep[0] : keep[-1] + 1] * np.float32(2.0 / (s.n_fft / 2.0))  # Hann sum = n_fft / 2
    if s.power != 1.0:
        V **= np.float32(s.power)
    starts = _merge_starts(s)  # the groups of bins FeatureSettings.merge sums
    if starts is not None:
        V = np.add.reduceat(V, starts, axis=0)
    V = np.ascontiguousarray(V, dtype=np.float32)
    W = np.ascontiguousarray(dictionary.W, dtype=np.float32)
    # textbook KL MU, as many H updates as nmftrans runs (no over-relaxation, no W refinement)
    n_iter = SolverParams().n_iter + SolverParams().refine_h_iter
    Ht, _, _ = non_negative_factorization(V.T, H=np.ascontiguousarray(W.T), n_components=W.shape[1],
                                          update_H=False, beta_loss="kullback-leibler", solver="mu",
                                          max_iter=n_iter, tol=0.0)
    A, pitch_set = pitch_activations(np.ascontiguousarray(Ht.T), dictionary.pitches)
    A = normalise_frames(A, s.frame_rate)
    notes = notes_from_activations(A, pitch_set, s.frame_rate)
    write_midi(midi, notes, program=int(dictionary.provenance.get("program", 0)))
    return notes


def run_imports(audio: Path, midi: Path):
    """The floor: modules imported and the dictionary loaded, no audio."""
    from nmftrans.io.dictionary import load_dictionary
    from nmftrans.core import kernels
    from nmftrans import transcribe  # noqa: F401

    load_dictionary("piano")
    return np.zeros((0, 4))


PIPELINES = {"nmftrans": run_nmftrans, "reference": run_reference, "imports": run_imports}


def child_main(mode: str, audio: str, midi: str) -> None:
    """Entry of the peak-memory subprocesses: run one pipeline once and print the note count."""
    notes = PIPELINES[mode](Path(audio), Path(midi))
    print(json.dumps({"notes": int(len(notes)), "hwm_kb": vm_hwm_kb()}))


def vm_hwm_kb() -> int:
    """Peak RSS of this process image (VmHWM, KiB; -1 where /proc is missing).

    Not ``ru_maxrss``: Linux carries the parent's high-water mark across fork/vfork + exec, so a
    child of a big benchmark process would report at least the parent's peak.
    """
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


# ---------------------------------------------------------------------------------------------
# measurements
# ---------------------------------------------------------------------------------------------


def timed(fn) -> tuple[float, float, object]:
    """(wall s, CPU s of this process, all threads, result) of one call."""
    c0, t0 = time.process_time(), time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, time.process_time() - c0, out


def env_for_repo() -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    return env


def subprocess_time(args: list[str], repeats: int = 1) -> float:
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        proc = subprocess.run(args, env=env_for_repo(), capture_output=True, text=True)
        elapsed = time.perf_counter() - t0
        if proc.returncode != 0:
            raise SystemExit(f"{' '.join(args)} failed ({proc.returncode}):\n{proc.stderr[-2000:]}")
        best = min(best, elapsed)
    return best


def peak_rss_mb(mode: str, audio: Path, midi: Path) -> tuple[float, float, int]:
    """(peak RSS in MB, wall s, notes) of one pipeline run in a fresh subprocess."""
    args = [sys.executable, __file__, "--child", mode, str(audio), str(midi)]
    t0 = time.perf_counter()
    proc = subprocess.Popen(args, env=env_for_repo(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    out, err = proc.stdout.read(), proc.stderr.read()
    proc.wait()
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        print(f"{mode} {audio.name}: failed ({proc.returncode}): {err.strip().splitlines()[-1:]}")
        return float("nan"), wall, -1
    report = json.loads(out.strip().splitlines()[-1])
    return report["hwm_kb"] / 1024.0, wall, report["notes"]


def profile_stages(audio: Path, midi: Path) -> list[tuple[str, float]]:
    """cProfile one nmftrans run; cumulative seconds of the pipeline's stages (by function name)."""
    prof = cProfile.Profile()
    prof.enable()
    run_nmftrans(audio, midi)
    prof.disable()
    stats = pstats.Stats(prof, stream=io.StringIO())
    total = max(v[3] for v in stats.stats.values())
    wanted = [
        ("load_dictionary", "dictionary.py", "load_dictionary"),
        ("read file (soundfile)", "audio.py", "_read_native"),
        ("resample (soxr)", "audio.py", "resample"),
        ("STFT (spectrogram)", "features.py", "spectrogram"),
        ("  scipy.fft.rfft", "_basic.py", "rfft"),
        ("solve H (update_activations)", "kernels.py", "update_activations"),
        ("pitch_activations", "notes.py", "pitch_activations"),
        ("normalise (levels)", "levels.py", "frame_gains"),
        ("note tracking", "notes.py", "activations_to_notes"),
        ("write_midi", "midi.py", "write_midi"),
    ]
    rows = [("total", total)]
    for label, filename, func in wanted:
        cum = sum(v[3] for (f, _, name), v in stats.stats.items() if name == func and f.endswith(filename))
        if cum:
            rows.append((label, cum))
    return rows


def agreement(a: np.ndarray, b: np.ndarray, tol: float = 0.05) -> float:
    """Fraction of notes of ``a`` with a note of ``b`` of the same pitch and onset within ``tol`` s."""
    if len(a) == 0:
        return float("nan")
    hits = 0
    for onset, _, pitch, _ in a:
        same = b[b[:, 2] == pitch]
        hits += bool(len(same) and np.min(np.abs(same[:, 0] - onset)) <= tol)
    return hits / len(a)


def table(rows: list[tuple], headers: tuple) -> str:
    cells = [[str(c) for c in headers]] + [[c if isinstance(c, str) else f"{c:.3f}" if isinstance(c, float) else str(c)
                                            for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    lines = ["  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths))) for r in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


TARGET_STARTUP_S = 0.5  # issue 23: a 2 s file as a whole process, after the first run


# --bytecode: the folder every child writes and reads its bytecode in (PYTHONPYCACHEPREFIX)
BYTECODE_PREFIX: Path | None = None


def run_stats(args: list[str], repeats: int, pythonpath: Path = REPO) -> tuple[float, float]:
    """(median wall s, median CPU s of the child: user + system, all threads) of ``repeats`` runs."""
    import resource
    import statistics

    env = dict(os.environ)
    if BYTECODE_PREFIX is not None:
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = str(BYTECODE_PREFIX)
    env["PYTHONPATH"] = str(pythonpath) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    walls, cpus = [], []
    for _ in range(repeats):
        r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        t0 = time.perf_counter()
        proc = subprocess.run(args, env=env, capture_output=True, text=True, cwd=tempfile.gettempdir())
        walls.append(time.perf_counter() - t0)
        r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpus.append(r1.ru_utime - r0.ru_utime + r1.ru_stime - r0.ru_stime)
        if proc.returncode != 0:
            raise SystemExit(f"{' '.join(args)} failed ({proc.returncode}):\n{proc.stderr[-2000:]}")
    return statistics.median(walls), statistics.median(cpus)


def print_startup(tmp: Path, repeats: int, baseline: Path | None = None) -> None:
    """Whole-process time of ``nmftrans transcribe`` on a 2 s file (median of ``repeats`` >= 5,
    after a warm-up run that fills Numba's cache), against the 0.5 s target. With ``baseline``
    (another checkout's root), the same command from that checkout runs interleaved with this
    one's, round by round, so that the ratio compares runs under the same load."""
    import numpy as np
    import soundfile as sf

    repeats = max(5, repeats)
    sr = 44100
    t = np.arange(2 * sr) / sr
    y = sum(np.sin(2 * np.pi * m * 261.63 * t) / m * np.exp(-t * m**0.5 / 1.5) for m in range(1, 12))
    short = tmp / "two_seconds.flac"
    sf.write(short, (0.2 * y).astype(np.float32), sr)
    cmd = [sys.executable, "-m", "nmftrans", "transcribe", str(short), "-o", str(tmp / "short.mid"), "--overwrite", "-q"]
    checkouts = {"this checkout": REPO} | ({f"baseline {baseline}": baseline} if baseline else {})
    for root in checkouts.values():
        run_stats(cmd, 1, root)  # warm-up: the first run compiles or loads the kernels
    rounds = {name: [] for name in checkouts}
    for _ in range(repeats):  # interleaved: load changes hit every checkout alike
        for name, root in checkouts.items():
            rounds[name].append(run_stats(cmd, 1, root))
    import statistics

    whole = {name: (statistics.median(w for w, _ in r), statistics.median(c for _, c in r)) for name, r in rounds.items()}
    bare = run_stats([sys.executable, "-c", "pass"], repeats)
    imports = run_stats([sys.executable, "-c", "import nmftrans.cli"], repeats)
    wall = whole["this checkout"][0]
    print(f"\nstart-up: nmftrans transcribe of a 2 s file, whole process (median of {repeats}, after a "
          f"warm-up run; load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs)")
    if BYTECODE_PREFIX is not None:
        print("  (--bytecode: modules read from bytecode the warm-up run wrote, as an installed package runs)")
    elif sys.flags.dont_write_bytecode and not (REPO / "nmftrans" / "__pycache__").is_dir():
        print("  (PYTHONDONTWRITEBYTECODE is set and nmftrans has no bytecode: every run compiles its modules "
              "from source; --bytecode measures with bytecode)")
    rows = [("python -c pass", *bare, bare[0] / wall, ""),
            ("import nmftrans.cli (what --help needs)", *imports, imports[0] / wall, "")]
    for name, (w, c) in whole.items():
        label = "nmftrans transcribe 2s.flac -o out.mid" + ("" if name == "this checkout" else f" ({name})")
        verdict = "" if name != "this checkout" else (
            f"target <= {TARGET_STARTUP_S} s: " + ("met" if w <= TARGET_STARTUP_S else "NOT met")
            + f" ({w / TARGET_STARTUP_S:.2f}x the target)")
        rows.append((label, w, c, w / wall, verdict))
    print(table(rows, ("command", "wall s", "cpu s", "vs this transcribe", "")))
    if baseline:
        (w0, c0), (w1, c1) = whole[f"baseline {baseline}"], whole["this checkout"]
        print(f"this checkout / baseline: wall {w1 / w0:.2f}, cpu {c1 / c0:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data")
    parser.add_argument("--audio", type=Path, help="benchmark this file instead of the made-up recording")
    parser.add_argument("--seconds", type=float, default=180.0)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--long-minutes", type=float, default=60.0, help="length of the long memory test (0: skip)")
    parser.add_argument("--no-memory", action="store_true")
    parser.add_argument("--no-reference", action="store_true")
    parser.add_argument("--profile", action="store_true", help="also print a cProfile stage breakdown")
    parser.add_argument("--startup-only", action="store_true",
                        help="only the whole-process time of a 2 s file (needs no development data)")
    parser.add_argument("--baseline", type=Path,
                        help="root of another checkout (e.g. main) whose start-up runs interleaved with this one's")
    parser.add_argument("--bytecode", action="store_true",
                        help="--startup-only: run with bytecode (a temporary PYTHONPYCACHEPREFIX) even where "
                             "PYTHONDONTWRITEBYTECODE is set")
    parser.add_argument("--child", nargs=3, metavar=("MODE", "AUDIO", "MIDI"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child_main(*args.child)
        return
    if args.startup_only:
        with tempfile.TemporaryDirectory(prefix="nmftrans-bench-") as tmpname:
            global BYTECODE_PREFIX
            if args.bytecode:
                BYTECODE_PREFIX = Path(tmpname) / "pycache"
            print_startup(Path(tmpname), args.repeats, args.baseline)
        return

    with tempfile.TemporaryDirectory(prefix="nmftrans-bench-") as tmpname:
        tmp = Path(tmpname)
        audio = args.audio or make_recording(args.data, args.seconds, tmp / f"piano_{int(args.seconds)}s.flac")
        dur = duration(audio)
        midi = tmp / "out.mid"
        print(f"audio: {audio if args.audio else audio.name} ({dur:.1f} s), {os.cpu_count()} CPUs, "
              f"load average {os.getloadavg()[0]:.1f}")

        t0 = time.perf_counter()
        run_nmftrans(audio, midi)
        first = time.perf_counter() - t0
        fns = {"nmftrans": lambda: run_nmftrans(audio, midi)}
        if not args.no_reference:
            try:
                import sklearn  # noqa: F401
            except ImportError:
                print("scikit-learn not installed: no reference (pip install scikit-learn)")
            else:
                run_reference(audio, midi)  # warm-up (imports)
                fns["reference (librosa+sklearn)"] = lambda: run_reference(audio, midi)
        best = {name: float("inf") for name in fns}
        cpu = {name: float("inf") for name in fns}
        notes = {}
        for _ in range(args.repeats):  # interleaved rounds: load changes hit every pipeline alike
            for name, fn in fns.items():
                t, c, notes[name] = timed(fn)
                best[name] = min(best[name], t)
                cpu[name] = min(cpu[name], c)
        base = best["nmftrans"]
        rows = [(name, t, cpu[name], dur / t, t / base, len(notes[name])) for name, t in best.items()]
        print(f"\nin-process, best of {args.repeats} (first call incl. compile/cache load: {first:.2f} s)")
        print(table(rows, ("pipeline", "wall s", "cpu s", "x real time", "vs nmftrans", "notes")))
        if "reference (librosa+sklearn)" in notes:
            ref = notes["reference (librosa+sklearn)"]
            print(f"notes of nmftrans found by the reference (same pitch, onset within 50 ms): "
                  f"{agreement(notes['nmftrans'], ref):.1%}")
        xrt = dur / base
        print(f"target >= {TARGET_XRT:.0f}x real time: {'met' if xrt >= TARGET_XRT else 'NOT met'} ({xrt:.0f}x)")

        cli = [sys.executable, "-m", "nmftrans"]
        t_help = subprocess_time(cli + ["--help"], repeats=3)
        t_import = subprocess_time([sys.executable, "-c", "import nmftrans.transcribe, nmftrans.core.kernels, nmftrans.io.midi"], repeats=3)
        t_cli = subprocess_time(cli + ["transcribe", str(audio), "-o", str(tmp / "cli.mid"), "--overwrite", "-q"])
        print("\nsubprocesses (python -m nmftrans, this checkout)")
        print(table([
            ("nmftrans --help", t_help, ""),
            ("import transcribe+kernels+midi", t_import, ""),
            ("nmftrans transcribe FILE -o out.mid", t_cli, f"{dur / t_cli:.0f}x real time"),
            ("  start-up (CLI minus in-process)", t_cli - base, ""),
        ], ("command", "seconds", "")))
        print(f"target --help < {TARGET_HELP_S:.0f} s: {'met' if t_help < TARGET_HELP_S else 'NOT met'}")
        print_startup(tmp, args.repeats, args.baseline)

        if args.profile:
            print("\ncProfile of one nmftrans run (cumulative seconds; profiling adds overhead)")
            rows = profile_stages(audio, midi)
            print(table([(n, s, s / rows[0][1]) for n, s in rows], ("stage", "seconds", "share")))

        if not args.no_memory:
            files = [(audio, dur)]
            if args.long_minutes > 0:
                long_audio = make_recording(args.data, args.long_minutes * 60, tmp / "long.flac")
                files.append((long_audio, duration(long_audio)))
            modes = ["imports", "nmftrans"] + ([] if args.no_reference or "reference (librosa+sklearn)" not in fns else ["reference"])
            rows = []
            for path, d in files:
                target = TARGET_MB.get(int(round(d)), None)
                for mode in modes:
                    mb, wall, n = peak_rss_mb(mode, path, tmp / "mem.mid")
                    verdict = "" if target is None or mode != "nmftrans" else ("met" if mb <= target else "NOT met")
                    rows.append((f"{mode}, {d / 60:.0f} min" if d >= 600 else f"{mode}, {d:.0f} s", mb, wall,
                                 "" if mode == "imports" else f"{d / wall:.0f}x", f"<= {target:.0f}" if target and mode == "nmftrans" else "", verdict))
            print("\npeak RSS, each pipeline once in a fresh subprocess (its VmHWM)")
            print(table(rows, ("run", "MB", "wall s", "x rt (incl. start)", "target", "")))


if __name__ == "__main__":
    main()
