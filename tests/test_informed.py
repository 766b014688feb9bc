"""Score-informed learning (nmftrans.core.informed) on mixtures of known templates, and its streaming."""

import numpy as np
import pytest

from nmftrans.errors import NmftransError
from nmftrans.core.informed import (InformedParams, divergence, informed_epoch, initial_activations, initial_templates,
                               update_templates)

FR = 10.0  # frames per second of the synthetic mixtures
N_BINS = 60
PITCHES = np.arange(6)


def _cosine(a, b):
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


def _mixture(seed=0):
    """Six known templates (overlapping partial combs) and notes that sound in chords.

    H_true decays within each note and rings 0.8 s past the annotated offset (a release the
    annotation does not cover, as in real recordings), each note at its own level; the next
    chord comes 0.5 s later. V = W_true H_true exactly."""
    rng = np.random.default_rng(seed)
    W_true = np.zeros((N_BINS, len(PITCHES)))
    for j in PITCHES:
        f0 = 3 + 2 * j
        for m in range(1, 8):
            if m * f0 < N_BINS:
                W_true[m * f0, j] = rng.uniform(0.3, 1.0) / m
                W_true[min(m * f0 + 1, N_BINS - 1), j] += rng.uniform(0.0, 0.2) / m
    W_true /= W_true.sum(axis=0)
    notes = []
    t = 0.5
    for _ in range(40):
        chord = rng.choice(PITCHES, size=rng.integers(2, 4), replace=False)
        for p in chord:
            notes.append((t, t + rng.uniform(0.3, 1.0), p, 80))
        t += 0.5
    notes = np.array(notes, dtype=float)
    n = int((t + 2.0) * FR)
    H_true = np.zeros((len(PITCHES), n))
    for on, off, p, _ in notes:
        a, b = int(np.ceil(on * FR)), int(np.ceil(off * FR)) + 8
        H_true[int(p), a:b] += rng.uniform(0.3, 3.0) * np.exp(-np.arange(b - a) / rng.uniform(3, 10))
    return W_true, notes, (W_true @ H_true).astype(np.float32)


def _roll(notes, n):
    """Binary roll (sustain rows) with no attack rows: plain supervised NMF's H."""
    Y = np.zeros((len(PITCHES), n), dtype=np.float32)
    for on, off, p, _ in notes:
        Y[int(p), int(np.ceil(on * FR)):int(np.ceil(off * FR))] = 1.0
    return Y


def _learn(V, H0, W0, epochs, params):
    """The use case's loop on one file in memory: epoch terms, then the W step."""
    W, H = W0.copy(), H0.copy()
    for _ in range(epochs):
        H_new = np.empty_like(H)
        num, den = informed_epoch(V, W, H, H_new, beta=1.0, params=params)
        W, H = update_templates(W, num, den, beta=1.0), H_new
    return W / W.sum(axis=0), H


def test_informed_learning_recovers_each_template_where_a_fixed_roll_mixes_them():
    W_true, notes, V = _mixture()
    n = V.shape[1]
    flat = np.full((N_BINS, len(PITCHES)), 1.0 / N_BINS, dtype=np.float32)
    params = InformedParams(tolerance_s=0.1, release_s=1.0)
    H0 = initial_activations(notes, n, FR, PITCHES, attack_frames=1, params=params)[: len(PITCHES)]
    assert H0.shape == (len(PITCHES), n)
    W_inf, H_inf = _learn(V, H0, flat, 300, params)
    W_fix, _ = _learn(V, _roll(notes, n), flat, 300, InformedParams(h_updates=0))
    cos_inf = [_cosine(W_inf[:, j], W_true[:, j]) for j in PITCHES]
    cos_fix = [_cosine(W_fix[:, j], W_true[:, j]) for j in PITCHES]
    assert min(cos_inf) >= 0.995, cos_inf  # the issue asks 0.98; without the H updates: 0.983
    assert min(cos_fix) < 0.96, cos_fix  # each fixed-roll template took in the notes it sounded with
    # H never leaves the support it started with
    assert not H_inf[H0 == 0].any()
    # and the model explains the mixture far better
    assert divergence(V, W_inf, H_inf, beta=1.0) < 0.1 * divergence(V, W_fix, _roll(notes, n), beta=1.0)


def test_initial_activations_profile_and_support():
    notes = np.array([[1.0, 2.0, 61, 80], [1.5, 1.8, 60, 80], [3.0, 3.4, 99, 80]])
    p = InformedParams(tolerance_s=0.2, release_s=0.3, decay_s=0.5, floor=0.1)
    H = initial_activations(notes, 50, FR, np.array([60, 61]), attack_frames=2, params=p)
    assert H.shape == (4, 50)
    # pitch 61 (row 1): support frames 8 .. 22 (onset 10 - 2, offset 20 + 3), floor before the onset
    assert np.flatnonzero(H[1]).tolist() == list(range(8, 23))
    assert H[1, 8] == pytest.approx(0.1) and H[1, 10] == pytest.approx(1.0)
    assert H[1, 13] == pytest.approx(np.exp(-3 / 5.0), rel=1e-6)
    assert H[1, 22] == pytest.approx(0.1)  # exp(-12 / 5) < floor
    # its attack row (3): onset - 2 .. onset + 2 + 2
    assert np.flatnonzero(H[3]).tolist() == list(range(8, 14)) and set(H[3, 8:14]) == {1.0}
    # pitch 60 (rows 0, 2) and nothing of pitch 99 outside the rows
    assert np.flatnonzero(H[0]).tolist() == list(range(13, 21))
    assert H.sum() == pytest.approx(H[:4].sum())


def test_initial_templates_are_unit_sum_with_flat_attacks():
    harmonic = np.zeros((10, 2), dtype=np.float32)
    harmonic[[2, 4], 0] = 0.5
    harmonic[[3, 6], 1] = 0.5
    W = initial_templates(harmonic, InformedParams(flat_share=0.2))
    assert W.shape == (10, 4)
    np.testing.assert_allclose(W.sum(axis=0), 1.0, rtol=1e-6)
    np.testing.assert_allclose(W[:, 2:], 0.1)
    assert W[2, 0] == pytest.approx(0.8 * 0.5 + 0.02) and W[0, 0] == pytest.approx(0.02)


def test_an_epoch_streams_a_memory_mapped_file_in_blocks(tmp_path):
    """A file larger than the block budget: the epoch reads it block by block (the peak of
    NumPy's allocations stays far below V's size) and gives the whole-file terms."""
    import tracemalloc

    rng = np.random.default_rng(1)
    n_bins, n_comp, n = 100, 8, 20000
    V = np.lib.format.open_memmap(tmp_path / "V.npy", mode="w+", dtype=np.float32, shape=(n_bins, n))
    V[:] = rng.random((n_bins, n), dtype=np.float32)
    V.flush()
    H = np.lib.format.open_memmap(tmp_path / "H.npy", mode="w+", dtype=np.float32, shape=(n_comp, n))
    H[:] = rng.random((n_comp, n), dtype=np.float32) * (rng.random((n_comp, n)) < 0.3)
    H.flush()
    V, H = np.load(tmp_path / "V.npy", mmap_mode="r"), np.load(tmp_path / "H.npy", mmap_mode="r")
    W = rng.random((n_bins, n_comp), dtype=np.float32)
    out = np.lib.format.open_memmap(tmp_path / "H1.npy", mode="w+", dtype=np.float32, shape=(n_comp, n))
    tracemalloc.start()
    num, den = informed_epoch(V, W, H, out, beta=1.0, params=InformedParams(block_frames=250))
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < V.nbytes / 10, (peak, V.nbytes)
    whole_num, whole_den = informed_epoch(np.asarray(V), W, np.asarray(H), None, beta=1.0,
                                          params=InformedParams(block_frames=n))
    np.testing.assert_allclose(num, whole_num, rtol=1e-4)
    np.testing.assert_allclose(den, whole_den, rtol=1e-4)
    # the same H update as one MU step of the kernel on the whole file
    from nmftrans.core.kernels import update_activations

    expected, _ = update_activations(np.asarray(V), W, np.asarray(H), beta=1.0, n_iter=1, tol=0.0)
    np.testing.assert_allclose(np.asarray(out), expected, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("bad", [{"tolerance_s": -1}, {"decay_s": 0}, {"floor": 0}, {"h_updates": 1.5},
                                 {"block_frames": 0}, {"flat_share": 2}, {"prior_share": -0.1},
                                 {"noise_octaves": -1}, {"max_s": -1}])
def test_bad_params_are_one_line_errors(bad):
    with pytest.raises(NmftransError):
        InformedParams(**bad)


def test_shrink_to_prior_blends_unit_sum_templates():
    from nmftrans.core.informed import shrink_to_prior

    W = np.array([[0.5, 0.0], [0.5, 0.25], [0.0, 0.75]])
    prior = np.array([[1.0, 0.0], [0.0, 0.0], [0.0, 1.0]])
    out = shrink_to_prior(W, prior, 0.4)
    np.testing.assert_allclose(out, [[0.7, 0.0], [0.3, 0.15], [0.0, 0.85]], rtol=1e-6)
    np.testing.assert_allclose(shrink_to_prior(W, prior, 0.0), W, rtol=1e-6)
