"""``nmftrans evaluate``: scores equal mir_eval's, pairing by stem, bad inputs, dataset mode."""

from __future__ import annotations

import csv
import io
import json

import mir_eval
import numpy as np
import pytest
import soundfile as sf
from typer.testing import CliRunner

from nmftrans.cli import app
from nmftrans.evaluate import FileScore, format_table, match_pairs
from nmftrans.io.annotations import read_estimate
from nmftrans.core.metrics import SCORE_KEYS
from nmftrans.io.midi import notes_to_csv, notes_to_json, write_midi, write_notes

from synth import SCORED_EST as EST
from synth import SCORED_REF as REF
from synth import SR, example_notes, render, write_isolated

runner = CliRunner()


def run(*args):
    return runner.invoke(app, ["evaluate", *map(str, args)])


def direct_scores(ref: np.ndarray, est: np.ndarray, hop: float = 0.01) -> dict:
    """mir_eval called directly: note level on intervals/Hz, frame level on a 10 ms grid where a
    note sounds at frame k when onset <= k * hop < offset."""
    ref_iv, est_iv = ref[:, :2], est[:, :2]
    ref_hz, est_hz = mir_eval.util.midi_to_hz(ref[:, 2]), mir_eval.util.midi_to_hz(est[:, 2])
    on = mir_eval.transcription.precision_recall_f1_overlap(ref_iv, ref_hz, est_iv, est_hz, offset_ratio=None)
    onoff = mir_eval.transcription.precision_recall_f1_overlap(ref_iv, ref_hz, est_iv, est_hz)
    n = int(np.ceil(max(ref[:, 1].max(), est[:, 1].max()) / hop)) + 1
    times = np.arange(n) * hop

    def frames(notes):
        out = [[] for _ in range(n)]
        for onset, offset, pitch, _ in notes:
            for k in range(int(np.ceil(onset / hop - 1e-9)), int(np.ceil(offset / hop - 1e-9))):
                out[k].append(mir_eval.util.midi_to_hz(pitch))
        return [np.array(sorted(f)) for f in out]

    frame = mir_eval.multipitch.evaluate(times, frames(ref), times, frames(est))
    p, r = frame["Precision"], frame["Recall"]
    return {
        "frame_precision": p, "frame_recall": r, "frame_f": 2 * p * r / (p + r), "frame_accuracy": frame["Accuracy"],
        "onset_precision": on[0], "onset_recall": on[1], "onset_f": on[2],
        "onset_offset_precision": onoff[0], "onset_offset_recall": onoff[1], "onset_offset_f": onoff[2],
    }


@pytest.mark.parametrize("ref_suffix,est_suffix", [(".mid", ".mid"), (".csv", ".csv"), (".mid", ".csv"), (".csv", ".json")])
def test_scores_equal_mir_eval_called_directly(tmp_path, ref_suffix, est_suffix):
    ref, est = tmp_path / f"ref{ref_suffix}", tmp_path / f"est{est_suffix}"
    write_notes(ref, REF)
    write_notes(est, EST)
    result = run(est, ref, "--json", tmp_path / "r.json")
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "r.json").read_text())
    (scored,) = report["files"]
    expected = direct_scores(REF, EST)
    for key in SCORE_KEYS:
        assert scored[key] == pytest.approx(expected[key], abs=1e-12), key
    assert (scored["n_ref"], scored["n_est"]) == (len(REF), len(EST))
    # Sanity: the pair exercises every criterion (nothing trivially 0 or 1).
    assert 0 < scored["onset_offset_f"] < scored["onset_f"] < 1
    assert 0 < scored["frame_accuracy"] < scored["frame_f"] < 1
    assert report["mean"]["onset_f"] == pytest.approx(scored["onset_f"])
    # The table on stdout is plain text when stdout is not a terminal.
    assert "\x1b[" not in result.stdout
    lines = result.stdout.splitlines()
    assert lines[0].split()[:3] == ["file", "n_ref", "n_est"]
    assert lines[1].split()[0] == "est" and lines[-1].split()[0] == "MEAN"
    assert f"{expected['onset_f']:.3f}" in lines[1].split()


def test_folders_are_matched_by_stem_and_unmatched_ones_reported(tmp_path):
    est_dir, ref_dir = tmp_path / "est", tmp_path / "ref"
    est_dir.mkdir()
    (ref_dir / "sub").mkdir(parents=True)
    write_notes(est_dir / "a.mid", EST)
    write_notes(est_dir / "a.csv", EST)          # same notes as a.mid: one estimate, not two
    write_notes(est_dir / "b.json", REF)
    write_notes(est_dir / "lonely.csv", EST)     # no reference of that name
    write_notes(ref_dir / "a.csv", REF)
    write_notes(ref_dir / "sub" / "b.mid", REF)  # references are searched recursively
    write_notes(ref_dir / "unused.csv", REF)
    (ref_dir / "manifest.csv").write_text("file,title\na,x\n")  # never a reference
    result = run(est_dir, ref_dir, "--json", tmp_path / "r.json", "--csv", tmp_path / "r.csv")
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "r.json").read_text())
    assert [f["file"] for f in report["files"]] == ["a", "b"]
    assert report["files"][0]["estimate"].endswith("a.mid")
    assert report["files"][1]["onset_offset_f"] == 1.0 and report["files"][1]["frame_f"] == 1.0
    assert report["failed"] == []
    assert "lonely.csv: no reference named lonely" in result.stderr
    assert "1 references have no estimate" in result.stderr
    assert [line.split()[0] for line in result.stdout.splitlines()] == ["file", "a", "b", "MEAN"]
    rows = list(csv.reader(io.StringIO((tmp_path / "r.csv").read_text())))
    assert rows[0][:6] == ["file", "reference", "estimate", "audio", "n_ref", "n_est"]
    assert [r[0] for r in rows[1:]] == ["a", "b", "MEAN"]
    mean_f = float(rows[-1][rows[0].index("onset_f")])
    assert mean_f == pytest.approx(report["mean"]["onset_f"], abs=1e-6)


JAMS_WITHOUT_NOTES = json.dumps({"annotations": [{"namespace": "beat", "data": []}], "file_metadata": {}})


@pytest.mark.parametrize("name,content,message", [
    ("b.jams", JAMS_WITHOUT_NOTES, "no note data"),
    ("b.mid", None, "no notes"),
    ("b.csv", "onset,offset,pitch\n0.5,zero,60\n", "is not a number"),
    ("b.txt", "no header here\n", "not a MAPS annotation"),
])
def test_a_bad_reference_in_a_folder_fails_alone(tmp_path, name, content, message):
    est_dir, ref_dir = tmp_path / "est", tmp_path / "ref"
    est_dir.mkdir()
    ref_dir.mkdir()
    for stem in ("a", "b"):
        write_notes(est_dir / f"{stem}.csv", EST)
    write_notes(ref_dir / "a.csv", REF)
    if content is None:
        write_midi(ref_dir / name, np.zeros((0, 4)))
    else:
        (ref_dir / name).write_text(content)
    result = run(est_dir, ref_dir, "--json", tmp_path / "r.json")
    assert result.exit_code == 1, result.output
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and name in errors[0] and message in errors[0]
    report = json.loads((tmp_path / "r.json").read_text())
    assert [f["file"] for f in report["files"]] == ["a"]
    assert report["failed"][0]["file"] == "b" and message in report["failed"][0]["error"]
    assert [line.split()[0] for line in result.stdout.splitlines()] == ["file", "a", "MEAN"]


def test_nothing_matched_is_one_line_and_non_zero(tmp_path):
    est_dir, ref_dir = tmp_path / "est", tmp_path / "ref"
    est_dir.mkdir()
    ref_dir.mkdir()
    write_notes(est_dir / "x.csv", EST)
    write_notes(ref_dir / "y.csv", REF)
    result = run(est_dir, ref_dir)
    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("error: no estimate matches a reference")


def test_empty_folder_and_missing_path(tmp_path):
    (tmp_path / "empty").mkdir()
    write_notes(tmp_path / "ref.csv", REF)
    result = run(tmp_path / "empty", tmp_path / "ref.csv")
    assert result.exit_code == 1 and "no estimate files" in result.stderr
    result = run(tmp_path / "nothing.mid", tmp_path / "ref.csv")
    assert result.exit_code == 1 and "no such estimate" in result.stderr


def test_single_bad_reference_gives_one_error_line(tmp_path):
    write_notes(tmp_path / "est.csv", EST)
    write_midi(tmp_path / "ref.mid", np.zeros((0, 4)))
    result = run(tmp_path / "est.csv", tmp_path / "ref.mid")
    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr.splitlines() == [l for l in result.stderr.splitlines() if l.startswith("error:")]
    assert len(result.stderr.splitlines()) == 1 and "no notes" in result.stderr


def test_an_empty_estimate_scores_zero(tmp_path):
    write_midi(tmp_path / "est.mid", np.zeros((0, 4)))  # what transcribe writes for silence
    (tmp_path / "est.csv").write_text(notes_to_csv(np.zeros((0, 4))))
    write_notes(tmp_path / "ref.csv", REF)
    for est in ("est.mid", "est.csv"):
        result = run(tmp_path / est, tmp_path / "ref.csv", "--json", tmp_path / "r.json", "--overwrite")
        assert result.exit_code == 0, result.output
        (scored,) = json.loads((tmp_path / "r.json").read_text())["files"]
        assert scored["n_est"] == 0 and all(scored[k] == 0 for k in SCORE_KEYS)


def test_json_estimate_reader(tmp_path):
    path = tmp_path / "e.json"
    path.write_text(notes_to_json(EST))
    notes, warnings = read_estimate(path)
    np.testing.assert_allclose(notes, EST[np.lexsort((EST[:, 2], EST[:, 0]))])
    assert warnings == []
    path.write_text('[{"onset": 0.1, "offset": 0.5, "pitch": 60}]')
    assert read_estimate(path)[0].tolist() == [[0.1, 0.5, 60, 100]]
    for bad, message in (('{"onset": 1}', "not a JSON note list"), ('[{"onset": 0.1, "pitch": 60}]', "offset"),
                         ('[{"onset": 0.5, "offset": 0.1, "pitch": 60}]', "bad times"), ("[", "not valid JSON")):
        path.write_text(bad)
        result = run(path, tmp_path / "e.json")
        assert result.exit_code == 1 and message in result.stderr, bad


def test_usage_errors(tmp_path):
    write_notes(tmp_path / "a.csv", REF)
    assert run(tmp_path / "a.csv").exit_code == 2  # one path needs -W
    result = run(tmp_path / "a.csv", tmp_path / "a.csv", "--onset-threshold", "0.2")
    assert result.exit_code == 2 and "only with DATASET" in result.stderr
    assert run(tmp_path / "a.csv", tmp_path / "a.csv", "-W", "piano").exit_code == 2
    (tmp_path / "r.json").write_text("keep")
    result = run(tmp_path / "a.csv", tmp_path / "a.csv", "--json", tmp_path / "r.json")
    assert result.exit_code == 1 and "--overwrite" in result.stderr
    assert (tmp_path / "r.json").read_text() == "keep"


def test_format_table_is_aligned_plain_text():
    scores = dict.fromkeys(SCORE_KEYS, 0.5)
    files = [FileScore("short", reference=None, n_ref=3, n_est=4, scores=scores),
             FileScore("a-much-longer-name", reference=None, n_ref=30, n_est=40, scores=scores),
             FileScore("broken", reference=None, error="cannot read")]
    lines = format_table(files).splitlines()
    assert [line.split()[0] for line in lines] == ["file", "short", "a-much-longer-name", "MEAN"]
    assert len({len(line) for line in lines}) == 1  # right-aligned columns end together
    assert lines[-1].split()[1:3] == ["33", "44"]


def test_match_pairs_two_files_pair_whatever_their_names(tmp_path):
    write_notes(tmp_path / "mine.csv", EST)
    write_notes(tmp_path / "truth.mid", REF)
    matching = match_pairs(tmp_path / "mine.csv", tmp_path / "truth.mid")
    assert [(n, e.name, r.name) for n, e, r in matching.pairs] == [("mine", "mine.csv", "truth.mid")]


# --------------------------------------------------------------------------------------
# DATASET -W: transcribe and score in one command
# --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def dictionary(tmp_path_factory):
    """A dictionary learned with ``nmftrans learn`` from synthetic isolated tones 55-67."""
    tmp = tmp_path_factory.mktemp("dict")
    write_isolated(tmp / "notes", range(55, 68))
    result = runner.invoke(app, ["learn", str(tmp / "notes"), "-o", str(tmp / "W.npz"), "-q"])
    assert result.exit_code == 0, result.output
    return tmp / "W.npz"


def test_dataset_mode_transcribes_and_scores(tmp_path, dictionary):
    data = tmp_path / "data"
    data.mkdir()
    for k, seed in enumerate((0, 1)):
        notes = example_notes(np.random.default_rng(seed), pitches=range(55, 68))
        sf.write(data / f"piece{k}.wav", render(notes), SR)
        (data / f"piece{k}.csv").write_text(notes_to_csv(notes))
    result = run(data, "-W", dictionary, "--json", tmp_path / "r.json")
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "r.json").read_text())
    assert [f["file"] for f in report["files"]] == ["piece0", "piece1"]
    assert report["files"][0]["audio"].endswith("piece0.wav") and report["files"][0]["estimate"] is None
    # Measured: onset F 1.0 and frame F about 0.95 on such pieces (seeds 0-5).
    for scored in report["files"]:
        assert scored["onset_f"] >= 0.9, scored
        assert scored["frame_f"] >= 0.8, scored
    assert report["mean"]["n_files"] == 2
    assert report["dictionary"] == str(dictionary)


def test_dataset_mode_crops_references_and_goes_on_after_a_bad_file(tmp_path, dictionary):
    data = tmp_path / "data"
    data.mkdir()
    notes = example_notes(np.random.default_rng(2), pitches=range(55, 68), n=10)
    sf.write(data / "good.wav", render(notes, tail=0.3), SR)
    extra = np.array([[0.3, 0.6, 40, 100], [0.5, 0.8, 80, 100], [notes[-1, 1] + 5, notes[-1, 1] + 6, 60, 100]])
    (data / "good.csv").write_text(notes_to_csv(np.vstack([notes, extra])))
    (data / "bad.wav").write_bytes(b"not audio at all")
    (data / "bad.csv").write_text(notes_to_csv(notes))
    result = run(data, "-W", dictionary, "--json", tmp_path / "r.json")
    assert result.exit_code == 1, result.output
    assert "2 notes outside the pitch range 55-67 dropped" in result.stderr
    assert "1 notes after the end dropped" in result.stderr
    assert sum(line.startswith("error:") for line in result.stderr.splitlines()) == 1
    report = json.loads((tmp_path / "r.json").read_text())
    (scored,) = report["files"]
    assert scored["file"] == "good" and scored["n_ref"] == len(notes)
    assert report["failed"][0]["file"] == "bad"


def test_dataset_mode_without_annotations(tmp_path, dictionary):
    (tmp_path / "data").mkdir()
    sf.write(tmp_path / "data" / "x.wav", np.zeros(SR, dtype=np.float32), SR)
    result = run(tmp_path / "data", "-W", dictionary)
    assert result.exit_code == 1
    assert "no audio file with a note annotation" in result.stderr
