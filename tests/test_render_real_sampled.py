"""scripts/render_real_sampled.py: the sampler's gains, damper fade and re-strike fade (no data needed)."""

import importlib.util
from pathlib import Path

import numpy as np
import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "render_real_sampled.py"


@pytest.fixture(scope="module")
def sampler():
    spec = importlib.util.spec_from_file_location("render_real_sampled", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_gain_damper_and_restrike(sampler):
    sr = sampler.SR
    samples = {p: np.ones(2 * sr) for p in range(21, 109)}  # a note that never decays: only the envelopes
    notes = np.array([[0.1, 0.3, 60, 127],     # released at 0.3 s, still fading when struck again
                      [0.35, 0.6, 60, 127],
                      [0.1, 0.6, 62, 64]])
    y = sampler.render_notes(notes, samples, damper_s=0.2, restrike_s=0.03)
    assert len(y) == int(round(1.6 * sr)) + 1
    assert np.abs(y).max() == pytest.approx(10 ** (-1 / 20))

    def first(t):  # the first C4's envelope by hand: damper from 0.3 s, re-strike fade from 0.35 s
        g = 10 ** (-3 * (t - 0.3) / 0.2) if t >= 0.3 else 1.0
        return min(g, 10 ** (-3 * (t - 0.35) / 0.03)) if t >= 0.35 else g

    soft = (64 / 127) ** 2
    expect = {0.2: 1 + soft, 0.32: first(0.32) + soft, 0.36: first(0.36) + 1 + soft, 0.5: 1 + soft,
              0.65: 10 ** (-3 * 0.05 / 0.2) * (1 + soft)}
    scale = np.abs(y).max() / (first(0.35) + 1 + soft)  # the loudest moment: the re-strike over the fading C4
    for t, value in expect.items():
        assert y[int(round(t * sr))] == pytest.approx(value * scale, rel=1e-3), t
    assert y[int(round(0.4 * sr))] == pytest.approx((1 + soft + 10 ** (-3 * 0.05 / 0.03)) * scale, rel=1e-3)
    assert y[int(round(1.0 * sr))] == 0.0  # every damper fade is over


def test_ground_truth_is_the_score(sampler, tmp_path):
    notes = np.array([[0.5, 1.25, 60, 80], [0.5, 2.0, 64, 30]])
    samples = {p: np.linspace(1, 0, sampler.SR) for p in range(21, 109)}
    y = sampler.render_notes(notes, samples, 0.2, 0.03)
    sampler.write(tmp_path, "piece", notes, y)
    rows = np.loadtxt(tmp_path / f"piece{sampler.SUFFIX}.csv", delimiter=",", skiprows=1)
    np.testing.assert_array_equal(rows, notes)
    assert (tmp_path / f"piece{sampler.SUFFIX}.flac").stat().st_size > 0
