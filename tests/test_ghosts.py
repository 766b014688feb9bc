"""Ghosts (nmftrans/core/ghosts.py): a note a twelfth or a seventeenth above a louder note that starts
with it is that note's 3rd or 5th harmonic, not a note; a note a semitone from a note that starts
with it, far below it, is its partials spilling into the neighbouring template. Hand-worked note
lists for the array code; synthetic tones whose 3rd harmonics are stronger than the dictionary's
templates, and loud tones with much softer semitone neighbours, for the whole pipeline (the notes
are known exactly)."""

import numpy as np
import pytest
import soundfile as sf

from nmftrans.core.ghosts import SEMITONES, drop_ghosts, ghost_pairs, onset_peaks, sounding_pairs
from nmftrans.core.notes import NoteParams
from nmftrans.errors import SettingError
from nmftrans.transcribe import transcribe_file, transcribe_signal
from tests.synth import SR, render, tone_dictionary

PLAYED = [48, 50, 52, 53, 55, 57, 59, 60, 62, 64, 65, 67]


@pytest.fixture(scope="module")
def dictionary(tmp_path_factory):
    return tone_dictionary(tmp_path_factory.mktemp("isolated"), range(45, 96))


def bright_tone(pitch: int, duration: float, boost: float) -> np.ndarray:
    """tests.synth.tone's partials (1/m, 5 ms attack, decay) with every 3rd partial ``boost`` times
    louder: an instrument brighter at its odd harmonics than the templates learned from tone()."""
    t = np.arange(int(duration * SR)) / SR
    f0 = 440.0 * 2 ** ((pitch - 69) / 12)
    y = np.zeros_like(t)
    for m in range(1, 13):
        if m * f0 > SR / 2 - 500:
            break
        y += (boost if m % 3 == 0 else 1.0) * np.sin(2 * np.pi * m * f0 * t + 0.3 * m) / m * np.exp(-t * m**0.5 / 1.5)
    y *= np.minimum(1.0, t / 0.005) * np.minimum(1.0, (duration - t) / 0.03).clip(0, 1)
    return (0.3 * y / np.abs(y).max()).astype(np.float32)


def bright_piece(boost: float = 3.0) -> np.ndarray:
    y = np.zeros(int(7 * SR), dtype=np.float32)
    for i, p in enumerate(PLAYED):
        x = bright_tone(p, 0.45, boost)
        start = int((0.3 + 0.5 * i) * SR)
        y[start:start + len(x)] += x
    return y


def test_pairs_are_twelfths_and_seventeenths_starting_together():
    notes = np.array([
        [0.00, 1.0, 60, 100],
        [0.02, 1.0, 79, 90],   # 60 + 19, 20 ms later: a pair
        [0.01, 1.0, 88, 90],   # 60 + 28: a pair
        [0.00, 1.0, 72, 90],   # an octave: never a pair
        [1.00, 2.0, 50, 100],
        [1.05, 2.0, 69, 90],   # 50 + 19 but 50 ms later: outside 30 ms
    ])
    pairs = ghost_pairs(notes, (19, 28), 0.03)
    assert sorted(map(tuple, pairs.tolist())) == [(1, 0), (2, 0)]
    assert ghost_pairs(notes, (19, 28), 0.06).tolist().count([5, 4]) == 1
    assert ghost_pairs(notes, (), 0.03).shape == (0, 2)


def test_semitone_pairs_look_both_ways():
    notes = np.array([
        [0.00, 1.0, 60, 100],
        [0.01, 1.0, 61, 40],   # a semitone above 60: may be its ghost, and 60 may be 61's
        [0.02, 1.0, 59, 40],   # a semitone below 60
        [0.00, 1.0, 64, 90],   # a third: never a pair
        [0.50, 1.0, 62, 90],   # a tone above 61 and 500 ms later: never a pair
    ])
    pairs = sorted(map(tuple, ghost_pairs(notes, SEMITONES, 0.03).tolist()))
    assert pairs == [(0, 1), (0, 2), (1, 0), (2, 0)]  # (possible ghost, the note it may come from)


def test_sounding_pairs_are_notes_starting_under_a_sounding_neighbour():
    notes = np.array([
        [0.00, 2.0, 60, 100],
        [0.50, 1.0, 61, 40],   # under 60 (started 0.5 s before, ends at 2.0): a pair
        [1.00, 1.5, 59, 40],   # under 60: a pair; 61 ended at 1.0, so 60 is not under 61
        [2.00, 2.5, 61, 40],   # 60 ended at 2.0 exactly: not sounding
        [2.51, 3.0, 62, 40],   # 61 ended at 2.5: not sounding
        [3.00, 4.0, 64, 90],
        [3.02, 3.5, 65, 40],   # 20 ms after 64: a co-onset pair, not a sounding one
        [3.50, 3.8, 63, 40],   # under 64: a pair
    ])
    pairs = sorted(map(tuple, sounding_pairs(notes, SEMITONES, 0.03).tolist()))
    assert pairs == [(1, 0), (2, 0), (7, 5)]
    assert sounding_pairs(notes, (1,), 0.03).tolist() == [[1, 0]]  # the ghost above only
    assert sounding_pairs(notes[:0], SEMITONES, 0.03).shape == (0, 2)


def test_onset_peaks_read_the_window_from_the_onset_frame():
    row = np.array([0.0, 0.2, 0.9, 0.4, 0.1, 3.0], dtype=np.float32)
    # 10 frames/s: an onset at 0.15 s is in frame 1; 3 frames: max(0.2, 0.9, 0.4)
    assert onset_peaks(row, [0.15], 10.0, 3) == pytest.approx([0.9])
    assert onset_peaks(row, [0.31, 9.0, -1.0], 10.0, 2) == pytest.approx([0.4, 3.0, 0.2])  # frames 3-4; past
    # the end: the last frame; before the start: frames 0-1


def test_onset_peaks_are_the_window_maxima_of_each_onset():
    """Against a plain slice per onset, for onsets before, inside and past a random row."""
    rng = np.random.default_rng(7)
    row = rng.random(50).astype(np.float32)
    onsets = np.array([0.0, 0.013, 0.5, 0.71, 0.999, 1.2, 9.0, -1.0])  # 50 frames/s
    for frames in (1, 3, 7):
        want = []
        for t in onsets:
            k = min(max(0, int(np.floor(t * 50.0 + 1e-9))), len(row) - 1)
            want.append(float(max(row[k:k + frames])))
        np.testing.assert_array_equal(onset_peaks(row, onsets, 50.0, frames), want)
    assert onset_peaks(np.zeros(0, np.float32), onsets, 50.0, 3).tolist() == [0.0] * len(onsets)


def test_drop_ghosts_keeps_upper_notes_at_or_above_the_ratio():
    notes = np.array([[0.0, 1.0, 60, 100], [0.0, 1.0, 79, 90], [2.0, 3.0, 62, 100], [2.0, 3.0, 81, 90]])
    pairs = np.array([[1, 0], [3, 2]])
    kept = drop_ghosts(notes, pairs, np.array([0.3, 0.5]), np.array([1.0, 1.0]), 0.5)
    assert kept[:, 2].tolist() == [60, 62, 81]  # 0.3 < 0.5 x 1.0 dropped; 0.5 is not below it
    # one ratio per pair (the harmonic and the semitone rules at once)
    kept = drop_ghosts(notes, pairs, np.array([0.3, 0.3]), np.array([1.0, 1.0]), np.array([0.5, 0.25]))
    assert kept[:, 2].tolist() == [60, 62, 81]


def semitone_neighbours(velocity: int, step: int) -> np.ndarray:
    """Six loud notes (velocity 100), each struck with the note ``step`` semitones from it at
    ``velocity``."""
    notes = []
    for i, low in enumerate(LOUD):
        on = 0.3 + 0.6 * i
        notes += [(on, on + 0.5, low, 100), (on, on + 0.5, low + step, velocity)]
    return np.array(notes)


LOUD = [48, 52, 55, 59, 62, 65]


@pytest.mark.parametrize("step", [1, -1])
def test_much_softer_semitone_neighbours_are_dropped(dictionary, step):
    """At velocity 19 a neighbour's onset peak is about a third of the loud note's (0.31-0.34 with
    these tones): it passes the onset threshold and is tracked without the rule, dropped with it
    (a partial spilling into the next template gives the same picture: the rule cannot tell them
    apart)."""
    y = render(semitone_neighbours(19, step))
    off = transcribe_signal(y, dictionary, note_params=NoteParams(semitone_ratio=0.0)).notes
    extra = [p for p in off[:, 2].astype(int).tolist() if p not in LOUD]
    assert len(extra) >= 3 and all(p - step in LOUD for p in extra)
    on = transcribe_signal(y, dictionary).notes
    assert sorted(on[:, 2].astype(int).tolist()) == LOUD


def under_held_notes(velocity: int, step: int) -> np.ndarray:
    """Six loud held notes, each with the note ``step`` semitones from it struck 0.15 s later at
    ``velocity``."""
    notes = []
    for i, low in enumerate(LOUD):
        on = 0.3 + 0.8 * i
        notes += [(on, on + 0.7, low, 100), (on + 0.15, on + 0.6, low + step, velocity)]
    return np.array(notes)


@pytest.mark.parametrize("step", [1, -1])
def test_much_softer_neighbours_under_a_held_note_are_dropped(dictionary, step):
    """Struck at velocity 25 while the loud neighbour rings, a note peaks under half of that note's
    activation there: tracked without the rule, dropped with it (its cost, as with the co-onset
    rule); at velocity 40 it is a note."""
    y = render(under_held_notes(25, step))
    off = transcribe_signal(y, dictionary, note_params=NoteParams(semitone_sounding_ratio=0.0)).notes
    extra = [p for p in off[:, 2].astype(int).tolist() if p not in LOUD]
    assert len(extra) >= 5 and all(p - step in LOUD for p in extra)
    assert sorted(transcribe_signal(y, dictionary).notes[:, 2].astype(int).tolist()) == LOUD
    notes = under_held_notes(40, step)
    est = transcribe_signal(render(notes), dictionary).notes
    assert sorted(est[:, 2].astype(int).tolist()) == sorted(int(n[2]) for n in notes)


@pytest.mark.parametrize("velocity", [40, 100])
def test_minor_seconds_played_together_are_kept(dictionary, velocity):
    """The softer note of a minor second at 0.55 (velocity 40) or the same (100) activation as the
    louder one is a note: twelve notes each time."""
    notes = semitone_neighbours(velocity, 1)
    est = transcribe_signal(render(notes), dictionary).notes
    assert sorted(est[:, 2].astype(int).tolist()) == sorted(int(n[2]) for n in notes)


def test_bright_harmonics_give_ghosts_that_the_rule_removes(dictionary):
    y = bright_piece(3.0)
    off = transcribe_signal(y, dictionary, note_params=NoteParams(ghost_ratio=0.0)).notes
    ghosts = [p for p in off[:, 2].astype(int) if p not in PLAYED]
    assert len(ghosts) >= 2 and all(p - 19 in PLAYED for p in ghosts)  # the twelfths above played notes
    on = transcribe_signal(y, dictionary).notes
    assert sorted(on[:, 2].astype(int).tolist()) == PLAYED  # every played note, nothing else
    onsets = 0.3 + 0.5 * np.arange(len(PLAYED))
    assert np.abs(np.sort(on[:, 0]) - onsets).max() < 0.05


def test_twelfths_played_together_are_kept(dictionary):
    """Both notes of a twelfth struck together, as loud: two notes each time (with these tones the
    upper note's activation comes out 0.7-0.9 times the lower's in this register; the rule's
    documented limit is a ratio of 0.5)."""
    notes = []
    for i, low in enumerate([45, 47, 48, 50, 52, 53]):
        on = 0.3 + 0.6 * i
        notes += [(on, on + 0.5, low, 100), (on, on + 0.5, low + 19, 100)]
    est = transcribe_signal(render(np.array(notes)), dictionary).notes
    assert sorted(est[:, 2].astype(int).tolist()) == sorted(int(n[2]) for n in notes)


@pytest.mark.parametrize("name", ["bright", "semitones", "held"])
def test_same_notes_whole_and_spilled(dictionary, tmp_path, name):
    path = tmp_path / f"{name}.wav"
    y = {"bright": lambda: bright_piece(4.0), "semitones": lambda: render(semitone_neighbours(19, 1)),
         "held": lambda: render(under_held_notes(25, -1))}[name]()
    sf.write(path, y, SR)
    whole = transcribe_file(path, dictionary).notes
    spilled = transcribe_file(path, dictionary, keep_activations=False).notes
    assert len(whole) >= 6
    np.testing.assert_array_equal(whole, spilled)


@pytest.mark.parametrize("bad", [dict(ghost_ratio=-0.1), dict(ghost_ratio=float("nan")),
                                 dict(ghost_intervals=(0,)), dict(ghost_intervals=(19.5,)),
                                 dict(ghost_window_s=-1.0), dict(semitone_ratio=-0.1),
                                 dict(semitone_ratio=float("nan")), dict(semitone_sounding_ratio=-1.0)])
def test_bad_settings_are_refused(bad):
    with pytest.raises(SettingError):
        NoteParams(**bad)
