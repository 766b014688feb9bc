"""``learn`` and ``evaluate DATASET`` over worker processes and a dask cluster: same results as one process."""

import json

import numpy as np
import pytest
import soundfile as sf
from typer.testing import CliRunner

from nmftrans import learn as learn_mod
from nmftrans.cli import app
from nmftrans.io.dictionary import load_dictionary
from nmftrans.io.midi import notes_to_csv
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


@pytest.mark.parametrize("beta, method", [(2.0, "informed"), (1.0, "informed"), (2.0, "fixed"), (1.0, "fixed")])
def test_labelled_learning_is_bit_identical_for_jobs_and_cluster(data, local_cluster, beta, method):
    """Informed: each file's H on disk, each epoch's numerators/denominators summed in file order;
    fixed: β = 2 sums per-file statistics, β = 1 each epoch's terms. Same bits either way."""
    serial, report = _learn([data / "labelled"], beta=beta, method=method)
    assert [p for p, _ in report.skipped] == [str(data / "labelled" / "broken.wav")]  # one bad file, the rest go on
    assert [p for p, _, _ in report.fit] == [str(data / "labelled" / f"take{i}.wav") for i in range(3)]
    for kw in ({"jobs": 2}, {"scheduler": local_cluster}):
        other, other_report = _learn([data / "labelled"], beta=beta, method=method, **kw)
        assert np.array_equal(other.W, serial.W), kw
        assert other.pitches.tolist() == serial.pitches.tolist()
        assert other_report.skipped == report.skipped and other_report.warnings == report.warnings
        assert other_report.fit == report.fit and other_report.pitch_frames == report.pitch_frames


def test_isolated_learning_is_bit_identical_for_jobs_and_cluster(data, local_cluster):
    serial, _ = _learn([data / "isolated"])
    assert serial.pitch_set.tolist() == list(PITCHES)
    for kw in ({"jobs": 2}, {"scheduler": local_cluster.scheduler_address}):
        other, _ = _learn([data / "isolated"], **kw)
        assert np.array_equal(other.W, serial.W), kw


def test_epochs_recompute_spectrograms_a_worker_cannot_see(data, monkeypatch):
    """A cluster worker on another machine does not see the parent's temporary folder: with
    H fixed it recomputes V and Y from the audio in each epoch and gets the same W; informed
    learning, which keeps each file's H there, says in one line what to do."""
    expected, _ = _learn([data / "labelled"], beta=1.0, method="fixed")
    prepare = learn_mod._prepare_labelled

    def elsewhere(item, setup):
        import dataclasses

        return prepare(item, dataclasses.replace(setup, store=str(data / "not-on-this-machine")))

    monkeypatch.setattr(learn_mod, "_prepare_labelled", elsewhere)
    other, _ = _learn([data / "labelled"], beta=1.0, method="fixed")
    assert np.array_equal(other.W, expected.W)
    with pytest.raises(learn_mod.NmftransError, match="set TMPDIR to a folder all cluster workers share"):
        _learn([data / "labelled"], beta=1.0)


def test_isolated_notes_and_labelled_takes_learn_together(data):
    """One call with both: every isolated note is a one-note labelled file; the fit report names
    each file and the frame counts add the takes' and the notes' frames."""
    takes, takes_report = _learn([data / "labelled"])
    both, report = _learn([data / "labelled", data / "isolated"])
    assert both.provenance["method"] == "labelled" and both.pitch_set.tolist() == list(PITCHES)
    n_isolated = len(list((data / "isolated").glob("*.wav")))
    assert len(report.fit) == 3 + n_isolated
    # each 0.5 s isolated note adds its annotated frames (notes.csv or the whole file) to its pitch
    for p in PITCHES:
        assert report.pitch_frames[p] > takes_report.pitch_frames[p]
    assert not np.array_equal(both.W, takes.W)


def test_a_small_block_budget_streams_the_same_dictionary(data):
    """Frames worked out 32 at a time (a small memory budget): the same dictionary up to rounding."""
    from nmftrans.io import datasets
    from nmftrans.core.informed import InformedParams

    pairs = datasets.discover_labelled([data / "labelled"]).pairs
    whole, _ = learn_mod.learn_labelled(pairs, iterations=5)
    small, _ = learn_mod.learn_labelled(pairs, iterations=5, informed=InformedParams(block_frames=32))
    np.testing.assert_allclose(small.W, whole.W, rtol=2e-3, atol=1e-7)


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


def test_informed_preparation_streams_the_file_into_the_store(data, tmp_path):
    """The first pass writes Vᵀ and the initial Hᵀ block by block (here 50 frames at a time): they
    equal the whole-file spectrogram and initial activations."""
    from nmftrans.io.annotations import read_notes
    from nmftrans.core.notearrays import crop_notes
    from nmftrans.io.audio import load_audio
    from nmftrans.core.features import spectrogram
    from nmftrans.core.informed import InformedParams, initial_activations
    from nmftrans.core.settings import FeatureSettings

    settings = FeatureSettings()
    params = InformedParams(block_frames=50, noise_octaves=0)
    audio = data / "labelled" / "take1.wav"
    notes, _ = crop_notes(read_notes(data / "labelled" / "take1.csv"), 100.0)
    setup = learn_mod._LabelledSetup(settings, (55, 61), 6, 1.0, str(tmp_path), "informed", params)
    prepared = learn_mod._prepare_labelled(learn_mod._LabelledFile(0, audio, notes), setup)
    V = np.load(prepared.stored[0]).T
    H = np.load(prepared.stored[1]).T
    expected_V = spectrogram(load_audio(audio, settings.sample_rate), settings)
    assert V.shape == expected_V.shape and V.shape[1] > 4 * params.block_frames
    np.testing.assert_allclose(V, expected_V, rtol=1e-3, atol=1e-5 * expected_V.max())
    H0 = initial_activations(notes, V.shape[1], settings.frame_rate, np.arange(55, 62), 6, params)
    level = V.sum(dtype=np.float64) / H0.sum(dtype=np.float64)
    np.testing.assert_allclose(H, H0 * np.float32(level), rtol=1e-6)
    assert prepared.active.tolist() == H0.any(axis=1).tolist()
