#!/usr/bin/env python
"""Learning from labelled recordings: how good is the learned dictionary, and how long does it take.

    python scripts/eval_learning.py [--data ../shared/data] [--method informed|fixed] [-j 1]

Rows (note-onset F, 50 ms, mean over files):

* the shipped piano dictionary (isolated FluidR3 notes) on the six TimGM6mb piano pieces;
* a dictionary learned from the six FluidR3 piano pieces (labelled audio), on the same TimGM6mb
  pieces and on the real piano recordings in ``real/``;
* the real guitar track ``guitarset-real`` cut in two halves at its middle: a dictionary learned
  from the first half against the shipped guitar dictionary, both transcribing the second half
  (notes with their onset in the second half; ringing notes from the first half are not
  annotated there, which costs both dictionaries alike);
* a dictionary learned from the whole ``guitarset-real`` track on the FluidR3 nylon guitar
  pieces (another guitar, rendered), against the shipped guitar dictionary (learned from that
  very guitar's isolated notes, so it is flattered there).

A dictionary of harmonic combs (``learn --harmonic``: one sustain template per pitch, no data)
is shown as the floor. ``--method fixed`` is plain supervised NMF (H fixed to the piano roll: what ``learn`` did
before score-informed learning), ``--method informed`` the score-informed learner. The seconds
each ``learn`` took are printed too (compare the two methods in one run of this script on an
idle machine).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from nmftrans.io.annotations import read_notes  # noqa: E402
from nmftrans.io.dictionary import load_dictionary  # noqa: E402
from nmftrans.evaluate import evaluate_dataset, successful  # noqa: E402
from nmftrans.learn import learn_from_sources, learn_harmonic  # noqa: E402
from nmftrans.io.midi import notes_to_csv  # noqa: E402


def group_folder(data: Path, folder: str, pattern: str, out: Path) -> Path:
    """A folder of symbolic links to one group's audio and annotations."""
    out.mkdir()
    for p in sorted((data / folder).iterdir()):
        if pattern in p.name:
            (out / p.name).symlink_to(p.resolve())
    return out


def guitar_halves(data: Path, tmp: Path) -> tuple[Path, Path, Path]:
    """``guitarset-real`` as two labelled files (first half, second half) and the whole track."""
    root = data / "guitarset-real"
    audio = root / "audio_mono-mic" / "00_BN1-129-Eb_comp_mic.wav"
    notes = read_notes(root / "annotation" / "00_BN1-129-Eb_comp.jams")
    y, sr = sf.read(str(audio), dtype="float32")
    cut = len(y) // 2
    t_cut = cut / sr
    first, second, whole = tmp / "guitar-first", tmp / "guitar-second", tmp / "guitar-whole"
    for d in (first, second, whole):
        d.mkdir()
    sf.write(first / "first.wav", y[:cut], sr)
    a = notes[notes[:, 0] < t_cut].copy()
    a[:, 1] = np.minimum(a[:, 1], t_cut)
    (first / "first.csv").write_text(notes_to_csv(a))
    sf.write(second / "second.wav", y[cut:], sr)
    b = notes[notes[:, 0] >= t_cut].copy()
    b[:, :2] -= t_cut
    (second / "second.csv").write_text(notes_to_csv(b))
    (whole / audio.name).symlink_to(audio.resolve())
    (whole / "00_BN1-129-Eb_comp_mic.csv").write_text(notes_to_csv(notes))
    return first, second, whole


def onset_f(folder: Path, dictionary) -> tuple[float, list[tuple[str, float]]]:
    files = successful(evaluate_dataset([folder], dictionary).files)
    per_file = [(f.name, f.scores["onset_f"]) for f in files]
    return sum(s for _, s in per_file) / len(per_file), per_file


def learned(sources, method: str, jobs: int, beta: float, iterations: int | None):
    kw = {} if method == "fixed-legacy" else {"method": method}
    if iterations is not None:
        kw["iterations"] = iterations
    t0 = time.perf_counter()
    d, _ = learn_from_sources(sources, beta=beta, jobs=jobs, **kw)
    return d, time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--method", default="informed", help="informed, fixed, or fixed-legacy (code before the method option)")
    parser.add_argument("--beta", type=float, default=1.0)
    parser.add_argument("--iterations", type=int, default=None)
    parser.add_argument("-j", "--jobs", type=int, default=1)
    parser.add_argument("--per-file", action="store_true", help="also print each file's onset F")
    args = parser.parse_args()
    piano, guitar = load_dictionary("piano"), load_dictionary("guitar")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        fluid = group_folder(args.data, "pieces", "__fluidr3-piano", tmp / "fluidr3-piano")
        timgm = group_folder(args.data, "pieces", "__timgm6mb-piano", tmp / "timgm6mb-piano")
        real = group_folder(args.data, "real", "__real-piano", tmp / "real-piano")
        nylon = group_folder(args.data, "pieces", "__fluidr3-nylon", tmp / "fluidr3-nylon")
        first, second, whole = guitar_halves(args.data, tmp)
        d_piano, t_piano = learned([fluid], args.method, args.jobs, args.beta, args.iterations)
        d_first, t_first = learned([first], args.method, args.jobs, args.beta, args.iterations)
        d_whole, t_whole = learned([whole], args.method, args.jobs, args.beta, args.iterations)
        comb_piano, comb_guitar = learn_harmonic((21, 108)), learn_harmonic((40, 88))
        cases = [
            ("harmonic combs (no data)", "TimGM6mb piano pieces", comb_piano, timgm),
            ("shipped piano (isolated FluidR3)", "TimGM6mb piano pieces", piano, timgm),
            (f"learned: 6 FluidR3 piano pieces ({t_piano:.1f} s)", "TimGM6mb piano pieces", d_piano, timgm),
            ("harmonic combs (no data)", "real pianos", comb_piano, real),
            ("shipped piano (isolated FluidR3)", "real pianos", piano, real),
            ("learned: 6 FluidR3 piano pieces", "real pianos", d_piano, real),
            ("harmonic combs (no data)", "guitarset-real 2nd half", comb_guitar, second),
            ("shipped guitar (isolated FluidR3)", "guitarset-real 2nd half", guitar, second),
            (f"learned: guitarset-real 1st half ({t_first:.1f} s)", "guitarset-real 2nd half", d_first, second),
            ("shipped guitar (isolated FluidR3)", "FluidR3 nylon pieces", guitar, nylon),
            (f"learned: guitarset-real whole ({t_whole:.1f} s)", "FluidR3 nylon pieces", d_whole, nylon),
        ]
        for name, target, d, folder in cases:
            mean, per_file = onset_f(folder, d)
            rows.append((name, target, mean, per_file))
    print(f"method: {args.method}, beta {args.beta}")
    print(f"| {'dictionary':<46} | {'transcribes':<24} | onset F |")
    print(f"|{'-' * 48}|{'-' * 26}|---------|")
    for name, target, mean, per_file in rows:
        print(f"| {name:<46} | {target:<24} | {mean:7.3f} |")
        if args.per_file:
            for f, s in per_file:
                print(f"|   {f[:44]:<44} | {'':<24} | {s:7.3f} |")


if __name__ == "__main__":
    main()
