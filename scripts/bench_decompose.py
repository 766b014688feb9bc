"""Benchmark of ``nmftrans decompose``: mixes with known gains and positions, scored.

Builds mixes from audio at hand (the development pieces in ``--data``, and generated tone
tracks that need nothing): 3-5 tracks, power crossfades with known curves, a loop of a few
seconds repeated, a jump, one track time-stretched by 4 % (librosa), light EQ, a reference
that is not in the mix, a reference at another sample rate. Writes the mix, the references
and the truth (``truth.csv``: time,track,gain,position) to ``--out``, runs ``decompose``
(multi-resolution and single-resolution) and scores it:

* median position error (s) and share of frames within 0.5 s, where a track's true gain
  share is >= 0.2 (goal: <= 0.1 s, >= 95 %);
* mean absolute gain-share error over all frames where something plays and all tracks
  (goal: <= 0.05); the largest gain of the reference that is not in the mix.

The true gain share of track i is a_i(t)^2 / sum_j a_j(t)^2 (a: the amplitude gain applied
to it): decompose's templates are the reference frames at their own level, so H measures
power gain.

``--long``: a 30-minute mix against 10 reference tracks of 5 minutes (generated tones), run
with the multi-resolution solver and the single-resolution one as separate processes: wall
time and peak memory (ru_maxrss) of each, and the scores.

    python scripts/bench_decompose.py --data ../shared/data --out /tmp/bench_dec
    nice python scripts/bench_decompose.py --long --out /tmp/bench_dec
"""

from __future__ import annotations

import argparse
import csv
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

SR = 22050


@dataclass
class Segment:
    """Track ``track`` plays source seconds ``src`` onwards at ``rate`` over mix [t0, t1);
    power ramps up over ``fade_in`` s and down over ``fade_out`` s."""

    track: int
    t0: float
    t1: float
    src: float
    fade_in: float = 0.01
    fade_out: float = 0.01
    rate: float = 1.0
    eq: bool = False


def tone_track(seed: int, duration: float, sr: int = SR) -> np.ndarray:
    """Random notes (harmonic, decaying), one to three at a time, never repeating a pattern."""
    rng = np.random.default_rng(seed)
    y = np.zeros(int(duration * sr) + sr, dtype=np.float64)
    t = 0.0
    while t < duration:
        for _ in range(rng.integers(1, 4)):
            pitch = rng.integers(40, 90)
            f0 = 440.0 * 2 ** ((pitch - 69) / 12)
            length = rng.uniform(0.2, 0.9)
            n = int(length * sr)
            tt = np.arange(n) / sr
            env = np.exp(-tt * rng.uniform(2, 6)) * np.minimum(1.0, tt / 0.005)
            sig = np.zeros(n)
            for h in range(1, 7):
                if h * f0 < sr / 2 - 500:
                    sig += (rng.uniform(0.3, 1.0) / h) * np.sin(2 * np.pi * h * f0 * tt + rng.uniform(0, 6.3))
            a = int(t * sr)
            y[a:a + n] += rng.uniform(0.3, 1.0) * env * sig
        t += rng.uniform(0.12, 0.4)
    y = y[: int(duration * sr)]
    return (0.5 * y / np.abs(y).max()).astype(np.float32)


def light_eq(y: np.ndarray, sr: int) -> np.ndarray:
    """+2 dB or so below 300 Hz, -1.5 dB above 4 kHz (first-order shelves)."""
    from scipy.signal import butter, lfilter

    b, a = butter(1, 300 / (sr / 2), "low")
    low = lfilter(b, a, y)
    b, a = butter(1, 4000 / (sr / 2), "high")
    high = lfilter(b, a, y)
    return (y + 0.26 * low - 0.16 * high).astype(np.float32)


def render(tracks: list[np.ndarray], segments: list[Segment], sr: int = SR) -> np.ndarray:
    end = max(s.t1 for s in segments)
    mix = np.zeros(int(end * sr) + 1, dtype=np.float64)
    stretched = {}
    for s in segments:
        y = tracks[s.track]
        if s.rate != 1.0:
            import librosa

            key = (s.track, s.rate)
            if key not in stretched:
                stretched[key] = librosa.effects.time_stretch(y, rate=s.rate)
            y = stretched[key]
        a = int(round(s.src / s.rate * sr))
        n = int(round((s.t1 - s.t0) * sr))
        piece = np.zeros(n)
        got = y[a:a + n]
        piece[:len(got)] = got
        if s.eq:
            piece = light_eq(piece, sr)
        piece *= np.sqrt(power_envelope(s, s.t0 + np.arange(n) / sr))
        o = int(round(s.t0 * sr))
        mix[o:o + n] += piece
    return (0.9 * mix / np.abs(mix).max()).astype(np.float32)


def power_envelope(s: Segment, t: np.ndarray) -> np.ndarray:
    up = np.clip((t - s.t0) / s.fade_in, 0, 1)
    down = np.clip((s.t1 - t) / s.fade_out, 0, 1)
    return np.where((t >= s.t0) & (t < s.t1), np.minimum(up, down), 0.0)


def truth(segments: list[Segment], n_tracks: int, times: np.ndarray, scale: list[float]):
    """True gain shares and positions (s) at the given times; ``scale``: the power factor of
    each track in the mix relative to its reference (the mix's level)."""
    power = np.zeros((n_tracks, len(times)))
    pos = np.full((n_tracks, len(times)), np.nan)
    best = np.zeros((n_tracks, len(times)))
    for s in segments:
        e = power_envelope(s, times) * scale[s.track]
        p = s.src + s.rate * (times - s.t0)
        take = e > best[s.track]
        pos[s.track, take] = p[take]
        best[s.track] = np.maximum(best[s.track], e)
        power[s.track] += e
    total = power.sum(axis=0)
    share = np.divide(power, total, out=np.zeros_like(power), where=total > 0)
    return share, pos, total > 0


def read_csv(path: Path, names: list[str]):
    rows = list(csv.DictReader(open(path)))
    times = sorted({float(r["time"]) for r in rows})
    index = {t: i for i, t in enumerate(times)}
    gains = np.zeros((len(names), len(times)))
    pos = np.full((len(names), len(times)), np.nan)
    for r in rows:
        i, n = names.index(r["track"]), index[float(r["time"])]
        gains[i, n] = float(r["gain"])
        if r["position"]:
            pos[i, n] = float(r["position"])
    return np.array(times), gains, pos


def score(times, gains, pos, segments, names, in_mix, edge_s=0.0):
    share, tpos, playing = truth(segments, len(names), times, [1.0] * len(names))
    err = []
    for i in range(len(names)):
        sel = share[i] >= 0.2
        e = np.abs(pos[i, sel] - tpos[i, sel])
        err.append(np.where(np.isnan(e), np.inf, e))
    err = np.concatenate(err) if err else np.zeros(0)
    gain_err = np.abs(gains[:, playing] - share[:, playing]).mean()
    absent = [i for i in range(len(names)) if i not in in_mix]
    return {
        "frames": int(playing.sum()),
        "pos_median_s": float(np.median(err)),
        "within_0.5s": float(np.mean(err <= 0.5)),
        "gain_mae": float(gain_err),
        "absent_max_gain": float(gains[absent].max()) if absent else float("nan"),
        "absent_mean_gain": float(gains[absent].mean()) if absent else float("nan"),
    }


def run_cli(args: list[str]) -> tuple[float, float, float, str]:
    """Run ``nmftrans`` in a child process: (wall s, CPU s, peak RSS MB, stderr).

    The peak is the child's ``VmHWM`` (read from /proc every 50 ms until it exits; the
    high-water mark of its own address space). ``ru_maxrss`` would not do: Linux carries the
    forking parent's high-water mark (this script holds the rendered audio) into the child.
    """
    import threading

    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "nmftrans", *args], stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)
    peak = [0.0]

    def watch() -> None:
        status = Path(f"/proc/{proc.pid}/status")
        while True:  # until it is a zombie or gone (the main thread reaps it)
            try:
                text = status.read_text()
            except OSError:
                return
            if "\nState:\tZ" in text or "\nState:\tX" in text:
                return
            for line in text.splitlines():
                if line.startswith("VmHWM:"):
                    peak[0] = max(peak[0], int(line.split()[1]) / 1024.0)
            time.sleep(0.05)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    err = proc.stderr.read()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - t0
    watcher.join(timeout=1.0)
    if proc.returncode != 0:
        raise SystemExit(f"nmftrans {' '.join(args)} failed ({proc.returncode}): {err}")
    return wall, usage.ru_utime + usage.ru_stime, peak[0], err


def write(path: Path, y: np.ndarray, sr: int) -> None:
    if sr != SR:
        import soxr

        y = soxr.resample(y, SR, sr)
    sf.write(str(path), y, sr, subtype="PCM_16")


def short_plan() -> list[Segment]:
    """Five tracks (the fifth is not played): crossfades, a stretch, a loop, a jump, EQ."""
    return [
        Segment(0, 0.0, 18.0, 2.0, fade_out=5.0),
        Segment(1, 13.0, 34.0, 0.0, fade_in=5.0, fade_out=4.0, rate=1.04),          # stretched
        Segment(2, 30.0, 34.0, 8.0, fade_in=4.0), Segment(2, 34.0, 38.0, 8.0),       # a 4 s loop,
        Segment(2, 38.0, 42.0, 8.0), Segment(2, 42.0, 50.0, 8.0, fade_out=4.0, eq=True),  # 3 times, EQ
        Segment(3, 46.0, 56.0, 0.0, fade_in=4.0), Segment(3, 56.0, 64.0, 13.0, fade_out=0.5),  # a jump
    ]


def run_case(name: str, tracks, names: list[str], plan: list[Segment], out: Path,
             rates: dict[int, int], levels_list: list[str], *, reuse: bool = False,
             prefix_s: float | None = None) -> list[dict]:
    """Render (``tracks``: a list of arrays, or a callable giving it) the mix and references
    into ``out/name`` (kept when ``reuse`` and present), run decompose with each of
    ``levels_list`` and score. ``prefix_s``: decompose only the first seconds of the mix."""
    folder = out / name
    folder.mkdir(parents=True, exist_ok=True)
    end = max(s.t1 for s in plan)
    refs = [str(folder / f"{n}.flac") for n in names]
    if not (reuse and (folder / "mix.flac").exists() and all(Path(r).exists() for r in refs)):
        tracks = tracks() if callable(tracks) else tracks
        write(folder / "mix.flac", render(tracks, plan), 44100)
        for i, (y, path) in enumerate(zip(tracks, refs)):
            write(Path(path), y, rates.get(i, SR))
        share, tpos, _ = truth(plan, len(names), np.arange(0, end, 0.125), [1.0] * len(names))
        with open(folder / "truth.csv", "w") as f:
            f.write("time,track,gain,position\n")
            for n_, t in enumerate(np.arange(0, end, 0.125)):
                for i, nm in enumerate(names):
                    p = tpos[i, n_]
                    f.write(f"{t:.3f},{nm},{share[i, n_]:.4f}," + ("" if np.isnan(p) else f"{p:.3f}") + "\n")
    mix = folder / "mix.flac"
    if prefix_s is not None:
        y, sr = sf.read(str(mix), dtype="float32")
        mix = folder / f"mix_first{prefix_s:g}s.flac"
        sf.write(str(mix), y[: int(prefix_s * sr)], sr)
    # scored at the frames decompose gives (the prefix's), against the whole plan's truth
    in_mix = sorted({s.track for s in plan if prefix_s is None or s.t0 < prefix_s})
    results = []
    for levels in levels_list:
        csv_path = folder / f"decompose_{mix.stem}_levels-{levels}.csv"
        args = ["decompose", str(mix), *refs, "-o", str(csv_path), "--overwrite"]
        if levels != "auto":
            args += ["--levels", levels]
        wall, cpu, rss, err = run_cli(args)
        times, gains, pos = read_csv(csv_path, names)
        r = {"case": name + ("" if prefix_s is None else f"[:{prefix_s:g}s]"), "levels": levels,
             "wall_s": round(wall, 1), "cpu_s": round(cpu, 1), "peak_MB": round(rss)}
        r.update(score(times, gains, pos, plan, names, in_mix))
        results.append(r)
        print(" ".join(f"{k}={v:.3f}" if isinstance(v, float) else f"{k}={v}" for k, v in r.items()), flush=True)
        print("   " + err.strip().splitlines()[-1], flush=True)
    return results


def long_plan(n_tracks: int = 10, track_s: float = 300.0, mix_s: float = 1800.0) -> list[Segment]:
    """Each track in turn for mix_s / n_tracks seconds, 15 s power crossfades, one jump each."""
    rng = np.random.default_rng(7)
    seg = mix_s / n_tracks
    plan = []
    for i in range(n_tracks):
        t0 = max(0.0, i * seg - 7.5)
        t1 = min(mix_s, (i + 1) * seg + 7.5)
        src = rng.uniform(0, track_s - (t1 - t0) - 60)
        mid = t0 + (t1 - t0) / 2
        plan.append(Segment(i, t0, mid, src, fade_in=15.0 if i else 0.01))
        plan.append(Segment(i, mid, t1, src + (mid - t0) + rng.uniform(20, 50),
                            fade_out=15.0 if i < n_tracks - 1 else 0.01))
    return plan


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=None, help="development data (uses its pieces/ and real/)")
    ap.add_argument("--out", type=Path, default=Path("/tmp/bench_decompose"))
    ap.add_argument("--levels", default="auto,1", help="comma-separated --levels to run (auto, 1, 3, ...)")
    ap.add_argument("--long", action="store_true", help="the 30-minute mix against 10 tracks of 5 minutes")
    ap.add_argument("--long-minutes", type=float, default=30.0)
    ap.add_argument("--single-seconds", type=float, default=60.0,
                    help="--long: the prefix of the mix that both solvers decompose for the ratio")
    ap.add_argument("--reuse", action="store_true", help="keep mixes and references already in --out")
    args = ap.parse_args()
    levels_list = args.levels.split(",")
    args.out.mkdir(parents=True, exist_ok=True)
    if args.long:
        n, track_s, mix_s = 10, 300.0, args.long_minutes * 60
        names = [f"long{i:02d}" for i in range(n)]
        plan = long_plan(n, track_s, mix_s)
        make = lambda: [tone_track(100 + i, track_s) for i in range(n)]  # noqa: E731
        run_case("long", make, names, plan, args.out, {}, ["auto"], reuse=args.reuse)
        # the single-resolution solver costs K x N per update: on a prefix of the mix (columns
        # are independent problems, so its time grows linearly with the mix), with the
        # multi-resolution solver on the same prefix for the ratio
        run_case("long", make, names, plan, args.out, {}, ["auto", "1"], reuse=True, prefix_s=args.single_seconds)
        return
    tracks = [tone_track(i, 40.0) for i in range(5)]
    run_case("tones", tracks, [f"tone{i}" for i in range(5)], short_plan(), args.out, {3: 32000}, levels_list,
             reuse=args.reuse)
    if args.data is not None:
        import librosa

        files = ["pieces/maestro_2018-Chamber3-10-R3-1_first45s__fluidr3-piano.flac",
                 "pieces/gen_s1_guitar__fluidr3-nylon.flac",
                 "pieces/gen_s1_scales-arpeggios__timgm6mb-piano.flac",
                 "real/guitarset_00_BN1-129-Eb_comp__real-guitar.flac",
                 "pieces/haydn_op20n1-01__fluidr3-piano.flac"]
        tracks = [librosa.load(str(args.data / f), sr=SR)[0] for f in files]
        names = ["maestro-chamber3", "guitar-fluidr3", "scales-timgm6mb", "guitarset-real", "haydn-op20n1"]
        run_case("pieces", tracks, names, short_plan(), args.out, {3: 44100}, levels_list, reuse=args.reuse)


if __name__ == "__main__":
    main()
