"""Tests for nmftrans.core.metrics: values equal mir_eval's, edge cases."""

from __future__ import annotations

import warnings

import mir_eval
import numpy as np
import pytest

from nmftrans.core.notearrays import empty_notes
from nmftrans.core.metrics import SCORE_KEYS, evaluate_notes, mean_scores, validate

REF = np.array([
    [0.10, 0.60, 60, 80],
    [0.10, 0.60, 64, 80],
    [0.70, 1.20, 67, 80],
    [1.30, 2.00, 72, 80],
])
EST = np.array([
    [0.12, 0.58, 60, 70],    # good
    [0.13, 0.95, 64, 70],    # onset ok, offset far off
    [0.90, 1.20, 67, 70],    # onset too late
    [1.31, 2.01, 73, 70],    # wrong pitch
    [1.50, 1.60, 48, 70],    # extra
])


def _direct_frames(notes, n_frames, hop):
    times = np.arange(n_frames) * hop
    freqs = [np.array([mir_eval.util.midi_to_hz(p) for s, e, p, _ in notes if s <= t < e]) for t in times]
    return times, freqs


def test_equals_mir_eval_called_directly():
    scores = evaluate_notes(REF, EST)
    assert list(scores) == list(SCORE_KEYS)
    n = int(np.ceil(2.01 / 0.01)) + 1
    rt, rf = _direct_frames(REF, n, 0.01)
    et, ef = _direct_frames(EST, n, 0.01)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        frame = mir_eval.multipitch.evaluate(rt, rf, et, ef)
    ri, rh = REF[:, :2], mir_eval.util.midi_to_hz(REF[:, 2])
    ei, eh = EST[:, :2], mir_eval.util.midi_to_hz(EST[:, 2])
    on = mir_eval.transcription.precision_recall_f1_overlap(ri, rh, ei, eh, offset_ratio=None)
    onoff = mir_eval.transcription.precision_recall_f1_overlap(ri, rh, ei, eh, offset_ratio=0.2)
    p, r = frame["Precision"], frame["Recall"]
    assert scores["frame_precision"] == pytest.approx(p)
    assert scores["frame_recall"] == pytest.approx(r)
    assert scores["frame_f"] == pytest.approx(2 * p * r / (p + r))
    assert scores["frame_accuracy"] == pytest.approx(frame["Accuracy"])
    assert (scores["onset_precision"], scores["onset_recall"], scores["onset_f"]) == pytest.approx(on[:3])
    assert (scores["onset_offset_precision"], scores["onset_offset_recall"], scores["onset_offset_f"]) == pytest.approx(onoff[:3])
    # And the values themselves: 2 of 4 reference onsets found among 5 estimates, 1 with offset.
    assert scores["onset_precision"] == pytest.approx(2 / 5) and scores["onset_recall"] == pytest.approx(2 / 4)
    assert scores["onset_offset_precision"] == pytest.approx(1 / 5) and scores["onset_offset_recall"] == pytest.approx(1 / 4)


def test_frame_counts_by_hand():
    # Reference 0.0-0.1 s (frames 0..9 at 10 ms); estimate 0.05-0.2 s (frames 5..19).
    ref = np.array([[0.0, 0.1, 60, 1]])
    est = np.array([[0.05, 0.2, 60, 1]])
    s = evaluate_notes(ref, est)
    assert s["frame_precision"] == pytest.approx(5 / 15)
    assert s["frame_recall"] == pytest.approx(5 / 10)
    assert s["frame_accuracy"] == pytest.approx(5 / 20)


def test_perfect_and_hop():
    s = evaluate_notes(REF, REF, frame_hop=0.032)
    assert all(v == pytest.approx(1.0) for v in s.values())


@pytest.mark.parametrize("ref, est", [(REF, empty_notes()), (empty_notes(), REF), (empty_notes(), empty_notes())])
def test_empty_gives_zeros_without_warnings(ref, est):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        s = evaluate_notes(ref, est)
    assert list(s) == list(SCORE_KEYS) and all(v == 0.0 for v in s.values())


def test_no_warnings_on_normal_input():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        evaluate_notes(REF, EST)


def test_validate_rejects_bad_notes():
    with pytest.raises(ValueError, match="shape"):
        validate(np.zeros((3, 2)), REF)
    with pytest.raises(ValueError, match="offsets not after"):
        validate(REF, np.array([[1.0, 1.0, 60, 1]]))
    with pytest.raises(ValueError, match="negative"):
        validate(np.array([[-1.0, 1.0, 60, 1]]), REF)


def test_mean_scores():
    a = evaluate_notes(REF, EST)
    b = evaluate_notes(REF, REF)
    m = mean_scores([a, b])
    assert list(m) == list(SCORE_KEYS)
    assert m["onset_f"] == pytest.approx((a["onset_f"] + 1.0) / 2)
    assert mean_scores([]) == {}
    with pytest.raises(ValueError):
        mean_scores([{"x": 1.0}, {"y": 1.0}])
