"""Any folder of audio with same-stem annotations (MAPS, a MAESTRO year folder without metadata,
your own): the layout every file no other layout claims falls back to."""

from __future__ import annotations

import re
from pathlib import Path

from nmftrans.io.audio import AUDIO_SUFFIXES
from nmftrans.io.datasets.common import (Discovery, annotation_beside, is_annotation, is_audio, looks_like_note_file,
                                         no_annotation_reason)

__all__ = ["pair_same_stem"]


def pair_same_stem(files: list[Path], result: Discovery) -> str | None:
    """Same-stem pairing; returns the layout name, or None when no audio or annotation."""
    groups: dict[tuple[Path, str], list[Path]] = {}
    for f in files:
        if is_audio(f) or is_annotation(f):
            groups.setdefault((f.parent, f.stem), []).append(f)
    pairs = []
    any_files = False
    for (_, _), members in sorted(groups.items(), key=lambda kv: (str(kv[0][0]), kv[0][1])):
        audio = sorted((m for m in members if is_audio(m)), key=lambda m: AUDIO_SUFFIXES.index(m.suffix.lower()))
        anns = {m for m in members if is_annotation(m)}
        if audio:
            any_files = True
            ann = annotation_beside(audio[0], anns)
            if ann is None:
                result.skipped.append((audio[0], no_annotation_reason()))
            else:
                pairs.append((audio[0], ann))
            for extra in audio[1:]:
                result.skipped.append((extra, f"same name as {audio[0].name}, which is used"))
        else:
            for ann in sorted(anns):
                if looks_like_note_file(ann):
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
