"""Attacks (nmftrans/core/attacks.py): the spectral flux of the features against a plain loop, the
same flux whatever the blocks, attack ratios by hand, and re-onsets without an attack merged into
the note they interrupt (the reonset_attack_ratio wiring, whole and spilled)."""

import numpy as np
import pytest
import soundfile as sf

from nmftrans.core.attacks import FluxMeter, attack_ratios, frame_flux
from nmftrans.core.notes import NoteParams
from nmftrans.core.reonsets import merge_weak_reonsets
from nmftrans.errors import SettingError
from nmftrans.transcribe import transcribe_file, transcribe_signal
from tests.test_reonsets import PITCHES, swelling_piece
from tests.synth import SR, tone_dictionary


def _flux_loop(V):
    """The documented flux, one frame and one bin at a time."""
    n_bins, n = V.shape
    out = [0.0]
    for t in range(1, n):
        c = 0.01 * 0.5 * (sum(V[:, t]) / n_bins + sum(V[:, t - 1]) / n_bins) + 1e-30
        out.append(sum(max(np.log((V[b, t] + c) / (V[b, t - 1] + c)), 0.0) for b in range(n_bins)) / n_bins)
    return np.array(out)


def test_flux_is_the_documented_sum(rng):
    V = (rng.random((12, 40)) ** 3).astype(np.float32)
    np.testing.assert_allclose(frame_flux(V), _flux_loop(V.astype(np.float64)), rtol=2e-5, atol=1e-7)
    steady = (1.0 + 0.05 * rng.random((12, 40))).astype(np.float32)
    steady[:, 20:] *= 5  # an attack at frame 20: log 5 in every bin, the rest a few hundredths
    flux = frame_flux(steady)
    assert flux[20] > 1.5 and np.median(flux) < 0.05
    np.testing.assert_allclose(frame_flux(V * 1000), frame_flux(V), rtol=1e-4, atol=1e-6)  # level-free


def test_the_flux_does_not_depend_on_the_blocks(rng):
    V = rng.random((9, 101)).astype(np.float32)
    for cuts in ([0, 101], [0, 1, 2, 50, 101], [0, 33, 34, 100, 101]):
        meter = FluxMeter()
        for lo, hi in zip(cuts[:-1], cuts[1:]):
            meter.push(V[:, lo:hi])
        np.testing.assert_array_equal(meter.flux(), frame_flux(V))
    assert len(FluxMeter().flux()) == 0


def test_attack_ratios_by_hand():
    flux = np.ones(300)
    flux[100] = 3.0
    ratios = attack_ratios(flux, np.array([100, 103, 104, 0, 299, 500, -5]))
    np.testing.assert_allclose(ratios, [3.0, 3.0, 1.0, 1.0, 1.0, 1.0, 1.0])  # ±3 frames; clipped ends
    assert np.isinf(attack_ratios(np.zeros(50), np.array([10]))[0])  # no flux around: not judged


def test_a_reonset_without_an_attack_merges_whatever_its_peak():
    """``struck`` is asked only about a re-onset of a sounding note that is not weak already."""
    notes = np.array([[0.0, 0.5, 60, 100], [0.5, 0.9, 60, 90], [1.0, 1.4, 60, 90], [1.4, 1.6, 60, 90],
                      [3.0, 3.5, 60, 90]])
    peaks = np.array([1.0, 0.9, 0.0, 0.2, 1.0])
    asked = []

    def no_attack(j):
        asked.append(j)
        return False

    out = merge_weak_reonsets(notes, peaks, 0.5, 0.03, 0.06, struck=no_attack)
    # 1 merged into 0 (no attack); 2 not judged (a zero peak), so it is kept; 3 is not weak against
    # 2's zero peak: asked, merged into 2; 4 starts 1.4 s after 2-3 ended: not a re-onset
    np.testing.assert_array_equal(out, [[0.0, 0.9, 60, 100], [1.0, 1.6, 60, 90], [3.0, 3.5, 60, 90]])
    assert asked == [1, 3]
    asked.clear()  # without note 2, note 3 starts 0.5 s after note 1 (merged into 0) ended: not asked
    merge_weak_reonsets(notes[[0, 1, 3]], peaks[[0, 1, 3]], 0.5, 0.03, 0.06, struck=no_attack)
    assert asked == [1]
    np.testing.assert_array_equal(merge_weak_reonsets(notes, peaks, 0.5, 0.03, 0.06, struck=lambda j: True),
                                  merge_weak_reonsets(notes, peaks, 0.5, 0.03, 0.06))


@pytest.fixture(scope="module")
def dictionary(tmp_path_factory):
    return tone_dictionary(tmp_path_factory.mktemp("isolated"), range(45, 96))


def test_the_attack_check_is_wired_whole_and_spilled(dictionary, tmp_path):
    """Notes swelling 6 times in 10 ms (a re-strike's level and an abrupt jump): two notes each by
    default and with the check off; with every re-onset read as no attack (an absurd ratio), one
    note each, whole and spilled."""
    y = swelling_piece(6.0)
    assert len(transcribe_signal(y, dictionary).notes) == 12
    assert len(transcribe_signal(y, dictionary, note_params=NoteParams(reonset_attack_ratio=0.0)).notes) == 12
    path = tmp_path / "swell.wav"
    sf.write(path, y, SR)
    strict = NoteParams(reonset_attack_ratio=1e3)
    whole = transcribe_file(path, dictionary, note_params=strict).notes
    spilled = transcribe_file(path, dictionary, note_params=strict, keep_activations=False).notes
    assert whole[:, 2].astype(int).tolist() == PITCHES
    np.testing.assert_array_equal(whole, spilled)


@pytest.mark.parametrize("bad", [-1.0, float("nan")])
def test_bad_attack_ratio_is_refused(bad):
    with pytest.raises(SettingError):
        NoteParams(reonset_attack_ratio=bad)
