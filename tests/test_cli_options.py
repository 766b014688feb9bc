"""Each ``transcribe`` option changes the output the way its ``--help`` says, through the CLI.

The input is a rendered piece over a harmonic C4-C5 dictionary with the cases the options are
about: loud long notes, two short notes (80 ms), two soft notes (velocity 22 of 100), chords.
Each test compares a run with the option against the plain run (or against the notes the help
promises), so an option that is not passed on (a disconnected wire) fails its test.
"""

from __future__ import annotations

import mido
import numpy as np
import pytest
import soundfile as sf
from typer.testing import CliRunner

from nmftrans.io.annotations import read_notes
from nmftrans.cli import app
from tests.synth import SR, render

runner = CliRunner()

LONG, SHORT, SOFT = 0.6, 0.08, 22
PIECE = np.array([
    [0.30, 0.30 + LONG, 60, 100], [0.30, 0.30 + LONG, 64, 100],
    [1.10, 1.10 + SHORT, 67, 100],
    [1.40, 1.40 + SHORT, 72, 100],
    [1.70, 1.70 + LONG, 62, 100],
    [2.50, 2.50 + LONG, 65, SOFT], [2.50, 2.50 + LONG, 69, SOFT],
    [3.30, 3.30 + LONG, 60, 100], [3.30, 3.30 + LONG, 71, 100],
])


@pytest.fixture(scope="module")
def kit(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("options")
    result = runner.invoke(app, ["learn", "--harmonic", "--lowest", "C4", "--highest", "C5", "-o", str(tmp / "W.npz"), "-q"])
    assert result.exit_code == 0, result.output
    sf.write(tmp / "piece.wav", render(PIECE), SR)
    return tmp


def transcribe(kit, out, *args):
    """Transcribe the piece to ``out`` (.csv or .mid) with ``args``; the notes written."""
    result = runner.invoke(app, ["transcribe", str(kit / "piece.wav"), "-W", str(kit / "W.npz"), "-o", str(out),
                                 "--overwrite", *[str(a) for a in args]])
    assert result.exit_code == 0, result.output
    return read_notes(out, sustain=False)


@pytest.fixture(scope="module")
def base(kit):
    """The plain transcription: every note of the piece, within 30 ms."""
    notes = transcribe(kit, kit / "base.csv")
    assert sorted(notes[:, 2]) == sorted(PIECE[:, 2])
    for onset, _, pitch, _ in PIECE:
        assert np.any((notes[:, 2] == pitch) & (np.abs(notes[:, 0] - onset) < 0.03)), (onset, pitch)
    return notes


def durations(notes):
    return notes[:, 1] - notes[:, 0]


def test_min_note_ms_drops_exactly_the_short_notes(kit, base, tmp_path):
    """--min-note-ms: "Drop notes shorter than this (ms)"."""
    assert (durations(base) < 0.15).sum() == 2  # the two 80 ms notes
    got = transcribe(kit, tmp_path / "o.csv", "--min-note-ms", 150)
    np.testing.assert_array_equal(got, base[durations(base) >= 0.15])
    np.testing.assert_array_equal(transcribe(kit, tmp_path / "o.csv", "--min-note-ms", 30), base)


def test_onset_threshold_lower_finds_more_notes(kit, base, tmp_path):
    """--onset-threshold: "Onset sensitivity: lower finds more notes". A high threshold loses the
    two soft notes and keeps the rest as they were; a low one keeps all and finds more (at 0.05:
    the tones a whole tone under two of the notes; at 0.1 the extras were semitone neighbours,
    which the semitone-ghost rule drops)."""
    strict = transcribe(kit, tmp_path / "s.csv", "--onset-threshold", 0.6)
    np.testing.assert_array_equal(strict, base[~np.isin(base[:, 2], [65, 69])])
    loose = transcribe(kit, tmp_path / "l.csv", "--onset-threshold", 0.05)
    assert len(loose) > len(base)
    assert {tuple(n) for n in base.tolist()} <= {tuple(n) for n in loose.tolist()}


def test_frame_threshold_lower_gives_longer_notes(kit, tmp_path):
    """--frame-threshold: "How long fading notes last: lower gives longer notes". On notes that
    fade out while held (no release): same onsets, each note longer with a lower threshold and
    shorter with a higher one. (The piece's own notes stop within 30 ms: they end there whatever
    the threshold.)"""
    fading = np.array([[0.3, 4.3, 60, 100], [0.3, 4.3, 64, 100], [1.0, 4.3, 67, 90]])
    sf.write(tmp_path / "fading.wav", render(fading, decay_s=0.4), SR)

    def run(*args):
        out = tmp_path / "o.csv"
        result = runner.invoke(app, ["transcribe", str(tmp_path / "fading.wav"), "-W", str(kit / "W.npz"), "-o",
                                     str(out), "--overwrite", *[str(a) for a in args]])
        assert result.exit_code == 0, result.output
        notes = read_notes(out, sustain=False)
        return notes[np.isin(notes[:, 2], fading[:, 2])]  # the played notes (not a ghost octave)

    plain, longer, shorter = run(), run("--frame-threshold", 0.01), run("--frame-threshold", 0.3)
    assert sorted(plain[:, 2]) == [60, 64, 67]
    for notes in (longer, shorter):
        np.testing.assert_array_equal(notes[:, [0, 2, 3]], plain[:, [0, 2, 3]])
    assert np.all(durations(longer) > durations(plain) + 0.05)
    assert np.all(durations(shorter) < durations(plain) - 0.05)


def test_lowest_and_highest_keep_the_notes_inside_the_range(kit, base, tmp_path):
    """--lowest/--highest: "Lowest/Highest pitch to transcribe" (names or MIDI numbers, both ends
    included): exactly the plain run's notes inside the range."""
    got = transcribe(kit, tmp_path / "o.csv", "--lowest", "D4", "--highest", 69)
    inside = base[(base[:, 2] >= 62) & (base[:, 2] <= 69)]
    assert set(inside[:, 2].tolist()) == {62, 64, 65, 67, 69}
    np.testing.assert_array_equal(got, inside)


def _raw(path):
    """(absolute tick, message) of the MIDI file's one track, in file order."""
    tick, out = 0, []
    for msg in mido.MidiFile(path).tracks[0]:
        tick += msg.time
        out.append((tick, msg))
    return out


def test_tempo_is_written_and_note_times_stay_in_seconds(kit, base, tmp_path):
    """--tempo: "MIDI tempo in BPM (note times stay in seconds)": the file's tempo is 90 bpm and
    each note_on sits at onset × 480 × 90 / 60 ticks."""
    transcribe(kit, tmp_path / "o.mid", "--tempo", 90)
    events = _raw(tmp_path / "o.mid")
    assert [m.tempo for _, m in events if m.type == "set_tempo"] == [mido.bpm2tempo(90)]
    ons = sorted((t, m.note) for t, m in events if m.type == "note_on" and m.velocity > 0)
    expected = sorted((round(onset * 480 * 90 / 60), int(p)) for onset, _, p, _ in base)
    assert len(ons) == len(expected)
    for (tick, pitch), (tick_expected, pitch_expected) in zip(ons, expected):
        assert pitch == pitch_expected and abs(tick - tick_expected) <= 1  # CSV times are rounded to 0.1 ms


def test_program_is_written_and_defaults_to_the_dictionarys(kit, tmp_path):
    """--program: "MIDI program (0 piano, 24 nylon guitar); default: from the dictionary"."""
    from nmftrans.io.dictionary import Dictionary, load_dictionary, save_dictionary

    def programs(path):
        return [m.program for _, m in _raw(path) if m.type == "program_change"]

    transcribe(kit, tmp_path / "a.mid", "--program", 24)
    assert programs(tmp_path / "a.mid") == [24]
    transcribe(kit, tmp_path / "b.mid")
    assert programs(tmp_path / "b.mid") == [0]  # the harmonic dictionary names no program
    d = load_dictionary(kit / "W.npz")
    guitar = Dictionary(d.W, d.pitches, d.roles, d.settings, d.beta, {**d.provenance, "program": 25})
    save_dictionary(guitar, tmp_path / "G.npz")
    result = runner.invoke(app, ["transcribe", str(kit / "piece.wav"), "-W", str(tmp_path / "G.npz"), "-o",
                                 str(tmp_path / "c.mid")])
    assert result.exit_code == 0, result.output
    assert programs(tmp_path / "c.mid") == [25]


@pytest.fixture
def solver_calls(monkeypatch):
    """Record the MU iteration counts and template counts the solver is called with."""
    from nmftrans.core import kernels

    calls = []
    real = kernels.update_activations

    def spy(V, W, H, **kwargs):
        calls.append((kwargs.get("n_iter"), W.shape[1]))
        return real(V, W, H, **kwargs)

    monkeypatch.setattr(kernels, "update_activations", spy)
    return calls


def _activations(kit, folder, *args):
    transcribe(kit, folder / "o.mid", "--save-activations", *args)
    with np.load(folder / "o.activations.npz", allow_pickle=False) as npz:
        return npz["activations"]


def test_iterations_sets_the_solvers_iteration_count(kit, tmp_path, solver_calls):
    """--iterations: "MU iterations of the solver": the first solve of each block runs that many
    updates (the adaptation's own 7 follow), and the activations change."""
    default = _activations(kit, tmp_path)
    first_default = solver_calls[0][0]
    solver_calls.clear()
    few = _activations(kit, tmp_path, "--iterations", 2)
    assert first_default == 12 and solver_calls[0][0] == 2
    assert {n for n, _ in solver_calls} == {2, 7}
    assert np.abs(few - default).max() > 0.01


def test_floor_octaves_sets_the_number_of_floor_templates(kit, tmp_path, solver_calls):
    """--floor-octaves: "Octaves between the broadband floor templates ... (default 2; 0: none)":
    0 solves with the 13 pitch templates only, closer spacing adds more floor templates."""
    counts = {}
    for octaves in (None, 0, 2, 1):
        solver_calls.clear()
        _activations(kit, tmp_path, *(["--floor-octaves", octaves] if octaves is not None else []))
        counts[octaves] = {w for _, w in solver_calls}
    assert counts[0] == {13}
    assert counts[None] == counts[2] and len(counts[2]) == 1 and min(counts[2]) > 13
    assert min(counts[1]) > min(counts[2])


def test_eq_octaves_sets_the_response_gains_smoothing(kit, tmp_path, monkeypatch):
    """--eq-octaves: "Smoothing (octaves) of the gain that fits the templates to the recording's
    colour (default 0.5; 0: none)"."""
    from nmftrans import transcribe as use_case

    widths = []
    real = use_case.response_gains
    monkeypatch.setattr(use_case, "response_gains",
                        lambda *a, **k: widths.append(k["width_octaves"]) or real(*a, **k))
    default = _activations(kit, tmp_path)
    assert set(widths) == {0.5}
    widths.clear()
    wide = _activations(kit, tmp_path, "--eq-octaves", 2)
    assert set(widths) == {2.0}
    widths.clear()
    none = _activations(kit, tmp_path, "--eq-octaves", 0)
    assert widths == []
    assert np.abs(none - default).max() > 1e-3 and np.abs(wide - default).max() > 1e-3
