#!/usr/bin/env python
"""Evidence for soft chord notes below the chord threshold (a measurement, not a feature).

    python scripts/eval_soft_chord_notes.py OUT.json FOLDER [FOLDER ...] [--ratio 0.5]
    python scripts/eval_soft_chord_notes.py --report OUT.json

For every audio file of each FOLDER (audio + ``.csv`` ground truth; the guitar dictionary for
names containing ``nylon`` or ``guitar``, else the piano) it transcribes with the default settings,
then tracks onsets again with ``onset_threshold`` lowered ``--ratio`` times (the soft chord
candidates, :func:`nmftrans.core.chord_notes.chord_candidates`) and keeps those that
:func:`nmftrans.core.chord_notes.add_chord_notes` would add to the transcribed notes (a chord
partner starting within ``--wide-s``; ``narrow``: within ``chord_window_s``, no octave/twelfth/semitone partner, no sub-interval
note sounding, no note of the pitch already there). A candidate is *true* when a reference onset
of its pitch lies within 50 ms and no transcribed onset of that pitch lies within 50 ms of it (it
would find a missed note), else *false* (a false alarm, or a duplicate).

Evidence per candidate (frames t-3..t-1 vs t..t+2, magnitude rise 1.2x, best of t-1..t+1, as
:mod:`nmftrans.core.onset_channel` counts):

* ``share``: fraction of the pitch's partials that rise;
* ``own``: fraction that rise among the partials not within +-3 % of a partial of another pitch
  with a transcribed note or candidate starting within 50 ms (``n own``: how many such partials);
* ``peak``: the candidate's activation peak over the threshold, ``dip``: its minimum over the 4
  frames before over its peak.

Prints per folder the true / false candidates reaching thresholds of ``share`` and ``own``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from nmftrans.core.chord_notes import add_chord_notes, chord_candidates  # noqa: E402
from nmftrans.core.features import frequencies, spectrogram  # noqa: E402
from nmftrans.core.notes import NoteParams  # noqa: E402
from nmftrans.core.onset_channel import BAND_TOLERANCE, N_PARTIALS, band_maxima, partial_bands, resolved_pitches  # noqa: E402
from nmftrans.io.annotations import read_notes  # noqa: E402
from nmftrans.io.dictionary import load_dictionary  # noqa: E402
from nmftrans.transcribe import transcribe_file  # noqa: E402

RISE = 1.2


def hz(p) -> float:
    return 440.0 * 2.0 ** ((float(p) - 69.0) / 12.0)


def shared(p: int, others) -> np.ndarray:
    """Which of p's partials (1..N_PARTIALS) lie within +-3 % of a partial of another pitch."""
    out = np.zeros(N_PARTIALS, dtype=bool)
    f = hz(p) * np.arange(1, N_PARTIALS + 1)
    for q in others:
        fq = hz(q) * np.arange(1, N_PARTIALS + 1)
        out |= np.any(np.abs(fq[None, :] - f[:, None]) <= BAND_TOLERANCE * f[:, None], axis=1)
    return out


def band_rises(B: np.ndarray, t: int, power: float) -> np.ndarray:
    """Per band: max over t..t+2 > RISE**power x min over t-3..t-1."""
    if t < 3 or t + 3 > B.shape[1]:
        return np.zeros(B.shape[0], dtype=bool)
    return B[:, t:t + 3].max(axis=1) > (RISE ** power) * B[:, t - 3:t].min(axis=1)


def main() -> None:
    import librosa

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument("out", type=Path)
    parser.add_argument("folders", type=Path, nargs="+")
    parser.add_argument("--ratio", type=float, default=0.5)
    parser.add_argument("--wide-s", type=float, default=0.08, help="chord window of the wide candidates (s)")
    args = parser.parse_args()
    dicts = {"piano": load_dictionary("piano"), "guitar": load_dictionary("guitar")}
    params = NoteParams()
    rows = []
    for folder in args.folders:
        for audio in sorted(p for p in folder.iterdir() if p.suffix in (".flac", ".wav")):
            if not audio.with_suffix(".csv").is_file():
                continue
            kind = "guitar" if ("nylon" in audio.name or "guitar" in audio.name) else "piano"
            dictionary = dicts[kind]
            st = dictionary.settings
            tr = transcribe_file(audio, dictionary)
            A, pitches, fr = tr.activations, np.asarray(tr.pitches), tr.frame_rate
            ref = read_notes(audio.with_suffix(".csv"))
            est = tr.notes
            f = frequencies(st)
            resolved = pitches[resolved_pitches(f, pitches, min_spacing=st.sample_rate / st.n_fft)]
            low = dataclasses.replace(params, chord_ratio=args.ratio)
            cands = chord_candidates(A, pitches, fr, low, st.window_s, lowest=int(resolved.min()))
            y, _ = librosa.load(str(audio), sr=st.sample_rate, mono=True)
            V = spectrogram(y, st)
            starts = np.concatenate([est[:, [0, 2]], cands[:, [0, 2]]])
            n_file = 0
            for c in cands:
                c_on, p = float(c[0]), int(c[2])
                narrow = len(add_chord_notes(est, c[None, :], params.chord_window_s, params.min_ioi_s)) > len(est)
                if not narrow and len(add_chord_notes(est, c[None, :], args.wide_s, params.min_ioi_s)) == len(est):
                    continue
                hit = ref[(ref[:, 2] == p) & (np.abs(ref[:, 0] - c_on) <= 0.05)]
                found = est[est[:, 2] == p, 0]
                truth = bool(any(not np.any(np.abs(found - r) <= 0.05) for r in hit[:, 0]))
                t = int(round(c_on * fr))
                r = int(np.flatnonzero(pitches == p)[0])
                peak = float(A[r, t:t + int(round(params.peak_window_s * fr)) + 1].max())
                dip = float(A[r, max(0, t - 4):t + 1].min()) / max(peak, 1e-9)
                others = sorted(set(int(q) for q in starts[(np.abs(starts[:, 0] - c_on) <= 0.05) & (starts[:, 1] != p), 1]))
                lo, hi, _ = partial_bands(f, np.array([p]))
                h_of = np.array([h for h in range(1, N_PARTIALS + 1) if f[0] <= h * hz(p) <= f[-1]])
                a0 = max(0, t - 8)
                B = band_maxima(V[:, a0:t + 8], lo, hi)
                best, best_n = np.zeros(len(lo), dtype=bool), -1
                for d in (-1, 0, 1):
                    rr = band_rises(B, t - a0 + d, st.power)
                    if rr.sum() > best_n:
                        best, best_n = rr, rr.sum()
                keep = ~shared(p, others)[h_of - 1]
                rows.append({"folder": folder.name, "file": audio.name, "time": c_on, "pitch": p,
                             "peak": peak / params.onset_threshold, "dip": dip, "truth": truth, "others": others, "narrow": narrow,
                             "share": float(best.mean()) if len(best) else 0.0,
                             "own": float(best[keep].mean()) if keep.sum() else 0.0,
                             "n own": int(keep.sum()), "n own rise": int(best[keep].sum())})
                n_file += 1
            print(f"{audio.name}: {n_file} candidates", file=sys.stderr, flush=True)
    args.out.write_text(json.dumps(rows, indent=0))
    report(rows)


def report(rows) -> None:
    xs = (0.0, 0.6, 0.8, 0.9, 1.0)
    print(f"{'folder':<16}{'window':<8}{'evidence':<10}" + "".join(f"{'>=' + str(x):>9}" for x in xs))
    for folder in sorted(set(r["folder"] for r in rows)) + ["ALL"]:
        for window in ("30ms", "wide"):
            sel = [r for r in rows if folder in ("ALL", r["folder"]) and (window == "wide" or r["narrow"])]
            for name in ("share", "own"):
                cells = []
                for x in xs:
                    ok = [r for r in sel if r[name] >= x - 1e-9 and (name != "own" or r["n own"] >= 2)]
                    cells.append(f"{sum(r['truth'] for r in ok)}/{sum(not r['truth'] for r in ok)}")
                print(f"{folder[:15]:<16}{window:<8}{name:<10}" + "".join(f"{c:>9}" for c in cells))


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "--report":
        report(json.loads(Path(sys.argv[2]).read_text()))
    else:
        main()
