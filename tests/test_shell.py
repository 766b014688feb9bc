"""Issue 23, "a tool that never surprises at the shell": interrupts with real signals, outputs that
are not plain files, batches from shell globs, early checks, usage errors, help, interop."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from typer.testing import CliRunner

from nmftrans.cli import app
from tests.synth import SR, render

runner = CliRunner()
NOTES = np.array([[0.2 + 0.5 * i, 0.6 + 0.5 * i, 60 + (3 * i) % 12, 90] for i in range(6)])


@pytest.fixture(scope="module")
def kit(tmp_path_factory):
    """Four short pieces and a harmonic C4-C6 dictionary."""
    tmp = tmp_path_factory.mktemp("shell")
    for k in range(4):
        sf.write(tmp / f"p{k}.wav", render(NOTES + [0, 0, k, 0], tail=0.3), SR)
    assert runner.invoke(app, ["learn", "--harmonic", "--lowest", "C4", "--highest", "C6",
                               "-o", str(tmp / "W.npz")]).exit_code == 0
    return tmp


def _cli(*args, cwd):
    """Start ``python -m nmftrans ARGS`` in its own process group (as a shell job is)."""
    return subprocess.Popen([sys.executable, "-m", "nmftrans", *map(str, args)], cwd=cwd, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)


def _interrupt(proc) -> tuple[str, str]:
    """Ctrl-C as a terminal sends it: SIGINT to the whole process group (workers included)."""
    os.killpg(proc.pid, signal.SIGINT)
    out, err = proc.communicate(timeout=60)  # a hang guard, not a timing assertion
    return out, err


def _group_gone(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return True
    return False


def test_ctrl_c_with_two_workers(kit, tmp_path):
    """-j 2 on four files, Ctrl-C once a file is finished: exit 130, one line, no traceback, the
    count equals the files on disk, no worker left, nothing written afterwards, no temp files."""
    out = tmp_path / "out"
    out.mkdir()
    proc = _cli("transcribe", *(kit / f"p{k}.wav" for k in range(4)), "-W", kit / "W.npz", "-o", out,
                "-j", "2", "--iterations", "20000", cwd=tmp_path)
    while not list(out.glob("*.mid")) and proc.poll() is None:
        time.sleep(0.02)
    assert proc.poll() is None, "finished before the interrupt: the test needs longer files"
    stdout, stderr = _interrupt(proc)
    assert proc.returncode == 130, stderr
    assert "Traceback" not in stderr
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: interrupted: "), stderr
    written = sorted(p.name for p in out.iterdir())
    assert all(name.endswith(".mid") for name in written), written  # no .part files left
    assert f"interrupted: {len(written)} of 4 files finished" in lines[0]
    assert 1 <= len(written) < 4
    for line in stdout.splitlines():  # paths printed are files that exist
        assert Path(line).is_file()
    assert _group_gone(proc.pid)
    time.sleep(1.0)
    assert sorted(p.name for p in out.iterdir()) == written  # nothing written after the interrupt


def test_ctrl_c_in_a_long_solve(kit, tmp_path):
    """One file, --iterations 100000 (minutes of Numba kernel): Ctrl-C stops it, no output."""
    proc = _cli("transcribe", kit / "p0.wav", "-W", kit / "W.npz", "-o", tmp_path / "p0.mid",
                "--iterations", "100000", cwd=tmp_path)
    time.sleep(4.0)  # imports done, inside the solver
    assert proc.poll() is None
    _, stderr = _interrupt(proc)
    assert proc.returncode == 130, stderr
    assert "Traceback" not in stderr and stderr.startswith("error: interrupted: 0 of 1 files"), stderr
    assert list(tmp_path.iterdir()) == []
