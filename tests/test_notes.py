import numpy as np
import pytest

from nmftrans.core.notes import NoteParams, activations_to_notes, pitch_activations

FR = 100.0  # frames per second


def bump(n, start, length, height, decay=0.02):
    a = np.zeros(n)
    t = np.arange(length)
    a[start:start + length] = height * np.exp(-decay * t)
    return a


def test_two_separate_notes():
    a = bump(300, 20, 50, 1.0) + bump(300, 150, 60, 0.8)
    notes = activations_to_notes(a[None], np.array([60]), FR)
    assert notes.shape == (2, 4)
    np.testing.assert_allclose(notes[:, 0], [0.20, 1.50], atol=0.015)
    assert (notes[:, 2] == 60).all()
    assert notes[0, 3] > notes[1, 3]  # louder activation, higher velocity


def test_repeated_note_is_split_where_the_activation_rises_again():
    a = bump(300, 20, 200, 1.0, decay=0.03)
    a[100:] += bump(200, 0, 120, 0.9, decay=0.03)  # struck again while still sounding
    notes = activations_to_notes(a[None], np.array([64]), FR)
    assert len(notes) == 2
    np.testing.assert_allclose(notes[:, 0], [0.20, 1.00], atol=0.015)
    assert notes[0, 1] <= notes[1, 0] + 1e-9


def test_short_notes_and_pitch_range_are_filtered():
    A = np.stack([bump(200, 10, 3, 1.0), bump(200, 10, 60, 1.0)])
    pitches = np.array([40, 70])
    notes = activations_to_notes(A, pitches, FR, NoteParams(min_note_s=0.1))
    assert notes[:, 2].tolist() == [70]
    assert len(activations_to_notes(A, pitches, FR, NoteParams(lowest=41, highest=69))) == 0


def test_onset_lag_is_subtracted():
    a = bump(200, 50, 60, 1.0)
    plain = activations_to_notes(a[None], np.array([60]), FR, NoteParams(onset_lag_s=0.0))
    lagged = activations_to_notes(a[None], np.array([60]), FR, NoteParams(onset_lag_s=0.03))
    assert lagged[0, 0] == pytest.approx(plain[0, 0] - 0.03)


def ramp_note(n, onset, level, under=0.0, window=9):
    """What a centred window makes of a note struck at frame ``onset``: its activation ramps up over
    ``window`` frames centred on the onset, then decays; ``under`` is a decaying earlier sound."""
    t = np.arange(n, dtype=float)
    a = under * np.exp(-0.01 * t)
    rise = np.clip((t - (onset - window / 2)) / window, 0.0, 1.0)
    return a + level * rise * np.exp(-0.02 * np.maximum(t - onset, 0.0))


def test_onsets_are_timed_on_the_rise_for_loud_and_soft_notes_alike():
    """A centred window starts to see a note half a window before it is struck. Timed at half their
    rise, a loud note in silence, a softer one and a soft re-strike of a sounding note all land on
    their onsets (within one frame); the first rising frame comes several frames early for the
    notes that rise from silence."""
    loud = ramp_note(300, 100, 1.0)
    restruck = ramp_note(300, 150, 0.6) + ramp_note(300, 200, 0.35)
    A = np.stack([loud, restruck])
    pitches = np.array([60, 64])
    half = activations_to_notes(A, pitches, FR, NoteParams(onset_rise_fraction=0.5))
    first = activations_to_notes(A, pitches, FR, NoteParams(onset_rise_fraction=None))
    for notes in (half, first):
        assert notes[:, 2].tolist() == [60, 64, 64]
    np.testing.assert_allclose(half[:, 0], [1.00, 1.50, 2.00], atol=0.01)
    assert half[1, 1] <= half[2, 0]  # the first 64 ends where it is struck again
    assert np.abs(first[:, 0] - [1.00, 1.50, 2.00]).max() > 0.03


def test_pitch_activations_sums_templates_of_a_pitch():
    H = np.arange(12, dtype=np.float32).reshape(4, 3)
    A, ps = pitch_activations(H, np.array([62, 60, 62, 61]))
    assert ps.tolist() == [60, 61, 62]
    np.testing.assert_array_equal(A, [H[1], H[3], H[0] + H[2]])


def test_short_dips_below_the_offset_threshold_are_bridged():
    """A decaying note whose activation dips under 5 % of its peak for 60 ms (too low to be a new
    onset when it comes back) goes on; a dip longer than ``offset_gap_s`` ends it, and so does any dip without a gap."""
    def note_with_dip(dip_frames):
        a = np.full(300, 0.0)
        a[20:200] = np.exp(-0.02 * np.arange(180))  # 0.2 at the dip, under onset_threshold
        a[100:100 + dip_frames] = 0.01
        return a

    no_shift = NoteParams(offset_shift_s=0.0)
    bridged = activations_to_notes(note_with_dip(6)[None], np.array([60]), FR, no_shift)
    assert bridged.shape == (1, 4)
    assert bridged[0, 1] == pytest.approx(1.70, abs=0.015)  # where it falls under 5 % of its peak
    cut = activations_to_notes(note_with_dip(15)[None], np.array([60]), FR, no_shift)
    assert cut.shape == (1, 4)
    assert cut[0, 1] == pytest.approx(1.00, abs=0.015)
    plain = activations_to_notes(note_with_dip(6)[None], np.array([60]), FR, NoteParams(offset_gap_s=0.0, offset_shift_s=0.0))
    assert plain[0, 1] == pytest.approx(1.00, abs=0.015)


def test_offsets_move_back_by_the_shift_asked_for():
    """A note that fades under ``frame_threshold`` (no steep release) ends where it does by default,
    half a window earlier with ``offset_shift_s=None``, and the shift asked for otherwise."""
    a = bump(300, 50, 100, 1.0, decay=0.005)  # sounds from frame 50 to 149
    a[150:260] = a[149] * 10 ** (-0.3 * np.arange(1, 111) / 20)  # a tail of 0.3 dB a frame: no release
    fades = dict(release_fall_db=0.0)
    unshifted = activations_to_notes(a[None], np.array([60]), FR, NoteParams(offset_shift_s=0.0, **fades), window_s=0.1)
    default = activations_to_notes(a[None], np.array([60]), FR, NoteParams(**fades), window_s=0.1)
    half = activations_to_notes(a[None], np.array([60]), FR, NoteParams(offset_shift_s=None, **fades), window_s=0.1)
    explicit = activations_to_notes(a[None], np.array([60]), FR, NoteParams(offset_shift_s=0.02, **fades), window_s=0.1)
    end = 150 + np.argmax(a[150:] < 0.05)  # first frame under 5 % of the peak (1.0)
    assert unshifted[0, 1] == pytest.approx(end / FR, abs=1e-9)
    assert default[0, 1] == pytest.approx(end / FR, abs=1e-9)
    assert half[0, 1] == pytest.approx(end / FR - 0.05, abs=1e-9)
    assert explicit[0, 1] == pytest.approx(end / FR - 0.02, abs=1e-9)
    assert default[0, 0] == unshifted[0, 0] == half[0, 0] == explicit[0, 0]  # onsets do not move
    # the shift is exact in seconds, not rounded to frames (0.093 s is 9.3 frames here)
    odd = activations_to_notes(a[None], np.array([60]), FR, NoteParams(offset_shift_s=None, **fades), window_s=0.186)
    assert odd[0, 1] == pytest.approx(end / FR - 0.093, abs=1e-9)
    # the same tail is no release for the default rule either (1.8 dB in 0.06 s, under 3 dB)
    assert activations_to_notes(a[None], np.array([60]), FR, window_s=0.1)[0, 1] == default[0, 1]


@pytest.mark.parametrize("fall_db_per_frame", [1.0, 3.0, 10.0])
def test_a_released_note_ends_where_its_fall_has_lost_3_db(fall_db_per_frame):
    """A steep fall (a damper, a muted string) ends the note where it is 3 dB down from where the
    fall began, not where its tail passes under ``frame_threshold``, and not half a window earlier."""
    a = bump(300, 50, 100, 1.0, decay=0.002)  # held from frame 50 to 149
    a[150:250] = a[149] * 10 ** (-fall_db_per_frame * np.arange(1, 101) / 20)  # released at 149
    notes = activations_to_notes(a[None], np.array([60]), FR, window_s=0.1)
    # 3 dB below a[149]: between frame 149 and the frame where the fall reaches it
    crossing = 149 + 3.0 / fall_db_per_frame  # in dB the fall is linear
    assert notes[0, 1] == pytest.approx(crossing / FR, abs=0.2 / FR)  # interpolated between frames
    fades = activations_to_notes(a[None], np.array([60]), FR, NoteParams(release_fall_db=0.0, offset_shift_s=None),
                                 window_s=0.1)
    tail_end = (150 + np.argmax(a[150:] < 0.05 * a.max())) / FR - 0.05  # under 5 % of the peak, half a window back
    assert fades[0, 1] == pytest.approx(tail_end, abs=1e-9)


# --- the tracker's array helpers against plain loops -------------------------------------------


def _naive_prev_min(a, k):
    return np.array([min([0.0] * max(0, k - t) + list(a[max(0, t - k):t])) if t > 0 else 0.0
                     for t in range(len(a))])


def _naive_max_at(a, at, lo, hi):
    padded = lambda t: a[t] if 0 <= t < len(a) else 0.0  # noqa: E731
    return np.array([max(0.0, max(padded(t + d) for d in range(lo, hi + 1))) for t in at])


def _naive_first_long_run(a, start, stop, threshold, length):
    for t in range(start, stop):
        run = a[t:min(stop, t + length)] if length > 0 else a[t:t + 1]
        if np.all(run < threshold):  # a run cut short by ``stop`` counts
            return t
    return stop


@pytest.mark.parametrize("k", [1, 3, 17])
def test_prev_min_matches_a_loop(rng, k):
    from nmftrans.core.notes import _prev_min

    a = np.where(rng.random(300) < 0.2, 0.0, rng.random(300))
    np.testing.assert_array_equal(_prev_min(a, k), _naive_prev_min(a, k))
    np.testing.assert_array_equal(_prev_min(a[:k], k), np.zeros(k))


@pytest.mark.parametrize("lo,hi", [(-2, 2), (0, 8), (0, 0)])
def test_max_at_matches_a_loop(rng, lo, hi):
    from nmftrans.core.notes import _max_at

    a = rng.random(200)
    at = np.array([0, 1, 5, 100, 198, 199])
    np.testing.assert_array_equal(_max_at(a, at, lo, hi), _naive_max_at(a, at, lo, hi))
    assert _max_at(a, np.zeros(0, dtype=np.intp), lo, hi).shape == (0,)


def test_first_long_run_matches_a_loop(rng):
    from nmftrans.core.notes import _first_long_run

    # long runs of low values, short dips and segments far longer than the first search chunk
    a = np.repeat(rng.random(400), rng.integers(1, 12, 400))
    for _ in range(400):
        start = int(rng.integers(0, len(a) - 1))
        stop = int(rng.integers(start + 1, len(a) + 1))
        threshold, length = float(rng.uniform(0.0, 0.6)), int(rng.integers(0, 40))
        assert _first_long_run(a, start, stop, threshold, length) == \
            _naive_first_long_run(a, start, stop, threshold, length), (start, stop, threshold, length)


# --- the compiled tracker against an independent reference -------------------------------------


def _random_activations(rng, n_frames=1500):
    """Per-pitch activations of a random piece: ramped, decaying notes (some re-struck while they
    sound, half of them damped: a steep fall after their release), octave and twelfth partials
    leaking into the rows above, and a low noise floor."""
    pitches = np.array([36, 43, 48, 55, 60, 62, 64, 67, 72, 76, 79, 84])
    t = np.arange(n_frames, dtype=float)
    A = 0.003 * rng.random((len(pitches), n_frames))
    for i in range(len(pitches)):
        for onset in np.sort(rng.integers(0, n_frames - 20, int(rng.integers(3, 25)))):
            ramp = np.clip((t - onset + rng.uniform(0, 6)) / rng.uniform(2, 10), 0.0, 1.0)
            note = rng.uniform(0.05, 1.6) * ramp * np.exp(-rng.uniform(0.005, 0.08) * np.maximum(t - onset, 0.0))
            if rng.random() < 0.5:  # damped: 2-7 dB per frame after the release
                release = onset + rng.integers(5, 80)
                note *= np.exp(-rng.uniform(0.25, 0.8) * np.maximum(t - release, 0.0))
            A[i] += note
    for i, p in enumerate(pitches):  # partials of the pitches below
        for j, q in enumerate(pitches):
            if p - q in (12, 19):
                A[i] += rng.uniform(0.1, 0.6) * A[j]
    return A.astype(np.float32), pitches


# The tracker's defaults as the project documents them (README "How it works": rise 1.5x the recent
# minimum, onsets at 20 % of the rise, 0.1 s bridged dips, ends half a window back; the rest as
# NoteParams' docstring describes them). Written here, not read from the code: a default changed
# on purpose is changed here too, in the same commit, and the regression fixtures regenerated.
DOCUMENTED_DEFAULTS = dict(
    onset_threshold=0.3, frame_threshold=0.05, rise_threshold=0.03, rise_s=0.035, rise_ratio=1.5,
    candidate_min=0.005, peak_window_s=0.1, sub_intervals=(12, 19, 24, 28), sub_ratio=0.0, sub_window_s=0.024,
    floor=0.005, min_duration_s=0.05, min_note_s=0.0, min_ioi_s=0.06, onset_lag_s=0.0,
    onset_lag_per_semitone_s=0.0005, onset_rise_fraction=0.2,
    offset_gap_s=0.1, offset_shift_s=0.0, steepest_onset=False, lowest=0, highest=127,
    restrike_ratio=1.1, restrike_share=0.8, restrike_rise=1.2, restrike_gap_s=0.1,
    chord_ratio=0.9, chord_window_s=0.03, release_fall_db=3.0, release_fall_s=0.06, release_end_db=3.0,
    release_slow_db=6.0, release_slow_s=0.12, ghost_ratio=0.5, ghost_intervals=(19, 28), ghost_window_s=0.03,
    semitone_ratio=0.35, semitone_sounding_ratio=0.5, reonset_ratio=0.5, reonset_gap_s=0.06,
    reonset_attack_ratio=1.3,
    carpet_ratio=10.0, neighbour_ratio=0.5, steady_factor=2.0, steady_percentile=10.0, note_ends=None,
)


def documented(**changes):
    """The documented settings with ``changes``: (``NoteParams`` for the code, a plain namespace
    for the reference)."""
    from types import SimpleNamespace

    values = {**DOCUMENTED_DEFAULTS, **changes}
    return NoteParams(**values), SimpleNamespace(**values)


def test_default_settings_are_the_documented_ones():
    from dataclasses import asdict

    assert asdict(NoteParams()) == DOCUMENTED_DEFAULTS


@pytest.mark.parametrize("changes", [
    {},
    dict(sub_ratio=1.5),
    dict(sub_ratio=1.0, sub_window_s=0.0),
    dict(steepest_onset=True),
    dict(onset_rise_fraction=None, min_note_s=0.08),
    dict(onset_threshold=0.1, frame_threshold=0.1, offset_gap_s=0.0, offset_shift_s=0.0, onset_lag_s=0.02),
    dict(onset_lag_per_semitone_s=0.0),
    dict(onset_lag_per_semitone_s=0.003, onset_lag_s=0.01),
    dict(rise_s=0.3, min_ioi_s=0.2, lowest=45, highest=80),
    dict(onset_threshold=0.6, onset_rise_fraction=0.5, min_duration_s=0.2, offset_shift_s=0.01),
    dict(release_fall_db=0.0),
    dict(release_fall_db=1.0, release_fall_s=0.01, release_end_db=10.0, offset_gap_s=0.0),
    dict(release_slow_db=6.0),
    dict(release_slow_db=2.0, release_slow_s=0.3, release_end_db=6.0),
    dict(release_slow_db=6.0, release_fall_db=0.0),
    dict(note_ends="sound"),
    dict(note_ends="release", release_slow_db=2.0),
])
def test_tracker_follows_the_documented_rules(rng, changes):
    """The compiled tracker gives the notes of an independent tracker written from the docstrings'
    rules (``tests/_reference_tracker.py``: plain Python, nothing imported from nmftrans), on random
    pieces with re-strikes and octave partials."""
    from tests._reference_tracker import reference_activations_to_notes

    params, reference_params = documented(**changes)
    for _ in range(2):
        A, pitches = _random_activations(rng)
        expected = reference_activations_to_notes(A, pitches, 86.1328125, reference_params, window_s=0.0929)
        got = activations_to_notes(A, pitches, 86.1328125, params, window_s=0.0929)
        assert len(expected) > 20
        assert got.shape == expected.shape
        np.testing.assert_allclose(got, expected, rtol=0, atol=1e-9)


def test_default_tracker_follows_the_documented_rules(rng):
    """Called without settings, the tracker uses the documented defaults (a changed default
    changes these notes)."""
    from tests._reference_tracker import reference_activations_to_notes

    _, reference_params = documented()
    A, pitches = _random_activations(rng)
    expected = reference_activations_to_notes(A, pitches, 86.1328125, reference_params, window_s=0.0929)
    got = activations_to_notes(A, pitches, 86.1328125, window_s=0.0929)
    assert got.shape == expected.shape and len(got) > 20
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-9)


def test_onset_is_interpolated_between_frames():
    """Onsets are timed where the activation has risen a fraction of the way from its minimum to its peak,
    interpolated between frames: a ramp 0, 0.25, 0.5, 0.75, 1 from frame 50 reaches 0.3 a fifth of
    the way from frame 51 to 52; with 50 % at 52 exactly; with 40 % at 51.6. Worked by hand."""
    a = np.zeros(200)
    a[50:55] = [0.0, 0.25, 0.5, 0.75, 1.0]
    a[55:120] = np.exp(-0.03 * np.arange(65))
    for fraction, frame in ((0.3, 51.2), (0.5, 52.0), (0.4, 51.6)):
        notes = activations_to_notes(a[None], np.array([60]), FR, NoteParams(onset_rise_fraction=fraction))
        assert notes.shape == (1, 4)
        assert notes[0, 0] == pytest.approx(frame / FR, abs=1e-9), fraction
    first = activations_to_notes(a[None], np.array([60]), FR, NoteParams(onset_rise_fraction=None))
    assert first[0, 0] == pytest.approx(0.51, abs=1e-9)  # the first rising frame


@pytest.mark.parametrize("plateau, merged", [(6, True), (7, False)])
def test_an_attack_rising_in_two_steps_is_one_note(plateau, merged):
    """min_ioi_s holds for the timed onsets: a rise to 0.5 at frame 50, a plateau, a second rise to 1
    at frame 50 + plateau. The rises start 6 frames (60 ms, min_ioi_s) apart, but the second is timed
    at 20 % of its own rise, 0.6 between frames 55 and 56: 58 ms after the first, so it joins it (one
    note, the first's onset, the second's end, the larger velocity). One frame more and they are 68 ms
    apart: two notes."""
    a = np.zeros(300)
    a[50:50 + plateau] = [0.25] + [0.5] * (plateau - 1)
    a[50 + plateau:200] = np.exp(-0.02 * np.arange(150 - plateau))
    apart = activations_to_notes(a[None], np.array([60]), FR, NoteParams(min_ioi_s=0.0))
    assert len(apart) == 2 and (apart[1, 0] - apart[0, 0] < 0.06) == merged
    notes = activations_to_notes(a[None], np.array([60]), FR)
    if merged:
        np.testing.assert_allclose(notes, [[apart[0, 0], apart[1, 1], 60, apart[:, 3].max()]])
    else:
        np.testing.assert_allclose(notes, apart)


def test_reference_level_is_the_90th_percentile_of_the_sounding_frames():
    """Normalisation: each frame's strongest pitch, the 90th percentile over the frames that sound
    (silence, far below the file's maximum, is left out, so long pauses do not lower the level)."""
    from nmftrans.core.notes import normalise_activations, reference_level

    peaks = np.linspace(0.1, 2.0, 200)  # the strongest pitch of each sounding frame
    A = np.zeros((3, 1000), dtype=np.float32)
    A[1, :200] = peaks
    A[0, :200] = 0.5 * peaks  # weaker pitches do not count
    A[2, 200:] = 1e-6  # 800 frames of near silence
    expected = 0.1 + 0.9 * (2.0 - 0.1)  # the 90th percentile of an even ramp, by hand
    assert reference_level(A) == pytest.approx(expected, rel=1e-6)
    np.testing.assert_allclose(normalise_activations(A), A / expected, rtol=1e-6)


@pytest.mark.parametrize("seed", range(4))
def test_sorted_unique_is_np_unique(seed):
    """The tracker's in-place sort + dedupe of its moved onsets equals np.unique (random, nearly
    sorted, with duplicates, empty and one-element arrays)."""
    from nmftrans.core.notes import _sorted_unique

    rng = np.random.default_rng(seed)
    cases = [np.zeros(0, np.int64), np.array([7], np.int64), rng.integers(0, 50, 200),
             np.sort(rng.integers(0, 10_000, 300)) + rng.integers(-40, 40, 300), np.full(5, 3, np.int64)]
    for x in cases:
        x = np.asarray(x, dtype=np.int64)
        np.testing.assert_array_equal(_sorted_unique(x.copy()), np.unique(x))



@pytest.mark.parametrize("creep", [True, False])
def test_an_attack_that_creeps_up_before_it_leaps_is_one_note(creep):
    """An attack whose activation creeps up for a few frames (0.004, 0.010, 0.016, 0.022 at frames
    50-53) before it leaps to 1 at frame 54. The candidate run starts at frame 51 (0.010: 0.005 above
    the minimum of the 4 frames before); around it (±2 frames) the activation rises 0.022 at most,
    under rise_threshold 0.03. The rise is the run's largest (about 1, at the leap), so it is a
    note, timed where it has risen 20 % of the way from 0 to 1: 53 + (0.2 - 0.022) / 0.978 =
    53.18 (without the creep: 53.2). Worked by hand."""
    a = np.zeros(300)
    if creep:
        a[50:54] = [0.004, 0.010, 0.016, 0.022]
    a[54:204] = np.exp(-0.02 * np.arange(150))
    notes = activations_to_notes(a[None], np.array([60]), FR)
    assert notes.shape == (1, 4)
    onset = 53 + (0.2 - 0.022) / 0.978 if creep else 53.2
    assert notes[0, 0] == pytest.approx(onset / FR, abs=1e-9)


def test_low_notes_are_timed_earlier_and_high_notes_later():
    """onset_lag_per_semitone_s (0.5 ms by default): the same activation row tracked as MIDI 48, 60
    and 72 gives the same note moved by 12 × 0.5 = 6 ms earlier and later, its end with it; with
    the setting at 0 the three are equal."""
    a = bump(300, 50, 100, 1.0)
    A = np.stack([a, a, a])
    pitches = np.array([48, 60, 72])
    flat = activations_to_notes(A, pitches, FR, NoteParams(onset_lag_per_semitone_s=0.0))
    assert len(flat) == 3 and np.ptp(flat[:, 0]) == 0 and np.ptp(flat[:, 1]) == 0
    notes = activations_to_notes(A, pitches, FR)
    notes = notes[np.argsort(notes[:, 2])]
    np.testing.assert_allclose(notes[:, 0] - flat[0, 0], [-0.006, 0.0, 0.006], atol=1e-12)
    np.testing.assert_allclose(notes[:, 1] - flat[0, 1], [-0.006, 0.0, 0.006], atol=1e-12)
