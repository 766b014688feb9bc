"""One table of audio suffixes: every command takes the same audio files."""

from pathlib import Path

import pytest

from nmftrans.io import datasets
from nmftrans.batch import expand_inputs


@pytest.mark.parametrize("suffix", [".opus", ".oga", ".aifc", ".flac"])
def test_dataset_discovery_and_transcribe_take_the_same_audio(tmp_path: Path, suffix):
    audio = tmp_path / f"take{suffix}"
    audio.write_bytes(b"")  # discovery goes by name; nothing is decoded here
    (tmp_path / "take.csv").write_text("onset,offset,pitch\n0.1,0.5,60\n")
    found = datasets.discover_labelled([tmp_path])
    assert [Path(a).name for a, _ in found.pairs] == [audio.name]
    assert [Path(p).name for p in expand_inputs([tmp_path])] == [audio.name]
