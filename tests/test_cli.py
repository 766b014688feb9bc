"""Each command through Typer's CliRunner, on synthetic harmonic tones with known notes."""

import json

import mir_eval
import numpy as np
import pytest
import soundfile as sf
from typer.testing import CliRunner

from nmftrans import __version__
from nmftrans.io.annotations import read_notes
from nmftrans.cli import app
from nmftrans.io.dictionary import load_dictionary
from nmftrans.io.midi import notes_to_csv
from tests.synth import SR, example_notes, render, write_isolated

runner = CliRunner()
PITCHES = range(55, 68)


def onset_f(ref, est):
    if len(est) == 0:
        return 0.0
    return mir_eval.transcription.precision_recall_f1_overlap(
        ref[:, :2], mir_eval.util.midi_to_hz(ref[:, 2]), est[:, :2], mir_eval.util.midi_to_hz(est[:, 2]),
        offset_ratio=None)[2]


@pytest.fixture(scope="module")
def learned(tmp_path_factory):
    """A dictionary learned with the CLI from synthetic isolated notes, and a rendered piece."""
    tmp = tmp_path_factory.mktemp("cli")
    write_isolated(tmp / "notes", PITCHES)
    result = runner.invoke(app, ["learn", str(tmp / "notes"), "-o", str(tmp / "W.npz"), "--quiet"])
    assert result.exit_code == 0, result.output
    notes = example_notes(np.random.default_rng(1), pitches=PITCHES, n=24)
    sf.write(tmp / "piece.wav", render(notes), SR)
    (tmp / "piece.csv").write_text(notes_to_csv(notes))
    return tmp, notes


def test_version():
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0 and __version__ in result.stdout


def test_learn_isolated_notes_gives_one_template_per_pitch(learned):
    tmp, _ = learned
    d = load_dictionary(tmp / "W.npz")
    assert d.pitch_set.tolist() == list(PITCHES)
    assert d.provenance["method"] == "isolated"
    # each template's strongest bin is near its pitch's fundamental or a low partial
    from nmftrans.core.features import frequencies
    f0 = 440 * 2 ** ((d.pitches - 69) / 12)
    peak = frequencies(d.settings)[d.W.argmax(axis=0)]
    ratio = peak / f0
    assert np.all(np.abs(ratio - np.round(ratio)) < 0.1)


def test_transcribe_synthetic_piece_reaches_onset_f(learned, tmp_path):
    tmp, notes = learned
    out = tmp_path / "piece.mid"
    result = runner.invoke(app, ["transcribe", str(tmp / "piece.wav"), "-W", str(tmp / "W.npz"), "-o", str(out), "--csv"])
    assert result.exit_code == 0, result.output
    est = read_notes(out, sustain=False)
    assert onset_f(notes, est) >= 0.9
    csv = read_notes(out.with_suffix(".csv"))
    by_pitch = lambda x: x[np.lexsort((x[:, 0], x[:, 2]))]  # noqa: E731  (ticks may reorder near-simultaneous onsets)
    np.testing.assert_allclose(by_pitch(csv), by_pitch(est), atol=2e-3)


def test_transcribe_to_stdout_and_json(learned):
    tmp, notes = learned
    result = runner.invoke(app, ["transcribe", str(tmp / "piece.wav"), "-W", str(tmp / "W.npz"), "-o", "-", "--json"])
    assert result.exit_code == 0
    rows = json.loads(result.stdout)
    est = np.array([[r["onset"], r["offset"], r["pitch"], r["velocity"]] for r in rows])
    assert onset_f(notes, est) >= 0.9


def test_batch_goes_on_after_a_bad_file_and_skips_existing_outputs(learned, tmp_path):
    tmp, _ = learned
    bad = tmp_path / "broken.wav"
    bad.write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunk")
    out = tmp_path / "out"
    args = ["transcribe", str(bad), str(tmp / "piece.wav"), "-W", str(tmp / "W.npz"), "-o", str(out)]
    result = runner.invoke(app, args)
    assert result.exit_code == 1
    assert "broken.wav" in result.stderr and "Traceback" not in result.output
    assert (out / "piece.mid").is_file() and not (out / "broken.mid").exists()
    before = (out / "piece.mid").stat().st_mtime_ns
    again = runner.invoke(app, ["transcribe", str(tmp / "piece.wav"), "-W", str(tmp / "W.npz"), "-o", str(out)])
    assert again.exit_code == 0 and "skipped" in again.stderr
    assert (out / "piece.mid").stat().st_mtime_ns == before


def test_silence_gives_an_empty_midi_and_a_warning(learned, tmp_path):
    tmp, _ = learned
    sf.write(tmp_path / "silence.wav", np.zeros(SR, dtype=np.float32), SR)
    result = runner.invoke(app, ["transcribe", str(tmp_path / "silence.wav"), "-W", str(tmp / "W.npz"),
                                 "-o", str(tmp_path / "s.mid")])
    assert result.exit_code == 0
    assert "silent" in result.stderr
    import mido
    messages = mido.MidiFile(tmp_path / "s.mid").tracks[0]
    assert not [m for m in messages if m.type == "note_on"]


@pytest.mark.parametrize("args, message", [
    (["transcribe", "missing.wav", "-W", "{W}"], "no such file"),
    (["transcribe", "{wav}", "-W", "{tmp}/nope.npz"], "no such dictionary"),
    (["transcribe", "{empty}", "-W", "{W}"], "empty file"),
    (["learn", "{tmp}/does-not-exist", "-o", "{tmp}/x.npz"], "no such file or folder"),
    (["learn", "--harmonic", "--lowest", "H9", "-o", "{tmp}/x.npz"], "not a pitch"),
])
def test_bad_input_is_one_line_and_nonzero(learned, tmp_path, args, message):
    tmp, _ = learned
    empty = tmp_path / "empty.wav"
    empty.write_bytes(b"")
    fmt = {"W": str(tmp / "W.npz"), "wav": str(tmp / "piece.wav"), "tmp": str(tmp_path), "empty": str(empty)}
    result = runner.invoke(app, [a.format(**fmt) for a in args])
    assert result.exit_code != 0
    assert message in result.stderr
    assert "Traceback" not in result.output
    assert len([line for line in result.stderr.splitlines() if line.startswith("error")]) == 1


def test_learn_harmonic(tmp_path):
    result = runner.invoke(app, ["learn", "--harmonic", "--lowest", "C4", "--highest", "72", "-o", str(tmp_path / "h.npz")])
    assert result.exit_code == 0, result.output
    d = load_dictionary(tmp_path / "h.npz")
    assert d.pitch_set.tolist() == list(range(60, 73))


def test_learn_labelled_audio_with_h_fixed_to_the_piano_roll(tmp_path):
    rng = np.random.default_rng(3)
    for i in range(2):
        notes = example_notes(rng, pitches=PITCHES, n=16, polyphony=2)
        sf.write(tmp_path / f"take{i}.wav", render(notes), SR)
        (tmp_path / f"take{i}.csv").write_text(notes_to_csv(notes))
    result = runner.invoke(app, ["learn", str(tmp_path), "-o", str(tmp_path / "L.npz"), "--iterations", "30"])
    assert result.exit_code == 0, result.output
    assert "2 pairs" in result.stderr
    d = load_dictionary(tmp_path / "L.npz")
    assert d.provenance["method"] == "labelled"
    # the learned template of a trained pitch is harmonic with its fundamental at f0
    from nmftrans.core.features import frequencies
    freqs = frequencies(d.settings)
    trained = [p for p in d.provenance["learned"]][0]
    col = d.W[:, d.pitches.tolist().index(trained)]
    f0 = 440 * 2 ** ((trained - 69) / 12)
    assert col[np.abs(freqs - f0) < 0.03 * f0].sum() > 0.1 * col.max()


@pytest.mark.parametrize("method", ["informed", "fixed"])
def test_learn_labelled_reports_fit_and_frames_per_pitch(tmp_path, method):
    """stderr: each file's divergence per frame, the annotated frames of each pitch, and a warning
    naming the pitches learned from few frames (here one 0.3 s note of D5); stdout: the output only."""
    from nmftrans.core.pitches import midi_to_name

    rng = np.random.default_rng(3)
    notes = example_notes(rng, pitches=PITCHES, n=16, polyphony=2)
    last = notes[:, 1].max()
    notes = np.vstack([notes, [[last + 0.1, last + 0.4, 74, 80]]])
    sf.write(tmp_path / "take.wav", render(notes), SR)
    (tmp_path / "take.csv").write_text(notes_to_csv(notes))
    out = tmp_path / "L.npz"
    result = runner.invoke(app, ["learn", str(tmp_path), "-o", str(out), "--iterations", "10", "--method", method])
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == str(out)
    fit = [line for line in result.stderr.splitlines() if line.startswith("fit take.wav: divergence")]
    assert len(fit) == 1 and "frames)" in fit[0]
    counts = dict(item.split(":") for item in
                  next(line for line in result.stderr.splitlines() if line.startswith("annotated frames per pitch: "))
                  .split(": ", 1)[1].split())
    d = load_dictionary(out)
    assert d.provenance["learning"] == method
    assert (d.provenance.get("informed") or {}).get("prior_share") == (0.5 if method == "informed" else None)
    fr = d.settings.frame_rate
    assert int(counts["D5"]) == int(np.ceil((last + 0.4) * fr - 1e-9) - np.ceil((last + 0.1) * fr - 1e-9))
    thin = [line for line in result.stderr.splitlines() if line.startswith("warning: learned from fewer than")]
    assert len(thin) == 1 and "D5" in thin[0].split(": ", 2)[2].split()
    assert midi_to_name(int(notes[0, 2])) in counts


def test_learn_unknown_method_is_a_one_line_error(tmp_path):
    result = runner.invoke(app, ["learn", str(tmp_path), "-o", str(tmp_path / "L.npz"), "--method", "magic"])
    assert result.exit_code != 0 and "unknown learning method" in result.stderr
    assert "Traceback" not in result.output


def test_jobs_give_identical_outputs(learned, tmp_path):
    tmp, notes = learned
    second = tmp_path / "in" / "piece2.wav"
    second.parent.mkdir()
    sf.write(second, render(notes[:10]), SR)
    outs = {}
    for n in ("1", "2"):
        out = tmp_path / f"out{n}"
        result = runner.invoke(app, ["transcribe", str(tmp / "piece.wav"), str(second), "-W", str(tmp / "W.npz"),
                                     "-o", str(out), "-j", n, "--csv"])
        assert result.exit_code == 0, result.output
        outs[n] = {p.name: p.read_text() for p in sorted(out.glob("*.csv"))}
    assert len(outs["1"]) == 2 and outs["1"] == outs["2"]
