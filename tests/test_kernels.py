"""Tests of nmftrans.core.kernels against plain NumPy (float64) reference implementations."""

import numpy as np
import pytest
from scipy.special import kl_div

from nmftrans.core.kernels import (
    beta_divergence,
    dictionary_update_terms,
    gamma_exponent,
    update_activations,
    update_dictionary,
)
from tests._references import ref_divergence

BETAS = (2.0, 1.5, 1.0, 0.5, 0.0)
EPS = 1e-10


# ----------------------------------------------------------------------------- references


def ref_gamma(beta):
    if beta < 1:
        return 1.0 / (2.0 - beta)
    if beta > 2:
        return 1.0 / (beta - 1.0)
    return 1.0


def ref_update_H(V, W, H, beta, n_iter, l1=0.0, den_every=1, gamma=None):
    """NumPy float64 MU on H with W fixed (Févotte & Idier 2011).

    With ``den_every > 1`` the product ``W^T (WH)^(β-1)`` is recomputed only at iterations
    divisible by it; in between, each of its columns is scaled by ``(level / old
    level)^(β-1)``, the level of a column being its mean ``W.mean(axis=1) @ WH``.
    """
    V, W, H = (np.asarray(a, np.float64) for a in (V, W, H))
    g = ref_gamma(beta) if gamma is None else gamma
    w_mean = W.mean(axis=1)
    floor = EPS * w_mean.sum()
    for it in range(n_iter):
        level = np.maximum(w_mean @ (W @ H), floor)
        WH = np.maximum(W @ H, EPS)
        num = W.T @ (V * WH ** (beta - 2))
        if it % den_every == 0:
            prod = W.T @ WH ** (beta - 1)
        else:
            prod = prod * (level / prev_level) ** (beta - 1)
        prev_level = level
        H = H * (num / np.maximum(prod + l1, EPS)) ** g
    return H


def ref_update_W(V, W, H, beta, n_iter):
    """NumPy float64 MU on W with H fixed."""
    V, W, H = (np.asarray(a, np.float64) for a in (V, W, H))
    g = ref_gamma(beta)
    for _ in range(n_iter):
        WH = np.maximum(W @ H, EPS)
        num = (V * WH ** (beta - 2)) @ H.T
        den = WH ** (beta - 1) @ H.T
        W = W * (num / np.maximum(den, EPS)) ** g
    return W


def make_problem(rng, n_bins=40, n_comp=6, n_frames=30, noise=0.1):
    """Strictly positive, moderately well-conditioned data, float32."""
    W = (rng.random((n_bins, n_comp)) + 0.1).astype(np.float32)
    H = (rng.random((n_comp, n_frames)) + 0.1).astype(np.float32)
    V = (W @ H * (1 + noise * rng.random((n_bins, n_frames)))).astype(np.float32)
    return V, W, H


def objective(V, W, H, beta, l1=0.0):
    return beta_divergence(V, W @ H, beta) + l1 * float(np.sum(H, dtype=np.float64))


# ---------------------------------------------------------------------------- exponent


@pytest.mark.parametrize("beta", [-1.0, 0.0, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0])
def test_gamma_exponent(beta):
    assert gamma_exponent(beta) == pytest.approx(ref_gamma(beta))


# --------------------------------------------------------------------------- divergence


@pytest.mark.parametrize("beta", [2.0, 1.0, 0.0, 0.5, 1.5, 3.0, -0.5])
def test_beta_divergence_matches_formula(rng, beta):
    V = rng.random((7, 9)).astype(np.float32) + 0.05
    V_hat = rng.random((7, 9)).astype(np.float32) + 0.05
    assert beta_divergence(V, V_hat, beta) == pytest.approx(ref_divergence(V, V_hat, beta), rel=1e-6)


def test_beta_divergence_closed_forms(rng):
    V = rng.random((5, 6)).astype(np.float32) + 0.1
    Vh = rng.random((5, 6)).astype(np.float32) + 0.1
    x, y = V.astype(np.float64), Vh.astype(np.float64)
    assert beta_divergence(V, Vh, 2) == pytest.approx(0.5 * np.linalg.norm(x - y) ** 2, rel=1e-6)
    assert beta_divergence(V, Vh, 1) == pytest.approx(kl_div(x, y).sum(), rel=1e-6)
    assert beta_divergence(V, Vh, 0) == pytest.approx(np.sum(x / y - np.log(x / y) - 1), rel=1e-6)
    # beta = 1/2: 2 (sqrt x - sqrt y)^2 / sqrt y
    assert beta_divergence(V, Vh, 0.5) == pytest.approx(
        np.sum(2 * (np.sqrt(x) - np.sqrt(y)) ** 2 / np.sqrt(y)), rel=1e-6
    )


def test_beta_divergence_zero_and_continuity(rng):
    V = rng.random((4, 5)).astype(np.float32) + 0.1
    for beta in (2, 1.5, 1, 0.5, 0):
        assert beta_divergence(V, V, beta) == pytest.approx(0.0, abs=1e-9)
    Vh = V * 1.3
    # the general formula tends to KL and IS as beta -> 1 and beta -> 0
    assert beta_divergence(V, Vh, 1 + 1e-5) == pytest.approx(beta_divergence(V, Vh, 1), rel=1e-3)
    assert beta_divergence(V, Vh, 1e-5) == pytest.approx(beta_divergence(V, Vh, 0), rel=1e-3)


def test_beta_divergence_zeros_in_target():
    V = np.array([[0.0, 1.0], [2.0, 0.0]], np.float32)
    Vh = np.array([[0.5, 1.0], [1.0, 0.25]], np.float32)
    # KL: 0 log 0 = 0, so zeros contribute V_hat
    assert beta_divergence(V, Vh, 1) == pytest.approx(kl_div(V.astype(float), Vh.astype(float)).sum(), rel=1e-6)
    assert beta_divergence(V, Vh, 0.5) == pytest.approx(ref_divergence(V, Vh, 0.5), rel=1e-6)
    assert np.isfinite(beta_divergence(V, Vh, 0))  # zeros floored at eps, not inf/nan


# ------------------------------------------------------------------- match NumPy reference


@pytest.mark.parametrize("l1", [0.0, 0.5])
@pytest.mark.parametrize("beta", BETAS)
def test_update_activations_matches_reference(rng, beta, l1):
    V, W, _ = make_problem(rng)
    H0 = (rng.random((W.shape[1], V.shape[1])) + 0.1).astype(np.float32)
    H, n_run = update_activations(V, W, H0, beta=beta, n_iter=15, tol=0, l1=l1, den_every=1)
    assert n_run == 15
    assert H.dtype == np.float32 and H.shape == H0.shape and H.flags.c_contiguous
    np.testing.assert_allclose(H, ref_update_H(V, W, H0, beta, 15, l1), rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("beta", BETAS)
def test_update_dictionary_matches_reference(rng, beta):
    V, _, H = make_problem(rng)
    W0 = (rng.random((V.shape[0], H.shape[0])) + 0.1).astype(np.float32)
    W, n_run = update_dictionary(V, W0, H, beta=beta, n_iter=15, tol=0, den_every=1)
    assert n_run == 15
    assert W.dtype == np.float32 and W.shape == W0.shape and W.flags.c_contiguous
    np.testing.assert_allclose(W, ref_update_W(V, W0, H, beta, 15), rtol=1e-4, atol=1e-6)


def ref_update_H_gamma(V, W, H, beta, n_iter, gamma):
    """ref_update_H with the step exponent ``gamma`` instead of gamma_exponent(beta)."""
    V, W, H = (np.asarray(a, np.float64) for a in (V, W, H))
    for _ in range(n_iter):
        WH = np.maximum(W @ H, EPS)
        num = W.T @ (V * WH ** (beta - 2))
        den = W.T @ WH ** (beta - 1)
        H = H * (num / np.maximum(den, EPS)) ** gamma
    return H


@pytest.mark.parametrize("beta, gamma", [(1.0, 1.5), (1.0, 1.75), (1.0, 2.0), (1.0, 1.3), (0.5, 1.0), (0.0, 0.8), (2.0, 1.0)])
def test_step_exponent_override_matches_reference(rng, beta, gamma):
    V, W, _ = make_problem(rng)
    H0 = (rng.random((W.shape[1], V.shape[1])) + 0.1).astype(np.float32)
    H, _ = update_activations(V, W, H0, beta=beta, n_iter=8, tol=0, gamma=gamma, den_every=1)
    if beta == 2.0:  # the Euclidean rule has no exponent: the override must not change it
        np.testing.assert_allclose(H, ref_update_H(V, W, H0, beta, 8), rtol=1e-4, atol=1e-6)
    else:
        np.testing.assert_allclose(H, ref_update_H_gamma(V, W, H0, beta, 8, gamma), rtol=1e-4, atol=1e-6)


def test_over_relaxed_kl_reaches_the_fit_in_fewer_iterations(rng):
    """γ = 1.5 after 10 updates fits at least as well as γ = 1 after 15 (Badeau et al. 2010)."""
    V, W, _ = make_problem(rng, n_bins=60, n_comp=12, n_frames=40)
    H0 = np.full((W.shape[1], V.shape[1]), 0.5, dtype=np.float32)
    plain, _ = update_activations(V, W, H0, beta=1.0, n_iter=15, tol=0)
    fast, _ = update_activations(V, W, H0, beta=1.0, n_iter=10, tol=0, gamma=1.5)
    assert objective(V, W, fast, 1.0) <= objective(V, W, plain, 1.0)


def test_step_exponent_out_of_range_raises(rng):
    V, W, H = make_problem(rng)
    for bad in (0.0, -1.0, 2.5, np.nan):
        with pytest.raises(ValueError, match="gamma"):
            update_activations(V, W, H, beta=1.0, n_iter=1, gamma=bad)


def test_general_beta_matches_reference(rng):
    V, W, _ = make_problem(rng)
    H0 = (rng.random((W.shape[1], V.shape[1])) + 0.1).astype(np.float32)
    for beta in (-0.5, 0.3, 1.2, 3.0):
        H, _ = update_activations(V, W, H0, beta=beta, n_iter=10, tol=0, l1=0.1, den_every=1)
        np.testing.assert_allclose(H, ref_update_H(V, W, H0, beta, 10, 0.1), rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("beta", [0.5, 0.0, -0.5])
def test_lagged_denominator_matches_reference(rng, beta):
    """For β < 1 the default recomputes the denominator every DEN_EVERY (6) updates."""
    V, W, _ = make_problem(rng)
    H0 = (rng.random((W.shape[1], V.shape[1])) + 0.1).astype(np.float32)
    H, _ = update_activations(V, W, H0, beta=beta, n_iter=15, tol=0, l1=0.1)
    np.testing.assert_allclose(H, ref_update_H(V, W, H0, beta, 15, 0.1, den_every=6), rtol=1e-4, atol=1e-6)
    assert not np.allclose(H, ref_update_H(V, W, H0, beta, 15, 0.1), rtol=1e-3)
    H4, _ = update_activations(V, W, H0, beta=beta, n_iter=15, tol=0, l1=0.1, den_every=4)
    np.testing.assert_allclose(H4, ref_update_H(V, W, H0, beta, 15, 0.1, den_every=4), rtol=1e-4, atol=1e-6)


def test_lag_falls_back_to_exact_updates_instead_of_stopping(rng):
    """γ = 2 over-relaxes β = 1/2: the lagged run's objective rises at update 6. With
    the stop test on, the loop then goes on with exact updates instead of stopping."""
    V, W, _ = make_problem(rng, n_bins=30, n_comp=8, n_frames=10, noise=2.0)
    H0 = np.full((8, 10), 0.5, np.float32)
    lagged = [ref_update_H(V, W, H0, 0.5, n, den_every=6, gamma=2.0) for n in (4, 5, 6)]
    obj = [objective(V, W, h.astype(np.float32), 0.5) for h in lagged]
    assert obj[2] > obj[1] * (1 + 1e-4) and obj[1] < obj[0]
    H, n_run = update_activations(V, W, H0, beta=0.5, n_iter=20, tol=1e-9, check_every=1, gamma=2.0, den_every=6)
    assert n_run == 20
    # the rise is seen in the pass of update 7 (which is fresh anyway); all later ones are exact
    expected = ref_update_H(V, W, lagged[2], 0.5, 14, gamma=2.0)
    np.testing.assert_allclose(H, expected, rtol=1e-3, atol=1e-6)


@pytest.mark.parametrize("beta", [1.5, 3.0])
def test_no_lag_above_beta_one(rng, beta):
    """For β > 1 a stale denominator is no bound: den_every is ignored (exact MU)."""
    V, W, _ = make_problem(rng)
    H0 = (rng.random((W.shape[1], V.shape[1])) + 0.1).astype(np.float32)
    H, _ = update_activations(V, W, H0, beta=beta, n_iter=12, tol=0, den_every=5)
    np.testing.assert_allclose(H, ref_update_H(V, W, H0, beta, 12), rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("beta", [0.5, 0.0])
def test_lagged_denominator_keeps_the_fit_and_the_fixed_point(rng, beta):
    V, W, _ = make_problem(rng, n_bins=60, n_comp=10, n_frames=40, noise=0.5)
    H0 = np.full((W.shape[1], V.shape[1]), 0.5, dtype=np.float32)
    lag, _ = update_activations(V, W, H0, beta=beta, n_iter=30, tol=0)
    exact, _ = update_activations(V, W, H0, beta=beta, n_iter=30, tol=0, den_every=1)
    assert objective(V, W, lag, beta) <= 1.01 * objective(V, W, exact, beta)
    lag, _ = update_activations(V, W, H0, beta=beta, n_iter=2000, tol=0)
    exact, _ = update_activations(V, W, H0, beta=beta, n_iter=2000, tol=0, den_every=1)
    np.testing.assert_allclose(lag, exact, rtol=2e-3, atol=1e-4 * float(exact.max()))


@pytest.mark.parametrize("beta, den_every", [(1.0, 1), (0.5, 1), (0.5, 4), (0.0, 3)])
def test_column_blocks_give_the_unblocked_result(rng, monkeypatch, beta, den_every):
    """The loop runs over column blocks; four blocks of 7-8 columns change nothing."""
    from nmftrans.core import kernels

    V, W, _ = make_problem(rng, n_frames=30)
    H0 = (rng.random((W.shape[1], V.shape[1])) + 0.1).astype(np.float32)
    whole = update_activations(V, W, H0, beta=beta, n_iter=12, tol=1e-3, check_every=2, den_every=den_every)
    monkeypatch.setattr(kernels, "_MIN_BLOCK", 1)
    monkeypatch.setattr(kernels, "_BLOCK_BYTES", 4 * V.shape[0] * 7)
    assert sorted(b.stop - b.start for b in kernels._column_blocks(*V.shape)) == [7, 7, 8, 8]
    blocked = update_activations(V, W, H0, beta=beta, n_iter=12, tol=1e-3, check_every=2, den_every=den_every)
    np.testing.assert_allclose(blocked[0], whole[0], rtol=1e-5)
    assert blocked[1] == whole[1]
    np.testing.assert_allclose(blocked[0], ref_update_H(V, W, H0, beta, whole[1], den_every=den_every), rtol=1e-4)


def test_inputs_not_modified_and_any_layout_accepted(rng):
    V, W, H0 = make_problem(rng)
    V_c, W_c, H_c = V.copy(), W.copy(), H0.copy()
    H_a, _ = update_activations(V, W, H0, n_iter=5, tol=0)
    W_a, _ = update_dictionary(V, W, H0, n_iter=5, tol=0)
    for a, b in ((V, V_c), (W, W_c), (H0, H_c)):
        np.testing.assert_array_equal(a, b)
    # single component: W.T is C-contiguous, still must not be updated in place
    W1, H1 = W[:, :1].copy(), H0[:1].copy()
    update_dictionary(V, W1, H1, n_iter=3, tol=0)
    np.testing.assert_array_equal(W1, W[:, :1])
    # float64 / Fortran-ordered inputs give the same result
    H_b, _ = update_activations(np.asfortranarray(V, np.float64), np.asfortranarray(W), H0.astype(np.float64), n_iter=5, tol=0)
    np.testing.assert_allclose(H_a, H_b, rtol=1e-6)


def test_default_init_matches_mean_level(rng):
    V, W, _ = make_problem(rng)
    H, n_run = update_activations(V, W, n_iter=0)
    assert n_run == 0
    assert np.all(H == H.flat[0]) and H.flat[0] > 0
    assert float((W @ H).mean()) == pytest.approx(float(V.mean()), rel=1e-5)


# ------------------------------------------------------------------------ monotonicity


@pytest.mark.parametrize("beta", [0.0, 0.5, 1.0, 2.0])
def test_objective_never_increases(rng, beta):
    V, W, H = make_problem(rng, noise=1.0)
    H = (rng.random(H.shape) + 0.01).astype(np.float32)
    W2 = (rng.random(W.shape) + 0.01).astype(np.float32)
    for l1 in (0.0, 0.3):
        Hk, obj = H, [objective(V, W, H, beta, l1)]
        for _ in range(30):
            Hk, _ = update_activations(V, W, Hk, beta=beta, n_iter=1, tol=0, l1=l1)
            obj.append(objective(V, W, Hk, beta, l1))
        obj = np.array(obj)
        assert np.all(np.diff(obj) <= 1e-6 * obj[:-1]), (l1, obj)
        assert obj[-1] < obj[0]
    Wk, obj = W2, [objective(V, W2, H, beta)]
    for _ in range(30):
        Wk, _ = update_dictionary(V, Wk, H, beta=beta, n_iter=1, tol=0)
        obj.append(objective(V, Wk, H, beta))
    obj = np.array(obj)
    assert np.all(np.diff(obj) <= 1e-6 * obj[:-1]), obj
    assert obj[-1] < obj[0]


# --------------------------------------------------------------------------- recovery


@pytest.mark.parametrize("beta", [2.0, 1.0, 0.5])
def test_recovers_known_activations(rng, beta):
    n_bins, n_comp, n_frames = 60, 6, 40
    # Well-conditioned dictionary: each component owns a band of bins, plus a positive floor.
    W = 0.05 + 0.1 * rng.random((n_bins, n_comp))
    for k in range(n_comp):
        W[k * 10 : (k + 1) * 10, k] += 1.0
    H_true = rng.random((n_comp, n_frames)) + 0.05
    V = W @ H_true
    H, _ = update_activations(V, W, beta=beta, n_iter=1000, tol=0)
    # stated tolerance: 1e-3 relative to the largest activation
    assert np.max(np.abs(H - H_true)) < 1e-3 * H_true.max()


# ------------------------------------------------------------------- dictionary terms


@pytest.mark.parametrize("beta", BETAS)
def test_dictionary_terms_sum_over_files(rng, beta):
    V, W, H = make_problem(rng, n_frames=50)
    split = 20
    files = [(V[:, :split], H[:, :split]), (V[:, split:], H[:, split:])]
    num = np.zeros(W.shape, np.float64)
    den = np.zeros(W.shape, np.float64)
    for Vf, Hf in files:
        n, d = dictionary_update_terms(Vf, W, Hf, beta=beta)
        assert n.shape == W.shape and d.shape == W.shape and n.dtype == np.float32
        num += n
        den += d
    n_all, d_all = dictionary_update_terms(V, W, H, beta=beta)
    np.testing.assert_allclose(num, n_all, rtol=1e-5)
    np.testing.assert_allclose(den, d_all, rtol=1e-5)
    W_sum = W * (num / np.maximum(den, EPS)) ** gamma_exponent(beta)
    W_one, _ = update_dictionary(V, W, H, beta=beta, n_iter=1, tol=0)
    np.testing.assert_allclose(W_sum, W_one, rtol=1e-5)
    np.testing.assert_allclose(W_one, ref_update_W(V, W, H, beta, 1), rtol=1e-5)


def test_dictionary_terms_euclidean_closed_form(rng):
    V, W, H = make_problem(rng)
    num, den = dictionary_update_terms(V, W, H, beta=2)
    np.testing.assert_allclose(num, V @ H.T, rtol=1e-5)
    np.testing.assert_allclose(den, W @ (H @ H.T), rtol=1e-5)


# --------------------------------------------------------------------------- stopping


@pytest.mark.parametrize("beta", [2.0, 1.0, 0.5])
def test_tol_stops_early_when_converged(rng, beta):
    V, W, _ = make_problem(rng)
    H, n_run = update_activations(V, W, beta=beta, n_iter=3000, tol=0)
    assert n_run == 3000
    H2, n_run = update_activations(V, W, H, beta=beta, n_iter=500, tol=1e-4, check_every=5)
    # Converged: stops at the first comparison of the objective (update 6 is kept), or at the
    # second where the CPU's rsqrt estimate makes the restarted lagged β < 1 step move a little
    # (AMD EPYC without AVX-512 stops at 11).
    assert n_run in (6, 11)
    W2, n_w = update_dictionary(V, W, H, beta=beta, n_iter=500, tol=1e-1, check_every=3)
    assert n_w < 500


def test_tol_does_not_stop_while_improving(rng):
    V, W, _ = make_problem(rng)
    H0 = np.full((W.shape[1], V.shape[1]), 1e-3, np.float32)  # far from the fit
    _, n_run = update_activations(V, W, H0, beta=1, n_iter=10, tol=1e-4)
    assert n_run == 10


# ------------------------------------------------------------------------- validation


def test_invalid_inputs_raise(rng):
    V, W, H = make_problem(rng)
    bad_calls = [
        lambda: update_activations(V[0], W),  # 1-D
        lambda: update_activations(V, W[:-1]),  # n_bins mismatch
        lambda: update_activations(V, W, H[:, :-1]),  # n_frames mismatch
        lambda: update_activations(V, W, H[:-1]),  # n_comp mismatch
        lambda: update_activations(-V, W),  # negative
        lambda: update_activations(np.where(V > 1, np.nan, V), W),  # NaN
        lambda: update_activations(np.where(V > 1, np.inf, V), W),  # inf
        lambda: update_activations(V.astype(complex), W),  # complex
        lambda: update_activations(np.zeros((0, 3)), W),  # empty
        lambda: update_activations(V, W, beta=np.nan),
        lambda: update_activations(V, W, beta=np.inf),
        lambda: update_activations(V, W, beta="kl"),
        lambda: update_activations(V, W, n_iter=-1),
        lambda: update_activations(V, W, n_iter=2.5),
        lambda: update_activations(V, W, check_every=0),
        lambda: update_activations(V, W, den_every=0),
        lambda: update_activations(V, W, beta=1.0, den_every=1.5),
        lambda: update_activations(V, W, tol=-1),
        lambda: update_activations(V, W, l1=-0.1),
        lambda: update_activations(V, W, eps=0),
        lambda: update_activations(V, W, tol=None),
        lambda: update_dictionary(V, W, H[:, :-1]),
        lambda: update_dictionary(V, -W, H),
        lambda: dictionary_update_terms(V, W[:, :-1], H),
        lambda: beta_divergence(V, V[:, :-1], 1),
        lambda: beta_divergence(V, -V, 1),
        lambda: beta_divergence(V, V, np.nan),
        lambda: gamma_exponent(np.inf),
    ]
    for i, call in enumerate(bad_calls):
        with pytest.raises(ValueError):
            call()
            pytest.fail(f"bad call #{i} did not raise")


# ------------------------------------------------------------ private numerical helpers


def _elementwise(scalar_kernel):
    """A compiled loop applying a private scalar kernel to every item of a 1-D array."""
    import numba

    @numba.njit
    def apply(a):
        out = np.empty_like(a)
        for i in range(a.shape[0]):
            out[i] = scalar_kernel(a[i])
        return out

    return apply


def test_vectorisable_log_matches_numpy(rng):
    from nmftrans.core.kernels import _log

    log_all = _elementwise(_log)
    x = np.concatenate([np.exp(rng.uniform(-700, 700, 20000)), [1.0, 2.0, 0.5, np.sqrt(2), 1 + 1e-12, 1 - 1e-12]])
    np.testing.assert_allclose(log_all(x), np.log(x), rtol=1e-15, atol=1e-15)
    assert np.isfinite(log_all(np.zeros(1)))[0]  # 0 * _log(0) must stay 0 in the KL sum


def test_pow_two_thirds_matches_numpy(rng):
    from nmftrans.core.kernels import _pow_two_thirds

    pow_all = _elementwise(_pow_two_thirds)
    q = np.exp(rng.uniform(-80, 80, 20000)).astype(np.float32)
    np.testing.assert_allclose(pow_all(q), q.astype(np.float64) ** (2 / 3), rtol=1e-6)
    assert pow_all(np.zeros(1, np.float32))[0] == 0
    big = pow_all(np.array([1e37, 3e38, np.inf], np.float32))  # clamped at 1e37, never NaN
    np.testing.assert_allclose(big, 1e37 ** (2 / 3), rtol=1e-6)
