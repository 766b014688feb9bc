"""Tuning of a recording: how far (in cents) its notes lie from the equal-tempered A440 grid that
the templates are learned on, and how much of that ``transcribe`` corrects. Pure array code.

A recording played on an instrument tuned away from A440 (a guitar tuned by ear, an old tape that
runs fast, a piano tuned to another instrument) puts every partial beside its template's: with the
shipped dictionaries the development pieces lost onset F 0.931 → 0.906 / 0.866 / 0.730 at +10 /
+15 / +25 cents (0.923 / 0.860 at -10 / -25) and the real guitar track 0.709 → 0.510 at +25.

:func:`read_span` reads the spectral peaks of a stretch of signal with a long window (0.37 s:
2.7 Hz bins at 22.05 kHz), places each by parabolic interpolation of the log-magnitude, and takes
the magnitude-weighted circular mean of their deviations from the semitone grid (deviations wrap
at ±50 cents; noise peaks spread around the circle and weaken the mean instead of moving it). It
reads the rendered development pieces within 3 cents of the offset they were played at, from -25
to +25 cents.

A recording is read span by span (:data:`TUNING_S` seconds each, from its start, at most
:data:`MAX_TUNING_S` seconds; :class:`TuningReader`, :func:`estimate_tuning`), and its reading is
that of the first span with a clear tuning (:func:`is_clear`), so one that opens with silence,
talk, applause or room noise is read on its music. Such sounds read weak: 30 s of white, pink and
brown noise, hiss, clicks, applause-like bursts, keystrokes, a synthetic gliding voice, chirps,
an engine and a sine sweep gave strengths of 0.002-0.06 (a clear reading needs 0.2), every
development and real recording 0.44-0.86.

Steady peaks are not read: mains hum (50 Hz and harmonics) alone reads +32.5 cents at strength
0.87, and added 10 dB under the music of the development and real recordings it moved their
readings by up to +15 cents (the real guitar 9.4 -> 21.9, madmom 8.3 -> 23.5: corrections of an
instrument in tune). A bin (±1) that holds a peak in at least :data:`STEADY_SHARE` of a span's
windows (spans of :data:`STEADY_MIN_WINDOWS` windows or more) is left out: with the hum the
readings are now those without it (within 1 cent), and hum alone gives no reading. Held notes
lose a little of their weight; in-tune readings moved by at most 2.4 cents.

A dictionary stores the reading of its training audio (isolated notes: those in the middle of the
keyboard, :data:`REFERENCE_PITCHES`; labelled audio: each file's reading; :func:`mean_reading`)
as ``provenance["tuning_cents"]``; one
beyond the dead zone (an instrument tuned away from A440) is the grid recordings are compared with
and brought to, instead of A440 (:func:`relative_cents`).

In-tune instruments do not read 0. Partials that are not octaves of the fundamental lie off the
grid (the 5th 14 cents flat, the 7th 31), a piano's bass is tuned flat and its top sharp, and its
partials are stretched: the real pianos of the development data read +5 and +8, the real guitar
+9, a scale of a real piano's bass notes (A0-E2) alone -12. Correcting those readings lost notes on
every one of them (the templates carry their own piano's stretch). So :func:`tuning_correction`
leaves readings up to ``dead_cents`` alone and corrects fully from ``full_cents`` on, with a
linear ramp in between.
"""

from __future__ import annotations

import functools

import numpy as np

#: Seconds of signal in one span of the reading (spans are counted from the signal's start).
TUNING_S = 30.0
#: Seconds of the signal (from its start) that the reading looks at, at most: a recording whose
#: first clear span starts later is not corrected.
MAX_TUNING_S = 120.0
#: Readings up to this many cents either way are not corrected (in-tune instruments read up to ±10).
DEAD_CENTS = 12.0
#: Readings from this many cents on are corrected in full (a linear ramp from DEAD_CENTS).
FULL_CENTS = 24.0
#: Peaks in the same bin (±1) of at least this share of a span's windows are steady (mains hum, a
#: buzz) and not read, in spans of at least STEADY_MIN_WINDOWS windows.
STEADY_SHARE = 0.75
STEADY_MIN_WINDOWS = 8
#: A reading needs this many peaks and a circular-mean strength of at least MIN_STRENGTH.
MIN_PEAKS = 50
MIN_STRENGTH = 0.2


def read_span(y: np.ndarray, sample_rate: float, *, fmin: float = 80.0, fmax: float = 2000.0,
                    floor_db: float = 40.0) -> tuple[float, float, int]:
    """Deviation of the spectral peaks of a stretch of signal from the A440 equal-tempered grid.

    Parameters
    ----------
    y : np.ndarray [shape=(n_samples,)]
        Mono signal, read whole (0.37 s windows end to end; a shorter rest is left out).
    sample_rate : float
        Its sample rate in Hz.
    fmin, fmax : float
        Frequency range (Hz) of the peaks read.
    floor_db : float
        Peaks more than this many dB below their frame's largest magnitude in the range are not read.

    Returns
    -------
    cents : float
        The deviation in cents, in [-50, 50) (positive: sharp of A440); 0.0 without peaks.
    strength : float
        Length of the magnitude-weighted mean vector of the peaks' deviations on the circle
        (1: all peaks agree; near 0: no common tuning, e.g. noise).
    n_peaks : int
        Number of peaks read.
    """
    y = np.asarray(y, dtype=np.float32)
    n_fft = 1 << int(np.ceil(np.log2(0.37 * sample_rate)))  # 8192 at 22.05 kHz
    if y.ndim != 1 or len(y) < n_fft:
        return 0.0, 0.0, 0
    frames = np.lib.stride_tricks.sliding_window_view(y, n_fft)[::n_fft]  # 0.37 s frames, end to end
    k0 = max(1, int(np.ceil(fmin * n_fft / sample_rate)))
    k1 = min(n_fft // 2, int(fmax * n_fft / sample_rate))
    if k1 <= k0:
        return 0.0, 0.0, 0
    spectrum = np.fft.rfft(frames * _hann(n_fft), axis=1)[:, k0 - 1:k1 + 1]
    mag = np.abs(spectrum).astype(np.float32)  # (n_frames, k1 - k0 + 2): the band and a bin either side
    log_mag = np.log(mag + np.float32(1e-12))
    below, at, above = log_mag[:, :-2], log_mag[:, 1:-1], log_mag[:, 2:]
    weight = mag[:, 1:-1]
    loud = weight > mag.max(axis=1, keepdims=True) * np.float32(10 ** (-floor_db / 20))
    curvature = below - 2 * at + above
    peak = (at > below) & (at >= above) & loud & (curvature < 0)
    if len(peak) >= STEADY_MIN_WINDOWS:  # hum: a peak in the same bin (±1) of most windows
        near = peak.copy()
        near[:, 1:] |= peak[:, :-1]
        near[:, :-1] |= peak[:, 1:]
        peak &= ~(near.mean(axis=0) >= STEADY_SHARE)[None, :]
    if not peak.any():
        return 0.0, 0.0, 0
    offset = 0.5 * (below - above)[peak] / curvature[peak]  # parabolic vertex, within ±0.5 bin
    bins = np.nonzero(peak)[1] + k0 + offset
    deviation = 1200.0 * np.log2(bins.astype(np.float64) * sample_rate / n_fft / 440.0)
    cents, strength = _circular_mean(deviation, weight[peak].astype(np.float64))
    return cents, strength, int(peak.sum())


def is_clear(reading: tuple[float, float, int]) -> bool:
    """Whether a reading ``(cents, strength, n_peaks)`` shows a tuning: at least :data:`MIN_PEAKS`
    peaks and a strength of at least :data:`MIN_STRENGTH`."""
    return reading[2] >= MIN_PEAKS and reading[1] >= MIN_STRENGTH


class TuningReader:
    """The tuning reading of a signal that arrives in pieces (pure array code, no I/O).

    The signal is read in spans of :data:`TUNING_S` seconds from its start (:func:`read_span`),
    up to :data:`MAX_TUNING_S` seconds; the reading is that of the first span with a clear tuning
    (:func:`is_clear`), else the :func:`mean_reading` of the spans read (which is not clear either).
    :meth:`feed` returns it as soon as it is known; :meth:`finish`, at the end of the signal,
    reads what is left (a last, shorter span).

    Parameters
    ----------
    sample_rate : float
        The signal's sample rate in Hz.
    """

    def __init__(self, sample_rate: float):
        self.sample_rate = sample_rate
        self._span = max(1, int(round(TUNING_S * sample_rate)))
        self._left = max(1, int(round(MAX_TUNING_S * sample_rate)))  # samples still to be read
        self._pending: list[np.ndarray] = []
        self._n_pending = 0
        self._readings: list[tuple[float, float, int]] = []
        self.reading: tuple[float, float, int] | None = None

    def feed(self, y: np.ndarray) -> tuple[float, float, int] | None:
        """Take the next samples ``(n,)``; the reading once it is known, else None."""
        if self.reading is not None:
            return self.reading
        y = np.asarray(y, dtype=np.float32)[: self._left - self._n_pending]
        self._pending.append(y)
        self._n_pending += len(y)
        while self.reading is None and self._n_pending >= min(self._span, self._left):
            pending = np.concatenate(self._pending)
            size = min(self._span, self._left)
            self._pending, self._n_pending = [pending[size:]], len(pending) - size
            self._read(pending[:size])
        return self.reading

    def finish(self) -> tuple[float, float, int]:
        """The reading, reading the last span first if the signal ended before it was known."""
        if self.reading is None:
            if self._n_pending:
                self._read(np.concatenate(self._pending))
                self._pending, self._n_pending = [], 0
            if self.reading is None:
                self.reading = mean_reading(self._readings)
        return self.reading

    def _read(self, span: np.ndarray) -> None:
        reading = read_span(span, self.sample_rate)
        self._readings.append(reading)
        self._left -= len(span)
        if is_clear(reading):
            self.reading = reading
        elif self._left <= 0:
            self.reading = mean_reading(self._readings)


def estimate_tuning(y: np.ndarray, sample_rate: float) -> tuple[float, float, int]:
    """Deviation of a recording's tuning from the A440 equal-tempered grid: the reading
    (:func:`read_span`) of the first :data:`TUNING_S`-second span of its first
    :data:`MAX_TUNING_S` seconds that shows a clear tuning (:class:`TuningReader`).

    Parameters
    ----------
    y : np.ndarray [shape=(n_samples,)]
        Mono signal.
    sample_rate : float
        Its sample rate in Hz.

    Returns
    -------
    cents, strength, n_peaks
        As :func:`read_span` returns them (without a clear span: :func:`mean_reading` of the
        spans read).
    """
    reader = TuningReader(sample_rate)
    reader.feed(y)
    return reader.finish()


def _circular_mean(cents: np.ndarray, weights: np.ndarray) -> tuple[float, float]:
    """Weighted mean of deviations on the 100-cent circle, in [-50, 50), and the length of the mean
    vector (1: all agree); ``cents``, ``weights``: ``(n,)`` each, weights summing to more than 0."""
    mean = np.sum(weights * np.exp(2j * np.pi * cents / 100.0)) / np.sum(weights)
    value = float(np.angle(mean) * 100.0 / (2 * np.pi))
    return (value if value < 50.0 else value - 100.0), float(abs(mean))


@functools.lru_cache(maxsize=4)
def _hann(n: int) -> np.ndarray:
    return np.hanning(n).astype(np.float32)


def tuning_correction(cents: float, strength: float, n_peaks: int, *, dead_cents: float = DEAD_CENTS,
                      full_cents: float = FULL_CENTS) -> float:
    """Cents to correct for a reading of :func:`estimate_tuning`: 0 for a reading that is not clear
    (:func:`is_clear`) or one within ``dead_cents``;
    the reading itself from ``full_cents`` on; linear in between. Rounded to 0.1 cent."""
    size = abs(float(cents))
    if not is_clear((cents, strength, n_peaks)) or size <= dead_cents:
        return 0.0
    applied = size if size >= full_cents else full_cents * (size - dead_cents) / (full_cents - dead_cents)
    return round(float(np.copysign(applied, cents)), 1)


def pitch_ratio(cents: float) -> float:
    """The frequency ratio that takes a signal ``cents`` sharp back to the grid: ``2 ** (-cents / 1200)``.
    Resampled as if recorded at ``ratio`` times its rate, the signal lasts ``1 / ratio`` times as
    long; times read on it are multiplied by ``ratio``."""
    return float(2.0 ** (-float(cents) / 1200.0))


#: MIDI range of the isolated notes whose readings give a dictionary's own tuning (fundamentals
#: 131-1047 Hz: their low partials fill the reading's 80 Hz - 2 kHz; a piano's bass reads flat and
#: its top sharp, by its stretched tuning and partials).
REFERENCE_PITCHES = (48, 84)


def mean_reading(readings) -> tuple[float, float, int]:
    """One reading from several of :func:`estimate_tuning` (each ``(cents, strength, n_peaks)``):
    the circular mean of their cents weighted by ``strength * n_peaks``, the weighted mean
    strength and the total number of peaks; ``(0.0, 0.0, 0)`` for none."""
    readings = [r for r in readings if r[2] > 0]
    if not readings:
        return 0.0, 0.0, 0
    cents, strength, peaks = (np.array([r[k] for r in readings], dtype=np.float64) for k in range(3))
    weight = strength * peaks
    if weight.sum() <= 0:
        return 0.0, 0.0, int(peaks.sum())
    value, _ = _circular_mean(cents, weight)
    return value, float(np.sum(weight * strength) / weight.sum()), int(peaks.sum())


def relative_cents(reading: float, reference: float) -> float:
    """``reading - reference`` in cents, wrapped into [-50, 50)."""
    return float((reading - reference + 50.0) % 100.0 - 50.0)


def reference_tuning(stored) -> float:
    """The grid a dictionary's recordings are compared with, in cents from A440, from the reading
    it stored (``provenance["tuning_cents"]``, any JSON value or None): that reading where it is a
    number beyond :data:`DEAD_CENTS` (an instrument tuned away from A440; at most 50), else 0 (A440)."""
    if isinstance(stored, bool) or not isinstance(stored, (int, float)) or not -50 <= stored <= 50:
        return 0.0
    return float(stored) if abs(stored) > DEAD_CENTS else 0.0
