"""Weak re-onsets: a new onset of a pitch that still sounds, far weaker than that note's own onset,
is the ringing note wavering, not a re-strike.

A ringing note's activation is not smooth: its partials beat, and notes starting or stopping around
it take some of its energy for a few frames and give it back. The tracker reads each rise of a pitch
as a possible onset, so such a rise inside a note splits it in two. A key or string struck again
hits as hard as a note does: its activation peaks near that of the note it interrupts. A note of
pitch ``p`` starting while the previous note of ``p`` sounds (started more than ``window_s`` before
it and ended less than ``gap_s`` before its onset: a dip of its activation can end it a moment
early) is merged back into that note (which then ends where it ended) when its onset peak is below
``ratio`` times that note's onset peak. Notes are taken in onset order, so a run of weak rises
merges into the note that started it. A re-onset that is not weak is merged too when it starts
without an attack, the spectrum not jumping there (``struck``, :mod:`nmftrans.core.attacks`: a
ringing note swelling again). A note whose onset peak is 0 is not judged (the motion gate's held
notes under a voice, whose rows are gated).

Measured (``ratio`` 0.5, 30 ms) over the tracked re-onsets of a sounding note, against the ground
truth: on the piano data (development, real, real-piano-sampled; about 3400 notes) 1 of 200 true
re-strikes and 33 of 168 false ones peaked under half of the note before; on the guitar data (eight
guitars, 25 files) none of 65 true ones and 24 of 85 false. The re-strikes this cannot keep are the
ones more than about 10 dB softer than the strike before (activations follow magnitude to the power
0.6): on these data nearly all of those were never tracked in the first place.

The tracker can end the interrupted note a moment before the re-onset (its activation dips under
the offset threshold, or falls steeply enough to read as a release, and rises again): of the notes
starting 30-60 ms after the previous note of their pitch ended and peaking under half of it, 4 were
true and 25 false on the piano data (development, real, real-piano-sampled; about 4700 notes), 2
and 25 on the guitar data; 60-100 ms after, 2 / 2 and 2 / 0. So ``gap_s`` is 60 ms (``NoteParams.
reonset_gap_s``): onset F of the development pieces 0.935 -> 0.939, the MAPS-sampled scores 0.866
-> 0.870, the seven other guitars 0.941 -> 0.946; the real recordings unchanged (100 ms cost the SMD
recording a note and the real guitar 0.010).

Pure array code: no I/O, no solving.
"""

from __future__ import annotations

import numpy as np


def merge_weak_reonsets(notes: np.ndarray, peaks: np.ndarray, ratio: float, window_s: float,
                        gap_s: float | None = None, struck=None) -> np.ndarray:
    """``notes`` with each weak re-onset merged into the note of its pitch it interrupts.

    Parameters
    ----------
    notes : np.ndarray [shape=(n_notes, 4)]
        Onset (s), offset (s), pitch, velocity.
    peaks : np.ndarray [shape=(n_notes,)]
        Each note's onset peak (:func:`nmftrans.core.ghosts.onset_peaks` of its pitch's row).
    ratio : float
        A re-onset is weak below this fraction of the interrupted note's onset peak (0: none).
    window_s : float
        The interrupted note started more than this before the re-onset ...
    gap_s : float or None
        ... and ended less than this before it (None: ``window_s``).
    struck : callable or None
        ``struck(j) -> bool``: whether note ``j`` starts with an attack (:mod:`nmftrans.core.attacks`);
        asked only of a re-onset of a sounding note that is not weak, which is merged when it has
        none (None: all struck).

    Returns
    -------
    notes : np.ndarray [shape=(n_kept, 4)], in the order given, the merged notes lengthened to
        the end of what they absorbed.
    """
    notes = np.array(notes, dtype=np.float64).reshape(-1, 4)
    peaks = np.asarray(peaks, dtype=np.float64).reshape(-1)
    gap_s = window_s if gap_s is None else gap_s
    keep = np.ones(len(notes), dtype=bool)
    if ratio <= 0 or len(notes) < 2:
        return notes
    for p in np.unique(notes[:, 2]):
        mine = np.flatnonzero(notes[:, 2] == p)
        mine = mine[np.argsort(notes[mine, 0], kind="stable")]
        current = mine[0]  # the last kept note of this pitch
        for j in mine[1:]:
            onset = notes[j, 0]
            sounding = notes[current, 0] < onset - window_s and notes[current, 1] > onset - gap_s
            if sounding and peaks[j] > 0 and (peaks[j] < ratio * peaks[current]
                                              or (struck is not None and not struck(j))):
                notes[current, 1] = max(notes[current, 1], notes[j, 1])
                keep[j] = False
            else:
                current = j
    return notes[keep]
