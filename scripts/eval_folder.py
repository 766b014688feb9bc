#!/usr/bin/env python
"""Accuracy per file of one folder of audio + ground truth (e.g. what render_real_sampled.py wrote).

    python scripts/eval_folder.py FOLDER [--dictionary piano] [--errors]

Transcribes every audio file of FOLDER with the dictionary and the default settings and prints, per
file and as the mean over files, mir_eval's note-onset F (50 ms) and frame F (10 ms grid), as
``scripts/eval_accuracy.py`` does for the development data. ``--errors`` adds the kinds of error
(:mod:`nmftrans.core.note_errors`: missed notes, missed re-strikes, false alarms, octave/twelfth false
alarms, near misses) per file and in total.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from nmftrans.io.dictionary import load_dictionary  # noqa: E402
from nmftrans.evaluate import evaluate_dataset, successful  # noqa: E402
from nmftrans.core.note_errors import ErrorCounts, count_errors  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument("folder", type=Path)
    parser.add_argument("--dictionary", default="piano", help="dictionary (name or path)")
    parser.add_argument("--errors", action="store_true", help="also count the kinds of error")
    args = parser.parse_args()
    if not args.folder.is_dir():
        parser.error(f"{args.folder}: not a folder")
    counts = {}

    def on_scored(item, ref, est, transcription):
        counts[item.name] = count_errors(ref, est)

    result = evaluate_dataset([args.folder], load_dictionary(args.dictionary),
                              on_scored=on_scored if args.errors else None)
    files = successful(result.files)
    if not files:
        sys.exit(f"error: {args.folder}: no file could be scored")
    width = max(len(f.name.split("__")[0][:40]) for f in files) + 2
    head = {"ref": "n_ref", "missed": "missed", "restrike": "missed_restrikes", "50-100ms": "near_misses",
            "est": "n_est", "false": "false_alarms", "oct/12th": "partial_false_alarms"}
    print(f"{'file':<{width}}{'onset F':>9}{'frame F':>9}" + ("".join(f"{h:>9}" for h in head) if args.errors else ""))
    for f in files:
        extra = "".join(f"{getattr(counts[f.name], k):>9d}" for k in head.values()) if args.errors else ""
        print(f"{f.name.split('__')[0][:40]:<{width}}{f.scores['onset_f']:>9.3f}{f.scores['frame_f']:>9.3f}{extra}")
    onset = sum(f.scores["onset_f"] for f in files) / len(files)
    frame = sum(f.scores["frame_f"] for f in files) / len(files)
    total = sum(counts.values(), ErrorCounts(0, 0, 0, 0, 0, 0, 0))
    extra = "".join(f"{getattr(total, k):>9d}" for k in head.values()) if args.errors else ""
    print(f"{f'mean ({len(files)})':<{width}}{onset:>9.3f}{frame:>9.3f}{extra}")


if __name__ == "__main__":
    main()
