import numpy as np
import pytest

from nmftrans.errors import NmftransError
from nmftrans.core.features import bandwidths, frame_times, frequencies, logfreq_filterbank, n_frames_for, spectrogram
from nmftrans.core.settings import FeatureSettings


@pytest.mark.parametrize("frontend", ["stft", "logfreq"])
def test_sinusoid_peaks_at_its_frequency_with_its_amplitude(frontend):
    s = FeatureSettings(frontend=frontend, power=1.0)
    sr = s.sample_rate
    y = (0.5 * np.sin(2 * np.pi * 440.0 * np.arange(sr) / sr)).astype(np.float32)
    V = spectrogram(y, s)
    assert V.shape == (len(frequencies(s)), n_frames_for(len(y), s))
    assert V.dtype == np.float32 and V.flags.c_contiguous
    col = V[:, V.shape[1] // 2]
    assert abs(frequencies(s)[col.argmax()] - 440.0) < 15.0
    if frontend == "stft":
        assert col.max() == pytest.approx(0.5, rel=0.1)


def test_frames_are_centred():
    s = FeatureSettings()
    y = np.zeros(s.sample_rate, dtype=np.float32)
    y[10 * s.hop_length] = 1.0  # an impulse at the centre of frame 10
    V = spectrogram(y, s)
    assert V.sum(axis=0).argmax() == 10
    assert frame_times(11, s)[10] == pytest.approx(10 * s.hop_length / s.sample_rate)


def test_logfreq_filterbank_has_no_empty_band():
    s = FeatureSettings(frontend="logfreq", fmin=27.5, bins_per_semitone=3)
    fb = logfreq_filterbank(s)
    assert fb.shape[0] == len(frequencies(s))
    assert (fb.sum(axis=1) > 0).all()
    assert len(frequencies(s)) > 3 * 12 * 7  # at least 3 bins per semitone over 7 octaves


def test_settings_round_trip_and_validation():
    s = FeatureSettings(frontend="logfreq", hop_length=512, fmax=4000.0)
    assert FeatureSettings.from_json(s.to_json()) == s
    with pytest.raises(NmftransError):
        FeatureSettings(frontend="cqt")
    with pytest.raises(NmftransError):
        FeatureSettings(fmax=20000.0)
    with pytest.raises(NmftransError):
        FeatureSettings.from_json('{"hop_length": "512"}')
    with pytest.raises(NmftransError):
        FeatureSettings.from_json('{"n_mels": 128}')


def test_bandwidths_follow_the_merged_bins_and_the_bands():
    st = FeatureSettings()
    df = st.sample_rate / st.n_fft
    f, bw = frequencies(st), bandwidths(st)
    assert bw.shape == f.shape
    # single bins below 1.5 kHz, pairs up to 3 kHz, triples above (the default merge)
    assert set(np.round(bw[f < 1400] / df, 6)) == {1.0}
    assert set(np.round(bw[(f > 1600) & (f < 2900)] / df, 6)) == {2.0}
    assert set(np.round(bw[f > 3100][:-1] / df, 6)) == {3.0}  # the last group may be cut short
    assert 1 <= round(bw[-1] / df) <= 3
    stft = np.arange(st.n_fft // 2 + 1) * df
    kept = np.count_nonzero((stft >= st.fmin) & (stft <= st.fmax))
    assert bw.sum() == pytest.approx(kept * df)
    assert np.all(bandwidths(FeatureSettings(merge="")) == df)
    log = FeatureSettings(frontend="logfreq")
    bw_log = bandwidths(log)
    assert bw_log.shape == frequencies(log).shape and np.all(bw_log > 0)
    # above the STFT resolution, bands a semitone wide: twice the bandwidth an octave up
    f_log = frequencies(log)
    i, j = np.argmin(np.abs(f_log - 1000)), np.argmin(np.abs(f_log - 2000))
    assert bw_log[j] / bw_log[i] == pytest.approx(2.0, rel=0.1)
