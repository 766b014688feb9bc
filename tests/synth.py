"""Synthetic test material: harmonic tones with known notes (no external data needed)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile as sf

SR = 22050


def tone(pitch: int, duration: float, *, sr: int = SR, amplitude: float = 0.3, n_partials: int = 12,
         decay_s: float = 1.5, brightness: float = 1.0, cents: float = 0.0) -> np.ndarray:
    """A piano-like harmonic tone: partials ``m f0`` with amplitude ``1/m**brightness``, a 5 ms
    attack, exponential decay and a 30 ms release at the end; ``cents`` sharp of A440 tuning."""
    t = np.arange(int(duration * sr)) / sr
    f0 = 440.0 * 2 ** ((pitch - 69) / 12 + cents / 1200)
    y = np.zeros_like(t)
    for m in range(1, n_partials + 1):
        if m * f0 > sr / 2 - 500:
            break
        y += np.sin(2 * np.pi * m * f0 * t + 0.3 * m) / m**brightness * np.exp(-t * m**0.5 / decay_s)
    env = np.minimum(1.0, t / 0.005) * np.minimum(1.0, (duration - t) / 0.03).clip(0, 1)
    y *= env
    return (amplitude * y / np.abs(y).max()).astype(np.float32)


def render(notes: np.ndarray, *, sr: int = SR, tail: float = 0.5, **tone_kw) -> np.ndarray:
    """Mix tones for a note list (onset, offset, pitch, velocity); velocity scales amplitude linearly."""
    notes = np.asarray(notes, dtype=np.float64).reshape(-1, 4)
    total = int((notes[:, 1].max() + tail) * sr) if len(notes) else sr
    y = np.zeros(total, dtype=np.float32)
    for onset, offset, pitch, velocity in notes:
        x = tone(int(pitch), offset - onset, sr=sr, amplitude=0.3 * velocity / 100, **tone_kw)
        start = int(round(onset * sr))
        y[start:start + len(x)] += x[: total - start]
    return y


def write_isolated(folder: Path, pitches, *, sr: int = SR, duration: float = 1.0, **tone_kw) -> list[Path]:
    """One file per pitch, named like the MAPS/dev data (``tone_M060_v100.wav``)."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for p in pitches:
        path = folder / f"tone_M{p:03d}_v100.wav"
        sf.write(path, tone(p, duration, sr=sr, **tone_kw), sr)
        paths.append(path)
    return paths


def tone_dictionary(folder: Path, pitches):
    """A dictionary (attack + sustain templates) learned from one synthetic tone per pitch,
    written to ``folder`` by :func:`write_isolated`."""
    from nmftrans.learn import IsolatedNote, learn_isolated

    paths = write_isolated(folder, pitches)
    d, _ = learn_isolated([IsolatedNote(p, int(p.stem[6:9])) for p in paths])
    return d


def example_notes(rng: np.random.Generator, *, pitches=range(48, 73), n: int = 30, spacing: float = 0.35,
                  polyphony: int = 2) -> np.ndarray:
    """A random note list with ``polyphony`` notes struck together every ``spacing`` seconds."""
    rows = []
    t = 0.2
    pitches = np.asarray(list(pitches))
    for _ in range(n // polyphony):
        chosen = rng.choice(pitches, size=polyphony, replace=False)
        for p in chosen:
            rows.append((t, t + spacing * 0.9, float(p), float(rng.integers(60, 110))))
        t += spacing
    notes = np.array(rows)
    return notes[np.lexsort((notes[:, 2], notes[:, 0]))]


# A reference and an estimate to score by hand. Times are multiples of 1/16 s: exact in CSV
# (4 decimals) and in MIDI (120 bpm, 480 ticks per beat). Onset matching (50 ms): 4 hits, 3 false
# alarms (the late 67, the wrong-pitch 61, the extra 50), 3 misses (67, 60, 69).
SCORED_REF = np.array([
    [0.2500, 0.7500, 60, 90],
    [0.2500, 1.0000, 64, 80],
    [0.7500, 1.2500, 67, 70],
    [1.0000, 1.5000, 72, 100],
    [1.5000, 2.0000, 60, 90],
    [1.8750, 2.5000, 65, 60],
    [2.5000, 3.0000, 69, 100],
])
SCORED_EST = np.array([
    [0.2500, 0.7500, 60, 90],   # exact
    [0.2500, 0.6250, 64, 80],   # onset right, offset far too early (a hit when offsets do not count)
    [0.8125, 1.2500, 67, 70],   # onset 62.5 ms late: a false alarm, and 67 is missed
    [1.0000, 1.5625, 72, 100],  # offset 62.5 ms late: inside the 100 ms window (20 % of 0.5 s)
    [1.5000, 2.0000, 61, 90],   # wrong pitch: a false alarm, and 60 is missed
    [1.8750, 2.5000, 65, 60],   # exact
    [2.7500, 3.1250, 50, 64],   # extra note: a false alarm; 69 is missed
])


def glide_voice(seed: int = 0, duration: float = 6.0, *, sr: int = SR, f0_range=(90.0, 220.0),
                amplitude: float = 0.5) -> np.ndarray:
    """A speech-like voice: syllables (0.12-0.35 s, gaps 0.03-0.15 s) of a harmonic source whose
    F0 glides 1-4 semitones up or down across each syllable and wanders a little (vibrato-free
    jitter), shaped by three formants that move from syllable to syllable, with a little breath
    noise. Seeded; peak at ``amplitude``.
    """
    rng = np.random.default_rng(seed)
    n = int(duration * sr)
    f0 = np.zeros(n)
    env = np.zeros(n)
    formants = np.zeros((n, 3))
    pos = int(rng.uniform(0.05, 0.2) * sr)
    while pos < n:
        length = int(rng.uniform(0.12, 0.35) * sr)
        seg = slice(pos, min(n, pos + length))
        m = seg.stop - seg.start
        u = np.linspace(0.0, 1.0, m)
        start = rng.uniform(*f0_range)
        glide = rng.choice([-1, 1]) * rng.uniform(1.0, 4.0)  # semitones over the syllable
        wander = np.cumsum(rng.standard_normal(m)) / np.sqrt(sr) * 2.0  # semitones, a slow random walk
        f0[seg] = start * 2 ** ((glide * u + wander) / 12)
        env[seg] = np.sin(np.pi * u) ** 0.5
        f_a = [rng.uniform(300, 800), rng.uniform(900, 2300), rng.uniform(2400, 3200)]
        f_b = [rng.uniform(300, 800), rng.uniform(900, 2300), rng.uniform(2400, 3200)]
        formants[seg] = np.outer(1 - u, f_a) + np.outer(u, f_b)
        pos = seg.stop + int(rng.uniform(0.03, 0.15) * sr)
    phase = 2 * np.pi * np.cumsum(f0) / sr
    y = np.zeros(n)
    bandwidths = (90.0, 120.0, 160.0)
    for k in range(1, 60):
        fk = k * f0
        gain = sum(1.0 / (1.0 + ((fk - formants[:, j]) / bandwidths[j]) ** 2) for j in range(3))
        gain = np.where(fk < sr / 2 - 500, gain / k ** 0.5, 0.0)
        y += gain * np.sin(k * phase)
    y = y * env + 0.02 * env * rng.standard_normal(n)
    return (amplitude * y / max(1e-9, np.abs(y).max())).astype(np.float32)
