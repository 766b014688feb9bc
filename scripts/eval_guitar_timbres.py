#!/usr/bin/env python
"""Guitar dictionaries on guitars they were not learned from: the dev guitar pieces re-rendered.

    python scripts/eval_guitar_timbres.py [--data ../shared/data] [--guitar NAME_OR_PATH ...]

Renders the notes of the three FluidR3 nylon guitar pieces of the development data
(``pieces/*__fluidr3-nylon.mid``) again with other General MIDI guitars, with fluidsynth (reverb
and chorus off, mono, peak -1 dBFS, the original file's length): TimGM6mb nylon (GM 24), steel
(25), jazz (26) and clean electric (27), FluidR3 steel (25), jazz (26) and clean electric (27) guitar; then scores each guitar
dictionary (default: the shipped one) with the default settings on those five groups, on the
FluidR3 nylon pieces themselves and on the real GuitarSet recording in ``real/``. Prints per group
the mean mir_eval note-onset F (50 ms) / frame F, and the false alarms that lie an octave, a twelfth
or two octaves below a reference note sounding at their onset ("sub" column). Needs ``fluidsynth``,
``fluid-soundfont-gm`` and ``timgm6mb-soundfont`` (Debian packages). Rendered only for measuring.
The shipped guitar is learned from FluidR3's nylon and steel guitars' isolated notes
(``scripts/build_dictionaries.py``): the "fluidr3 steel" group is a training guitar for it, the
TimGM6mb groups and FluidR3 jazz and clean electric are not.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

import mido
import numpy as np
import soundfile as sf

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

from eval_accuracy import group_folder  # noqa: E402
from render_training_pieces import SR, render  # noqa: E402
from nmftrans.io.dictionary import load_dictionary  # noqa: E402
from nmftrans.evaluate import evaluate_dataset, successful  # noqa: E402
from nmftrans.core.note_errors import unmatched  # noqa: E402

SOUNDFONTS = Path("/usr/share/sounds/sf2")
TIMBRES = [  # group name, SoundFont file, GM program
    ("timgm6mb nylon", "TimGM6mb.sf2", 24),
    ("timgm6mb steel", "TimGM6mb.sf2", 25),
    ("timgm6mb jazz", "TimGM6mb.sf2", 26),
    ("timgm6mb clean electric", "TimGM6mb.sf2", 27),
    ("fluidr3 steel", "FluidR3_GM.sf2", 25),
    ("fluidr3 jazz", "FluidR3_GM.sf2", 26),
    ("fluidr3 clean electric", "FluidR3_GM.sf2", 27),
]


def sub_octave_false_alarms(ref: np.ndarray, est: np.ndarray) -> int:
    """False alarms 12, 19 or 24 semitones below a reference note that sounds at their onset
    (started at most 50 ms after it)."""
    _, false_alarms = unmatched(ref, est)
    n = 0
    for j in false_alarms:
        onset, pitch = est[j, 0], est[j, 2]
        sounding = ref[(ref[:, 0] <= onset + 0.05) & (ref[:, 1] >= onset), 2]
        n += bool(np.isin(sounding - pitch, (12, 19, 24)).any())
    return n


def render_group(data: Path, soundfont: Path, program: int, out: Path) -> Path:
    """The nylon pieces' notes played by another GM guitar: ``out`` holds .flac + .csv pairs."""
    out.mkdir()
    for audio in sorted((data / "pieces").glob("*__fluidr3-nylon.flac")):
        mid = mido.MidiFile(audio.with_suffix(".mid"))
        for track in mid.tracks:
            for msg in track:
                if msg.type == "program_change":
                    msg.program = program
        performance = out / "performance.mid"
        mid.save(performance)
        y = render(performance, soundfont, sf.info(audio).duration)
        performance.unlink()
        sf.write(out / audio.name, y, SR, subtype="PCM_16")
        shutil.copy(audio.with_suffix(".csv"), out / audio.with_suffix(".csv").name)
    return out


def score(folder: Path, dictionary) -> tuple[float, float, int, int]:
    """Mean onset F, mean frame F, false alarms and sub-octave false alarms over a folder."""
    counts = []

    def on_scored(item, ref, est, transcription):
        ref, est = np.asarray(ref, dtype=float), np.asarray(est, dtype=float)
        counts.append((len(unmatched(ref, est)[1]), sub_octave_false_alarms(ref, est)))

    files = successful(evaluate_dataset([folder], dictionary, on_scored=on_scored).files)
    return (float(np.mean([f.scores["onset_f"] for f in files])), float(np.mean([f.scores["frame_f"] for f in files])),
            sum(c[0] for c in counts), sum(c[1] for c in counts))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--guitar", nargs="+", default=["guitar"], help="guitar dictionaries (names or paths)")
    args = parser.parse_args()
    if not shutil.which("fluidsynth"):
        sys.exit("error: fluidsynth not found (apt-get install fluidsynth)")
    for _, font, _ in TIMBRES:
        if not (SOUNDFONTS / font).is_file():
            sys.exit(f"error: {SOUNDFONTS / font} not found (apt-get install fluid-soundfont-gm timgm6mb-soundfont)")
    dictionaries = [(name, load_dictionary(name)) for name in args.guitar]
    with tempfile.TemporaryDirectory() as tmp:
        groups = [(name, render_group(args.data, SOUNDFONTS / font, program, Path(tmp) / f"g{i}"))
                  for i, (name, font, program) in enumerate(TIMBRES)]
        groups += [("fluidr3 nylon (training guitar)", group_folder(args.data, "pieces", "__fluidr3-nylon", Path(tmp))),
                   ("real GuitarSet recording", group_folder(args.data, "real", "__real-guitar", Path(tmp)))]
        for name, dictionary in dictionaries:
            print(f"guitar dictionary {name}")
            print(f"  {'group':<34}{'onset F':>9}{'frame F':>9}{'false':>7}{'sub':>5}")
            other = []
            for group, folder in groups:
                onset, frame, false, sub = score(folder, dictionary)
                print(f"  {group:<34}{onset:>9.3f}{frame:>9.3f}{false:>7d}{sub:>5d}")
                if len(other) < len(TIMBRES):
                    other.append((onset, frame))
            onset, frame = np.mean(other, axis=0)
            print(f"  {f'mean of the {len(TIMBRES)} other guitars':<34}{onset:>9.3f}{frame:>9.3f}")


if __name__ == "__main__":
    main()
