"""Small writers for test data: MIDI files, tiny wav files, text annotations."""

from __future__ import annotations

from pathlib import Path

import mido
import numpy as np
import soundfile as sf


def write_midi(path: Path, tracks: list[list[tuple]], *, ticks_per_beat: int = 480, midi_type: int = 1) -> Path:
    """Write a MIDI file from tracks of ``(abs_tick, mido.Message or MetaMessage)`` pairs."""
    mid = mido.MidiFile(type=midi_type, ticks_per_beat=ticks_per_beat)
    for events in tracks:
        track = mido.MidiTrack()
        last = 0
        for tick, msg in sorted(events, key=lambda e: e[0]):
            track.append(msg.copy(time=tick - last))
            last = tick
        mid.tracks.append(track)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    mid.save(str(path))
    return path


def on(ch: int, note: int, vel: int = 64):
    return mido.Message("note_on", channel=ch, note=note, velocity=vel)


def off(ch: int, note: int):
    return mido.Message("note_off", channel=ch, note=note, velocity=0)


def cc(ch: int, control: int, value: int):
    return mido.Message("control_change", channel=ch, control=control, value=value)


def tempo(us_per_beat: int):
    return mido.MetaMessage("set_tempo", tempo=us_per_beat)


def write_wav(path: Path, seconds: float = 0.05, sr: int = 8000) -> Path:
    """Write a tiny mono wav (or flac, by suffix) of low noise."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    sf.write(str(path), 0.01 * rng.standard_normal(int(seconds * sr)), sr)
    return path


def write_text(path: Path, text: str) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path
