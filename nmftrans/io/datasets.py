"""Find audio files and their note annotations in dataset folders.

Two kinds of collections:

* **labelled** (:func:`discover_labelled`): recordings of music, each with an annotation
  of many notes (MAESTRO, GuitarSet, MAPS, or any folder of audio with same-name
  annotations);
* **isolated** (:func:`discover_isolated`): one note per audio file, for learning templates
  (a ``notes.csv`` table, MAPS ISOL files, names like ``piano_M060_v100.flac`` or NSynth's
  ``keyboard_acoustic_004-060-100.wav``).

Discovery only looks at file names and metadata tables (plus, for isolated notes, the small
per-file annotations); it never decodes audio. Problems with single files are returned in
``skipped`` as ``(path, reason)``; only a missing source or a broken metadata table raises
:class:`~nmftrans.errors.NmftransError`. Results are sorted by path, so they are deterministic.
"""

from __future__ import annotations

import csv
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

import numpy as np

from nmftrans.io.annotations import read_annotation
from nmftrans.io.audio import AUDIO_SUFFIXES
from nmftrans.io.fileio import files_under
from nmftrans.io.noteformats import ANNOTATION_SUFFIXES, NOT_NOTE_FILES
from nmftrans.errors import NmftransError, SettingError

__all__ = [
    "AUDIO_SUFFIXES",
    "SPLITS",
    "Discovery",
    "IsolatedNote",
    "IsolatedDiscovery",
    "pitch_from_filename",
    "velocity_from_filename",
    "discover_labelled",
    "discover_isolated",
    "looks_isolated",
]

#: Audio file suffixes (lower case) that discovery recognises: the one table of
#: :mod:`nmftrans.io.audio`, so ``learn``, ``evaluate DATASET`` and ``transcribe`` take the same files.


#: MAESTRO split names.
SPLITS = ("train", "validation", "test")

#: Table files that live beside audio but are never per-file annotations.
_ISOLATED_TABLE = "notes.csv"

_GUITARSET_AUDIO = {"mic": ("audio_mono-mic", "_mic"), "mix": ("audio_mono-pickup_mix", "_mix")}
_MAPS_PITCH = re.compile(r"(?:^|[_\-\s.])M(\d{2,3})(?=$|[_\-\s.])")
_NSYNTH = re.compile(r"^[a-z]+(?:_[a-z]+)+_\d{3}-(\d{3})-(\d{3})$")
_VELOCITY = re.compile(r"(?:^|[_\-\s.])v(\d{1,3})(?=$|[_\-\s.])")
_MAESTRO_META = re.compile(r"^maestro-v(\d+(?:\.\d+)*)\.(json|csv)$", re.IGNORECASE)


# --------------------------------------------------------------------------------------
# Results
# --------------------------------------------------------------------------------------


@dataclass
class Discovery:
    """Labelled audio found in some sources.

    Attributes
    ----------
    pairs : list of (Path, Path)
        ``(audio, annotation)``, sorted by audio path.
    skipped : list of (Path, str)
        Files left out and why (audio without annotation, annotation without audio, ...).
    layouts : dict of Path -> str
        Layout detected for each source: ``'maestro'``, ``'guitarset'``, ``'maps'``,
        ``'generic'``, ``'file'`` (a single file given), ``'mixed'`` or ``'empty'``.
    """

    pairs: list[tuple[Path, Path]] = field(default_factory=list)
    skipped: list[tuple[Path, str]] = field(default_factory=list)
    layouts: dict[Path, str] = field(default_factory=dict)

    @property
    def layout(self) -> str:
        """The one layout of all sources, ``'mixed'`` if they differ, ``'empty'`` if none."""
        kinds = set(self.layouts.values())
        if not kinds:
            return "empty"
        return kinds.pop() if len(kinds) == 1 else "mixed"


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


# --------------------------------------------------------------------------------------
# File names
# --------------------------------------------------------------------------------------


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


# --------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------


def _as_sources(sources) -> list[Path]:
    if isinstance(sources, (str, Path)):
        sources = [sources]
    out = []
    for src in sources:
        src = Path(src)
        if not src.exists():
            raise NmftransError(f"{src}: no such file or folder")
        out.append(src)
    return out


def _is_audio(p: Path) -> bool:
    return p.suffix.lower() in AUDIO_SUFFIXES


def _is_annotation(p: Path) -> bool:
    return p.suffix.lower() in ANNOTATION_SUFFIXES and p.name.lower() not in NOT_NOTE_FILES


def _looks_like_note_file(p: Path) -> bool:
    """Whether an annotation-suffixed file without audio deserves a 'no audio' report."""
    if not _is_annotation(p) or _MAESTRO_META.match(p.name):
        return False
    if p.suffix.lower() not in (".csv", ".txt"):
        return True
    try:
        with p.open("r", encoding="utf-8", errors="replace") as fh:
            first = fh.readline().strip().lower()
    except OSError:
        return False
    if p.suffix.lower() == ".txt":
        return first.startswith("onsettime")
    return "onset" in first or first.startswith('"start"') or bool(re.match(r"^[\d.\s,;]+$", first))


def _annotation_beside(audio: Path, candidates: set[Path] | None = None) -> Path | None:
    """The preferred same-stem annotation next to an audio file."""
    for suffix in ANNOTATION_SUFFIXES:
        for variant in (suffix, suffix.upper()):
            p = audio.with_suffix(variant)
            if (p in candidates) if candidates is not None else p.is_file():
                if p.name.lower() not in NOT_NOTE_FILES:
                    return p
    return None


def _under(path: Path, root: Path) -> bool:
    try:
        path.relative_to(root)
        return True
    except ValueError:
        return False


# --------------------------------------------------------------------------------------
# Labelled collections
# --------------------------------------------------------------------------------------


def check_dataset_options(*, split: str | None = None, guitarset_audio: str = "mic",
                          max_files: int | None = None) -> None:
    """The dataset settings, checked before any file is read; shared by ``learn`` and ``evaluate``."""
    if split is not None and split not in SPLITS:
        raise SettingError("split", f"must be one of {', '.join(SPLITS)} (got {split!r})")
    if guitarset_audio not in _GUITARSET_AUDIO:
        raise SettingError("guitarset_audio", f"must be mic or mix (got {guitarset_audio!r})")
    if max_files is not None and max_files < 1:
        raise SettingError("max_files", f"must be at least 1 (got {max_files})")


def discover_labelled(
    sources,
    *,
    guitarset_audio: str = "mic",
    split: str | None = None,
    max_files: int | None = None,
) -> Discovery:
    """Pair audio files with their note annotations.

    Each source is a file or a folder (searched recursively). Layouts, detected per folder:

    * **MAESTRO**: a folder holding ``maestro-v*.json`` or ``maestro-v*.csv`` (the newest
      version is used, JSON before CSV); pairs come from its ``audio_filename`` and
      ``midi_filename`` entries (an audio file converted to another format with the same
      stem is accepted). ``split`` keeps one of ``'train'``, ``'validation'``, ``'test'``.
    * **GuitarSet**: a folder with ``annotation/*.jams`` and ``audio_mono-*`` or
      ``audio_hex-*`` folders; ``annotation/<stem>.jams`` pairs with
      ``audio_mono-mic/<stem>_mic.wav`` (``guitarset_audio='mic'``) or
      ``audio_mono-pickup_mix/<stem>_mix.wav`` (``'mix'``). Other audio folders are ignored.
    * **MAPS** / **generic**: any audio file (``.wav .flac .ogg .mp3 .aiff .aif .m4a``) with
      an annotation of the same stem in the same folder. Where several exist the first of
      ``.csv``, ``.mid``, ``.midi``, ``.jams``, ``.notes``, ``.txt`` is taken (CSV first:
      explicit seconds, offsets as annotated). ``manifest.csv``, ``metadata.csv``,
      ``notes.csv`` and README/licence texts are never annotations. The layout is reported as
      ``'maps'`` when every pair is ``.wav`` + ``.txt``, ``'maestro'`` when every pair is audio
      + ``.midi`` in year folders, else ``'generic'``.

    Parameters
    ----------
    sources : list of Path
        Files or folders.
    guitarset_audio : {'mic', 'mix'}
        Which GuitarSet mono recording to use.
    split : {'train', 'validation', 'test'} or None
        MAESTRO split; needs MAESTRO metadata in every folder source.
    max_files : int or None
        Keep only the first ``max_files`` pairs (in sorted order).

    Returns
    -------
    Discovery
        Empty (no pairs) when nothing was found; the caller decides whether that is an error.

    Raises
    ------
    NmftransError
        A source does not exist, an option is invalid, or MAESTRO metadata is unreadable.
    """
    if guitarset_audio not in _GUITARSET_AUDIO:
        raise NmftransError(f"guitarset audio must be 'mic' or 'mix', not {guitarset_audio!r}")
    if split is not None and split not in SPLITS:
        raise NmftransError(f"split must be one of {', '.join(SPLITS)}, not {split!r}")
    if max_files is not None and max_files < 1:
        raise NmftransError(f"max files must be at least 1, not {max_files}")
    result = Discovery()
    for src in _as_sources(sources):
        if src.is_file():
            if split is not None:
                raise NmftransError(f"{src}: a split needs a MAESTRO folder with its metadata, not a file")
            _labelled_file(src, guitarset_audio, result)
            result.layouts[src] = "file"
        else:
            result.layouts[src] = _labelled_folder(src, guitarset_audio, split, result)

    seen: set[Path] = set()
    pairs = []
    for audio, ann in sorted(result.pairs, key=lambda p: (str(p[0]), str(p[1]))):
        key = audio.resolve()
        if key not in seen:
            seen.add(key)
            pairs.append((audio, ann))
    result.pairs = pairs[:max_files] if max_files is not None else pairs
    result.skipped = sorted(set(result.skipped), key=lambda s: (str(s[0]), s[1]))
    return result


def _labelled_file(src: Path, guitarset_audio: str, result: Discovery) -> None:
    folder_name, tail = _GUITARSET_AUDIO[guitarset_audio]
    if _is_audio(src):
        if src.parent.name.startswith("audio_mono-") and src.stem.endswith(("_mic", "_mix")):
            jams = src.parent.parent / "annotation" / (src.stem[:-4] + ".jams")
            if jams.is_file():
                result.pairs.append((src, jams))
                return
        ann = _annotation_beside(src)
        if ann is None:
            result.skipped.append((src, _no_annotation_reason()))
        else:
            result.pairs.append((src, ann))
    elif _is_annotation(src):
        if src.suffix.lower() == ".jams" and src.parent.name == "annotation":
            audio = src.parent.parent / folder_name / f"{src.stem}{tail}.wav"
            if audio.is_file():
                result.pairs.append((audio, src))
                return
        audio = next((a for s in AUDIO_SUFFIXES if (a := src.with_suffix(s)).is_file()), None)
        if audio is None:
            result.skipped.append((src, "no audio file with the same name"))
        else:
            result.pairs.append((audio, src))
    else:
        result.skipped.append((src, "neither audio nor a note annotation"))


def _no_annotation_reason() -> str:
    return "no annotation with the same name (" + ", ".join(ANNOTATION_SUFFIXES) + ")"


def _guitarset_roots(files: list[Path]) -> list[Path]:
    roots = set()
    for f in files:
        if f.suffix.lower() == ".jams" and f.parent.name == "annotation":
            root = f.parent.parent
            if any(d.is_dir() and d.name.startswith(("audio_mono-", "audio_hex-")) for d in root.iterdir()):
                roots.add(root)
    return sorted(roots)


def _labelled_folder(src: Path, guitarset_audio: str, split: str | None, result: Discovery) -> str:
    files = files_under(src)
    maestro_roots = sorted({f.parent for f in files if _MAESTRO_META.match(f.name)})
    guitarset_roots = [r for r in _guitarset_roots(files) if r not in maestro_roots]
    if split is not None and not maestro_roots:
        raise NmftransError(f"{src}: a split needs MAESTRO metadata (maestro-v*.json or .csv); none found")
    layouts = []
    claimed: set[Path] = set()
    for root in maestro_roots:
        under = [f for f in files if _under(f, root)]
        claimed |= _maestro(root, under, split, result)
        layouts.append("maestro")
    for root in guitarset_roots:
        under = [f for f in files if _under(f, root)]
        claimed |= set(under)
        _guitarset(root, guitarset_audio, result)
        layouts.append("guitarset")
    rest = [f for f in files if f not in claimed]
    if split is not None:
        for f in rest:
            if _is_audio(f):
                result.skipped.append((f, "not listed in MAESTRO metadata, so its split is unknown"))
    else:
        kind = _generic(rest, result)
        if kind:
            layouts.append(kind)
    kinds = set(layouts)
    if not kinds:
        return "empty"
    return kinds.pop() if len(kinds) == 1 else "mixed"


def _generic(files: list[Path], result: Discovery) -> str | None:
    """Same-stem pairing; returns the layout name, or None when no audio or annotation."""
    groups: dict[tuple[Path, str], list[Path]] = {}
    for f in files:
        if _is_audio(f) or _is_annotation(f):
            groups.setdefault((f.parent, f.stem), []).append(f)
    pairs = []
    any_files = False
    for (_, _), members in sorted(groups.items(), key=lambda kv: (str(kv[0][0]), kv[0][1])):
        audio = sorted((m for m in members if _is_audio(m)), key=lambda m: AUDIO_SUFFIXES.index(m.suffix.lower()))
        anns = {m for m in members if _is_annotation(m)}
        if audio:
            any_files = True
            ann = _annotation_beside(audio[0], anns)
            if ann is None:
                result.skipped.append((audio[0], _no_annotation_reason()))
            else:
                pairs.append((audio[0], ann))
            for extra in audio[1:]:
                result.skipped.append((extra, f"same name as {audio[0].name}, which is used"))
        else:
            for ann in sorted(anns):
                if _looks_like_note_file(ann):
                    any_files = True
                    result.skipped.append((ann, "no audio file with the same name"))
    result.pairs.extend(pairs)
    if not pairs:
        return "generic" if any_files else None
    if all(a.suffix.lower() == ".wav" and n.suffix.lower() == ".txt" for a, n in pairs):
        return "maps"
    if all(n.suffix.lower() == ".midi" and re.fullmatch(r"(19|20)\d\d", a.parent.name) for a, n in pairs):
        return "maestro"
    return "generic"


def _guitarset(root: Path, guitarset_audio: str, result: Discovery) -> None:
    folder_name, tail = _GUITARSET_AUDIO[guitarset_audio]
    audio_dir = root / folder_name
    used = set()
    for jams in sorted((root / "annotation").glob("*.jams")):
        audio = audio_dir / f"{jams.stem}{tail}.wav"
        if audio.is_file():
            result.pairs.append((audio, jams))
            used.add(audio)
        else:
            result.skipped.append((jams, f"no audio {folder_name}/{audio.name}"))
    if audio_dir.is_dir():
        for audio in sorted(audio_dir.iterdir()):
            if _is_audio(audio) and audio not in used:
                stem = audio.stem[: -len(tail)] if audio.stem.endswith(tail) else audio.stem
                result.skipped.append((audio, f"no annotation/{stem}.jams"))


def _maestro_version(p: Path) -> tuple:
    m = _MAESTRO_META.match(p.name)
    version = tuple(int(x) for x in m.group(1).split("."))
    return version, m.group(2).lower() == "json"


def read_maestro_metadata(path: Path) -> list[dict]:
    """Records of a MAESTRO metadata file (JSON: list of records or column-oriented; CSV).

    Returns
    -------
    records : list of dict
        Each with at least ``audio_filename``, ``midi_filename`` and ``split`` (str).
    """
    try:
        if path.suffix.lower() == ".json":
            doc = json.loads(path.read_text(encoding="utf-8"))
            if isinstance(doc, dict):  # column-oriented (v2/v3): {"split": {"0": ..., ...}, ...}
                columns = {k: v for k, v in doc.items() if isinstance(v, dict)}
                index = sorted({i for col in columns.values() for i in col}, key=lambda i: (len(i), i))
                records = [{k: col.get(i) for k, col in columns.items()} for i in index]
            elif isinstance(doc, list):
                records = doc
            else:
                raise ValueError("neither a list of records nor a table of columns")
        else:
            with path.open(newline="", encoding="utf-8") as fh:
                records = list(csv.DictReader(fh))
    except (OSError, ValueError, UnicodeError, csv.Error) as exc:
        raise NmftransError(f"{path}: unreadable MAESTRO metadata ({exc})") from None
    out = []
    for k, rec in enumerate(records):
        if not isinstance(rec, dict) or not all(
            isinstance(rec.get(key), str) for key in ("audio_filename", "midi_filename", "split")
        ):
            raise NmftransError(
                f"{path}: entry {k} lacks audio_filename, midi_filename or split"
            )
        out.append(rec)
    return out


def _maestro(root: Path, files: list[Path], split: str | None, result: Discovery) -> set[Path]:
    meta = max((f for f in files if f.parent == root and _MAESTRO_META.match(f.name)), key=_maestro_version)
    claimed = {f for f in files if f.parent == root and _MAESTRO_META.match(f.name)}
    file_set = set(files)
    missing = 0
    for rec in read_maestro_metadata(meta):
        audio = root / rec["audio_filename"]
        midi = root / rec["midi_filename"]
        audio_alts = [audio.with_suffix(s) for s in (audio.suffix, *AUDIO_SUFFIXES)]
        midi_alts = [midi.with_suffix(s) for s in (midi.suffix, ".midi", ".mid")]
        claimed.update(audio_alts)
        claimed.update(midi_alts)
        if split is not None and rec["split"] != split:
            continue
        audio_found = next((a for a in audio_alts if a in file_set), None)
        midi_found = next((m for m in midi_alts if m in file_set), None)
        if audio_found and midi_found:
            result.pairs.append((audio_found, midi_found))
        elif audio_found:
            result.skipped.append((audio_found, f"its MIDI {rec['midi_filename']} (from {meta.name}) is missing"))
        elif midi_found:
            result.skipped.append((midi_found, f"its audio {rec['audio_filename']} (from {meta.name}) is missing"))
        else:
            missing += 1
    if missing:
        which = f"{split} " if split else ""
        result.skipped.append((meta, f"{missing} {which}entries have neither audio nor MIDI here"))
    return claimed


# --------------------------------------------------------------------------------------
# Isolated notes
# --------------------------------------------------------------------------------------


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
            if _is_audio(f):
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
        raise NmftransError(f"max files must be at least 1, not {max_files}")
    srcs = _as_sources(sources)
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
        ann = _annotation_beside(audio)
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
    srcs = _as_sources(sources)
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
            if any(_MAESTRO_META.match(f.name) for f in files) or _guitarset_roots(files):
                return False
    if not audio_files:
        return False
    idx = np.unique(np.linspace(0, len(audio_files) - 1, min(sample, len(audio_files))).round().astype(int))
    isolated = 0
    for i in idx:
        audio = audio_files[i]
        ann = _annotation_beside(audio)
        if ann is None:
            isolated += pitch_from_filename(audio.name) is not None
            continue
        note, _, n_pitches = _isolated_from_annotation(audio, ann)
        if n_pitches > 1:
            return False
        isolated += note is not None
    return isolated * 2 > len(idx)
