"""Soft chord notes: onsets below the tracker's threshold kept when a louder chord note starts with them.

A soft note of a chord (often the left hand's, under a louder melody note) can peak below the
tracker's ``onset_threshold`` in the normalised activations. A lower threshold everywhere finds
them but adds false alarms everywhere. Here an onset whose peak reaches only ``chord_ratio`` times
``onset_threshold`` (:func:`chord_candidates`: the same tracker with that threshold) is kept only when a tracked note
of another pitch, not an octave, twelfth or double octave away (those share its partials: the
classic NMF ghost), starts within ``chord_window_s`` of it (:func:`add_chord_notes`).

Pure array code: no I/O, no solving.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from nmftrans.core.notearrays import empty_notes
from nmftrans.core.notes import NoteParams, activations_to_notes

#: Intervals (semitones, either way) that do not anchor a soft note: partials shared with it.
PARTIAL_INTERVALS = (12, 19, 24)
#: Intervals (semitones) below a soft note whose sounding note rejects it (its partials fall on it).
SUB_INTERVALS = (12, 19, 24, 28)


def chord_candidates(A: np.ndarray, pitch_set: np.ndarray, frame_rate: float, params: NoteParams,
                     window_s: float = 0.0, lowest: int = 0) -> np.ndarray:
    """Notes of pitches ``lowest`` and up tracked with ``onset_threshold`` lowered ``params.chord_ratio`` times.

    Parameters
    ----------
    A : np.ndarray [shape=(n_pitches, n_frames)]
        Normalised activations, as given to :func:`~nmftrans.core.notes.activations_to_notes`.
    pitch_set : np.ndarray [shape=(n_pitches,)], int
    frame_rate : float
    params : NoteParams
    window_s : float
    lowest : int
        Lowest pitch looked at (``transcribe``: the lowest whose fundamental the bins resolve,
        :func:`nmftrans.core.onset_channel.resolved_pitches`; below it, measured, soft candidates
        were nearly all false alarms: bins shared with the neighbours and the chords above).

    Returns
    -------
    candidates : np.ndarray [shape=(n_candidates, 4)]
        Note list (onset, offset, pitch, velocity); empty when ``chord_ratio`` is 0.
    """
    if params.chord_ratio <= 0:
        return empty_notes()
    low = replace(params, onset_threshold=params.chord_ratio * params.onset_threshold, chord_ratio=0.0,
                  lowest=max(params.lowest, int(lowest)))
    return activations_to_notes(A, pitch_set, frame_rate, low, window_s)


def add_chord_notes(notes: np.ndarray, candidates: np.ndarray, window_s: float, same_s: float) -> np.ndarray:
    """``notes`` with the candidates that start with a note of another pitch, as chord notes do.

    A candidate of pitch ``p`` at time ``t`` is kept when

    * no note of ``p`` starts within ``same_s`` of ``t`` (it is not a note already found);
    * a note of ``notes`` of another pitch starts within ``window_s`` of ``t`` that is not
      :data:`PARTIAL_INTERVALS` away (the chord note it belongs with), and no note starts there
      at those intervals or a semitone away (``p`` would share its partials or its leaking bins);
    * no note 12, 19, 24 or 28 semitones below ``p`` sounds at ``t`` (``p`` would be its partial).

    A kept candidate inside a note of its own pitch (a soft re-strike) ends that note at ``t``
    and takes over its end; any kept note ends at the next onset of its pitch at the latest.

    Parameters
    ----------
    notes : np.ndarray [shape=(n_notes, 4)]
        The tracked notes (the anchors).
    candidates : np.ndarray [shape=(n_candidates, 4)]
        Notes tracked with the lower threshold (:func:`chord_candidates`).
    window_s, same_s : float
        Seconds.

    Returns
    -------
    notes : np.ndarray [shape=(n_out, 4)]
        Sorted by onset then pitch.
    """
    if len(notes) == 0 or len(candidates) == 0:
        return notes
    notes = np.array(notes, dtype=np.float64, copy=True)
    onsets, pitches = notes[:, 0], notes[:, 2].astype(np.int64)
    order = np.argsort(onsets, kind="stable")
    sorted_on = onsets[order]
    kept = []
    for c in candidates:
        t, p = float(c[0]), int(c[2])
        own = pitches == p
        if np.any(own & (np.abs(onsets - t) < same_s)):
            continue
        lo, hi = np.searchsorted(sorted_on, [t - window_s, t + window_s + 1e-9])
        gap = np.abs(pitches[order[lo:hi]] - p)
        if np.any((gap == 1) | np.isin(gap, PARTIAL_INTERVALS)) or not np.any(gap > 0):
            continue
        sounding = (onsets <= t) & (notes[:, 1] > t)
        if np.any(sounding & np.isin(p - pitches, SUB_INTERVALS)):
            continue
        note = np.array(c, dtype=np.float64)
        inside = own & sounding
        if np.any(inside):  # a soft re-strike: the ringing note ends here, the new one takes its end
            note[1] = max(note[1], float(notes[inside, 1].max()))
            notes[inside, 1] = t
        later = onsets[own & (onsets > t)]
        if len(later):
            note[1] = min(note[1], float(later.min()))
        kept.append(note)
    if not kept:
        return notes
    out = np.concatenate([notes, np.array(kept)])
    return out[np.lexsort((out[:, 2], out[:, 0]))]
