#!/usr/bin/env python
"""Notes written where there is no music, and notes kept in a quiet passage.

    python scripts/eval_nonmusic.py [--data ../shared/data] [--dictionaries piano guitar]

Generates (seeded, so the figures are reproducible) sounds without music: white noise at -60,
-40 and -20 dBFS, brown "room tone" at -45 dBFS, pink noise at -30 dBFS, 8 s of tape hiss at
-70 dBFS (white noise tilted up above 1 kHz), mains hum (50 Hz and harmonics) at -30 dBFS, clicks,
bursts like applause, 20 keystroke-like bursts over a quiet room (0.5-4 ms decays, the room 54 dB
under the loudest), a spoken sentence (only where ``espeak-ng`` is installed), a synthetic gliding
voice (``tests.synth.glide_voice``), 60 Hz hum at -40 dBFS without noise and a WAV of 8
samples; then runs ``nmftrans transcribe`` with its defaults on all of them, once per dictionary,
and prints the notes of each and the notes per minute over the set. Apart from them, tonal sounds
that are not music (bird-like chirps, a siren, an engine running up, a sine sweep): their notes.

The quiet-passage case: a development piece (``haydn_op20n1-01``, 13.5 s, and ``maestro_2018``,
46 s, for the piano, ``slakh_Track00001_S07``, 46.5 s, for the guitar) whose second half is 20 dB down, against the same
second half on its own; it prints the mir_eval note-onset F (50 ms) of the notes that start in
the second half (from 0.25 s after the cut, the same window in both) in both cases, and their ratio.
"""

from __future__ import annotations

import argparse
import csv
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import soundfile as sf

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from nmftrans.io.audio import load_audio  # noqa: E402
from nmftrans.evaluate import read_reference  # noqa: E402
from nmftrans.core.metrics import evaluate_notes  # noqa: E402
from tests.synth import glide_voice  # noqa: E402

SR = 22050
QUIET_DB = -20.0
PIECES = {"piano": ["pieces/haydn_op20n1-01__fluidr3-piano.flac",
                    "pieces/maestro_2018-Chamber3-10-R3-1_first45s__fluidr3-piano.flac"],
          "guitar": ["pieces/slakh_Track00001_S07_43-88s__fluidr3-nylon.flac"]}
SKIP_S = 0.25  # notes starting this soon after the cut are not scored (the cut itself sounds)


def _at(y: np.ndarray, dbfs: float) -> np.ndarray:
    """``y`` scaled to an RMS of ``dbfs``."""
    y = np.asarray(y, dtype=np.float64)
    return (y * 10 ** (dbfs / 20) / np.sqrt(np.mean(y**2))).astype(np.float32)


def _coloured(rng: np.random.Generator, n: int, exponent: float) -> np.ndarray:
    """Gaussian noise with a power spectrum falling as ``1 / f**exponent`` (1: pink, 2: brown)."""
    X = np.fft.rfft(rng.standard_normal(n))
    f = np.fft.rfftfreq(n, 1 / SR)
    f[0] = f[1]
    return np.fft.irfft(X / f ** (exponent / 2), n)


def nonmusic(seed: int = 0) -> dict[str, np.ndarray]:
    """The non-music signals at ``SR``, by name (6 s each unless the name says otherwise)."""
    rng = np.random.default_rng(seed)
    n = 6 * SR
    out = {f"white noise {lv} dBFS": _at(rng.standard_normal(n), lv) for lv in (-60, -40, -20)}
    out["brown room tone -45 dBFS"] = _at(_coloured(rng, n, 2.0), -45)
    out["pink noise -30 dBFS"] = _at(_coloured(rng, n, 1.0), -30)
    X = np.fft.rfft(rng.standard_normal(8 * SR))
    X *= np.sqrt(1 + np.fft.rfftfreq(8 * SR, 1 / SR) / 1000.0)  # +3 dB/octave above 1 kHz
    out["tape hiss -70 dBFS (8 s)"] = _at(np.fft.irfft(X, 8 * SR), -70)
    t = np.arange(n) / SR
    hum = sum(a * np.sin(2 * np.pi * 50 * k * t + rng.uniform(0, 2 * np.pi))
              for k, a in [(1, 1.0), (2, 0.5), (3, 0.7), (4, 0.2), (5, 0.3), (7, 0.1)])
    out["mains hum -30 dBFS"] = _at(hum + 0.01 * rng.standard_normal(n), -30)
    clicks = np.zeros(n)
    for pos in rng.integers(0, n - 100, 40):
        clicks[pos:pos + 3] += rng.uniform(0.3, 0.9) * rng.choice([-1, 1]) * np.array([1.0, -0.6, 0.3])
    out["clicks"] = clicks.astype(np.float32)
    bursts = np.zeros(n)
    for pos in rng.integers(0, n - 2000, 300):
        length = int(rng.integers(300, 1500))
        bursts[pos:pos + length] += (rng.standard_normal(length) * np.exp(-np.arange(length) / (length / 5))
                                     * rng.uniform(0.2, 1.0))
    out["applause-like bursts -25 dBFS"] = _at(bursts, -25)
    keys = rng.standard_normal(n) * 0.002  # a quiet room, 54 dB under the loudest keystrokes
    for pos in rng.integers(0, n - SR // 30, 20):
        k = np.arange(SR // 30)
        keys[pos:pos + len(k)] += (rng.uniform(0.3, 1.0) * rng.standard_normal(len(k))
                                   * np.exp(-k / (rng.uniform(0.0005, 0.004) * SR)))
    out["keystrokes over a quiet room"] = _at(keys, -30)
    speech = _speech()
    if speech is not None:
        out["speech (espeak-ng)"] = speech
    out["gliding voice (synthetic)"] = glide_voice(seed)
    hum60 = sum(a * np.sin(2 * np.pi * 60 * k * t) for k, a in [(1, 1.0), (2, 0.8), (3, 0.5), (4, 0.3)])
    out["hum 60 Hz -40 dBFS, no noise"] = _at(hum60, -40)
    out["8 samples"] = (0.1 * rng.standard_normal(8)).astype(np.float32)
    return out


def tonal(seed: int = 0) -> dict[str, np.ndarray]:
    """Tonal sounds that are not music, 8 s each at ``SR``: a pitch is there, notes are not (a few
    are defensible, hundreds are not). Printed apart from the noises."""
    rng = np.random.default_rng(seed + 1)
    n = 8 * SR
    t = np.arange(n) / SR
    birds = np.zeros(n)
    for start in np.arange(0.2, 7.8, 0.35):  # chirps: 0.12 s, 3 kHz ± 1.5 kHz at 8 Hz
        k = np.arange(int(0.12 * SR))
        f = 3000 + 1500 * np.sin(2 * np.pi * 8 * k / SR) + rng.uniform(-500, 500)
        birds[int(start * SR):int(start * SR) + len(k)] += np.sin(2 * np.pi * np.cumsum(f) / SR) * np.hanning(len(k))
    siren = np.sin(2 * np.pi * np.cumsum(900 + 300 * np.sin(2 * np.pi * 0.25 * t)) / SR)
    phase = 2 * np.pi * np.cumsum(30 + 60 * t / 8) / SR  # an engine running up, 30 -> 90 Hz
    engine = sum(np.sin(h * phase) / h for h in range(1, 20)) + 0.05 * rng.standard_normal(n)
    sweep = np.sin(2 * np.pi * np.cumsum(50 * 100 ** (t / 8)) / SR)  # 50 Hz -> 5 kHz
    return {name: _at(y, -20) for name, y in [("bird-like chirps (3 kHz FM)", birds), ("siren 600-1200 Hz", siren),
                                               ("engine run-up 30-90 Hz", engine), ("sine sweep 50 Hz-5 kHz", sweep)]}


def _speech() -> np.ndarray | None:
    """A spoken sentence from ``espeak-ng`` at ``SR`` (peak -6 dBFS), or None without it."""
    if shutil.which("espeak-ng") is None:
        return None
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "speech.wav"
        text = "One, two, three, four. The quick brown fox jumps over the lazy dog, and then we begin to play."
        subprocess.run(["espeak-ng", "-w", str(path), text], check=True, capture_output=True)
        y = load_audio(path, SR)
    return (0.5 * y / max(1e-9, float(np.abs(y).max()))).astype(np.float32)


def transcribe_all(paths: list[Path], dictionary: str, out: Path) -> dict[Path, np.ndarray]:
    """Run the CLI with its defaults on ``paths``; the note list of each (``(n, 4)``)."""
    out.mkdir()
    cmd = [sys.executable, "-m", "nmftrans", "transcribe", *map(str, paths), "-W", dictionary, "-o", str(out),
           "--csv", "--quiet"]
    subprocess.run(cmd, check=False, stdout=subprocess.DEVNULL)
    notes = {}
    for p in paths:
        rows = []
        csv_path = out / (p.stem + ".csv")
        if csv_path.exists():
            with open(csv_path) as f:
                rows = [[float(r["onset"]), float(r["offset"]), float(r["pitch"]), float(r["velocity"])]
                        for r in csv.DictReader(f)]
        notes[p] = np.array(rows, dtype=np.float64).reshape(-1, 4)
    return notes


def _after(notes: np.ndarray, start: float) -> np.ndarray:
    return notes[notes[:, 0] >= start]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--dictionaries", nargs="+", default=["piano", "guitar"])
    args = parser.parse_args()
    signals = nonmusic()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        paths = {}
        for i, (name, y) in enumerate(signals.items()):
            paths[name] = tmp / f"nonmusic{i:02d}.wav"
            sf.write(paths[name], y, SR, subtype="FLOAT" if name != "8 samples" else "PCM_16")
        minutes = sum(len(y) for y in signals.values()) / SR / 60
        tones = tonal()
        tone_paths = {}
        for i, (name, y) in enumerate(tones.items()):
            tone_paths[name] = tmp / f"tonal{i:02d}.wav"
            sf.write(tone_paths[name], y, SR, subtype="FLOAT")
        for dname in args.dictionaries:
            label = Path(dname).stem  # a name (piano) or a .npz path
            quiet = {}
            for k, rel in enumerate(PIECES.get(dname, PIECES["piano"])):
                piece = args.data / rel
                if not piece.exists():
                    continue
                y = load_audio(piece, SR)
                cut = len(y) // 2
                g = np.float32(10 ** (QUIET_DB / 20))
                quiet[piece] = (tmp / f"{label}-{k}-half.flac", tmp / f"{label}-{k}-alone.flac", cut / SR)
                sf.write(quiet[piece][0], np.concatenate([y[:cut], g * y[cut:]]), SR)
                sf.write(quiet[piece][1], g * y[cut:], SR)
            extra = [p for q in quiet.values() for p in q[:2]]
            notes = transcribe_all(list(paths.values()) + list(tone_paths.values()) + extra, dname, tmp / label)
            print(f"dictionary {dname}: notes written")
            total = 0
            for name, path in paths.items():
                n = len(notes[path])
                total += n
                print(f"  {name:<32}{len(signals[name]) / SR:>7.2f} s {n:>6}")
            print(f"  {'notes per minute':<32}{minutes * 60:>7.1f} s {total / minutes:>6.1f}")
            print("  tonal, not music:")
            for name, path in tone_paths.items():
                print(f"  {name:<32}{len(tones[name]) / SR:>7.2f} s {len(notes[path]):>6}")
            for piece, (half, alone_path, cut_s) in quiet.items():
                ref, _ = read_reference(piece.with_suffix(".csv"))
                start = cut_s + SKIP_S
                ref_q = _after(ref, start)
                f_half = evaluate_notes(ref_q, _after(notes[half], start))["onset_f"]
                alone = notes[alone_path].copy()
                alone[:, :2] += cut_s
                f_alone = evaluate_notes(ref_q, _after(alone, start))["onset_f"]
                print(f"  quiet half ({piece.stem}, {QUIET_DB:g} dB, {len(ref_q)} notes): onset F "
                      f"{f_half:.3f} in the file, {f_alone:.3f} alone: {f_half / max(f_alone, 1e-9):.0%} kept")


if __name__ == "__main__":
    main()
