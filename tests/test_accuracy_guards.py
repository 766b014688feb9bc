"""Accuracy guards for the default pipeline (default SolverParams and NoteParams) on synthetic notes.

The dictionary is learned from isolated synthetic tones (velocity 100, amplitude 0.3) and the
pieces are rendered with the same timbre, so the expected notes are known exactly. Thresholds sit
below what the current code measures, with a margin; each guard fails under the regressions named
in its docstring.
"""

import mir_eval
import numpy as np
import pytest

from nmftrans.core.notes import NoteParams
from nmftrans.transcribe import SolverParams, transcribe_signal
from tests.synth import example_notes, render, tone_dictionary

PITCHES = range(50, 78)


def onset_prf(ref, est):
    """Onset-only (50 ms) precision, recall and F of note lists, via mir_eval.transcription."""
    if len(ref) == 0 or len(est) == 0:
        return 0.0, 0.0, 0.0
    p, r, f, _ = mir_eval.transcription.precision_recall_f1_overlap(
        ref[:, :2], mir_eval.util.midi_to_hz(ref[:, 2]), est[:, :2], mir_eval.util.midi_to_hz(est[:, 2]),
        offset_ratio=None)
    return p, r, f


def sort_notes(rows):
    notes = np.array(rows, dtype=np.float64)
    return notes[np.lexsort((notes[:, 2], notes[:, 0]))]


@pytest.fixture(scope="module")
def dictionary(tmp_path_factory):
    """Attack + sustain templates learned from one isolated synthetic tone per pitch."""
    return tone_dictionary(tmp_path_factory.mktemp("isolated"), PITCHES)


ACCENTS = (1.55, 4.70)


def quiet_piece_with_accents(quiet_velocity):
    """A quiet two-voice texture with two short loud (velocity 100) accents; at each accent one quiet
    note is struck with it and one 0.10-0.12 s after it (no octave, fourth or fifth to the accent)."""
    low = [60, 62, 59, 61, 56, 60, 58, 63, 57, 61, 59, 62, 60, 58, 61]
    high = [66, 69, 68, 67, 65, 71, 66, 70, 68, 65, 67, 69, 66, 70, 68]
    q = quiet_velocity
    rows = []
    for k, pair in enumerate(zip(low, high)):
        t = 0.2 + 0.45 * k
        rows += [(t, t + 0.38, p, q) for p in pair]
    rows += [(1.55, 1.80, 64, 100), (1.55, 1.80, 73, 100), (1.55, 1.90, 54, q), (1.67, 2.00, 71, q),
             (4.70, 4.95, 55, 100), (4.70, 4.95, 64, 100), (4.70, 5.05, 74, q), (4.80, 5.10, 52, q)]
    return sort_notes(rows)


@pytest.mark.parametrize("quiet_velocity, min_f", [(10, 0.85), (5.6, 0.7)], ids=["-20dB", "-25dB"])
def test_quiet_notes_next_to_loud_accents_are_found(dictionary, quiet_velocity, min_f):
    """Notes 20/25 dB below two loud accents, including those struck with or just after them.

    Measured: -20 dB onset F 0.949, quiet recall 34/34, at the accents 8/8; -25 dB F 0.800 (false
    alarms from the accents' partials), 33/34, 7/8. Fails when the activations are divided by their
    global maximum or a 99th percentile (nothing quiet found) and with magnitude (power 1) features
    (F 0.82 at -20 dB).
    """
    ref = quiet_piece_with_accents(quiet_velocity)
    quiet = ref[ref[:, 3] < 100]
    at_accents = quiet[np.min(np.abs(quiet[:, :1] - np.array(ACCENTS)), axis=1) < 0.2]
    assert len(at_accents) == 8
    est = transcribe_signal(render(ref), dictionary).notes
    assert onset_prf(quiet, est)[1] >= 0.9
    assert onset_prf(at_accents, est)[1] >= 0.75
    assert onset_prf(ref, est)[2] >= min_f


@pytest.mark.xfail(strict=True, reason="known limit: onset_threshold 0.3 of the file's reference level is "
                   "about -15 dB, so -20 dB notes under loud notes that fill the file are dropped")
def test_quiet_notes_under_loud_chords_that_fill_the_file(dictionary):
    """Loud chords every 0.6 s, each with a note 20 dB quieter struck with it or 0.1 s after it.

    Measured: none of the 6 quiet notes found (normalised peaks 0.21-0.24); onset F 0.80.
    """
    chords = [(57, 64), (60, 67), (59, 62), (55, 64), (61, 68), (57, 60)]
    soft = [71, 52, 66, 70, 54, 65]
    rows = []
    for k, (pair, p) in enumerate(zip(chords, soft)):
        t = 0.2 + 0.6 * k
        rows += [(t, t + 0.5, c, 100) for c in pair] + [(t + 0.1 * (k % 2), t + 0.5, p, 10)]
    ref = sort_notes(rows)
    est = transcribe_signal(render(ref), dictionary).notes
    assert onset_prf(ref[ref[:, 3] < 100], est)[1] >= 0.8


def test_repeated_notes_are_separate_onsets(dictionary):
    """E4 struck 8 times 0.15-0.25 s apart (decaying strikes; 4 restrikes start where the previous
    strike ends, 3 after a 40-50 ms gap) over a second voice.

    Measured: 8/8 strikes, onset F 1.0. Fails when a note can only restart from near silence
    (NoteParams(rise_ratio=3): 4/8; rise_ratio=10: 1/8), when restrikes are merged
    (min_ioi_s=0.3: 4/8) or when rises are ignored (rise_threshold=10: nothing).
    """
    onsets = [0.2, 0.4, 0.55, 0.8, 1.0, 1.15, 1.35, 1.6]
    gaps = [0.0, 0.05, 0.0, 0.0, 0.05, 0.0, 0.04]
    rows = [(t, onsets[k + 1] - gaps[k] if k + 1 < len(onsets) else t + 0.4, 64, 90 + 10 * (k % 2))
            for k, t in enumerate(onsets)]
    rows += [(0.2, 0.9, 56, 80), (0.9, 1.5, 59, 80), (1.5, 2.0, 61, 80)]
    ref = sort_notes(rows)
    est = transcribe_signal(render(ref, decay_s=0.5), dictionary).notes
    assert onset_prf(ref[ref[:, 2] == 64], est)[1] >= 0.85
    assert onset_prf(ref, est)[2] >= 0.9


def test_input_20_and_40_db_below_the_training_notes(dictionary, rng):
    """A two-voice piece at the training level, scaled by 0.1 (-20 dB) and 0.01 (-40 dB).

    Measured: onset F 1.0 at all three levels. Fails without the per-file normalisation (raw
    activations against absolute thresholds: F 0.70 at 0 dB, 0.0 at -40 dB) and when the silence
    limit is raised to -40 dBFS (nothing at -40 dB).
    """
    ref = example_notes(rng, pitches=range(53, 74), n=20, spacing=0.3)
    y = render(ref)
    full = onset_prf(ref, transcribe_signal(y, dictionary).notes)[2]
    assert full >= 0.9
    for gain in (0.1, 0.01):
        f = onset_prf(ref, transcribe_signal(y * gain, dictionary).notes)[2]
        assert f >= 0.9 and abs(f - full) <= 0.05, (gain, f, full)


def note_sequence(rng, n, durations, gap):
    """``n`` single notes from 0.3 s on, lasting ``durations`` in turn, ``gap`` seconds apart, at
    random pitches of a G-major-like set, velocity 80 (sorted note list)."""
    rows, t = [], 0.3
    for k in range(n):
        duration = durations[k % len(durations)]
        rows.append((t, t + duration, int(rng.choice([52, 55, 59, 62, 64, 67, 71, 74])), 80))
        t += duration + gap
    return sort_notes(rows)


def test_note_ends_are_placed_at_the_key_release(dictionary, rng):
    """Notes of 0.15-1.2 s (30 ms release): the estimated ends sit within 25 ms of the releases.

    Measured: median end error -12 ms (10th/90th percentile -18/-3 ms, 5 seeds), onset+offset F
    1.0. The release rule places these ends (``release_fall_db``): without it they come with the
    tail, which fails this guard.
    """
    ref = note_sequence(rng, 24, (0.15, 0.3, 0.6, 1.2), gap=0.15)
    est = transcribe_signal(render(ref), dictionary).notes
    hz = mir_eval.util.midi_to_hz
    matched = mir_eval.transcription.match_notes(ref[:, :2], hz(ref[:, 2]), est[:, :2], hz(est[:, 2]), offset_ratio=None)
    assert len(matched) == len(ref) == len(est)
    errors = np.array([est[j, 1] - ref[i, 1] for i, j in matched])
    assert abs(np.median(errors)) <= 0.025
    assert np.abs(errors).max() <= 0.05


def test_a_noise_floor_goes_to_the_floor_templates_not_to_notes(dictionary, rng):
    """Single notes 0.6 s apart in pink noise 20 dB below the music.

    Measured (5 seeds): in the frames that hold only noise, the loudest normalised pitch
    activation averages 0.023-0.025 with the floor templates and 0.040-0.044 without them
    (``SolverParams(floor_octaves=0)``), which fails this guard; onset F 0.83-0.96 either way.
    """
    from scipy.signal import lfilter

    ref = example_notes(rng, pitches=range(53, 74), n=12, spacing=0.3, polyphony=1)
    ref[:, 0] *= 2
    ref[:, 1] = ref[:, 0] + 0.27
    y = render(ref)
    pink = lfilter([1.0], [1.0, -0.9], rng.standard_normal(len(y)))
    x = (y + np.sqrt(np.mean(y**2)) * 0.1 * pink / np.sqrt(np.mean(pink**2))).astype(np.float32)
    levels = []
    raw = NoteParams(steady_factor=0.0)  # the solver's floors alone (the steady floors would take the noise too)
    for solver in (SolverParams(), SolverParams(floor_octaves=0)):
        t = transcribe_signal(x, dictionary, solver, raw)
        assert onset_prf(ref, t.notes)[2] >= 0.8
        times = np.arange(t.activations.shape[1]) / t.frame_rate
        noise_only = np.all((times[:, None] < ref[:, 0] - 0.05) | (times[:, None] > ref[:, 1] + 0.15), axis=1)
        assert noise_only.sum() > 100
        levels.append(float(t.activations[:, noise_only].max(axis=0).mean()))
    assert levels[0] <= 0.03 and levels[0] <= 0.7 * levels[1], levels


def test_the_response_gain_follows_a_recordings_colour(dictionary, rng):
    """The same piece as the dictionary's own tones and through a first-order low-pass at 800 Hz.

    Measured: on the own timbre the gain stays within 0.93-1.05 (150 Hz - 3 kHz); through the
    low-pass it falls 1.49x from 400 Hz to 3.2 kHz (the filter: 2.27x in compressed units; H takes
    the rest), and onset F stays at 0.99 with the adapted templates.
    """
    from scipy.signal import butter, lfilter

    from nmftrans.core.features import frequencies, spectrogram
    from nmftrans.core.templates import response_gains
    from nmftrans.transcribe import solve_activations, solver_templates

    ref = example_notes(rng, pitches=range(50, 78), n=40, spacing=0.3, polyphony=3)
    clean = render(ref)
    b, a = butter(1, 800 / 11025)
    dark = lfilter(b, a, clean).astype(np.float32)
    W, f = solver_templates(dictionary), frequencies(dictionary.settings)
    band = (f > 150) & (f < 3000)
    gains = {}
    for name, y in (("clean", clean), ("dark", dark)):
        V = spectrogram(y, dictionary.settings)
        gains[name] = response_gains(V, W @ solve_activations(V, W, 1.0), f)
    assert 0.9 <= gains["clean"][band].min() and gains["clean"][band].max() <= 1.1
    at = lambda hz: gains["dark"][np.argmin(np.abs(f - hz))]  # noqa: E731
    assert at(400) / at(3200) >= 1.3
    assert onset_prf(ref, transcribe_signal(dark, dictionary).notes)[2] >= 0.9


def test_released_notes_end_at_their_release_in_a_room(dictionary):
    """Held notes (0.4-1.0 s, slowly decaying tones, 0.5 s apart) in a synthetic room: a direct path
    and an exponentially decaying noise tail (RT60 0.4 s, as much energy as the direct path).

    The room's tail after each release wavers, so the frames steep by ``release_fall_db`` stop a
    few frames in and notes end with the tail. Measured (seeds 0 and 1): 90th percentile of the end
    errors 0.14 / 0.22 s and frame F 0.957 / 0.939 without ``release_slow_db``, 0.021 / 0.010 s and
    0.980 / 0.983 with the default 6 dB in 0.12 s; onsets all found either way.
    """
    from scipy.signal import fftconvolve

    from nmftrans.core.metrics import evaluate_notes
    from tests.synth import SR

    for seed in (0, 1):
        rng = np.random.default_rng(seed)
        ref = note_sequence(rng, 16, (0.4, 0.6, 0.8, 1.0), gap=0.5)
        y = render(ref, decay_s=4.0)
        tail_t = np.arange(int(0.4 * SR)) / SR
        room = rng.standard_normal(len(tail_t)) * np.exp(-6.91 * tail_t / 0.4)
        room[0] = 0.0
        room /= np.sqrt(np.sum(room**2))
        room[0] = 1.0  # the direct path
        wet = fftconvolve(y, room)[: len(y)]
        x = (0.5 * wet / np.abs(wet).max()).astype(np.float32)
        hz = mir_eval.util.midi_to_hz
        late, frame_f = [], []
        for params in (NoteParams(release_slow_db=0.0), NoteParams()):  # without it, and the default
            est = transcribe_signal(x, dictionary, note_params=params).notes
            matched = mir_eval.transcription.match_notes(ref[:, :2], hz(ref[:, 2]), est[:, :2], hz(est[:, 2]),
                                                         offset_ratio=None)
            assert len(matched) == len(ref)
            late.append(float(np.percentile([est[j, 1] - ref[i, 1] for i, j in matched], 90)))
            frame_f.append(evaluate_notes(ref, est)["frame_f"])
        assert late[0] >= 0.1 and frame_f[0] <= 0.965, (seed, late, frame_f)  # the tails, without it
        assert late[1] <= 0.05 and frame_f[1] >= 0.975, (seed, late, frame_f)
