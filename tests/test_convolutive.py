"""Convolutive (τ-frame) templates: the MU kernel against NumPy, the dictionary format, learning,
transcription with them, and the CLI."""

from dataclasses import replace

import mir_eval
import numpy as np
import pytest
from typer.testing import CliRunner

from nmftrans.core import kernels
from nmftrans.cli import app
from nmftrans.core.convolutive import learn_patch
from nmftrans.io.dictionary import CONVOLUTIVE_VERSION, FORMAT_VERSION, Dictionary, load_dictionary, save_dictionary
from nmftrans.errors import NmftransError
from tests._references import ref_divergence
from nmftrans.learn import IsolatedNote, learn_isolated
from nmftrans.transcribe import SolverParams, transcribe_signal
from tests.synth import example_notes, render, write_isolated

runner = CliRunner()
EPS = 1e-10


# ----------------------------------------------------------------------------- references


def ref_model(W, H):
    """sum_τ W[:, :, τ] @ H shifted right by τ frames, float64."""
    W, H = np.asarray(W, np.float64), np.asarray(H, np.float64)
    n = H.shape[1]
    L = np.zeros((W.shape[0], n))
    for tau in range(W.shape[2]):
        L[:, tau:] += W[:, :, tau] @ H[:, :n - tau]
    return L


def ref_update(V, W, H, beta, n_iter, gamma):
    """Smaragdis' convolutive β-MU on H (W fixed), written out with shifted products in float64."""
    V, H = np.asarray(V, np.float64), np.asarray(H, np.float64).copy()
    n = H.shape[1]
    for _ in range(n_iter):
        L = np.maximum(ref_model(W, H), EPS)
        R, D = V * L ** (beta - 2), L ** (beta - 1)
        num, den = np.zeros_like(H), np.zeros_like(H)
        for tau in range(W.shape[2]):
            num[:, :n - tau] += W[:, :, tau].T @ R[:, tau:]
            den[:, :n - tau] += W[:, :, tau].T @ D[:, tau:]
        H *= (num / den) ** gamma
    return H


@pytest.fixture
def problem(rng):
    W = rng.random((24, 5, 4)).astype(np.float32) + 0.05
    W[:, 0, 1:] = 0  # a one-frame template among 4-frame ones
    W[:, 1, 3] = 0  # and a 3-frame one
    V = (ref_model(W, rng.random((5, 50)) ** 3) + 0.01).astype(np.float32)
    H0 = (rng.random((5, 50)) + 0.1).astype(np.float32)
    return V, W, H0


# ----------------------------------------------------------------------------- kernel


@pytest.mark.parametrize("beta, gamma", [(1.0, None), (1.0, 1.75), (0.5, None), (2.0, None), (0.0, None)])
def test_conv_update_matches_numpy_reference(problem, beta, gamma):
    V, W, H0 = problem
    got = kernels.update_activations_conv(V, W, H0, beta=beta, n_iter=6, gamma=gamma)
    expected = ref_update(V, W, H0, beta, 6, kernels.gamma_exponent(beta) if gamma is None else gamma)
    np.testing.assert_allclose(got, expected, rtol=2e-4, atol=1e-6)


@pytest.mark.parametrize("beta", [1.0, 0.5, 2.0])
def test_exact_conv_update_does_not_increase_the_divergence(problem, beta):
    V, W, H = problem
    values = []
    for _ in range(15):
        values.append(ref_divergence(V, np.maximum(ref_model(W, H), EPS), beta))
        H = kernels.update_activations_conv(V, W, H, beta=beta, n_iter=1)
    steps = np.diff(values)
    assert (steps <= 1e-6 * values[0]).all(), steps
    assert values[-1] < 0.8 * values[0]


def test_one_frame_conv_update_is_the_ordinary_update(problem):
    V, W, H0 = problem
    one = np.ascontiguousarray(W[:, :, 0])
    plain, _ = kernels.update_activations(V, one, H0, n_iter=8, tol=0.0, gamma=1.75)
    conv = kernels.update_activations_conv(V, one, H0, n_iter=8, gamma=1.75)
    np.testing.assert_allclose(conv, plain, rtol=1e-5, atol=1e-7)


def test_blockwise_solve_with_overlap_equals_whole_solve(rng):
    """H[t] after n updates depends on the frames within n (τ - 1) of t: blocks solved with that
    many frames of their neighbours give the whole solve."""
    W = rng.random((20, 3, 3)).astype(np.float32) + 0.05
    V = (ref_model(W, rng.random((3, 120)) ** 4) + 0.01).astype(np.float32)
    n_iter = 5
    H0 = np.full((3, 120), 0.3, np.float32)
    whole = kernels.update_activations_conv(V, W, H0, n_iter=n_iter)
    pad = n_iter * (W.shape[2] - 1)
    parts = []
    for start in range(0, 120, 40):
        lo, hi = max(0, start - pad), min(120, start + 40 + pad)
        H = kernels.update_activations_conv(V[:, lo:hi], W, H0[:, lo:hi], n_iter=n_iter)
        parts.append(H[:, start - lo:start - lo + 40])
    np.testing.assert_allclose(np.concatenate(parts, axis=1), whole, rtol=1e-5, atol=1e-8)
    # without the overlap the block edges differ
    cut = kernels.update_activations_conv(V[:, :40], W, H0[:, :40], n_iter=n_iter)
    assert np.abs(cut[:, -3:] - whole[:, 37:40]).max() > 1e-3


def test_stack_patches_drops_trailing_zero_frames(problem):
    _, W, _ = problem
    S, comp, shift = kernels.stack_patches(W)
    assert S.shape == (24, 5 + 4 + 4 + 3)  # template 0 one frame, template 1 three, the rest four
    assert [int(s) for s in shift[:5]] == [0] * 5 and 0 not in comp[5:].tolist()
    assert 1 not in comp[shift == 3].tolist()
    for c in range(S.shape[1]):
        np.testing.assert_array_equal(S[:, c], W[:, comp[c], shift[c]])


def test_learn_patch_recovers_a_patch_from_a_note_struck_twice(rng):
    """V = w_true convolved with a spike and a softer re-strike 2 frames later (so the note's own
    first frames, the starting point, mix the two): the fit separates them."""
    w_true = rng.random((30, 4)) ** 2 + 0.01
    w_true[:, 0] *= 3  # a loud first frame
    w_true /= w_true.sum()
    h = np.zeros((1, 12))
    h[0, 0], h[0, 2] = 10.0, 4.0
    V = ref_model(w_true[:, None, :], h) + 1e-4
    w = learn_patch(V.astype(np.float32), 4, n_iter=300)
    assert w.sum() == pytest.approx(1.0)
    start = V[:, :4] / V[:, :4].sum()
    assert np.abs(w - w_true).sum() < 0.35 * np.abs(start - w_true).sum()


# ----------------------------------------------------------------------------- format


def _conv_dictionary(W3):
    return Dictionary(W3, np.arange(60, 60 + W3.shape[1]), np.zeros(W3.shape[1]), load_dictionary("piano").settings)


def test_convolutive_dictionary_round_trips(tmp_path, rng):
    W3 = rng.random((269, 3, 5)).astype(np.float32)
    W3[:, 1, 2:] = 0
    W3 /= W3.sum(axis=(0, 2), keepdims=True)
    path = tmp_path / "conv.npz"
    save_dictionary(_conv_dictionary(W3), path)
    with np.load(path, allow_pickle=False) as npz:
        assert int(npz["version"]) == CONVOLUTIVE_VERSION and npz["W"].shape == (269, 3, 5)
    loaded = load_dictionary(path)
    assert loaded.frames == 5
    np.testing.assert_array_equal(loaded.W, W3)


def test_one_frame_dictionary_is_still_written_as_version_1(tmp_path):
    path = tmp_path / "piano.npz"
    save_dictionary(load_dictionary("piano"), path)
    with np.load(path, allow_pickle=False) as npz:
        assert int(npz["version"]) == FORMAT_VERSION == 1
    assert load_dictionary(path).frames == 1


@pytest.mark.parametrize("version, W_shape, message", [
    (1, (269, 3, 4), "version 1 with a 3-D W"),
    (2, (269, 3), "version 2 with a 2-D W"),
    (2, (269, 3, 1), "2 or more frames"),
])
def test_version_and_shape_must_agree(tmp_path, version, W_shape, message):
    arrays = dict(np.load(_save_piano(tmp_path), allow_pickle=False))
    arrays.update(version=np.array(version, np.int32), W=np.ones(W_shape, np.float32),
                  pitches=np.arange(60, 63, dtype=np.int16), roles=np.zeros(3, np.int8))
    bad = tmp_path / "bad.npz"
    np.savez(bad, **arrays)
    with pytest.raises(NmftransError, match=message):
        load_dictionary(bad)


def _save_piano(tmp_path):
    path = tmp_path / "p.npz"
    save_dictionary(load_dictionary("piano"), path)
    return path


# ----------------------------------------------------------------------------- learn + transcribe

PITCHES = range(55, 67)


@pytest.fixture(scope="module")
def notes_folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("conv") / "notes"
    write_isolated(folder, PITCHES)
    return folder


@pytest.fixture(scope="module")
def conv(notes_folder):
    items = [IsolatedNote(p, int(p.stem[6:9])) for p in sorted(notes_folder.glob("*.wav"))]
    d, _ = learn_isolated(items, frames=4)
    return d


def test_learn_isolated_frames(conv, notes_folder):
    one, _ = learn_isolated([IsolatedNote(p, int(p.stem[6:9])) for p in sorted(notes_folder.glob("*.wav"))])
    assert conv.W.shape == (one.W.shape[0], one.W.shape[1], 4) and conv.frames == 4
    np.testing.assert_allclose(conv.W.sum(axis=(0, 2)), 1.0, rtol=1e-5)
    sustain = conv.roles == 0
    np.testing.assert_array_equal(conv.W[:, sustain, 0], one.W[:, sustain])  # sustain: today's, one frame
    assert not conv.W[:, sustain, 1:].any()
    attack = conv.W[:, ~sustain]
    assert (attack.sum(axis=0) > 0).all()  # every frame of an attack patch is used
    # the tones decay: the patch's energy falls from its first frame to its last
    assert (attack[:, :, 0].sum(axis=0) > attack[:, :, 3].sum(axis=0)).all()
    assert conv.provenance["frames"] == 4


def test_convolutive_learning_is_identical_for_any_jobs(conv, notes_folder):
    items = [IsolatedNote(p, int(p.stem[6:9])) for p in sorted(notes_folder.glob("*.wav"))]
    two, _ = learn_isolated(items, frames=4, jobs=2)
    np.testing.assert_array_equal(two.W, conv.W)


def _onset_f(ref, est):
    if len(est) == 0:
        return 0.0
    return mir_eval.transcription.precision_recall_f1_overlap(
        ref[:, :2], mir_eval.util.midi_to_hz(ref[:, 2]), est[:, :2], mir_eval.util.midi_to_hz(est[:, 2]),
        offset_ratio=None)[2]


@pytest.fixture(scope="module")
def piece():
    notes = example_notes(np.random.default_rng(3), pitches=PITCHES, n=24, spacing=0.3)
    return notes, render(notes)


def test_convolutive_transcription_finds_the_notes(conv, piece):
    notes, y = piece
    result = transcribe_signal(y, conv, SolverParams(threads=1))
    assert _onset_f(notes, result.notes) >= 0.9


def test_convolutive_blocks_threads_and_reads_give_the_same_result(conv, piece):
    notes, y = piece
    solver = SolverParams(block_s=1.0)  # several blocks
    one = transcribe_signal(y, conv, replace(solver, threads=1))
    three = transcribe_signal(y, conv, replace(solver, threads=3))
    assert one.activations.shape[1] > 3 * 1.0 * conv.settings.frame_rate
    np.testing.assert_array_equal(one.activations, three.activations)
    np.testing.assert_array_equal(one.notes, three.notes)


def test_convolutive_blocks_overlap_so_they_give_the_whole_file_notes(conv, piece):
    """Without the per-block adaptation, 1 s blocks solved with their neighbours' frames give
    the notes of one whole-file block."""
    notes, y = piece
    fixed = SolverParams(threads=1, refine_w_iter=0, eq_octaves=0.0)
    whole = transcribe_signal(y, conv, replace(fixed, block_s=100.0))
    blocks = transcribe_signal(y, conv, replace(fixed, block_s=1.0))
    np.testing.assert_allclose(blocks.activations, whole.activations, rtol=1e-3, atol=1e-3)
    assert blocks.notes.shape == whole.notes.shape
    np.testing.assert_array_equal(blocks.notes[:, 2], whole.notes[:, 2])
    np.testing.assert_allclose(blocks.notes, whole.notes, atol=1e-4)  # 0.1 ms: a frame is 14.5 ms


# ----------------------------------------------------------------------------- CLI


def test_cli_learn_frames_and_show(notes_folder, tmp_path):
    out = tmp_path / "conv.npz"
    result = runner.invoke(app, ["learn", str(notes_folder), "--frames", "3", "-o", str(out), "-q"])
    assert result.exit_code == 0, result.output
    assert load_dictionary(out).frames == 3
    shown = runner.invoke(app, ["show", str(out)])
    assert shown.exit_code == 0
    assert "convolutive: up to 3 frames (44 ms), attack 3 frames, sustain 1 frame" in shown.output
    assert "convolutive" not in runner.invoke(app, ["show", "piano"]).output


def test_cli_show_plot_draws_the_frames(notes_folder, tmp_path, monkeypatch):
    pytest.importorskip("matplotlib")
    import nmftrans.io.plot as plot

    out = tmp_path / "conv.npz"
    assert runner.invoke(app, ["learn", str(notes_folder), "--frames", "3", "-o", str(out), "-q"]).exit_code == 0
    drawn = {}
    real_pcolormesh = None

    def spy(self, x, y, c, *a, **k):
        drawn.setdefault("columns", np.asarray(c).shape[1])  # the templates (the colour bar comes later)
        return real_pcolormesh(self, x, y, c, *a, **k)

    import matplotlib.axes

    real_pcolormesh = matplotlib.axes.Axes.pcolormesh
    monkeypatch.setattr(matplotlib.axes.Axes, "pcolormesh", spy)
    result = runner.invoke(app, ["show", str(out), "--plot", str(tmp_path / "W.png")])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "W.png").stat().st_size > 0
    assert drawn["columns"] == 3 * load_dictionary(out).W.shape[1]


@pytest.mark.parametrize("args, message", [
    (["--frames", "0"], "--frames must be an integer from 1 to 64"),
    (["--frames", "65"], "--frames must be an integer from 1 to 64"),
    (["--harmonic", "--lowest", "C4", "--highest", "C5", "--frames", "4"], "not to --harmonic"),
])
def test_cli_bad_frames_is_a_usage_error(notes_folder, tmp_path, args, message):
    sources = [] if "--harmonic" in args else [str(notes_folder)]
    result = runner.invoke(app, ["learn", *sources, "-o", str(tmp_path / "x.npz"), *args])
    assert result.exit_code == 2
    assert message in result.output and "Traceback" not in result.output
    assert not (tmp_path / "x.npz").exists()


def test_cli_transcribe_jobs_and_cluster_give_identical_outputs_with_a_convolutive_dictionary(
        notes_folder, piece, tmp_path, local_cluster):
    import soundfile as sf

    from tests.synth import SR

    notes, y = piece
    W = tmp_path / "conv.npz"
    assert runner.invoke(app, ["learn", str(notes_folder), "--frames", "4", "-o", str(W), "-q"]).exit_code == 0
    (tmp_path / "in").mkdir()
    sf.write(tmp_path / "in" / "a.wav", y, SR)
    sf.write(tmp_path / "in" / "b.wav", render(notes[:10]), SR)
    outs = {}
    for name, extra in (("1", ["-j", "1"]), ("2", ["-j", "2"]), ("cluster", ["--scheduler", local_cluster.scheduler_address])):
        out = tmp_path / f"out{name}"
        result = runner.invoke(app, ["transcribe", str(tmp_path / "in"), "-W", str(W), "-o", str(out), "--csv", *extra])
        assert result.exit_code == 0, result.output
        outs[name] = {p.name: p.read_text() for p in sorted(out.glob("*.csv"))}
    assert len(outs["1"]) == 2 and outs["1"] == outs["2"] == outs["cluster"]
    assert outs["1"]["a.csv"].count("\n") >= 20  # the notes were found
