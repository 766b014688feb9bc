#!/usr/bin/env python
"""Render seeded random piano pieces with the FluidR3 GM SoundFont, with exact ground truth, for learning.

    python scripts/render_training_pieces.py OUT [--seed 1] [--pieces 6] [--seconds 35]
                                             [--soundfont /usr/share/sounds/sf2/FluidR3_GM.sf2]

Each piece mixes musical textures over the whole piano range (MIDI 21-108): block chords of 2-6
notes (some repeated), arpeggios over 2-3 octaves under the sustain pedal, scales in parallel
intervals, repeated notes and re-strikes of notes still ringing under the pedal, and a melody over
2-3 accompanying voices; velocities from 20 to 125, a few ms of timing jitter. It writes, per piece,
``<name>__fluidr3-piano.flac`` (mono, 44100 Hz, 16-bit, peak -1 dBFS, runs 1.0 s past the last
offset) with ``.csv`` (``onset,offset,pitch,velocity``) and ``.mid`` (one track, 120 bpm, 1000
ticks per beat, program 0, no pedal messages) beside it, in the development data's conventions:
offsets extended by the sustain pedal (CC64 >= 64) until its release or the next strike of the
same pitch, one voice per pitch, times on the 0.5 ms grid.

Rendered with fluidsynth (reverb and chorus off) and FluidR3_GM.sf2 only (Frank Wen, MIT licence),
GM program 0 "Yamaha Grand Piano". Deterministic for a given seed and fluidsynth version.
"""

from __future__ import annotations

import argparse
import csv
import subprocess
import sys
import tempfile
from pathlib import Path

import mido
import numpy as np
import soundfile as sf

SR = 44100
TICKS = 1000  # per beat; 120 bpm -> 0.5 ms per tick
TEMPO = 500_000
LOW, HIGH = 21, 108
MAJOR = [0, 2, 4, 5, 7, 9, 11]
MINOR = [0, 2, 3, 5, 7, 8, 10]


def tick(t: float) -> int:
    return int(round(t * 2000))


class Piece:
    """Key presses (onset, key release, pitch, velocity) and sustain-pedal intervals, in seconds."""

    def __init__(self, rng: np.random.Generator):
        self.rng = rng
        self.keys: list[list[float]] = []
        self.pedal: list[tuple[float, float]] = []
        self.t = 0.5

    def vel(self, lo=20, hi=125) -> int:
        return int(self.rng.integers(lo, hi + 1))

    def jitter(self) -> float:
        return float(self.rng.uniform(-0.006, 0.006))

    def press(self, on: float, dur: float, pitch: int, vel: int) -> None:
        if LOW <= pitch <= HIGH:
            self.keys.append([max(0.0, on + self.jitter()), max(on + 0.03, on + dur), pitch, vel])

    def scale(self) -> list[int]:
        root = int(self.rng.integers(0, 12))
        mode = MAJOR if self.rng.random() < 0.6 else MINOR
        return sorted({root + d + 12 * o for o in range(-1, 10) for d in mode if LOW <= root + d + 12 * o <= HIGH})

    # ---- textures: each appends from self.t and moves self.t on ----
    def chords(self) -> None:
        notes = self.scale()
        beat = float(self.rng.uniform(0.3, 0.8))
        for _ in range(int(self.rng.integers(4, 9))):
            size = int(self.rng.integers(2, 7))
            centre = int(self.rng.integers(28, 100))
            pool = [p for p in notes if abs(p - centre) <= 14] or notes
            chord = sorted(self.rng.choice(pool, size=min(size, len(pool)), replace=False))
            vel = self.vel()
            repeats = int(self.rng.integers(1, 4)) if self.rng.random() < 0.4 else 1
            for _r in range(repeats):
                dur = beat * float(self.rng.uniform(0.5, 0.95))
                for p in chord:
                    self.press(self.t, dur, int(p), max(1, min(127, vel + int(self.rng.integers(-8, 9)))))
                self.t += beat
        self.t += 0.3

    def arpeggio(self) -> None:
        notes = self.scale()
        step = float(self.rng.uniform(0.08, 0.2))
        start = self.t
        for _ in range(int(self.rng.integers(2, 4))):
            base = int(self.rng.integers(24, 80))
            triad = [p for p in notes if base <= p <= base + 12 * int(self.rng.integers(2, 4))]
            triad = triad[:: int(self.rng.integers(2, 3))]
            seq = triad + triad[-2:0:-1] if self.rng.random() < 0.5 else triad
            vel = self.vel(30, 110)
            for p in seq:
                self.press(self.t, step * 0.8, int(p), max(1, min(127, vel + int(self.rng.integers(-10, 11)))))
                self.t += step
            self.pedal.append((start + 0.02, self.t - 0.05))
            start = self.t
            self.t += 0.05
        self.t += 0.4

    def scales(self) -> None:
        notes = self.scale()
        step = float(self.rng.uniform(0.09, 0.25))
        second = int(self.rng.choice([0, 1, 2, 7]))  # none, a third, a fifth (scale steps) or an octave
        i0 = int(self.rng.integers(0, max(1, len(notes) - 16)))
        length = int(self.rng.integers(8, 16))
        idx = list(range(i0, min(len(notes), i0 + length)))
        if self.rng.random() < 0.5:
            idx = idx + idx[-2::-1]
        vel = self.vel()
        for i in idx:
            v = max(1, min(127, vel + int(self.rng.integers(-10, 11))))
            self.press(self.t, step * 0.9, notes[i], v)
            if second == 7:
                self.press(self.t, step * 0.9, notes[i] + 12, v)
            elif second:
                self.press(self.t, step * 0.9, notes[min(len(notes) - 1, i + 2 * second)], v)
            self.t += step
        self.t += 0.3

    def repeated(self) -> None:
        """Repeated notes, some re-struck while still ringing under the pedal."""
        pitch = int(self.rng.integers(LOW, HIGH + 1))
        step = float(self.rng.uniform(0.12, 0.35))
        pedal = self.rng.random() < 0.5
        start = self.t
        other = int(np.clip(pitch + self.rng.choice([-12, -7, -5, 4, 7, 12]), LOW, HIGH))
        for k in range(int(self.rng.integers(3, 8))):
            self.press(self.t, step * (0.4 if pedal else 0.8), pitch, self.vel())
            if k % 2 == 0 and self.rng.random() < 0.5:
                self.press(self.t, step * 1.6, other, self.vel(30, 90))
            self.t += step
        if pedal:
            self.pedal.append((start + 0.01, self.t + 0.3))
            self.t += 0.35
        self.t += 0.3

    def melody(self) -> None:
        """A melody over 2-3 accompanying voices (a bass and inner chord tones)."""
        notes = self.scale()
        beat = float(self.rng.uniform(0.35, 0.6))
        n_beats = int(self.rng.integers(6, 12))
        mel_i = int(np.searchsorted(notes, int(self.rng.integers(64, 90))))
        bass_i = int(np.searchsorted(notes, int(self.rng.integers(24, 48))))
        voices = int(self.rng.integers(2, 5))
        pedal = self.rng.random() < 0.6
        for b in range(n_beats):
            t0 = self.t
            if pedal and b % 2 == 0:
                self.pedal.append((t0 + 0.02, t0 + 2 * beat - 0.03))
            bass = notes[min(len(notes) - 1, max(0, bass_i + int(self.rng.integers(-2, 3))))]
            self.press(t0, beat * 0.9, bass, self.vel(30, 90))
            for v in range(voices - 2):
                self.press(t0 + beat / 2, beat * 0.45, min(HIGH, bass + 12 + 4 * v + 3), self.vel(20, 70))
            for sub in range(int(self.rng.choice([1, 2, 2, 3]))):
                mel_i = int(np.clip(mel_i + self.rng.integers(-2, 3), 0, len(notes) - 1))
                n_sub = 1 + sub
                self.press(t0 + sub * beat / n_sub, beat / n_sub * 0.9, notes[mel_i], self.vel(50, 125))
            self.t += beat
        self.t += 0.3

    def extremes(self) -> None:
        """Sparse single notes and octaves reaching A0 and C8."""
        for _ in range(int(self.rng.integers(4, 8))):
            p = int(self.rng.choice([int(self.rng.integers(21, 36)), int(self.rng.integers(90, 109))]))
            self.press(self.t, float(self.rng.uniform(0.2, 0.6)), p, self.vel())
            if self.rng.random() < 0.4:
                self.press(self.t, 0.4, p + 12 if p < 60 else p - 12, self.vel())
            self.t += float(self.rng.uniform(0.25, 0.6))
        self.t += 0.3


def key_events(keys: list[list[float]]) -> list[list[float]]:
    """Keys with no overlapping presses of one pitch (a key is released 2 ms before it is struck again)."""
    keys = sorted(keys, key=lambda k: (k[2], k[0]))
    out: list[list[float]] = []
    for k in keys:
        on, off, p, v = k
        on, off = tick(on) / 2000, tick(off) / 2000
        if out and out[-1][2] == p:
            prev = out[-1]
            if on - prev[0] < 0.03:  # same strike: merge (longest release, loudest)
                prev[1], prev[3] = max(prev[1], off), max(prev[3], v)
                continue
            prev[1] = min(prev[1], on - 0.002)
        out.append([on, off, p, v])
    return sorted(out, key=lambda k: (k[0], k[2]))


def merge_pedal(pedal: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """Overlapping pedal intervals as one (a second CC64 down while down changes nothing; the first up lifts it)."""
    out: list[list[float]] = []
    for a, b in sorted(pedal):
        if out and a <= out[-1][1] + 0.002:
            out[-1][1] = max(out[-1][1], b)
        else:
            out.append([a, b])
    return [(a, b) for a, b in out]


def ground_truth(keys: list[list[float]], pedal: list[tuple[float, float]]) -> list[tuple[float, float, int, int]]:
    """The kit's convention: pedal-extended offsets, cut at the next onset of the same pitch."""
    ped = [(tick(a) / 2000, tick(b) / 2000) for a, b in pedal]
    notes = []
    for on, off, p, v in keys:
        for a, b in ped:
            if a <= off < b:
                off = b
        notes.append([on, off, p, v])
    notes.sort(key=lambda n: (n[2], n[0]))
    for a, b in zip(notes, notes[1:]):
        if a[2] == b[2] and b[0] < a[1]:
            a[1] = b[0]
    notes.sort(key=lambda n: (n[0], n[2]))
    return [(round(on, 4), round(off, 4), int(p), int(v)) for on, off, p, v in notes]


def write_midi(path: Path, notes, pedal=(), end: float | None = None) -> None:
    events = []
    for on, off, p, v in notes:
        events.append((tick(on), 1, mido.Message("note_on", note=p, velocity=v, channel=0)))
        events.append((tick(off), 0, mido.Message("note_off", note=p, velocity=0, channel=0)))
    for a, b in pedal:
        events.append((tick(a), 2, mido.Message("control_change", control=64, value=127, channel=0)))
        events.append((tick(b), 0, mido.Message("control_change", control=64, value=0, channel=0)))
    events.sort(key=lambda e: (e[0], e[1]))
    mid = mido.MidiFile(ticks_per_beat=TICKS)
    track = mido.MidiTrack()
    mid.tracks.append(track)
    track.append(mido.MetaMessage("set_tempo", tempo=TEMPO, time=0))
    track.append(mido.Message("program_change", program=0, channel=0, time=0))
    now = 0
    for t, _, msg in events:
        track.append(msg.copy(time=t - now))
        now = t
    last = tick(end) if end is not None else now
    track.append(mido.MetaMessage("end_of_track", time=max(0, last - now)))
    mid.save(path)


def render(mid: Path, soundfont: Path, seconds: float) -> np.ndarray:
    with tempfile.TemporaryDirectory() as tmp:
        wav = Path(tmp) / "out.wav"
        subprocess.run(["fluidsynth", "-ni", "-q", "-R", "0", "-C", "0", "-g", "0.5", "-r", str(SR),
                        "-F", str(wav), str(soundfont), str(mid)], check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        y, sr = sf.read(wav, dtype="float64", always_2d=True)
    assert sr == SR
    y = y.mean(axis=1)
    n = int(round(seconds * SR))
    y = np.pad(y, (0, max(0, n - len(y))))[:n]
    return y / max(1e-12, np.abs(y).max()) * 10 ** (-1 / 20)


def make_piece(rng: np.random.Generator, seconds: float) -> Piece:
    piece = Piece(rng)
    textures = [piece.chords, piece.arpeggio, piece.scales, piece.repeated, piece.melody, piece.extremes]
    while piece.t < seconds:
        textures[int(rng.integers(len(textures)))]()
    return piece


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument("out", type=Path)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--pieces", type=int, default=6)
    parser.add_argument("--seconds", type=float, default=35.0)
    parser.add_argument("--soundfont", type=Path, default=Path("/usr/share/sounds/sf2/FluidR3_GM.sf2"))
    args = parser.parse_args()
    if args.soundfont.name != "FluidR3_GM.sf2" or not args.soundfont.is_file():
        sys.exit(f"error: {args.soundfont}: the FluidR3_GM.sf2 SoundFont is required (apt-get install fluid-soundfont-gm)")
    args.out.mkdir(parents=True, exist_ok=True)
    total_notes = 0
    total_s = 0.0
    for i in range(args.pieces):
        rng = np.random.default_rng([args.seed, i])
        piece = make_piece(rng, args.seconds)
        keys = key_events(piece.keys)
        piece.pedal = merge_pedal(piece.pedal)
        truth = ground_truth(keys, piece.pedal)
        end = max(off for _, off, _, _ in truth) + 1.0
        name = f"train_s{args.seed}_{i:02d}__fluidr3-piano"
        with tempfile.TemporaryDirectory() as tmp:
            performance = Path(tmp) / "performance.mid"
            write_midi(performance, keys, piece.pedal, end=end)
            y = render(performance, args.soundfont, end)
        sf.write(args.out / f"{name}.flac", y, SR, subtype="PCM_16")
        with open(args.out / f"{name}.csv", "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["onset", "offset", "pitch", "velocity"])
            w.writerows((f"{a:.4f}", f"{b:.4f}", p, v) for a, b, p, v in truth)
        write_midi(args.out / f"{name}.mid", truth)
        total_notes += len(truth)
        total_s += end
        print(f"{name}: {end:.1f} s, {len(truth)} notes, pitches {min(n[2] for n in truth)}-{max(n[2] for n in truth)}")
    print(f"total: {args.pieces} pieces, {total_s:.0f} s, {total_notes} notes")


if __name__ == "__main__":
    main()
