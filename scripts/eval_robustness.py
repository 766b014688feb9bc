#!/usr/bin/env python
"""How the default pipeline holds up under noise and room reverberation.

    python scripts/eval_robustness.py [--data ../shared/data] [--snr 20] [--rt60 0.4 0.8] [--hum -30] [--piano PATH]
                                      [--guitar NAME_OR_PATH] [--real]

Takes the 12 rendered piano pieces of the development data (with ``--guitar``: the 3 rendered
guitar pieces, scored with that guitar dictionary instead), and scores (mir_eval note-onset F at
50 ms, frame F) the shipped piano dictionary with the default settings on each piece as it is,
with white noise added at ``--snr`` dB, and convolved with a synthetic room response (exponentially
decaying Gaussian noise after a direct path, reverberation time ``--rt60`` seconds, direct to
reverberant energy about 0 dB), and with mains hum (50 Hz and its 2nd, 3rd, 4th, 5th and 7th
harmonics, random phases) at ``--hum`` dBFS. The noise, rooms and hum are seeded: the figures are
reproducible. ``--real`` takes the real recordings of ``real/`` instead (``*__real-piano``, with
``--guitar`` ``*__real-guitar``), each brought to a peak of -1 dBFS as the rendered pieces are (only the
hum's level depends on it), and prints each file's scores too: a real recording already has its
room, so noise and rooms cost it more than a dry render.
Nothing here is tuned on; it shows what a user's room does to the scores.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from nmftrans.io.audio import load_audio  # noqa: E402
from nmftrans.io.dictionary import load_dictionary  # noqa: E402
from nmftrans.io.annotations import read_reference  # noqa: E402
from nmftrans.core.metrics import evaluate_notes  # noqa: E402
from nmftrans.transcribe import transcribe_signal  # noqa: E402


def room_response(rt60: float, sr: int, rng: np.random.Generator) -> np.ndarray:
    """A direct path plus an exponentially decaying noise tail (60 dB down after ``rt60`` s),
    scaled so that the tail carries about as much energy as the direct path."""
    t = np.arange(int(rt60 * sr)) / sr
    tail = rng.standard_normal(len(t)) * np.exp(-6.91 * t / rt60)
    tail[0] = 0.0
    tail /= np.sqrt(np.sum(tail**2))
    tail[0] = 1.0  # the direct path
    return tail.astype(np.float32)


def mains_hum(n: int, sr: int, dbfs: float, rng: np.random.Generator, f0: float = 50.0) -> np.ndarray:
    """``n`` samples of mains hum: ``f0`` and its 2nd, 3rd, 4th, 5th and 7th harmonics (random
    phases), at an RMS of ``dbfs``."""
    t = np.arange(n) / sr
    hum = sum(a * np.sin(2 * np.pi * f0 * k * t + rng.uniform(0, 2 * np.pi))
              for k, a in [(1, 1.0), (2, 0.5), (3, 0.7), (4, 0.2), (5, 0.3), (7, 0.1)])
    return (hum * 10 ** (dbfs / 20) / np.sqrt(np.mean(hum**2))).astype(np.float32)


def conditions(y: np.ndarray, sr: int, snr_db: float, rt60s: list[float], rng: np.random.Generator,
               hum_dbfs: list[float] = (), hum_rng: np.random.Generator | None = None):
    from scipy.signal import fftconvolve

    yield "clean", y
    noise = rng.standard_normal(len(y)).astype(np.float32)
    yield f"white noise {snr_db:g} dB SNR", y + noise * np.sqrt(np.mean(y**2) / 10 ** (snr_db / 10))
    for rt60 in rt60s:
        wet = fftconvolve(y, room_response(rt60, sr, rng))[: len(y)].astype(np.float32)
        yield f"room, RT60 {rt60:g} s", wet / max(1e-9, float(np.abs(wet).max()))
    for dbfs in hum_dbfs:
        # its own generator: the noise and rooms stay those drawn before the hum was added
        yield f"50 Hz hum at {dbfs:g} dBFS", y + mains_hum(len(y), sr, dbfs, hum_rng or np.random.default_rng(1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--snr", type=float, default=20.0)
    parser.add_argument("--rt60", type=float, nargs="+", default=[0.4, 0.8])
    parser.add_argument("--hum", type=float, nargs="*", default=[-30.0], help="mains hum levels (dBFS)")
    parser.add_argument("--piano", default="piano", help="piano dictionary (name or path)")
    parser.add_argument("--guitar", default=None,
                        help="score the guitar pieces with this guitar dictionary (name or path) instead")
    parser.add_argument("--real", action="store_true", help="the real recordings of real/ instead of the rendered pieces")
    args = parser.parse_args()
    instrument = "piano" if args.guitar is None else "guitar"
    folder = args.data / ("real" if args.real else "pieces")
    pattern = f"*__real-{instrument}.flac" if args.real else ("*-piano.flac" if args.guitar is None else "*-nylon.flac")
    pieces = sorted(folder.glob(pattern))
    if not pieces:
        raise SystemExit(f"no {'real' if args.real else 'rendered'} {instrument} recordings under {folder}")
    dictionary = load_dictionary(args.piano if args.guitar is None else args.guitar)
    sr = dictionary.settings.sample_rate
    rng, hum_rng = np.random.default_rng(0), np.random.default_rng(1)
    scores: dict[str, list[tuple[float, float]]] = {}
    for audio in pieces:
        ref, _ = read_reference(audio.with_suffix(".csv"))
        y = load_audio(audio, sr)
        if args.real:  # peak -1 dBFS, as the rendered pieces: the hum's dBFS mean the same to both
            y = (y * (10 ** (-1 / 20) / max(1e-9, float(np.abs(y).max())))).astype(np.float32)
        for name, x in conditions(y, sr, args.snr, args.rt60, rng, args.hum, hum_rng):
            s = evaluate_notes(ref, transcribe_signal(x, dictionary).notes)
            scores.setdefault(name, []).append((s["onset_f"], s["frame_f"]))
    kind = "real recordings" if args.real else "pieces"
    print(f"{'condition (' + str(len(pieces)) + ' ' + instrument + ' ' + kind + ')':<36}{'onset F':>9}{'frame F':>9}")
    for name, rows in scores.items():
        onset, frame = np.mean(rows, axis=0)
        print(f"{name:<36}{onset:>9.3f}{frame:>9.3f}")
        if args.real and len(pieces) > 1:
            for audio, (onset, frame) in zip(pieces, rows):
                print(f"  {audio.name.split('__')[0][:32]:<34}{onset:>9.3f}{frame:>9.3f}")


if __name__ == "__main__":
    main()
