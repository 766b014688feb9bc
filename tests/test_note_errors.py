"""Kinds of error (nmftrans.core.note_errors) on a reference and an estimate counted by hand."""

import numpy as np

from nmftrans.core.note_errors import ErrorCounts, count_errors, unmatched

REF = np.array([
    [0.50, 1.00, 60, 80],  # hit
    [1.00, 1.50, 60, 40],  # re-struck while the first 60 rings: missed (the estimate runs on)
    [2.00, 2.50, 48, 100],  # hit
    [3.00, 3.50, 64, 80],  # missed; an estimate 70 ms late: a near miss
    [4.00, 4.50, 62, 80],  # missed; an estimate 150 ms late: too far for a near miss
    [5.00, 5.30, 70, 80],  # missed
    [5.60, 5.90, 70, 80],  # missed, 0.3 s after the last 70 ended (> ring_s 0.25): not a re-strike
    [6.00, 6.40, 72, 80],  # missed while an estimated 72 runs across it: a re-strike
])
EST = np.array([
    [0.50, 1.50, 60, 80],
    [1.98, 2.30, 67, 60],  # a twelfth above the 48, 20 ms early: partial false alarm
    [2.00, 2.50, 48, 100],
    [2.02, 2.40, 60, 60],  # an octave above the 48, 20 ms late: partial false alarm
    [2.30, 2.50, 55, 60],  # a fifth above the 48 and 300 ms late: a plain false alarm
    [3.07, 3.50, 64, 80],
    [4.15, 4.50, 62, 80],
    [5.80, 6.50, 72, 80],  # started 200 ms before the reference 72: a false alarm
])


def test_counts_by_hand():
    c = count_errors(REF, EST)
    assert c == ErrorCounts(n_ref=8, n_est=8, missed=6, false_alarms=6, missed_restrikes=2,
                            partial_false_alarms=2, near_misses=1)
    missed, false = unmatched(REF, EST)
    assert missed.tolist() == [1, 3, 4, 5, 6, 7]
    assert false.tolist() == [1, 3, 4, 5, 6, 7]


def test_windows_are_parameters():
    # ring_s 0.35: the second 70 (0.3 s after the first ended) is a re-strike too
    assert count_errors(REF, EST, ring_s=0.35).missed_restrikes == 3
    # near_s 0.2: the 62 150 ms late is a near miss too; tolerance 0.1: the 64 70 ms late is a hit
    assert count_errors(REF, EST, near_s=0.2).near_misses == 2
    wide = count_errors(REF, EST, tolerance_s=0.1)
    assert (wide.missed, wide.false_alarms, wide.near_misses) == (5, 5, 0)


def test_empty_estimate_and_sum():
    c = count_errors(REF, np.zeros((0, 4)))
    # all missed; the two 60s, the two 70s (0.3 s apart, ring_s 0.25) -> only the second 60
    assert c == ErrorCounts(8, 0, 8, 0, 1, 0, 0)
    assert (c + c).as_tuple() == (16, 0, 16, 0, 2, 0, 0)
