"""decompose: a mix of known tone sequences against its references; the multi-resolution solver."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf
from typer.testing import CliRunner

from nmftrans.core import mixsolve as ms
from nmftrans.cli import app
from nmftrans.decompose import DecomposeSettings, decompose
from tests.synth import SR, tone

runner = CliRunner()
HOP = 2772  # the default 0.5 s window: 11088 samples (fast for the FFT), 75 % overlap
HOP_S = HOP / SR


def tone_sequence(seed: int, duration: float) -> np.ndarray:
    """Two overlapping notes every 0.25 s, random pitches: no two places sound alike."""
    rng = np.random.default_rng(seed)
    y = np.zeros(int(duration * SR) + SR, dtype=np.float32)
    for onset in np.arange(0.0, duration, 0.25):
        for pitch in rng.choice(np.arange(45, 90), size=2, replace=False):
            x = tone(int(pitch), 0.6, amplitude=rng.uniform(0.1, 0.3), decay_s=0.4)
            a = int(onset * SR)
            y[a:a + len(x)] += x
    return y[: int(duration * SR)]


@pytest.fixture(scope="module")
def mix_case(tmp_path_factory):
    """Track a: mix 0-10 s plays a[1, 11) s, power fading out over 6-10 s. Track b: power
    fading in over 6-10 s; mix 6-12 s plays b[2, 8), then 12-16 s loops b[6, 8) twice.
    Power shares in the crossfade: a (10 - t) / 4, b (t - 6) / 4. A third reference, c, is not
    in the mix; b is stored at 32 kHz (resampled on reading)."""
    folder = tmp_path_factory.mktemp("mix")
    a, b, c = tone_sequence(1, 14.0), tone_sequence(2, 12.0), tone_sequence(3, 10.0)
    t = np.arange(16 * SR) / SR
    mix = np.zeros(len(t), dtype=np.float64)
    ga = np.sqrt(np.clip((10 - t) / 4, 0, 1))
    gb = np.sqrt(np.clip((t - 6) / 4, 0, 1))
    seg_a = (t < 10)
    mix[seg_a] += ga[seg_a] * a[int(1 * SR):int(1 * SR) + seg_a.sum()]
    pos_b = np.where(t < 12, t - 4, 6 + (t - 12) % 2)  # b's position (s) at mix time t >= 6
    idx = np.round(pos_b * SR).astype(int)
    play_b = t >= 6
    mix[play_b] += gb[play_b] * b[idx[play_b]]
    sf.write(folder / "mix.wav", mix.astype(np.float32), SR)
    sf.write(folder / "a.wav", a, SR)
    import soxr

    sf.write(folder / "b.flac", soxr.resample(b, SR, 32000), 32000)
    sf.write(folder / "c.wav", c, SR)
    return folder


def truth(times: np.ndarray):
    share_a = np.clip((10 - times) / 4, 0, 1)
    share_b = np.clip((times - 6) / 4, 0, 1)
    pos_a = times + 1
    pos_b = np.where(times < 12, times - 4, 6 + (times - 12) % 2)
    return share_a, share_b, pos_a, pos_b


@pytest.mark.parametrize("levels", [1, 3])
def test_crossfade_and_loop_give_the_right_gains_and_positions(mix_case, levels):
    r = decompose(mix_case / "mix.wav", [mix_case / "a.wav", mix_case / "b.flac", mix_case / "c.wav"],
                  DecomposeSettings(levels=levels))
    assert r.tracks == ["a", "b", "c"]
    assert r.levels == levels
    np.testing.assert_allclose(r.times[:3], [0, HOP_S, 2 * HOP_S])
    share_a, share_b, pos_a, pos_b = truth(r.times)
    inner = (r.times > 0.5) & (r.times < 15.5)
    # gains: the power share of each track (a alone, the crossfade, b alone with its loop)
    assert np.abs(r.gains[0, inner] - share_a[inner]).mean() < 0.03
    assert np.abs(r.gains[1, inner] - share_b[inner]).mean() < 0.03
    assert np.abs(r.gains[0, r.times < 5.5] - 1).max() < 0.05
    mid = np.abs(r.times - 8) < 0.2  # half-way through the crossfade: 0.5 / 0.5
    assert np.abs(r.gains[0, mid] - 0.5).max() < 0.1
    # c is not in the mix (at the loop's seams, 12 and 14 s, a hard cut's click that no
    # reference holds goes partly to c with one resolution: up to 0.21 in the seam's frames)
    seam = (np.abs(r.times - 12) < 0.3) | (np.abs(r.times - 14) < 0.3)
    assert r.gains[2, inner & ~seam].max() < 0.03
    assert r.gains[2, inner].mean() < 0.01
    # positions, where the track's share is >= 0.2, away from the loop's seams
    for i, share, pos in ((0, share_a, pos_a), (1, share_b, pos_b)):
        sel = inner & (share >= 0.2) & ~seam
        err = np.abs(r.positions[i, sel] - pos[sel])
        assert np.median(err) < 0.1
        assert np.mean(err < 0.5) >= 0.95
    # inside the loop, b's position goes back from 8 to 6 s twice
    at = lambda s: r.positions[1, np.argmin(np.abs(r.times - s))]  # noqa: E731
    assert abs(at(11.5) - 7.5) < 0.15 and abs(at(12.5) - 6.5) < 0.15 and abs(at(14.5) - 6.5) < 0.15
    # positions are left empty where the gain is below 0.01
    np.testing.assert_array_equal(np.isnan(r.positions), r.gains < 0.01)
    assert np.isnan(r.positions[1, (r.times > 0.5) & (r.times < 5)]).mean() > 0.9


def test_cli_writes_the_csv_and_reports_bad_references(mix_case, tmp_path):
    out = tmp_path / "mix.csv"
    res = runner.invoke(app, ["decompose", str(mix_case / "mix.wav"), str(mix_case / "a.wav"),
                              str(mix_case / "b.flac"), "-o", str(out), "--levels", "2", "-q"])
    assert res.exit_code == 0, res.output
    lines = out.read_text().splitlines()
    assert lines[0] == "time,track,gain,position"
    assert len(lines) == 1 + 2 * (1 + 16 * SR // HOP)  # frames x tracks
    t, track, gain, pos = lines[1 + 2 * 16].split(",")  # frame 16 (2.01 s), track a
    assert (float(t), track) == (round(16 * HOP_S, 3), "a") and float(gain) > 0.95
    assert abs(float(pos) - (16 * HOP_S + 1)) < 0.1
    t, track, gain, pos = lines[2 + 2 * 16].split(",")  # the same frame, track b: silent, no position
    assert track == "b" and float(gain) < 0.01 and pos == ""
    again = runner.invoke(app, ["decompose", str(mix_case / "mix.wav"), str(mix_case / "a.wav"),
                                str(mix_case / "b.flac"), "-o", "-", "--levels", "2", "-q", "-j", "3"])
    assert again.exit_code == 0 and again.stdout == out.read_text()  # the same for any -j
    missing = runner.invoke(app, ["decompose", str(mix_case / "mix.wav"), str(tmp_path / "nope.wav"),
                                  "-o", str(tmp_path / "x.csv")])
    assert missing.exit_code == 1
    assert missing.output.strip().count("\n") == 0 and "nope.wav: no such file" in missing.output
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"not audio at all" * 10)
    unreadable = runner.invoke(app, ["decompose", str(mix_case / "mix.wav"), str(bad), "-o", str(tmp_path / "y.csv")])
    assert unreadable.exit_code == 1 and "cannot read audio" in unreadable.output
    assert not (tmp_path / "y.csv").exists()
    silent = tmp_path / "silence.wav"
    hiss = 1e-5 * np.random.default_rng(0).standard_normal(4 * SR)  # -100 dBFS: no track plays
    sf.write(silent, hiss.astype(np.float32), SR, subtype="FLOAT")
    quiet = runner.invoke(app, ["decompose", str(silent), str(mix_case / "a.wav"), str(mix_case / "b.flac"), "-o", "-", "-q"])
    assert quiet.exit_code == 0
    rows = [line.split(",") for line in quiet.stdout.splitlines()[1:]]
    assert len(rows) == 2 * (1 + 4 * SR // HOP) and all(g == "0.0000" and p == "" for _, _, g, p in rows)
    usage = runner.invoke(app, ["decompose", str(mix_case / "mix.wav"), str(mix_case / "a.wav"), "-o",
                                str(tmp_path / "z.csv"), "--window", "0"])
    assert usage.exit_code == 2 and "--window" in usage.output


# ---------------------------------------------------------------------------------------
# The solver's arrays
# ---------------------------------------------------------------------------------------


def small_problem(rng, lengths=(120, 100), n_frames=64, n_bins=40):
    """Random templates, a mix of track 0 frames 10.. and track 1 frames 30.. crossfaded."""
    W = (rng.random((n_bins, sum(lengths))) ** 4 + 1e-3).astype(np.float32)
    bounds = np.concatenate([[0], np.cumsum(lengths)])
    g0 = np.linspace(1, 0, n_frames)
    H = np.zeros((sum(lengths), n_frames), dtype=np.float32)
    n = np.arange(n_frames)
    H[10 + n, n] = g0
    H[bounds[1] + 30 + n, n] = 1 - g0
    return W, bounds, W @ H + 1e-4, g0


def test_multires_matches_single_resolution(rng):
    W, bounds, V, g0 = small_problem(rng)
    g1, p1, _ = ms.solve_multires(V, W, bounds, levels=1)
    g3, p3, stats = ms.solve_multires(V, W, bounds, levels=3)
    assert [lv[0] for lv in stats.levels] == [4, 2, 1]
    assert stats.levels[-1][3] < 0.25 * W.shape[1] * V.shape[1]  # the finest level is sparse
    np.testing.assert_allclose(g3, g1, atol=0.01)
    np.testing.assert_allclose(g1[0], g0, atol=0.01)  # and both are right
    both = (g1 >= 0.05) & (g3 >= 0.05)
    np.testing.assert_allclose(p3[both], p1[both], atol=0.05)
    n = np.arange(V.shape[1])
    np.testing.assert_allclose(p1[0, g0 >= 0.05], (10 + n)[g0 >= 0.05], atol=0.05)


def test_pool_frames_sums_the_frames_a_longer_window_covers(rng):
    X = rng.random((3, 21)).astype(np.float32)
    P = ms.pool_frames(X, 4)  # window 16 hops: base frames j*4-6 ... j*4+6
    assert P.shape == (3, 6)
    for j in range(6):
        lo, hi = max(0, 4 * j - 6), min(21, 4 * j + 7)
        np.testing.assert_allclose(P[:, j], X[:, lo:hi].sum(axis=1), rtol=1e-5)
    np.testing.assert_array_equal(ms.pool_frames(X, 1), X)


def masked_mu_reference(V, W, H, n_iter):
    """Itakura-Saito MU (exponent 1/2) in plain NumPy float64 on a dense H."""
    V, W, H = (np.asarray(x, dtype=np.float64) for x in (V, W, H))
    for _ in range(n_iter):
        WH = np.maximum(W @ H, 1e-10)
        H = H * np.sqrt((W.T @ (V / WH**2)) / (W.T @ (1.0 / WH)))
    return H


def test_zeros_of_a_sparsified_h_stay_zero_and_the_rest_follows_mu(rng):
    W, bounds, V, _ = small_problem(rng)
    Hd, _ = ms.solve_dense(V, W, n_iter=30, tol=0.0)
    H = ms.sparsify(ms.dense_to_sparse(Hd, bounds), bounds, drop=0.05, rel=0.2, dilate=1)
    dense0 = H.to_dense()
    zeros = dense0 == 0
    assert 0.5 < zeros.mean() < 0.999
    # kept entries keep their value; widened entries are new and positive
    kept = (~zeros) & (Hd >= 1e-3 * Hd.max(axis=0))
    np.testing.assert_allclose(dense0[kept & (dense0 > 1e-3 * Hd.max(axis=0))],
                               Hd[kept & (dense0 > 1e-3 * Hd.max(axis=0))], rtol=1e-6)
    runs = ms.solve_sparse(V, W, H, beta=0.0, n_iter=25, tol=0.0)
    assert (runs == 25).all()
    dense1 = H.to_dense()
    assert (dense1[zeros] == 0).all() and (dense1[~zeros] > 0).all()
    np.testing.assert_allclose(dense1, masked_mu_reference(V, W, dense0, 25), rtol=2e-3, atol=1e-7)


def test_upsample_maps_each_coarse_run_to_its_fine_templates():
    bounds = np.array([0, 10, 16])
    fine = np.array([0, 20, 32])
    # one column, track 0 templates 3..4, track 1 template 2 (global 12)
    H = ms.SparseH(np.array([0, 2]), np.array([3, 12]), np.array([0, 2, 3]), np.array([1.0, 2.0, 4.0], np.float32), 16)
    up = ms.upsample(H, bounds, fine, 2)
    dense = up.to_dense()
    # coarse j -> fine 2j-1 .. 2j+1: track 0 [5, 10), track 1 (fine offset 20) [23, 26)
    assert set(np.flatnonzero(dense[:, 0])) == set(range(5, 10)) | set(range(23, 26))
    assert (dense[:, 1] > 0).sum() == 8
    # values: the coarse entry (k + 1) // 2 (fine 9 rounds up to coarse 5, outside the run:
    # the floor, 1e-3 of the column's largest coarse value)
    np.testing.assert_allclose(dense[[5, 6, 7, 8, 9], 0], [1, 1, 2, 2, 0.004], rtol=1e-6)
    np.testing.assert_allclose(dense[[23, 24, 25], 0], [4, 4, 0.004], rtol=1e-6)


def test_upsample_reaches_one_coarse_hop_either_side():
    """A track playing in coarse column 0 only is in reach of fine columns 0-2 (a loop's seam
    or a jump falls between coarse frames), not of fine column 3 or later."""
    bounds = np.array([0, 10])
    col_ptr = np.array([0, 1, 1, 1])  # 3 coarse columns, a run in column 0 only
    H = ms.SparseH(col_ptr, np.array([4]), np.array([0, 2]), np.array([1.0, 1.0], np.float32), 10)
    dense = ms.upsample(H, bounds, np.array([0, 20]), 6).to_dense()
    assert [(dense[:, n] > 0).sum() for n in range(6)] == [5, 5, 5, 0, 0, 0]
    assert set(np.flatnonzero(dense[:, 2])) == set(range(7, 12))


def test_mel_front_end_puts_a_sinusoid_in_its_band():
    from nmftrans.core.features import frequencies, spectrogram

    fs = DecomposeSettings(n_mels=64).features
    assert fs.frontend == "mel" and fs.n_fft == 4 * HOP and fs.hop_length == HOP and fs.power == 2.0
    y = (0.5 * np.sin(2 * np.pi * 1000.0 * np.arange(2 * SR) / SR)).astype(np.float32)
    V = spectrogram(y, fs)
    centres = frequencies(fs)
    assert V.shape == (64, 1 + 2 * SR // HOP) and len(centres) == 64
    # Slaney mel: linear below 1 kHz (200/3 Hz a mel), so band centres are known by hand
    mel_1k = 15.0  # 1000 Hz / (200/3)
    mel_max = 15.0 + 27.0 * np.log(SR / 2 / 1000.0) / np.log(6.4)
    band = int(np.argmax(V[:, 4]))
    expected = np.argmin(np.abs(np.linspace(0, mel_max, 66)[1:-1] - mel_1k))
    assert abs(band - expected) <= 1
    assert V[band, 4] > 100 * np.median(V[:, 4])


def test_mel_settings_round_trip_and_other_settings_serialise_as_before():
    from nmftrans.io.dictionary import shipped_path
    from nmftrans.core.settings import FeatureSettings

    mel = DecomposeSettings(n_mels=200).features
    assert FeatureSettings.from_json(mel.to_json()) == mel and '"mel_bands": 200' in mel.to_json()
    stored = str(np.load(shipped_path("piano"), allow_pickle=False)["settings"])
    assert FeatureSettings.from_json(stored).to_json() == stored  # no mel_bands key for 'stft'
