"""Labelled audio: recordings of music, each with an annotation of many notes.

Each folder is searched for the layouts of :data:`LAYOUTS` (MAESTRO, GuitarSet) in order; every
file no layout claims is paired by stem (:func:`~nmftrans.io.datasets.generic.pair_same_stem`:
MAPS, or any folder of audio with same-name annotations). A new layout is one module with an
object like :class:`~nmftrans.io.datasets.guitarset.GuitarSetLayout` (``name``, ``has_splits``,
``roots``, ``collect``, ``pair_file``), added to :data:`LAYOUTS`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from nmftrans.errors import NmftransError, SettingError
from nmftrans.io.audio import AUDIO_SUFFIXES
from nmftrans.io.datasets import guitarset, maestro
from nmftrans.io.datasets.common import (Discovery, annotation_beside, as_sources, is_annotation, is_audio,
                                         no_annotation_reason, under)
from nmftrans.io.datasets.generic import pair_same_stem
from nmftrans.io.fileio import files_under

__all__ = ["LAYOUTS", "DatasetOptions", "check_dataset_options", "discover_labelled"]

#: The layouts looked for in every folder, in order; what they leave is paired by stem.
LAYOUTS = (maestro.LAYOUT, guitarset.LAYOUT)


@dataclass(frozen=True)
class DatasetOptions:
    """How labelled datasets are read; checked once here for ``learn``, ``evaluate`` and the API.

    Attributes
    ----------
    guitarset_audio : {'mic', 'mix'}
        Which GuitarSet mono recording to use.
    split : {'train', 'validation', 'test'} or None
        MAESTRO split.
    max_files : int or None
        Keep only the first ``max_files`` pairs (in sorted order).
    """

    guitarset_audio: str = "mic"
    split: str | None = None
    max_files: int | None = None

    def __post_init__(self) -> None:
        if self.split is not None and self.split not in maestro.SPLITS:
            raise SettingError("split", f"must be one of {', '.join(maestro.SPLITS)} (got {self.split!r})")
        if self.guitarset_audio not in guitarset.GUITARSET_AUDIO:
            raise SettingError("guitarset_audio", f"must be mic or mix (got {self.guitarset_audio!r})")
        if self.max_files is not None and self.max_files < 1:
            raise SettingError("max_files", f"must be at least 1 (got {self.max_files})")


def check_dataset_options(*, split: str | None = None, guitarset_audio: str = "mic",
                          max_files: int | None = None) -> None:
    """The dataset settings, checked before any file is read (:class:`DatasetOptions`)."""
    DatasetOptions(guitarset_audio=guitarset_audio, split=split, max_files=max_files)


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
    options = DatasetOptions(guitarset_audio=guitarset_audio, split=split, max_files=max_files)
    result = Discovery()
    for src in as_sources(sources):
        if src.is_file():
            if split is not None:
                raise NmftransError(f"{src}: a split needs a MAESTRO folder with its metadata, not a file")
            _labelled_file(src, options, result)
            result.layouts[src] = "file"
        else:
            result.layouts[src] = _labelled_folder(src, options, result)

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


def _labelled_file(src: Path, options: DatasetOptions, result: Discovery) -> None:
    for layout in LAYOUTS:
        pair = layout.pair_file(src, options)
        if pair is not None:
            result.pairs.append(pair)
            return
    if is_audio(src):
        ann = annotation_beside(src)
        if ann is None:
            result.skipped.append((src, no_annotation_reason()))
        else:
            result.pairs.append((src, ann))
    elif is_annotation(src):
        audio = next((a for s in AUDIO_SUFFIXES if (a := src.with_suffix(s)).is_file()), None)
        if audio is None:
            result.skipped.append((src, "no audio file with the same name"))
        else:
            result.pairs.append((audio, src))
    else:
        result.skipped.append((src, "neither audio nor a note annotation"))


def _labelled_folder(src: Path, options: DatasetOptions, result: Discovery) -> str:
    files = files_under(src)
    found = []  # (layout, root), each root claimed by the first layout that finds it
    taken: set[Path] = set()
    for layout in LAYOUTS:
        for root in layout.roots(files):
            if root not in taken:
                taken.add(root)
                found.append((layout, root))
    if options.split is not None and not any(layout.has_splits for layout, _ in found):
        raise NmftransError(f"{src}: a split needs MAESTRO metadata (maestro-v*.json or .csv); none found")
    layouts = []
    claimed: set[Path] = set()
    for layout, root in found:
        claimed |= layout.collect(root, [f for f in files if under(f, root)], options, result)
        layouts.append(layout.name)
    rest = [f for f in files if f not in claimed]
    if options.split is not None:
        for f in rest:
            if is_audio(f):
                result.skipped.append((f, "not listed in MAESTRO metadata, so its split is unknown"))
    else:
        kind = pair_same_stem(rest, result)
        if kind:
            layouts.append(kind)
    kinds = set(layouts)
    if not kinds:
        return "empty"
    return kinds.pop() if len(kinds) == 1 else "mixed"
