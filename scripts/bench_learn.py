"""Benchmark ``nmftrans learn`` on the isolated FluidR3 piano notes.

Usage::

    python scripts/bench_learn.py [--data DIR] [--repeats 3] [--source isolated/piano-fluidr3]

Times ``learn_from_sources([DATA/SOURCE], pitch_range=(21, 108))`` (the ``nmftrans learn``
use case, without the CLI) in this process: the first run separately (it includes the Numba
compile or on-disk cache load and first imports), then the best of ``--repeats`` warm runs, and
the same warm run in a fresh subprocess (what a user's ``nmftrans learn`` pays, minus the CLI).
A cProfile breakdown of one warm run shows where the time goes. Nothing is asserted; the target
reported against is <= 10 s.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

TARGET_S = 10.0


def learn_once(source: Path):
    from nmftrans.learn import learn_from_sources

    return learn_from_sources([source], pitch_range=(21, 108))


def audio_seconds(source: Path) -> tuple[int, float]:
    import soundfile as sf

    files = [p for p in source.rglob("*") if p.suffix.lower() in (".flac", ".wav")]
    return len(files), sum(sf.info(str(p)).duration for p in files)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data")
    parser.add_argument("--source", default="isolated/piano-fluidr3")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--once", action="store_true", help=argparse.SUPPRESS)  # subprocess entry
    args = parser.parse_args()
    source = args.data / args.source
    if not source.exists():
        raise SystemExit(f"{source}: not found; give --data")
    if args.once:
        t0 = time.perf_counter()
        learn_once(source)
        print(f"{time.perf_counter() - t0:.6f}")
        return

    n_files, seconds = audio_seconds(source)
    print(f"source: {source} ({n_files} files, {seconds:.0f} s of audio), {os.cpu_count()} CPUs, "
          f"load average {os.getloadavg()[0]:.1f}")
    t0 = time.perf_counter()
    dictionary, report = learn_once(source)
    first = time.perf_counter() - t0
    warm, cpu = float("inf"), float("inf")
    for _ in range(args.repeats):
        c0, t0 = time.process_time(), time.perf_counter()
        learn_once(source)
        warm = min(warm, time.perf_counter() - t0)
        cpu = min(cpu, time.process_time() - c0)
    env = dict(os.environ, PYTHONPATH=str(REPO))
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, __file__, "--data", str(args.data), "--source", args.source, "--once"],
                          env=env, capture_output=True, text=True, check=True)
    fresh_total = time.perf_counter() - t0
    fresh_learn = float(proc.stdout.strip().splitlines()[-1])

    rows = [
        ("first run in this process (compile/cache load)", first),
        (f"warm run, best of {args.repeats} (wall)", warm),
        (f"warm run, best of {args.repeats} (cpu, all threads)", cpu),
        ("fresh process: learn_from_sources", fresh_learn),
        ("fresh process: total incl. interpreter + imports", fresh_total),
    ]
    width = max(len(r[0]) for r in rows)
    print(f"\n{'run'.ljust(width)}  seconds  x real time")
    print(f"{'-' * width}  -------  -----------")
    for name, t in rows:
        print(f"{name.ljust(width)}  {t:7.3f}  {seconds / t:11.1f}")
    print(f"learned {len(report.learned)} pitches, filled {len(report.filled)}, skipped {len(report.skipped)}; "
          f"W {dictionary.W.shape}")
    print(f"target <= {TARGET_S:.0f} s (warm): {'met' if warm <= TARGET_S else 'NOT met'}; "
          f"fresh process: {'met' if fresh_total <= TARGET_S else 'NOT met'}")

    prof = cProfile.Profile()
    prof.enable()
    learn_once(source)
    prof.disable()
    stats = pstats.Stats(prof, stream=io.StringIO())
    total = max(v[3] for v in stats.stats.values())
    wanted = [("discover files", "datasets.py", "discover_isolated"), ("read file", "audio.py", "_read_native"),
              ("resample (soxr)", "audio.py", "resample"), ("STFT (spectrogram)", "features.py", "spectrogram"),
              ("templates (isolated)", "learn.py", "learn_isolated"),
              ("harmonic fill", "templates.py", "harmonic_templates")]
    print("\ncProfile of one warm run (cumulative seconds)")
    print(f"{'stage'.ljust(20)}  seconds  share\n{'-' * 20}  -------  -----")
    print(f"{'total'.ljust(20)}  {total:7.3f}  1.000")
    for label, filename, func in wanted:
        cum = sum(v[3] for (f, _, name), v in stats.stats.items() if name == func and f.endswith(filename))
        if cum:
            print(f"{label.ljust(20)}  {cum:7.3f}  {cum / total:5.3f}")


if __name__ == "__main__":
    main()
