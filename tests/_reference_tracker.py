"""An independent note tracker, written from the rules in the docstrings of ``nmftrans/core/notes.py``
(the module docstring, :class:`NoteParams`, ``_rise_time`` and ``activations_to_notes``), in plain
Python loops over one pitch row at a time (tests only).

It imports nothing from :mod:`nmftrans`: no helper (``_rise_time``, ``_first_long_run``, ...) and no
default value. Its parameters are any object with the attributes of ``NoteParams``; the tests pass
the defaults they read from the documentation (``DOCUMENTED_DEFAULTS`` in ``test_notes.py``).
If a rule of the tracker changes on purpose, change it here too, from the new docstring.
"""

from __future__ import annotations

import math

import numpy as np

EPS = 1e-12  # the smallest rise step the sub-frame interpolation divides by


def _frames(seconds: float, rate: float) -> int:
    """A duration in whole frames, at least 1."""
    return max(1, int(round(seconds * rate)))


def _running_min_before(a: list[float], k: int) -> list[float]:
    """Minimum of the ``k`` values before each frame (frames before the start count as 0)."""
    return [0.0 if t < k else min(a[t - k:t]) for t in range(len(a))]


def _window_max(x: list[float], t: int, lo: int, hi: int) -> float:
    """Largest of ``x[t+lo .. t+hi]`` and 0 (frames outside the row count as 0)."""
    return max([0.0] + [x[j] for j in range(t + lo, t + hi + 1) if 0 <= j < len(x)])


def onset_time(a: list[float], onset: int, peak: int, back: int, fraction: float) -> float:
    """Fractional frame where the activation has risen ``fraction`` of the way from its minimum
    over ``a[onset-back .. onset]`` (the first such frame) to ``a[peak]``, linearly interpolated
    between the two frames around that level; the peak's frame if it is never reached before it."""
    lo = max(0, onset - back)
    segment = a[lo:onset + 1]
    start = lo + segment.index(min(segment))
    level = a[start] + fraction * (a[peak] - a[start])
    for j in range(start, peak):
        if a[j + 1] >= level:
            return j + (level - a[j]) / max(a[j + 1] - a[j], EPS)
    return float(peak)


def note_end(a: list[float], start: int, stop: int, threshold: float, length: int) -> int:
    """First frame in ``[start, stop)`` from which the activation stays below ``threshold`` for
    ``length`` frames (a run cut short by ``stop`` counts); ``stop`` if there is none."""
    for t in range(start, stop):
        run = a[t:min(stop, t + max(length, 1))]
        if all(v < threshold for v in run):
            return t
    return stop


def released_end(a: list[float], peak: int, end: int, rate: float, p) -> float | None:
    """Where a note whose activation fell steeply just before ``end`` ends (``NoteParams.release_*``),
    or None when it did not (or the rule is off: ``note_ends`` "sound" ends notes where they fade)."""
    if p.release_fall_db <= 0 or p.note_ends == "sound":
        return None
    length = _frames(p.release_fall_s, rate)
    ratio = 10 ** (p.release_fall_db / 20)
    slow_length = _frames(p.release_slow_s, rate)
    slow_ratio = 10 ** (p.release_slow_db / 20)

    def steep(t: int) -> bool:
        return 0 <= t and t + length < len(a) and a[t] >= ratio * a[t + length]

    def slow_fall(t: int) -> bool:  # release_slow_db: 6 dB in 0.15 s also counts as steep
        return p.release_slow_db > 0 and 0 <= t and t + slow_length < len(a) and a[t] >= slow_ratio * a[t + slow_length]

    def first_of_run(counts) -> int | None:
        """First frame of the run of frames that ``counts`` through end - 1 or end - 2, back to the peak."""
        if not (counts(end - 1) or counts(end - 2)):
            return None
        first = max(end - 1, peak)
        while first > peak and counts(first - 1):
            first -= 1
        return first

    first = first_of_run(lambda t: steep(t) or slow_fall(t)) if p.release_slow_db > 0 else None
    if first is not None and first <= peak + 1:  # back to the peak: a fading note, the steep rule alone
        first = None
    if first is None:
        first = first_of_run(steep)
    if first is None:
        return None
    level = a[first] * 10 ** (-p.release_end_db / 20)
    for t in range(first + 1, end + 1):
        if t < len(a) and a[t] <= level:
            return t - 1 + (a[t - 1] - level) / max(a[t - 1] - a[t], EPS)
    return float(end)


def _track_pitch(a: list[float], sub_rises: list[list[float]], rate: float, p, window_s: float, lag: float):
    n = len(a)
    n_rise = _frames(p.rise_s, rate)
    n_peak = _frames(p.peak_window_s, rate)
    sub_w = _frames(p.sub_window_s, rate) if p.sub_window_s > 0 else 0
    prev = _running_min_before(a, n_rise)
    rise = [max(x - m, 0.0) for x, m in zip(a, prev)]
    # 1. candidates: the first frame of each run of frames that rise above the recent minimum
    rising = [(x - m) > p.candidate_min and x > p.rise_ratio * m for x, m in zip(a, prev)]
    starts = [t for t in range(n) if rising[t] and not (t > 0 and rising[t - 1])]
    # 2. accepted onsets: a high enough peak, a large enough rise, not an octave's partial,
    # not too soon after the last one
    onsets: list[int] = []
    for t in starts:
        peak = max(a[t:t + n_peak])
        last = t  # the run's last rising frame
        while last + 1 < n and rising[last + 1]:
            last += 1
        # the rise: the largest over the run (from sub_w before it to sub_w after it or its end)
        r = _window_max(rise, t, -sub_w, max(sub_w, last - t))
        if peak < p.onset_threshold or r < p.rise_threshold:
            continue
        if p.sub_ratio > 0 and sub_rises:
            if max(_window_max(s, t, -sub_w, sub_w) for s in sub_rises) > p.sub_ratio * r:
                continue
        if onsets and t - onsets[-1] < _frames(p.min_ioi_s, rate):
            continue
        onsets.append(t)
    if p.steepest_onset:
        moved = set()
        for o in onsets:
            window = a[o:min(n, o + n_peak)]
            top = o + window.index(max(window))
            best = o
            for t in range(o + 1, top + 1):
                if a[t] - a[t - 1] > (a[best] - a[best - 1] if best > 0 else a[best]):
                    best = t
            moved.add(best)
        onsets = sorted(moved)
    # 3. peaks, onset times and ends
    limits = onsets[1:] + [n]
    peaks = []
    for o, lim in zip(onsets, limits):
        window = a[o:min(o + n_peak, lim)]
        peaks.append(o + window.index(max(window)))
    times = []
    for o, k in zip(onsets, peaks):
        t = float(o) if p.onset_rise_fraction is None else onset_time(a, o, k, n_rise, p.onset_rise_fraction)
        times.append(max(0.0, t / rate - lag))
    shift = (window_s / 2.0 if p.offset_shift_s is None else p.offset_shift_s) * rate
    gap = int(round(p.offset_gap_s * rate))
    notes = []
    for j, (o, k) in enumerate(zip(onsets, peaks)):
        peak = a[k]
        end = note_end(a, k, limits[j], max(p.floor, p.frame_threshold * peak), gap)
        released = released_end(a, k, end, rate, p)
        end = max(k + 1.0, end - shift) if released is None else released
        if end - o < p.min_note_s * rate:  # too short: dropped
            continue
        end = max(end, float(min(o + _frames(p.min_duration_s, rate), n)))  # short: lengthened
        onset = times[j]
        offset = end / rate - lag
        if j + 1 < len(times):  # re-struck: ends where the next note of this pitch starts
            offset = min(offset, times[j + 1])
        offset = max(offset, onset + 1.0 / rate)
        velocity = min(127.0, max(1.0, float(round(30.0 + 90.0 * math.sqrt(min(1.0, peak))))))
        notes.append((onset, offset, velocity))
    return notes


def reference_activations_to_notes(A: np.ndarray, pitch_set: np.ndarray, frame_rate: float, params,
                                   window_s: float = 0.0) -> np.ndarray:
    """The notes the documented rules give: ``(n_notes, 4)`` onset, offset (s), pitch, velocity,
    sorted by onset then pitch. ``params``: an object with ``NoteParams``' attributes."""
    A = np.asarray(A, dtype=np.float64)
    pitches = [int(q) for q in pitch_set]
    row_of = {q: i for i, q in enumerate(pitches)}
    n_rise = _frames(params.rise_s, frame_rate)
    rows = []
    for i, q in enumerate(pitches):
        if not params.lowest <= q <= params.highest:
            continue
        a = A[i].tolist()
        sub_rises = []
        for interval in params.sub_intervals:
            if q - interval in row_of:
                b = A[row_of[q - interval]].tolist()
                sub_rises.append([max(x - m, 0.0) for x, m in zip(b, _running_min_before(b, n_rise))])
        merged = []  # min_ioi_s: an onset less than it after the note kept before (once timed) joins that note
        # the lag: onset_lag_s, plus onset_lag_per_semitone_s per semitone below MIDI 60 (minus above)
        lag = params.onset_lag_s + params.onset_lag_per_semitone_s * (60 - q)
        for onset, offset, velocity in _track_pitch(a, sub_rises, frame_rate, params, window_s, lag):
            if merged and onset - merged[-1][0] < params.min_ioi_s:
                last = merged[-1]
                merged[-1] = (min(last[0], onset), max(last[1], offset), max(last[2], velocity))
            else:
                merged.append((onset, offset, velocity))
        rows += [(onset, offset, float(q), velocity) for onset, offset, velocity in merged]
    if not rows:
        return np.zeros((0, 4))
    notes = np.array(rows, dtype=np.float64)
    return notes[np.lexsort((notes[:, 2], notes[:, 0]))]
