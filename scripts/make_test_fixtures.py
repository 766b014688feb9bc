"""Regenerate the regression fixtures of ``tests/test_regression.py`` (one command)::

    python scripts/make_test_fixtures.py

Run it from the repository root after a change that is MEANT to change the default
transcription (tracker rules or defaults, normalisation, solver, shipped dictionaries), check the
printed scores against the previous ones (``git diff tests/data/regression/scores.json``), and
commit the files with the change. Never run it to make a failing test pass without knowing why
the notes moved.

For each case it transcribes the audio with ``nmftrans transcribe <audio> -W <dictionary>``
(default settings, the CLI a user types), and writes to ``tests/data/regression/``:

* ``<case>.expected.csv``: the notes (``onset,offset,pitch,velocity``), as the CLI writes them;
* ``scores.json``: per case the note count and the mir_eval scores against the ground truth
  (note onsets within 50 ms; onsets and offsets), computed here with mir_eval directly.

Cases: the two shipped examples (``examples/*.flac``) with the shipped piano and guitar
dictionaries, and generated tones (``tones.flac`` + ``tones.reference.csv``, written here from
``tests/synth.py`` with fixed notes: loud and soft notes, short notes, chords, re-strikes).
The test compares a fresh transcription with these files: same notes within 2 ms, scores within
0.005; a 5 ms onset shift or a changed default threshold breaks it.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "tests" / "data" / "regression"

# name: (audio, dictionary, ground truth), paths relative to the repository root
CASES = {
    "scales-piano": ("examples/gen_s1_scales-arpeggios__fluidr3-piano.flac", "piano",
                     "examples/gen_s1_scales-arpeggios__fluidr3-piano.csv"),
    "guitar-nylon": ("examples/gen_s1_guitar__fluidr3-nylon.flac", "guitar",
                     "examples/gen_s1_guitar__fluidr3-nylon.csv"),
    "tones-piano": ("tests/data/regression/tones.flac", "piano", "tests/data/regression/tones.reference.csv"),
}


def tone_notes() -> np.ndarray:
    """The generated piece: (onset, offset, pitch, velocity) rows, sorted by onset then pitch."""
    rows = [
        (0.25, 0.85, 48, 100), (0.25, 0.85, 55, 90), (0.25, 0.85, 64, 95),  # a loud chord
        (1.00, 1.09, 67, 100), (1.15, 1.24, 69, 100), (1.30, 1.39, 71, 100),  # short notes
        (1.50, 2.10, 72, 30), (1.50, 2.10, 76, 28),  # soft notes
        (2.30, 2.70, 60, 100), (2.70, 3.10, 60, 70),  # a re-strike of a sounding pitch
        (3.30, 4.00, 43, 110), (3.30, 4.00, 59, 60), (3.30, 4.00, 62, 60),  # bass under a soft dyad
        (4.20, 4.40, 84, 90), (4.40, 4.60, 81, 90), (4.60, 4.80, 79, 90), (4.80, 5.30, 77, 90),  # a run
    ]
    notes = np.array(rows, dtype=np.float64)
    return notes[np.lexsort((notes[:, 2], notes[:, 0]))]


def read_csv(path: Path) -> np.ndarray:
    """A note CSV (``onset,offset,pitch,velocity`` header) as an ``(n, 4)`` array, without nmftrans."""
    return np.loadtxt(path, delimiter=",", skiprows=1, ndmin=2).reshape(-1, 4)


def scores(est: np.ndarray, ref: np.ndarray) -> dict:
    """mir_eval's note scores: onsets only (50 ms) and onsets with offsets (20 % or 50 ms)."""
    import mir_eval

    def hz(notes):
        return 440.0 * 2.0 ** ((notes[:, 2] - 69) / 12)

    args = (ref[:, :2], hz(ref), est[:, :2], hz(est))
    p, r, f, _ = mir_eval.transcription.precision_recall_f1_overlap(*args, offset_ratio=None)
    _, _, f_off, _ = mir_eval.transcription.precision_recall_f1_overlap(*args)
    return {"n_est": int(len(est)), "n_ref": int(len(ref)), "onset_precision": round(p, 4),
            "onset_recall": round(r, 4), "onset_f": round(f, 4), "onset_offset_f": round(f_off, 4)}


def write_tones() -> None:
    import soundfile as sf

    sys.path.insert(0, str(ROOT))
    from tests.synth import SR, render

    notes = tone_notes()
    sf.write(OUT / "tones.flac", render(notes, tail=0.5), SR, subtype="PCM_16")
    lines = ["onset,offset,pitch,velocity"] + [f"{a:.4f},{b:.4f},{int(p)},{int(v)}" for a, b, p, v in notes]
    (OUT / "tones.reference.csv").write_text("\n".join(lines) + "\n")


def main() -> int:
    OUT.mkdir(parents=True, exist_ok=True)
    old = json.loads((OUT / "scores.json").read_text()) if (OUT / "scores.json").is_file() else {}
    write_tones()
    table = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, (audio, dictionary, reference) in CASES.items():
            out = Path(tmp) / f"{name}.csv"
            subprocess.run([sys.executable, "-m", "nmftrans", "transcribe", str(ROOT / audio), "-W", dictionary,
                            "-o", str(out), "-q"], check=True, cwd=ROOT, stdout=subprocess.DEVNULL)
            (OUT / f"{name}.expected.csv").write_text(out.read_text())
            table[name] = {"audio": audio, "dictionary": dictionary, "reference": reference,
                           **scores(read_csv(out), read_csv(ROOT / reference))}
            print(f"{name:14s} " + "  ".join(
                f"{k} {old[name][k]} -> {v}" if name in old and old[name].get(k) != v else f"{k} {v}"
                for k, v in table[name].items() if k not in ("audio", "dictionary", "reference")))
    (OUT / "scores.json").write_text(json.dumps(table, indent=1) + "\n")
    print(f"written to {OUT.relative_to(ROOT)}/")
    return 0


if __name__ == "__main__":
    sys.exit(main())
