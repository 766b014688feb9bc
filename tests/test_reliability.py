"""Reliability bugs of issue 17: cold Numba cache with -j, truncated files, --scheduler paths,
`show` provenance, empty dataset splits."""

import os
import struct
import subprocess
import sys

import numpy as np
import soundfile as sf
from typer.testing import CliRunner

from nmftrans.cli import app
from tests.synth import SR, render

runner = CliRunner()
NOTES = np.array([[0.1, 0.5, 60, 90], [0.6, 1.0, 64, 90]])


_COLD_NUMBA_SCRIPT = """
import numba, numba.np.ufunc.parallel as par
par._launch_threads()                      # the parent has run a parallel kernel
from nmftrans import parallel

def probe(_):
    numba.config.reload_config()           # what Numba does before compiling (cold cache)
    return numba.get_num_threads()

parallel.probe = probe
print([r for _, r, e in parallel.map_ordered(parallel.probe, [0, 1], jobs=2)])
"""


def test_fork_workers_survive_numba_config_reload():
    """Issue 17: `learn -j 2` on a cold Numba cache crashed with 'Cannot set NUMBA_NUM_THREADS ...
    once the threads have been launched': compiling in a fork worker re-reads the variable."""
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k not in ("NUMBA_NUM_THREADS", "NMFTRANS_START_METHOD")}
    proc = subprocess.run([sys.executable, "-c", _COLD_NUMBA_SCRIPT], capture_output=True, text=True,
                          env=env, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip() == "[1, 1]"  # each worker capped at one thread


def test_truncated_wav_warns_with_what_was_read(tmp_path):
    """A WAV whose data chunk promises more samples than the file holds: one warning line."""
    y = render(NOTES, tail=0.2)
    sf.write(tmp_path / "full.wav", y, SR, subtype="PCM_16")
    data = (tmp_path / "full.wav").read_bytes()
    assert data[36:40] == b"data" and struct.unpack("<I", data[40:44])[0] == 2 * len(y)  # independent check
    kept = 4410  # 0.20 s at 22.05 kHz
    (tmp_path / "cut.wav").write_bytes(data[:44 + 2 * kept])
    cut = runner.invoke(app, ["transcribe", str(tmp_path / "cut.wav"), "-W", "piano", "-o", "-"])
    assert cut.exit_code == 0, cut.output
    warned = [line for line in cut.stderr.splitlines() if "truncated" in line]
    assert len(warned) == 1, cut.stderr
    assert f"promises {len(y)} samples" in warned[0] and f"only {kept} (0.20 s)" in warned[0]
    full = runner.invoke(app, ["transcribe", str(tmp_path / "full.wav"), "-W", "piano", "-o", "-"])
    assert full.exit_code == 0 and "truncated" not in full.stderr


def test_show_prints_a_pitch_range_as_a_range(tmp_path):
    """`show` of a harmonic dictionary: provenance pitch_range [21, 108] is A0-C8, not '2 pitches'."""
    out = tmp_path / "h.npz"
    assert runner.invoke(app, ["learn", "--harmonic", "--lowest", "A0", "--highest", "C8", "-o", str(out)]).exit_code == 0
    shown = runner.invoke(app, ["show", str(out)])
    assert shown.exit_code == 0, shown.output
    line = next(s for s in shown.stdout.splitlines() if s.strip().startswith("pitch_range"))
    assert line.split()[1:] == ["A0-C8", "(MIDI", "21-108)"]


def test_empty_split_is_named(tmp_path):
    """`evaluate DATASET --split test` where the metadata lists only train files names the split."""
    import json

    import mido

    (tmp_path / "2018").mkdir()
    sf.write(tmp_path / "2018" / "a.wav", render(NOTES, tail=0.2), SR)
    mid = mido.MidiFile()
    track = mido.MidiTrack([mido.Message("note_on", note=60, velocity=80, time=0),
                            mido.Message("note_off", note=60, velocity=0, time=480)])
    mid.tracks.append(track)
    mid.save(tmp_path / "2018" / "a.midi")
    (tmp_path / "maestro-v2.0.0.json").write_text(json.dumps(
        [{"split": "train", "year": 2018, "midi_filename": "2018/a.midi", "audio_filename": "2018/a.wav",
          "duration": 1.2}]))
    for command in (["evaluate", str(tmp_path), "-W", "piano"], ["learn", str(tmp_path), "-o", str(tmp_path / "W.npz")]):
        result = runner.invoke(app, command + ["--split", "test"])
        assert result.exit_code == 1, result.output
        errors = [s for s in result.stderr.splitlines() if s.startswith("error:")]
        assert len(errors) == 1 and "'test' split" in errors[0], result.stderr


def test_scheduler_gets_absolute_paths(tmp_path, monkeypatch):
    """Relative paths with --scheduler were resolved in the workers' folders: a fake cluster whose
    workers run in another folder must still find the inputs, the dictionary and the outputs."""
    from nmftrans import parallel
    from nmftrans.errors import NmftransError

    elsewhere = tmp_path / "worker-cwd"
    elsewhere.mkdir()
    work = tmp_path / "user"
    (work / "out").mkdir(parents=True)
    sf.write(work / "a.wav", render(NOTES, tail=0.2), SR)
    sf.write(work / "b.wav", render(NOTES[:1], tail=0.2), SR)
    for name in ("a", "b"):
        (work / f"{name}.csv").write_text("onset,offset,pitch\n0.1,0.5,60\n")
    assert runner.invoke(app, ["learn", "--harmonic", "--lowest", "C4", "--highest", "C5",
                               "-o", str(work / "W.npz")]).exit_code == 0

    def worker_elsewhere(client, fn, items):
        for item in items:
            here = os.getcwd()
            os.chdir(elsewhere)
            try:
                result, error = fn(item), None
            except NmftransError as exc:
                result, error = None, exc
            finally:
                os.chdir(here)
            yield item, result, error

    monkeypatch.setattr(parallel, "_connect", lambda scheduler, timeout: (object(), False))
    monkeypatch.setattr(parallel, "_dask", worker_elsewhere)
    monkeypatch.chdir(work)
    done = runner.invoke(app, ["transcribe", "a.wav", "b.wav", "-W", "W.npz", "-o", "out", "--scheduler", "tcp://x:1"])
    assert done.exit_code == 0, done.output
    assert sorted(p.name for p in (work / "out").iterdir()) == ["a.mid", "b.mid"]
    assert not list(elsewhere.iterdir())
    scored = runner.invoke(app, ["evaluate", ".", "-W", "W.npz", "--scheduler", "tcp://x:1"])
    assert scored.exit_code == 0, scored.output
    assert "2 of 2 files scored" in scored.stderr
    learned = runner.invoke(app, ["learn", ".", "-o", "W2.npz", "--iterations", "2", "--scheduler", "tcp://x:1"])
    assert learned.exit_code == 0, learned.output
    assert (work / "W2.npz").is_file()
