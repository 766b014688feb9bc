"""Ghosts: a note on the 3rd or 5th harmonic of, or a semitone from, a louder note that starts with it
(or, a semitone away, sounds on when it starts).

A note's odd harmonics fall on the fundamentals of the pitches a twelfth (19 semitones, the 3rd
harmonic) and a seventeenth (28, the 5th) above it. Where an instrument's partials are stronger than
its templates say (a steel string, a bright or real piano), those pitches take the surplus and start
with the note: the classic NMF ghost. A note of pitch ``q`` is dropped when a note of pitch
``q - k`` (``k`` in ``intervals``) starts within ``window_s`` of it and the activation peak of
``q`` at its onset is below ``ratio`` times that note's own. Octaves and double octaves are left
alone: doubled notes are common in music and their ratios overlap those of the ghosts.

The limit: the upper note of a twelfth or seventeenth struck with a louder note below it lies on
that note's partials, so NMF gives part of it to the lower note; with tones whose partials fall
as ``1/m``, an upper note as loud as the lower one comes out at 0.9 (around MIDI 48) down to 0.5
(around MIDI 64) of its activation, and a softer one lower still: such a note is dropped.

Measured (``ratio`` 0.5, intervals 19 and 28, 30 ms): of the notes it dropped, on the piano data
(development, real-piano-sampled and real, about 3800 notes) 33 were false and 5 true, on the guitar
data (25 files, eight guitars) 23 false and none true. Onset F: no group's mean fell; TimGM6mb
pianos +0.004, held-out real-piano-sampled pieces +0.006, noise and rooms +0.002 to +0.007 (guitar
pieces +0.008 to +0.026), five of the seven other rendered guitars +0.005 to +0.014, the real
guitar +0.007 (frame F +0.016). Ratios 0.3 / 0.4 dropped 9 / 21 false and 1 / 3 true piano notes.

Semitone ghosts (``SEMITONES``, either side): a partial of a note whose peak is wider than its
template's, or a little off its template's frequency (another piano's stretched tuning, a test
tone), spills into the neighbouring pitch's template, which then starts with the note far below it.
A played note a semitone from another struck with it is rarely that much softer: of the notes that
start within 30 ms of a note a semitone away, on the piano data (about 3400 notes) the true ones
peaked at 0.38 of their neighbour or more (55 notes, all but one at 0.58 or more), the false ones
under 0.35 of it for 16 of 35; on the guitar data 3 true, 9 false. The same spill under a note
that sounds on (:func:`sounding_pairs`) is judged against that note's activation at the ghost's
onset-peak frame: of about 430 true notes started under a sounding semitone neighbour none peaked
under 0.6 of it, 9 false ones (piano) and 6 (guitars) under 0.5.

Pure array code: no I/O, no solving.
"""

from __future__ import annotations

import numpy as np

#: Intervals of the semitone ghosts: the note a semitone below and the one above.
SEMITONES = (-1, 1)


def ghost_pairs(notes: np.ndarray, intervals: tuple, window_s: float) -> np.ndarray:
    """The notes that may be ghosts of a note starting with them.

    Parameters
    ----------
    notes : np.ndarray [shape=(n_notes, 4)]
        Onset (s), offset (s), pitch, velocity.
    intervals : tuple of int
        Semitones from a note up to its possible ghost (negative: the ghost below it).
    window_s : float
        Largest difference between the two onsets.

    Returns
    -------
    pairs : np.ndarray [shape=(n_pairs, 2)], int
        Index of the possible ghost, index of the note it may come from.
    """
    notes = np.asarray(notes, dtype=np.float64)
    out = []
    if len(notes) and len(intervals):
        onsets, pitches = notes[:, 0], notes[:, 2].astype(np.int64)
        order = np.argsort(onsets, kind="stable")
        sorted_on = onsets[order]
        for j in range(len(notes)):
            lo, hi = np.searchsorted(sorted_on, [onsets[j] - window_s - 1e-9, onsets[j] + window_s + 1e-9])
            for k in order[lo:hi]:
                if pitches[j] - pitches[k] in intervals:
                    out.append((j, int(k)))
    return np.array(out, dtype=np.int64).reshape(-1, 2)


def sounding_pairs(notes: np.ndarray, intervals: tuple, window_s: float) -> np.ndarray:
    """The notes that may be ghosts of a note sounding when they start.

    A pair is a note and a note ``intervals`` semitones from it (the interval from the sounding note
    up to the possible ghost) that started more than ``window_s`` before it and has not ended at its
    onset. Notes of one pitch do not overlap (one voice per pitch), so only the last note of the
    partner's pitch to start before is looked at.

    Parameters
    ----------
    notes : np.ndarray [shape=(n_notes, 4)]
    intervals : tuple of int
    window_s : float

    Returns
    -------
    pairs : np.ndarray [shape=(n_pairs, 2)], int
        Index of the possible ghost, index of the sounding note.
    """
    notes = np.asarray(notes, dtype=np.float64)
    out = [np.zeros((0, 2), dtype=np.int64)]
    pitches = notes[:, 2].astype(np.int64) if len(notes) else np.zeros(0, dtype=np.int64)
    by_pitch = {int(p): np.flatnonzero(pitches == p) for p in np.unique(pitches)}
    for p, own in by_pitch.items():
        for k in intervals:
            other = by_pitch.get(p - int(k))
            if other is None:
                continue
            other = other[np.argsort(notes[other, 0], kind="stable")]
            last = np.searchsorted(notes[other, 0], notes[own, 0] - window_s - 1e-9, side="left") - 1
            ok = last >= 0
            ghost, source = own[ok], other[last[ok]]
            sounding = notes[source, 1] > notes[ghost, 0]
            out.append(np.stack([ghost[sounding], source[sounding]], axis=1))
    return np.concatenate(out).astype(np.int64)


def onset_peaks(row: np.ndarray, onsets_s: np.ndarray, frame_rate: float, frames: int) -> np.ndarray:
    """The largest value of an activation row over ``frames`` frames from each onset's frame (an
    onset before the row reads from its first frame, one past it reads its last).

    Parameters
    ----------
    row : np.ndarray [shape=(n_frames,)]
    onsets_s : np.ndarray [shape=(n_onsets,)]
    frame_rate : float
    frames : int

    Returns
    -------
    peaks : np.ndarray [shape=(n_onsets,)], float64 (0 where the row is empty)
    """
    row = np.asarray(row)
    at = onset_peak_frames(row, onsets_s, frame_rate, frames)
    return row[at].astype(np.float64) if len(row) else np.zeros(len(at))


def onset_peak_frames(row: np.ndarray, onsets_s: np.ndarray, frame_rate: float, frames: int) -> np.ndarray:
    """The frame of each :func:`onset_peaks` value (the first of equal ones): a gather over each
    onset's window of ``frames`` frames from its frame, clipped to the row.

    Returns
    -------
    frames : np.ndarray [shape=(n_onsets,)], int64 (0 where the row is empty)
    """
    row = np.asarray(row)
    onsets_s = np.asarray(onsets_s, dtype=np.float64).reshape(-1)
    if len(row) == 0:
        return np.zeros(len(onsets_s), dtype=np.int64)
    starts = np.clip(np.floor(onsets_s * frame_rate + 1e-9).astype(np.int64), 0, len(row) - 1)
    idx = np.minimum(starts[:, None] + np.arange(max(1, int(frames)))[None, :], len(row) - 1)
    return idx[np.arange(len(idx)), np.argmax(row[idx], axis=1)]


def drop_ghosts(notes: np.ndarray, pairs: np.ndarray, ghost_peaks: np.ndarray, source_peaks: np.ndarray,
                ratio) -> np.ndarray:
    """``notes`` without the possible ghosts of the pairs whose onset peak is below ``ratio`` times
    that of the note they may come from.

    Parameters
    ----------
    notes : np.ndarray [shape=(n_notes, 4)]
    pairs : np.ndarray [shape=(n_pairs, 2)], int
        From :func:`ghost_pairs` or :func:`sounding_pairs`.
    ghost_peaks, source_peaks : np.ndarray [shape=(n_pairs,)]
        :func:`onset_peaks` of each pair's possible ghost, and the level of the note it may come
        from (its own onset peak, or for a sounding note its activation at the ghost's onset-peak
        frame).
    ratio : float or np.ndarray [shape=(n_pairs,)]

    Returns
    -------
    notes : np.ndarray [shape=(n_kept, 4)], in the order given.
    """
    notes = np.asarray(notes, dtype=np.float64)
    if len(pairs) == 0:
        return notes
    ghost = np.asarray(ghost_peaks) < np.asarray(ratio) * np.asarray(source_peaks)
    keep = np.ones(len(notes), dtype=bool)
    keep[np.asarray(pairs)[ghost, 0]] = False
    return notes[keep]
