"""nmftrans.core.onset_channel: partial bands, partial-rise counts (streamed = whole = a plain loop) and
the re-strike split, on small hand-made arrays."""

import numpy as np
import pytest

from nmftrans.core.onset_channel import (AFTER, BEFORE, PartialRiseStream, band_maxima, partial_bands, partial_rises,
                                    split_restrikes)


def test_partial_bands_by_hand():
    freqs = np.arange(0.0, 2000.0, 10.0)  # 10 Hz bins up to 1990 Hz
    lo, hi, owner = partial_bands(freqs, np.array([69]))  # A4: 440, 880, 1320, 1760 Hz (+-3 %)
    assert lo.tolist() == [43, 86, 129, 171]
    assert hi.tolist() == [46, 91, 136, 182]
    assert owner.tolist() == [0, 0, 0, 0]
    # a band narrower than a bin takes the nearest bin
    lo, hi, _ = partial_bands(np.array([100.0, 200.0, 300.0, 400.0]), np.array([45]))  # 110 Hz
    assert (lo[0], hi[0]) == (0, 1)


def reference_counts(V, lo, hi, owner, n_pitches, rise):
    """The rule written out frame by frame: a band rises at t if its largest value over frames
    t..t+2 exceeds rise times the smallest of its frame maxima over t-3..t-1 (zeros outside)."""
    n = V.shape[1]
    out = np.zeros((n_pitches, n), dtype=int)
    for b in range(len(lo)):
        m = [float(V[lo[b]:hi[b], t].max()) for t in range(n)]
        for t in range(n):
            before = min(m[t - k] if t - k >= 0 else 0.0 for k in range(1, BEFORE + 1))
            after = max(m[t + k] if t + k < n else 0.0 for k in range(AFTER))
            out[owner[b], t] += after > rise * before
    return out


def test_partial_rises_streamed_equal_whole_and_reference():
    rng = np.random.default_rng(3)
    freqs = np.geomspace(30.0, 4000.0, 120)
    pitches = np.array([40, 52, 60, 69, 80])
    V = rng.gamma(0.5, 1.0, size=(120, 97)).astype(np.float32)
    lo, hi, owner = partial_bands(freqs, pitches)
    expect = reference_counts(V, lo, hi, owner, len(pitches), 1.3)
    whole = PartialRiseStream(freqs, pitches, 1.3)
    whole.push(V)
    counts = whole.finish()
    np.testing.assert_array_equal(counts, expect)
    for cuts in ([1, 2, 3, 50, 96], [40], [5, 6, 7, 8, 9, 10]):
        stream = PartialRiseStream(freqs, pitches, 1.3)
        for piece in np.split(V, cuts, axis=1):
            stream.push(piece)
        np.testing.assert_array_equal(stream.finish(), expect)
    assert whole.n_partials.tolist() == np.bincount(owner, minlength=len(pitches)).tolist()
    np.testing.assert_array_equal(band_maxima(V, lo, hi)[:, 5], [V[a:b, 5].max() for a, b in zip(lo, hi)])


def test_split_only_where_enough_partials_rise():
    fr = 10.0  # frames per second
    notes = np.array([[0.0, 3.0, 60, 90], [0.5, 1.5, 64, 80]])
    candidates = np.array([[0.05, 0.5, 60, 40],   # too close to the note's onset
                           [1.0, 2.0, 60, 50],    # partials rise at frame 11 (one frame late: counted)
                           [2.0, 3.0, 60, 45],    # only 2 of 5 partials rise
                           [1.0, 1.4, 64, 30]])   # its pitch has one partial only: never split
    rises = np.zeros((2, 40), dtype=np.uint8)
    rises[0, 11] = 4
    rises[0, 20] = 2
    rises[1, 10] = 1
    out = split_restrikes(notes, candidates, rises, np.array([5, 1]), np.array([60, 64]), fr, 0.8, 0.1)
    np.testing.assert_array_equal(out, [[0.0, 1.0, 60, 90], [0.5, 1.5, 64, 80], [1.0, 3.0, 60, 50]])
    # a lower share accepts the candidate at 2.0 s too
    out = split_restrikes(notes, candidates, rises, np.array([5, 1]), np.array([60, 64]), fr, 0.4, 0.1)
    assert out[:, 0].tolist() == [0.0, 0.5, 1.0, 2.0]
    assert split_restrikes(notes, candidates[:0], rises, np.array([5, 1]), np.array([60, 64]), fr, 0.8, 0.1).tolist() \
        == notes.tolist()


@pytest.mark.parametrize("n", [0, 1, 2])
def test_short_signals(n):
    stream = PartialRiseStream(np.geomspace(30.0, 4000.0, 200), np.array([60]), 1.2)
    V = np.ones((200, n), dtype=np.float32)
    stream.push(V)
    counts = stream.finish()
    assert counts.shape == (1, n)
    assert len(stream.lo) == stream.n_partials[0] == 10
    assert (counts == 10).all()  # every partial rises from the silence before the start


def test_resolved_pitches_by_hand():
    """10 Hz bins: a semitone (5.95 % of f0) is at least 10 Hz from f0 = 168.2 Hz on: MIDI 52
    (164.8 Hz, 9.8 Hz) is not resolved, 53 (174.6 Hz, 10.4 Hz) is."""
    from nmftrans.core.onset_channel import resolved_pitches

    freqs = np.arange(10.0, 5000.0, 10.0)
    assert resolved_pitches(freqs, np.array([40, 52, 53, 69, 100])).tolist() == [False, False, True, True, True]
    stream = PartialRiseStream(freqs, np.array([52, 53]), 1.2)
    assert stream.n_partials[0] == 0 and stream.n_partials[1] == 10  # no split for the unresolved pitch
    # finer bins interpolated from a 20 Hz STFT resolve no more than the STFT: MIDI 65 (349 Hz, 20.8 Hz) on
    fine = np.arange(10.0, 5000.0, 2.0)
    assert resolved_pitches(fine, np.array([53, 64, 65]), min_spacing=20.0).tolist() == [False, False, True]
