"""The motion gate (nmftrans.core.motion): no notes for a gliding voice or a steady hum, every note of
decaying tones kept. Generated signals and the shipped dictionaries only."""

import numpy as np
import pytest

from nmftrans.io.dictionary import load_dictionary
from nmftrans.core.features import frequencies, spectrogram
from nmftrans.core.metrics import evaluate_notes
from nmftrans.core.motion import Gate, MotionMeter, MotionParams, held_notes, motion_gate
from nmftrans.core.settings import FeatureSettings
from nmftrans.transcribe import SolverParams, transcribe_blocks, transcribe_signal
from tests.synth import SR, example_notes, glide_voice, render, tone

SETTINGS = FeatureSettings()
# cents a glide of one semitone per second moves between two compared frames (lag_frames hops)
CENTS_PER_SEMITONE_PER_S = 100 * MotionParams().lag_frames * SETTINGS.hop_length / SETTINGS.sample_rate


def _glide(rate: float, seconds: float = 4.0) -> np.ndarray:
    """A harmonic tone (12 partials, 1/m) gliding ``rate`` semitones per second up and down
    between 150 and 300 Hz (a triangle), at a steady level."""
    t = np.arange(int(seconds * SR)) / SR
    u = (abs(rate) * t) % 24
    f0 = 150.0 * 2 ** (np.where(u < 12, u, 24 - u) / 12)
    phase = 2 * np.pi * np.cumsum(f0) / SR
    y = sum(np.sin(m * phase) / m for m in range(1, 13))
    return (0.3 * y / np.abs(y).max()).astype(np.float32)


def _hum(base: float, seconds: float = 6.0, dbfs: float = -30.0) -> np.ndarray:
    """Mains hum: ``base`` Hz and harmonics, all starting in phase, at an RMS of ``dbfs``."""
    t = np.arange(int(seconds * SR)) / SR
    y = sum(a * np.sin(2 * np.pi * base * k * t) for k, a in [(1, 1.0), (2, 0.5), (3, 0.7), (5, 0.3)])
    return (y * 10 ** (dbfs / 20) / np.sqrt(np.mean(y**2))).astype(np.float32)


def _flags(y, params=MotionParams(), chunks=None):
    V = spectrogram(y, SETTINGS)
    meter = MotionMeter(frequencies(SETTINGS), SETTINGS.frame_rate, params)
    cuts = [0, V.shape[1]] if chunks is None else chunks
    for lo, hi in zip(cuts[:-1], cuts[1:]):
        meter.push(V[:, lo:hi])
    return meter.flags()


@pytest.mark.parametrize("rate", [0.0, 2.0, 20.0, -20.0])
def test_a_glide_counts_where_it_moves_more_than_min_shift_cents(rate):
    glides, counted, _, _ = _flags(_glide(rate))
    fraction = glides.sum() / counted.sum()
    moved = abs(rate) * CENTS_PER_SEMITONE_PER_S  # cents between the compared frames: 0, 5.8, 58
    if moved >= 2 * MotionParams().min_shift_cents:
        assert fraction > 0.8
    else:
        assert fraction < 0.05


# cents a glide of one semitone per second moves between frames slow_lag_frames apart
SLOW_CENTS_PER_SEMITONE_PER_S = CENTS_PER_SEMITONE_PER_S * MotionParams().slow_lag_frames / MotionParams().lag_frames


@pytest.mark.parametrize("rate", [0.0, 1.0, 3.0, 5.0, 8.0, 20.0])
def test_a_slow_glide_counts_at_slow_lag_frames(rate):
    """The slow check compares frames slow_lag_frames (6: 87 ms) apart: 1, 3, 5, 8 and 20
    semitones a second move 8.7, 26, 44, 70 and 174 cents there. It counts from min_shift_cents
    (20) to max_shift_cents (80); the fast check (2 frames) from 6.9 semitones a second."""
    V = spectrogram(_glide(rate), SETTINGS)
    meter = MotionMeter(frequencies(SETTINGS), SETTINGS.frame_rate)
    meter.push(V)
    slow, counted = meter.slow_flags()
    fraction = slow.sum() / counted.sum()
    moved = abs(rate) * SLOW_CENTS_PER_SEMITONE_PER_S
    if MotionParams().min_shift_cents * 1.25 <= moved <= MotionParams().max_shift_cents:
        assert fraction > 0.9
    elif moved < MotionParams().min_shift_cents / 2 or moved > 2 * MotionParams().max_shift_cents:
        assert fraction < 0.1


def _engine(rate: float, seconds: float = 6.0, f0: float = 40.0) -> np.ndarray:
    """An engine running up: a 19-partial tone from ``f0`` Hz gliding up ``rate`` semitones a second."""
    t = np.arange(int(seconds * SR)) / SR
    phase = 2 * np.pi * np.cumsum(f0 * 2 ** (rate * t / 12)) / SR
    y = sum(np.sin(m * phase) / m for m in range(1, 20))
    return (0.3 * y / np.abs(y).max()).astype(np.float32)


def test_an_engine_running_up_gives_no_notes(dictionary, monkeypatch):
    """Glides of 2-4 semitones a second, too slow for the fast check (6-12 cents between its
    frames): the slow check gates them, held notes included (their activations step from pitch
    to pitch; the held check read such steps as a held pitch)."""
    engines = [_engine(2.0), _engine(3.0, f0=60.0), _engine(4.0, 4.0)]
    assert [len(transcribe_signal(y, dictionary).notes) for y in engines] == [0, 0, 0]
    import nmftrans.transcribe as transcribe_module

    real_gate = transcribe_module.motion_gate
    monkeypatch.setattr(transcribe_module, "motion_gate",  # the same gate without the slow check
                        lambda *args, slow=None, slow_counted=None, **kwargs: real_gate(*args, **kwargs))
    assert sum(len(transcribe_signal(y, dictionary).notes) for y in engines) >= 10


@pytest.mark.parametrize("rate_hz", [4.5, 6.0, 7.5])
def test_vibrato_is_not_a_glide(rate_hz):
    # a tone at 220 Hz with vibrato of +-30 cents: it moves up to 2 pi rate 30 cents/s, 25-41 cents
    # between compared frames (most of the time more than min_shift_cents), but returns to
    # the same spectrum a period (133-222 ms) later, so it does not count as a glide
    t = np.arange(4 * SR) / SR
    f0 = 220.0 * 2 ** (30 / 1200 * np.sin(2 * np.pi * rate_hz * t))
    phase = 2 * np.pi * np.cumsum(f0) / SR
    y = (0.3 * sum(np.sin(m * phase) / m for m in range(1, 13)) * np.exp(-t / 3)).astype(np.float32)
    glides, counted, _, _ = _flags(y)
    assert counted.sum() > 100 and glides.sum() / counted.sum() < 0.02
    glides, counted, _, _ = _flags(y, MotionParams(return_match=1.0))  # without the check for a return
    assert glides.sum() / counted.sum() > 0.3
    meter = MotionMeter(frequencies(SETTINGS), SETTINGS.frame_rate)  # nor a slow glide (87 ms apart)
    meter.push(spectrogram(y, SETTINGS))
    slow, counted = meter.slow_flags()
    assert slow.sum() / counted.sum() < 0.05


def test_a_hum_is_steady_and_a_decaying_tone_is_not():
    _, _, steady, counted = _flags(_hum(50.0))
    assert counted.sum() > 300 and steady.sum() / counted.sum() > 0.9
    # a low note whose fundamental decays 3 dB/s (a long piano note): V (magnitude ** 0.6) loses
    # 10 ** (-0.6 * 3 / 20) = 0.81 a second, beyond steady_level (1 / 1.07 = 0.93)
    decaying = tone(33, 6.0, decay_s=20 * np.log10(np.e) / 3.0)
    _, _, steady, counted = _flags(decaying)
    assert counted.sum() > 300 and steady.sum() / counted.sum() < 0.05


def test_the_flags_do_not_depend_on_how_the_frames_arrive():
    y = np.concatenate([render(np.array([[0.2, 1.0, 60, 90], [0.6, 1.8, 64, 80]])), glide_voice(1, 3.0),
                        _hum(60.0, 2.5)])
    whole = _flags(y)
    n = len(whole[0])
    rng = np.random.default_rng(0)
    cuts = np.unique(np.concatenate([[0, 1, 2, 3, 70, 71, n], rng.integers(0, n, 20)]))
    for a, b in zip(whole, _flags(y, chunks=list(cuts))):
        np.testing.assert_array_equal(a, b)
    assert whole[0].any() and whole[2].any()


def test_the_gate_by_hand():
    fr, n = 100.0, 1000  # 10 segments of 100 frames; windows of 200 or 300
    counted = np.ones(n, dtype=bool)
    off = np.zeros(n, dtype=bool)
    position = np.arange(n) % 100
    # 0.2 of every window glides: above glide_off (0.09)
    np.testing.assert_array_equal(motion_gate(position < 20, counted, off, counted, fr).gate, 0)
    # 0.07: halfway between glide_on 0.05 and glide_off 0.09
    np.testing.assert_allclose(motion_gate(position < 7, counted, off, counted, fr).gate, 0.5, atol=1e-6)
    np.testing.assert_array_equal(motion_gate(position < 4, counted, off, counted, fr).gate, 1)
    # the second half steady: windows up to segment 5 (200 / 300 = 0.67 < steady_on 0.7) keep 1,
    # from segment 6 on 1.0 (gate 0); linear between the centres of 5 and 6 (frames 549.5, 649.5)
    gate = motion_gate(off, counted, np.arange(n) >= 500, counted, fr).gate
    np.testing.assert_array_equal(gate[:550], 1)
    np.testing.assert_array_equal(gate[650:], 0)
    np.testing.assert_allclose(gate[599], 0.505, atol=1e-6)
    np.testing.assert_array_equal(motion_gate(off, off, off, off, fr).gate, 1)  # nothing counted: no gate
    few = np.arange(n) % 15 == 0  # at most 21 counted frames a window: fewer than MIN_FRAMES, no gate
    np.testing.assert_array_equal(motion_gate(few, few, off, off, fr).gate, 1)


def test_the_slow_gate_by_hand():
    """Slow glides: a gate of their own (slow_on 0.3, slow_off 0.5), the smaller one wins, and no
    voice frames (no held or clear notes) where it is below a half."""
    fr, n = 100.0, 1000
    counted = np.ones(n, dtype=bool)
    off = np.zeros(n, dtype=bool)
    position = np.arange(n) % 100
    np.testing.assert_allclose(motion_gate(off, counted, off, counted, fr, slow=position < 40,
                                           slow_counted=counted).gate, 0.5, atol=1e-6)
    np.testing.assert_array_equal(motion_gate(off, counted, off, counted, fr, slow=position < 25,
                                              slow_counted=counted).gate, 1)
    voice = motion_gate(position < 20, counted, off, counted, fr)  # a voice: gate 0, voice frames
    assert voice.voice.all()
    both = motion_gate(position < 20, counted, off, counted, fr, slow=position < 60, slow_counted=counted)
    np.testing.assert_array_equal(both.gate, 0)
    assert not both.voice.any()
    slight = motion_gate(position < 20, counted, off, counted, fr, slow=position < 35, slow_counted=counted)
    assert slight.voice.all()  # the slow gate at 0.75: still a voice
    np.testing.assert_allclose(slight.gate, 0, atol=1e-6)


def test_clear_frames_by_hand():
    """Voice frames of a window that glides little, with no gliding frame within clear_s."""
    fr, n = 100.0, 1000
    counted = np.ones(n, dtype=bool)
    off = np.zeros(n, dtype=bool)
    position = np.arange(n) % 100
    glides = position < 10  # 0.1 of every window: voice (above glide_off), gliding little (below 0.15)
    gate = motion_gate(glides, counted, off, counted, fr)
    half = int(round(MotionParams().clear_s * fr))
    expected = np.array([gate.voice[t] and not glides[max(0, t - half):t + half + 1].any() for t in range(n)])
    np.testing.assert_array_equal(gate.clear, expected)
    assert expected[35:75].all() and not expected[25:35].any() and not expected[75:100].any()
    assert not motion_gate(position < 20, counted, off, counted, fr).clear.any()  # 0.2: speech
    assert motion_gate(position < 3, counted, off, counted, fr).clear is None  # no voice frames
    assert motion_gate(glides, counted, off, counted, fr, MotionParams(clear_s=0)).clear is None


def test_notes_under_a_quiet_voice_keep_their_onsets(monkeypatch):
    """Tones every 0.3 s with a gliding voice 25 dB under them: the voice, heard in the gaps,
    marks windows as voice; notes that start clear of its glides are kept (measured: onset F
    0.996 on average over the six mixes, 0.933 keeping only held notes there)."""
    piano = load_dictionary("piano")
    mixes = []
    for ns in range(3):
        notes = example_notes(np.random.default_rng(ns), n=40, spacing=0.3)
        music = render(notes)
        for seed in range(2):
            voice = glide_voice(seed, len(music) / SR)[: len(music)]
            mixes.append((notes, music + voice * np.float32(np.sqrt(np.mean(music**2) / np.mean(voice**2)) * 10 ** (-25 / 20))))
    kept = np.mean([evaluate_notes(notes, transcribe_signal(y, piano).notes)["onset_f"] for notes, y in mixes])
    import nmftrans.transcribe as transcribe_module

    real_gate = transcribe_module.motion_gate

    def without_clear(*args, **kwargs):
        gate = real_gate(*args, **kwargs)
        return Gate(gate.gate, gate.voice)

    monkeypatch.setattr(transcribe_module, "motion_gate", without_clear)
    held_only = np.mean([evaluate_notes(notes, transcribe_signal(y, piano).notes)["onset_f"] for notes, y in mixes])
    assert kept >= 0.98
    assert held_only <= kept - 0.03


def test_held_notes_by_hand():
    fr = 100.0
    rows = np.zeros((5, 300), dtype=np.float32)
    rows[2, 10:200] = np.linspace(1.0, 0.3, 190)  # pitch 62 decays in place
    rows[1, 10:200] = 0.1 * rows[2, 10:200]  # a neighbour in a fixed proportion: the centroid holds
    rows[3, 210:300] = np.linspace(1.0, 0.0, 90)  # pitch 63: its energy slides to 64
    rows[4, 210:300] = np.linspace(0.0, 1.0, 90)
    pitches = np.array([61, 62, 63])  # rows 1-3; rows 0 and 4 are the neighbours below and above
    notes = np.array([[0.1, 2.0, 62, 80], [0.1, 0.3, 62, 80], [2.1, 3.0, 63, 80]])
    np.testing.assert_array_equal(held_notes(notes, rows, 1, pitches, fr), [True, False, False])
    # the centroid of pitch 63 over the 15 frames from its peak moves by 15/90 of a semitone
    loose = MotionParams(held_drift=0.2)
    np.testing.assert_array_equal(held_notes(notes, rows, 1, pitches, fr, loose), [True, False, True])


def test_strings_under_a_voice_keep_notes_that_hold_their_pitch(monkeypatch):
    guitar = load_dictionary("guitar")
    notes = np.array([(0.5 + 1.5 * i, 1.5 + 1.5 * i, p, 90) for i, p in enumerate([45, 52, 57, 50, 55, 48])])
    strings = render(notes, decay_s=3.0)
    voice = glide_voice(3, len(strings) / SR)[: len(strings)]
    y = strings + voice * np.float32(np.sqrt(np.mean(strings**2) / np.mean(voice**2)) * 0.1)  # voice -20 dB
    kept = transcribe_signal(y, guitar).notes
    assert evaluate_notes(notes, kept)["onset_f"] >= 0.8
    monkeypatch.setattr("nmftrans.core.motion.held_notes", lambda notes, *a, **k: np.zeros(len(notes), bool))
    assert evaluate_notes(notes, transcribe_signal(y, guitar).notes)["onset_f"] < 0.5  # the window gate alone


@pytest.fixture(scope="module", params=["piano", "guitar"])
def dictionary(request):
    return load_dictionary(request.param)


def _without_gate(monkeypatch):
    monkeypatch.setattr("nmftrans.transcribe.motion_gate",
                        lambda glides, *a, **k: Gate(np.ones(len(glides), np.float32), np.zeros(len(glides), bool)))


def test_a_gliding_voice_gives_no_notes(dictionary, monkeypatch):
    voices = [glide_voice(0), glide_voice(5, f0_range=(170.0, 330.0))]
    for level in (0.0, -20.0, -40.0):
        g = np.float32(10 ** (level / 20))
        assert [len(transcribe_signal(g * y, dictionary).notes) for y in voices] == [0, 0]
    _without_gate(monkeypatch)  # the check above can fail: without the gate the voices give notes
    assert min(len(transcribe_signal(y, dictionary).notes) for y in voices) > 50


def test_a_steady_hum_gives_no_notes(dictionary, monkeypatch):
    hums = [_hum(50.0), _hum(60.0, dbfs=-40.0), _hum(50.0, 4.0)]
    assert [len(transcribe_signal(y, dictionary).notes) for y in hums] == [0, 0, 0]
    _without_gate(monkeypatch)
    assert sum(len(transcribe_signal(y, dictionary).notes) for y in hums) >= 5


def _decaying_tones() -> np.ndarray:
    """Notes of decaying tones: a chromatic run (a new semitone every 0.1 s), chords, and a low
    note held 5 s alone."""
    run = [(0.3 + 0.1 * i, 0.5 + 0.1 * i, 55 + i, 90) for i in range(12)]
    chords = [(2.0 + 0.4 * i, 2.35 + 0.4 * i, p + i, 80) for i in range(6) for p in (48, 52, 55)]
    return np.array(run + chords + [(5.0, 10.0, 40, 100)], dtype=np.float64)


def test_decaying_tones_keep_their_notes(dictionary, monkeypatch):
    notes = _decaying_tones()
    y = render(notes, decay_s=3.0)
    with_gate = transcribe_signal(y, dictionary).notes
    assert evaluate_notes(notes, with_gate)["onset_f"] > 0.9
    _without_gate(monkeypatch)
    np.testing.assert_array_equal(transcribe_signal(y, dictionary).notes, with_gate)


def test_the_same_notes_whatever_the_blocks_threads_or_spilling():
    piano = load_dictionary("piano")
    first = render(_decaying_tones()[:30], decay_s=3.0)
    y = np.concatenate([first, glide_voice(2, 4.0), _hum(50.0, 5.0), render(_decaying_tones()[:12])])
    pieces = [y[i:i + 7777] for i in range(0, len(y), 7777)]  # the same reads each time (float rounding)
    runs = [transcribe_blocks(iter(pieces), piano, SolverParams(block_s=4.0, threads=threads),
                              keep_activations=keep).notes for threads, keep in [(1, True), (2, True), (3, False)]]
    ref = runs[0]
    start = len(first) / SR
    assert (ref[:, 0] < start).sum() > 20 and (ref[:, 0] > start + 9.5).sum() > 5
    assert not ((ref[:, 0] > start + 0.3) & (ref[:, 0] < start + 9.0)).any()  # none in the voice and the hum
    for other in runs[1:]:
        np.testing.assert_array_equal(other, ref)


def test_the_same_notes_under_a_quiet_voice_whatever_the_blocks_threads_or_spilling():
    piano = load_dictionary("piano")
    notes = example_notes(np.random.default_rng(0), n=40, spacing=0.3)
    music = render(notes)
    voice = glide_voice(0, len(music) / SR)[: len(music)]
    y = music + voice * np.float32(np.sqrt(np.mean(music**2) / np.mean(voice**2)) * 10 ** (-25 / 20))
    pieces = [y[i:i + 7777] for i in range(0, len(y), 7777)]
    runs = [transcribe_blocks(iter(pieces), piano, SolverParams(block_s=4.0, threads=threads),
                              keep_activations=keep).notes for threads, keep in [(1, True), (2, True), (3, False)]]
    assert evaluate_notes(notes, runs[0])["onset_f"] >= 0.95
    for other in runs[1:]:
        np.testing.assert_array_equal(other, runs[0])


@pytest.mark.parametrize("bad", [dict(fmin=0), dict(fmax=100), dict(lag_frames=0), dict(min_shift_cents=100),
                                 dict(min_match=1.5), dict(steady_level=0.9), dict(steady_lag_s=0),
                                 dict(stride=0), dict(lag_frames=3), dict(stride=3), dict(return_match=1.5),
                                 dict(return_min_s=0.3), dict(return_min_s=0), dict(held_drift=-0.1),
                                 dict(held_s=0), dict(clear_s=-0.1), dict(clear_glide_max=1.5),
                                 dict(glide_on=0.2), dict(steady_off=0.5), dict(context=-1),
                                 dict(slow_lag_frames=0), dict(slow_lag_frames=5), dict(slow_on=0.6)])
def test_motion_settings_are_checked(bad):
    with pytest.raises(ValueError):
        MotionParams(**bad)


@pytest.mark.parametrize("shape, half", [((300, 40), 3), ((7, 5), 3), ((1, 4), 2), ((60, 9), 12)])
def test_the_moving_average_is_scipys_uniform_filter(shape, half):
    """The peaks' moving average (written out to spare a short run the import of scipy.ndimage)
    against scipy.ndimage.uniform_filter1d, mode 'nearest', as the reference."""
    from scipy.ndimage import uniform_filter1d

    from nmftrans.core.motion import _moving_average

    X = (np.random.default_rng(1).random(shape) ** 4 * 100).astype(np.float32)
    got = _moving_average(X, half)
    assert got.dtype == np.float32 and got.shape == X.shape
    np.testing.assert_allclose(got, uniform_filter1d(X, 2 * half + 1, axis=0, mode="nearest"), rtol=1e-6, atol=1e-6)
