"""Audio -> nonnegative spectrogram V, as described by a :class:`~nmftrans.core.settings.FeatureSettings`.

Frames are centred: frame ``t`` is centred on sample ``t * hop_length`` (the signal is padded with
``n_fft // 2`` zeros at both ends), so its time is ``t / frame_rate`` seconds. The STFT magnitude is
scaled so that a sinusoid of amplitude ``a`` peaks at about ``a`` whatever ``n_fft``.
"""

from __future__ import annotations

import functools

import numpy as np

from nmftrans.core.threads import thread_budget
from nmftrans.core.settings import FeatureSettings

# Frames transformed at once: bounds the memory of the framed signal (n_fft floats per frame).
_CHUNK_FRAMES = 128


@functools.lru_cache(maxsize=16)
def _window(n_fft: int) -> np.ndarray:
    n = np.arange(n_fft)
    win = 0.5 - 0.5 * np.cos(2.0 * np.pi * n / n_fft)  # periodic Hann
    return (win * (2.0 / win.sum())).astype(np.float32)


def stft_frequencies(settings: FeatureSettings) -> np.ndarray:
    """Centre frequencies (Hz) of all ``n_fft // 2 + 1`` STFT bins."""
    return np.arange(settings.n_fft // 2 + 1) * (settings.sample_rate / settings.n_fft)


@functools.lru_cache(maxsize=16)
def _kept_bins(settings: FeatureSettings) -> slice:
    freqs = stft_frequencies(settings)
    idx = np.flatnonzero((freqs >= settings.fmin) & (freqs <= settings.fmax))
    return slice(int(idx[0]), int(idx[-1]) + 1)


@functools.lru_cache(maxsize=16)
def _merge_starts(settings: FeatureSettings) -> np.ndarray | None:
    """First kept bin of each group of summed bins (``settings.merge``), or None."""
    groups = settings.merge_groups()
    if settings.frontend != "stft" or not groups:
        return None
    freqs = stft_frequencies(settings)[_kept_bins(settings)]
    starts, i = [], 0
    while i < len(freqs):
        size = 1
        for hz, g in groups:
            if freqs[i] >= hz:
                size = g
        starts.append(i)
        i += size
    return np.asarray(starts, dtype=np.intp)


@functools.lru_cache(maxsize=16)
def _merge_runs(settings: FeatureSettings) -> tuple[tuple[int, int, int, int], ...] | None:
    """``settings.merge`` as runs of equal groups: ``(first kept bin, size, groups, first output bin)``."""
    starts = _merge_starts(settings)
    if starts is None:
        return None
    sizes = np.diff(np.append(starts, _kept_bins(settings).stop - _kept_bins(settings).start))
    runs, g = [], 0
    while g < len(starts):
        h = g
        while h + 1 < len(starts) and sizes[h + 1] == sizes[g]:
            h += 1
        runs.append((int(starts[g]), int(sizes[g]), h - g + 1, g))
        g = h + 1
    return tuple(runs)


def _merge(mag: np.ndarray, runs) -> np.ndarray:
    """Sum groups of adjacent bins (columns of ``mag``, shape (frames, kept bins)) run by run."""
    n_out = runs[-1][2] + runs[-1][3]
    out = np.empty((mag.shape[0], n_out), dtype=mag.dtype)
    for first, size, count, o in runs:
        seg = mag[:, first:first + size * count].reshape(len(mag), count, size)
        target = out[:, o:o + count]
        target[:] = seg[:, :, 0]
        for k in range(1, size):  # left to right
            target += seg[:, :, k]
    return out


@functools.lru_cache(maxsize=16)
def logfreq_filterbank(settings: FeatureSettings) -> np.ndarray:
    """Semitone-spaced triangular filterbank over the kept STFT bins.

    Returns
    -------
    fb : np.ndarray [shape=(n_bands, n_kept_stft_bins)], float32
        Band centres are ``bins_per_semitone`` per semitone from ``fmin`` to ``fmax``. Each
        triangle spans its neighbours' centres but at least one STFT bin spacing, so low bands
        are never empty.
    """
    freqs = stft_frequencies(settings)[_kept_bins(settings)]
    midi_lo = 69 + 12 * np.log2(max(settings.fmin, 1.0) / 440.0)
    midi_hi = 69 + 12 * np.log2(settings.fmax / 440.0)
    step = 1.0 / settings.bins_per_semitone
    centres_midi = np.arange(midi_lo, midi_hi + 1e-9, step)
    centres = 440.0 * 2.0 ** ((centres_midi - 69) / 12)
    df = settings.sample_rate / settings.n_fft
    lower = 440.0 * 2.0 ** ((centres_midi - step - 69) / 12)
    upper = 440.0 * 2.0 ** ((centres_midi + step - 69) / 12)
    fb = np.zeros((len(centres), len(freqs)), dtype=np.float64)
    for b, (lo, c, hi) in enumerate(zip(lower, centres, upper)):
        left = max(c - lo, df)
        right = max(hi - c, df)
        rising = 1.0 - (c - freqs) / left
        falling = 1.0 - (freqs - c) / right
        fb[b] = np.clip(np.where(freqs <= c, rising, falling), 0.0, None)
    return fb.astype(np.float32)


@functools.lru_cache(maxsize=16)
def mel_filterbank(settings: FeatureSettings) -> np.ndarray:
    """Slaney-style mel filterbank (librosa) over the kept STFT bins.

    Returns
    -------
    fb : np.ndarray [shape=(mel_bands, n_kept_stft_bins)], float32
        ``settings.mel_bands`` triangles between ``fmin`` and ``fmax``, area-normalised.
    """
    import librosa

    fb = librosa.filters.mel(sr=settings.sample_rate, n_fft=settings.n_fft, n_mels=settings.mel_bands,
                             fmin=settings.fmin, fmax=settings.fmax, dtype=np.float32)
    return np.ascontiguousarray(fb[:, _kept_bins(settings)])


def _filterbank(settings: FeatureSettings) -> np.ndarray | None:
    """The band filterbank of the ``'logfreq'`` or ``'mel'`` front end; None for ``'stft'``."""
    if settings.frontend == "logfreq":
        return logfreq_filterbank(settings)
    if settings.frontend == "mel":
        return mel_filterbank(settings)
    return None


def frequencies(settings: FeatureSettings) -> np.ndarray:
    """Centre frequency in Hz of every feature bin (rows of V).

    Returns
    -------
    np.ndarray [shape=(n_bins,)], float64
    """
    if settings.frontend == "stft":
        freqs = stft_frequencies(settings)[_kept_bins(settings)]
        starts = _merge_starts(settings)
        if starts is None:
            return freqs
        return np.add.reduceat(freqs, starts) / np.diff(np.append(starts, len(freqs)))
    if settings.frontend == "mel":
        import librosa

        return librosa.mel_frequencies(settings.mel_bands + 2, fmin=settings.fmin, fmax=settings.fmax)[1:-1]
    midi_lo = 69 + 12 * np.log2(max(settings.fmin, 1.0) / 440.0)
    midi_hi = 69 + 12 * np.log2(settings.fmax / 440.0)
    centres_midi = np.arange(midi_lo, midi_hi + 1e-9, 1.0 / settings.bins_per_semitone)
    return 440.0 * 2.0 ** ((centres_midi - 69) / 12)


def bandwidths(settings: FeatureSettings) -> np.ndarray:
    """Bandwidth in Hz that every feature bin (row of V) sums: one STFT bin spacing, times the
    group size of merged bins, or the STFT bins a log-frequency band weighs in.

    Returns
    -------
    np.ndarray [shape=(n_bins,)], float64
    """
    df = settings.sample_rate / settings.n_fft
    if settings.frontend == "stft":
        n_kept = _kept_bins(settings).stop - _kept_bins(settings).start
        starts = _merge_starts(settings)
        if starts is None:
            return np.full(n_kept, df)
        return np.diff(np.append(starts, n_kept)) * df
    return _filterbank(settings).sum(axis=1).astype(np.float64) * df


def n_frames_for(n_samples: int, settings: FeatureSettings) -> int:
    """Number of centred frames for a signal of ``n_samples`` samples."""
    return 1 + n_samples // settings.hop_length


def frame_times(n_frames: int, settings: FeatureSettings) -> np.ndarray:
    """Time in seconds of the centre of each frame, shape ``(n_frames,)``."""
    return np.arange(n_frames) / settings.frame_rate


def spectrogram(y: np.ndarray, settings: FeatureSettings) -> np.ndarray:
    """Nonnegative spectrogram of a mono signal.

    Parameters
    ----------
    y : np.ndarray [shape=(n_samples,)], float32
        Mono audio at ``settings.sample_rate``.
    settings : FeatureSettings

    Returns
    -------
    V : np.ndarray [shape=(n_bins, n_frames)], float32, C-contiguous
        ``n_frames = 1 + n_samples // hop_length``; ``n_bins = len(frequencies(settings))``.
    """
    y = np.asarray(y, dtype=np.float32)
    n_fft, hop = settings.n_fft, settings.hop_length
    n_frames = n_frames_for(len(y), settings)
    padded = np.zeros(len(y) + 2 * (n_fft // 2) + hop, dtype=np.float32)
    padded[n_fft // 2 : n_fft // 2 + len(y)] = y
    return spectrogram_of_padded(padded, settings, n_frames)


class SpectrogramStream:
    """Spectrogram of a signal that arrives in pieces; the frames equal :func:`spectrogram`'s.

    Feed consecutive pieces of the signal with :meth:`push`, which returns the frames that are
    complete so far; :meth:`finish` returns the remaining frames. Only ``n_fft`` samples of
    context are kept between pieces.

    Parameters
    ----------
    settings : FeatureSettings
    """

    def __init__(self, settings: FeatureSettings):
        self.settings = settings
        self._buffer = np.zeros(settings.n_fft // 2, dtype=np.float32)  # the centring pad
        self._n_samples = 0
        self._n_frames = 0  # frames emitted so far

    def _frames(self, buffer: np.ndarray, n: int) -> np.ndarray:
        s = self.settings
        if n <= 0:
            return np.zeros((len(frequencies(s)), 0), dtype=np.float32)
        # frame k of the buffer starts at sample k * hop: pass exactly the samples needed
        needed = (n - 1) * s.hop_length + s.n_fft
        chunk = buffer[:needed]
        return spectrogram_of_padded(chunk, s, n)

    def push(self, y: np.ndarray) -> np.ndarray:
        """Add samples; return the newly complete frames, shape ``(n_bins, n_new)``."""
        s = self.settings
        self._buffer = np.concatenate([self._buffer, np.asarray(y, dtype=np.float32)])
        self._n_samples += len(y)
        n = max(0, (len(self._buffer) - s.n_fft) // s.hop_length + 1)
        V = self._frames(self._buffer, n)
        self._buffer = self._buffer[n * s.hop_length:]
        self._n_frames += n
        return V

    def finish(self) -> np.ndarray:
        """Return the last frames (zero padded at the end like :func:`spectrogram`)."""
        s = self.settings
        total = n_frames_for(self._n_samples, s)
        n = total - self._n_frames
        buffer = np.concatenate([self._buffer, np.zeros(s.n_fft + s.hop_length, dtype=np.float32)])
        V = self._frames(buffer, n)
        self._n_frames = total
        return V


def spectrogram_of_padded(padded: np.ndarray, settings: FeatureSettings, n_frames: int) -> np.ndarray:
    """Spectrogram of ``n_frames`` frames starting at sample 0 of an already padded signal.

    Returns
    -------
    V : np.ndarray [shape=(n_bins, n_frames)], float32
    """
    from nmftrans.core.fft import rfft

    n_fft, hop = settings.n_fft, settings.hop_length
    frames = np.lib.stride_tricks.sliding_window_view(padded, n_fft)[::hop][:n_frames]
    win = _window(n_fft)
    keep = _kept_bins(settings)
    fb = _filterbank(settings)
    runs = _merge_runs(settings)
    n_bins = fb.shape[0] if fb is not None else (runs[-1][2] + runs[-1][3] if runs else keep.stop - keep.start)
    V = np.empty((n_bins, n_frames), dtype=np.float32)
    for start in range(0, n_frames, _CHUNK_FRAMES):
        stop = min(start + _CHUNK_FRAMES, n_frames)
        spec = rfft(frames[start:stop] * win, workers=thread_budget())[:, keep]
        mag = np.abs(spec).astype(np.float32, copy=False)
        if settings.power != 1.0:
            mag **= np.float32(settings.power)
        if runs:
            mag = _merge(mag, runs)
        V[:, start:stop] = mag.T if fb is None else fb @ mag.T
    return V
