"""What every dataset layout shares: the result of a discovery and same-stem pairing helpers."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from nmftrans.errors import NmftransError
from nmftrans.io.audio import AUDIO_SUFFIXES
from nmftrans.io.noteformats import ANNOTATION_SUFFIXES, NOT_NOTE_FILES

__all__ = ["Discovery", "as_sources", "is_audio", "is_annotation", "looks_like_note_file", "annotation_beside",
           "under", "no_annotation_reason", "MAESTRO_META"]

#: A MAESTRO metadata file's name (its version, its format); never a per-file annotation.
MAESTRO_META = re.compile(r"^maestro-v(\d+(?:\.\d+)*)\.(json|csv)$", re.IGNORECASE)


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


def as_sources(sources) -> list[Path]:
    if isinstance(sources, (str, Path)):
        sources = [sources]
    out = []
    for src in sources:
        src = Path(src)
        if not src.exists():
            raise NmftransError(f"{src}: no such file or folder")
        out.append(src)
    return out


def is_audio(p: Path) -> bool:
    return p.suffix.lower() in AUDIO_SUFFIXES


def is_annotation(p: Path) -> bool:
    return p.suffix.lower() in ANNOTATION_SUFFIXES and p.name.lower() not in NOT_NOTE_FILES


def looks_like_note_file(p: Path) -> bool:
    """Whether an annotation-suffixed file without audio deserves a 'no audio' report."""
    if not is_annotation(p) or MAESTRO_META.match(p.name):
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


def annotation_beside(audio: Path, candidates: set[Path] | None = None) -> Path | None:
    """The preferred same-stem annotation next to an audio file."""
    for suffix in ANNOTATION_SUFFIXES:
        for variant in (suffix, suffix.upper()):
            p = audio.with_suffix(variant)
            if (p in candidates) if candidates is not None else p.is_file():
                if p.name.lower() not in NOT_NOTE_FILES:
                    return p
    return None


def under(path: Path, root: Path) -> bool:
    try:
        path.relative_to(root)
        return True
    except ValueError:
        return False


def no_annotation_reason() -> str:
    return "no annotation with the same name (" + ", ".join(ANNOTATION_SUFFIXES) + ")"
