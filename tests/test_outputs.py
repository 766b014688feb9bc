"""transcribe's outputs and knobs end to end through the CLI: activations, re-tracking, plots,
sonification, MIDI options, stdin, batch exit codes and interruption; and ``show``."""

import json
import sys

import mido
import numpy as np
import pytest
import soundfile as sf
from typer.testing import CliRunner

from nmftrans import batch
from nmftrans.io.annotations import read_notes
from nmftrans.cli import app
from nmftrans.io.dictionary import load_dictionary
from nmftrans.io.plot import plot_transcription
from nmftrans.core.note_errors import match_onsets
from nmftrans.io.sonify import partial_amplitudes, sonify_notes
from tests.synth import SR, example_notes, render

runner = CliRunner()
PITCHES = range(60, 73)


def onset_f(ref, est, tol=0.05):
    hit, found = match_onsets(est, ref, tol)
    if len(est) == 0 or len(ref) == 0:
        return 0.0
    p, r = hit.mean(), found.mean()
    return 0.0 if p + r == 0 else 2 * p * r / (p + r)


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    """A harmonic C4-C5 dictionary (cheap) and a rendered two-voice piece over that range."""
    tmp = tmp_path_factory.mktemp("outputs")
    result = runner.invoke(app, ["learn", "--harmonic", "--lowest", "C4", "--highest", "C5", "-o", str(tmp / "W.npz"), "-q"])
    assert result.exit_code == 0, result.output
    notes = example_notes(np.random.default_rng(7), pitches=PITCHES, n=20, spacing=0.4)
    sf.write(tmp / "piece.wav", render(notes), SR)
    return tmp, notes


def transcribe(setup, *args):
    tmp, _ = setup
    return runner.invoke(app, ["transcribe", *[str(a) for a in args], "-W", str(tmp / "W.npz")])


def test_plain_transcription_finds_the_notes(setup, tmp_path):
    tmp, notes = setup
    result = transcribe(setup, tmp / "piece.wav", "-o", tmp_path / "p.mid")
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == str(tmp_path / "p.mid")
    assert onset_f(notes, read_notes(tmp_path / "p.mid", sustain=False)) >= 0.9


def test_save_activations_then_retrack_without_solving(setup, tmp_path, monkeypatch):
    tmp, _ = setup
    out = tmp_path / "p.mid"
    result = transcribe(setup, tmp / "piece.wav", "-o", out, "--save-activations")
    assert result.exit_code == 0, result.output
    saved = tmp_path / "p.activations.npz"
    assert result.stdout.split() == [str(out), str(saved)]
    with np.load(saved, allow_pickle=False) as npz:
        A, pitches, rate, times = npz["activations"], npz["pitches"], float(npz["frame_rate"]), npz["times"]
        assert A.dtype == np.float32 and A.shape == (len(pitches), len(times))
        assert pitches.tolist() == list(PITCHES)
        np.testing.assert_allclose(times, np.arange(len(times)) / rate)
        d = load_dictionary(tmp / "W.npz")
        assert json.loads(str(npz["settings"])) == json.loads(d.settings.to_json())
        assert json.loads(str(npz["provenance"]))["method"] == d.provenance["method"]
    # re-tracking must not solve anything
    from nmftrans.core import kernels
    monkeypatch.setattr(kernels, "update_activations", lambda *a, **k: pytest.fail("solved again"))
    again = runner.invoke(app, ["transcribe", "--activations", str(saved), "-o", str(tmp_path / "same.mid")])
    assert again.exit_code == 0, again.output
    np.testing.assert_allclose(read_notes(tmp_path / "same.mid", sustain=False), read_notes(out, sustain=False), atol=2e-3)
    strict = runner.invoke(app, ["transcribe", "--activations", str(saved), "-o", "-", "--onset-threshold", "0.9"])
    assert strict.exit_code == 0
    assert 1 <= len(strict.stdout.splitlines()) < len(read_notes(out, sustain=False)) + 1


def test_retrack_default_output_name_and_plot(setup, tmp_path, monkeypatch):
    tmp, _ = setup
    transcribe(setup, tmp / "piece.wav", "-o", tmp_path / "p.mid", "--save-activations")
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, ["transcribe", "--activations", "p.activations.npz", "--overwrite", "--plot", "--csv"])
    assert result.exit_code == 0, result.output
    assert result.stdout.split() == ["p.mid", "p.csv", "p.png"]


def test_lowest_and_highest_remove_notes_outside_the_range(setup, tmp_path):
    tmp, notes = setup
    result = transcribe(setup, tmp / "piece.wav", "-o", tmp_path / "r.mid", "--lowest", "E4", "--highest", "69")
    assert result.exit_code == 0, result.output
    est = read_notes(tmp_path / "r.mid", sustain=False)
    assert len(est) and est[:, 2].min() >= 64 and est[:, 2].max() <= 69
    inside = notes[(notes[:, 2] >= 64) & (notes[:, 2] <= 69)]
    assert onset_f(inside, est) >= 0.9


def test_program_and_tempo_are_written_and_times_stay_in_seconds(setup, tmp_path):
    tmp, _ = setup
    assert transcribe(setup, tmp / "piece.wav", "-o", tmp_path / "a.mid").exit_code == 0
    result = transcribe(setup, tmp / "piece.wav", "-o", tmp_path / "b.mid", "--program", "24", "--tempo", "90")
    assert result.exit_code == 0, result.output
    messages = list(mido.MidiFile(tmp_path / "b.mid").tracks[0])
    assert [m.program for m in messages if m.type == "program_change"] == [24]
    assert [m.tempo for m in messages if m.type == "set_tempo"] == [mido.bpm2tempo(90)]
    a, b = (read_notes(tmp_path / name, sustain=False) for name in ("a.mid", "b.mid"))
    by_pitch = lambda x: x[np.lexsort((x[:, 0], x[:, 2]))]  # noqa: E731 - ticks may reorder near-simultaneous onsets
    np.testing.assert_allclose(by_pitch(b), by_pitch(a), atol=3e-3)


def test_min_note_ms_and_thresholds(setup, tmp_path):
    tmp, _ = setup
    base = read_notes_of(setup, tmp_path, "base")
    long_only = read_notes_of(setup, tmp_path, "long", "--min-note-ms", "300")
    assert len(long_only) < len(base) or (base[:, 1] - base[:, 0]).min() >= 0.3
    assert len(long_only) == 0 or (long_only[:, 1] - long_only[:, 0]).min() >= 0.3 - 0.02
    strict = read_notes_of(setup, tmp_path, "strict", "--onset-threshold", "0.95")
    assert len(strict) < len(base)
    longer = read_notes_of(setup, tmp_path, "longer", "--frame-threshold", "0.01")
    shorter = read_notes_of(setup, tmp_path, "shorter", "--frame-threshold", "0.5")
    assert (longer[:, 1] - longer[:, 0]).sum() > (shorter[:, 1] - shorter[:, 0]).sum()


def read_notes_of(setup, folder, name, *args):
    tmp, _ = setup
    result = transcribe(setup, tmp / "piece.wav", "-o", folder / f"{name}.csv", *args)
    assert result.exit_code == 0, result.output
    return read_notes(folder / f"{name}.csv")


def test_paths_from_stdin_and_summary(setup, tmp_path):
    tmp, _ = setup
    other = tmp_path / "other.wav"
    other.write_bytes((tmp / "piece.wav").read_bytes())
    result = runner.invoke(app, ["transcribe", "-", "-W", str(tmp / "W.npz"), "-o", str(tmp_path / "out")],
                           input=f"{tmp / 'piece.wav'}\n\n{other}\n")
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["other.mid", "piece.mid"]
    assert "2 of 2 files transcribed" in result.stderr
    assert "\x1b" not in result.stderr  # no progress bar when stderr is not a terminal
    quiet = runner.invoke(app, ["transcribe", "-", "-W", str(tmp / "W.npz"), "-o", str(tmp_path / "out"), "-q", "--overwrite"],
                          input=f"{other}\n")
    assert quiet.exit_code == 0 and quiet.stderr == ""


def test_exit_codes_0_1_2(setup, tmp_path):
    tmp, _ = setup
    ok = transcribe(setup, tmp / "piece.wav", "-o", tmp_path / "ok.mid")
    assert ok.exit_code == 0
    some = transcribe(setup, tmp / "piece.wav", tmp_path / "missing.wav", "-o", tmp_path / "o")
    assert some.exit_code == 1 and "1 of 2 files transcribed, 1 failed" in some.stderr
    assert (tmp_path / "o" / "piece.mid").is_file()
    for args in (["--program", "200"], ["--tempo", "0"], ["--lowest", "C5", "--highest", "C4"], ["--lowest", "H9"],
                 ["-o", "-", "--plot"], ["--onset-threshold", "-1"], ["--plot", "--plot-range", "9:3"],
                 ["--plot-range", "1:2"]):
        usage = transcribe(setup, tmp / "piece.wav", *args)
        assert usage.exit_code == 2, (args, usage.output)
        assert usage.stderr.startswith("error: ") and len(usage.stderr.splitlines()) == 1
    both = transcribe(setup, tmp / "piece.wav", "--activations", tmp_path / "x.npz")
    assert both.exit_code == 2 and "not both" in both.stderr
    assert transcribe(setup).exit_code == 2


def test_keyboard_interrupt_exits_130_and_keeps_finished_outputs(setup, tmp_path, monkeypatch):
    tmp, _ = setup
    real = batch.run_transcription
    calls = []

    def interrupted(job, options):
        calls.append(job)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(job, options)

    monkeypatch.setattr(batch, "run_transcription", interrupted)
    other = tmp_path / "zz.wav"
    other.write_bytes((tmp / "piece.wav").read_bytes())
    result = transcribe(setup, tmp / "piece.wav", other, "-o", tmp_path / "out")
    assert result.exit_code == 130
    assert result.stderr.startswith("error: interrupted after 1 of 2 files") and len(result.stderr.splitlines()) == 1
    assert "Traceback" not in result.output
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["piece.mid"]


def test_interrupt_while_writing_leaves_no_partial_file(setup, tmp_path, monkeypatch):
    tmp, _ = setup

    def half_written(self, filename):
        with open(filename, "wb") as fh:
            fh.write(b"MThd")
        raise KeyboardInterrupt

    monkeypatch.setattr(mido.MidiFile, "save", half_written)
    result = transcribe(setup, tmp / "piece.wav", "-o", tmp_path / "out.mid")
    assert result.exit_code == 130 and "Traceback" not in result.output
    assert list(tmp_path.iterdir()) == []


def test_plot_from_transcribe_is_a_png(setup, tmp_path):
    tmp, _ = setup
    result = transcribe(setup, tmp / "piece.wav", "-o", tmp_path / "p.mid", "--plot")
    assert result.exit_code == 0, result.output
    assert (tmp_path / "p.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_plot_range_restricts_the_transcribe_plot(setup, tmp_path, monkeypatch):
    import nmftrans.io.plot as plot

    tmp, notes = setup
    seen = []
    real = plot.plot_transcription
    monkeypatch.setattr(plot, "plot_transcription", lambda *a, **k: seen.append(k) or real(*a, **k))
    result = transcribe(setup, tmp / "piece.wav", "-o", tmp_path / "p.mid", "--save-activations", "--plot",
                        "--plot-range", "1:2.5")
    assert result.exit_code == 0, result.output
    assert (tmp_path / "p.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert [k["time_range"] for k in seen] == [(1.0, 2.5)]
    # re-tracking saved activations draws the window too; the counts are the notes inside it
    retracked = runner.invoke(app, ["transcribe", "--activations", str(tmp_path / "p.activations.npz"), "-o",
                                    str(tmp_path / "q.mid"), "--plot", "--plot-range", ":1.2"])
    assert retracked.exit_code == 0, retracked.output
    assert seen[-1]["time_range"] == (None, 1.2) and (tmp_path / "q.png").stat().st_size > 1000
    est = read_notes(tmp_path / "q.mid", sustain=False)
    saved = batch.load_activations(tmp_path / "p.activations.npz")
    counts = real(tmp_path / "c.png", saved["activations"], saved["pitches"], saved["frame_rate"], est,
                  time_range=(None, 1.2))
    assert counts.notes == int((est[:, 0] < 1.2).sum()) < len(est)


def test_plot_with_reference_and_onset_matching(tmp_path):
    ref = np.array([[0.0, 0.5, 60, 80], [0.5, 1.0, 62, 80], [1.0, 1.5, 64, 80]])
    est = np.array([[0.02, 0.5, 60, 80], [0.5, 1.0, 63, 80], [1.04, 1.5, 64, 80], [1.05, 1.5, 64, 80]])
    hit, found = match_onsets(est, ref)
    assert hit.tolist() == [True, False, True, False] and found.tolist() == [True, False, True]
    A = np.random.default_rng(0).random((13, 200)).astype(np.float32)
    plot_transcription(tmp_path / "r.png", A, np.arange(60, 73), 100.0, est, reference=ref, title="t")
    assert (tmp_path / "r.png").stat().st_size > 1000
    plot_transcription(tmp_path / "e.svg", A[:, :0], np.arange(60, 73), 100.0, np.zeros((0, 4)))
    assert (tmp_path / "e.svg").is_file()


def test_missing_matplotlib_is_a_one_line_error(setup, tmp_path, monkeypatch):
    tmp, _ = setup
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    result = transcribe(setup, tmp / "piece.wav", "-o", tmp_path / "p.mid", "--plot")
    assert result.exit_code == 1
    assert result.stderr.strip() == "error: plotting needs matplotlib: pip install 'nmftrans[plot]'"


def test_sonify_is_the_dictionarys_partials_at_the_note_times(setup):
    tmp, _ = setup
    d = load_dictionary(tmp / "W.npz")
    amps = partial_amplitudes(d, 69)
    assert amps[0] == 1.0 and amps[1] < amps[0]  # harmonic template: 1/m
    y = sonify_notes(np.array([[0.5, 1.0, 69, 100]]), d)
    assert y.dtype == np.float32 and len(y) == int(1.5 * SR) and np.abs(y).max() <= 0.9
    assert np.abs(y[: int(0.45 * SR)]).max() == 0 and np.abs(y[int(0.5 * SR): int(0.6 * SR)]).max() > 0.01
    spectrum = np.abs(np.fft.rfft(y[int(0.5 * SR): int(1.0 * SR)]))
    assert abs(np.fft.rfftfreq(int(0.5 * SR), 1 / SR)[spectrum.argmax()] - 440) < 4
    soft = sonify_notes(np.array([[0.5, 1.0, 69, 30]]), d)
    assert np.abs(soft).max() < 0.5 * np.abs(y).max()
    assert sonify_notes(np.zeros((0, 4)), d).shape == (int(0.5 * SR),)


def test_sonified_transcription_transcribes_back(setup, tmp_path):
    tmp, notes = setup
    result = transcribe(setup, tmp / "piece.wav", "-o", tmp_path / "p.mid", "--sonify")
    assert result.exit_code == 0, result.output
    y, sr = sf.read(tmp_path / "p.sonify.wav")
    assert sr == load_dictionary(tmp / "W.npz").settings.sample_rate and y.ndim == 1
    est = read_notes(tmp_path / "p.mid", sustain=False)
    back = transcribe(setup, tmp_path / "p.sonify.wav", "-o", tmp_path / "back.mid")
    assert back.exit_code == 0
    assert onset_f(est, read_notes(tmp_path / "back.mid", sustain=False)) >= 0.85


def test_existing_outputs_are_skipped_and_only_missing_extras_written(setup, tmp_path):
    tmp, _ = setup
    assert transcribe(setup, tmp / "piece.wav", "-o", tmp_path / "p.mid").exit_code == 0
    before = (tmp_path / "p.mid").stat().st_mtime_ns
    result = transcribe(setup, tmp / "piece.wav", "-o", tmp_path / "p.mid", "--plot")
    assert result.exit_code == 0 and result.stdout.split() == [str(tmp_path / "p.png")]
    assert "p.mid: exists, skipped" in result.stderr and (tmp_path / "p.mid").stat().st_mtime_ns == before


def test_one_file_output_with_many_inputs_is_refused(setup, tmp_path):
    tmp, _ = setup
    result = transcribe(setup, tmp / "piece.wav", tmp / "piece.wav", "-o", tmp_path / "x.mid")
    assert result.exit_code == 1 and "give a folder" in result.stderr
    assert not (tmp_path / "x.mid").exists()


def test_show_prints_the_dictionary_and_plots_templates(setup, tmp_path):
    tmp, _ = setup
    result = runner.invoke(app, ["show", str(tmp / "W.npz"), "--plot", str(tmp_path / "t.png")])
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "C4-C5 (MIDI 60-72), 13 pitches" in out and "13 (13 sustain)" in out
    assert "n_fft 2048" in out and "beta         1" in out and "harmonic" in out
    assert out.rstrip().endswith(str(tmp_path / "t.png")) and (tmp_path / "t.png").stat().st_size > 1000
    shipped = runner.invoke(app, ["show", "piano"])
    assert shipped.exit_code == 0 and "A0-C8" in shipped.stdout
    bad = runner.invoke(app, ["show", str(tmp_path / "nope.npz")])
    assert bad.exit_code == 1 and bad.stderr.startswith("error:") and "Traceback" not in bad.output
