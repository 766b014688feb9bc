"""Transcription scores through :mod:`mir_eval`, as pure functions.

Inputs are note lists (see :mod:`nmftrans.io.annotations`): ``np.ndarray [shape=(n, 4)]`` with
onset (s), offset (s), MIDI pitch, velocity. Pitches are converted to Hz with
:func:`mir_eval.util.midi_to_hz`.

* Frame level: the notes are sampled on a grid ``t_k = k * frame_hop``; a note sounds at
  ``t_k`` when ``onset <= t_k < offset``. :func:`mir_eval.multipitch.evaluate` gives
  precision, recall and accuracy; F-measure is ``2 P R / (P + R)``.
* Note level: :func:`mir_eval.transcription.precision_recall_f1_overlap` with onsets only
  (``offset_ratio=None``) and with onsets and offsets (``offset_ratio``).

When the reference or the estimate is empty every score is 0 (mir_eval's own convention,
without its warnings).
"""

from __future__ import annotations

import warnings
from collections import OrderedDict
from collections.abc import Iterable, Mapping

import mir_eval
import numpy as np

from nmftrans.core.notearrays import notes_to_roll

__all__ = ["SCORE_KEYS", "validate", "evaluate_notes", "mean_scores"]

#: Keys of :func:`evaluate_notes`, in order.
SCORE_KEYS = (
    "frame_precision",
    "frame_recall",
    "frame_f",
    "frame_accuracy",
    "onset_precision",
    "onset_recall",
    "onset_f",
    "onset_offset_precision",
    "onset_offset_recall",
    "onset_offset_f",
)


def validate(ref_notes: np.ndarray, est_notes: np.ndarray) -> None:
    """Check that two note lists are well-formed.

    Parameters
    ----------
    ref_notes, est_notes : np.ndarray [shape=(n, 4)]

    Raises
    ------
    ValueError
        Wrong shape, non-finite values, negative onsets, offsets not after onsets, or pitches
        outside 0-127.
    """
    for name, notes in (("reference", ref_notes), ("estimate", est_notes)):
        notes = np.asarray(notes)
        if notes.ndim != 2 or notes.shape[1] < 3:
            raise ValueError(f"{name} notes must have shape (n, 4), got {notes.shape}")
        if len(notes) == 0:
            continue
        if not np.isfinite(notes[:, :3]).all():
            raise ValueError(f"{name} notes contain non-finite values")
        if (notes[:, 0] < 0).any():
            raise ValueError(f"{name} notes have negative onsets")
        if (notes[:, 1] <= notes[:, 0]).any():
            raise ValueError(f"{name} notes have offsets not after their onsets")
        if ((notes[:, 2] < 0) | (notes[:, 2] > 127)).any():
            raise ValueError(f"{name} notes have pitches outside 0-127")


def _frame_lists(notes: np.ndarray, n_frames: int, frame_hop: float):
    """Times and per-frame Hz arrays for mir_eval.multipitch."""
    times = np.arange(n_frames) * frame_hop
    pitches = np.unique(np.round(notes[:, 2]).astype(np.int64))
    roll = notes_to_roll(notes, n_frames, 1.0 / frame_hop, pitches) if len(notes) else None
    hz = mir_eval.util.midi_to_hz(pitches.astype(float))
    freqs = [hz[roll[:, k] > 0] if roll is not None else np.zeros(0) for k in range(n_frames)]
    return times, freqs


def evaluate_notes(
    ref_notes: np.ndarray,
    est_notes: np.ndarray,
    *,
    frame_hop: float = 0.01,
    onset_tolerance: float = 0.05,
    offset_ratio: float = 0.2,
    offset_min_tolerance: float = 0.05,
) -> OrderedDict:
    """Frame-level and note-level scores of an estimated note list.

    Parameters
    ----------
    ref_notes : np.ndarray [shape=(n, 4)]
        Reference notes.
    est_notes : np.ndarray [shape=(m, 4)]
        Estimated notes.
    frame_hop : float
        Spacing of the frame grid in seconds.
    onset_tolerance : float
        Onset matching window in seconds (note level).
    offset_ratio : float
        Offset window as a fraction of the reference note's duration (onset+offset scores).
    offset_min_tolerance : float
        Minimum offset window in seconds.

    Returns
    -------
    scores : OrderedDict
        The keys of :data:`SCORE_KEYS`, floats in [0, 1].
    """
    ref_notes = np.asarray(ref_notes, dtype=np.float64)
    est_notes = np.asarray(est_notes, dtype=np.float64)
    validate(ref_notes, est_notes)
    if frame_hop <= 0:
        raise ValueError("frame_hop must be positive")
    scores = OrderedDict((key, 0.0) for key in SCORE_KEYS)
    if len(ref_notes) == 0 or len(est_notes) == 0:
        return scores

    end = max(ref_notes[:, 1].max(), est_notes[:, 1].max())
    n_frames = int(np.ceil(end / frame_hop)) + 1
    ref_times, ref_freqs = _frame_lists(ref_notes, n_frames, frame_hop)
    est_times, est_freqs = _frame_lists(est_notes, n_frames, frame_hop)
    ref_iv, ref_hz = ref_notes[:, :2], mir_eval.util.midi_to_hz(ref_notes[:, 2])
    est_iv, est_hz = est_notes[:, :2], mir_eval.util.midi_to_hz(est_notes[:, 2])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        frame = mir_eval.multipitch.evaluate(ref_times, ref_freqs, est_times, est_freqs)
        on = mir_eval.transcription.precision_recall_f1_overlap(
            ref_iv, ref_hz, est_iv, est_hz, onset_tolerance=onset_tolerance, offset_ratio=None
        )
        onoff = mir_eval.transcription.precision_recall_f1_overlap(
            ref_iv, ref_hz, est_iv, est_hz, onset_tolerance=onset_tolerance,
            offset_ratio=offset_ratio, offset_min_tolerance=offset_min_tolerance,
        )
    p, r = float(frame["Precision"]), float(frame["Recall"])
    values = (
        p, r, 2 * p * r / (p + r) if p + r > 0 else 0.0, float(frame["Accuracy"]),
        *map(float, on[:3]), *map(float, onoff[:3]),
    )
    for key, value in zip(SCORE_KEYS, values):
        scores[key] = 0.0 if not np.isfinite(value) else value
    return scores


def mean_scores(scores: Iterable[Mapping[str, float]]) -> OrderedDict:
    """Average score dicts key by key (unweighted mean over files).

    Parameters
    ----------
    scores : iterable of mapping
        Dicts with the same keys, e.g. from :func:`evaluate_notes`.

    Returns
    -------
    mean : OrderedDict
        The keys of the first dict in its order; empty when ``scores`` is empty.
    """
    scores = list(scores)
    if not scores:
        return OrderedDict()
    keys = list(scores[0])
    for s in scores[1:]:
        if set(s) != set(keys):
            raise ValueError("score dicts have different keys")
    return OrderedDict((k, float(np.mean([s[k] for s in scores]))) for k in keys)
