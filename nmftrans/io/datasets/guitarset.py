"""The GuitarSet layout: ``annotation/*.jams`` beside ``audio_mono-*`` / ``audio_hex-*`` folders."""

from __future__ import annotations

from pathlib import Path

from nmftrans.io.datasets.common import Discovery, is_audio

__all__ = ["LAYOUT", "GUITARSET_AUDIO"]

#: ``guitarset_audio`` -> (audio folder, file-name tail).
GUITARSET_AUDIO = {"mic": ("audio_mono-mic", "_mic"), "mix": ("audio_mono-pickup_mix", "_mix")}


class GuitarSetLayout:
    """``annotation/<stem>.jams`` pairs with ``audio_mono-mic/<stem>_mic.wav`` or the pickup mix."""

    name = "guitarset"
    has_splits = False

    def roots(self, files: list[Path]) -> list[Path]:
        """Folders with ``annotation/*.jams`` and GuitarSet audio folders."""
        roots = set()
        for f in files:
            if f.suffix.lower() == ".jams" and f.parent.name == "annotation":
                root = f.parent.parent
                if any(d.is_dir() and d.name.startswith(("audio_mono-", "audio_hex-")) for d in root.iterdir()):
                    roots.add(root)
        return sorted(roots)

    def collect(self, root: Path, files: list[Path], options, result: Discovery) -> set[Path]:
        """Add the pairs under ``root`` to ``result``; every file under it is claimed."""
        _guitarset(root, options.guitarset_audio, result)
        return set(files)

    def pair_file(self, src: Path, options) -> tuple[Path, Path] | None:
        """A GuitarSet recording or JAMS given on its own, paired through the layout's folders."""
        folder_name, tail = GUITARSET_AUDIO[options.guitarset_audio]
        if is_audio(src):
            if src.parent.name.startswith("audio_mono-") and src.stem.endswith(("_mic", "_mix")):
                jams = src.parent.parent / "annotation" / (src.stem[:-4] + ".jams")
                if jams.is_file():
                    return src, jams
        elif src.suffix.lower() == ".jams" and src.parent.name == "annotation":
            audio = src.parent.parent / folder_name / f"{src.stem}{tail}.wav"
            if audio.is_file():
                return audio, src
        return None


LAYOUT = GuitarSetLayout()


def _guitarset(root: Path, guitarset_audio: str, result: Discovery) -> None:
    folder_name, tail = GUITARSET_AUDIO[guitarset_audio]
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
            if is_audio(audio) and audio not in used:
                stem = audio.stem[: -len(tail)] if audio.stem.endswith(tail) else audio.stem
                result.skipped.append((audio, f"no annotation/{stem}.jams"))
