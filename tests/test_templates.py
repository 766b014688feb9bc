"""Template constructors: pitch-informed harmonic combs, the broadband floor, the response gain."""

import numpy as np
import pytest

from nmftrans.core.features import bandwidths, frequencies
from nmftrans.core.kernels import update_activations
from nmftrans.core.settings import FeatureSettings
from nmftrans.core.templates import floor_templates, harmonic_templates, response_gains


def kl_misfit(v: np.ndarray, W: np.ndarray) -> float:
    """Relative L1 error of the best KL fit of the spectrum ``v`` by the columns of ``W``."""
    V = v.astype(np.float32)[:, None] / v.sum()
    H, _ = update_activations(V, W, None, beta=1.0, n_iter=500, tol=0)
    return float(np.abs(W @ H - V).sum())


def test_harmonic_templates_put_their_weight_on_the_partials():
    f = frequencies(FeatureSettings())
    W = harmonic_templates([57], f, n_partials=5, decay=1.0)
    assert W.shape == (len(f), 1) and W.sum() == pytest.approx(1.0, abs=1e-6)
    for m in range(1, 6):
        near = np.abs(f - 220.0 * m) < 0.03 * 220.0 * m
        assert W[near, 0].sum() > 0
    assert W[np.abs(f - 330.0) < 5, 0].sum() == 0  # nothing between partials 1 and 2


def test_floor_templates_tile_the_range_and_fit_smooth_spectra_only():
    st = FeatureSettings()
    f, bw = frequencies(st), bandwidths(st)
    F = floor_templates(f, bw)
    # 32 Hz to 5 kHz is 7.3 octaves: centres 2 octaves apart from the lowest bin
    assert F.shape == (len(f), 4) and F.dtype == np.float32 and np.all(F >= 0)
    np.testing.assert_allclose(F.sum(axis=0), 1.0, atol=1e-6)
    peaks = f[np.argmax(F / bw[:, None], axis=0)]
    np.testing.assert_allclose(np.diff(np.log2(peaks)), 2.0, atol=0.05)
    assert floor_templates(f, bw, spacing_octaves=1.0).shape[1] == 8
    # a flat or a pink spectrum is nearly matched; a harmonic note is not (most of its L1 mass
    # is misplaced), so the floor cannot stand in for a note
    assert kl_misfit(bw, F) < 0.08
    assert kl_misfit(bw / np.sqrt(f), F) < 0.08
    for pitch in (45, 60, 72):
        assert kl_misfit(harmonic_templates([pitch], f)[:, 0], F) > 1.0
    with pytest.raises(ValueError, match="spacing_octaves"):
        floor_templates(f, bw, spacing_octaves=0)


def test_response_gains_recover_a_smooth_colour_and_nothing_else(rng):
    f = frequencies(FeatureSettings())
    V_hat = rng.uniform(0.5, 1.5, size=(len(f), 40)).astype(np.float32)
    np.testing.assert_allclose(response_gains(V_hat, V_hat, f), 1.0, atol=1e-6)
    colour = (f / 500.0) ** -0.5  # a darker recording: -1.5 dB per octave (in compressed units)
    g = response_gains(colour[:, None] * V_hat, V_hat, f)
    band = (f > 100) & (f < 2500)  # away from the edges, where the smoothing is one-sided
    expected = colour / np.exp(np.mean(np.log(colour)))
    np.testing.assert_allclose(g[band] / np.exp(np.mean(np.log(g))), expected[band], rtol=0.1)
    # clipped to max_gain either way
    g = response_gains(np.where(f > 1000, 100.0, 0.01)[:, None] * V_hat, V_hat, f, max_gain=4.0)
    assert g.max() == pytest.approx(4.0) and g.min() == pytest.approx(0.25)
    # one partial twice as strong as the model says: the gain is spread over the neighbourhood,
    # the same between the partials as on it, and far below 2
    comb = harmonic_templates([45], f, n_partials=20)[:, 0]
    louder = comb.copy()
    louder[np.abs(f - 440.0) < 15] *= 2.0
    g = response_gains(louder[:, None], comb[:, None], f)
    on, between = g[np.argmin(np.abs(f - 440.0))], g[np.argmin(np.abs(f - 385.0))]
    assert on < 1.3 and abs(on / between - 1.0) < 0.03
    with pytest.raises(ValueError):
        response_gains(V_hat, V_hat, f, width_octaves=0)
