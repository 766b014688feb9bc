"""Writing note lists: MIDI, CSV and JSON. Outputs are written atomically.

A note list is ``np.ndarray [shape=(n_notes, 4)]`` with columns onset (s), offset (s), MIDI pitch,
MIDI velocity.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path

import numpy as np

from nmftrans.errors import NmftransError
from nmftrans.io.fileio import atomic_path, write_text_atomic


def notes_to_midi_bytes(notes: np.ndarray, *, tempo: float = 120.0, program: int = 0,
                        ticks_per_beat: int = 480) -> bytes:
    """A Standard MIDI File (format 1, one track) of a note list, as bytes.

    The track holds the tempo, the program change (channel 0) and each note's note_on and
    note_off (velocity 0), sorted by tick (at one tick: note_offs first, then by pitch), with
    running status, then the end of track: the bytes ``mido.MidiFile.save`` writes for these
    messages (``tests/test_midi.py`` compares them), without importing mido (a few ms of a short
    run's start-up, and a message object per event for a long file).

    Parameters
    ----------
    notes : np.ndarray [shape=(n_notes, 4)]
    tempo : float
        Tempo in beats per minute written to the file (times are converted with it, so the
        notes sound at the given seconds whatever the tempo).
    program : int
        General MIDI program (0 = acoustic grand piano, 24 = nylon guitar).
    """
    if not 0 <= program <= 127:
        raise NmftransError(f"MIDI program must be 0-127, got {program}")
    if not tempo > 0:
        raise NmftransError(f"tempo must be positive, got {tempo}")
    us_per_beat = int(round(60 * 1e6 / tempo))  # microseconds per quarter note (mido.bpm2tempo)
    if not 0 <= us_per_beat <= 0xFFFFFF:
        raise NmftransError(f"tempo {tempo} is too slow for a MIDI file (at least 3.58 beats per minute)")
    ticks_per_s = ticks_per_beat * 1e6 / us_per_beat
    notes = np.asarray(notes, dtype=np.float64).reshape(-1, 4)
    on = np.round(notes[:, 0] * ticks_per_s).astype(np.int64)
    off = np.maximum(np.round(notes[:, 1] * ticks_per_s).astype(np.int64), on + 1)
    pitch = np.clip(np.round(notes[:, 2]), 0, 127).astype(np.int64)
    velocity = np.clip(np.round(notes[:, 3]), 1, 127).astype(np.int64)
    # events (tick, note_on?, pitch, velocity), sorted; note_off before note_on at a tick
    n = len(notes)
    tick = np.concatenate([on, off])
    is_on = np.concatenate([np.ones(n, np.int64), np.zeros(n, np.int64)])
    pitch = np.concatenate([pitch, pitch])
    velocity = np.concatenate([velocity, np.zeros(n, np.int64)])
    order = np.lexsort((velocity, pitch, is_on, tick))
    delta = np.diff(tick[order], prepend=0)
    if n and delta.min() < 0:
        raise NmftransError("MIDI: note times must not be negative")
    track = bytearray(b"\x00\xff\x51\x03" + us_per_beat.to_bytes(3, "big"))  # set_tempo
    track += bytes([0, 0xC0, int(program)])  # program_change, channel 0
    running = 0xC0  # running status: a channel message's status byte is left out after the same one
    for i, dt in zip(order.tolist(), delta.tolist()):
        track += _variable_length(dt)
        status = 0x90 if is_on[i] else 0x80  # note_on / note_off, channel 0
        if status != running:
            track.append(status)
            running = status
        track += bytes([int(pitch[i]), int(velocity[i])])
    track += b"\x00\xff\x2f\x00"  # end_of_track
    header = struct.pack(">4sLhhh", b"MThd", 6, 1, 1, ticks_per_beat)
    return header + struct.pack(">4sL", b"MTrk", len(track)) + bytes(track)


def _variable_length(value: int) -> bytes:
    """A MIDI variable-length quantity: 7 bits a byte, most significant first, the high bit set
    on every byte but the last."""
    out = [value & 0x7F]
    value >>= 7
    while value:
        out.append(0x80 | (value & 0x7F))
        value >>= 7
    return bytes(reversed(out))


def write_midi(path: str | Path, notes: np.ndarray, *, tempo: float = 120.0, program: int = 0, overwrite: bool = True) -> None:
    """Write a note list as a standard MIDI file (type 1, one track; :func:`notes_to_midi_bytes`)."""
    data = notes_to_midi_bytes(notes, tempo=tempo, program=program)
    with atomic_path(path, overwrite=overwrite) as tmp:
        Path(tmp).write_bytes(data)


def notes_to_csv(notes: np.ndarray) -> str:
    """CSV text with header ``onset,offset,pitch,velocity`` (times in s, 4 decimals)."""
    lines = ["onset,offset,pitch,velocity"]
    for onset, offset, pitch, velocity in np.asarray(notes, dtype=np.float64).reshape(-1, 4):
        lines.append(f"{onset:.4f},{offset:.4f},{int(round(pitch))},{int(round(velocity))}")
    return "\n".join(lines) + "\n"


def notes_to_json(notes: np.ndarray) -> str:
    """JSON text: a list of ``{"onset", "offset", "pitch", "velocity"}`` objects."""
    rows = [
        {"onset": round(float(a), 4), "offset": round(float(b), 4), "pitch": int(round(p)), "velocity": int(round(v))}
        for a, b, p, v in np.asarray(notes, dtype=np.float64).reshape(-1, 4)
    ]
    return json.dumps(rows, indent=1) + "\n"


def write_notes(path: str | Path, notes: np.ndarray, *, fmt: str | None = None, tempo: float = 120.0,
                program: int = 0, overwrite: bool = True) -> None:
    """Write notes in the format given by ``fmt`` or the suffix: ``.mid``/``.midi``, ``.csv``, ``.json``."""
    path = Path(path)
    fmt = fmt or path.suffix.lower().lstrip(".")
    if fmt in ("mid", "midi"):
        write_midi(path, notes, tempo=tempo, program=program, overwrite=overwrite)
    elif fmt == "csv":
        write_text_atomic(path, notes_to_csv(notes), overwrite=overwrite)
    elif fmt == "json":
        write_text_atomic(path, notes_to_json(notes), overwrite=overwrite)
    else:
        raise NmftransError(f"{path}: unknown output format {fmt!r} (use .mid, .csv or .json)")
