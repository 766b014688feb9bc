"""Weak re-onsets (nmftrans/core/reonsets.py): a rise inside a sounding note that peaks far below the
note's own onset is the note wavering, merged back into it. Hand-worked note lists for the array code;
synthetic notes that swell again while they sound (the notes are known exactly) for the whole
pipeline."""

import numpy as np
import pytest
import soundfile as sf

from nmftrans.core.notes import NoteParams
from nmftrans.core.reonsets import merge_weak_reonsets
from nmftrans.errors import SettingError
from nmftrans.transcribe import transcribe_file, transcribe_signal
from tests.synth import SR, tone, tone_dictionary

PITCHES = [48, 52, 55, 59, 62, 65]


@pytest.fixture(scope="module")
def dictionary(tmp_path_factory):
    return tone_dictionary(tmp_path_factory.mktemp("isolated"), range(45, 96))


def test_weak_reonsets_merge_into_the_note_they_interrupt():
    notes = np.array([
        [0.0, 0.5, 60, 100],   # 0: peak 1.0
        [0.5, 0.8, 60, 60],    # 1: under 0.5 of note 0, which ends where it starts: merged into 0
        [0.8, 1.2, 60, 60],    # 2: under 0.5 of note 0 (the run merges into the note that started it)
        [1.2, 2.0, 60, 100],   # 3: a re-strike as strong as note 0: kept
        [2.5, 3.0, 60, 60],    # 4: weak, but note 3 ended 0.5 s before: kept
        [0.5, 1.0, 64, 60],    # 5: another pitch, nothing sounding at 64 before it: kept
        [2.0, 2.9, 67, 90],    # 6
        [2.02, 2.5, 67, 40],   # 7: 20 ms after note 6, inside the 30 ms window: not a re-onset, kept
    ])
    peaks = np.array([1.0, 0.4, 0.45, 0.9, 0.1, 0.2, 1.0, 0.1])
    out = merge_weak_reonsets(notes, peaks, 0.5, 0.03)
    want = notes[[0, 3, 4, 5, 6, 7]].copy()
    want[0, 1] = 1.2  # note 0 now ends where note 2 ended
    np.testing.assert_array_equal(out, want)
    np.testing.assert_array_equal(merge_weak_reonsets(notes, peaks, 0.0, 0.03), notes)  # 0: off
    # at exactly half of the note before a re-onset is kept; a zero peak (a gated row) is not judged
    kept = merge_weak_reonsets(notes[:2], np.array([1.0, 0.5]), 0.5, 0.03)
    assert len(kept) == 2
    assert len(merge_weak_reonsets(notes[:2], np.array([1.0, 0.0]), 0.5, 0.03)) == 2


@pytest.mark.parametrize("gap, merged", [(0.0, True), (0.05, True), (0.07, False)])
def test_a_weak_reonset_just_after_its_note_ended_merges(gap, merged):
    """gap_s (NoteParams.reonset_gap_s, 60 ms): the note before ended ``gap`` seconds before the
    weak re-onset (a dip of its activation ended it a moment early). Under 60 ms it still counts
    as sounding: the re-onset joins it, which then ends where the re-onset ended."""
    notes = np.array([[0.0, 0.5 - gap, 60, 100], [0.5, 0.9, 60, 60]])
    out = merge_weak_reonsets(notes, np.array([1.0, 0.3]), 0.5, 0.03, 0.06)
    if merged:
        np.testing.assert_array_equal(out, [[0.0, 0.9, 60, 100]])
    else:
        np.testing.assert_array_equal(out, notes)
    assert len(merge_weak_reonsets(notes, np.array([1.0, 0.3]), 0.5, 0.03)) == (1 if gap == 0 else 2)  # gap_s None: 30 ms
    assert NoteParams().reonset_gap_s == 0.06


def test_reonset_gap_is_checked():
    with pytest.raises(SettingError):
        NoteParams(reonset_gap_s=-0.01)


def swell(pitch: int, step: float) -> np.ndarray:
    """A 1.2 s note that fades (0.25 s time constant) and at 0.6 s swells by ``step`` in 10 ms
    (no new attack), then fades again."""
    t = np.arange(int(1.2 * SR)) / SR
    env = np.where(t < 0.6, np.exp(-t / 0.25), np.exp(-0.6 / 0.25) * step * np.exp(-(t - 0.6) / 0.4))
    k, r = int(0.6 * SR), int(0.01 * SR)
    env[k:k + r] = np.linspace(env[k - 1], env[k + r], r)
    return (tone(pitch, 1.2, decay_s=100.0) * env).astype(np.float32)


def swelling_piece(step: float) -> np.ndarray:
    y = np.zeros(int(8 * SR), dtype=np.float32)
    for i, p in enumerate(PITCHES):
        x = swell(p, step)
        start = int((0.3 + 1.25 * i) * SR)
        y[start:start + len(x)] += x
    return y


def test_a_swell_inside_a_note_is_not_a_second_note(dictionary):
    """Swelling 2.5 times (its peak under half the note's onset peak) splits each note in two
    without the rule; with it, one note each, from its onset to the swell's end."""
    y = swelling_piece(2.5)
    off = transcribe_signal(y, dictionary, note_params=NoteParams(reonset_ratio=0.0)).notes
    assert len(off) == 12 and sorted(set(off[:, 2].astype(int).tolist())) == PITCHES
    on = transcribe_signal(y, dictionary).notes
    assert on[:, 2].astype(int).tolist() == PITCHES
    starts = 0.3 + 1.25 * np.arange(len(PITCHES))
    assert np.abs(on[:, 0] - starts).max() < 0.03
    assert np.all(on[:, 1] - starts > 1.0)  # past the swell at 0.6 s


def test_a_strong_swell_stays_a_second_note(dictionary):
    """Swelling 6 times (a re-strike's level): two notes each, as without the rule."""
    on = transcribe_signal(swelling_piece(6.0), dictionary).notes
    assert len(on) == 12
    assert sorted(on[:, 2].astype(int).tolist()) == sorted(PITCHES * 2)


def test_same_notes_whole_and_spilled(dictionary, tmp_path):
    path = tmp_path / "swell.wav"
    sf.write(path, swelling_piece(2.5), SR)
    whole = transcribe_file(path, dictionary).notes
    spilled = transcribe_file(path, dictionary, keep_activations=False).notes
    assert len(whole) == len(PITCHES)
    np.testing.assert_array_equal(whole, spilled)


@pytest.mark.parametrize("bad", [-0.5, float("nan")])
def test_bad_ratio_is_refused(bad):
    with pytest.raises(SettingError):
        NoteParams(reonset_ratio=bad)



@pytest.mark.parametrize("gap", [None, 0.045])
def test_the_transcription_passes_the_reonset_gap_on(dictionary, monkeypatch, gap):
    """``NoteParams.reonset_gap_s`` reaches the rule (not the ghost window, 30 ms): a weak re-onset
    30-60 ms after its note ended is merged by default."""
    import nmftrans.core.reonsets as reonsets

    seen = []
    real = reonsets.merge_weak_reonsets

    def spy(notes, peaks, ratio, window_s, gap_s=None, struck=None):
        seen.append((window_s, gap_s))
        return real(notes, peaks, ratio, window_s, gap_s, struck)

    monkeypatch.setattr(reonsets, "merge_weak_reonsets", spy)
    params = NoteParams() if gap is None else NoteParams(reonset_gap_s=gap)
    transcribe_signal(swelling_piece(2.5), dictionary, note_params=params)
    assert seen == [(params.ghost_window_s, 0.06 if gap is None else gap)]
