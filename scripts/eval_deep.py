#!/usr/bin/env python
"""Deep NMF against the shipped piano dictionary, on the same files, per file.

    python scripts/eval_deep.py [--data ../shared/data] [--layers 12] [--steps 40] [--deep deep.npz]
                                [--save deep.npz]

Trains a deep dictionary (``nmftrans.deep_train``) from the shipped piano dictionary on the
FluidR3 piano pieces ONLY (``pieces/*__fluidr3-piano*``; never on the TimGM6mb pieces, which are
held out as another piano, nor on ``real/``), unless ``--deep`` gives one already trained. Then
transcribes and scores, with the default tracker, three dictionaries:

* ``shipped``: the shipped piano dictionary with today's solve (12 + 7 MU updates and the
  per-block adaptation of W);
* ``unfolded``: K plain MU layers with the shipped W in every layer (the deep network before
  training: shows what dropping the adaptation and the 7 extra updates costs);
* ``deep``: the trained K layers;
* ``deep + adapt``: the trained K layers as the first solve, then today's per-block adaptation of
  W (from the last layer's templates) and its 7 H updates (``learn --deep --deep-adapt``).

Groups: FluidR3 piano pieces (the training pieces), TimGM6mb piano pieces (held out), and every
file of ``real/`` (piano dictionaries on the real guitar too, for completeness). Scores are
mir_eval's note-onset F (50 ms) and frame F, per file and as group means; a markdown table goes
to stdout. Then the notes each dictionary finds in 10 s of seeded non-music signals (white, pink and
brown noise at about -30 dBFS RMS, mains hum with harmonics plus noise, random clicks): fewer is
better, none is right. With ``--robustness``, also the TimGM6mb pieces under the conditions of
``scripts/eval_robustness.py`` (white noise at 20 dB SNR, synthetic rooms of RT60 0.4 and 0.8 s; the
same seeded signals for every dictionary).
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

sys.path.insert(0, str(ROOT / "scripts"))
from eval_accuracy import group_folder  # noqa: E402
from nmftrans.deep_train import DeepParams, train_deep  # noqa: E402
from nmftrans.io.dictionary import load_dictionary, save_dictionary  # noqa: E402
from nmftrans.evaluate import evaluate_dataset, successful  # noqa: E402

GROUPS = [  # name, folder under data, file-name filter
    ("fluidr3 piano (train)", "pieces", "__fluidr3-piano"),
    ("timgm6mb piano (held out)", "pieces", "__timgm6mb-piano"),
    ("real", "real", "__real-"),
]


def non_music(sr: int, seconds: float = 10.0) -> dict[str, np.ndarray]:
    """Seeded signals without notes, about -30 dBFS RMS."""
    rng = np.random.default_rng(0)
    n = int(sr * seconds)
    white = rng.normal(size=n)
    spectrum = np.fft.rfft(rng.normal(size=n))
    f = np.maximum(np.fft.rfftfreq(n, 1 / sr), 1.0)
    pink = np.fft.irfft(spectrum / np.sqrt(f), n)
    brown = np.fft.irfft(spectrum / f, n)
    t = np.arange(n) / sr
    hum = sum(np.sin(2 * np.pi * 50 * k * t) / k for k in range(1, 8)) + 0.1 * white
    clicks = np.zeros(n)
    clicks[rng.choice(n, 40, replace=False)] = 1.0
    clicks = np.convolve(clicks, np.exp(-np.arange(200) / 20.0) * rng.normal(size=200), mode="same")
    out = {}
    for name, y in {"white noise": white, "pink noise": pink, "brown noise": brown, "50 Hz hum": hum,
                    "clicks": clicks}.items():
        out[name] = (0.0316 * y / np.sqrt(np.mean(y ** 2))).astype(np.float32)
    return out


def training_pairs(data: Path) -> list[tuple[Path, Path]]:
    """The FluidR3 piano pieces and their CSV annotations (the only training material)."""
    audio = sorted((data / "pieces").glob("*__fluidr3-piano.flac"))
    return [(a, a.with_suffix(".csv")) for a in audio]


class _Log:
    def info(self, message: str) -> None:
        print(time.strftime("%H:%M:%S"), message, file=sys.stderr, flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--layers", type=int, default=12)
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--frames", type=int, default=DeepParams.frames)
    parser.add_argument("--colour", type=float, default=DeepParams.colour)
    parser.add_argument("--deep", type=Path, default=None, help="an already trained deep dictionary")
    parser.add_argument("--save", type=Path, default=None, help="write the trained deep dictionary here")
    parser.add_argument("--robustness", action="store_true", help="also score the TimGM pieces with noise and rooms")
    args = parser.parse_args()
    shipped = load_dictionary("piano")
    if args.deep is not None:
        deep = load_dictionary(args.deep)
    else:
        pairs = training_pairs(args.data)
        assert pairs and not any("timgm" in str(a) for a, _ in pairs)
        t0 = time.perf_counter()
        deep, report = train_deep(pairs, shipped, DeepParams(layers=args.layers, steps=args.steps, frames=args.frames,
                                                                 colour=args.colour),
                                  log=_Log())
        _Log().info(f"trained on {len(report.files)} files in {time.perf_counter() - t0:.0f} s: "
                    f"loss {report.losses[0]:.4f} -> {report.losses[-1]:.4f}")
        if args.save is not None:
            save_dictionary(deep, args.save)
    K = deep.deep_W.shape[0]
    unfolded = dataclasses.replace(shipped, deep_W=np.broadcast_to(shipped.W, (K,) + shipped.W.shape))
    adapted = dataclasses.replace(deep, deep_adapt=True)
    dictionaries = {"shipped": shipped, f"unfolded {K}": unfolded, f"deep {K}": deep, f"deep {K} + adapt": adapted}
    names = list(dictionaries)
    table: dict[str, dict[str, dict[str, tuple[float, float]]]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for group, folder, pattern in GROUPS:
            src = group_folder(args.data, folder, pattern, Path(tmp))
            table[group] = {}
            for name, d in dictionaries.items():
                t0 = time.perf_counter()
                files = successful(evaluate_dataset([src], d).files)
                _Log().info(f"{group} / {name}: {len(files)} files in {time.perf_counter() - t0:.1f} s")
                for f in files:
                    table[group].setdefault(f.name, {})[name] = (f.scores["onset_f"], f.scores["frame_f"])
    head = "| group | file | " + " | ".join(f"{n} onset F | {n} frame F" for n in names) + " |"
    print(head)
    print("|" + "---|" * (2 + 2 * len(names)))
    for group, rows in table.items():
        for file, scores in rows.items():
            cells = " | ".join(f"{scores[n][0]:.3f} | {scores[n][1]:.3f}" if n in scores else "- | -" for n in names)
            print(f"| {group} | {file} | {cells} |")
        means = []
        for n in names:
            vals = [s[n] for s in rows.values() if n in s]
            means.append(f"**{np.mean([v[0] for v in vals]):.3f}** | **{np.mean([v[1] for v in vals]):.3f}**")
        print(f"| {group} | **mean of {len(rows)}** | " + " | ".join(means) + " |")
    from nmftrans.transcribe import transcribe_signal

    print()
    print("| non-music (10 s) | " + " | ".join(f"{n} notes" for n in names) + " |")
    print("|---|" + "---|" * len(names))
    for signal, y in non_music(shipped.settings.sample_rate).items():
        counts = [str(len(transcribe_signal(y, d).notes)) for d in dictionaries.values()]
        print(f"| {signal} | " + " | ".join(counts) + " |")
    if args.robustness:
        robustness(args.data, dictionaries)


def robustness(data: Path, dictionaries: dict) -> None:
    """Mean onset / frame F of the TimGM6mb pieces under eval_robustness.py's conditions."""
    sys.path.insert(0, str(ROOT / "scripts"))
    from eval_robustness import conditions

    from nmftrans.io.audio import load_audio
    from nmftrans.io.annotations import read_reference
    from nmftrans.core.metrics import evaluate_notes
    from nmftrans.transcribe import transcribe_signal

    pieces = sorted((data / "pieces").glob("*__timgm6mb-piano.flac"))
    scores: dict[str, dict[str, list]] = {}
    for name, d in dictionaries.items():
        sr = d.settings.sample_rate
        rng = np.random.default_rng(0)  # the same noise and rooms for every dictionary
        for audio in pieces:
            ref, _ = read_reference(audio.with_suffix(".csv"))
            for condition, x in conditions(load_audio(audio, sr), sr, 20.0, [0.4, 0.8], rng):
                s = evaluate_notes(ref, transcribe_signal(x, d).notes)
                scores.setdefault(condition, {}).setdefault(name, []).append((s["onset_f"], s["frame_f"]))
    names = list(dictionaries)
    print()
    print(f"| TimGM6mb pieces ({len(pieces)}), condition | " + " | ".join(names) + " |")
    print("|---|" + "---|" * len(names))
    for condition, by_name in scores.items():
        cells = [f"{np.mean([r[0] for r in by_name[n]]):.3f} / {np.mean([r[1] for r in by_name[n]]):.3f}" for n in names]
        print(f"| {condition} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
