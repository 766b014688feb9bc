#!/usr/bin/env python
"""Render score files with the 88 recorded notes of a real piano as a sampler (evaluation only).

    python scripts/render_real_sampled.py OUT [SCORE ...] [--samples ../shared/data/isolated/piano-maps-real]
                                          [--generated 4 --seed 101 --seconds 30]

With no SCORE, the development data's piano scores are rendered: every ``pieces/*__fluidr3-piano.csv``
(the same notes as the TimGM renders) and the two real pianos' ``real/*__real-piano.csv``. Scores
are ``.csv`` / ``.mid`` / anything :func:`nmftrans.io.annotations.read_notes` reads (MIDI offsets
extended by the sustain pedal). ``--generated N`` adds N seeded random pieces made by
``scripts/render_training_pieces.py``'s piece generator (chords, arpeggios and re-strikes under the
pedal, ...), here played by the real piano's notes instead of fluidsynth (``--only-generated``: those alone).

Each note is the recorded note of its pitch (``M_M<pitch>_S*.flac`` with its MAPS ``.txt``
onset), from its annotated onset on:

* gain from velocity: ``(velocity / 127) ** 2`` in amplitude (40 dB per factor 10 of velocity;
  velocity 30 is 25 dB below velocity 127). The timbre does not change with velocity (one
  recorded dynamic, MAPS "M");
* the recording's noise is reduced first (spectral subtraction of the noise spectrum measured
  before the note's onset in its file), so that a chord of ten notes does not add ten room noises;
* at the note's offset a damper fade (``--damper-s``: -60 dB over that time, exponential) ends it;
* when the same pitch is struck again while the old sound still rings (its damper fade not over),
  the old sound fades out over ``--restrike-s`` (-60 dB) from the new onset (the hammer re-strikes
  the same string);
* a note longer than its recording fades out over 50 ms at the recording's end.

Per score it writes ``<stem>__maps-sampled-piano.flac`` (mono, 44100 Hz, 16-bit, peak -1 dBFS, 1.0 s
past the last offset) and ``.csv`` (``onset,offset,pitch,velocity``: the score's notes, the exact
ground truth) into OUT, so ``nmftrans evaluate OUT -W piano`` scores it.

The samples are MAPS (research use only): never ship or commit what this script writes.
"""

from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path

import numpy as np
import soundfile as sf

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

from nmftrans.io.annotations import read_notes  # noqa: E402

SR = 44100
SUFFIX = "__maps-sampled-piano"


def denoise(x: np.ndarray, onset_s: float, n_fft: int = 2048, over: float = 2.0) -> np.ndarray:
    """Spectral subtraction of the stationary noise measured before ``onset_s`` (magnitude, with a floor)."""
    import librosa

    hop = n_fft // 4
    X = librosa.stft(x, n_fft=n_fft, hop_length=hop)
    pre = max(1, int((onset_s - 0.05) * SR) // hop - 2)
    noise = np.abs(X[:, :pre]).mean(axis=1, keepdims=True)
    mag = np.abs(X)
    gain = np.maximum(mag - over * noise, 0.02 * mag) / np.maximum(mag, 1e-12)
    return librosa.istft(X * gain, hop_length=hop, length=len(x))


def load_samples(folder: Path) -> dict[int, np.ndarray]:
    """Each pitch's recorded note from its annotated onset on, denoised, float64 at 44100 Hz."""
    out = {}
    for flac in sorted(folder.glob("M_M*_S*.flac")):
        pitch = int(flac.stem.split("_")[1][1:])
        x, sr = sf.read(flac, dtype="float64", always_2d=True)
        if sr != SR:
            sys.exit(f"error: {flac}: {sr} Hz, expected {SR}")
        x = x.mean(axis=1)
        rows = [line.split() for line in flac.with_suffix(".txt").read_text().splitlines()[1:] if line.strip()]
        onset = float(rows[0][0])
        x = denoise(x, onset)
        start = int(round(onset * SR))
        s = x[start:].copy()
        ramp = int(0.001 * SR)
        s[:ramp] *= np.linspace(0, 1, ramp)
        out[pitch] = s
    if len(out) != 88:
        sys.exit(f"error: {folder}: found {len(out)} of the 88 notes M_M021..M_M108")
    return out


def fade(n: int, seconds: float) -> np.ndarray:
    """-60 dB exponential fade over ``seconds``, ``n`` samples long (ends at 0)."""
    t = np.arange(n) / SR
    g = 10 ** (-3 * t / seconds)
    g[t >= seconds] = 0.0
    return g


def render_notes(notes: np.ndarray, samples: dict[int, np.ndarray], damper_s: float, restrike_s: float) -> np.ndarray:
    """The mix of all notes, ``notes`` (n, 4): onset, offset, pitch, velocity; peak -1 dBFS."""
    end = float(notes[:, 1].max()) + 1.0
    y = np.zeros(int(round(end * SR)) + 1)
    order = np.lexsort((notes[:, 0], notes[:, 2]))
    for k, i in enumerate(order):
        on, off, pitch, vel = notes[i]
        s = samples[int(pitch)]
        nxt = None
        if k + 1 < len(order) and notes[order[k + 1], 2] == pitch:
            nxt = notes[order[k + 1], 0]
        a = int(round(on * SR))
        stop = int(round(off * SR))  # damper starts here
        length = min(len(s), len(y) - a)
        env = np.ones(length)
        d = stop - a
        if d < length:
            env[max(d, 0):] = fade(length - max(d, 0), damper_s)
        if nxt is not None:  # a re-strike while the old sound rings: fast fade from the new onset
            r = int(round(nxt * SR)) - a
            if r < length:
                env[r:] = np.minimum(env[r:], fade(length - r, restrike_s))
        tail = int(0.05 * SR)
        if length == len(s) and length > tail:  # the recording ends: fade over its last 50 ms
            env[-tail:] *= np.linspace(1, 0, tail)
        y[a:a + length] += s[:length] * env * (vel / 127.0) ** 2
    return y / max(1e-12, np.abs(y).max()) * 10 ** (-1 / 20)


def write(out: Path, name: str, notes: np.ndarray, y: np.ndarray) -> None:
    sf.write(out / f"{name}{SUFFIX}.flac", y, SR, subtype="PCM_16")
    with open(out / f"{name}{SUFFIX}.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["onset", "offset", "pitch", "velocity"])
        w.writerows((f"{a:.4f}", f"{b:.4f}", int(p), int(v)) for a, b, p, v in notes)


def generated(seed: int, count: int, seconds: float) -> list[tuple[str, np.ndarray]]:
    """Seeded random pieces of ``render_training_pieces`` (its notes, not its audio)."""
    import render_training_pieces as rtp

    out = []
    for i in range(count):
        piece = rtp.make_piece(np.random.default_rng([seed, i]), seconds)
        keys = rtp.key_events(piece.keys)
        truth = rtp.ground_truth(keys, rtp.merge_pedal(piece.pedal))
        notes = np.array(truth, dtype=np.float64)
        out.append((f"gen_s{seed}_{i:02d}", notes[np.lexsort((notes[:, 2], notes[:, 0]))]))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument("out", type=Path)
    parser.add_argument("scores", type=Path, nargs="*")
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--samples", type=Path, default=None, help="default: DATA/isolated/piano-maps-real")
    parser.add_argument("--damper-s", type=float, default=0.2)
    parser.add_argument("--restrike-s", type=float, default=0.03)
    parser.add_argument("--generated", type=int, default=0)
    parser.add_argument("--seed", type=int, default=101)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--only-generated", action="store_true", help="no scores, only the --generated pieces")
    args = parser.parse_args()
    samples = load_samples(args.samples or args.data / "isolated" / "piano-maps-real")
    scores = list(args.scores)
    if not scores and not args.only_generated:
        scores = sorted((args.data / "pieces").glob("*__fluidr3-piano.csv")) + sorted(
            (args.data / "real").glob("*__real-piano.csv"))
    jobs = [(p.stem.split("__")[0], read_notes(p)) for p in scores]
    jobs += generated(args.seed, args.generated, args.seconds)
    args.out.mkdir(parents=True, exist_ok=True)
    for name, notes in jobs:
        notes = notes[(notes[:, 2] >= 21) & (notes[:, 2] <= 108)]
        y = render_notes(notes, samples, args.damper_s, args.restrike_s)
        write(args.out, name, notes, y)
        print(f"{name}{SUFFIX}: {len(y) / SR:.1f} s, {len(notes)} notes", file=sys.stderr)


if __name__ == "__main__":
    main()
