"""Activations -> note events. Pure NumPy post-processing: no I/O, no solving.

A note list is ``np.ndarray [shape=(n_notes, 4)], float64`` with columns onset (s), offset (s),
MIDI pitch and MIDI velocity, sorted by onset then pitch.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class NoteParams:
    """Settings of the note tracker.

    Attributes
    ----------
    onset_threshold : float
        A note may start where the normalised activation reaches this value.
    frame_threshold : float
        A started note lasts while the normalised activation stays at or above this value.
    rise_threshold : float
        Minimum rise of the normalised activation over ``rise_s`` seconds for an onset; a sounding
        note is split (re-struck) where its activation rises this much again.
    rise_s : float
        Window over which a rise is measured, in seconds.
    min_note_s : float
        Shorter notes are dropped.
    onset_lag_s : float
        Subtracted from onsets (the activations lag the annotated key press).
    lowest, highest : int
        MIDI pitch range kept.
    """

    onset_threshold: float = 0.15
    frame_threshold: float = 0.05
    rise_threshold: float = 0.1
    rise_s: float = 0.05
    min_note_s: float = 0.05
    onset_lag_s: float = 0.0
    lowest: int = 0
    highest: int = 127


def empty_notes() -> np.ndarray:
    """An empty note list, shape ``(0, 4)``."""
    return np.zeros((0, 4), dtype=np.float64)


def pitch_activations(H: np.ndarray, pitches: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sum the activations of all templates of each pitch.

    Parameters
    ----------
    H : np.ndarray [shape=(n_components, n_frames)]
    pitches : np.ndarray [shape=(n_components,)], int
        MIDI pitch of each template.

    Returns
    -------
    A : np.ndarray [shape=(n_pitches, n_frames)], float32
    pitch_set : np.ndarray [shape=(n_pitches,)], int
        The sorted distinct pitches, one per row of ``A``.
    """
    pitch_set, index = np.unique(np.asarray(pitches), return_inverse=True)
    A = np.zeros((len(pitch_set), H.shape[1]), dtype=np.float32)
    np.add.at(A, index, H)
    return A, pitch_set


def _track_row(a: np.ndarray, params: NoteParams, rise_frames: int) -> list[tuple[int, int, float]]:
    """Notes (start frame, end frame exclusive, peak) in one normalised activation row."""
    n = len(a)
    lagged = np.empty_like(a)
    for k in range(n):
        lo = max(0, k - rise_frames)
        lagged[k] = a[lo:k].min() if k > lo else 0.0
    rise = a - lagged
    is_onset = (a >= params.onset_threshold) & (rise >= params.rise_threshold)
    # keep the first frame of each run of onset frames
    starts = np.flatnonzero(is_onset & ~np.r_[False, is_onset[:-1]])
    notes = []
    i = 0
    s_idx = 0
    while s_idx < len(starts):
        start = starts[s_idx]
        if start < i:
            s_idx += 1
            continue
        end = start + 1
        next_starts = starts[s_idx + 1:]
        stop_at = next_starts[0] if len(next_starts) else n
        while end < stop_at and a[end] >= params.frame_threshold:
            end += 1
        notes.append((int(start), int(end), float(a[start:end].max())))
        i = end
        s_idx += 1
    return notes


def activations_to_notes(A: np.ndarray, pitch_set: np.ndarray, frame_rate: float, params: NoteParams = NoteParams()) -> np.ndarray:
    """Track notes in normalised per-pitch activations.

    Parameters
    ----------
    A : np.ndarray [shape=(n_pitches, n_frames)]
        Normalised activations (about 1 for a loud note).
    pitch_set : np.ndarray [shape=(n_pitches,)], int
    frame_rate : float
        Frames per second; frame ``t`` is at ``t / frame_rate`` seconds.
    params : NoteParams

    Returns
    -------
    notes : np.ndarray [shape=(n_notes, 4)], float64
    """
    rise_frames = max(1, int(round(params.rise_s * frame_rate)))
    min_frames = params.min_note_s * frame_rate
    rows = []
    for row, pitch in zip(A, pitch_set):
        if pitch < params.lowest or pitch > params.highest:
            continue
        for start, end, peak in _track_row(np.asarray(row, dtype=np.float64), params, rise_frames):
            if end - start < min_frames:
                continue
            onset = max(start / frame_rate - params.onset_lag_s, 0.0)
            velocity = np.clip(round(127 * min(1.0, peak) ** 0.5), 1, 127)
            rows.append((onset, end / frame_rate, float(pitch), float(velocity)))
    if not rows:
        return empty_notes()
    notes = np.array(rows, dtype=np.float64)
    return notes[np.lexsort((notes[:, 2], notes[:, 0]))]
