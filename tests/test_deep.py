"""Deep NMF array code (nmftrans.core.deep) against loop-by-loop NumPy references and finite differences."""

import math

import numpy as np
import pytest

from nmftrans.core.deep import (initial_activations, pitch_matrix, roll_loss, unfolded_backward, unfolded_forward)


def ref_kl_step(V, W, H, gamma):
    """One KL multiplicative update of H, entry by entry (the textbook rule)."""
    F, C = W.shape
    N = V.shape[1]
    out = np.empty_like(H)
    for c in range(C):
        den = sum(W[f, c] for f in range(F))
        for n in range(N):
            num = 0.0
            for f in range(F):
                approx = sum(W[f, j] * H[j, n] for j in range(C))
                num += W[f, c] * V[f, n] / approx
            out[c, n] = H[c, n] * (num / den) ** gamma
    return out


def _tiny(seed=0, F=7, C=4, N=5, K=3):
    rng = np.random.default_rng(seed)
    V = rng.uniform(0.1, 2.0, (F, N))
    Ws = rng.uniform(0.05, 1.0, (K, F, C))
    H0 = rng.uniform(0.2, 1.5, (C, N))
    return V, Ws, H0


@pytest.mark.parametrize("gamma", [1.0, 1.75])
def test_one_layer_is_one_mu_step(gamma):
    V, Ws, H0 = _tiny()
    H1 = unfolded_forward(V, Ws[:1], H0, gamma=gamma)
    np.testing.assert_allclose(H1, ref_kl_step(V, Ws[0], H0, gamma), rtol=1e-12)


def test_layers_chain_mu_steps_with_their_own_templates():
    V, Ws, H0 = _tiny(1)
    H = H0
    for W in Ws:
        H = ref_kl_step(V, W, H, 1.75)
    out, inputs = unfolded_forward(V, Ws, H0, gamma=1.75, keep=True)
    np.testing.assert_allclose(out, H, rtol=1e-12)
    assert len(inputs) == 3
    np.testing.assert_array_equal(inputs[0], H0)
    np.testing.assert_allclose(inputs[2], ref_kl_step(V, Ws[1], ref_kl_step(V, Ws[0], H0, 1.75), 1.75), rtol=1e-12)


def test_tied_layers_match_the_projects_solver_in_float32():
    """K layers with one W repeated reproduce K iterations of the compiled solver (same start)."""
    from nmftrans.core.kernels import update_activations

    rng = np.random.default_rng(3)
    V = rng.uniform(0.0, 1.0, (30, 20)).astype(np.float32)
    W = rng.uniform(0.0, 1.0, (30, 6)).astype(np.float32)
    H0 = initial_activations(V, W)
    assert H0.shape == (6, 20)
    np.testing.assert_allclose(H0[2], V.sum(axis=0) / (6 * W.sum(axis=0).mean()) + 1e-9, rtol=1e-6)
    ours = unfolded_forward(V.astype(np.float64), np.stack([W] * 5).astype(np.float64), H0.astype(np.float64),
                            gamma=1.75)
    theirs, _ = update_activations(V, W, H0, beta=1.0, n_iter=5, tol=0.0, gamma=1.75)
    np.testing.assert_allclose(ours, theirs, rtol=2e-4)


def _loss(V, Ws, H0, C, gamma):
    return float((C * unfolded_forward(V, Ws, H0, gamma=gamma)).sum())


@pytest.mark.parametrize("gamma", [1.0, 1.75])
def test_template_gradients_match_finite_differences(gamma):
    V, Ws, H0 = _tiny(2)
    C = np.random.default_rng(5).normal(size=H0.shape)
    _, inputs = unfolded_forward(V, Ws, H0, gamma=gamma, keep=True)
    grads = unfolded_backward(V, Ws, inputs, C, gamma=gamma)
    assert grads.shape == Ws.shape
    h = 1e-6
    numeric = np.empty_like(Ws)
    for idx in np.ndindex(*Ws.shape):
        up, down = Ws.copy(), Ws.copy()
        up[idx] += h
        down[idx] -= h
        numeric[idx] = (_loss(V, up, H0, C, gamma) - _loss(V, down, H0, C, gamma)) / (2 * h)
    np.testing.assert_allclose(grads, numeric, rtol=1e-5, atol=1e-8)
    assert np.abs(numeric).max() > 1e-2  # the check is not vacuous


def test_roll_loss_value_and_gradient():
    rng = np.random.default_rng(4)
    A = rng.uniform(0.0, 2.0, (3, 6))
    Y = (rng.uniform(size=(3, 6)) > 0.6).astype(float)
    ref, scale, bias, w = 1.3, 8.0, 0.25, 3.0
    loss, grad = roll_loss(A, Y, ref, scale=scale, bias=bias, pos_weight=w)
    expected = 0.0
    for a, y in zip(A.ravel(), Y.ravel()):
        p = 1.0 / (1.0 + math.exp(-scale * (a / ref - bias)))
        expected += -(w * y * math.log(p) + (1 - y) * math.log(1 - p))
    assert loss == pytest.approx(expected / A.size, rel=1e-12)
    h = 1e-6
    for idx in np.ndindex(*A.shape):
        up, down = A.copy(), A.copy()
        up[idx] += h
        down[idx] -= h
        numeric = (roll_loss(up, Y, ref, scale, bias, w)[0] - roll_loss(down, Y, ref, scale, bias, w)[0]) / (2 * h)
        assert grad[idx] == pytest.approx(numeric, rel=1e-6, abs=1e-9)


def test_pitch_matrix_sums_weighted_templates_and_skips_the_floor():
    P, pitch_set = pitch_matrix(np.array([62, 60, 60, 62]), np.array([1.0, 1.0, 0.5, 0.5]), 6)
    np.testing.assert_array_equal(pitch_set, [60, 62])
    H = np.arange(12.0).reshape(6, 2)
    np.testing.assert_allclose(P @ H, np.array([H[1] + 0.5 * H[2], H[0] + 0.5 * H[3]]))


def test_normalised_roll_loss_gradient_includes_the_reference_level():
    """Finite differences of the loss with the level recomputed by the project's tracker code."""
    from nmftrans.core.deep import normalised_roll_loss
    from nmftrans.core.notes import reference_level

    rng = np.random.default_rng(6)
    A = rng.uniform(0.0, 2.0, (4, 25))
    Y = (rng.uniform(size=A.shape) > 0.7).astype(float)

    def value(X):
        return roll_loss(X, Y, reference_level(X), 6.0, 0.3, 2.0)[0]

    loss, grad = normalised_roll_loss(A, Y, 6.0, 0.3, 2.0)
    assert loss == pytest.approx(value(A), rel=1e-12)
    h = 1e-7
    numeric = np.empty_like(A)
    for idx in np.ndindex(*A.shape):
        up, down = A.copy(), A.copy()
        up[idx] += h
        down[idx] -= h
        numeric[idx] = (value(up) - value(down)) / (2 * h)
    np.testing.assert_allclose(grad, numeric, rtol=1e-5, atol=1e-8)
    # the level's own entries carry a large share: without that path the gradient is wrong
    assert np.abs(grad - roll_loss(A, Y, reference_level(A), 6.0, 0.3, 2.0)[1]).max() > 1e-3


def test_roll_loss_entry_weights():
    rng = np.random.default_rng(8)
    A = rng.uniform(0.0, 2.0, (2, 5))
    Y = np.array([[1, 1, 0, 0, 1], [0, 1, 0, 1, 0]], dtype=float)
    M = rng.uniform(0.0, 2.0, A.shape)
    M[0, 2] = 0.0
    loss, grad = roll_loss(A, Y, 1.1, 7.0, 0.3, 2.0, M)
    expected = 0.0
    for a, y, m in zip(A.ravel(), Y.ravel(), M.ravel()):
        p = 1.0 / (1.0 + math.exp(-7.0 * (a / 1.1 - 0.3)))
        expected += -m * (2.0 * y * math.log(p) + (1 - y) * math.log(1 - p))
    assert loss == pytest.approx(expected / A.size, rel=1e-12)
    assert grad[0, 2] == 0.0
    _, plain = roll_loss(A, Y, 1.1, 7.0, 0.3, 2.0)
    np.testing.assert_allclose(grad, plain * M, rtol=1e-12)
