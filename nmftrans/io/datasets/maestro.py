"""The MAESTRO layout: a folder holding ``maestro-v*.json`` or ``.csv`` metadata and its year folders."""

from __future__ import annotations

import csv
import json
from pathlib import Path

from nmftrans.errors import NmftransError
from nmftrans.io.audio import AUDIO_SUFFIXES
from nmftrans.io.datasets.common import MAESTRO_META, Discovery

__all__ = ["LAYOUT", "SPLITS", "read_maestro_metadata"]

#: MAESTRO split names.
SPLITS = ("train", "validation", "test")


class MaestroLayout:
    """Pairs from the metadata's ``audio_filename`` and ``midi_filename`` entries."""

    name = "maestro"
    has_splits = True

    def roots(self, files: list[Path]) -> list[Path]:
        """Folders holding MAESTRO metadata."""
        return sorted({f.parent for f in files if MAESTRO_META.match(f.name)})

    def collect(self, root: Path, files: list[Path], options, result: Discovery) -> set[Path]:
        """Add the pairs under ``root`` to ``result``; return the files this layout claims."""
        return _maestro(root, files, options.split, result)

    def pair_file(self, src: Path, options) -> tuple[Path, Path] | None:
        """A single file given: MAESTRO pairs it by its same-stem MIDI, like any other file."""
        return None


LAYOUT = MaestroLayout()


def _maestro_version(p: Path) -> tuple:
    m = MAESTRO_META.match(p.name)
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
    meta = max((f for f in files if f.parent == root and MAESTRO_META.match(f.name)), key=_maestro_version)
    claimed = {f for f in files if f.parent == root and MAESTRO_META.match(f.name)}
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
