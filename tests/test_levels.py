"""Per-frame normalisation (nmftrans.core.levels): no notes without music, quiet passages kept, and the
same notes at any input level. Generated signals and the shipped dictionaries only."""

import functools
import json

import numpy as np
import pytest
import soundfile as sf

from nmftrans.io.dictionary import load_dictionary
from nmftrans.core.levels import LevelParams, frame_gains, frame_levels, normalise_frames
from nmftrans.core.metrics import evaluate_notes
from nmftrans.transcribe import transcribe_signal
from tests.synth import SR, example_notes, render

FR = 50.0  # frames per second of the hand-made level tracks


@pytest.fixture(scope="module")
def piano():
    return load_dictionary("piano")


def _at(y, dbfs):
    return (y * 10 ** (dbfs / 20) / np.sqrt(np.mean(np.square(y, dtype=np.float64)))).astype(np.float32)


def test_frame_levels_are_the_peak_and_the_carpet():
    A = np.arange(12, dtype=np.float32).reshape(4, 3)[::-1].copy()  # columns 9,6,3,0 / 10,7,4,1 / ...
    peak, carpet = frame_levels(A)
    np.testing.assert_array_equal(peak, [9, 10, 11])
    np.testing.assert_array_equal(carpet, [3, 4, 5])  # 4 pitches: the median, rank int(0.5 * 3) = 1 from the bottom


@pytest.mark.parametrize("n_pitches, index", [(88, 65), (49, 36), (29, 16), (25, 12), (13, 6), (2, 0), (1, 0)])
def test_the_carpet_has_a_quarter_of_the_pitches_and_at_least_12_above_it_down_to_the_median(n_pitches, index):
    A = np.arange(n_pitches, dtype=np.float32)[::-1, None] * np.ones((1, 3), dtype=np.float32)  # row i: n - 1 - i
    peak, carpet = frame_levels(A)
    np.testing.assert_array_equal(peak, n_pitches - 1)
    np.testing.assert_array_equal(carpet, index)  # the value at rank ``index`` from the bottom is ``index``


def test_music_gets_one_over_its_reference_and_noise_gets_nothing():
    n = int(12 * FR)
    carpet = np.ones(n)
    music = frame_gains(np.full(n, 100.0), carpet, FR)  # peaks 100x the carpet: music
    np.testing.assert_allclose(music, 1 / 100, rtol=1e-6)
    noise = frame_gains(np.full(n, 10.0), carpet, FR)  # 10x: noise
    np.testing.assert_array_equal(noise, 0)
    between = frame_gains(np.full(n, 20.0), carpet, FR)  # music ratio halfway between 18 and 22
    np.testing.assert_allclose(between, 0.5 / 20, rtol=1e-6)  # (80x the carpet is above the file's)


def test_a_quieter_passage_is_judged_against_its_own_level():
    n = int(20 * FR)
    peak = np.where(np.arange(n) < n // 2, 100.0, 25.0)
    gain = frame_gains(peak, peak / 100, FR, LevelParams(segment_s=2.0, context=1, min_relative=0.1))
    np.testing.assert_allclose(gain[: int(6 * FR)], 1 / 100, rtol=1e-6)   # away from the change
    np.testing.assert_allclose(gain[-int(6 * FR):], 1 / 25, rtol=1e-6)
    whole = frame_gains(peak, peak / 100, FR, LevelParams(min_relative=1.0))
    np.testing.assert_allclose(whole, 1 / 100, rtol=1e-6)  # the per-file reference
    floor = frame_gains(peak, peak / 100, FR, LevelParams(min_relative=0.5))
    np.testing.assert_allclose(floor[-int(6 * FR):], 1 / 50, rtol=1e-6)  # not below half the file's
    mild = frame_gains(np.where(peak > 50, 100.0, 100 * np.sqrt(0.18)), peak / 100, FR)
    # 0.42 of the file: the geometric middle of the knee (0.3 ... 0.6) gets the middle of 0.3 ... 1
    np.testing.assert_allclose(mild[-int(6 * FR):], 1 / (100 * np.sqrt(0.3)), rtol=1e-5)
    noisy = frame_gains(peak, np.full(len(peak), 0.5), FR)  # quiet half's carpet: 50x below its peaks
    np.testing.assert_allclose(noisy[-int(6 * FR):], 1 / 40, rtol=1e-6)  # not below 80x the carpet


def test_gains_scale_exactly_with_the_level():
    rng = np.random.default_rng(3)
    peak = rng.uniform(20, 200, 700)
    carpet = rng.uniform(0.5, 1.5, 700)
    a = frame_gains(peak, carpet, FR)
    b = frame_gains(peak * 0.01, carpet * 0.01, FR)
    np.testing.assert_allclose(b * 0.01, a, rtol=1e-5)


def test_sparse_clicks_over_a_quiet_room_are_not_music():
    """Clicks in 3 of every 10 frames: their peaks are 100x the room's carpet, but only 10x their
    own frames' carpet (a click lights up every pitch). Music's loud frames keep a low carpet."""
    n = int(12 * FR)
    click = (np.arange(n) % 10) < 3
    peak = np.where(click, 100.0, 2.0)
    clicks = frame_gains(peak, np.where(click, 10.0, 1.0), FR)
    np.testing.assert_array_equal(clicks, 0)
    off = frame_gains(peak, np.where(click, 10.0, 1.0), FR, LevelParams(loud_carpet=0))
    np.testing.assert_allclose(off, 1 / 100, rtol=1e-6)  # without the loud frames' carpet: music
    notes = frame_gains(peak, np.where(click, 3.0, 1.0), FR)  # notes: 33x their frames' carpet
    np.testing.assert_allclose(notes, 1 / 100, rtol=1e-6)
    # the loud frames' carpet counts at 0.8: 20x of it is 25x (music), 16x is 20x (half way)
    np.testing.assert_allclose(frame_gains(peak, np.where(click, 5.0, 1.0), FR), 1 / 100, rtol=1e-6)
    np.testing.assert_allclose(frame_gains(peak, np.where(click, 6.25, 1.0), FR), 0.5 / 100, rtol=1e-6)


def test_sparse_notes_over_a_quiet_room_are_music_judged_by_their_own_level():
    """Notes in 4 % of the frames (every 25th): the 90th percentile of the peaks is the room's, 8x
    its carpet (noise); the loudest 1 % of frames stand 250x above their own carpet (music), and
    half their level becomes the reference."""
    n = int(12 * FR)
    note = np.arange(n) % 25 == 0
    peak = np.where(note, 500.0, 8.0)
    gain = frame_gains(peak, np.where(note, 2.0, 1.0), FR)
    np.testing.assert_allclose(gain, 1 / 250, rtol=1e-6)
    off = LevelParams(sparse_quantile=1.0)  # the loudest frames not read apart: the room's verdict
    np.testing.assert_array_equal(frame_gains(peak, np.where(note, 2.0, 1.0), FR, off), 0)
    # bursts (each lights every pitch of its frames: 25x their own carpet, below 40) stay noise
    np.testing.assert_array_equal(frame_gains(peak, np.where(note, 20.0, 1.0), FR), 0)
    # 50x their carpet: half way between sparse_ratio_off (40) and sparse_ratio_on (60)
    np.testing.assert_allclose(frame_gains(peak, np.where(note, 10.0, 1.0), FR), 0.5 / 250, rtol=1e-6)


@pytest.mark.parametrize("name", ["piano", "guitar"])
def test_a_note_every_three_seconds_in_a_quiet_room_is_found(name, monkeypatch):
    """Six 0.1 s tones 3 s apart over white noise 60 dB under their peak: measured onset F 0.923
    (piano: one extra note) and 1.000 (guitar); 0.000 without the loudest frames read apart."""
    d = load_dictionary(name)
    rng = np.random.default_rng(0)
    notes = np.array([(0.5 + 3.0 * i, 0.6 + 3.0 * i, float(rng.integers(50, 80)), float(rng.integers(60, 110)))
                      for i in range(6)])
    y = render(notes)
    y = y + (1e-3 * np.abs(y).max() * rng.standard_normal(len(y))).astype(np.float32)
    assert evaluate_notes(notes, transcribe_signal(y, d).notes)["onset_f"] >= 0.9
    dense_only = functools.partial(frame_gains, params=LevelParams(sparse_quantile=1.0))
    monkeypatch.setattr("nmftrans.transcribe.frame_gains", dense_only)
    assert evaluate_notes(notes, transcribe_signal(y, d).notes)["onset_f"] < 0.1


def _keystrokes(rng, count, floor_dbfs=-54.0):
    """4 s of noise bursts (0.5-4 ms decays) at random times over a quiet white-noise room."""
    n = 4 * SR
    y = rng.standard_normal(n) * 10 ** (floor_dbfs / 20)
    for start in rng.integers(0, n - SR // 20, count):
        k = np.arange(SR // 30)
        y[start:start + len(k)] += (0.3 * rng.uniform(0.3, 1.0) * rng.standard_normal(len(k))
                                    * np.exp(-k / (rng.uniform(0.0005, 0.004) * SR)))
    return y.astype(np.float32)


@pytest.mark.parametrize("count", [10, 25])
def test_keystrokes_over_a_quiet_room_give_no_notes(piano, count):
    y = _keystrokes(np.random.default_rng(count), count)
    assert len(transcribe_signal(y, piano).notes) == 0


def _nonmusic(rng):
    n = 4 * SR
    t = np.arange(n) / SR
    hum = sum(a * np.sin(2 * np.pi * 50 * k * t) for k, a in [(1, 1.0), (2, 0.5), (3, 0.7), (5, 0.3)])
    clicks = np.zeros(n, dtype=np.float32)
    clicks[rng.integers(0, n - 3, 30)] = 0.8
    brown = np.cumsum(rng.standard_normal(n))
    brown -= np.convolve(brown, np.ones(2001) / 2001, mode="same")  # no drift
    return {**{f"white {lv}": _at(rng.standard_normal(n), lv) for lv in (-60, -40, -20)},
            "brown -45": _at(brown, -45), "clicks": clicks, "near-empty": np.float32([0.1, -0.1, 0.05, 0, 0, 0, 0, 0]),
            "hum -30": _at(hum, -30)}


@pytest.mark.parametrize("name", ["piano", "guitar"])
def test_noise_clicks_and_a_near_empty_file_give_no_notes(name):
    d = load_dictionary(name)
    signals = _nonmusic(np.random.default_rng(0))  # the hum: no notes from nmftrans.core.motion's gate
    counts = {k: len(transcribe_signal(y, d).notes) for k, y in signals.items()}
    assert counts == {k: 0 for k in signals}


NARROW = np.arange(48, 73)  # two octaves: 25 pitches


def _chords(rng, n, sizes=(4, 7), step=0.6, length=0.55):
    """``n`` chords of 4-6 notes of ``NARROW``, one every ``step`` seconds."""
    rows, t = [], 0.3
    for size in rng.integers(*sizes, n):
        for p in rng.choice(NARROW, size=size, replace=False):
            rows.append((t, t + length, float(p), float(rng.integers(70, 110))))
        t += step
    return np.array(rows)


@pytest.fixture(scope="module")
def narrow(tmp_path_factory):
    """A two-octave dictionary learned with H = Y (``method="fixed"``) from 30 labelled chords:
    its templates smear over the pitches sounding with their own."""
    from nmftrans.io.midi import notes_to_csv
    from nmftrans.learn import learn_from_sources

    folder = tmp_path_factory.mktemp("chords")
    notes = _chords(np.random.default_rng(9), 30)
    sf.write(folder / "chords.wav", render(notes), SR)
    (folder / "chords.csv").write_text(notes_to_csv(notes))
    d, _ = learn_from_sources([folder], method="fixed")
    assert list(d.pitch_set) == list(NARROW)
    return d


@pytest.mark.parametrize("which", ["two octaves, H = Y", "one octave of combs"])
def test_noise_and_clicks_give_no_notes_with_a_narrow_dictionary(narrow, which):
    from nmftrans.learn import learn_harmonic

    d = narrow if which.startswith("two") else learn_harmonic((60, 72))  # 13 pitches: the carpet is their median
    signals = _nonmusic(np.random.default_rng(1))
    counts = {k: len(transcribe_signal(y, d).notes) for k, y in signals.items()}
    assert counts == {k: 0 for k in signals}


def test_chords_are_music_to_a_two_octave_dictionary(narrow):
    """Chords of 4-6 notes light up a dozen of the 25 pitches (the notes, their octaves and
    twelfths, the smear of templates learned with H = Y): a carpet at the upper quartile (6
    pitches above it) sat among them and the music check silenced the piece (4 notes of 84)."""
    ref = _chords(np.random.default_rng(4), 16)
    est = transcribe_signal(render(ref), narrow).notes
    assert len(ref) >= 64
    assert evaluate_notes(ref, est)["onset_f"] > 0.8


@pytest.fixture(scope="module")
def loud_then_quiet():
    rng = np.random.default_rng(11)
    notes = example_notes(rng, pitches=range(48, 80), n=120, spacing=0.25)
    y = render(notes)
    cut = int(round(notes[60, 0] * SR)) - int(0.1 * SR)  # 0.1 s before the 61st onset
    return notes, y, cut


def test_a_quiet_passage_next_to_a_loud_one_keeps_its_notes(piano, loud_then_quiet, monkeypatch):
    notes, y, cut = loud_then_quiet
    quiet = np.float32(10 ** (-20 / 20))
    start = cut / SR + 0.2
    ref = notes[notes[:, 0] >= start]
    both = transcribe_signal(np.concatenate([y[:cut], quiet * y[cut:]]), piano).notes
    alone = transcribe_signal(quiet * y[cut:], piano).notes.copy()
    alone[:, :2] += cut / SR
    f_both = evaluate_notes(ref, both[both[:, 0] >= start])["onset_f"]
    f_alone = evaluate_notes(ref, alone[alone[:, 0] >= start])["onset_f"]
    assert len(ref) >= 50 and f_alone > 0.8
    assert f_both >= 0.9 * f_alone
    # the per-file reference (min_relative = 1) loses them: the check above can fail
    per_file_params = functools.partial(frame_gains, params=LevelParams(min_relative=1.0))
    monkeypatch.setattr("nmftrans.transcribe.frame_gains", per_file_params)
    per_file = transcribe_signal(np.concatenate([y[:cut], quiet * y[cut:]]), piano).notes
    assert evaluate_notes(ref, per_file[per_file[:, 0] >= start])["onset_f"] < 0.5 * f_alone


def test_the_same_notes_at_any_input_level(piano, loud_then_quiet):
    _, y, _ = loud_then_quiet
    notes = [transcribe_signal(y * np.float32(10 ** (g / 20)), piano).notes for g in (0, -20, -40)]
    assert len(notes[0]) > 80
    for other in notes[1:]:  # the same notes; times equal to float rounding (the solver's 1e-9 start)
        np.testing.assert_array_equal(other[:, 2:], notes[0][:, 2:])
        np.testing.assert_allclose(other[:, :2], notes[0][:, :2], atol=1e-4)


@pytest.mark.parametrize("bad", [dict(min_relative=0), dict(min_relative=1.5), dict(segment_s=0),
                                 dict(music_ratio_off=30), dict(noise_ratio=-1), dict(percentile=0),
                                 dict(knee_low=0.7), dict(knee_high=1.5), dict(music_context=-1),
                                 dict(loud_quantile=1.0), dict(loud_quantile=-0.1), dict(loud_carpet=-1),
                                 dict(sparse_quantile=0), dict(sparse_ratio_off=70), dict(sparse_share=-1)])
def test_level_settings_are_checked(bad):
    with pytest.raises(ValueError):
        LevelParams(**bad)


def test_the_cli_writes_no_notes_for_pink_noise(tmp_path):
    from typer.testing import CliRunner

    from nmftrans.cli import app

    X = np.fft.rfft(np.random.default_rng(5).standard_normal(4 * SR))
    f = np.fft.rfftfreq(4 * SR, 1 / SR)
    f[0] = f[1]
    sf.write(tmp_path / "pink.wav", _at(np.fft.irfft(X / np.sqrt(f), 4 * SR), -30), SR)
    result = CliRunner().invoke(app, ["transcribe", str(tmp_path / "pink.wav"), "-o", "-", "--json"])
    assert result.exit_code == 0
    assert json.loads(result.stdout) == []  # without the music check: 1728 notes
