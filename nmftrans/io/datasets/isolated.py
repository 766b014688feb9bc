"""Isolated notes: one note per audio file, for learning templates (a ``notes.csv`` table, MAPS ISOL
files, names like ``piano_M060_v100.flac`` or NSynth's ``keyboard_acoustic_004-060-100.wav``)."""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

import numpy as np

from nmftrans.errors import NmftransError, SettingError
from nmftrans.io.annotations import read_annotation
from nmftrans.io.audio import AUDIO_SUFFIXES
from nmftrans.io.datasets.common import annotation_beside, as_sources, is_audio
from nmftrans.io.datasets.labelled import LAYOUTS
from nmftrans.io.fileio import files_under
from nmftrans.io.noteformats import ANNOTATION_SUFFIXES

__all__ = ["IsolatedNote", "IsolatedDiscovery", "pitch_from_filename", "velocity_from_filename",
           "discover_isolated", "looks_isolated"]

#: The table of isolated notes (``file,pitch[,velocity,onset,offset]``).
_ISOLATED_TABLE = "notes.csv"
_MAPS_PITCH = re.compile(r"(?:^|[_\-\s.])M(\d{2,3})(?=$|[_\-\s.])")
_NSYNTH = re.compile(r"^[a-z]+(?:_[a-z]+)+_\d{3}-(\d{3})-(\d{3})$")
_VELOCITY = re.compile(r"(?:^|[_\-\s.])v(\d{1,3})(?=$|[_\-\s.])")


class IsolatedNote(NamedTuple):
    """One audio file holding one note.

    ``velocity`` is None where unknown; ``onset``/``offset`` (s) are None where unknown
    (the note is then somewhere in the file, usually at its start).
    """

    audio: Path
    pitch: int
    velocity: int | None
    onset: float | None
    offset: float | None


@dataclass
class IsolatedDiscovery:
    """Isolated-note files found in some sources.

    Attributes
    ----------
    items : list of IsolatedNote
        ``(audio, pitch, velocity, onset, offset)``, sorted by audio path.
    skipped : list of (Path, str)
        Files left out and why.
    """

    items: list[IsolatedNote] = field(default_factory=list)
    skipped: list[tuple[Path, str]] = field(default_factory=list)


def pitch_from_filename(name: str | Path) -> int | None:
    """MIDI pitch written in a file name, or None.

    Recognised: MAPS-style ``M<pitch>`` as a separate token (``MAPS_ISOL_NO_F_S0_M60_AkPnBcht``,
    ``piano_M060_v100``, ``M60``) and NSynth names (``keyboard_acoustic_004-060-100``).
    Other digits are never taken for a pitch.

    Parameters
    ----------
    name : str or Path
        File name, with or without folder and suffix.

    Returns
    -------
    pitch : int in 0-127, or None
    """
    stem = Path(name).name
    for suffix in AUDIO_SUFFIXES + ANNOTATION_SUFFIXES:
        if stem.lower().endswith(suffix):
            stem = stem[: -len(suffix)]
            break
    m = _NSYNTH.match(stem)
    if m:
        pitch = int(m.group(1))
        return pitch if pitch <= 127 else None
    found = {int(g) for g in _MAPS_PITCH.findall(stem)}
    if len(found) == 1:
        pitch = found.pop()
        return pitch if pitch <= 127 else None
    return None


def velocity_from_filename(name: str | Path) -> int | None:
    """MIDI velocity written in a file name (``..._v100``, NSynth ``...-060-100``), or None."""
    stem = Path(name).stem
    m = _NSYNTH.match(stem)
    if m:
        vel = int(m.group(2))
    else:
        found = {int(g) for g in _VELOCITY.findall(stem)}
        if len(found) != 1:
            return None
        vel = found.pop()
    return vel if 1 <= vel <= 127 else None


def _read_isolated_table(path: Path) -> dict[Path, tuple[int, int | None, float | None, float | None]]:
    """Entries of a ``notes.csv`` table, keyed by the resolved audio path."""
    try:
        with path.open(newline="", encoding="utf-8-sig") as fh:
            rows = list(csv.reader(fh))
    except (OSError, UnicodeError, csv.Error) as exc:
        raise NmftransError(f"{path}: unreadable table ({exc})") from None
    if not rows:
        return {}
    header = [h.strip().lower() for h in rows[0]]
    if "file" not in header or "pitch" not in header:
        return {}
    col = {name: header.index(name) for name in ("file", "pitch", "velocity", "onset", "offset") if name in header}
    out = {}
    for line_no, row in enumerate(rows[1:], start=2):
        if not any(cell.strip() for cell in row):
            continue
        try:
            fields = {name: row[i].strip() for name, i in col.items()}
            pitch = float(fields["pitch"])
            velocity = float(fields["velocity"]) if fields.get("velocity") else None
            onset = float(fields["onset"]) if fields.get("onset") else None
            offset = float(fields["offset"]) if fields.get("offset") else None
        except (IndexError, ValueError):
            raise NmftransError(f"{path}: line {line_no}: expected {','.join(col)} with numbers") from None
        if not (pitch == round(pitch) and 0 <= pitch <= 127):
            raise NmftransError(f"{path}: line {line_no}: pitch {fields['pitch']!r} is not a MIDI pitch 0-127")
        if velocity is not None and not 1 <= velocity <= 127:
            raise NmftransError(f"{path}: line {line_no}: velocity {fields['velocity']!r} is not 1-127")
        out[(path.parent / fields["file"]).resolve()] = (
            int(pitch), None if velocity is None else int(round(velocity)), onset, offset
        )
    return out


def _isolated_from_annotation(audio: Path, ann: Path) -> tuple[IsolatedNote | None, str, int]:
    """``(note or None, reason if None, number of pitches)`` from a same-stem annotation."""
    try:
        notes, _ = read_annotation(ann)
    except NmftransError as exc:
        return None, f"annotation {ann.name} unreadable: {exc}", 0
    pitches = np.unique(notes[:, 2])
    if len(pitches) == 0:
        return None, f"annotation {ann.name} holds no notes", 0
    if len(pitches) > 1:
        return None, f"annotation {ann.name} holds {len(pitches)} pitches: not an isolated note", len(pitches)
    velocity = None if ann.suffix.lower() in (".txt", ".jams") else int(notes[:, 3].max())
    note = IsolatedNote(audio, int(pitches[0]), velocity, float(notes[:, 0].min()), float(notes[:, 1].max()))
    return note, "", 1


def _audio_files(sources: list[Path]) -> tuple[list[Path], list[Path]]:
    """Audio files and isolated-note tables under the sources."""
    audio, tables = [], []
    for src in sources:
        files = [src] if src.is_file() else files_under(src)
        for f in files:
            if is_audio(f):
                audio.append(f)
            elif f.name.lower() == _ISOLATED_TABLE:
                tables.append(f)
        if src.is_file() and (src.parent / _ISOLATED_TABLE).is_file():
            tables.append(src.parent / _ISOLATED_TABLE)
    return sorted(set(audio)), sorted(set(tables))


def discover_isolated(sources, *, max_files: int | None = None) -> IsolatedDiscovery:
    """Find audio files holding one note each, with their pitch.

    The pitch of a file comes from, in this order:

    1. a ``notes.csv`` table in its folder or above (columns ``file,pitch`` and optionally
       ``velocity,onset,offset``; ``file`` relative to the table's folder);
    2. an annotation with the same stem holding one pitch (one note, or repetitions of one
       note as in MAPS ``ISOL/RE``); onset/offset span its notes; velocity from MIDI, CSV or
       ``.notes`` (None for MAPS ``.txt`` and JAMS);
    3. the file name (:func:`pitch_from_filename`), velocity from ``_v<vel>`` when present.

    An annotation with several pitches, an unreadable one, or no pitch anywhere puts the file
    in ``skipped``.

    Parameters
    ----------
    sources : list of Path
        Files or folders (searched recursively).
    max_files : int or None
        Keep only the first ``max_files`` notes (in sorted order).

    Returns
    -------
    IsolatedDiscovery
    """
    if max_files is not None and max_files < 1:
        raise SettingError("max_files", f"must be at least 1 (got {max_files})")
    srcs = as_sources(sources)
    audio_files, tables = _audio_files(srcs)
    table: dict[Path, tuple] = {}
    result = IsolatedDiscovery()
    # Deeper tables are read last so that they win over tables further up.
    for t in sorted(tables, key=lambda p: (len(p.parts), str(p))):
        entries = _read_isolated_table(t)
        table.update(entries)
        for path in entries:
            if not path.is_file():
                result.skipped.append((path, f"listed in {t} but missing"))
    for audio in audio_files:
        entry = table.get(audio.resolve())
        if entry is not None:
            result.items.append(IsolatedNote(audio, *entry))
            continue
        ann = annotation_beside(audio)
        if ann is not None:
            note, reason, _ = _isolated_from_annotation(audio, ann)
            if note is None:
                result.skipped.append((audio, reason))
            else:
                result.items.append(note)
            continue
        pitch = pitch_from_filename(audio.name)
        if pitch is None:
            result.skipped.append(
                (audio, "pitch unknown: not in a notes.csv table, no annotation, no pitch in the name")
            )
        else:
            result.items.append(IsolatedNote(audio, pitch, velocity_from_filename(audio.name), None, None))
    result.items.sort(key=lambda item: str(item.audio))
    if max_files is not None:
        result.items = result.items[:max_files]
    result.skipped = sorted(set(result.skipped), key=lambda s: (str(s[0]), s[1]))
    return result


def looks_isolated(sources, *, sample: int = 40) -> bool:
    """Whether the sources look like an isolated-note collection.

    Rule, in order:

    1. a ``notes.csv`` with ``file`` and ``pitch`` columns anywhere under the sources -> True;
    2. MAESTRO metadata or a GuitarSet layout -> False;
    3. of up to ``sample`` audio files (evenly spread over the sorted list), a file counts as
       isolated when its same-stem annotation holds exactly one pitch, or when it has no
       annotation and its name carries a pitch. Any sampled annotation with several pitches
       -> False; otherwise True when more than half of the sampled files count as isolated.

    No audio at all -> False.

    Parameters
    ----------
    sources : list of Path
    sample : int
        Most audio files examined.

    Returns
    -------
    bool
    """
    srcs = as_sources(sources)
    audio_files, tables = _audio_files(srcs)
    for t in tables:
        try:
            with t.open(encoding="utf-8-sig") as fh:
                header = [h.strip().lower() for h in fh.readline().split(",")]
        except (OSError, UnicodeError):
            continue
        if "file" in header and "pitch" in header:
            return True
    for src in srcs:
        if src.is_dir():
            files = files_under(src)
            if any(layout.roots(files) for layout in LAYOUTS):
                return False
    if not audio_files:
        return False
    idx = np.unique(np.linspace(0, len(audio_files) - 1, min(sample, len(audio_files))).round().astype(int))
    isolated = 0
    for i in idx:
        audio = audio_files[i]
        ann = annotation_beside(audio)
        if ann is None:
            isolated += pitch_from_filename(audio.name) is not None
            continue
        note, _, n_pitches = _isolated_from_annotation(audio, ann)
        if n_pitches > 1:
            return False
        isolated += note is not None
    return isolated * 2 > len(idx)
