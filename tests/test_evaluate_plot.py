"""``evaluate --plot`` and ``--plot-range``: piano rolls of hits, false alarms and misses.

The hit counts must be mir_eval's (the matches behind onset P/R), images are real PNGs written
once (atomically, never over an existing file without --overwrite), one per pair for folders,
over the activations in DATASET mode; bad ranges are one-line usage errors.
"""

from __future__ import annotations

import sys

import mir_eval
import numpy as np
import pytest
import soundfile as sf
from typer.testing import CliRunner

from nmftrans.cli import app
from nmftrans.errors import NmftransError
from nmftrans.io.midi import notes_to_csv, write_notes
from nmftrans.io.plot import plot_notes, plot_transcription
from nmftrans.core.note_errors import match_onsets
from nmftrans.cli import parse_time_range

from synth import SCORED_EST as EST
from synth import SCORED_REF as REF
from synth import SR, example_notes, render

matplotlib = pytest.importorskip("matplotlib")

runner = CliRunner()
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"



def mir_eval_matches(ref: np.ndarray, est: np.ndarray) -> int:
    if len(ref) == 0 or len(est) == 0:
        return 0
    return len(mir_eval.transcription.match_notes(
        ref[:, :2], mir_eval.util.midi_to_hz(ref[:, 2]), est[:, :2], mir_eval.util.midi_to_hz(est[:, 2]),
        offset_ratio=None))


def assert_png(path):
    data = path.read_bytes()
    assert data[:8] == PNG_MAGIC and len(data) > 1000
    image = matplotlib.image.imread(path)
    assert image.ndim == 3 and image.shape[0] > 100 and image.shape[1] > 100


def run(*args):
    return runner.invoke(app, ["evaluate", *map(str, args)])


# --------------------------------------------------------------------------------------
# The drawing: counts equal mir_eval's matching
# --------------------------------------------------------------------------------------


def test_plot_counts_equal_mir_eval_matches(tmp_path):
    counts = plot_notes(tmp_path / "r.png", EST, REF, title="t")
    assert_png(tmp_path / "r.png")
    k = mir_eval_matches(REF, EST)
    assert k == 4
    assert counts == (len(EST), len(REF), k, len(EST) - k, len(REF) - k)


def test_matching_is_maximal_where_closest_first_is_not():
    # Closest first pairs est 0 with ref 0 (10 ms) and leaves est 1 and ref 1 alone; the maximum
    # matching (mir_eval's) pairs est 0 with ref 1 (50 ms) and est 1 with ref 0 (40 ms).
    ref = np.array([[0.04, 0.5, 60, 80], [0.10, 0.5, 60, 80]])
    est = np.array([[0.05, 0.5, 60, 80], [0.00, 0.5, 60, 80]])
    hit, found = match_onsets(est, ref)
    assert hit.all() and found.all() and mir_eval_matches(ref, est) == 2
    # among maximum matchings the closer pair wins
    hit, found = match_onsets(np.array([[1.05, 1.5, 64, 80], [1.04, 1.5, 64, 80]]), np.array([[1.0, 1.5, 64, 80]]))
    assert hit.tolist() == [False, True] and found.tolist() == [True]


def test_matching_counts_equal_mir_eval_on_random_crowded_notes():
    rng = np.random.default_rng(3)
    for _ in range(200):
        n, m = rng.integers(0, 25, size=2)
        ref = np.c_[np.round(rng.uniform(0, 1.5, n), 3), np.zeros(n), rng.integers(60, 63, n), np.full(n, 80.0)]
        est = np.c_[np.round(rng.uniform(0, 1.5, m), 3), np.zeros(m), rng.integers(60, 63, m), np.full(m, 80.0)]
        ref[:, 1], est[:, 1] = ref[:, 0] + 0.2, est[:, 0] + 0.2
        hit, found = match_onsets(est, ref)
        k = mir_eval_matches(ref, est)
        assert hit.sum() == found.sum() == k, (ref, est)


def test_time_range_draws_only_the_window(tmp_path):
    counts = plot_notes(tmp_path / "w.png", EST, REF, time_range=(None, 1.0))
    # notes sounding before 1 s: est 0, 1, 2 (2 is a false alarm); ref 0, 1, 2 (2 missed)
    assert counts == (3, 3, 2, 1, 1)
    counts = plot_notes(tmp_path / "w.png", EST, REF, time_range=(2.6, None))
    assert counts == (1, 1, 0, 1, 1)  # the extra note and the missed 69
    # activations are cut to the window too; a window starting after the end is an error (issue 23)
    A = np.random.default_rng(0).random((13, 400)).astype(np.float32)
    counts = plot_transcription(tmp_path / "a.png", A, np.arange(60, 73), 100.0, EST[:1], REF[:1],
                                time_range=(0.5, 3.0))
    assert counts == (1, 1, 1, 0, 0)
    with pytest.raises(NmftransError, match="after the end"):
        plot_transcription(tmp_path / "a.png", A, np.arange(60, 73), 100.0, EST, REF, time_range=(50.0, None))
    assert_png(tmp_path / "a.png")


def test_plot_never_overwrites_unless_asked(tmp_path):
    (tmp_path / "r.png").write_bytes(b"mine")
    with pytest.raises(NmftransError, match="exists"):
        plot_notes(tmp_path / "r.png", EST, REF, overwrite=False)
    assert (tmp_path / "r.png").read_bytes() == b"mine"
    plot_notes(tmp_path / "r.png", EST, REF)
    assert_png(tmp_path / "r.png")
    assert [p.name for p in tmp_path.iterdir()] == ["r.png"]  # no temporary file left behind


@pytest.mark.parametrize("text,expected", [("10:25", (10.0, 25.0)), (":30", (None, 30.0)), ("12:", (12.0, None)),
                                           (" 0.5 : 2 ", (0.5, 2.0))])
def test_parse_time_range(text, expected):
    assert parse_time_range(text) == expected


@pytest.mark.parametrize("text", ["10", ":", "", "a:3", "3:2", "5:5", "-1:4", "1:inf", "nan:", "1:2:3"])
def test_parse_time_range_rejects(text):
    with pytest.raises(NmftransError, match="--plot-range"):
        parse_time_range(text)


# --------------------------------------------------------------------------------------
# evaluate EST REF --plot
# --------------------------------------------------------------------------------------


def test_one_pair_writes_one_png_and_keeps_it(tmp_path):
    write_notes(tmp_path / "est.mid", EST)
    write_notes(tmp_path / "ref.csv", REF)
    out = tmp_path / "roll.png"
    result = run(tmp_path / "est.mid", tmp_path / "ref.csv", "--plot", out)
    assert result.exit_code == 0, result.output
    assert_png(out)
    assert result.stdout.splitlines()[1].startswith("est ")  # the table is unchanged on stdout
    assert f"plot: {out}" in result.stderr
    before = out.read_bytes()
    again = run(tmp_path / "est.mid", tmp_path / "ref.csv", "--plot", out)
    assert again.exit_code == 1 and again.stdout == ""
    assert again.stderr == f"error: {out}: exists (use --overwrite to replace it)\n"
    assert out.read_bytes() == before
    replaced = run(tmp_path / "est.mid", tmp_path / "ref.csv", "--plot", out, "--overwrite", "--plot-range", "1:2")
    assert replaced.exit_code == 0, replaced.output
    assert_png(out)
    assert out.read_bytes() != before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["est.mid", "ref.csv", "roll.png"]


def test_one_pair_plot_title_and_counts(tmp_path, monkeypatch):
    import nmftrans.io.plot as plot

    seen = []
    real = plot.plot_notes
    monkeypatch.setattr(plot, "plot_notes", lambda *a, **k: seen.append((a, k)) or real(*a, **k))
    write_notes(tmp_path / "est.csv", EST)
    write_notes(tmp_path / "ref.csv", REF)
    result = run(tmp_path / "est.csv", tmp_path / "ref.csv", "--plot", tmp_path / "r.png", "--plot-range", ":2")
    assert result.exit_code == 0, result.output
    (args, kwargs), = seen
    np.testing.assert_allclose(args[1], EST)
    np.testing.assert_allclose(args[2], REF)
    assert kwargs["time_range"] == (None, 2.0)
    assert kwargs["title"].startswith("est.csv vs ref.csv: onset F 0.571, frame F 0.")  # 4 hits of 7
    assert kwargs["title"].endswith(" (whole file)")


def test_folders_write_one_png_per_scored_pair(tmp_path):
    est, ref = tmp_path / "est", tmp_path / "ref"
    est.mkdir()
    ref.mkdir()
    for name in ("a", "b", "c"):
        write_notes(est / f"{name}.mid", EST)
        write_notes(ref / f"{name}.csv", REF)
    write_notes(est / "lonely.mid", EST)  # no reference: no score, no picture
    (ref / "c.csv").write_text("not,a,note,list\n")  # cannot be scored: no picture
    rolls = tmp_path / "out" / "rolls"  # created, with its parent
    result = run(est, ref, "--plot", rolls)
    assert result.exit_code == 1  # c failed
    assert sorted(p.name for p in rolls.iterdir()) == ["a.png", "b.png"]
    for p in rolls.iterdir():
        assert_png(p)
    assert f"2 plots written to {rolls}" in result.stderr
    # a re-run keeps the existing pictures and says so
    stamp = (rolls / "a.png").stat().st_mtime_ns
    (ref / "c.csv").write_text(notes_to_csv(REF))
    again = run(est, ref, "--plot", rolls)
    assert again.exit_code == 0, again.output
    assert f"{rolls / 'a.png'}: exists, skipped" in again.stderr and (rolls / "a.png").stat().st_mtime_ns == stamp
    assert sorted(p.name for p in rolls.iterdir()) == ["a.png", "b.png", "c.png"]


def test_folders_need_a_folder_and_one_file_needs_an_image_path(tmp_path):
    est, ref = tmp_path / "est", tmp_path / "ref"
    est.mkdir()
    ref.mkdir()
    write_notes(est / "a.mid", EST)
    write_notes(ref / "a.csv", REF)
    result = run(est, ref, "--plot", tmp_path / "x.png")
    assert result.exit_code == 1 and "give a folder" in result.stderr and len(result.stderr.splitlines()) == 1
    assert not (tmp_path / "x.png").exists()
    bad = run(est / "a.mid", ref / "a.csv", "--plot", tmp_path / "x.txt")
    assert bad.exit_code == 1 and "unknown image format '.txt'" in bad.stderr and bad.stdout == ""
    nowhere = run(est / "a.mid", ref / "a.csv", "--plot", tmp_path / "no" / "x.png")
    assert nowhere.exit_code == 1 and "does not exist" in nowhere.stderr
    into = run(est / "a.mid", ref / "a.csv", "--plot", tmp_path)  # an existing folder: <name>.png there
    assert into.exit_code == 0, into.output
    assert_png(tmp_path / "a.png")


@pytest.mark.parametrize("value", ["10", "5:1", "a:b", ":", "-2:", "1:2:3"])
def test_bad_plot_range_is_a_one_line_usage_error(tmp_path, value):
    write_notes(tmp_path / "est.mid", EST)
    write_notes(tmp_path / "ref.csv", REF)
    result = run(tmp_path / "est.mid", tmp_path / "ref.csv", "--plot", tmp_path / "r.png", "--plot-range", value)
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith("error: --plot-range") and len(result.stderr.splitlines()) == 1
    assert result.stdout == "" and not (tmp_path / "r.png").exists()


def test_plot_range_without_plot_is_a_usage_error(tmp_path):
    write_notes(tmp_path / "est.mid", EST)
    write_notes(tmp_path / "ref.csv", REF)
    result = run(tmp_path / "est.mid", tmp_path / "ref.csv", "--plot-range", "1:2")
    assert result.exit_code == 2 and "give --plot too" in result.stderr and len(result.stderr.splitlines()) == 1
    transcribe = runner.invoke(app, ["transcribe", str(tmp_path / "x.wav"), "--plot-range", "1:2"])
    assert transcribe.exit_code == 2 and "give --plot too" in transcribe.stderr
    for value in ("10", "3:1", "x:"):
        bad = runner.invoke(app, ["transcribe", str(tmp_path / "x.wav"), "--plot", "--plot-range", value])
        assert bad.exit_code == 2, bad.output
        assert bad.stderr.startswith("error: --plot-range") and len(bad.stderr.splitlines()) == 1


def test_missing_matplotlib_is_one_line_before_any_scoring(tmp_path, monkeypatch):
    write_notes(tmp_path / "est.mid", EST)
    write_notes(tmp_path / "ref.csv", REF)
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    result = run(tmp_path / "est.mid", tmp_path / "ref.csv", "--plot", tmp_path / "r.png")
    assert result.exit_code == 1 and result.stdout == ""
    assert result.stderr == "error: plotting needs matplotlib: pip install 'nmftrans[plot]'\n"
    assert not (tmp_path / "r.png").exists()


# --------------------------------------------------------------------------------------
# evaluate DATASET -W --plot: over the activations
# --------------------------------------------------------------------------------------


def test_dataset_plots_are_drawn_over_the_activations(tmp_path, monkeypatch):
    import nmftrans.io.plot as plot

    result = runner.invoke(app, ["learn", "--harmonic", "--lowest", "C4", "--highest", "C5",
                                 "-o", str(tmp_path / "W.npz"), "-q"])
    assert result.exit_code == 0, result.output
    data = tmp_path / "data"
    data.mkdir()
    notes = example_notes(np.random.default_rng(5), pitches=range(60, 73), n=8, spacing=0.4)
    sf.write(data / "piece.wav", render(notes), SR)
    (data / "piece.csv").write_text(notes_to_csv(notes))
    seen = []
    real = plot.plot_transcription
    monkeypatch.setattr(plot, "plot_transcription",
                        lambda *a, **k: seen.append((a, k)) or real(*a, **k))
    result = run(data, "-W", tmp_path / "W.npz", "--plot", tmp_path / "rolls", "--plot-range", "0.5:")
    assert result.exit_code == 0, result.output
    assert_png(tmp_path / "rolls" / "piece.png")
    (args, kwargs), = seen
    _, activations, pitches, frame_rate, est, ref = args
    assert activations.shape[0] == len(pitches) == 13 and activations.shape[1] > 0 and frame_rate > 0
    np.testing.assert_allclose(ref, notes)
    assert kwargs["time_range"] == (0.5, None)
    assert kwargs["title"].startswith("piece.wav: onset F ")


def test_note_boxes_are_drawn_where_the_notes_are(tmp_path):
    """Each note is a box in the notes' colour (#ff7f0e) over its time span: in the picture's left
    half for a note at 1-3 s of 10 s, none in the right half, none without notes."""
    import matplotlib.image

    A = np.zeros((25, 690), dtype=np.float32)  # 10 s at 69 frames/s, MIDI 48-72
    pitches = np.arange(48, 73)

    def orange_columns(notes):
        path = tmp_path / f"n{len(notes)}.png"
        plot_transcription(path, A, pitches, 69.0, notes)
        rgb = matplotlib.image.imread(path)[..., :3]
        orange = (np.abs(rgb - np.array([1.0, 0.498, 0.055])).max(axis=2) < 0.12)  # edge and filled box
        return np.flatnonzero(orange.sum(axis=0) > 3)

    cols = orange_columns(np.array([[1.0, 3.0, 60, 100]]))
    assert len(cols) > 20
    width = matplotlib.image.imread(tmp_path / "n1.png").shape[1]
    assert cols.max() < width / 2  # 1-3 s of 10 s: the left half, not the legend's swatch alone
    assert cols.max() - cols.min() > width / 10
    assert len(orange_columns(np.zeros((0, 4)))) < len(cols) / 2  # without notes: at most the legend swatch
