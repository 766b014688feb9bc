#!/usr/bin/env python
"""How well per-pitch onset evidence tells a re-strike of a ringing note from a note that rings on (AUC).

    python scripts/eval_restrike_evidence.py FOLDER [FOLDER ...] [--n-fft 1024]

A measurement, not a feature (issue 16): for every piano file of each FOLDER (audio + ground truth,
e.g. ``../shared/data/pieces``, ``../shared/data/real`` or what ``render_real_sampled.py`` wrote;
file names containing ``nylon`` or ``guitar`` are skipped) it transcribes with the shipped piano
dictionary and computes, per pitch and frame (the transcription's frame grid), these kinds of onset
evidence:

* ``activation``: positive log-difference (lag 2 frames) of the tracker's normalised activation;
* ``comb flux``: positive log-difference (lag 2) of the pitch's comb energy (sum over its first 10
  partials, up to 5 kHz, of the largest magnitude^0.5 within +-3 %) in an ``--n-fft`` STFT;
* ``complex comb``: rectified complex-domain deviation (Bello et al. 2004: the distance of each
  STFT bin from its phase-and-magnitude prediction, where the magnitude rose) summed at the same
  comb, over the comb's magnitude the frame before (a relative measure of new energy at the
  pitch's own partials);
* ``short NMF``: positive log-difference (lag 2) of per-pitch activations of a second NMF of the
  ``--n-fft`` spectrogram with the dictionary's templates interpolated to its bins (20 MU updates);
* ``partial share``: the fraction of the pitch's partials that rise (:mod:`nmftrans.core.onset_channel`,
  on the transcription's own spectrogram, whatever ``--n-fft``; 0 for pitches it does not resolve).

Positives: ground-truth onsets of a pitch already sounding (an earlier note of the pitch ends less
than 0.25 s before, as :mod:`nmftrans.core.note_errors` counts re-strikes). Negatives: at every
ground-truth onset, the pitches that sound through it (begun > 0.1 s before, not struck within
0.1 s). Each takes its evidence's largest value from 1 frame before to 3 after the onset. AUC =
P(positive > negative). Printed per folder.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from nmftrans.core import kernels  # noqa: E402
from nmftrans.io.annotations import read_notes  # noqa: E402
from nmftrans.io.dictionary import load_dictionary  # noqa: E402
from nmftrans.core.features import frequencies, spectrogram  # noqa: E402
from nmftrans.core.notes import pitch_activations  # noqa: E402
from nmftrans.core.onset_channel import PartialRiseStream  # noqa: E402
from nmftrans.transcribe import solver_templates, transcribe_file  # noqa: E402


def comb_bands(pitches, n_fft: int, sr: int, n_harm: int = 10, tol: float = 0.03):
    freqs = np.fft.rfftfreq(n_fft, 1 / sr)
    out = []
    for p in pitches:
        f0 = 440.0 * 2 ** ((p - 69) / 12)
        fs = np.array([h * f0 for h in range(1, n_harm + 1) if h * f0 <= 5000])
        lo = np.searchsorted(freqs, fs * (1 - tol))
        out.append((lo, np.maximum(lo + 1, np.searchsorted(freqs, fs * (1 + tol)))))
    return out


def lag_flux(X: np.ndarray, floor: float, lag: int = 2) -> np.ndarray:
    L = np.log(X + floor)
    F = np.zeros_like(L)
    F[:, lag:] = np.maximum(L[:, lag:] - L[:, :-lag], 0)
    return F


def evidences(y: np.ndarray, A: np.ndarray, pitches, dictionary, n_fft: int) -> dict[str, np.ndarray]:
    import librosa

    st = dictionary.settings
    X = librosa.stft(y, n_fft=n_fft, hop_length=st.hop_length, center=True)
    M = np.abs(X)
    pred = np.zeros_like(X)
    pred[:, 2:] = M[:, 1:-1] * np.exp(1j * (2 * np.angle(X[:, 1:-1]) - np.angle(X[:, :-2])))
    dev = np.abs(X - pred)
    dev[:, :2] = 0
    prev = np.concatenate([M[:, :1], M[:, :-1]], axis=1)
    rect = np.where(M > prev, dev, 0)
    P = np.sqrt(M)
    comb = np.zeros((len(pitches), M.shape[1]))
    cd_num, cd_den = np.zeros_like(comb), np.zeros_like(comb)
    for i, (lo, hi) in enumerate(comb_bands(pitches, n_fft, st.sample_rate)):
        for a, b in zip(lo, hi):
            comb[i] += P[a:b].max(axis=0)
            cd_num[i] += rect[a:b].max(axis=0)
            cd_den[i] += prev[a:b].max(axis=0)
    complex_comb = cd_num / (cd_den + 1e-3 * M.max() * 10)
    # second NMF on the short-window spectrogram, templates interpolated to its bins
    short = dataclasses.replace(st, n_fft=n_fft)
    V = np.ascontiguousarray(spectrogram(y, short), dtype=np.float32)
    W = solver_templates(dictionary)
    f1, f2 = frequencies(st), frequencies(short)
    Ws = np.stack([np.interp(f2, f1, W[:, k]) for k in range(W.shape[1])], axis=1).astype(np.float32)
    Ws /= Ws.sum(axis=0, keepdims=True) + 1e-12
    H, _ = kernels.update_activations(V, Ws, beta=dictionary.beta, n_iter=20, tol=0, gamma=1.75)
    S, _ = pitch_activations(H[:dictionary.W.shape[1]], dictionary.pitches)
    T = A.shape[1]
    stream = PartialRiseStream(frequencies(st), pitches, 1.2 ** st.power)
    stream.push(spectrogram(y, st))
    share = stream.finish() / np.maximum(stream.n_partials, 1)[:, None]

    def fit(E):
        E = E[:, :T]
        return np.pad(E, ((0, 0), (0, T - E.shape[1])))

    return {"activation": lag_flux(A, 0.01), "comb flux": fit(lag_flux(comb, 1e-3 * comb.max())),
            "complex comb": fit(complex_comb), "short NMF": fit(lag_flux(S, 0.01 * np.percentile(S.max(0), 90))),
            "partial share": fit(share)}


def samples(E: np.ndarray, ref: np.ndarray, pitches, frame_rate: float) -> tuple[list, list]:
    row = {int(p): i for i, p in enumerate(pitches)}
    at = lambda i, t: E[i, max(0, t - 1):t + 4].max()  # noqa: E731
    pos, neg = [], []
    for on, off, p, _ in ref:
        if int(p) not in row:
            continue
        t = int(round(on * frame_rate))
        before = ref[(ref[:, 2] == p) & (ref[:, 0] < on - 0.06)]
        if len(before) and before[:, 1].max() > on - 0.25:
            pos.append(at(row[int(p)], t))
        ringing = set(ref[(ref[:, 0] < on - 0.1) & (ref[:, 1] > on), 2]) - set(ref[np.abs(ref[:, 0] - on) < 0.1, 2])
        neg.extend(at(row[int(q)], t) for q in ringing if int(q) in row)
    return pos, neg


def main() -> None:
    import librosa

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument("folders", type=Path, nargs="+")
    parser.add_argument("--n-fft", type=int, default=1024, help="window of the short STFT (samples at 22050 Hz)")
    args = parser.parse_args()
    dictionary = load_dictionary("piano")
    print(f"{'folder':<28}{'evidence':<14}{'re-strikes':>11}{'ringing':>9}{'AUC':>7}")
    for folder in args.folders:
        pos, neg = {}, {}
        for audio in sorted(p for p in folder.iterdir() if p.suffix in (".flac", ".wav")):
            if "nylon" in audio.name or "guitar" in audio.name or not audio.with_suffix(".csv").is_file():
                continue
            tr = transcribe_file(audio, dictionary)
            y, _ = librosa.load(str(audio), sr=dictionary.settings.sample_rate, mono=True)
            ref = read_notes(audio.with_suffix(".csv"))
            for name, E in evidences(y, tr.activations, tr.pitches, dictionary, args.n_fft).items():
                p, n = samples(E, ref, tr.pitches, tr.frame_rate)
                pos.setdefault(name, []).extend(p)
                neg.setdefault(name, []).extend(n)
        for name in pos:
            p, n = np.array(pos[name]), np.array(neg[name])
            auc = float((p[:, None] > n[None, :]).mean() + 0.5 * (p[:, None] == n[None, :]).mean()) if len(p) and len(n) else float("nan")
            print(f"{folder.name[:27]:<28}{name:<14}{len(p):>11}{len(n):>9}{auc:>7.3f}")


if __name__ == "__main__":
    main()
