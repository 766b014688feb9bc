"""Steady floors: a pitch's activation that never goes away (hum) is taken off before notes are tracked."""

import mir_eval
import numpy as np
import pytest
import soundfile as sf

from nmftrans.core.notes import NoteParams
from nmftrans.core.steady import CONTEXT, SEGMENT_S, STRIDE, steady_floors, subtract_steady
from nmftrans.transcribe import transcribe_file, transcribe_signal
from tests.synth import SR, example_notes, render, tone_dictionary


def reference_subtraction(A, frame_rate, factor, percentile):
    """The documented rule, row by row and segment by segment, with sorted lists."""
    out = np.array(A, dtype=np.float64)
    n = A.shape[1]
    size = max(1, int(round(SEGMENT_S * frame_rate)))
    for r in range(A.shape[0]):
        for start in range(0, n, size):
            s = start // size
            frames = [j for j in range(max(0, s - CONTEXT) * size, min(n, (s + CONTEXT + 1) * size)) if j % STRIDE == 0]
            values = sorted(float(A[r, j]) for j in frames)
            floor = values[int(percentile / 100.0 * (len(values) - 1))]
            for j in range(start, min(n, start + size)):
                out[r, j] = max(0.0, float(A[r, j]) - factor * float(np.float32(floor)))
    return out


@pytest.mark.parametrize("n_frames", [1, 50, 60, 120, 137, 1000])
@pytest.mark.parametrize("percentile", [10.0, 37.0])
def test_subtraction_matches_a_reference_of_the_rule(rng, n_frames, percentile):
    frame_rate = 68.9
    A = (rng.random((5, n_frames)) * rng.random((5, 1)) + 0.2 * rng.random((5, 1))).astype(np.float32)
    expected = reference_subtraction(A, frame_rate, 2.0, percentile)
    got = subtract_steady(A.copy(), frame_rate, 2.0, percentile)
    np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-7)
    rows = np.concatenate([subtract_steady(A[i:i + 1].copy(), frame_rate, 2.0, percentile) for i in range(5)])
    np.testing.assert_array_equal(rows, got)  # rows are independent: the spilled path reads a few at a time
    np.testing.assert_array_equal(subtract_steady(A.copy(), frame_rate, 0.0, percentile), A)  # 0: off
    assert steady_floors(A, frame_rate, percentile).shape == (5, -(-n_frames // int(round(SEGMENT_S * frame_rate))))


def test_a_steady_floor_comes_off_and_a_note_on_it_stays():
    frame_rate = 50.0
    row = np.full(2000, 0.3, dtype=np.float32)  # hum: 40 s at one level
    row[1000:1040] += 1.0  # a note on top of it
    out = subtract_steady(row[None, :].copy(), frame_rate, 2.0, 10.0)[0]
    assert out[:990].max() == 0.0 and out[1050:].max() == 0.0
    assert out[1000:1040] == pytest.approx(1.0 - 0.3, abs=1e-6)


@pytest.fixture(scope="module")
def low_dictionary(tmp_path_factory):
    return tone_dictionary(tmp_path_factory.mktemp("isolated"), range(28, 72))


def test_mains_hum_as_loud_as_the_music_gives_no_notes(low_dictionary, tmp_path):
    rng = np.random.default_rng(11)
    notes = example_notes(rng, pitches=range(52, 72), n=40, spacing=0.4)
    y = render(notes)
    t = np.arange(len(y)) / SR
    hum = sum(a * np.sin(2 * np.pi * 50.0 * k * t + rng.uniform(0, 2 * np.pi))
              for k, a in [(1, 1.0), (2, 0.5), (3, 0.7), (4, 0.2), (5, 0.3), (7, 0.1)])
    x = (y + np.sqrt(np.mean(y**2) / np.mean(hum**2)) * hum).astype(np.float32)
    hz = mir_eval.util.midi_to_hz

    def onset_f(est):
        return mir_eval.transcription.precision_recall_f1_overlap(
            notes[:, :2], hz(notes[:, 2]), est[:, :2], hz(est[:, 2]), offset_ratio=None)[2]

    without = transcribe_signal(x, low_dictionary, note_params=NoteParams(steady_factor=0.0)).notes
    assert np.sum(without[:, 2] < 50) >= 5 and onset_f(without) < 0.9  # the hum's notes (G1, G#1, ...)
    with_floors = transcribe_signal(x, low_dictionary).notes
    assert np.sum(with_floors[:, 2] < 50) == 0
    assert onset_f(with_floors) >= 0.95
    path = tmp_path / "hum.wav"
    sf.write(path, x, SR)
    spilled = transcribe_file(path, low_dictionary, keep_activations=False).notes
    np.testing.assert_allclose(spilled, transcribe_file(path, low_dictionary).notes, atol=1e-9)


@pytest.mark.parametrize("bad", [dict(steady_factor=-1.0), dict(steady_percentile=100.0),
                                 dict(steady_percentile=float("nan"))])
def test_bad_steady_settings_are_refused(bad):
    from nmftrans.errors import SettingError

    with pytest.raises(SettingError, match="steady"):
        NoteParams(**bad)
