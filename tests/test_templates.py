"""Template constructors: pitch-informed harmonic combs and the broadband floor."""

import numpy as np
import pytest

from nmftrans.features import bandwidths, frequencies
from nmftrans.kernels import update_activations
from nmftrans.settings import FeatureSettings
from nmftrans.templates import floor_templates, harmonic_templates


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
