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


@pytest.mark.parametrize("name", ["/dev/stdout", "/dev/fd/1", "/proc/self/fd/1"])
def test_stdout_redirected_to_a_file_is_written_through(kit, tmp_path, name):
    """`-o /dev/stdout > notes.mid`: /dev/stdout leads to a regular file; it was taken as a folder
    ("folder /dev/stdout does not exist"). The MIDI goes through the descriptor: `>` gets exactly
    the file `-o ref.mid` writes, `>>` keeps what was there, and no path is printed into it."""
    import subprocess
    import sys

    W = str(kit / "W.npz")
    ref = tmp_path / "ref.mid"
    assert runner.invoke(app, ["transcribe", str(kit / "p.wav"), "-W", W, "-o", str(ref)]).exit_code == 0
    cmd = [sys.executable, "-m", "nmftrans", "transcribe", str(kit / "p.wav"), "-W", W, "-o", name]
    out = tmp_path / "notes.mid"
    with open(out, "wb") as f:  # the shell's `> notes.mid`
        done = subprocess.run(cmd, stdout=f, stderr=subprocess.PIPE, text=True, cwd=tmp_path, timeout=300)
    assert done.returncode == 0, done.stderr
    assert out.read_bytes() == ref.read_bytes()
    assert [p for p, _ in _note_ons(out.read_bytes())] == [int(p) for p in NOTES[:, 2]]
    out.write_bytes(b"kept\n")
    with open(out, "ab") as f:  # `>> notes.mid`
        done = subprocess.run(cmd, stdout=f, stderr=subprocess.PIPE, text=True, cwd=tmp_path, timeout=300)
    assert done.returncode == 0, done.stderr
    assert out.read_bytes() == b"kept\n" + ref.read_bytes()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.mid", "ref.mid"]  # no folder, no temporary file


def test_stdin_as_output_is_refused_before_any_work(kit, tmp_path):
    import subprocess
    import sys

    cmd = [sys.executable, "-m", "nmftrans", "transcribe", str(kit / "p.wav"), "-W", str(kit / "W.npz"), "-o", "/dev/stdin"]
    done = subprocess.run(cmd, input="", capture_output=True, text=True, cwd=tmp_path, timeout=300)  # a pipe's read end
    assert done.returncode == 1 and done.stderr.strip() == "error: /dev/stdin: cannot write (open for reading only)"
    assert done.stdout == "" and list(tmp_path.iterdir()) == []
