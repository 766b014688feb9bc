"""Note lists as arrays: the empty list, sorting, one voice per pitch, cropping, piano rolls.

A **note list** is an ``np.ndarray [shape=(n_notes, 4)], dtype float64`` with the columns
onset (s), offset (s), MIDI pitch, MIDI velocity, sorted by onset, then pitch. The readers of note
files (:mod:`nmftrans.io.annotations`) and the tracker (:mod:`nmftrans.core.notes`) produce it; the
metrics, the learners and the score-informed solver consume it.
"""

from __future__ import annotations

import numpy as np

__all__ = ["empty_notes", "sort_notes", "one_voice_per_pitch", "crop_notes", "notes_to_roll", "onset_roll"]

_EPS = 1e-9


def empty_notes() -> np.ndarray:
    """Return an empty note list.

    Returns
    -------
    notes : np.ndarray [shape=(0, 4)], float64
    """
    return np.zeros((0, 4), dtype=np.float64)


def sort_notes(notes: np.ndarray) -> np.ndarray:
    """Sort a note list by onset, then pitch (a copy, C-contiguous float64)."""
    if len(notes) == 0:
        return empty_notes()
    order = np.lexsort((notes[:, 2], notes[:, 0]))
    return np.ascontiguousarray(notes[order], dtype=np.float64)


def one_voice_per_pitch(notes: np.ndarray) -> np.ndarray:
    """Apply the one-voice-per-pitch rule.

    Notes of the same pitch starting at the same time merge into one (longest offset, highest
    velocity); a note still sounding when the same pitch starts again ends at the new onset.

    Parameters
    ----------
    notes : np.ndarray [shape=(n, 4)]

    Returns
    -------
    notes : np.ndarray [shape=(m, 4)], m <= n, sorted by onset then pitch
    """
    notes = np.asarray(notes, dtype=np.float64)
    if len(notes) == 0:
        return empty_notes()
    out = []
    for pitch in np.unique(notes[:, 2]):
        group = notes[notes[:, 2] == pitch]
        group = group[np.argsort(group[:, 0], kind="stable")]
        merged: list[list[float]] = []
        for onset, offset, _, vel in group:
            if merged and merged[-1][0] == onset:
                merged[-1][1] = max(merged[-1][1], offset)
                merged[-1][3] = max(merged[-1][3], vel)
            else:
                merged.append([onset, offset, pitch, vel])
        for prev, nxt in zip(merged[:-1], merged[1:]):
            prev[1] = min(prev[1], nxt[0])
        out.extend(merged)
    return sort_notes(np.asarray(out, dtype=np.float64))


def crop_notes(
    notes: np.ndarray, duration: float, *, pitch_range: tuple[int, int] | None = None
) -> tuple[np.ndarray, list[str]]:
    """Fit a note list to an audio file and a pitch range.

    Notes starting at or after ``duration`` are dropped, offsets beyond it are cut, and
    notes outside ``pitch_range`` are dropped.

    Parameters
    ----------
    notes : np.ndarray [shape=(n, 4)]
    duration : float
        Length of the audio in seconds.
    pitch_range : (int, int) or None
        Lowest and highest MIDI pitch kept, inclusive.

    Returns
    -------
    notes : np.ndarray [shape=(m, 4)], m <= n
    warnings : list of str
        One line per kind of change, with counts.
    """
    notes = np.array(notes, dtype=np.float64).reshape(-1, 4)
    warnings: list[str] = []
    if len(notes):
        late = notes[:, 0] >= duration
        if late.any():
            warnings.append(
                f"annotation runs to {_fmt_s(notes[:, 1].max())} s but the audio is {_fmt_s(duration)} s: "
                f"{int(late.sum())} notes after the end dropped"
            )
            notes = notes[~late]
        cut = notes[:, 1] > duration
        if cut.any():
            warnings.append(f"{int(cut.sum())} notes cut at the end of the audio ({_fmt_s(duration)} s)")
            notes[cut, 1] = duration
    if pitch_range is not None and len(notes):
        lo, hi = pitch_range
        outside = (notes[:, 2] < lo) | (notes[:, 2] > hi)
        if outside.any():
            values = np.unique(notes[outside, 2]).astype(int)
            shown = ", ".join(str(v) for v in values[:8]) + (", ..." if len(values) > 8 else "")
            warnings.append(
                f"{int(outside.sum())} notes outside the pitch range {lo}-{hi} dropped (pitches {shown})"
            )
            notes = notes[~outside]
    return (notes if len(notes) else empty_notes()), warnings


def _fmt_s(x: float) -> str:
    """Seconds for messages: up to 3 decimals, at least one (2.0, 10.65, 703.275)."""
    s = f"{x:.3f}".rstrip("0")
    return s + "0" if s.endswith(".") else s


def _frame_spans(notes: np.ndarray, n_frames: int, frame_rate: float) -> tuple[np.ndarray, np.ndarray]:
    """First and one-past-last frame of each note: frames t with onset <= t/frame_rate < offset."""
    start = np.ceil(notes[:, 0] * frame_rate - _EPS).astype(np.int64)
    stop = np.ceil(notes[:, 1] * frame_rate - _EPS).astype(np.int64)
    return np.clip(start, 0, n_frames), np.clip(stop, 0, n_frames)


def _roll(notes, n_frames, frame_rate, pitches, onset_frames=None) -> np.ndarray:
    notes = np.asarray(notes, dtype=np.float64).reshape(-1, 4)
    pitches = np.asarray(pitches).astype(np.int64).ravel()
    if frame_rate <= 0:
        raise ValueError("frame_rate must be positive")
    roll = np.zeros((len(pitches), int(n_frames)), dtype=np.float32)
    if len(notes) == 0 or len(pitches) == 0 or n_frames <= 0:
        return roll
    rows = np.searchsorted(pitches, notes[:, 2].astype(np.int64))
    valid = (rows < len(pitches)) & (pitches[np.minimum(rows, len(pitches) - 1)] == notes[:, 2])
    start, stop = _frame_spans(notes, int(n_frames), frame_rate)
    if onset_frames is not None:
        # An attack lasts onset_frames frames, cut at the offset but at least one frame long.
        stop = np.minimum(np.maximum(np.minimum(stop, start + onset_frames), start + 1), n_frames)
    for r, a, b in zip(rows[valid], start[valid], stop[valid]):
        roll[r, a:b] = 1.0
    return roll


def notes_to_roll(notes: np.ndarray, n_frames: int, frame_rate: float, pitches) -> np.ndarray:
    """Binary piano roll of a note list.

    Parameters
    ----------
    notes : np.ndarray [shape=(n, 4)]
    n_frames : int
    frame_rate : float
        Frames per second; frame ``t`` is at time ``t / frame_rate``.
    pitches : np.ndarray [shape=(n_pitches,)], int
        Sorted MIDI pitches, one row each; notes of other pitches are ignored.

    Returns
    -------
    roll : np.ndarray [shape=(n_pitches, n_frames)], float32
        1 at frames ``t`` with ``onset <= t / frame_rate < offset``, else 0.
    """
    return _roll(notes, n_frames, frame_rate, pitches)


def onset_roll(notes: np.ndarray, n_frames: int, frame_rate: float, pitches, onset_frames: int = 1) -> np.ndarray:
    """Piano roll of note attacks: the first ``onset_frames`` frames of each note.

    Parameters
    ----------
    notes, n_frames, frame_rate, pitches
        As in :func:`notes_to_roll`.
    onset_frames : int
        Frames marked from the onset frame on; cut at the note's offset, but every note
        starting inside the roll marks at least its onset frame.

    Returns
    -------
    roll : np.ndarray [shape=(n_pitches, n_frames)], float32
    """
    if onset_frames < 1:
        raise ValueError("onset_frames must be >= 1")
    return _roll(notes, n_frames, frame_rate, pitches, onset_frames=int(onset_frames))
