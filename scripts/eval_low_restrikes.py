#!/usr/bin/env python
"""Onset evidence for re-strikes of ringing *low* notes (below the lowest pitch the splits resolve).

    python scripts/eval_low_restrikes.py OUT.json FOLDER [FOLDER ...] [--lowest 0 --highest 53] [--threshold 0.12 --rise-ratio 2.5]
    python scripts/eval_low_restrikes.py --report OUT.json

A measurement, not a feature (issue 16). For every piano file of each FOLDER (audio + ``.csv``
ground truth; names containing ``nylon`` or ``guitar`` skipped) it transcribes with the shipped
piano dictionary and the default settings, then takes the candidate re-strikes the splits would
look at (onsets tracked with ``rise_ratio`` lowered to ``restrike_ratio``,
:func:`nmftrans.core.onset_channel.restrike_candidates`) of pitches up to ``--highest`` that lie
more than ``restrike_gap_s`` inside a transcribed note of their pitch. A candidate is *true* when a
ground-truth onset of its pitch lies within 50 ms (a split there would find a missed note), else
*false* (a split there would add a false alarm).

Per candidate it computes kinds of evidence, each the fraction of the pitch's first 10 partials
(±3 % bands, at least the nearest bin) whose band maximum after the candidate exceeds 1.2× (in
magnitude) its minimum before:

* ``share``: the transcription's own spectrogram (2048-point STFT), frames t-3..t-1 vs t..t+2
  (what :mod:`nmftrans.core.onset_channel` counts), best of t-1..t+1;
* ``long``: a 8192-point STFT at the same hop (2.7 Hz bins: resolves the bass partials), frames
  t-10..t-6 vs t+6..t+10 (the long window's centre half lies before / after the onset);
* ``excl`` / ``long excl``: the same, counting only partials not within ±3 % of a partial of
  another pitch with a transcribed note or candidate starting within 50 ms (a chord struck above
  a ringing bass note raises the bass partials it shares, not the others);
* ``long near``: the 8192-point view, frames t-6..t-3 vs t+3..t+6;
* ``mid``: a 4096-point STFT (5.4 Hz bins), frames t-6..t-3 vs t+2..t+4;
* ``... h2+``: the same without the fundamental (the partial that shares its bins with the
  semitone neighbours);
* ``contrast``: (2048-point view) partials that rise and rise 1.3× more than the bins midway to
  the neighbouring partials (a broadband onset raises both).

``--threshold`` / ``--rise-ratio`` take the candidates from a tracker with a lower
``onset_threshold`` and a higher ``rise_ratio`` instead (soft re-strikes: the missed low
re-strikes mostly peak below the threshold after a dip, so they are no default candidates).

Writes every candidate (file, time, pitch, truth, evidences) to OUT.json and prints, per folder
and evidence, the true and false candidates that reach 0.6 / 0.7 / 0.8 / 0.9 / 1.0 (``excl``: of at
least 2 partials counted) and the AUC (P(true > false)).
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

from nmftrans.core.chord_notes import chord_candidates  # noqa: E402
from nmftrans.core.features import frequencies, spectrogram  # noqa: E402
from nmftrans.core.notes import NoteParams  # noqa: E402
from nmftrans.core.onset_channel import BAND_TOLERANCE, N_PARTIALS, band_maxima, partial_bands, restrike_candidates  # noqa: E402
from nmftrans.io.annotations import read_notes  # noqa: E402
from nmftrans.io.dictionary import load_dictionary  # noqa: E402
from nmftrans.transcribe import transcribe_file  # noqa: E402

RISE = 1.2


def hz(p) -> float:
    return 440.0 * 2.0 ** ((float(p) - 69.0) / 12.0)


def rises(B: np.ndarray, t: int, before: tuple[int, int], after: tuple[int, int], power: float) -> np.ndarray:
    """Per band: max over t+after vs min over t-before (inclusive ranges), > RISE ** power."""
    n = B.shape[1]
    b0, b1 = max(0, t - before[1]), max(0, t - before[0] + 1)
    a0, a1 = min(n, t + after[0]), min(n, t + after[1] + 1)
    if b1 <= b0 or a1 <= a0:
        return np.zeros(B.shape[0], dtype=bool)
    return B[:, a0:a1].max(axis=1) > (RISE ** power) * B[:, b0:b1].min(axis=1)


def shared(p: int, others) -> np.ndarray:
    """Which of p's partials (1..N_PARTIALS) lie within ±3 % of a partial of another pitch."""
    out = np.zeros(N_PARTIALS, dtype=bool)
    for q in others:
        fq = hz(q) * np.arange(1, N_PARTIALS + 1)
        for h in range(1, N_PARTIALS + 1):
            f = h * hz(p)
            out[h - 1] |= bool(np.any(np.abs(fq - f) <= BAND_TOLERANCE * f))
    return out


def main() -> None:
    import librosa

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument("out", type=Path)
    parser.add_argument("folders", type=Path, nargs="+")
    parser.add_argument("--highest", type=int, default=53)
    parser.add_argument("--lowest", type=int, default=0)
    parser.add_argument("--long-fft", type=int, default=8192)
    parser.add_argument("--threshold", type=float, default=None, help="onset_threshold of the candidates (default: the tracker's)")
    parser.add_argument("--rise-ratio", type=float, default=None, help="rise_ratio of the candidates (default: restrike_ratio)")
    args = parser.parse_args()
    dictionary = load_dictionary("piano")
    st = dictionary.settings
    params = NoteParams()
    cand_params = dataclasses.replace(params, onset_threshold=args.threshold or params.onset_threshold,
                                      restrike_ratio=args.rise_ratio or params.restrike_ratio)
    long_st = dataclasses.replace(st, n_fft=args.long_fft, merge="", fmax=2500.0)
    mid_st = dataclasses.replace(st, n_fft=args.long_fft // 2, merge="", fmax=2500.0)
    f_short, f_long, f_mid = frequencies(st), frequencies(long_st), frequencies(mid_st)
    rows = []
    for folder in args.folders:
        for audio in sorted(p for p in folder.iterdir() if p.suffix in (".flac", ".wav")):
            if "nylon" in audio.name or "guitar" in audio.name or not audio.with_suffix(".csv").is_file():
                continue
            tr = transcribe_file(audio, dictionary)
            A, pitches, fr = tr.activations, np.asarray(tr.pitches), tr.frame_rate
            ref = read_notes(audio.with_suffix(".csv"))
            est = tr.notes
            y, _ = librosa.load(str(audio), sr=st.sample_rate, mono=True)
            V = spectrogram(y, st)
            L = spectrogram(y, long_st)
            M = spectrogram(y, mid_st)
            cands = restrike_candidates(A, pitches, fr, cand_params, st.window_s, lowest=0)
            chords = chord_candidates(A, pitches, fr, params, st.window_s)
            starts = np.concatenate([est[:, [0, 2]], cands[:, [0, 2]], chords[:, [0, 2]]])
            for c_on, _, p, _ in cands:
                p = int(p)
                if p > args.highest or p < args.lowest:
                    continue
                inside = (est[:, 2] == p) & (est[:, 0] < c_on - params.restrike_gap_s) & (est[:, 1] > c_on + params.restrike_gap_s)
                if not np.any(inside):
                    continue
                truth = bool(np.any((ref[:, 2] == p) & (np.abs(ref[:, 0] - c_on) <= 0.05)))
                t = int(round(c_on * fr))
                others = sorted(set(int(q) for q in starts[(np.abs(starts[:, 0] - c_on) <= 0.05) & (starts[:, 1] != p), 1]))
                sh = shared(p, others)
                ev = {}
                for name, X, f, before, after in (("share", V, f_short, (1, 3), (0, 2)),
                                                  ("long", L, f_long, (6, 10), (6, 10)),
                                                  ("long near", L, f_long, (3, 6), (3, 6)),
                                                  ("mid", M, f_mid, (3, 6), (2, 4))):
                    lo, hi, _owner = partial_bands(f, np.array([p]))
                    h_of = [h for h in range(1, N_PARTIALS + 1) if f[0] <= h * hz(p) <= f[-1]]
                    B = band_maxima(X[:, max(0, t - 12):t + 14], lo, hi)
                    tt = t - max(0, t - 12)
                    best = np.zeros(len(lo), dtype=bool)
                    best_n = -1
                    for d in (-1, 0, 1):
                        r = rises(B, tt + d, before, after, st.power)
                        if r.sum() > best_n:
                            best, best_n = r, r.sum()
                    keep = ~sh[np.array(h_of) - 1]
                    ev[name] = float(best.mean()) if len(best) else 0.0
                    ev[name + " excl"] = float(best[keep].mean()) if keep.sum() else 0.0
                    ev["n " + name + " excl"] = int(keep.sum())
                    ev[name + " h2+"] = float(best[1:].mean()) if len(best) > 1 else 0.0
                    ev[name + " h1"] = bool(best[0]) if len(best) else False
                r = pitches == p
                peak = float(A[r, t:t + 8].max())
                dip = float(A[r, max(0, t - 4):t + 2].min())
                # contrast: partials whose rise beats the rise of the bins midway to their neighbours
                lo, hi, _ = partial_bands(f_short, np.array([p]))
                mids = []
                for h in range(1, N_PARTIALS + 1):
                    if h * hz(p) > f_short[-1]:
                        break
                    for m in (h - 0.5, h + 0.5):
                        fm = m * hz(p)
                        k = int(np.argmin(np.abs(f_short - fm)))
                        mids.append(k)
                Bp = band_maxima(V[:, max(0, t - 12):t + 14], lo, hi)
                Bm = V[np.array(mids), max(0, t - 12):t + 14].reshape(len(lo), 2, -1).max(axis=1) if len(mids) == 2 * len(lo) else None
                tt = t - max(0, t - 12)
                con = 0.0
                if Bm is not None:
                    for d in (-1, 0, 1):
                        a0, a1, b0, b1 = tt + d, tt + d + 3, max(0, tt + d - 3), tt + d
                        if b1 <= b0:
                            continue
                        rp = Bp[:, a0:a1].max(axis=1) / np.maximum(Bp[:, b0:b1].min(axis=1), 1e-9)
                        rm = Bm[:, a0:a1].max(axis=1) / np.maximum(Bm[:, b0:b1].min(axis=1), 1e-9)
                        con = max(con, float(np.mean((rp > RISE ** st.power) & (rp > 1.3 * rm))))
                ev["contrast"] = con
                rows.append({"folder": folder.name, "file": audio.name, "time": float(c_on), "pitch": p, "peak": peak, "dip": dip,
                             "truth": truth, "others": others, **ev})
            print(f"{audio.name}: {sum(r['file'] == audio.name for r in rows)} candidates", file=sys.stderr, flush=True)
    args.out.write_text(json.dumps(rows, indent=0))
    report(rows)


def auc(rows, name: str) -> float:
    p = np.array([float(r[name]) for r in rows if r["truth"]])
    n = np.array([float(r[name]) for r in rows if not r["truth"]])
    if not len(p) or not len(n):
        return float("nan")
    return float((p[:, None] > n[None, :]).mean() + 0.5 * (p[:, None] == n[None, :]).mean())


def report(rows) -> None:
    names = [k for k in rows[0] if k.startswith(("share", "long", "mid", "contrast")) and not k.endswith("h1")] if rows else []
    print(f"{'folder':<14}{'evidence':<16}{'T/F all':>9}" + "".join(f"{'>=' + str(x):>9}" for x in (0.6, 0.7, 0.8, 0.9, 1.0))
          + f"{'AUC':>7}")
    for folder in sorted(set(r["folder"] for r in rows)) + ["ALL"]:
        sel = [r for r in rows if folder in ("ALL", r["folder"])]
        nt = sum(r["truth"] for r in sel)
        for name in names:
            cells = []
            for x in (0.6, 0.7, 0.8, 0.9, 1.0):
                ok = [r for r in sel if r[name] >= x - 1e-9 and (not name.endswith("excl") or r["n " + name] >= 2)]
                cells.append(f"{sum(r['truth'] for r in ok)}/{sum(not r['truth'] for r in ok)}")
            print(f"{folder[:13]:<14}{name:<16}{f'{nt}/{len(sel) - nt}':>9}" + "".join(f"{c:>9}" for c in cells)
                  + f"{auc(sel, name):>7.3f}")


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "--report":
        report(json.loads(Path(sys.argv[2]).read_text()))
    else:
        main()
