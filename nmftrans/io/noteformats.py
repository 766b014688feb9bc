"""The note-file formats: one table for reading and writing.

Every suffix list of the package is drawn from :data:`NOTE_FORMATS`: the annotations found in
folders and datasets, the estimates ``evaluate`` scores, the scores ``align`` reads and the
outputs ``transcribe`` writes. A new format is one row here, a reader in
:mod:`nmftrans.io.annotations` and, if it is written, a writer in :mod:`nmftrans.io.midi`.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["NoteFormat", "NOTE_FORMATS", "ANNOTATION_SUFFIXES", "ESTIMATE_SUFFIXES", "SCORE_SUFFIXES",
           "OUTPUT_SUFFIXES", "NOT_NOTE_FILES"]


@dataclass(frozen=True)
class NoteFormat:
    """One note-file format.

    Attributes
    ----------
    suffix : str
        Lower-case file suffix with its dot.
    description : str
    annotation_rank : int or None
        Preference among annotations (references, dataset labels) when several files share a
        stem, lowest first; None: never looked for as an annotation.
    estimate_rank : int or None
        Preference among transcriptions ``evaluate`` scores; None: not read as one.
    written : bool
        ``transcribe`` / ``align`` can write it (``-o``).
    """

    suffix: str
    description: str
    annotation_rank: int | None
    estimate_rank: int | None
    written: bool


NOTE_FORMATS = (
    NoteFormat(".csv", "onset,offset,pitch[,velocity]; Basic Pitch's note events; FMP", 0, 2, True),
    NoteFormat(".mid", "Standard MIDI file (sustain pedal applied)", 1, 0, True),
    NoteFormat(".midi", "Standard MIDI file (sustain pedal applied)", 2, 1, True),
    NoteFormat(".jams", "JAMS note_midi annotations (GuitarSet)", 3, None, False),
    NoteFormat(".notes", "madmom notes (onset, pitch, duration[, velocity])", 4, None, False),
    NoteFormat(".txt", "MAPS (onset offset pitch) or MIREX (onset offset F0 in Hz)", 5, 4, False),
    NoteFormat(".json", "nmftrans JSON note list (transcribe --json)", None, 3, True),
)


def _ranked(key: str) -> tuple[str, ...]:
    rows = [f for f in NOTE_FORMATS if getattr(f, key) is not None]
    return tuple(f.suffix for f in sorted(rows, key=lambda f: getattr(f, key)))


#: Annotations, in order of preference when several files share a stem (folders, datasets).
ANNOTATION_SUFFIXES = _ranked("annotation_rank")
#: Transcriptions ``evaluate`` scores, in order of preference (MIDI is what ``transcribe`` writes first).
ESTIMATE_SUFFIXES = _ranked("estimate_rank")
#: Scores ``align`` reads: every annotation format, and JSON note lists.
SCORE_SUFFIXES = ANNOTATION_SUFFIXES + tuple(f.suffix for f in NOTE_FORMATS
                                             if f.annotation_rank is None and f.estimate_rank is not None)
#: Tables and texts that live beside annotations but never are one (lower-case names).
NOT_NOTE_FILES = frozenset({"manifest.csv", "metadata.csv", "notes.csv", "readme.txt", "license.txt",
                            "licence.txt", "requirements.txt", "changelog.txt"})
#: Note files ``transcribe -o`` writes, chosen by the output's suffix.
OUTPUT_SUFFIXES = tuple(s for s in ESTIMATE_SUFFIXES if next(f for f in NOTE_FORMATS if f.suffix == s).written)
