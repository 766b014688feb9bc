"""`transcribe -o /dev/stdout` (a device) or `-o pipe` (a FIFO) without a suffix: one note file,
written through as MIDI. It was taken as a folder and failed ("Not a directory")."""

from __future__ import annotations

import io
import os
import threading

import mido
import numpy as np
import pytest
import soundfile as sf
from typer.testing import CliRunner

from nmftrans.cli import app
from tests.synth import SR, render

runner = CliRunner()
NOTES = np.array([[0.2 + 0.5 * i, 0.6 + 0.5 * i, 60 + (4 * i) % 12, 90] for i in range(4)])


@pytest.fixture(scope="module")
def kit(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("stream")
    sf.write(tmp / "p.wav", render(NOTES, tail=0.3), SR)
    assert runner.invoke(app, ["learn", "--harmonic", "--lowest", "C4", "--highest", "C6",
                               "-o", str(tmp / "W.npz")]).exit_code == 0
    return tmp


def _note_ons(data: bytes) -> list[tuple[int, int]]:
    """(pitch, absolute tick) of every note-on with a velocity, read with mido (not our reader)."""
    ons, tick = [], 0
    for message in mido.MidiFile(file=io.BytesIO(data)).merged_track:
        tick += message.time
        if message.type == "note_on" and message.velocity > 0:
            ons.append((message.note, tick))
    return ons


def test_fifo_without_suffix_gets_the_midi_file(kit, tmp_path):
    W = str(kit / "W.npz")
    assert runner.invoke(app, ["transcribe", str(kit / "p.wav"), "-W", W, "-o", str(tmp_path / "ref.mid")]).exit_code == 0
    pipe = tmp_path / "pipe"
    os.mkfifo(pipe)
    got = []
    reader = threading.Thread(target=lambda: got.append(pipe.read_bytes()))
    reader.start()
    done = runner.invoke(app, ["transcribe", str(kit / "p.wav"), "-W", W, "-o", str(pipe)])
    reader.join(30)
    assert done.exit_code == 0, done.output
    assert pipe.is_fifo() and sorted(p.name for p in tmp_path.iterdir()) == ["pipe", "ref.mid"]
    assert got[0] == (tmp_path / "ref.mid").read_bytes()
    ons = _note_ons(got[0])
    assert [p for p, _ in ons] == [int(p) for p in NOTES[:, 2]]


def test_character_device_is_a_file_and_extras_beside_it_are_refused(kit, tmp_path):
    W = str(kit / "W.npz")
    before = set(os.listdir("/dev"))
    done = runner.invoke(app, ["transcribe", str(kit / "p.wav"), "-W", W, "-o", os.devnull])
    assert done.exit_code == 0, done.output
    assert set(os.listdir("/dev")) == before  # no folder, no .mid and no temporary file left in /dev
    for extra in ("--csv", "--plot"):
        refused = runner.invoke(app, ["transcribe", str(kit / "p.wav"), "-W", W, "-o", os.devnull, extra])
        assert refused.exit_code == 1 and f"{extra} write files beside it" in refused.output
        assert "Traceback" not in refused.output
    two = runner.invoke(app, ["transcribe", str(kit / "p.wav"), str(kit / "p.wav"), "-W", W, "-o", os.devnull])
    assert two.exit_code != 0 and "stream" in two.output
    assert set(os.listdir("/dev")) == before
