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
