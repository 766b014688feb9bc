"""``align``: DTW, score-informed NMF and per-note timing on synthetic performances of warped scores."""

import itertools

import numpy as np
import pytest
import soundfile as sf
from typer.testing import CliRunner

from nmftrans.align import align_signal, alignment_to_csv
from nmftrans.cli import app
from nmftrans.core.dtw import dtw_path, time_map
from nmftrans.core.scoreinformed import AlignParams, solve_constrained
from tests.synth import SR, render, tone_dictionary

PITCHES = range(52, 72)
runner = CliRunner()
# These tones start at full strength within 5 ms, so a centred frame holds half of the onset
# when the activation has risen about half-way (the default 0.3 suits recorded pianos' slower
# attacks, see scripts/eval_align.py).
TONES = AlignParams(onset_rise_fraction=0.5)


@pytest.fixture(scope="module")
def dictionary(tmp_path_factory):
    return tone_dictionary(tmp_path_factory.mktemp("isolated"), PITCHES)


@pytest.fixture(scope="module")
def performance():
    """A two-voice performance with uneven timing (the truth), and its score: the same notes
    on an even grid at another tempo (1.25x slower), starting 1 s later."""
    rng = np.random.default_rng(3)
    rows, t = [], 0.3
    for k in range(16):
        for p in rng.choice(np.arange(52, 72), size=2, replace=False):
            rows.append((t, t + 0.3, float(p), 90.0))
        t += 0.4 + 0.1 * np.sin(k / 2.5)  # rubato
    notes = np.array(rows)
    score = notes.copy()
    grid = np.repeat(np.arange(16) * 0.5, 2)  # an even grid: 0.5 s a beat in the score
    score[:, 0] = 1.0 + grid
    score[:, 1] = score[:, 0] + 0.35
    return notes, score


def _brute_force_cost(C):
    """The cheapest monotone path's cost, by enumerating every path (tiny matrices only)."""
    n, m = C.shape
    best = np.inf
    # a path is a sequence of moves: 'd' (1,1), 'v' (1,0), 'h' (0,1) ending at (n-1, m-1)
    for n_diag in range(min(n, m)):
        n_v, n_h = n - 1 - n_diag, m - 1 - n_diag
        for moves in set(itertools.permutations("d" * n_diag + "v" * n_v + "h" * n_h)):
            i = j = 0
            cost = C[0, 0]
            for move in moves:
                i += move in "dv"
                j += move in "dh"
                cost += C[i, j]
            best = min(best, cost)
    return best


def test_dtw_path_is_the_cheapest_monotone_path():
    rng = np.random.default_rng(0)
    for _ in range(5):
        C = rng.random((5, 4)).astype(np.float32)
        path = dtw_path(C)
        assert tuple(path[0]) == (0, 0) and tuple(path[-1]) == (4, 3)
        steps = np.diff(path, axis=0)
        assert set(map(tuple, steps)) <= {(1, 1), (1, 0), (0, 1)}
        assert C[path[:, 0], path[:, 1]].sum() == pytest.approx(_brute_force_cost(C), rel=1e-6)


def test_time_map_follows_a_shifted_diagonal():
    path = np.array([(i + 3, i) for i in range(10)])
    path = np.vstack([[(0, 0), (1, 0), (2, 0)], path])
    warp = time_map(path, np.arange(13) * 0.1, np.arange(10) * 0.1)
    np.testing.assert_allclose(warp(np.array([0.15, 0.5, 0.85])), [0.45, 0.8, 1.15], atol=1e-9)


def test_constrained_solve_keeps_zeros_and_matches_the_kernel_inside_the_mask(dictionary):
    from nmftrans.core import kernels
    from nmftrans.core.features import spectrogram

    notes = np.array([[0.1, 0.6, 60, 90], [0.3, 0.9, 64, 90]])
    V = spectrogram(render(notes), dictionary.settings)
    W = dictionary.W
    mask = np.zeros((W.shape[1], V.shape[1]), dtype=bool)
    mask[np.isin(dictionary.pitches, [60, 64])] = True
    H = solve_constrained(V, W, mask, 1.0, 20)
    assert (H[~mask] == 0).all() and H[mask].max() > 0
    # the same rows solved directly by the kernel, from the same start
    rows = np.flatnonzero(mask[:, 0])
    H0 = np.repeat(np.maximum(V.sum(axis=0) / len(rows), 1e-9)[None, :], len(rows), axis=0).astype(np.float32)
    ref, _ = kernels.update_activations(V, np.ascontiguousarray(W[:, rows]), H0, beta=1.0, n_iter=20, tol=0.0)
    np.testing.assert_allclose(H[rows], ref, rtol=1e-4, atol=1e-6)


def test_warped_score_aligns_within_one_frame(dictionary, performance):
    notes, score = performance
    result = align_signal(render(notes), score, dictionary, TONES)
    frame = 1.0 / dictionary.settings.frame_rate
    assert (result.status == "played").all()
    err = result.notes[:, 0] - notes[:, 0]
    assert np.abs(err).max() <= frame, err
    # the synchronisation alone is off by more than that: the refinement did the work
    assert np.abs(result.synced[:, 0] - notes[:, 0]).max() > frame
    assert (result.notes[:, 2] == notes[:, 2]).all()
    np.testing.assert_array_equal(result.score_onset, score[:, 0])


def test_note_removed_from_the_audio_is_missing(dictionary, performance):
    notes, score = performance
    gone = [9, 20]
    heard = np.delete(notes, gone, axis=0)
    result = align_signal(render(heard), score, dictionary, TONES)
    assert list(np.flatnonzero(result.status == "missing")) == gone
    assert (result.confidence[gone] > 0.5).all()  # confidently missing
    kept = np.delete(np.arange(len(notes)), gone)
    assert np.abs(result.notes[kept, 0] - notes[kept, 0]).max() <= 0.025
    assert len(result.played) == len(kept)


def test_extra_reports_notes_the_score_lacks(dictionary, performance):
    notes, score = performance
    added = np.array([[3.05, 3.5, 55.0, 100.0]])  # played, not written
    played = np.vstack([notes, added])
    plain = align_signal(render(played), score, dictionary)
    assert (plain.status == "played").all() and len(plain.status) == len(score)
    result = align_signal(render(played), score, dictionary, extra=True)
    extra = result.notes[result.status == "extra"]
    assert len(extra) == 1 and extra[0, 2] == 55 and abs(extra[0, 0] - 3.05) < 0.03
    assert np.isnan(result.score_onset[result.status == "extra"]).all()


def test_silent_audio_marks_every_note_missing(dictionary, performance):
    _, score = performance
    result = align_signal(np.zeros(SR * 3, dtype=np.float32), score, dictionary)
    assert (result.status == "missing").all()
    assert any("silent" in w for w in result.warnings)


def test_csv_columns_and_rows(dictionary, performance):
    notes, score = performance
    result = align_signal(render(notes), score, dictionary)
    lines = alignment_to_csv(result).splitlines()
    assert lines[0] == "onset,offset,pitch,velocity,score_onset,status,confidence"
    assert len(lines) == 1 + len(score)
    first = lines[1].split(",")
    assert float(first[4]) == pytest.approx(1.0) and first[5] == "played"


@pytest.mark.parametrize("option, value, message", [
    ("--before", "-0.1", "--before must be between 0 and 5"),
    ("--before", "0", "--before must be above 0"),
    ("--after", "11", "--after must be between 0 and 10"),
    ("--threshold", "nan", "--threshold must be between 0 and 10"),
    ("--iterations", "0", "--iterations must be between 1 and 1000"),
    ("--program", "128", "--program must be a General MIDI program"),
])
def test_options_out_of_range_are_one_line_usage_errors(tmp_path, option, value, message):
    result = runner.invoke(app, ["align", "a.wav", "s.mid", "-o", str(tmp_path / "o.csv"), option, value])
    assert result.exit_code == 2
    assert result.stderr.strip().splitlines() == [f"error: {result.stderr.strip()[7:]}"]
    assert message in result.stderr


def test_cli_writes_csv_and_midi_and_pairs_folders(tmp_path, dictionary, performance):
    from nmftrans.io.dictionary import save_dictionary
    from nmftrans.io.midi import notes_to_csv

    notes, score = performance
    wpath = tmp_path / "tones.npz"
    save_dictionary(dictionary, wpath)
    audio, scores = tmp_path / "audio", tmp_path / "scores"
    audio.mkdir()
    scores.mkdir()
    sf.write(audio / "take.wav", render(notes), SR)
    sf.write(audio / "other.wav", render(notes[:4]), SR)  # no score: reported, the rest goes on
    (scores / "take.csv").write_text(notes_to_csv(score))
    out = tmp_path / "take.csv"
    r = runner.invoke(app, ["align", str(audio / "take.wav"), str(scores / "take.csv"), "-o", str(out), "-W", str(wpath)])
    assert r.exit_code == 0, r.stderr
    assert r.stdout.strip() == str(out)
    rows = out.read_text().splitlines()[1:]
    assert len(rows) == len(score) and all(row.split(",")[5] == "played" for row in rows)
    r = runner.invoke(app, ["align", str(audio / "take.wav"), str(scores / "take.csv"), "-o", str(out), "-W", str(wpath)])
    assert r.exit_code == 1 and "exists" in r.stderr
    r = runner.invoke(app, ["align", str(audio), str(scores), "-o", str(tmp_path / "midi"), "-W", str(wpath),
                            "--onset-rise-fraction", "0.5"])
    assert r.exit_code == 0, r.stderr
    assert "other.wav: no score named other" in r.stderr
    from nmftrans.io.annotations import read_notes

    midi = read_notes(tmp_path / "midi" / "take.mid")
    assert len(midi) == len(notes)
    assert np.abs(np.sort(midi[:, 0]) - np.sort(notes[:, 0])).max() <= 1.0 / dictionary.settings.frame_rate + 0.002
    r = runner.invoke(app, ["align", str(audio / "nope.wav"), str(scores / "take.csv"), "-o", str(out)])
    assert r.exit_code == 1 and len(r.stderr.strip().splitlines()) == 1


def test_open_end_stops_where_the_mean_cost_is_lowest():
    # x (rows) follows y's first 4 frames exactly and then stops: y's last 3 frames are unmatched
    x = np.array([0, 1, 2, 3])
    y = np.array([0, 1, 2, 3, 9, 9, 9])
    C = np.abs(x[:, None] - y[None, :]).astype(np.float32)
    assert tuple(dtw_path(C)[-1]) == (3, 6)  # closed end: forced to the corner
    path = dtw_path(C, end_from=2)
    np.testing.assert_array_equal(path, [(0, 0), (1, 1), (2, 2), (3, 3)])


def test_chord_members_found_a_little_later_take_the_chord_onset():
    from nmftrans.core.scoreinformed import chord_onsets

    score = np.array([1.0, 1.0, 1.0, 2.0, 2.0, 3.0])
    found = np.array([1.10, 1.14, 1.30, 2.00, 2.05, 3.02])
    played = np.array([True, True, True, True, False, True])
    out = chord_onsets(score, found, played, 0.08)
    # 1.14 joins 1.10; 1.30 is too late (a rolled chord keeps its own); a missing note is left
    np.testing.assert_allclose(out, [1.10, 1.10, 1.30, 2.00, 2.05, 3.02])
    np.testing.assert_allclose(chord_onsets(score, found, played, 0.0), found)


def test_recording_cut_before_the_score_ends(dictionary, performance):
    notes, score = performance
    keep = notes[:, 0] < 4.0
    y = render(notes)[: int((notes[keep, 0].max() + 0.3) * SR)]  # stops while the last notes sound
    result = align_signal(y, score, dictionary, TONES)
    err = np.abs(result.notes[keep, 0] - notes[keep, 0])
    assert err.max() <= 1.0 / dictionary.settings.frame_rate, err
    assert (result.status[~keep] == "missing").all()


def test_constrained_solve_is_the_same_on_any_number_of_threads(dictionary, performance):
    from nmftrans.core.features import spectrogram

    notes, _ = performance
    V = spectrogram(render(notes), dictionary.settings)
    rng = np.random.default_rng(1)
    mask = rng.random((dictionary.W.shape[1], V.shape[1])) < 0.3
    one = solve_constrained(V, dictionary.W, mask, 1.0, 10, threads=1)
    three = solve_constrained(V, dictionary.W, mask, 1.0, 10, threads=3)
    assert V.shape[1] > 2 * 128
    np.testing.assert_array_equal(one, three)


def test_a_score_without_notes_is_a_one_line_error(tmp_path):
    audio = tmp_path / "a.wav"
    sf.write(audio, np.zeros(SR, dtype=np.float32), SR)
    (tmp_path / "s.csv").write_text("onset,offset,pitch,velocity\n")
    r = runner.invoke(app, ["align", str(audio), str(tmp_path / "s.csv"), "-o", str(tmp_path / "o.csv")])
    assert r.exit_code == 1
    assert r.stderr.strip().splitlines() == [f"error: {tmp_path / 's.csv'}: the score has no notes"]
    assert not (tmp_path / "o.csv").exists()


def _assignment_cost(notes, cands, strength, assign, half, ref, weight, unused):
    """The cost ``_match`` minimises, written out: matched pairs, notes left out, candidates left unused."""
    cost = 0.0
    for j, k in enumerate(assign):
        if k < 0:
            cost += 1.0 + weight
        else:
            cost += abs(cands[k] - notes[j]) / half + weight * (1.0 - min(1.0, strength[k] / ref))
    left = set(range(len(cands))) - {k for k in assign if k >= 0}
    return cost + sum(unused * min(1.0, strength[k] / ref) for k in left)


@pytest.mark.parametrize("unused", [0.0, 0.5, 2.0])
def test_match_is_the_cheapest_order_preserving_assignment(unused):
    from nmftrans.core.scoreinformed import _match

    rng = np.random.default_rng(4)
    half, ref, weight = 4.0, 0.3, 1.0
    for _ in range(20):
        notes = np.sort(rng.uniform(0, 12, 3))
        cands = np.sort(rng.choice(np.arange(13.0), 4, replace=False))
        strength = rng.uniform(0.0, 0.6, 4)
        got = _match(notes, cands, strength, half, ref, weight, unused)
        # every order-preserving assignment (each note: a later candidate within `half`, or none)
        best = np.inf
        for assign in itertools.product(range(-1, 4), repeat=3):
            used = [k for k in assign if k >= 0]
            if used != sorted(set(used)) or any(k >= 0 and abs(cands[k] - notes[j]) > half
                                                for j, k in enumerate(assign)):
                continue
            best = min(best, _assignment_cost(notes, cands, strength, assign, half, ref, weight, unused))
        assert _assignment_cost(notes, cands, strength, got, half, ref, weight, unused) == pytest.approx(best)


def _repeated_strikes(fr=100.0, ioi=0.15, n=8, start=1.0):
    """Activations of one pitch struck ``n`` times, ``ioi`` apart (rise to 1 in 20 ms, decay to
    about 0.3 before the next strike), and the strike times."""
    t = np.arange(int((start + n * ioi + 1.0) * fr)) / fr
    a = np.zeros_like(t)
    strikes = start + ioi * np.arange(n)
    for s in strikes:
        on = t >= s
        level = np.where(on, np.minimum(1.0, (t - s) / 0.02 + 0.05) * np.exp(-np.clip(t - s - 0.02, 0, None) / 0.12), 0.0)
        a = np.where(on, level, a)
    return a[None, :].astype(np.float32), strikes, fr


def test_resynchronise_undoes_a_slip_of_one_repetition():
    from nmftrans.core.scoreinformed import locate_notes, resynchronise

    A, strikes, fr = _repeated_strikes()
    rng = np.random.default_rng(2)
    # a synchronisation a repetition early (0.12 s of the 0.15 s between strikes), with jitter
    synced = strikes - 0.12 + rng.uniform(-0.02, 0.02, len(strikes))
    rows = np.zeros(len(strikes), dtype=np.int64)
    params = AlignParams()
    shift = resynchronise(A, rows, synced, synced + 0.6, fr, params)
    np.testing.assert_allclose(synced + shift, strikes, atol=0.035)
    # the k-th note takes the k-th strike
    found, *_ = locate_notes(A, rows, synced + shift, fr, params, synced + shift + 0.6)
    assert np.abs(found - strikes).max() <= 0.03
    # matched in the old way (an unused strike costs nothing, ±0.2 s) the notes slip to the strike before
    slipped, *_ = locate_notes(A, rows, synced, fr, params, synced + 0.6, unused=0.0)
    assert np.sum(np.abs(slipped[1:] - strikes[:-1]) <= 0.03) >= 5


def test_onset_rises_is_the_largest_rise_near_each_onset():
    from nmftrans.core.scoreinformed import onset_rises

    rng = np.random.default_rng(5)
    fr = 100.0
    A = rng.random((3, 200)).astype(np.float32)
    rows = np.array([0, 2, 2, 1])
    onsets = np.array([0.5, 0.2, 1.5, 1.99])
    got = onset_rises(A, rows, onsets, fr, before_s=0.03, after_s=0.05)
    for i, (r, t) in enumerate(zip(rows, onsets)):
        f = int(round(t * fr))
        best = 0.0
        for g in range(max(0, f - 3), min(200, f + 5 + 1)):  # 30 ms before to 50 ms after
            lowest = min(A[r, max(0, g - 3):g + 1].astype(float))  # the minimum over 4 frames (35 ms)
            best = max(best, float(A[r, g]) - lowest)
        assert got[i] == pytest.approx(best, rel=1e-6)


def test_wrong_note_played_an_octave_below_the_written_one_is_missing(dictionary, performance):
    # the written octave's partials are all partials of the note played: the score-informed solve
    # (where the written pitch is the only one allowed there) takes them; the recording's own
    # transcription gives them to the note played
    notes, score = performance
    k = int(np.flatnonzero(notes[:, 2] <= 59)[3])
    written = score.copy()
    written[k, 2] += 12
    result = align_signal(render(notes), written, dictionary, TONES)
    assert result.status[k] == "missing" and result.confidence[k] > 0.5
    assert (np.delete(result.status, k) == "played").all()


@pytest.mark.parametrize("cents", [40.0, -40.0])
def test_a_detuned_performance_aligns_on_the_recordings_clock(dictionary, performance, cents):
    """The recording is brought to the A440 grid first (as transcribe does), and the performed
    times come back on its own clock: the 2.3 % of 40 cents would put the last notes 0.15 s off."""
    notes, score = performance
    y = render(notes, cents=cents)  # the same times, every partial ``cents`` sharp
    result = align_signal(y, score, dictionary, TONES)
    frame = 1.0 / dictionary.settings.frame_rate
    assert (result.status == "played").all()
    assert np.abs(result.notes[:, 0] - notes[:, 0]).max() <= 1.5 * frame
    assert result.frame_rate == pytest.approx(dictionary.settings.frame_rate * 2 ** (cents / 1200), rel=2e-3)
    assert any("A440" in w for w in result.warnings)
    assert result.activations.shape[1] == pytest.approx(len(y) / SR * result.frame_rate, abs=2)
