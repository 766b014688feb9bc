"""Notes that no string made: steady tones (mains hum) and onsets at the very end of the signal.
Pure array code (no I/O, no solving).

A piano or guitar note decays: from half a second after its onset to its end, its normalised
activation fell by a factor of 11 or more on every note of 3 s or longer in the development
pieces and real recordings (also with noise and in rooms). Mains hum (50 Hz and harmonics) is
taken by a low pitch template that stays within a factor 1.4 for the whole file, its last second
as strong as its first (0.99-1.03). A note of at least ``min_s`` whose activation stays within
``max_swing`` over that stretch *and* whose last second holds at least ``min_hold`` of its first
second (after ``skip_s``) is dropped: a lone low piano note whose sound decays by 1 dB/s or more
(activations follow the magnitude to the power 0.6) holds less than 0.9 over 3.5 s.

A note whose onset lies within half an analysis window of the end of the signal rises only
because the signal stops there (the last frames hold part of a window of sound and zeros).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class SteadyParams:
    """Which notes count as steady tones (:func:`attackless_notes`).

    Attributes
    ----------
    min_s : float
        Notes at least this long are checked.
    skip_s : float
        Seconds after the onset left out (the attack and the first fast decay).
    max_swing : float
        Largest ratio of the highest to the lowest activation (after ``skip_s``) of a steady tone.
        0: the check is off.
    min_hold : float
        Smallest ratio of the mean activation of its last second to that of its first second
        (after ``skip_s``) of a steady tone.
    """

    min_s: float = 4.0
    skip_s: float = 0.5
    max_swing: float = 1.5
    min_hold: float = 0.9

    def __post_init__(self) -> None:
        if not (self.max_swing == 0 or self.max_swing >= 1) or not 0 < self.min_hold <= 1:
            raise ValueError(f"need max_swing 0 (off) or at least 1 and 0 < min_hold <= 1, got {self.max_swing}, "
                             f"{self.min_hold}")
        if self.skip_s < 0 or self.min_s < self.skip_s + 1.0:
            raise ValueError(f"need skip_s >= 0 and min_s at least 1 s longer, got {self.min_s}, {self.skip_s}")


def attackless_notes(notes: np.ndarray, A: np.ndarray, pitches: np.ndarray, frame_rate: float, end_s: float,
                     window_s: float, params: SteadyParams = SteadyParams()) -> np.ndarray:
    """Which notes are steady tones or start at the end of the signal.

    Parameters
    ----------
    notes : np.ndarray [shape=(n_notes, 4)]
        Onset, offset (s), MIDI pitch, velocity, tracked from ``A``.
    A : np.ndarray [shape=(n_pitches, n_frames)]
        The activations the notes were tracked from (only each note's own row is read).
    pitches : np.ndarray [shape=(n_pitches,)]
        MIDI pitch of each row of ``A``.
    frame_rate : float
    end_s : float
        Length of the signal in seconds.
    window_s : float
        Analysis window in seconds.
    params : SteadyParams

    Returns
    -------
    drop : np.ndarray [shape=(n_notes,)], bool
    """
    notes = np.asarray(notes, dtype=np.float64).reshape(-1, 4)
    drop = notes[:, 0] > end_s - 0.5 * window_s
    if params.max_swing == 0:
        return drop
    row = {int(p): i for i, p in enumerate(np.asarray(pitches))}
    for k in np.flatnonzero((notes[:, 1] - notes[:, 0] >= params.min_s) & ~drop):
        lo = int(np.ceil((notes[k, 0] + params.skip_s) * frame_rate))
        hi = min(A.shape[1], int(np.floor(notes[k, 1] * frame_rate)) + 1)
        a = A[row[int(notes[k, 2])], lo:hi].astype(np.float64)
        second = max(1, int(round(frame_rate)))
        if len(a) < second or not a.min() > 0:
            continue
        steady = a.max() <= params.max_swing * a.min()
        held = a[-second:].mean() >= params.min_hold * a[:second].mean()
        drop[k] = steady and held
    return drop
