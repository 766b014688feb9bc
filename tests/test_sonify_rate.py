"""`--sonify` writes the sonification at the input's sample rate and length (issue 23), so that it
lines up with the input sample for sample; it was written at the dictionary's rate (22050 Hz) and
as long as the notes plus half a second."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf
from scipy.signal import resample_poly
from typer.testing import CliRunner

from nmftrans.cli import app
from nmftrans.io.dictionary import load_dictionary
from nmftrans.io.sonify import sonify_notes

runner = CliRunner()


def _tone(sr: int, n: int, f0: float, start_s: float, stop_s: float) -> np.ndarray:
    t = np.arange(n) / sr
    on = (t >= start_s) & (t < stop_s)
    y = sum(np.sin(2 * np.pi * m * f0 * t) / m for m in range(1, 8)) * np.exp(-2 * (t - start_s))
    return np.where(on, y, 0.0)


@pytest.mark.parametrize("sr, n, ratio", [(44100, 57_331, (1, 2)), (48000, 62_401, (147, 320)), (16000, 20_011, (441, 320))])
def test_sonification_has_the_inputs_rate_and_length(tmp_path, monkeypatch, sr, n, ratio):
    from nmftrans.io import sonify

    seen = []  # the notes as the CLI hands them to the mixer (the CSV rounds them)
    mix = sonify._mix_blocks
    monkeypatch.setattr(sonify, "_mix_blocks", lambda notes, *a, **k: (seen.append(np.array(notes)), mix(notes, *a, **k))[1])
    y = 0.3 * (_tone(sr, n, 261.63, 0.1, 0.6) + _tone(sr, n, 392.0, 0.65, 1.2))
    source = tmp_path / "in.wav"
    sf.write(source, y.astype(np.float32), sr, subtype="FLOAT")
    done = runner.invoke(app, ["transcribe", str(source), "-o", str(tmp_path / "in.mid"), "--sonify"])
    assert done.exit_code == 0, done.output
    info = sf.info(str(tmp_path / "in.sonify.wav"))
    assert (info.samplerate, info.frames) == (sr, n)

    # The content is the dictionary-rate rendering of the same notes, resampled: bring the file
    # back to 22050 Hz with scipy's polyphase resampler and compare with sonify_notes.
    notes = seen[0]
    assert {int(p) for p in notes[:, 2]} >= {60, 67}
    d = load_dictionary("piano")
    written, _ = sf.read(str(tmp_path / "in.sonify.wav"), dtype="float64")
    back = resample_poly(written, *ratio)
    reference = sonify_notes(notes, d, duration=n / sr).astype(np.float64)
    m = min(len(back), len(reference)) - 200  # resamplers' edges aside
    a, b = back[100:m], reference[100:m]
    assert abs(len(reference) - n * 22050 / sr) <= 1
    assert np.corrcoef(a, b)[0, 1] > 0.995
    assert np.abs(a - b).max() < 0.02 * np.abs(b).max()


def test_without_the_input_the_dictionary_rate_and_the_notes_length_stay(tmp_path):
    from nmftrans.io.sonify import TAIL_S, write_sonification

    d = load_dictionary("piano")
    notes = np.array([[0.1, 0.5, 60, 100]])
    write_sonification(tmp_path / "x.wav", notes, d)
    info = sf.info(str(tmp_path / "x.wav"))
    assert (info.samplerate, info.frames) == (22050, int(round((0.5 + TAIL_S) * 22050)))
    write_sonification(tmp_path / "y.wav", notes, d, sample_rate=8000, n_samples=4001)
    info = sf.info(str(tmp_path / "y.wav"))
    assert (info.samplerate, info.frames) == (8000, 4001)
