"""``learn`` and ``evaluate DATASET`` over worker processes and a dask cluster: same results as one process."""

import json

import numpy as np
import pytest
import soundfile as sf
from typer.testing import CliRunner

from nmftrans import learn as learn_mod
from nmftrans.cli import app
from nmftrans.dictionary import load_dictionary
from nmftrans.midi import notes_to_csv
from tests.synth import SR, example_notes, render, write_isolated

runner = CliRunner()
PITCHES = range(55, 62)


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    """Three labelled takes (one unreadable file beside them) and isolated notes.

    The takes are about 7 s (600 frames): from about 500 frames on, OpenBLAS rounds a GEMM with
    two threads differently than with one, which W must not depend on."""
    tmp = tmp_path_factory.mktemp("learnpar")
    labelled = tmp / "labelled"
    labelled.mkdir()
    rng = np.random.default_rng(5)
    for i in range(3):
        notes = example_notes(rng, pitches=PITCHES, n=44, spacing=0.3)
        sf.write(labelled / f"take{i}.wav", render(notes, tail=0.2), SR)
        (labelled / f"take{i}.csv").write_text(notes_to_csv(notes))
    (labelled / "broken.wav").write_bytes(b"not audio")
    (labelled / "broken.csv").write_text(notes_to_csv(notes))
    write_isolated(tmp / "isolated", PITCHES, duration=0.5)
    return tmp


def _learn(sources, **kw):
    dictionary, report = learn_mod.learn_from_sources(sources, iterations=5, **kw)
    return dictionary, report


@pytest.mark.parametrize("beta", [2.0, 1.0])
def test_labelled_learning_is_bit_identical_for_jobs_and_cluster(data, local_cluster, beta):
    """β = 2 sums per-file statistics, β = 1 each epoch's numerators/denominators: same bits either way."""
    serial, report = _learn([data / "labelled"], beta=beta)
    assert [p for p, _ in report.skipped] == [str(data / "labelled" / "broken.wav")]  # one bad file, the rest go on
    for kw in ({"jobs": 2}, {"scheduler": local_cluster}):
        other, other_report = _learn([data / "labelled"], beta=beta, **kw)
        assert np.array_equal(other.W, serial.W), kw
        assert other.pitches.tolist() == serial.pitches.tolist()
        assert other_report.skipped == report.skipped and other_report.warnings == report.warnings


def test_isolated_learning_is_bit_identical_for_jobs_and_cluster(data, local_cluster):
    serial, _ = _learn([data / "isolated"])
    assert serial.pitch_set.tolist() == list(PITCHES)
    for kw in ({"jobs": 2}, {"scheduler": local_cluster.scheduler_address}):
        other, _ = _learn([data / "isolated"], **kw)
        assert np.array_equal(other.W, serial.W), kw


def test_epochs_recompute_spectrograms_a_worker_cannot_see(data, monkeypatch):
    """A cluster worker on another machine does not see the parent's temporary folder: it
    recomputes V and Y from the audio in each epoch and gets the same W."""
    expected, _ = _learn([data / "labelled"], beta=1.0)
    prepare = learn_mod._prepare_labelled

    def elsewhere(item, setup):
        import dataclasses

        return prepare(item, dataclasses.replace(setup, store=str(data / "not-on-this-machine")))

    monkeypatch.setattr(learn_mod, "_prepare_labelled", elsewhere)
    other, _ = _learn([data / "labelled"], beta=1.0)
    assert np.array_equal(other.W, expected.W)


def test_cli_learn_jobs(data, tmp_path):
    outputs = {}
    for n in ("1", "2"):
        out = tmp_path / f"W{n}.npz"
        result = runner.invoke(app, ["learn", str(data / "labelled"), "-o", str(out), "--iterations", "5", "-j", n])
        assert result.exit_code == 0, result.output
        assert "skipped" in result.stderr and "broken.wav" in result.stderr
        outputs[n] = load_dictionary(out).W
    assert np.array_equal(outputs["1"], outputs["2"])


def test_cli_unreachable_scheduler_is_one_line(data, dictionary, tmp_path, monkeypatch):
    pytest.importorskip("distributed")
    from nmftrans import parallel
    from tests.test_parallel import _free_port

    connect = parallel._connect
    monkeypatch.setattr(parallel, "_connect", lambda scheduler, timeout: connect(scheduler, 1.0))  # fail fast
    address = f"tcp://127.0.0.1:{_free_port()}"
    for args in (["learn", str(data / "isolated"), "-o", str(tmp_path / "W.npz")],
                 ["evaluate", str(data / "labelled"), "-W", str(dictionary)]):
        result = runner.invoke(app, args + ["--scheduler", address])
        assert result.exit_code == 1, result.output
        errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
        assert len(errors) == 1 and "cannot reach the dask scheduler" in errors[0]
        assert "Traceback" not in result.output
    assert not (tmp_path / "W.npz").exists()


@pytest.fixture(scope="module")
def dictionary(data):
    out = data / "W.npz"
    result = runner.invoke(app, ["learn", str(data / "isolated"), "-o", str(out), "-q"])
    assert result.exit_code == 0, result.output
    return out


def test_evaluate_dataset_jobs_give_the_same_table(data, dictionary, tmp_path):
    tables, reports = {}, {}
    for n in ("1", "2"):
        report = tmp_path / f"r{n}.json"
        result = runner.invoke(app, ["evaluate", str(data / "labelled"), "-W", str(dictionary), "--json", str(report), "-j", n])
        assert result.exit_code == 1, result.output  # broken.wav fails, the takes are scored
        assert sum(line.startswith("error:") for line in result.stderr.splitlines()) == 1
        tables[n] = result.stdout
        reports[n] = json.loads(report.read_text())
    assert [line.split()[0] for line in tables["1"].splitlines()] == ["file", "take0", "take1", "take2", "MEAN"]
    assert tables["1"] == tables["2"]
    assert reports["1"]["files"] == reports["2"]["files"] and reports["1"]["failed"] == reports["2"]["failed"]


def test_evaluate_jobs_only_in_dataset_mode(tmp_path):
    result = runner.invoke(app, ["evaluate", str(tmp_path / "a.csv"), str(tmp_path / "b.csv"), "-j", "2"])
    assert result.exit_code == 2
    assert "--jobs: only with DATASET" in result.stderr
