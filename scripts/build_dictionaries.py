#!/usr/bin/env python
"""Rebuild the shipped dictionaries in ``dictionaries/`` from the isolated-note recordings.

    python scripts/build_dictionaries.py [--data ../shared/data] [--only piano|guitar]
    python scripts/build_dictionaries.py --only guitar --guitarset PATH [--guitarset-audio mic|mix]

``--guitarset PATH`` (a GuitarSet folder: ``annotation/*.jams`` + ``audio_mono-mic/``) learns the
guitar score-informed from that real audio instead (``HELD_OUT`` tracks and ``--exclude`` stems left
out), stacked with the isolated-note guitar's templates (two template pairs for the pitches
GuitarSet plays, one for the others: learned from one real track, the real-only dictionary cost
the nylon pieces 0.959 -> 0.676 onset F, stacked 0.942, with the same gain on real audio); not
shipped yet (the development data hold no GuitarSet audio to learn from but the test track).

Uses exactly what ``nmftrans learn`` does (the same defaults), adds the GM program and the licence
to the provenance, and prints each dictionary's summary. Deterministic: the same data give the same
W (up to the date in the provenance).

The guitar is learned from the union of two guitars' isolated notes: the FluidR3 nylon guitar of
the development data and the FluidR3 steel-string guitar (GM program 25), whose notes this script
renders itself with fluidsynth into a temporary folder in the same conventions (``RENDERED``,
:func:`render_isolated`; rendering program 24 that way reproduces ``isolated/guitar-fluidr3``
bit for bit). It needs ``fluidsynth`` and ``FluidR3_GM.sf2`` (Debian: ``fluidsynth``,
``fluid-soundfont-gm``).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import shutil  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402

import mido  # noqa: E402
import numpy as np  # noqa: E402
import soundfile as sf  # noqa: E402

from nmftrans.io.dictionary import ROLE_SUSTAIN, Dictionary, save_dictionary  # noqa: E402
from nmftrans.learn import learn_from_sources  # noqa: E402

SOUNDFONT = Path("/usr/share/sounds/sf2/FluidR3_GM.sf2")
# isolated notes rendered here (name: GM program of FluidR3_GM.sf2, description), learned from with
# the data folder of the same instrument
RENDERED = {
    "guitar": {"steel": (25, 'FluidR3 GM "Steel String Guitar" (GM program 25)')},
}
# Octaves between the solver's floor templates stored with a dictionary (transcribe's default with it)
FLOOR_OCTAVES = {"guitar": 0.25}
# Where transcriptions with a dictionary end their notes by default (NoteParams.note_ends): a guitar's where
# the sound fades, as GuitarSet annotates real guitars; a piano's at the release, as MAESTRO and MAPS do
NOTE_ENDS = {"piano": "release", "guitar": "sound"}

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
    # Learned from the nylon and the steel-string guitar's notes together (one template pair per
    # pitch, the same size) and solved with floor templates a quarter octave apart (FLOOR_OCTAVES;
    # 2 octaves before), the real steel-string GuitarSet track 0.572 -> 0.674 onset F (0.594 ->
    # 0.665 frame F); guitars learned from nothing (TimGM6mb nylon, steel, jazz and clean electric,
    # 12 files) 0.826 -> 0.909; the FluidR3 nylon pieces 0.964 -> 0.939 (scripts/eval_guitar_timbres.py).
    "guitar": ("guitar-fluidr3", (40, 88), 24, 0.5, 'FluidR3 GM "Nylon String Guitar" (GM program 24) and "Steel String Guitar" (GM program 25), 98 isolated notes each, velocities 50 and 100, learned together (one template pair per pitch), sustain templates blended half with harmonic combs'),
}
SAMPLE_RATE = 44100


def render_isolated(soundfont: Path, program: int, out: Path, pitches: range = range(40, 89),
                    velocities: tuple[int, ...] = (50, 100), prefix: str = "guitar") -> None:
    """Isolated notes of one GM program in the development data's conventions, into ``out``.

    One mono 44.1 kHz 16-bit FLAC per pitch and velocity (``{prefix}_M060_v100.flac``): key down
    at 0 s and up at 1.5 s, 2.0 s long; fluidsynth with reverb and chorus off, float output (no
    dither), stereo averaged to mono; one gain for the folder (its loudest file peaks at -1 dBFS);
    ``notes.csv`` beside them. Deterministic.
    """
    if not shutil.which("fluidsynth"):
        raise SystemExit("error: fluidsynth not found (apt-get install fluidsynth)")
    if not soundfont.is_file():
        raise SystemExit(f"error: {soundfont} not found (apt-get install fluid-soundfont-gm)")
    out.mkdir(parents=True, exist_ok=True)
    signals = {}
    with tempfile.TemporaryDirectory() as tmp:
        for pitch in pitches:
            for velocity in velocities:
                mid = mido.MidiFile(ticks_per_beat=1000)  # 120 bpm: 1000 ticks = 0.5 s
                track = mido.MidiTrack()
                mid.tracks.append(track)
                track.append(mido.MetaMessage("set_tempo", tempo=500000, time=0))
                track.append(mido.Message("program_change", program=program, channel=0, time=0))
                track.append(mido.Message("note_on", note=pitch, velocity=velocity, channel=0, time=0))
                track.append(mido.Message("note_off", note=pitch, velocity=0, channel=0, time=3000))
                track.append(mido.MetaMessage("end_of_track", time=1000))
                mid.save(Path(tmp) / "note.mid")
                wav = Path(tmp) / "note.wav"
                subprocess.run(["fluidsynth", "-ni", "-q", "-R", "0", "-C", "0", "-g", "0.5", "-O", "float",
                                "-r", str(SAMPLE_RATE), "-F", str(wav), str(soundfont), str(Path(tmp) / "note.mid")],
                               check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                y, sr = sf.read(wav, dtype="float64", always_2d=True)
                if sr != SAMPLE_RATE:
                    raise SystemExit(f"error: fluidsynth wrote {sr} Hz, not {SAMPLE_RATE}")
                n = 2 * SAMPLE_RATE
                signals[pitch, velocity] = np.pad(y.mean(axis=1), (0, n))[:n]
    gain = 10 ** (-1 / 20) / max(np.abs(y).max() for y in signals.values())
    rows = ["file,pitch,velocity,onset,offset"]
    for (pitch, velocity), y in sorted(signals.items()):
        name = f"{prefix}_M{pitch:03d}_v{velocity:03d}.flac"
        sf.write(out / name, y * gain, SAMPLE_RATE, subtype="PCM_16")
        rows.append(f"{name},{pitch},{velocity},0.0000,1.5000")
    (out / "notes.csv").write_text("\n".join(rows) + "\n")

# GuitarSet tracks never learned from: the real guitar recording the development data score on
HELD_OUT = ("00_BN1-129-Eb_comp",)
GUITARSET_LICENCE = ("GuitarSet (Q. Xi, R. M. Bittner, J. Pauwels, X. Ye, J. P. Bello, ISMIR 2018), CC BY 4.0; "
                     "stacked isolated-note templates: FluidR3_GM.sf2 samples by Frank Wen, MIT licence")


def guitarset_dictionary(root: Path, audio: str, exclude: tuple[str, ...], fill: Dictionary,
                         pitch_range: tuple[int, int]) -> tuple[Dictionary, list[str], list[int]]:
    """Templates learned score-informed from GuitarSet's real guitar audio, stacked with ``fill``'s.

    Returns the dictionary (sustain templates by pitch, then attack templates; a pitch GuitarSet
    plays has its learned templates and ``fill``'s, the others ``fill``'s only), the track stems
    learned from and the pitches with ``fill``'s templates only.
    """
    folder = {"mic": "audio_mono-mic", "mix": "audio_mono-pickup_mix"}[audio]
    with tempfile.TemporaryDirectory() as tmp:
        view = Path(tmp) / "GuitarSet"  # a GuitarSet layout of links without the excluded tracks
        (view / "annotation").mkdir(parents=True)
        (view / folder).mkdir()
        stems = []
        for jams in sorted((root / "annotation").glob("*.jams")):
            wav = root / folder / f"{jams.stem}_{audio}.wav"
            if jams.stem in exclude or not wav.is_file():
                continue
            (view / "annotation" / jams.name).symlink_to(jams.resolve())
            (view / folder / wav.name).symlink_to(wav.resolve())
            stems.append(jams.stem)
        if not stems:
            raise SystemExit(f"error: {root}: no GuitarSet track with {folder} audio to learn from")
        learned, report = learn_from_sources([view], pitch_range=pitch_range, guitarset_audio=audio)
    have = set(report.pitch_frames)
    columns = []  # (role order, pitch, source order, column)
    for order, (source, keep) in enumerate(((learned, lambda p: p in have), (fill, lambda p: True))):
        for k, (p, r) in enumerate(zip(source.pitches.tolist(), source.roles.tolist())):
            if keep(p) and pitch_range[0] <= p <= pitch_range[1]:
                columns.append(((r != ROLE_SUSTAIN, r), p, order, source.W[:, k]))
    columns.sort(key=lambda c: c[:3])
    keys = [(p, r) for (_, r), p, _, _ in columns]
    W = np.stack([c[3] for c in columns], axis=1)
    filled = sorted({p for p, _ in keys if p not in have})
    dictionary = Dictionary(W, [p for p, _ in keys], [r for _, r in keys], learned.settings, learned.beta,
                            dict(learned.provenance))
    return dictionary, stems, filled


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data",
                        help="the development data folder (holds isolated/)")
    parser.add_argument("--out", type=Path, default=ROOT / "dictionaries")
    parser.add_argument("--only", choices=sorted(BUILDS), default=None, help="rebuild this dictionary only")
    parser.add_argument("--guitarset", type=Path, default=None,
                        help="guitar: learn from this GuitarSet folder's real audio (with --only guitar)")
    parser.add_argument("--guitarset-audio", choices=("mic", "mix"), default="mic")
    parser.add_argument("--exclude", nargs="*", default=[], help="GuitarSet track stems not to learn from")
    args = parser.parse_args()
    if args.guitarset is not None and args.only != "guitar":
        parser.error("--guitarset needs --only guitar")
    for name, (folder, pitch_range, program, comb_share, description) in BUILDS.items():
        if args.only is not None and name != args.only:
            continue
        source = args.data / "isolated" / folder
        rendered = RENDERED.get(name, {})  # with --guitarset too: the stacked templates are the shipped guitar's
        with tempfile.TemporaryDirectory() as tmp:
            for sub, (gm, _) in rendered.items():
                render_isolated(SOUNDFONT, gm, Path(tmp) / sub, range(pitch_range[0], pitch_range[1] + 1), prefix=name)
            dictionary, report = learn_from_sources([source] + [Path(tmp) / sub for sub in rendered],
                                                    pitch_range=pitch_range, comb_share=comb_share)
        dictionary.provenance.update({
            "sources": [f"isolated/{folder}"] + [f"rendered: {SOUNDFONT.name} program {gm}, {text}"
                                                 for gm, text in rendered.values()],
            "description": description,
            "licence": "FluidR3_GM.sf2 samples by Frank Wen, MIT licence",
            "program": program,
            "note_ends": NOTE_ENDS[name],
            "command": f"python scripts/build_dictionaries.py (learn_from_sources isolated/{folder}"
                       + "".join(f" + {sub} notes rendered from {SOUNDFONT.name} program {gm}" for sub, (gm, _) in rendered.items())
                       + f", pitches {pitch_range[0]}-{pitch_range[1]}, comb_share {comb_share:g})",
        })
        if name in FLOOR_OCTAVES:
            dictionary.floor_octaves = FLOOR_OCTAVES[name]
        if args.guitarset is not None:
            exclude = HELD_OUT + tuple(args.exclude)
            fill = dictionary
            dictionary, stems, filled = guitarset_dictionary(args.guitarset, args.guitarset_audio, exclude,
                                                             fill, pitch_range)
            dictionary.floor_octaves = fill.floor_octaves
            dictionary.provenance.update({
                "sources": [f"GuitarSet {args.guitarset_audio} audio, {len(stems)} tracks"] + fill.provenance["sources"],
                "tracks": stems,
                "isolated_only": filled,
                "description": f"score-informed from {len(stems)} GuitarSet tracks ({args.guitarset_audio}), "
                               f"stacked with the templates of {description} ({len(filled)} pitches from these only)",
                "licence": GUITARSET_LICENCE,
                "program": 25,
                "command": f"python scripts/build_dictionaries.py --only guitar --guitarset PATH --guitarset-audio "
                           f"{args.guitarset_audio} (held out: {', '.join(exclude)})",
            })
            dictionary.provenance.pop("filled", None)  # the learner's comb fill, replaced by the stacked templates
            report.learned = sorted(set(dictionary.pitches.tolist()) - set(filled))
        save_dictionary(dictionary, args.out / f"{name}.npz")
        print(f"{name}: {len(dictionary.pitches)} templates, pitches {pitch_range[0]}-{pitch_range[1]}, "
              f"{len(report.learned)} learned, {len(report.filled)} harmonic, {dictionary.W.shape[0]} bins"
              + (f", floor templates {dictionary.floor_octaves:g} octaves apart" if dictionary.floor_octaves is not None else ""))


if __name__ == "__main__":
    main()
