#!/usr/bin/env python
"""How the pipeline holds up when the recording is not tuned to A440, with and without the tuning correction.

    python scripts/eval_tuning.py [--data ../shared/data] [--cents -25 -10 10 15 25]

Takes the rendered piano pieces and the real piano recordings of the development data (shipped
piano dictionary), and the rendered nylon-guitar pieces and the real guitar recording (shipped
guitar dictionary), transposes each by the given offsets in cents (resampled as if recorded at
``2 ** (cents / 1200)`` times its rate with soxr's very-high-quality filter; the annotated times
scaled by the same factor, as the tempo changes with it) and prints the mean note-onset F (50 ms)
and frame F (10 ms) of the default settings (the tuning read and corrected,
``SolverParams.tuning=None``) against the tuning left as it is (``tuning=0``), and the mean
tuning each reads (:func:`nmftrans.core.tuning.estimate_tuning`). Deterministic; nothing here is
tuned on.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from nmftrans.core.metrics import evaluate_notes  # noqa: E402
from nmftrans.core.tuning import estimate_tuning  # noqa: E402
from nmftrans.io.annotations import read_reference  # noqa: E402
from nmftrans.io.audio import load_audio, resample  # noqa: E402
from nmftrans.io.dictionary import load_dictionary  # noqa: E402
from nmftrans.transcribe import SolverParams, transcribe_signal  # noqa: E402


def groups(data: Path) -> dict[str, tuple[str, list[Path]]]:
    """name -> (dictionary, audio files with a ``.csv`` beside them)."""
    pieces, real = data / "pieces", data / "real"
    return {
        "piano": ("piano", sorted(pieces.glob("*piano.flac")) + sorted(real.glob("*real-piano.flac"))),
        "guitar": ("guitar", sorted(pieces.glob("*nylon.flac")) + sorted(real.glob("*real-guitar.flac"))),
    }


def transposed(y: np.ndarray, sr: int, cents: float) -> np.ndarray:
    """``y`` played ``cents`` higher (and ``2 ** (cents / 1200)`` times faster)."""
    if cents == 0:
        return y
    import soxr

    return soxr.resample(y, sr * 2 ** (cents / 1200), sr, quality="VHQ").astype(np.float32)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--cents", type=float, nargs="+", default=[-25.0, -10.0, 0.0, 10.0, 15.0, 25.0])
    args = parser.parse_args()
    if not (args.data / "pieces").is_dir():
        sys.exit(f"error: {args.data}: no development data (pieces/)")
    print(f"{'group':<8}{'cents':>7}{'files':>6}{'reads':>8}  {'onset F corrected / as it is':>30}"
          f"  {'frame F corrected / as it is':>30}")
    for name, (dict_name, files) in groups(args.data).items():
        dictionary = load_dictionary(dict_name)
        sr = dictionary.settings.sample_rate
        signals = [(load_audio(f, sr), read_reference(f.with_suffix(".csv"))[0]) for f in files]
        for cents in args.cents:
            scores = {"auto": [], "off": []}
            readings = []
            for y, ref in signals:
                z = transposed(y, sr, cents)
                ref = ref.copy()
                ref[:, :2] /= 2 ** (cents / 1200)
                readings.append(estimate_tuning(z, sr)[0])
                for key, solver in (("auto", SolverParams()), ("off", SolverParams(tuning=0))):
                    s = evaluate_notes(ref, transcribe_signal(z, dictionary, solver).notes)
                    scores[key].append((s["onset_f"], s["frame_f"]))
            a, o = (np.mean(scores[k], axis=0) for k in ("auto", "off"))
            print(f"{name:<8}{cents:>+7.0f}{len(files):>6}{np.mean(readings):>+8.1f}  "
                  f"{a[0]:>14.3f} / {o[0]:<13.3f}  {a[1]:>14.3f} / {o[1]:<13.3f}")


if __name__ == "__main__":
    main()
