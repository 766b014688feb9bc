"""Notes that end with a release tail (a damper, a muted string): the note ends where the key or
string was let go, not where the tail has faded (``NoteParams.release_*``). Synthetic tones, so the
releases are known exactly (no external data)."""

import mir_eval
import numpy as np
import pytest

from nmftrans.core.notes import NoteParams
from nmftrans.transcribe import transcribe_signal
from tests.synth import SR, tone, tone_dictionary


@pytest.fixture(scope="module")
def dictionary(tmp_path_factory):
    """Attack + sustain templates learned from one isolated synthetic tone per pitch."""
    return tone_dictionary(tmp_path_factory.mktemp("isolated"), range(48, 73))


def released_piece(rng, damper_s):
    """Random notes (1-3 at a time) whose sound goes on after each release (the annotated offset),
    falling 60 dB in ``damper_s``; returns the notes and the audio."""
    rows, t = [], 0.3
    for _ in range(24):
        for p in rng.choice(np.arange(48, 73), size=int(rng.integers(1, 4)), replace=False):
            rows.append((t, t + rng.uniform(0.25, 0.9), int(p), int(rng.integers(50, 110))))
        t += rng.uniform(0.3, 0.7)
    notes = np.array(rows, dtype=np.float64)
    y = np.zeros(int((notes[:, 1].max() + damper_s + 0.5) * SR), dtype=np.float32)
    for onset, offset, pitch, velocity in notes:
        x = tone(int(pitch), offset - onset + damper_s, amplitude=0.3 * velocity / 100)
        after = np.arange(len(x)) / SR - (offset - onset)
        x *= 10 ** (-3 * np.maximum(after, 0.0) / damper_s)  # -60 dB in damper_s after the release
        start = int(round(onset * SR))
        y[start:start + len(x)] += x
    return notes[np.lexsort((notes[:, 2], notes[:, 0]))], y


def offsets_within(ref, est, tolerance_s):
    """Share of the onset-matched (50 ms) reference notes whose offset ``est`` gives within
    ``tolerance_s`` (mir_eval.transcription.match_notes)."""
    matched = mir_eval.transcription.match_notes(
        ref[:, :2], mir_eval.util.midi_to_hz(ref[:, 2]), est[:, :2], mir_eval.util.midi_to_hz(est[:, 2]),
        offset_ratio=None)
    assert len(matched) >= 0.9 * len(ref)  # the onsets are found: this is about the ends
    return np.mean([abs(est[j, 1] - ref[i, 1]) <= tolerance_s for i, j in matched])


@pytest.mark.parametrize("damper_s, share", [(0.2, 0.7), (0.5, 0.5)])
def test_notes_end_at_their_release_not_at_the_end_of_its_tail(dictionary, damper_s, share):
    """Offsets within 50 ms of the release: 0.79 and 0.57 of the notes (0.09 and 0.04 without the
    rule, which ends them where the tail fades, 0.05-0.3 s later)."""
    ref, y = released_piece(np.random.default_rng(7), damper_s)
    est = transcribe_signal(y, dictionary).notes
    assert offsets_within(ref, est, 0.05) >= share
    tails = transcribe_signal(y, dictionary, note_params=NoteParams(release_fall_db=0.0)).notes
    assert offsets_within(ref, tails, 0.05) <= 0.2


# --- where notes end: at the release or where the sound fades (NoteParams.note_ends) -------------

FR = 100.0


def released_row():
    """One note held at 1.0 from frame 50 to 149, then a muted string's fall of 2 dB a frame."""
    a = np.zeros(300)
    a[50:150] = 1.0
    a[150:290] = 10 ** (-2.0 * np.arange(1, 141) / 20)
    return a


def test_sound_ends_a_released_note_where_its_sound_fades():
    """``note_ends="sound"``: the note ends at the first frame its activation is under
    ``frame_threshold`` (5 %) of its peak, not 3 dB into the fall (``"release"``, and None with no
    dictionary)."""
    from nmftrans.core.notes import activations_to_notes

    a = released_row()
    fades = 150 + np.argmax(a[150:] < 0.05)  # -26 dB: 13 frames into the fall
    release = 149 + 3.0 / 2.0  # 3 dB below a[149], the fall linear in dB
    sound = activations_to_notes(a[None], np.array([60]), FR, NoteParams(note_ends="sound"))
    assert sound[0, 1] == pytest.approx(fades / FR, abs=1e-9)
    for ends in ("release", None):
        notes = activations_to_notes(a[None], np.array([60]), FR, NoteParams(note_ends=ends))
        assert notes[0, 1] == pytest.approx(release / FR, abs=0.2 / FR)
    assert sound[0, 0] == notes[0, 0]  # the onset does not move


@pytest.mark.parametrize("bad", ["Sound", "off", ""])
def test_note_ends_outside_the_two_conventions_are_refused(bad):
    from nmftrans.errors import SettingError

    with pytest.raises(SettingError, match="note_ends must be one of release, sound"):
        NoteParams(note_ends=bad)


def test_a_dictionary_says_where_its_notes_end(dictionary, tmp_path):
    """A dictionary whose provenance says ``"sound"`` ends the released piece's notes where their
    tails fade, exactly as ``note_ends="sound"`` asked for; an explicit ``"release"`` overrides it.
    The setting round-trips through the file, and a bad value is refused at load."""
    from dataclasses import replace as copy

    from nmftrans.errors import NmftransError
    from nmftrans.io.dictionary import Dictionary, load_dictionary, save_dictionary

    ref, y = released_piece(np.random.default_rng(7), 0.2)
    sounding = copy(dictionary, provenance={**dictionary.provenance, "note_ends": "sound"})
    assert dictionary.note_ends == "release" and sounding.note_ends == "sound"
    by_dictionary = transcribe_signal(y, sounding).notes
    asked = transcribe_signal(y, dictionary, note_params=NoteParams(note_ends="sound")).notes
    np.testing.assert_array_equal(by_dictionary, asked)
    assert offsets_within(ref, by_dictionary, 0.05) <= 0.2  # the tails' ends, 0.05-0.2 s later
    released = transcribe_signal(y, sounding, note_params=NoteParams(note_ends="release")).notes
    assert offsets_within(ref, released, 0.05) >= 0.7
    save_dictionary(sounding, tmp_path / "s.npz")
    assert load_dictionary(tmp_path / "s.npz").note_ends == "sound"
    with pytest.raises(NmftransError, match="note_ends"):
        copy(dictionary, provenance={"note_ends": "fade"})
    bad = dict(np.load(tmp_path / "s.npz", allow_pickle=False))
    bad["provenance"] = np.array('{"note_ends": "fade"}')
    np.savez(tmp_path / "bad.npz", **bad)
    with pytest.raises(NmftransError, match=r"bad\.npz: provenance 'note_ends' must be one of release, sound"):
        load_dictionary(tmp_path / "bad.npz")


def test_the_shipped_guitar_ends_notes_where_they_fade_and_the_piano_at_the_release():
    from nmftrans.io.dictionary import load_dictionary

    assert load_dictionary("guitar").note_ends == "sound"
    assert load_dictionary("piano").note_ends == "release"


def test_note_ends_through_the_cli_and_saved_activations(dictionary, tmp_path):
    """``learn --note-ends sound`` stores it, ``show`` says it, ``transcribe`` ends notes by it
    unless ``--note-ends`` says otherwise, and notes re-tracked from saved activations keep the
    convention of the dictionary they were made with."""
    import soundfile as sf
    from typer.testing import CliRunner

    from nmftrans.cli import app
    from nmftrans.io.annotations import read_notes
    from tests.synth import write_isolated

    runner = CliRunner()
    notes_dir = tmp_path / "notes"
    write_isolated(notes_dir, range(48, 73))
    for name, extra in (("sound", ["--note-ends", "sound"]), ("plain", [])):
        result = runner.invoke(app, ["learn", str(notes_dir), "-o", str(tmp_path / f"{name}.npz"), "-q", *extra])
        assert result.exit_code == 0, result.output
    shown = runner.invoke(app, ["show", str(tmp_path / "sound.npz")])
    assert "note ends    sound" in shown.output
    assert "note ends    release" in runner.invoke(app, ["show", str(tmp_path / "plain.npz")]).output
    ref, y = released_piece(np.random.default_rng(7), 0.2)
    sf.write(tmp_path / "piece.wav", y, SR)

    def run(out, *args):
        result = runner.invoke(app, ["transcribe", *args, "-o", str(tmp_path / out), "--overwrite", "-q"])
        assert result.exit_code == 0, result.output
        return read_notes(tmp_path / out, sustain=False)

    piece = str(tmp_path / "piece.wav")
    fading = run("a.csv", piece, "-W", str(tmp_path / "sound.npz"), "--save-activations")
    assert offsets_within(ref, fading, 0.05) <= 0.2
    released = run("b.csv", piece, "-W", str(tmp_path / "sound.npz"), "--note-ends", "release")
    assert offsets_within(ref, released, 0.05) >= 0.7
    np.testing.assert_allclose(run("c.csv", piece, "-W", str(tmp_path / "plain.npz"))[:, :3], released[:, :3], atol=1e-3)
    retracked = run("d.csv", "--activations", str(tmp_path / "a.activations.npz"))
    assert offsets_within(ref, retracked, 0.05) <= 0.2
    assert offsets_within(ref, run("e.csv", "--activations", str(tmp_path / "a.activations.npz"),
                                   "--note-ends", "release"), 0.05) >= 0.7
    bad = runner.invoke(app, ["transcribe", piece, "--note-ends", "fade"])
    assert bad.exit_code == 2 and "--note-ends must be one of release, sound" in bad.output
