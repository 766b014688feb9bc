"""Kinds of transcription error: which reference notes were missed and which notes are false alarms.

Inputs are note lists (see :mod:`nmftrans.io.annotations`): ``np.ndarray [shape=(n, 4)]`` with
onset (s), offset (s), MIDI pitch, velocity. Notes are matched as mir_eval matches note onsets
(same pitch, onsets within ``tolerance_s``, offsets ignored); of the notes left unmatched,

* a **missed re-strike** is a missed reference note whose pitch was already sounding at its onset:
  an earlier reference note of the same pitch ends less than ``ring_s`` before it (or later: the
  string still rings), or an estimated note of the same pitch runs across it (the transcription
  kept the old note going);
* an **octave/twelfth false alarm** is a false alarm within ``tolerance_s`` of a reference note
  12 or 19 semitones below it (a partial of that note taken for a note);
* a **near miss** is a missed reference note with an unmatched estimate of the same pitch whose
  onset is ``tolerance_s`` to ``near_s`` away (the right note, timed badly); each estimate is
  used once.
"""

from __future__ import annotations

from dataclasses import dataclass

import mir_eval
import numpy as np

#: Intervals (semitones) below a false alarm checked for the note whose partial it is.
PARTIAL_INTERVALS = (12, 19)


@dataclass(frozen=True)
class ErrorCounts:
    """Counts of :func:`count_errors` (see the module docstring).

    Attributes
    ----------
    n_ref, n_est : int
        Notes in the reference and the estimate.
    missed, false_alarms : int
        Reference notes without a matching estimate, estimates without a matching reference note.
    missed_restrikes : int
        Missed notes struck while their pitch was still sounding.
    partial_false_alarms : int
        False alarms an octave or a twelfth above a reference note starting with them.
    near_misses : int
        Missed notes with an unmatched estimate of their pitch ``tolerance_s``-``near_s`` away.
    """

    n_ref: int
    n_est: int
    missed: int
    false_alarms: int
    missed_restrikes: int
    partial_false_alarms: int
    near_misses: int

    def __add__(self, other: "ErrorCounts") -> "ErrorCounts":
        return ErrorCounts(*(a + b for a, b in zip(self.as_tuple(), other.as_tuple())))

    def as_tuple(self) -> tuple[int, ...]:
        return (self.n_ref, self.n_est, self.missed, self.false_alarms, self.missed_restrikes,
                self.partial_false_alarms, self.near_misses)


def unmatched(ref: np.ndarray, est: np.ndarray, tolerance_s: float = 0.05) -> tuple[np.ndarray, np.ndarray]:
    """Indices of the reference notes and of the estimates left out of mir_eval's onset matching.

    Returns
    -------
    missed : np.ndarray [shape=(n_missed,)], int
    false_alarms : np.ndarray [shape=(n_false,)], int
    """
    ref, est = np.asarray(ref, dtype=np.float64), np.asarray(est, dtype=np.float64)
    if len(ref) == 0 or len(est) == 0:
        return np.arange(len(ref)), np.arange(len(est))
    matches = mir_eval.transcription.match_notes(
        ref[:, :2], mir_eval.util.midi_to_hz(ref[:, 2]), est[:, :2], mir_eval.util.midi_to_hz(est[:, 2]),
        onset_tolerance=tolerance_s, offset_ratio=None)
    hit_ref = np.zeros(len(ref), dtype=bool)
    hit_est = np.zeros(len(est), dtype=bool)
    for i, j in matches:
        hit_ref[i] = True
        hit_est[j] = True
    return np.flatnonzero(~hit_ref), np.flatnonzero(~hit_est)


def count_errors(ref: np.ndarray, est: np.ndarray, *, tolerance_s: float = 0.05, ring_s: float = 0.25,
                 near_s: float = 0.1) -> ErrorCounts:
    """Count the kinds of error of an estimate against a reference (see the module docstring).

    Parameters
    ----------
    ref, est : np.ndarray [shape=(n, 4)]
    tolerance_s : float
        Onset tolerance of the matching.
    ring_s : float
        A note still sounds this long after its annotated offset (damper and room).
    near_s : float
        Largest onset error of a near miss.
    """
    ref, est = np.asarray(ref, dtype=np.float64), np.asarray(est, dtype=np.float64)
    missed, false = unmatched(ref, est, tolerance_s)
    restrikes = 0
    for i in missed:
        on, p = ref[i, 0], ref[i, 2]
        before = (ref[:, 2] == p) & (ref[:, 0] < on - 1e-9) & (ref[:, 1] > on - ring_s)
        across = (est[:, 2] == p) & (est[:, 0] < on - tolerance_s) & (est[:, 1] > on) if len(est) else [False]
        restrikes += bool(np.any(before) or np.any(across))
    partial = 0
    for j in false:
        on, p = est[j, 0], est[j, 2]
        below = np.isin(ref[:, 2], [p - k for k in PARTIAL_INTERVALS]) & (np.abs(ref[:, 0] - on) <= tolerance_s)
        partial += bool(np.any(below))
    near = 0
    free = set(int(j) for j in false)
    for i in missed:
        on, p = ref[i, 0], ref[i, 2]
        best, best_d = -1, np.inf
        for j in sorted(free):
            d = abs(est[j, 0] - on)
            if est[j, 2] == p and tolerance_s < d <= near_s and d < best_d:
                best, best_d = j, d
        if best >= 0:
            near += 1
            free.discard(best)
    return ErrorCounts(len(ref), len(est), len(missed), len(false), restrikes, partial, near)


#: mir_eval's onset tolerance (seconds).
ONSET_TOLERANCE_S = 0.05


def match_onsets(estimated: np.ndarray, reference: np.ndarray, tolerance: float = ONSET_TOLERANCE_S):
    """Pair estimated and reference notes of the same pitch whose onsets are within ``tolerance``.

    The criterion is mir_eval's note-onset criterion (pitch within 50 cents, onset distance
    rounded to 0.1 ms and at most ``tolerance``) and the pairing is a maximum matching, as in
    :func:`mir_eval.transcription.match_notes`: the number of hits is the one behind the onset
    precision and recall. Among the maximum matchings the one with the smallest total onset
    distance is taken. Each note is used at most once.

    Returns
    -------
    hit : np.ndarray [shape=(n_est,)], bool
        Estimated notes that match a reference note (the others are false alarms).
    found : np.ndarray [shape=(n_ref,)], bool
        Reference notes that were matched (the others are misses).
    """
    from scipy.optimize import linear_sum_assignment
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    est = np.asarray(estimated, dtype=np.float64).reshape(-1, 4)
    ref = np.asarray(reference, dtype=np.float64).reshape(-1, 4)
    hit = np.zeros(len(est), dtype=bool)
    found = np.zeros(len(ref), dtype=bool)
    if len(est) == 0 or len(ref) == 0:
        return hit, found
    # candidate pairs (i, j, onset distance), found through the reference onsets in order
    order = np.argsort(ref[:, 0], kind="stable")
    onsets = ref[order, 0]
    lows = np.searchsorted(onsets, est[:, 0] - tolerance - 1e-3, side="left")
    highs = np.searchsorted(onsets, est[:, 0] + tolerance + 1e-3, side="right")
    rows, cols, costs = [], [], []
    for i in range(len(est)):
        js = order[lows[i]:highs[i]]
        distance = np.round(np.abs(ref[js, 0] - est[i, 0]), 4)
        ok = (distance <= tolerance) & (100.0 * np.abs(ref[js, 2] - est[i, 2]) <= 50.0)
        rows.extend([i] * int(ok.sum()))
        cols.extend(js[ok].tolist())
        costs.extend(distance[ok].tolist())
    if not rows:
        return hit, found
    rows, cols, costs = np.asarray(rows), np.asarray(cols), np.asarray(costs)
    n_est = len(est)
    graph = coo_matrix((np.ones(len(rows)), (rows, n_est + cols)), shape=(n_est + len(ref),) * 2)
    _, label = connected_components(graph, directed=False)
    by_component = np.argsort(label[rows], kind="stable")
    bounds = np.flatnonzero(np.diff(label[rows][by_component])) + 1
    for edges in np.split(by_component, bounds):
        if len(edges) == 1:  # the usual case: one candidate, nothing to choose
            hit[rows[edges[0]]] = found[cols[edges[0]]] = True
            continue
        ii, i_index = np.unique(rows[edges], return_inverse=True)
        jj, j_index = np.unique(cols[edges], return_inverse=True)
        # a forbidden pair costs more than any set of allowed ones: cardinality first, then distance
        forbidden = 1.0 + (tolerance + 1.0) * min(len(ii), len(jj))
        cost = np.full((len(ii), len(jj)), forbidden)
        cost[i_index, j_index] = costs[edges]
        a, b = linear_sum_assignment(cost)
        allowed = cost[a, b] < forbidden
        hit[ii[a[allowed]]] = True
        found[jj[b[allowed]]] = True
    return hit, found
