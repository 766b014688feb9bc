"""Deep dictionaries: the optional deep_W entry, transcription with the unfolded layers, training, CLI."""

import dataclasses

import numpy as np
import pytest
import soundfile as sf
from typer.testing import CliRunner

from nmftrans.cli import app
from nmftrans.deep_train import DeepParams, train_deep
from nmftrans.io.dictionary import load_dictionary, save_dictionary
from nmftrans.errors import NmftransError
from nmftrans.core.features import spectrogram
from nmftrans.learn import learn_harmonic
from nmftrans.io.midi import notes_to_csv
from nmftrans.core.notes import reference_level
from nmftrans.transcribe import SolverParams, solver_templates, transcribe_signal
from tests.synth import SR, example_notes, render

runner = CliRunner()
PITCHES = (52, 64)


@pytest.fixture(scope="module")
def plain():
    return learn_harmonic(PITCHES)


def _deep(plain, layers=3, seed=0):
    rng = np.random.default_rng(seed)
    deep_W = plain.W[None] * rng.uniform(0.5, 1.5, (layers,) + plain.W.shape).astype(np.float32)
    return dataclasses.replace(plain, deep_W=deep_W)


def test_round_trip_and_old_dictionaries_unchanged(plain, tmp_path):
    d = _deep(plain)
    save_dictionary(d, tmp_path / "deep.npz")
    back = load_dictionary(tmp_path / "deep.npz")
    np.testing.assert_array_equal(back.deep_W, d.deep_W)
    np.testing.assert_array_equal(back.W, d.W)
    assert back.deep_W.dtype == np.float32 and back.deep_W.shape == (3,) + plain.W.shape
    save_dictionary(plain, tmp_path / "plain.npz")
    with np.load(tmp_path / "plain.npz") as npz:
        assert "deep_W" not in npz.files
    assert load_dictionary(tmp_path / "plain.npz").deep_W is None
    assert load_dictionary("piano").deep_W is None


@pytest.mark.parametrize("bad, message", [
    (lambda W: W[None, :, :-1], "deep_W must have shape"),
    (lambda W: W, "deep_W must have shape"),
    (lambda W: -W[None], "negative"),
    (lambda W: np.concatenate([W[None], 0 * W[None]]), "all-zero template"),
])
def test_bad_deep_templates_are_refused(plain, tmp_path, bad, message):
    with pytest.raises(NmftransError, match=message):
        dataclasses.replace(plain, deep_W=bad(plain.W))
    # the same entry written into a file
    save_dictionary(plain, tmp_path / "d.npz")
    with np.load(tmp_path / "d.npz") as npz:
        arrays = {k: npz[k] for k in npz.files}
    arrays["deep_W"] = bad(plain.W)
    with open(tmp_path / "bad.npz", "wb") as fh:
        np.savez(fh, **arrays)
    with pytest.raises(NmftransError, match=message):
        load_dictionary(tmp_path / "bad.npz")


def test_deep_needs_beta_one(plain):
    with pytest.raises(NmftransError, match="beta 1"):
        dataclasses.replace(_deep(plain), beta=0.5)


def _piece(seed=1, n=16):
    notes = example_notes(np.random.default_rng(seed), pitches=range(PITCHES[0], PITCHES[1] + 1), n=n)
    return notes, render(notes)


def test_transcription_runs_exactly_the_unfolded_layers(plain):
    """Activations against a float64 NumPy reference of K MU steps (floor appended, no adaptation)."""
    d = _deep(plain, layers=4)
    _, y = _piece()
    solver = SolverParams(threads=1)
    result = transcribe_signal(y, d, solver)
    V = spectrogram(y, d.settings).astype(np.float64)
    floor = solver_templates(plain, solver)[:, plain.W.shape[1]:].astype(np.float64)
    H = None
    for k in range(4):
        W = np.concatenate([d.deep_W[k].astype(np.float64), floor], axis=1)
        if H is None:
            H = np.tile(V.sum(axis=0) / (W.shape[1] * W.sum(axis=0).mean()) + 1e-9, (W.shape[1], 1))
        H = H * ((W.T @ (V / np.maximum(W @ H, 1e-10))) / W.sum(axis=0)[:, None]) ** 1.75
    A = H[:plain.W.shape[1]]  # one sustain template per pitch, in pitch order
    A = A / reference_level(A)
    assert result.activations.shape == A.shape
    np.testing.assert_allclose(result.activations, A, rtol=2e-3, atol=2e-4)


def test_deep_transcription_is_identical_across_threads(plain):
    d = _deep(plain, layers=3)
    notes, y = _piece(2, n=30)
    one = transcribe_signal(y, d, SolverParams(threads=1, block_s=2.0))
    many = transcribe_signal(y, d, SolverParams(threads=3, block_s=2.0))
    assert len(one.notes) > 5
    np.testing.assert_array_equal(one.notes, many.notes)
    np.testing.assert_array_equal(one.activations, many.activations)


def test_deep_refuses_another_beta(plain):
    _, y = _piece()
    with pytest.raises(NmftransError, match="KL"):
        transcribe_signal(y, _deep(plain), SolverParams(threads=1, beta=0.5))


@pytest.fixture(scope="module")
def labelled(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("deep")
    for i in range(2):
        notes, y = _piece(10 + i, n=20)
        sf.write(tmp / f"take{i}.wav", y, SR)
        (tmp / f"take{i}.csv").write_text(notes_to_csv(notes))
    return tmp


def test_training_lowers_the_loss_and_is_deterministic(plain, labelled):
    pairs = [(labelled / f"take{i}.wav", labelled / f"take{i}.csv") for i in range(2)]
    params = DeepParams(layers=2, steps=6, frames=300, learning_rate=0.05)
    d, report = train_deep(pairs, plain, params)
    assert d.deep_W.shape == (2,) + plain.W.shape
    assert (d.deep_W >= 0).all()
    assert not np.array_equal(d.deep_W[0], plain.W)
    np.testing.assert_array_equal(d.W, plain.W)
    assert len(report.losses) == 7
    assert report.losses[-1] < 0.97 * report.losses[0]
    again, _ = train_deep(pairs, plain, params)
    np.testing.assert_array_equal(again.deep_W, d.deep_W)
    other, _ = train_deep(pairs, plain, dataclasses.replace(params, seed=1))
    assert not np.array_equal(other.deep_W, d.deep_W)


def test_training_params_are_validated():
    with pytest.raises(NmftransError, match="^layers must be between 1"):
        DeepParams(layers=0)


def test_cli_learn_deep_show_and_transcribe(plain, labelled, tmp_path):
    save_dictionary(plain, tmp_path / "init.npz")
    out = tmp_path / "deep.npz"
    result = runner.invoke(app, ["learn", str(labelled), "--deep", "--layers", "12", "--iterations", "2",
                                 "--init", str(tmp_path / "init.npz"), "-o", str(out), "--quiet"])
    assert result.exit_code == 0, result.output
    assert load_dictionary(out).deep_W.shape[0] == 12
    shown = runner.invoke(app, ["show", str(out)])
    assert shown.exit_code == 0 and "12 unfolded MU layers" in shown.output
    assert "unfolded" not in runner.invoke(app, ["show", str(tmp_path / "init.npz")]).output
    result = runner.invoke(app, ["transcribe", str(labelled / "take0.wav"), "-W", str(out), "-o", "-", "--csv"])
    assert result.exit_code == 0, result.output
    assert len(result.stdout.strip().splitlines()) > 3
    bad = runner.invoke(app, ["learn", "--deep", "-o", str(tmp_path / "x.npz")])
    assert bad.exit_code == 2


def test_roll_targets_weigh_onsets_sustain_and_silence():
    from nmftrans.deep_train import roll_targets

    notes = np.array([[0.5, 1.0, 60, 100]])  # frames 5..9 at 10 frames/s
    params = DeepParams(onset_frames=2, pos_weight=4.0, sustain_weight=0.25)
    Y, M = roll_targets(notes, 12, 10.0, np.array([59, 60]), params)
    np.testing.assert_array_equal(Y[1], [0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 0, 0])
    np.testing.assert_array_equal(M[1], [1, 1, 1, 1, 0, 4, 4, 0.25, 0.25, 0.25, 1, 1])
    np.testing.assert_array_equal(Y[0], 0)
    np.testing.assert_array_equal(M[0], 1)


def test_deep_adapt_round_trips_and_untrained_layers_equal_todays_solve(plain, tmp_path):
    """K copies of W with the adaptation after them are today's solve with n_iter = K."""
    K = 5
    d = dataclasses.replace(plain, deep_W=np.broadcast_to(plain.W, (K,) + plain.W.shape), deep_adapt=True)
    save_dictionary(d, tmp_path / "adapt.npz")
    back = load_dictionary(tmp_path / "adapt.npz")
    assert back.deep_adapt is True
    assert load_dictionary(tmp_path / "adapt.npz").deep_W.shape[0] == K
    _, y = _piece(3, n=24)
    solver = SolverParams(threads=1, block_s=4.0)
    ours = transcribe_signal(y, back, solver)
    today = transcribe_signal(y, plain, dataclasses.replace(solver, n_iter=K))
    np.testing.assert_allclose(ours.activations, today.activations, rtol=1e-4, atol=1e-6)
    assert ours.notes.shape == today.notes.shape and len(ours.notes) > 5
    np.testing.assert_allclose(ours.notes, today.notes, atol=1e-6)
    without = transcribe_signal(y, dataclasses.replace(back, deep_adapt=False), solver)
    assert np.abs(without.activations - ours.activations).max() > 1e-2  # the adaptation did run
    many = transcribe_signal(y, back, dataclasses.replace(solver, threads=3))
    np.testing.assert_array_equal(many.activations, ours.activations)
    with pytest.raises(NmftransError, match="deep_adapt needs deep_W"):
        dataclasses.replace(plain, deep_adapt=True)


def test_cli_learn_deep_adapt(plain, labelled, tmp_path):
    save_dictionary(plain, tmp_path / "init.npz")
    out = tmp_path / "adapt.npz"
    result = runner.invoke(app, ["learn", str(labelled), "--deep", "--deep-adapt", "--layers", "3", "--iterations", "0",
                                 "--init", str(tmp_path / "init.npz"), "-o", str(out), "--quiet"])
    assert result.exit_code == 0, result.output
    d = load_dictionary(out)
    assert d.deep_adapt and d.deep_W.shape[0] == 3
    np.testing.assert_allclose(d.deep_W[2], plain.W, rtol=1e-6, atol=1e-9)  # no steps: every layer is the start
    assert "replace the first solve" in runner.invoke(app, ["show", str(out)]).output


def test_cli_deep_transcription_same_for_any_jobs(plain, labelled, tmp_path):
    d = _deep(plain, layers=3, seed=4)
    save_dictionary(d, tmp_path / "deep.npz")
    outs = []
    for jobs in ("1", "2"):
        out = tmp_path / f"j{jobs}"
        result = runner.invoke(app, ["transcribe", str(labelled / "take0.wav"), str(labelled / "take1.wav"),
                                     "-W", str(tmp_path / "deep.npz"), "-o", str(out), "--csv", "-j", jobs, "--quiet"])
        assert result.exit_code == 0, result.output
        outs.append([(out / f"take{i}.csv").read_text() for i in range(2)])
    assert outs[0] == outs[1]
    assert all(len(text.splitlines()) > 3 for text in outs[0])


def test_cli_learn_deep_without_labelled_audio_is_a_one_line_error(tmp_path):
    (tmp_path / "lonely.wav").write_bytes(b"")
    result = runner.invoke(app, ["learn", str(tmp_path), "--deep", "-o", str(tmp_path / "d.npz")])
    assert result.exit_code == 1
    assert "no audio with a matching annotation" in result.output
    assert "Traceback" not in result.output
    assert not (tmp_path / "d.npz").exists()
    bad = runner.invoke(app, ["learn", str(tmp_path), "--deep", "--layers", "0", "-o", str(tmp_path / "d.npz")])
    assert bad.exit_code == 1 and "--layers must be between 1" in bad.output
