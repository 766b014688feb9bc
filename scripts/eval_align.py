#!/usr/bin/env python
"""Accuracy and speed of ``nmftrans align`` on the development data.

    python scripts/eval_align.py [--data ../shared/data] [--only NAME] [--real] [--speed]

**Development pieces** (``pieces/``): each piece's exact annotation is distorted as a score
differs from a performance, with a fixed seed per piece:

* a smooth tempo curve: score time advances at ``1 + 0.15 * c(t)`` times performance time, ``c``
  a sum of two slow sines scaled to peak at ±1 (periods 6-20 s);
* every onset jittered by a uniform ±60 ms (the note keeps its length);
* the whole score shifted 1 s later;
* 5 % extra score notes (at least one) that the audio does not contain: random pitches in the
  piece's range, random times, never overlapping a played note of the same pitch.

The played notes' reported onsets are compared with the annotation: share within 50 ms, median
error; and the statuses: extra notes marked ``missing`` (recall), played notes marked ``missing``.

**SMD excerpt** (``smd-sample/``): the Disklavier annotation moved to a score grid: onsets (and
offsets) rounded to the nearest 16th of a fixed tempo (a 16th = half the median interval
between successive distinct onsets), starting at 0; the real annotation is the truth.

**Real recordings** (``--real``): the same distortion of the annotations of ``real/`` (two real
pianos, one real guitar), printed after the targets and not counted in them.

**Speed** (``--speed``): a 180 s recording made of the development pieces one after another, and
their scores (also distorted) aligned; wall time of :func:`nmftrans.align.align_signal` (audio
already decoded), run once to compile first.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from nmftrans.align import align_signal  # noqa: E402
from nmftrans.io.annotations import read_notes  # noqa: E402
from nmftrans.io.audio import load_audio  # noqa: E402
from nmftrans.io.dictionary import load_dictionary  # noqa: E402
from nmftrans.core.scoreinformed import AlignParams  # noqa: E402

TOL = 0.05


def distort(notes: np.ndarray, seed: int, pitch_set: np.ndarray):
    """The score of a performance: (score notes, index of the played note of each score row or -1)."""
    rng = np.random.default_rng(seed)
    end = float(notes[:, 1].max()) + 2.0
    t = np.arange(0.0, end, 0.01)
    c = np.zeros_like(t)
    for _ in range(2):
        c += rng.uniform(0.5, 1.0) * np.sin(2 * np.pi * t / rng.uniform(6.0, 20.0) + rng.uniform(0, 2 * np.pi))
    c /= np.abs(c).max()
    s = 1.0 + np.concatenate([[0.0], np.cumsum((1.0 + 0.15 * c[:-1]) * 0.01)])  # score time of t, shifted 1 s
    warp = lambda x: np.interp(x, t, s)  # noqa: E731
    score = notes.copy()
    jitter = rng.uniform(-0.06, 0.06, len(notes))
    score[:, 0] = warp(notes[:, 0]) + jitter
    score[:, 1] = warp(notes[:, 1]) + jitter
    score[:, 0] = np.maximum(score[:, 0], 0.0)
    truth = list(range(len(notes)))
    n_extra = max(1, int(round(0.05 * len(notes))))
    lo, hi = int(notes[:, 2].min()), int(notes[:, 2].max())
    extra = []
    while len(extra) < n_extra:
        p = int(rng.integers(lo, hi + 1))
        if p not in pitch_set:
            continue
        on = float(rng.uniform(score[:, 0].min(), score[:, 0].max()))
        dur = float(np.clip(rng.choice(score[:, 1] - score[:, 0]), 0.1, 2.0))
        same = score[score[:, 2] == p]
        if np.any((same[:, 0] < on + dur + 0.3) & (same[:, 1] > on - 0.3)):
            continue
        extra.append([on, on + dur, p, 80.0])
        score = np.vstack([score, extra[-1]])
        truth.append(-1)
    return score, np.array(truth)


def measure(result, notes: np.ndarray, truth: np.ndarray) -> dict:
    played = truth >= 0
    signed = result.notes[:len(truth)][played, 0] - notes[truth[played], 0]
    err = np.abs(signed)
    status = result.status[:len(truth)]
    return {"played": int(played.sum()), "within": float(np.mean(err <= TOL)), "median_ms": 1000 * float(np.median(err)),
            "bias_ms": 1000 * float(np.median(signed)),
            "within_if_played": float(np.mean(err[status[played] == "played"] <= TOL)),
            "played_missing": float(np.mean(status[played] == "missing")),
            "extra": int((~played).sum()), "extra_recall": float(np.mean(status[~played] == "missing"))
            if (~played).any() else float("nan")}


def quantise(notes: np.ndarray) -> np.ndarray:
    onsets = np.unique(np.round(notes[:, 0], 3))
    grid = 0.5 * float(np.median(np.diff(onsets)))
    score = notes.copy()
    start = notes[:, 0].min()
    score[:, 0] = np.round((notes[:, 0] - start) / grid) * grid
    score[:, 1] = np.maximum(np.round((notes[:, 1] - start) / grid) * grid, score[:, 0] + grid)
    return score


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--only", default=None, help="Only pieces whose name contains this.")
    parser.add_argument("--speed", action="store_true", help="Also time a 180 s alignment.")
    parser.add_argument("--real", action="store_true", help="Also the real recordings (real/), distorted the same way.")
    parser.add_argument("--fraction", type=float, default=None, help="onset_rise_fraction (default: AlignParams')")
    parser.add_argument("--threshold", type=float, default=None, help="played/missing threshold (default: AlignParams')")
    args = parser.parse_args()
    given = {"onset_rise_fraction": args.fraction, "threshold": args.threshold}
    params = AlignParams(**{k: v for k, v in given.items() if v is not None})
    dicts = {"piano": load_dictionary("piano"), "guitar": load_dictionary("guitar")}
    rows = []
    print(f"{'piece':58s} {'notes':>5s} {'<=50ms':>7s} {'median':>7s} {'pl.miss':>7s} {'extra':>5s} {'ex.rec':>6s} {'bias':>8s}")
    pieces = sorted((args.data / "pieces").glob("*.flac"))

    def piece(audio: Path) -> dict:
        d = dicts["guitar" if "nylon" in audio.name or "guitar" in audio.name else "piano"]
        notes = read_notes(audio.with_suffix(".csv"))
        seed = sum(map(ord, audio.stem.split("__")[0]))
        score, truth = distort(notes, seed, d.pitch_set)
        y = load_audio(audio, d.settings.sample_rate)
        result = align_signal(y, score, d, params)
        m = measure(result, notes, truth)
        print(f"{audio.stem:58s} {m['played']:5d} {100 * m['within']:6.1f}% {m['median_ms']:5.1f}ms "
              f"{100 * m['played_missing']:6.1f}% {m['extra']:5d} {m['extra_recall']:6.2f} {m['bias_ms']:+6.1f}ms")
        return m

    for audio in pieces:
        if args.only and args.only not in audio.name:
            continue
        rows.append(piece(audio))
    if rows:
        played = sum(r["played"] for r in rows)
        within = sum(r["within"] * r["played"] for r in rows) / played
        pm = sum(r["played_missing"] * r["played"] for r in rows) / played
        n_extra = sum(r["extra"] for r in rows)
        rec = sum(r["extra_recall"] * r["extra"] for r in rows) / n_extra
        med = float(np.median([r["median_ms"] for r in rows]))
        print(f"{'ALL (notes pooled; median: of the per-piece medians)':58s} {played:5d} {100 * within:6.1f}% "
              f"{med:5.1f}ms {100 * pm:6.1f}% {n_extra:5d} {rec:6.2f}")
        print(f"targets: >= 95 % within 50 ms: {'met' if within >= 0.95 else 'NOT met'}; median <= 15 ms: "
              f"{'met' if med <= 15 else 'NOT met'}; extra recall >= 0.9: {'met' if rec >= 0.9 else 'NOT met'}; "
              f"<= 5 % played marked missing: {'met' if pm <= 0.05 else 'NOT met'}")
    if args.real:
        print("real recordings, distorted the same way (not in the targets):")
        for audio in sorted((args.data / "real").glob("*.flac")):
            if args.only is None or args.only in audio.name:
                piece(audio)
    smd = args.data / "smd-sample" / "FMP_C8_Audio_Chopin_Op028-04_SMD_beginning.wav"
    if smd.exists() and (args.only is None or "smd" in args.only):
        d = dicts["piano"]
        notes = read_notes(smd.with_suffix(".csv"))
        score = quantise(notes)
        result = align_signal(load_audio(smd, d.settings.sample_rate), score, d, params)
        err = np.abs(result.notes[:len(notes), 0] - notes[:, 0])
        base = np.abs(score[:, 0] - notes[:, 0])
        within = float(np.mean(err <= TOL))
        print(f"SMD excerpt, 16th-grid score ({len(notes)} notes): {100 * within:.1f} % within 50 ms "
              f"(the grid score itself: {100 * np.mean(base <= TOL):.1f} %), median {1000 * np.median(err):.1f} ms, "
              f"{int(np.sum(result.status[:len(notes)] == 'missing'))} marked missing; target >= 90 %: "
              f"{'met' if within >= 0.9 else 'NOT met'}")
    if args.speed:
        d = dicts["piano"]
        ys, scores, offset = [], [], 0.0
        piano = [p for p in pieces if "piano" in p.name]
        while offset < 180.0:
            for audio in piano:
                y = load_audio(audio, d.settings.sample_rate)
                notes = read_notes(audio.with_suffix(".csv"))
                score, _ = distort(notes, 1, d.pitch_set)
                score[:, :2] += offset
                ys.append(y)
                scores.append(score)
                offset += len(y) / d.settings.sample_rate
                if offset >= 180.0:
                    break
        y = np.concatenate(ys)[: int(180 * d.settings.sample_rate)]
        score = np.concatenate(scores)
        score = score[score[:, 0] < 180.0]
        align_signal(y[: d.settings.sample_rate * 5], score[score[:, 0] < 4], d, params)  # compile
        t0 = time.perf_counter()
        align_signal(y, score, d, params)
        dt = time.perf_counter() - t0
        from nmftrans.transcribe import transcribe_signal

        t0 = time.perf_counter()
        transcribe_signal(y, d)
        dt_tr = time.perf_counter() - t0
        print(f"speed: 180 s of audio, {len(score)} score notes aligned in {dt:.2f} s "
              f"(target <= 5 s on 2 cores: {'met' if dt <= 5 else 'NOT met'}); transcribing the same audio "
              f"took {dt_tr:.2f} s in this run: align = {dt / dt_tr:.1f}x transcribe")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
