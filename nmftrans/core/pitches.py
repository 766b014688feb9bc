"""MIDI pitch numbers, note names (``C4`` = 60, ``A0`` = 21) and frequencies."""

from __future__ import annotations

import re

import numpy as np

from nmftrans.errors import NmftransError

_NAMES = ["C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B"]
_STEPS = {"C": 0, "D": 2, "E": 4, "F": 5, "G": 7, "A": 9, "B": 11}
_NOTE_RE = re.compile(r"^([A-Ga-g])([#♯b♭]*)(-?\d+)$")


def midi_to_hz(pitch) -> np.ndarray:
    """Equal-tempered frequency in Hz (A4 = 440 Hz) of MIDI pitches."""
    return 440.0 * 2.0 ** ((np.asarray(pitch, dtype=np.float64) - 69.0) / 12.0)


def midi_to_name(pitch: int) -> str:
    """Note name of a MIDI pitch, e.g. ``60 -> 'C4'``, ``61 -> 'C#4'``."""
    pitch = int(pitch)
    return f"{_NAMES[pitch % 12]}{pitch // 12 - 1}"


def parse_pitch(text: str | int) -> int:
    """A MIDI pitch from a number (``'60'``) or a note name (``'C4'``, ``'F#2'``, ``'Bb3'``, ``'A0'``).

    Raises
    ------
    NmftransError
        Not a pitch, or outside 0-127.
    """
    s = str(text).strip()
    if re.fullmatch(r"\d+", s):
        value = int(s)
    else:
        m = _NOTE_RE.match(s)
        if not m:
            raise NmftransError(f"not a pitch: {text!r} (use a MIDI number or a note name such as C4, F#2, Bb3)")
        letter, accidentals, octave = m.groups()
        shift = sum(1 if a in "#♯" else -1 for a in accidentals)
        value = 12 * (int(octave) + 1) + _STEPS[letter.upper()] + shift
    if not 0 <= value <= 127:
        raise NmftransError(f"pitch {text!r} is outside the MIDI range 0-127")
    return value
