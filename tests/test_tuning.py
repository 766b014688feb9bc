"""Tuning: a recording tuned away from A440 is read (its spectral peaks against the semitone grid)
and, beyond the spread of in-tune instruments, brought back before it is analysed."""

import subprocess
import sys

import mir_eval
import numpy as np
import pytest
import soundfile as sf

from nmftrans.core.tuning import DEAD_CENTS, FULL_CENTS, MIN_PEAKS, MIN_STRENGTH, estimate_tuning, tuning_correction
from nmftrans.errors import SettingError
from nmftrans.transcribe import SolverParams, transcribe_file, transcribe_signal
from tests.synth import SR, example_notes, render, tone_dictionary

PITCHES = range(52, 72)


@pytest.fixture(scope="module")
def dictionary(tmp_path_factory):
    return tone_dictionary(tmp_path_factory.mktemp("isolated"), PITCHES)


@pytest.fixture(scope="module")
def piano():
    from nmftrans.io.dictionary import load_dictionary

    return load_dictionary("piano")  # shipped: its templates are a real piano's, which detuning misleads


@pytest.fixture(scope="module")
def notes():
    # 8 s: a time mapping off by the 2.3 % of 40 cents would put the last onsets 0.18 s late
    return example_notes(np.random.default_rng(11), pitches=PITCHES, n=44, spacing=0.36)


def onset_f(ref: np.ndarray, est: np.ndarray) -> float:
    """mir_eval's note-onset F-measure (50 ms), offsets ignored."""
    if len(est) == 0:
        return 0.0
    hz = lambda p: 440.0 * 2 ** ((np.asarray(p, float) - 69) / 12)  # noqa: E731
    return mir_eval.transcription.precision_recall_f1_overlap(
        ref[:, :2], hz(ref[:, 2]), est[:, :2], hz(est[:, 2]), offset_ratio=None)[2]


@pytest.mark.parametrize("cents", [-40.0, -25.0, -10.0, 0.0, 17.0, 33.0, 45.0])
def test_the_reading_is_the_offset_the_tones_were_made_with(notes, cents):
    y = render(notes, cents=cents)
    reading, strength, n_peaks = estimate_tuning(y, SR)
    assert reading == pytest.approx(cents, abs=2.0)
    assert strength > 0.5 and n_peaks >= MIN_PEAKS


def test_noise_and_silence_give_no_reading_to_correct(rng):
    noise = rng.standard_normal(10 * SR).astype(np.float32) * 0.1
    reading, strength, n_peaks = estimate_tuning(noise, SR)
    assert strength < MIN_STRENGTH
    assert tuning_correction(reading, strength, n_peaks) == 0.0
    assert estimate_tuning(np.zeros(10 * SR, np.float32), SR) == (0.0, 0.0, 0)
    assert estimate_tuning(np.zeros(100, np.float32), SR) == (0.0, 0.0, 0)  # shorter than a window


def test_mains_hum_does_not_move_the_reading(notes, rng):
    t = np.arange(int(12 * SR)) / SR
    hum = sum(a * np.sin(2 * np.pi * 50.0 * k * t + rng.uniform(0, 2 * np.pi))
              for k, a in [(1, 1.0), (2, 0.5), (3, 0.7), (4, 0.2), (5, 0.3), (7, 0.1)]).astype(np.float32)
    music = render(notes, cents=-6.0)
    hum *= 0.3 * np.sqrt(np.mean(music**2) / np.mean(hum**2))  # 10 dB under the music
    clean = estimate_tuning(music, SR)[0]
    with_hum = estimate_tuning(music + hum[: len(music)], SR)
    assert with_hum[0] == pytest.approx(clean, abs=1.5)  # 50 Hz hum alone reads +32.5 cents
    assert tuning_correction(*with_hum) == 0.0
    alone = estimate_tuning(hum, SR)
    assert tuning_correction(*alone) == 0.0  # steady peaks are not read


def test_only_readings_beyond_the_spread_of_in_tune_instruments_are_corrected():
    assert (DEAD_CENTS, FULL_CENTS) == (12.0, 24.0)
    strong = dict(strength=0.8, n_peaks=1000)
    assert tuning_correction(10.0, **strong) == 0.0
    assert tuning_correction(-12.0, **strong) == 0.0
    assert tuning_correction(18.0, **strong) == 12.0  # half way up the ramp: 24 * 6 / 12
    assert tuning_correction(-15.0, **strong) == -6.0
    assert tuning_correction(24.0, **strong) == 24.0
    assert tuning_correction(-37.3, **strong) == -37.3
    assert tuning_correction(37.3, strength=0.1, n_peaks=1000) == 0.0  # a weak reading
    assert tuning_correction(37.3, strength=0.9, n_peaks=10) == 0.0  # too few peaks


@pytest.mark.parametrize("cents", [40.0, -40.0])
def test_a_detuned_piece_is_transcribed_as_if_in_tune(piano, notes, cents):
    dictionary = piano
    in_tune = onset_f(notes, transcribe_signal(render(notes), dictionary).notes)
    y = render(notes, cents=cents)
    result = transcribe_signal(y, dictionary)
    as_it_is = transcribe_signal(y, dictionary, SolverParams(tuning=0))
    assert result.tuning_cents == pytest.approx(cents, abs=2.0)
    assert as_it_is.tuning_cents == 0.0
    assert in_tune >= 0.9
    assert onset_f(notes, result.notes) >= in_tune - 0.03  # note times back on the recording's clock
    assert onset_f(notes, as_it_is.notes) < in_tune - 0.05
    assert result.frame_rate == pytest.approx(dictionary.settings.frame_rate * 2 ** (result.tuning_cents / 1200))
    assert any("cents" in w and "A440" in w for w in result.warnings)


def test_a_given_tuning_is_used_as_given(dictionary, notes):
    y = render(notes, cents=30.0)
    auto = transcribe_signal(y, dictionary)
    given = transcribe_signal(y, dictionary, SolverParams(tuning=auto.tuning_cents))
    np.testing.assert_array_equal(auto.notes, given.notes)
    assert not given.warnings  # asked for: nothing to say
    slight = transcribe_signal(render(notes, cents=8.0), dictionary)
    assert slight.tuning_cents == 0.0 and not slight.warnings  # within the spread of in-tune instruments


def test_file_and_signal_agree_on_a_detuned_recording(dictionary, notes, tmp_path):
    y = render(notes, cents=-30.0)
    path = tmp_path / "flat.wav"
    sf.write(path, y, SR)
    whole = transcribe_signal(y, dictionary)
    for keep in (True, False):
        streamed = transcribe_file(path, dictionary, keep_activations=keep)
        assert streamed.tuning_cents == whole.tuning_cents != 0.0
        assert streamed.notes.shape == whole.notes.shape
        np.testing.assert_allclose(streamed.notes[:, :2], whole.notes[:, :2], atol=2e-3)
        np.testing.assert_array_equal(streamed.notes[:, 2], whole.notes[:, 2])
    in_tune = tmp_path / "in_tune.wav"
    sf.write(in_tune, render(notes), SR)
    assert transcribe_file(in_tune, dictionary).tuning_cents == 0.0


def test_a_recording_that_opens_with_noise_is_read_on_its_music(dictionary, notes, tmp_path, rng):
    from nmftrans.core.tuning import TUNING_S

    lead = (rng.standard_normal(int((TUNING_S + 3) * SR)) * 0.003).astype(np.float32)  # room noise, -50 dBFS
    y = np.concatenate([lead, render(notes, cents=-30.0)])
    later = notes.copy()
    later[:, :2] += len(lead) / SR
    path = tmp_path / "late.wav"
    sf.write(path, y, SR)
    streamed = transcribe_file(path, dictionary)
    whole = transcribe_signal(y, dictionary)
    assert streamed.tuning_cents == whole.tuning_cents == pytest.approx(-30.0, abs=2.5)
    assert onset_f(later, streamed.notes) >= 0.9
    np.testing.assert_array_equal(streamed.notes[:, 2], whole.notes[:, 2])


def test_the_reading_is_the_same_however_the_signal_arrives_and_stops_at_its_limit(notes, rng):
    from nmftrans.core.tuning import MAX_TUNING_S, TUNING_S, TuningReader, is_clear

    music = render(notes, cents=35.0)
    lead = (rng.standard_normal(int(TUNING_S * SR * 1.5)) * 0.003).astype(np.float32)
    y = np.concatenate([lead, music])
    whole = estimate_tuning(y, SR)
    assert whole[0] == pytest.approx(35.0, abs=2.0) and is_clear(whole)
    assert not is_clear(estimate_tuning(lead, SR))  # the noise alone: no tuning
    reader = TuningReader(SR)
    cuts = np.cumsum(rng.integers(1, 3 * SR, 400))
    for piece in np.split(y, cuts[cuts < len(y)]):
        reader.feed(piece)
    assert reader.finish() == whole
    silence = np.zeros(int(MAX_TUNING_S * SR), np.float32)  # the music starts after the limit: not read
    late = estimate_tuning(np.concatenate([silence, music]), SR)
    assert not is_clear(late) and tuning_correction(*late) == 0.0


@pytest.mark.parametrize("bad", [60.0, -50.5, float("nan"), "sharp"])
def test_a_tuning_outside_a_quarter_tone_is_refused(bad):
    with pytest.raises(SettingError, match="tuning"):
        SolverParams(tuning=bad)


def test_cli_reads_corrects_and_retracks_a_detuned_recording(notes, tmp_path):
    sf.write(tmp_path / "sharp.wav", render(notes, cents=45.0), SR)
    cmd = [sys.executable, "-m", "nmftrans", "transcribe"]  # the shipped piano dictionary

    def notes_of(csv_text: str) -> np.ndarray:
        rows = [line.split(",") for line in csv_text.strip().splitlines()[1:]]
        return np.array([[float(a), float(b), float(p), float(v)] for a, b, p, v in rows])

    auto = subprocess.run(cmd + [str(tmp_path / "sharp.wav"), "-o", str(tmp_path / "sharp.mid"), "--csv",
                                 "--save-activations"], capture_output=True, text=True)
    assert auto.returncode == 0, auto.stderr
    assert "sharp of A440: brought" in auto.stderr and "cents down" in auto.stderr
    est = notes_of((tmp_path / "sharp.csv").read_text())
    assert onset_f(notes, est) >= 0.9
    kept = subprocess.run(cmd + [str(tmp_path / "sharp.wav"), "-o", "-", "--tuning", "0"], capture_output=True,
                          text=True)
    assert kept.returncode == 0 and "A440" not in kept.stderr
    assert onset_f(notes, notes_of(kept.stdout)) < onset_f(notes, est) - 0.1
    retracked = subprocess.run([sys.executable, "-m", "nmftrans", "transcribe", "--activations",
                                str(tmp_path / "sharp.activations.npz"), "-o", "-"], capture_output=True, text=True)
    assert retracked.returncode == 0, retracked.stderr
    assert onset_f(notes, notes_of(retracked.stdout)) >= 0.9  # the saved frames keep the recording's clock
    for bad in ("sharp", "99"):
        refused = subprocess.run(cmd + [str(tmp_path / "sharp.wav"), "-o", "-", "--tuning", bad],
                                 capture_output=True, text=True)
        assert refused.returncode == 2 and "--tuning" in refused.stderr
        assert len(refused.stderr.strip().splitlines()) == 1 and "Traceback" not in refused.stderr


def test_evaluate_dataset_corrects_unless_told_and_est_ref_refuses_the_option(notes, tmp_path):
    import json

    from typer.testing import CliRunner

    from nmftrans.cli import app
    from nmftrans.io.midi import notes_to_csv

    data = tmp_path / "data"
    data.mkdir()
    sf.write(data / "sharp.wav", render(notes, cents=45.0), SR)
    (data / "sharp.csv").write_text(notes_to_csv(notes))
    runner = CliRunner()
    scores = {}
    for given in ([], ["--tuning", "0"]):
        out = tmp_path / f"r{len(given)}.json"
        result = runner.invoke(app, ["evaluate", str(data), "-W", "piano", "--json", str(out), *given])
        assert result.exit_code == 0, result.output
        scores[tuple(given)] = json.loads(out.read_text())["files"][0]["onset_f"]
    assert scores[()] >= 0.9 and scores[("--tuning", "0")] < scores[()] - 0.1
    refused = runner.invoke(app, ["evaluate", str(data / "sharp.csv"), str(data / "sharp.csv"), "--tuning", "0"])
    assert refused.exit_code == 2 and "--tuning" in refused.output


@pytest.fixture(scope="module")
def sharp_dictionary(tmp_path_factory):
    """Learned from isolated tones of an instrument tuned 20 cents sharp."""
    from nmftrans.learn import learn_from_sources
    from tests.synth import write_isolated

    folder = tmp_path_factory.mktemp("sharp")
    write_isolated(folder, range(40, 90), cents=20.0, duration=1.5)
    return learn_from_sources([folder])[0]


def test_learn_stores_the_tuning_of_its_notes(sharp_dictionary, dictionary):
    from nmftrans.transcribe import dictionary_tuning

    assert sharp_dictionary.provenance["tuning_cents"] == pytest.approx(20.0, abs=2.0)
    assert dictionary.provenance["tuning_cents"] == pytest.approx(0.0, abs=2.0)  # the in-tune tones
    assert dictionary_tuning(sharp_dictionary) == sharp_dictionary.provenance["tuning_cents"]
    assert dictionary_tuning(dictionary) == 0.0  # within the dead zone: A440


@pytest.mark.parametrize("stored", [None, "sharp", True, 99.0, 8.0])
def test_a_missing_odd_or_small_stored_tuning_means_a440(dictionary, stored):
    from dataclasses import replace

    from nmftrans.transcribe import dictionary_tuning

    provenance = {k: v for k, v in dictionary.provenance.items() if k != "tuning_cents"}
    if stored is not None:
        provenance["tuning_cents"] = stored
    assert dictionary_tuning(replace(dictionary, provenance=provenance)) == 0.0


def test_recordings_are_brought_to_the_dictionarys_own_tuning(sharp_dictionary, notes):
    same = transcribe_signal(render(notes, cents=20.0), sharp_dictionary)
    assert same.tuning_cents == 0.0 and not same.warnings  # played on the instrument it was learned from
    in_tune = transcribe_signal(render(notes), sharp_dictionary)  # an A440 recording: flat of the dictionary
    assert in_tune.tuning_cents < -12.0
    assert any("dictionary's tuning" in w for w in in_tune.warnings)
    assert onset_f(notes, in_tune.notes) >= 0.9


def test_show_says_which_tuning_recordings_are_brought_to(sharp_dictionary, dictionary, tmp_path):
    from typer.testing import CliRunner

    from nmftrans.cli import app
    from nmftrans.io.dictionary import save_dictionary

    lines = {}
    for name, d in (("sharp", sharp_dictionary), ("in_tune", dictionary)):
        save_dictionary(d, tmp_path / f"{name}.npz")
        out = CliRunner().invoke(app, ["show", str(tmp_path / f"{name}.npz")])
        assert out.exit_code == 0, out.output
        lines[name] = [line for line in out.output.splitlines() if line.startswith("tuning")]
    stored = sharp_dictionary.provenance["tuning_cents"]
    assert lines["sharp"] == [f"tuning       its notes read {stored} cents from A440: recordings are brought to "
                              f"A440 {stored:+.1f} cents"]
    assert len(lines["in_tune"]) == 1 and lines["in_tune"][0].endswith("recordings are brought to A440")


@pytest.mark.parametrize("method", ["informed", "fixed"])
def test_learn_from_labelled_audio_stores_its_tuning(notes, tmp_path, method):
    from nmftrans.io.midi import notes_to_csv
    from nmftrans.learn import learn_from_sources

    for name, cents in (("sharp", 20.0), ("in_tune", 0.0)):
        folder = tmp_path / name
        folder.mkdir()
        sf.write(folder / "piece.wav", render(notes, cents=cents), SR)
        (folder / "piece.csv").write_text(notes_to_csv(notes))
        d, _ = learn_from_sources([folder], method=method, iterations=2)
        assert d.provenance["tuning_cents"] == pytest.approx(cents, abs=2.0), name
