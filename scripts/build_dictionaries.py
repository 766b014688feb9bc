#!/usr/bin/env python
"""Rebuild the shipped dictionaries in ``dictionaries/`` from the isolated-note recordings.

    python scripts/build_dictionaries.py [--data ../shared/data] [--only piano|guitar]

Uses exactly what ``nmftrans learn`` does (the same defaults), adds the GM program and the licence
to the provenance, and prints each dictionary's summary. Deterministic: the same data give the same
W (up to the date in the provenance).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from nmftrans.dictionary import save_dictionary  # noqa: E402
from nmftrans.learn import learn_from_sources  # noqa: E402

BUILDS = {
    # name: (folder under data/isolated, pitch range, GM program, comb share, description)
    # The piano's sustain templates are blended half with their harmonic combs (learn --comb-share
    # 0.5): less specific to the one sampled piano, they fit other pianos better (TimGM6mb pieces
    # 0.873 -> 0.893 onset F, the two real pianos 0.771 -> 0.831; FluidR3 pieces 0.918 -> 0.910).
    "piano": ("piano-fluidr3", (21, 108), 0, 0.5, 'FluidR3 GM "Yamaha Grand Piano" (GM program 0), 176 isolated notes, velocities 50 and 100, sustain templates blended half with harmonic combs'),
    # The guitar's too, by the same rule (not tuned on a test file): the real steel-string GuitarSet
    # track 0.547 -> 0.572 onset F (0.572 -> 0.586 frame F), five other rendered guitars (TimGM6mb
    # nylon and steel, FluidR3 steel, jazz and clean electric; 15 pieces) 0.798 -> 0.838, the
    # FluidR3 nylon pieces (the training guitar) 0.969 -> 0.959.
    "guitar": ("guitar-fluidr3", (40, 88), 24, 0.5, 'FluidR3 GM "Nylon String Guitar" (GM program 24), 98 isolated notes, velocities 50 and 100, sustain templates blended half with harmonic combs'),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data",
                        help="the development data folder (holds isolated/)")
    parser.add_argument("--out", type=Path, default=ROOT / "dictionaries")
    parser.add_argument("--only", choices=sorted(BUILDS), default=None, help="rebuild this dictionary only")
    args = parser.parse_args()
    for name, (folder, pitch_range, program, comb_share, description) in BUILDS.items():
        if args.only is not None and name != args.only:
            continue
        source = args.data / "isolated" / folder
        dictionary, report = learn_from_sources([source], pitch_range=pitch_range, comb_share=comb_share)
        dictionary.provenance.update({
            "sources": [f"isolated/{folder}"],
            "description": description,
            "licence": "FluidR3_GM.sf2 samples by Frank Wen, MIT licence",
            "program": program,
            "command": f"python scripts/build_dictionaries.py (learn_from_sources isolated/{folder}, pitches "
                       f"{pitch_range[0]}-{pitch_range[1]}, comb_share {comb_share:g})",
        })
        save_dictionary(dictionary, args.out / f"{name}.npz")
        print(f"{name}: {len(dictionary.pitches)} templates, pitches {pitch_range[0]}-{pitch_range[1]}, "
              f"{len(report.learned)} learned, {len(report.filled)} harmonic, {dictionary.W.shape[0]} bins")


if __name__ == "__main__":
    main()
