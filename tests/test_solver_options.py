"""--beta, --tol, --no-adapt and --sparsity: the solver the options ask for, checked against the
kernel's own API, and their ranges (one-line usage errors)."""

import numpy as np
import pytest
import soundfile as sf
from typer.testing import CliRunner

from nmftrans.core import kernels
from nmftrans.batch import TranscribeOptions, _solver_params
from nmftrans.cli import app
from nmftrans.io.dictionary import ROLE_ATTACK
from nmftrans.core.features import spectrogram
from nmftrans.transcribe import transcribe_signal
from tests.synth import SR, example_notes, render, tone_dictionary

PITCHES = range(55, 68)
runner = CliRunner()


@pytest.fixture(scope="module")
def dictionary(tmp_path_factory):
    return tone_dictionary(tmp_path_factory.mktemp("isolated"), PITCHES)


@pytest.fixture(scope="module")
def signal():
    notes = example_notes(np.random.default_rng(5), pitches=PITCHES, n=12, spacing=0.3)
    return render(notes)  # about 2.5 s: one solver chunk


def _kernel_activations(y, d, *, beta, n_iter, tol=0.0, gamma=None):
    """What W fixed and no adaptation should give, straight from the kernel: H from each frame's
    energy spread evenly, per-pitch sum (attack templates weighted 0.5), normalised by the 90th
    percentile of each frame's strongest pitch (frames above 1e-3 of the loudest)."""
    V = spectrogram(y, d.settings)
    W = d.W
    H0 = np.repeat((V.sum(axis=0) / (W.shape[1] * W.sum(axis=0).mean()) + 1e-9)[None, :], W.shape[1], axis=0)
    H, _ = kernels.update_activations(V, W, H0.astype(np.float32), beta=beta, n_iter=n_iter, tol=tol, gamma=gamma)
    pitches = np.unique(d.pitches)
    A = np.zeros((len(pitches), H.shape[1]))
    for k, (p, role) in enumerate(zip(d.pitches, d.roles)):
        A[np.searchsorted(pitches, p)] += H[k] * (0.5 if role == ROLE_ATTACK else 1.0)
    peak = A.max(axis=0)
    return A / np.percentile(peak[peak > 1e-3 * peak.max()], 90)


@pytest.mark.parametrize("beta", [0.0, 1.0, 2.0])
def test_beta_matches_the_kernel(dictionary, signal, beta):
    solver = _solver_params(TranscribeOptions(beta=beta, adapt=False, floor_octaves=0))
    got = transcribe_signal(signal, dictionary, solver).activations
    # the solver's over-relaxed step (1.75) is for KL only
    ref = _kernel_activations(signal, dictionary, beta=beta, n_iter=solver.n_iter,
                              gamma=1.75 if beta == 1.0 else None)
    np.testing.assert_allclose(got, ref, rtol=2e-3, atol=2e-4)


def test_beta_changes_the_solution(dictionary, signal):
    results = [transcribe_signal(signal, dictionary, _solver_params(TranscribeOptions(beta=b))).activations
               for b in (0.0, 2.0)]
    assert np.abs(results[0] - results[1]).max() > 0.05


def test_tol_matches_the_kernel_and_stops_early(dictionary, signal):
    solver = _solver_params(TranscribeOptions(tol=1e-3, iterations=300, adapt=False, floor_octaves=0))
    got = transcribe_signal(signal, dictionary, solver).activations
    ref = _kernel_activations(signal, dictionary, beta=1.0, n_iter=300, tol=1e-3, gamma=1.75)
    np.testing.assert_allclose(got, ref, rtol=2e-3, atol=2e-4)
    full = _kernel_activations(signal, dictionary, beta=1.0, n_iter=300, gamma=1.75)
    assert np.abs(full - ref).max() > 1e-3  # it did stop before 300 updates


def test_no_adapt_keeps_w_fixed(dictionary, signal):
    fixed = transcribe_signal(signal, dictionary, _solver_params(TranscribeOptions(adapt=False))).activations
    adapted = transcribe_signal(signal, dictionary, _solver_params(TranscribeOptions())).activations
    assert np.abs(fixed - adapted).max() > 1e-3


def test_sparsity_leaves_exact_zeros(dictionary, signal):
    dense = transcribe_signal(signal, dictionary, _solver_params(TranscribeOptions())).activations
    sparse = transcribe_signal(signal, dictionary, _solver_params(TranscribeOptions(sparsity=0.2))).activations
    live = dense > 0  # (silent frames are zero anyway)
    assert live.mean() > 0.5
    assert np.mean(sparse[live] == 0) > 0.3
    # the notes' own pitches keep their activation
    assert sparse.max() > 0.5


_RANGE_CASES = [
    (["--beta", "3"], "--beta must be between 0 (Itakura-Saito) and 2 (Euclidean), got 3"),
    (["--beta", "-1"], "--beta must be between 0 (Itakura-Saito) and 2 (Euclidean), got -1"),
    (["--tol", "1"], "--tol must be at least 0 and below 1"),
    (["--tol", "-0.01"], "--tol must be at least 0 and below 1"),
    (["--sparsity", "1"], "--sparsity must be at least 0 and below 1"),
    (["--sparsity", "-0.5"], "--sparsity must be at least 0 and below 1"),
]


@pytest.mark.parametrize("command, args, message", [
    (command, args, message) for command in ("transcribe", "evaluate", "learn") for args, message in _RANGE_CASES
    if command != "learn" or args[0] == "--beta"  # learn takes --beta only
])
def test_out_of_range_is_a_one_line_usage_error(tmp_path, args, message, command):
    audio = tmp_path / "a.wav"
    sf.write(audio, np.zeros(SR, dtype=np.float32), SR)
    argv = {"transcribe": ["transcribe", str(audio), "-o", str(tmp_path / "a.mid")],
            "evaluate": ["evaluate", str(tmp_path), "-W", "piano"],
            "learn": ["learn", "--harmonic", "-o", str(tmp_path / "h.npz")]}[command]
    result = runner.invoke(app, argv + args)
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0]
    assert not (tmp_path / "a.mid").exists() and not (tmp_path / "h.npz").exists()


def test_the_beta_range_is_the_same_in_the_python_api():
    from nmftrans.errors import NmftransError
    from nmftrans.learn import learn_harmonic
    from nmftrans.transcribe import SolverParams

    for make in (lambda: SolverParams(beta=2.5), lambda: learn_harmonic((60, 62), beta=-1.0)):
        with pytest.raises(NmftransError, match="^beta must be between 0"):
            make()
    SolverParams(beta=0.5)
    learn_harmonic((60, 62), beta=2.0)


@pytest.mark.parametrize("make, setting", [
    (lambda: __import__("nmftrans.core.notes", fromlist=["NoteParams"]).NoteParams(onset_threshold=-5), "onset_threshold"),
    (lambda: __import__("nmftrans.core.notes", fromlist=["NoteParams"]).NoteParams(frame_threshold=float("nan")), "frame_threshold"),
    (lambda: __import__("nmftrans.core.notes", fromlist=["NoteParams"]).NoteParams(lowest=90, highest=80), "lowest"),
    (lambda: __import__("nmftrans.core.notes", fromlist=["NoteParams"]).NoteParams(release_slow_db=-6), "release_slow_db"),
    (lambda: __import__("nmftrans.core.notes", fromlist=["NoteParams"]).NoteParams(release_slow_db=float("nan")), "release_slow_db"),
    (lambda: __import__("nmftrans.core.notes", fromlist=["NoteParams"]).NoteParams(release_slow_s=-0.1), "release_slow_s"),
    (lambda: __import__("nmftrans.transcribe", fromlist=["SolverParams"]).SolverParams(floor_octaves=-1), "floor_octaves"),
    (lambda: __import__("nmftrans.transcribe", fromlist=["SolverParams"]).SolverParams(n_iter=0), "n_iter"),
])
def test_the_python_api_checks_its_settings_in_its_own_words(make, setting):
    """The settings objects validate themselves (for the CLI and the Python API alike) and name the
    setting as Python does: no command-line words below the CLI."""
    from nmftrans.errors import SettingError

    with pytest.raises(SettingError) as err:
        make()
    assert err.value.setting == setting and str(err.value).startswith(setting + " ") and "--" not in str(err.value)


@pytest.mark.parametrize("argv, message", [
    (["evaluate", "{d}", "-W", "piano", "--onset-threshold", "-5"], "error: --onset-threshold must be 0 or more"),
    (["transcribe", "{a}", "-o", "{d}/x.mid", "--iterations", "0"], "error: --iterations must be at least 1"),
    (["align", "{a}", "{d}/s.csv", "-o", "{d}/x.csv", "--before", "0"], "error: --before must be above 0"),
])
def test_the_cli_names_the_option_of_a_setting_the_core_refuses(tmp_path, argv, message):
    """``evaluate DATASET --onset-threshold -5`` was not checked at all; now every entry point
    meets the same check, and the CLI shows the option's name."""
    audio = tmp_path / "a.wav"
    sf.write(audio, np.zeros(2205, dtype=np.float32), 22050)
    (tmp_path / "s.csv").write_text("onset,offset,pitch\n0.1,0.2,60\n")
    args = [a.format(d=tmp_path, a=audio) for a in argv]
    result = runner.invoke(app, args)
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(message), lines


def test_a_setting_error_survives_a_worker_process():
    """-j and dask send a file's error back pickled: the setting's name must come with it."""
    import pickle

    from nmftrans.errors import SettingError

    back = pickle.loads(pickle.dumps(SettingError("time_range", "starts at 100 s, after the end (3.41 s)")))
    assert isinstance(back, SettingError) and back.setting == "time_range"
    assert str(back) == "time_range starts at 100 s, after the end (3.41 s)"


def test_floor_spacing_comes_from_the_solver_then_the_dictionary_then_two_octaves(dictionary):
    """SolverParams.floor_octaves None (the default) takes the dictionary's spacing (the shipped guitar
    stores 0.25), else 2 octaves; an explicit value (CLI --floor-octaves) wins. The count of floor
    templates is the docstring's 1 + floor(octaves spanned / spacing), from the bin frequencies."""
    import dataclasses

    from nmftrans.core.features import frequencies
    from nmftrans.transcribe import SolverParams, solver_templates

    f = frequencies(dictionary.settings)
    span = np.log2(f[-1] / f[0])
    K = dictionary.W.shape[1]

    def n_floor(d, solver=SolverParams()):
        return solver_templates(d, solver).shape[1] - K

    narrow = dataclasses.replace(dictionary, floor_octaves=0.25)
    assert dictionary.floor_octaves is None
    assert n_floor(dictionary) == 1 + int(span // 2)
    assert n_floor(narrow) == 1 + int(span // 0.25) > n_floor(dictionary)
    assert n_floor(narrow, SolverParams(floor_octaves=2.0)) == 1 + int(span // 2)
    assert n_floor(narrow, SolverParams(floor_octaves=0)) == 0
    # and the solve uses them: a narrow-floor dictionary gives other activations on the same audio
    y = render(example_notes(np.random.default_rng(5), pitches=PITCHES, n=6, spacing=0.3))
    a = transcribe_signal(y, dictionary).activations
    b = transcribe_signal(y, narrow).activations
    c = transcribe_signal(y, narrow, SolverParams(floor_octaves=2.0)).activations
    assert np.abs(a - b).max() > 1e-3 and np.array_equal(a, c)
