"""Soft chord notes (issue 16): a note whose activation peaks below ``onset_threshold`` is kept when
a louder note of another pitch (not an octave, twelfth or double octave away) starts with it, and
only then. Synthetic tones (tests/synth.py), so the notes are known exactly."""

import dataclasses

import numpy as np
import pytest
import soundfile as sf

from nmftrans.core.chord_notes import add_chord_notes
from nmftrans.core.notes import NoteParams
from nmftrans.errors import SettingError
from nmftrans.transcribe import SolverParams, transcribe_file, transcribe_signal
from tests.synth import SR, tone, tone_dictionary

LOUD = 72  # C5, amplitude 0.3
PARTNERS = (64,)  # soft chord partner: 8 semitones below it
OCTAVE = 60  # soft, an octave below the loud note: shares its partials, never anchored by it
ALONE = 69  # soft, struck alone between the chords
SOFT = 0.08  # amplitude ratio of the soft notes: they peak below onset_threshold 0.3
CHORDS = 4


@pytest.fixture(scope="module")
def dictionary(tmp_path_factory):
    return tone_dictionary(tmp_path_factory.mktemp("isolated"), range(55, 80))


def piece(soft=SOFT):
    y = np.zeros(int((0.3 + 0.8 * CHORDS + 0.5) * SR), dtype=np.float32)
    for i in range(CHORDS):
        for t, pitches, amp in [(0.3 + 0.8 * i, (LOUD,), 0.3), (0.3 + 0.8 * i, PARTNERS + (OCTAVE,), 0.3 * soft),
                                (0.7 + 0.8 * i, (ALONE,), 0.3 * soft)]:
            s = int(round(t * SR))
            for p in pitches:
                x = tone(p, 0.35, amplitude=amp)
                y[s:s + len(x)] += x
    return y


def found(notes, pitch, at):
    """How many of the times ``at`` have a note of ``pitch`` starting within 50 ms."""
    on = notes[notes[:, 2] == pitch, 0]
    return sum(bool(np.any(np.abs(on - t) <= 0.05)) for t in at)


CHORD_TIMES = [0.3 + 0.8 * i for i in range(CHORDS)]
ALONE_TIMES = [0.7 + 0.8 * i for i in range(CHORDS)]


def test_soft_chord_partners_are_kept_and_soft_notes_alone_are_not(dictionary):
    """Measured: the partner 0/4 without the rule, 4/4 with chord_ratio 2/3 (threshold 0.2); the octave below
    and the note alone 0/4 either way; the loud note 4/4."""
    y = piece()
    params = NoteParams(chord_ratio=2 / 3)
    off = transcribe_signal(y, dictionary, note_params=NoteParams(chord_ratio=0)).notes
    on = transcribe_signal(y, dictionary, note_params=params).notes
    assert sum(found(off, p, CHORD_TIMES) for p in PARTNERS) == 0  # below the threshold
    assert sum(found(on, p, CHORD_TIMES) for p in PARTNERS) == CHORDS
    assert found(on, LOUD, CHORD_TIMES) == CHORDS
    assert found(on, OCTAVE, CHORD_TIMES) == 0
    assert found(on, ALONE, ALONE_TIMES) == 0
    assert found(off, ALONE, ALONE_TIMES) == 0
    assert len(on) == 2 * CHORDS  # nothing else


def test_soft_chord_notes_do_not_depend_on_spilled_tracking(dictionary, tmp_path):
    y = piece()
    params = NoteParams(chord_ratio=2 / 3)
    solver = SolverParams(block_s=1.0, threads=1)
    whole = transcribe_signal(y, dictionary, solver, params).notes
    sf.write(tmp_path / "chords.wav", y, SR, subtype="FLOAT")
    spilled = transcribe_file(tmp_path / "chords.wav", dictionary, dataclasses.replace(solver, threads=2), params,
                              keep_activations=False).notes
    np.testing.assert_array_equal(spilled, whole)
    assert len(whole) == 2 * CHORDS


def test_add_chord_notes_by_hand():
    """Anchors and rejections counted by hand."""
    notes = np.array([[1.0, 2.0, 72, 100], [3.0, 4.0, 50, 100], [5.0, 6.0, 70, 100]])
    candidates = np.array([
        [1.01, 1.5, 64, 60],  # kept: 72 starts 10 ms away, 8 semitones
        [1.02, 1.5, 60, 60],  # octave below the only note starting there: out
        [1.02, 1.5, 73, 60],  # a semitone from a note starting there: out
        [1.5, 1.9, 65, 60],  # no note starts within 30 ms: out
        [3.01, 3.5, 62, 60],  # 50 sounds 12 below: out
        [3.02, 3.5, 57, 60],  # kept (7 above 50: not a partial interval of the list)
        [5.6, 5.9, 70, 60],  # inside 70's note, but no other note starts: out
        [1.0, 1.9, 72, 60],  # the note already found: out
    ])
    out = add_chord_notes(notes, candidates, 0.03, 0.06)
    assert sorted(map(tuple, out[:, :3])) == sorted([(1.0, 2.0, 72), (3.0, 4.0, 50), (5.0, 6.0, 70),
                                                     (1.01, 1.5, 64), (3.02, 3.5, 57)])


def test_a_soft_restrike_with_a_chord_splits_the_ringing_note():
    notes = np.array([[1.0, 3.0, 64, 80], [2.0, 2.5, 72, 100]])
    out = add_chord_notes(notes, np.array([[2.01, 2.4, 64, 60]]), 0.03, 0.06)
    np.testing.assert_allclose(out[:, :3], [[1.0, 2.01, 64], [2.0, 2.5, 72], [2.01, 3.0, 64]])


@pytest.mark.parametrize("value", [-0.1, 1.0, 1.5, float("nan")])
def test_chord_ratio_is_checked(value):
    with pytest.raises(SettingError, match="chord_ratio"):
        NoteParams(chord_ratio=value)


def test_the_default_settings_keep_soft_chord_partners(dictionary):
    """With the shipped defaults (chord_ratio 0.9: threshold 0.27): measured, partners at 0.11 of the
    loud note peak between 0.27 and 0.3; 4/4 found with the default rule, 0/4 with it off."""
    y = piece(soft=0.11)
    on = transcribe_signal(y, dictionary).notes
    off = transcribe_signal(y, dictionary, note_params=NoteParams(chord_ratio=0)).notes
    assert sum(found(on, p, CHORD_TIMES) for p in PARTNERS) == CHORDS
    assert sum(found(off, p, CHORD_TIMES) for p in PARTNERS) == 0
    assert found(on, LOUD, CHORD_TIMES) == CHORDS and found(on, OCTAVE, CHORD_TIMES) == 0


def test_retracking_saved_activations_keeps_the_soft_chord_notes(dictionary, tmp_path):
    """``transcribe --activations`` re-tracks with the soft chord notes too (they read the
    activations only): the same notes as the run that saved them (before: 8 of its 12)."""
    from typer.testing import CliRunner

    from nmftrans.cli import app
    from nmftrans.io.annotations import read_notes
    from nmftrans.io.dictionary import save_dictionary

    runner = CliRunner()
    sf.write(tmp_path / "chords.wav", piece(soft=0.11), SR)
    save_dictionary(dictionary, tmp_path / "W.npz")
    first = runner.invoke(app, ["transcribe", str(tmp_path / "chords.wav"), "-W", str(tmp_path / "W.npz"),
                                "-o", str(tmp_path / "first.csv"), "--save-activations"])
    assert first.exit_code == 0, first.output
    again = runner.invoke(app, ["transcribe", "--activations", str(tmp_path / "first.activations.npz"),
                                "-o", str(tmp_path / "again.csv")])
    assert again.exit_code == 0, again.output
    before, after = read_notes(tmp_path / "first.csv"), read_notes(tmp_path / "again.csv")
    assert sum(found(before, p, CHORD_TIMES) for p in PARTNERS) == CHORDS
    np.testing.assert_array_equal(after, before)
