"""Regression fixtures: the default transcription of a few fixed inputs, note by note.

``tests/data/regression/`` holds, for each case (the two shipped examples with the shipped
dictionaries, and generated tones with the piano dictionary), the notes ``nmftrans transcribe``
wrote with its defaults and their mir_eval scores against the ground truth. A fresh transcription
must give the same notes (onsets within 2 ms, velocities within 2; at most 1 % of the notes may
differ, for rounding across CPUs) and the same scores (within 0.005). A 5 ms onset shift, a
changed default threshold or a lost sub-frame interpolation breaks this.

When the default transcription changes ON PURPOSE (tracker, normalisation, solver, shipped
dictionaries), regenerate the fixtures with ONE command from the repository root::

    python scripts/make_test_fixtures.py

then look at the score changes (``git diff tests/data/regression/scores.json``) and commit them
with the change.
"""

from __future__ import annotations

import json
from pathlib import Path

import mir_eval
import numpy as np
import pytest
from typer.testing import CliRunner

from nmftrans.cli import app

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "tests" / "data" / "regression"
SCORES = json.loads((DATA / "scores.json").read_text())
REGENERATE = "if the change is meant, regenerate: python scripts/make_test_fixtures.py"

ONSET_TOL = 0.002  # s: a 5 ms shift fails
OFFSET_TOL = 0.005  # s
VELOCITY_TOL = 2
SCORE_TOL = 0.005
FLICKER = 0.01  # fraction of notes that may differ (a note at a threshold on another CPU)


def read_csv(path: Path) -> np.ndarray:
    """A note CSV as an ``(n, 4)`` array, read with NumPy (not nmftrans' reader)."""
    return np.loadtxt(path, delimiter=",", skiprows=1, ndmin=2).reshape(-1, 4)


def hz(notes: np.ndarray) -> np.ndarray:
    return 440.0 * 2.0 ** ((notes[:, 2] - 69) / 12)


@pytest.fixture(scope="module", params=sorted(SCORES))
def case(request, tmp_path_factory):
    """(name, fresh notes, stored notes, stored scores) of one case."""
    name = request.param
    stored = SCORES[name]
    out = tmp_path_factory.mktemp("regression") / f"{name}.csv"
    result = CliRunner().invoke(app, ["transcribe", str(ROOT / stored["audio"]), "-W", stored["dictionary"],
                                      "-o", str(out), "-q"])
    assert result.exit_code == 0, result.output
    return name, read_csv(out), read_csv(DATA / f"{name}.expected.csv"), stored


def test_same_notes_as_the_fixture(case):
    name, got, expected, _ = case
    pairs = mir_eval.transcription.match_notes(expected[:, :2], hz(expected), got[:, :2], hz(got),
                                               onset_tolerance=ONSET_TOL, pitch_tolerance=1.0, offset_ratio=None)
    allowed = max(1, int(FLICKER * len(expected)))
    unmatched = len(expected) - len(pairs) + len(got) - len(pairs)
    assert unmatched <= allowed, (
        f"{name}: {len(got)} notes, {len(expected)} in the fixture, {len(pairs)} the same within "
        f"{ONSET_TOL * 1000:.0f} ms; {REGENERATE}")
    i, j = np.array(pairs, dtype=int).reshape(-1, 2).T
    assert np.abs(got[j, 3] - expected[i, 3]).max(initial=0) <= VELOCITY_TOL, f"{name}: velocities; {REGENERATE}"
    late = np.abs(got[j, 1] - expected[i, 1]) > OFFSET_TOL
    assert late.sum() <= allowed, f"{name}: {late.sum()} offsets moved; {REGENERATE}"


def test_same_scores_as_the_fixture(case):
    name, got, _, stored = case
    ref = read_csv(ROOT / stored["reference"])
    args = (ref[:, :2], hz(ref), got[:, :2], hz(got))
    p, r, f, _ = mir_eval.transcription.precision_recall_f1_overlap(*args, offset_ratio=None)
    _, _, f_off, _ = mir_eval.transcription.precision_recall_f1_overlap(*args)
    now = {"onset_precision": p, "onset_recall": r, "onset_f": f, "onset_offset_f": f_off}
    for key, value in now.items():
        assert value == pytest.approx(stored[key], abs=SCORE_TOL), f"{name}: {key} {value:.4f} vs {stored[key]}; {REGENERATE}"


def test_fixture_files_are_consistent():
    """The stored notes are those the stored scores were computed from (one script wrote both)."""
    for name, stored in SCORES.items():
        notes = read_csv(DATA / f"{name}.expected.csv")
        assert len(notes) == stored["n_est"] and len(read_csv(ROOT / stored["reference"])) == stored["n_ref"]
        assert stored["onset_f"] > 0.8, name  # a fixture of a broken transcription is no fixture
