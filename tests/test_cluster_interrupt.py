"""Ctrl-C with `--scheduler` (issue 23): the client process stopped at once, but the cluster went
on: tasks already running finished and wrote their files after the interrupt message. Now the
run's futures are cancelled and its running tasks drop their outputs (nmftrans.clusterstop).

The cluster runs in this process (two single-threaded workers, over TCP), so the test can watch
the tasks that the interrupted CLI process left on it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import soundfile as sf

distributed = pytest.importorskip("distributed")


@pytest.fixture()
def tcp_cluster():
    """Two single-threaded workers in this process, reachable over TCP by a CLI subprocess."""
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False, protocol="tcp://",
                                       host="127.0.0.1", dashboard_address=None, silence_logs=50)
    yield cluster
    cluster.close()


def _wait(condition, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def test_ctrl_c_stops_the_cluster_run_and_its_outputs(tmp_path, tcp_cluster, monkeypatch):
    import threading

    from nmftrans import batch, transcribe

    started, finished_writing = [], []
    release = threading.Event()  # the solves wait for it: still running when Ctrl-C comes
    solve, write = transcribe.transcribe_file, batch._write_outputs

    def spy_solve(*args, **kwargs):  # runs on the cluster's worker threads, in this process
        started.append(time.monotonic())
        release.wait(120)
        return solve(*args, **kwargs)

    def spy_write(*args, **kwargs):
        try:
            return write(*args, **kwargs)
        finally:
            finished_writing.append(time.monotonic())

    monkeypatch.setattr(transcribe, "transcribe_file", spy_solve)
    monkeypatch.setattr(batch, "_write_outputs", spy_write)

    sr = 22050
    t = np.arange(sr // 2) / sr
    inputs = []
    for k, f0 in enumerate((261.63, 329.63, 392.0, 523.25)):
        path = tmp_path / f"in{k}.wav"
        sf.write(path, (0.2 * np.sin(2 * np.pi * f0 * t) * np.exp(-t)).astype(np.float32), sr)
        inputs.append(str(path))
    out = tmp_path / "out"
    out.mkdir()
    cmd = [sys.executable, "-m", "nmftrans", "transcribe", *inputs, "-o", str(out),
           "--scheduler", tcp_cluster.scheduler_address]
    proc = subprocess.Popen(cmd, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    try:
        _wait(lambda: len(started) >= 2 or proc.poll() is not None, 120, "two tasks to start on the cluster")
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.3)
        os.killpg(proc.pid, signal.SIGINT)
        stdout, stderr = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        release.set()
    assert proc.returncode == 130, stderr
    assert stderr.strip().splitlines()[-1] == ("error: interrupted: 0 of 4 files finished; their outputs are "
                                               "kept, a re-run skips them")
    assert "Traceback" not in stderr
    # dask cannot stop a running task: the two solves go on to the end, then must write nothing
    assert not finished_writing
    running = len(started)
    _wait(lambda: len(finished_writing) >= running, 120, "the running tasks to end")
    time.sleep(0.5)
    assert sorted(p.name for p in out.iterdir()) == []  # no .mid, no temporary file
    assert len(started) == running == 2  # the queued files never started
    _wait(lambda: not tcp_cluster.scheduler.tasks, 10, "the scheduler to forget the run")


def test_another_processes_inproc_scheduler_is_one_line(tmp_path):
    """An inproc:// address of another process gave the one-line error, then a 10 s wait and an
    "Exception ignored in Client.__del__" traceback at exit."""
    sf.write(tmp_path / "a.wav", np.zeros(2205, dtype=np.float32), 22050)
    cmd = [sys.executable, "-m", "nmftrans", "transcribe", str(tmp_path / "a.wav"), "-o", str(tmp_path / "a.mid"),
           "--scheduler", "inproc://192.0.2.2/1/1"]
    done = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert done.returncode == 1
    lines = [line for line in done.stderr.splitlines() if not line.startswith("preparing")]  # a cold cache's notice
    assert lines == ["error: inproc://192.0.2.2/1/1 is an in-process scheduler of another process; "
                     "give its tcp://HOST:PORT"]
