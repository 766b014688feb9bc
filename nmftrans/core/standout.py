"""Notes that do not stand out of their frames. Pure array code (no I/O, no solving).

A struck note lights up its own pitch far above the rest of the frame; a broadband event (a
hammer or pick noise, the thump of a damper, a click, a consonant) lights up a great many pitches
at once, each a little, and the tracker, which reads one pitch at a time, can take dozens of them
for notes. So each frame gets a *carpet*: the activation with ``ABOVE`` pitches above it (22: a
two-hand chord and the pitches its partials light up stay above it; the level carpet of
:mod:`nmftrans.core.levels` keeps 12 above with the guitar's 49 pitches, too few here), and a
note is kept only when its onset peak (the highest activation over ``peak_window_s`` from its
onset, as the ghost rule reads it) reaches ``ratio`` times the highest carpet over the same frames.
A dictionary of ``ABOVE`` pitches or fewer has no carpet (a chord may light all of them): the rule
keeps every note there.

Measured with ratio 10 (the tracker's ``carpet_ratio``): the 88 notes of a real piano played one
at a time (MAPS) gave 1494 false notes, 290 with the rule (the lowest notes' inharmonic partials
remain), and 4 of the 75 notes found are lost under their own hammer noise; on music it drops 3 %
of the development pieces' notes and 8-18 % of the MAPS-sampled pieces', most of them false (the
README's *Accuracy* section gives the figures).
"""

from __future__ import annotations

import numpy as np

from nmftrans.core.levels import frame_rank

# Pitches above a frame's carpet.
ABOVE = 22


def frame_carpet(A: np.ndarray, above: int = ABOVE) -> np.ndarray:
    """Each frame's activation with ``above`` pitches above it; 0 (no note dropped) with ``above``
    pitches or fewer, where a chord may light every pitch of the dictionary.

    Parameters
    ----------
    A : np.ndarray [shape=(n_pitches, n_frames)]
        Per-pitch activations (any scale: the carpet scales with them frame by frame).
    above : int

    Returns
    -------
    carpet : np.ndarray [shape=(n_frames,)], float32
    """
    A = np.asarray(A, dtype=np.float32)
    if A.shape[0] <= int(above):
        return np.zeros(A.shape[1], dtype=np.float32)
    return frame_rank(A, A.shape[0] - 1 - int(above))


def standing_out(peaks: np.ndarray, carpets: np.ndarray, ratio: float) -> np.ndarray:
    """Which notes stand out: ``peaks >= ratio * carpets``.

    Parameters
    ----------
    peaks, carpets : np.ndarray [shape=(n_notes,)]
        Each note's onset peak and the highest carpet over the same frames
        (:func:`nmftrans.core.ghosts.onset_peaks` of its row and of the carpet).
    ratio : float
        0 keeps every note.

    Returns
    -------
    keep : np.ndarray [shape=(n_notes,)], bool
    """
    peaks = np.asarray(peaks, dtype=np.float64)
    carpets = np.asarray(carpets, dtype=np.float64)
    if ratio <= 0:
        return np.ones(peaks.shape, dtype=bool)
    return peaks >= ratio * carpets


def between_neighbours(peaks: np.ndarray, lower: np.ndarray, upper: np.ndarray, ratio: float) -> np.ndarray:
    """Which notes have both semitone neighbours lit at their onset peak:
    ``lower >= ratio * peaks`` and ``upper >= ratio * peaks``.

    A played note stands above at least one of its neighbours (a run or a trill lights one side);
    a chirp (a bird, a whistle gliding faster than a frame can hold) or a burst of noise spread over
    adjacent narrow templates lights both alike.

    Parameters
    ----------
    peaks : np.ndarray [shape=(n_notes,)]
        Each note's onset peak (:func:`nmftrans.core.ghosts.onset_peaks`).
    lower, upper : np.ndarray [shape=(n_notes,)]
        The activations a semitone below and above at the peak's frame
        (:func:`nmftrans.core.ghosts.onset_peak_frames`). 0 where the dictionary lacks that pitch
        (a side never lit); ``inf`` above the dictionary's top pitch, which takes whatever sounds
        above it (judged by the side below alone).
    ratio : float
        0 marks no note.

    Returns
    -------
    between : np.ndarray [shape=(n_notes,)], bool
        False where a note's peak is 0 (the motion gate's held notes under a voice are tracked
        from ungated activations, the rows read here are gated: nothing to judge them by).
    """
    peaks = np.asarray(peaks, dtype=np.float64)
    if ratio <= 0:
        return np.zeros(peaks.shape, dtype=bool)
    return (peaks > 0) & (np.asarray(lower) >= ratio * peaks) & (np.asarray(upper) >= ratio * peaks)
