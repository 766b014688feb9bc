"""transcribe --resynth: the model W·H played back with the recording's phase."""

import numpy as np
import pytest
import soundfile as sf
from typer.testing import CliRunner

from nmftrans.cli import app
from nmftrans.resynth import model_signal
from tests.synth import SR, render, tone_dictionary

runner = CliRunner()


def _corr(u, v):
    return float(np.dot(u, v) / np.linalg.norm(u) / np.linalg.norm(v))


@pytest.fixture(scope="module")
def dictionary(tmp_path_factory):
    return tone_dictionary(tmp_path_factory.mktemp("isolated"), range(58, 70))


@pytest.fixture(scope="module")
def two_tones():
    a = render(np.array([[0.2, 1.5, 60, 90]]))
    b = render(np.array([[0.5, 1.8, 67, 90]]))
    n = max(len(a), len(b))
    a, b = np.pad(a, (0, n - len(a))), np.pad(b, (0, n - len(b)))
    return a, b


def test_model_sounds_like_the_recording_and_one_pitch_like_its_note(dictionary, two_tones):
    a, b = two_tones
    y = a + b
    full = model_signal(y, dictionary)
    assert len(full) == len(y) and _corr(full, y) > 0.9
    only_a = model_signal(y, dictionary, pitches=[60])
    only_b = model_signal(y, dictionary, pitches=[67])
    assert _corr(only_a, a) > 0.85 and abs(_corr(only_a, b)) < 0.15
    assert _corr(only_b, b) > 0.85 and abs(_corr(only_b, a)) < 0.15
    assert np.abs(model_signal(y, dictionary, pitches=[64])).max() < 0.2 * np.abs(y).max()


def test_cli_writes_model_wav(tmp_path, dictionary, two_tones):
    from nmftrans.io.dictionary import save_dictionary

    a, b = two_tones
    wpath = tmp_path / "d.npz"
    save_dictionary(dictionary, wpath)
    audio = tmp_path / "take.wav"
    sf.write(audio, a + b, SR)
    r = runner.invoke(app, ["transcribe", str(audio), "-W", str(wpath), "-o", str(tmp_path / "take.mid"),
                            "--resynth", "--resynth-pitches", "C4"])
    assert r.exit_code == 0, r.stderr
    y, sr = sf.read(tmp_path / "take.model.wav")
    assert sr == SR and _corr(y, a) > 0.85
    assert str(tmp_path / "take.model.wav") in r.stdout


@pytest.mark.parametrize("args, message", [
    (["--resynth-pitches", "60"], "give --resynth too"),
    (["--resynth", "--resynth-pitches", "X9"], "pitch"),
    (["--resynth", "--resynth-pitches", ","], "--resynth-pitches needs pitches"),
])
def test_resynth_option_errors(tmp_path, args, message):
    audio = tmp_path / "a.wav"
    sf.write(audio, np.zeros(SR, dtype=np.float32), SR)
    r = runner.invoke(app, ["transcribe", str(audio), "-o", str(tmp_path / "a.mid")] + args)
    assert r.exit_code == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0]


def _mu_h(V, W, H, n_iter, gamma, eps=1e-10):
    """KL multiplicative updates of H (W fixed), over-relaxed by ``gamma``, in float64."""
    den = np.maximum(W.sum(axis=0), eps)[:, None]
    for _ in range(n_iter):
        H = H * ((W.T @ (V / np.maximum(W @ H, eps))) / den) ** gamma
    return H


def _mu_w(V, W, H, n_iter, eps=1e-10):
    """KL multiplicative updates of W (H fixed), in float64."""
    for _ in range(n_iter):
        W = W * ((V / np.maximum(W @ H, eps)) @ H.T) / np.maximum(H.sum(axis=1), eps)[None, :]
    return W


def _smooth_gain(V, V_hat, freqs, width, max_gain=4.0):
    """Ratio of the long-term spectra smoothed over log frequency, geometric mean 1, clipped."""
    lf = np.log2(np.maximum(freqs, 1e-3))
    g = np.exp(-0.5 * ((lf[:, None] - lf[None, :]) / width) ** 2)
    r = (g @ V.sum(axis=1)) / (g @ V_hat.sum(axis=1))
    return np.clip(r / np.exp(np.log(r).mean()), 1 / max_gain, max_gain)


def test_model_is_the_adapted_model_of_each_block(dictionary, two_tones):
    """The model written is W·H with W adapted per solver block, as transcribe fits it,
    against the same steps written out in NumPy (float64) from the dictionary's templates."""
    from nmftrans.core.features import frequencies, spectrogram
    from nmftrans.resynth import model_spectrogram
    from nmftrans.transcribe import SolverParams, solver_templates

    a, b = two_tones
    y = (a + b)[: int(1.9 * SR)]
    solver = SolverParams(beta=1.0, block_s=0.7)
    settings = dictionary.settings
    V = spectrogram(y, settings).astype(np.float64)
    W0 = solver_templates(dictionary, solver).astype(np.float64)
    n_comp, n = dictionary.W.shape[1], V.shape[1]
    size = int(round(0.7 * settings.frame_rate))
    bounds = list(range(0, n, size)) + [n]
    if n - bounds[-2] < size // 2:  # a short rest joins the block before it
        del bounds[-2]
    assert len(bounds) >= 3  # at least two blocks
    ref = []
    for lo, hi in zip(bounds[:-1], bounds[1:]):
        Vb = V[:, lo:hi]
        H = np.tile(Vb.sum(axis=0) / (W0.shape[1] * W0.sum(axis=0).mean()) + 1e-9, (W0.shape[1], 1))
        H = _mu_h(Vb, W0, H, solver.n_iter, solver.gamma)
        step = solver.refine_stride
        Vs, Hs = Vb[:, ::step], H[:, ::step]
        W = W0.copy()
        W[:, :n_comp] *= _smooth_gain(Vs, W0 @ Hs, frequencies(settings), solver.eq_octaves)[:, None]
        W[:, :n_comp] /= W[:, :n_comp].sum(axis=0)
        Hs = _mu_h(Vs, W, Hs, solver.refine_h_iter, solver.gamma)
        Wf = _mu_w(Vs, W, Hs, solver.refine_w_iter)
        Wf /= Wf.sum(axis=0)
        Wf[:, n_comp:] = W[:, n_comp:]
        H = _mu_h(Vb, Wf, H, solver.refine_h_iter, solver.gamma)
        ref.append(Wf @ H)
    ref = np.concatenate(ref, axis=1)
    model, V32 = model_spectrogram(y, dictionary, solver)
    assert model.shape == ref.shape
    np.testing.assert_allclose(V32, V, rtol=1e-6)
    np.testing.assert_allclose(model, ref, rtol=2e-3, atol=1e-6 * ref.max())
    # the fixed dictionary's model (no adaptation) is another one
    fixed = _mu_h(V, W0, np.tile(V.sum(axis=0) / (W0.shape[1] * W0.sum(axis=0).mean()) + 1e-9, (W0.shape[1], 1)),
                  solver.n_iter + solver.refine_h_iter, solver.gamma)
    assert np.abs(W0 @ fixed - ref).max() > 100 * np.abs(model - ref).max()


def test_model_without_adaptation_is_the_fixed_dictionarys(dictionary, two_tones):
    from nmftrans.core.features import spectrogram
    from nmftrans.resynth import model_spectrogram
    from nmftrans.transcribe import SolverParams, solver_templates

    a, b = two_tones
    solver = SolverParams(beta=1.0, eq_octaves=0.0, refine_w_iter=0)  # what --no-adapt gives
    V = spectrogram(a + b, dictionary.settings).astype(np.float64)
    W0 = solver_templates(dictionary, solver).astype(np.float64)
    H = np.tile(V.sum(axis=0) / (W0.shape[1] * W0.sum(axis=0).mean()) + 1e-9, (W0.shape[1], 1))
    H = _mu_h(V, W0, H, solver.n_iter, solver.gamma)
    model, _ = model_spectrogram(a + b, dictionary, solver)
    np.testing.assert_allclose(model, W0 @ H, rtol=2e-3, atol=1e-6 * V.max())
    # one pitch: its templates only
    only = model_spectrogram(a + b, dictionary, solver, pitches=[60])[0]
    rows = np.flatnonzero(dictionary.pitches == 60)
    np.testing.assert_allclose(only, W0[:, rows] @ H[rows], rtol=2e-3, atol=1e-6 * V.max())


@pytest.mark.parametrize("adapt", [False, True])
def test_deep_dictionary_model_is_the_last_layer_times_the_unfolded_h(dictionary, two_tones, adapt):
    import dataclasses

    from nmftrans.core.features import spectrogram
    from nmftrans.resynth import model_spectrogram
    from nmftrans.transcribe import SolverParams, solver_templates

    a, b = two_tones
    rng = np.random.default_rng(0)
    layers = dictionary.W[None] * rng.uniform(0.5, 1.5, (3,) + dictionary.W.shape).astype(np.float32)
    deep = dataclasses.replace(dictionary, deep_W=layers, deep_adapt=adapt)
    solver = SolverParams(block_s=60.0)  # one block
    V = spectrogram(a + b, dictionary.settings).astype(np.float64)
    floor = solver_templates(dictionary, solver)[:, dictionary.W.shape[1]:].astype(np.float64)
    Ws = [np.concatenate([L.astype(np.float64), floor], axis=1) for L in layers]
    H = np.tile(V.sum(axis=0) / (Ws[0].shape[1] * Ws[0].sum(axis=0).mean()) + 1e-9, (Ws[0].shape[1], 1))
    for W in Ws:  # the unfolded layers: one KL update each
        H = _mu_h(V, W, H, 1, solver.gamma)
    model = model_spectrogram(a + b, deep, solver)[0]
    if not adapt:
        np.testing.assert_allclose(model, Ws[-1] @ H, rtol=2e-3, atol=1e-6 * V.max())
    else:  # the adaptation starts from the last layer's unit-sum templates and the layers' H
        n_comp = dictionary.W.shape[1]
        W0 = Ws[-1].copy()
        W0[:, :n_comp] /= W0[:, :n_comp].sum(axis=0)
        step = solver.refine_stride
        Vs, Hs = V[:, ::step], H[:, ::step]
        from nmftrans.core.features import frequencies

        W = W0.copy()
        W[:, :n_comp] *= _smooth_gain(Vs, W0 @ Hs, frequencies(dictionary.settings), solver.eq_octaves)[:, None]
        W[:, :n_comp] /= W[:, :n_comp].sum(axis=0)
        Hs = _mu_h(Vs, W, Hs, solver.refine_h_iter, solver.gamma)
        Wf = _mu_w(Vs, W, Hs, solver.refine_w_iter)
        Wf /= Wf.sum(axis=0)
        Wf[:, n_comp:] = W[:, n_comp:]
        np.testing.assert_allclose(model, Wf @ _mu_h(V, Wf, H, solver.refine_h_iter, solver.gamma),
                                   rtol=2e-3, atol=1e-6 * V.max())


def test_convolutive_dictionary_is_refused_in_one_line(dictionary, two_tones):
    import dataclasses

    from nmftrans.errors import NmftransError

    conv = dataclasses.replace(dictionary, W=np.repeat(dictionary.W[:, :, None], 3, axis=2) / 3)
    assert conv.frames == 3
    with pytest.raises(NmftransError, match="single-frame") as err:
        model_signal(sum(two_tones), conv)
    assert "\n" not in str(err.value)


def test_a_detuned_recording_is_modelled_on_the_grid_and_played_back_in_its_own_tuning(dictionary):
    from nmftrans.transcribe import SolverParams

    def parts(cents):
        a = render(np.array([[0.2, 4.5, 60, 90], [5.0, 9.0, 62, 90]]), cents=cents)
        b = render(np.array([[0.5, 4.8, 67, 90], [5.2, 9.0, 64, 90]]), cents=cents)
        n = max(len(a), len(b))
        return np.pad(a, (0, n - len(a))), np.pad(b, (0, n - len(b)))

    def share(model, part):  # the energy of the model of a part's pitches against the part's own
        return float(np.sum(model**2) / np.sum(part**2))

    a, b = parts(0.0)
    in_tune = share(model_signal(a + b, dictionary, pitches=[60, 62]), a)
    a, b = parts(40.0)
    y = a + b
    corrected = model_signal(y, dictionary, pitches=[60, 62])
    as_it_is = model_signal(y, dictionary, SolverParams(tuning=0), pitches=[60, 62])
    assert len(corrected) == len(y)
    assert _corr(corrected, a) > 0.9 and abs(_corr(corrected, b)) < 0.1  # back in the recording's tuning and time
    assert share(corrected, a) == pytest.approx(in_tune, rel=0.1)  # its notes' templates take their energy
    assert share(as_it_is, a) < 0.7 * in_tune  # uncorrected, the neighbouring pitches take much of it
