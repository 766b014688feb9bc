#!/usr/bin/env python
"""Accuracy of the shipped dictionaries with the default settings, per group of the development data.

    python scripts/eval_accuracy.py [--data ../shared/data] [--piano PATH] [--guitar PATH] [--errors]

Groups: the FluidR3 piano pieces (the piano the dictionary was learned from), the TimGM6mb piano
pieces (another piano), the FluidR3 nylon guitar pieces (guitar dictionary), the mean over those
15 development pieces, and the real recordings in ``real/`` per instrument, each real file on its
own line beneath (they are few notes each: read them one by one). Scores are mir_eval's
note-onset F (50 ms) and frame F (10 ms grid), means over files. Nothing is tuned per file or
per group.

``--errors`` adds a table of the kinds of error (:mod:`nmftrans.core.note_errors`) per group and per
real file: missed notes, missed re-strikes, false alarms, octave/twelfth false alarms and near
misses (right pitch, onset 50-100 ms off).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from nmftrans.io.dictionary import load_dictionary  # noqa: E402
from nmftrans.evaluate import evaluate_dataset, successful  # noqa: E402
from nmftrans.core.note_errors import ErrorCounts, count_errors  # noqa: E402

GROUPS = [  # name, folder under data, file-name filter, dictionary
    ("fluidr3 piano", "pieces", "__fluidr3-piano", "piano"),
    ("timgm6mb piano", "pieces", "__timgm6mb-piano", "piano"),
    ("fluidr3 guitar", "pieces", "__fluidr3-nylon", "guitar"),
    ("real piano", "real", "__real-piano", "piano"),
    ("real guitar", "real", "__real-guitar", "guitar"),
]


def group_folder(data: Path, folder: str, pattern: str, tmp: Path) -> Path:
    """A folder of symbolic links to one group's audio and annotations."""
    out = tmp / pattern.strip("_")
    out.mkdir()
    for p in sorted((data / folder).iterdir()):
        if pattern in p.name:
            (out / p.name).symlink_to(p.resolve())
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument("--data", type=Path, default=None,
                        help="the development data (default: the first of ../shared/data beside the "
                             "checkout or the current folder, shared/data, $NMFTRANS_DATA that exists)")
    parser.add_argument("--piano", default="piano", help="piano dictionary (name or path)")
    parser.add_argument("--guitar", default="guitar", help="guitar dictionary (name or path)")
    parser.add_argument("--errors", action="store_true", help="also count the kinds of error")
    args = parser.parse_args()
    if args.data is None:
        candidates = [ROOT.parent / "shared" / "data", Path.cwd().parent / "shared" / "data", Path("shared/data")]
        if os.environ.get("NMFTRANS_DATA"):
            candidates.insert(0, Path(os.environ["NMFTRANS_DATA"]))
        args.data = next((c for c in candidates if (c / "pieces").is_dir()), None)
        if args.data is None:
            parser.error("no development data found (looked in " + ", ".join(str(c) for c in candidates)
                         + "); pass --data PATH")
    elif not (args.data / "pieces").is_dir():
        parser.error(f"--data {args.data}: not the development data (no pieces/ folder in it)")
    dictionaries = {"piano": load_dictionary(args.piano), "guitar": load_dictionary(args.guitar)}
    rows = []
    dev = []
    error_rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, folder, pattern, dname in GROUPS:
            counts = {}

            def on_scored(item, ref, est, transcription, counts=counts):
                counts[item.name] = count_errors(ref, est)

            result = evaluate_dataset([group_folder(args.data, folder, pattern, Path(tmp))], dictionaries[dname],
                                      on_scored=on_scored if args.errors else None)
            files = successful(result.files)
            onset = sum(f.scores["onset_f"] for f in files) / len(files)
            frame = sum(f.scores["frame_f"] for f in files) / len(files)
            rows.append((name, len(files), onset, frame))
            if folder == "pieces":
                dev.extend(files)
            else:  # the real recordings: every file on its own line
                rows.extend((f"  {f.name.split('__')[0][:30]}", 1, f.scores["onset_f"], f.scores["frame_f"])
                            for f in files)
            if args.errors and counts:
                error_rows.append((name, sum(counts.values(), ErrorCounts(0, 0, 0, 0, 0, 0, 0))))
                if folder != "pieces":
                    error_rows.extend((f"  {k.split('__')[0][:30]}", c) for k, c in counts.items())
    dev_row = ("dev mean (15)", len(dev), sum(f.scores["onset_f"] for f in dev) / len(dev),
               sum(f.scores["frame_f"] for f in dev) / len(dev))
    rows.insert(3, dev_row)
    width = max(len(r[0]) for r in rows + error_rows) + 2
    print(f"{'group':<{width}}{'files':>6}{'onset F':>9}{'frame F':>9}")
    for name, n, onset, frame in rows:
        print(f"{name:<{width}}{n:>6}{onset:>9.3f}{frame:>9.3f}")
    if args.errors:
        print()
        head = {"ref": "n_ref", "missed": "missed", "restrike": "missed_restrikes", "50-100ms": "near_misses",
                "est": "n_est", "false": "false_alarms", "oct/12th": "partial_false_alarms"}
        print(f"{'errors':<{width}}" + "".join(f"{h:>9}" for h in head))
        for name, c in error_rows:
            print(f"{name:<{width}}" + "".join(f"{getattr(c, k):>9d}" for k in head.values()))


if __name__ == "__main__":
    main()
