"""The note tracker as it was written in NumPy before its per-pitch scan was compiled (with the
offset shift since made exact in seconds): the reference that
``nmftrans.notes.activations_to_notes`` must reproduce exactly (tests only). It uses the
project's compiled scalar scans ``_first_long_run`` (checked against a plain loop in
``test_notes.py``) and ``_rise_time`` (checked by the onset-timing tests there), which were
compiled before the rest of the tracker."""

import numpy as np

from nmftrans.notes import NoteParams, _first_long_run, _rise_time, empty_notes


def _prev_min(a: np.ndarray, k: int) -> np.ndarray:
    """Minimum of ``a[t-k:t]`` for each ``t`` of a nonnegative 1-D array (zeros before the start)."""
    out = np.zeros_like(a)
    n = len(a)
    if n > k:
        if k <= 16:  # a few shifted minima are cheaper than a running-minimum filter
            m = a[: n - k].copy()
            for j in range(1, k):
                np.minimum(m, a[j: n - k + j], out=m)
        else:
            from numpy.lib.stride_tricks import sliding_window_view

            m = sliding_window_view(a[:-1], k).min(axis=1)
        out[k:] = m
    return out


def _max_at(a: np.ndarray, at: np.ndarray, lo: int, hi: int) -> np.ndarray:
    """Maximum of ``a[t+lo : t+hi+1]`` and 0 for each ``t`` in ``at`` (zeros outside ``a``)."""
    from numpy.lib.stride_tricks import sliding_window_view

    if len(at) == 0:
        return np.zeros(0, dtype=a.dtype)
    pad_lo, pad_hi = max(0, -lo), max(0, hi)
    padded = np.concatenate([np.zeros(pad_lo, a.dtype), a, np.zeros(pad_hi, a.dtype)])
    windows = sliding_window_view(padded, hi - lo + 1)
    return np.maximum(windows[at + lo + pad_lo].max(axis=1), 0.0)


def reference_activations_to_notes(A: np.ndarray, pitch_set: np.ndarray, frame_rate: float,
                                   params: NoteParams = NoteParams(), window_s: float = 0.0) -> np.ndarray:
    """The notes of :func:`nmftrans.notes.activations_to_notes` (same arguments), in NumPy."""
    A = np.asarray(A)
    if A.ndim != 2 or A.shape[0] != len(pitch_set):
        raise ValueError(f"A has shape {A.shape} but there are {len(pitch_set)} pitches")
    n_p, n = A.shape
    if n == 0 or n_p == 0:
        return empty_notes()
    frames = lambda s: max(1, int(round(s * frame_rate)))  # noqa: E731
    n_rise = frames(params.rise_s)
    sub_w = frames(params.sub_window_s) if params.sub_window_s > 0 else 0
    n_peak = frames(params.peak_window_s)
    row_of = {int(p): i for i, p in enumerate(pitch_set)}
    min_len = frames(params.min_duration_s)
    drop_len = params.min_note_s * frame_rate
    min_ioi = frames(params.min_ioi_s)
    gap = int(round(params.offset_gap_s * frame_rate))
    shift_s = window_s / 2.0 if params.offset_shift_s is None else params.offset_shift_s
    shift = shift_s * frame_rate
    # one pitch at a time (float64 rows): memory stays at a few rows whatever the file's length
    rises: dict[int, np.ndarray] = {}

    def rise(i: int, a: np.ndarray | None = None, prev: np.ndarray | None = None) -> np.ndarray:
        """Rise of row ``i`` over its running minimum (``a``, ``prev``: the row and that minimum,
        where the caller has them)."""
        if i not in rises:
            a = np.asarray(A[i], dtype=np.float64) if a is None else a
            prev = _prev_min(a, n_rise) if prev is None else prev
            rises[i] = np.maximum(a - prev, 0.0)
        return rises[i]

    rows = []
    for i, p in enumerate(pitch_set):
        if p < params.lowest or p > params.highest:
            continue
        a = np.asarray(A[i], dtype=np.float64)
        if a.max() < params.onset_threshold:  # no onset can reach the threshold
            continue
        prev = _prev_min(a, n_rise)
        cand = ((a - prev) > params.candidate_min) & (a > params.rise_ratio * prev)
        starts = np.flatnonzero(cand & ~np.concatenate([[False], cand[:-1]]))
        if len(starts) == 0:
            continue
        r = _max_at(rise(i, a, prev), starts, -sub_w, sub_w)
        keep = (_max_at(a, starts, 0, n_peak - 1) >= params.onset_threshold) & (r >= params.rise_threshold)
        subs = [row_of[int(p) - k] for k in params.sub_intervals if int(p) - k in row_of]
        if subs and params.sub_ratio > 0 and keep.any():
            sub_rise = np.max([_max_at(rise(j), starts, -sub_w, sub_w) for j in subs], axis=0)
            keep &= ~(sub_rise > params.sub_ratio * r)
        onsets: list[int] = []
        for t in starts[keep].tolist():
            if onsets and t - onsets[-1] < min_ioi:
                continue
            onsets.append(t)
        if len(rises) > 2 * (len(params.sub_intervals) + 1):
            rises.clear()
        # optionally place each onset on the steepest rise before its peak (with long centred
        # frames the first rising frame can come tens of milliseconds before a sharp attack)
        if params.steepest_onset:
            steep = np.diff(a, prepend=0.0)
            onsets = sorted({o + int(np.argmax(steep[o:o + max(1, int(np.argmax(a[o:o + n_peak])) + 1)])) for o in onsets})
        limits = onsets[1:] + [n]
        peaks = [o + int(np.argmax(a[o:min(o + n_peak, lim)])) for o, lim in zip(onsets, limits)]
        if params.onset_rise_fraction is None:
            times = [float(o) for o in onsets]
        else:
            times = [_rise_time(a, o, k, n_rise, params.onset_rise_fraction) for o, k in zip(onsets, peaks)]
        times = [max(0.0, t / frame_rate - params.onset_lag_s) for t in times]
        for j, (o, k) in enumerate(zip(onsets, peaks)):
            peak = a[k]
            end = _first_long_run(a, k, limits[j], max(params.floor, params.frame_threshold * peak), gap)
            end = max(k + 1.0, end - shift)
            if end - o < drop_len:
                continue
            end = max(end, float(min(o + min_len, n)))
            velocity = float(min(127, max(1, round(30 + 90 * min(1.0, peak) ** 0.5))))
            onset = times[j]
            offset = end / frame_rate - params.onset_lag_s
            if j + 1 < len(times):  # a re-struck note ends where the next one starts
                offset = min(offset, times[j + 1])
            rows.append((onset, max(offset, onset + 1.0 / frame_rate), float(p), velocity))
    if not rows:
        return empty_notes()
    notes = np.array(rows, dtype=np.float64)
    return notes[np.lexsort((notes[:, 2], notes[:, 0]))]
