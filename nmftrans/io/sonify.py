"""Hear a transcription: additive synthesis of a note list from the dictionary's own templates.

Each note is a sum of sinusoids at the partials ``m * f0`` of its pitch; partial ``m`` gets the
amplitude of the template's peak near ``m * f0`` (within a semitone), so a piano dictionary
sounds piano-ish and a guitar one guitar-ish. A short attack, an exponential decay (upper partials
faster), a release after the offset, and velocity scaling make it sound like notes rather than
organ tones. :func:`sonify_notes` is pure; :func:`write_sonification` writes a WAV atomically.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from nmftrans.errors import NmftransError
from nmftrans.core.pitches import midi_to_hz

MAX_PARTIALS = 24
ATTACK_S = 0.005
RELEASE_S = 0.08
TAIL_S = 0.5
PEAK = 0.9


def partial_amplitudes(dictionary, pitch: int, n_partials: int = MAX_PARTIALS, nyquist: float | None = None) -> np.ndarray:
    """Relative amplitudes (max 1) of partials ``1..n`` of ``pitch`` read from the dictionary.

    The pitch's templates are summed; partial ``m`` takes the largest template value within a
    semitone of ``m * f0``. Partials above the features' ``fmax`` (or ``nyquist``) are 0. A pitch
    the dictionary lacks gets ``1/m``.
    """
    from nmftrans.core.features import frequencies

    settings = dictionary.settings
    f0 = float(midi_to_hz(pitch))
    top = min(settings.fmax, nyquist or settings.sample_rate / 2)
    m = np.arange(1, n_partials + 1)
    fm = m * f0
    columns = np.flatnonzero(np.asarray(dictionary.pitches) == pitch)
    if len(columns) == 0:
        amps = 1.0 / m
    else:
        W = np.asarray(dictionary.W, dtype=np.float64)
        template = (W if W.ndim == 2 else W.sum(axis=2))[:, columns].sum(axis=1)  # 3-D: frames summed
        freqs = frequencies(settings)
        amps = np.zeros(n_partials)
        for k, f in enumerate(fm):
            if f > top:
                break
            near = (freqs >= f * 2 ** (-1 / 12)) & (freqs <= f * 2 ** (1 / 12))
            amps[k] = template[near].max() if near.any() else template[np.abs(freqs - f).argmin()]
    amps = np.where(fm < top, amps, 0.0)
    peak = amps.max()
    return amps / peak if peak > 0 else amps


def sonify_notes(notes: np.ndarray, dictionary, sample_rate: int | None = None, *, duration: float | None = None) -> np.ndarray:
    """Render a note list to a mono signal with the dictionary's partial amplitudes.

    Parameters
    ----------
    notes : np.ndarray [shape=(n_notes, 4)]
        Onset (s), offset (s), MIDI pitch, velocity (1-127).
    dictionary : Dictionary
    sample_rate : int, optional
        Defaults to the dictionary's analysis sample rate.
    duration : float, optional
        Length in seconds; default: the last offset plus half a second.

    Returns
    -------
    y : np.ndarray [shape=(n_samples,)], float32
        Peak at most 0.9 (scaled down only if the mix would exceed it).
    """
    parts = list(_mix_blocks(notes, dictionary, int(sample_rate or dictionary.settings.sample_rate), duration))
    y = parts[0] if len(parts) == 1 else np.concatenate(parts)
    y *= _scale(max(_peak(part) for part in parts))
    return y


# Samples mixed at once (1 MiB of float32): memory does not grow with the file's length.
MIX_BLOCK = 1 << 18


def _peak(y: np.ndarray) -> float:
    return max(float(y.max()), -float(y.min()))  # no |y| copy


def _scale(peak: float) -> np.float32:
    """The factor that brings a mix's peak down to ``PEAK`` (1 when it is below)."""
    return np.float32(PEAK / peak) if peak > PEAK else np.float32(1.0)


def _mix_blocks(notes: np.ndarray, dictionary, sr: int, duration: float | None, block: int | None = None):
    """Yield the unscaled mix of :func:`sonify_notes` as consecutive float32 blocks of ``block`` samples
    (default :data:`MIX_BLOCK`); their concatenation is the whole mix, sample for sample."""
    block = block or MIX_BLOCK
    notes = np.asarray(notes, dtype=np.float64).reshape(-1, 4)
    if duration is None:
        duration = (notes[:, 1].max() + TAIL_S) if len(notes) else TAIL_S
    total = max(1, int(round(duration * sr)))
    # Each note's span in samples; every note of a pitch plays the start of one tone of that
    # pitch (rendered once, as long as its longest note), so the cost is one pass of additive
    # synthesis per pitch plus a multiply-add per note sample, whatever the number of notes.
    spans = []
    for onset, offset, pitch, velocity in notes:
        start = int(round(max(onset, 0.0) * sr))
        held = max(offset - onset, 0.02)
        n = min(int(round((held + RELEASE_S) * sr)), total - start)
        spans.append((int(round(pitch)), start, held, n, velocity))
    longest: dict[int, int] = {}
    for p, _, _, n, _ in spans:
        longest[p] = max(longest.get(p, 0), n)
    tones = {p: _pitch_tone(dictionary, p, n, sr) for p, n in longest.items() if n > 0}
    starts = np.array([span[1] for span in spans], dtype=np.int64)
    ends = starts + np.array([span[3] for span in spans], dtype=np.int64)
    for b0 in range(0, total, block):
        b1 = min(total, b0 + block)
        y = np.zeros(b1 - b0, dtype=np.float32)
        for k in np.flatnonzero((starts < b1) & (ends > b0)):  # in list order: the same sums as one pass
            p, start, held, n, velocity = spans[k]
            tone = tones.get(p)
            if n <= 0 or tone is None:
                continue
            i0, i1 = max(b0, start) - start, min(b1, start + n) - start  # the part of the note in this block
            t = np.arange(i0, i1, dtype=np.float32) / sr
            env = np.minimum(1.0, t / ATTACK_S) * np.clip((held + RELEASE_S - t) / RELEASE_S, 0.0, 1.0)
            gain = (np.clip(velocity, 1, 127) / 127.0) ** 1.5 * tone.gain
            y[start + i0 - b0:start + i1 - b0] += (gain * env * tone.samples[i0:i1]).astype(np.float32, copy=False)
        yield y


class _Tone:
    """One pitch's decaying partials (float32 samples) and the gain its notes share."""

    def __init__(self, samples: np.ndarray, gain: float):
        self.samples = samples
        self.gain = gain


def _pitch_tone(dictionary, p: int, n: int, sr: int, chunk: int = 1 << 15) -> _Tone | None:
    """``n`` samples of pitch ``p``: the dictionary's partial amplitudes, upper partials decaying
    faster, low notes ringing longer; rendered in chunks so memory stays ``O(n)``."""
    amps = partial_amplitudes(dictionary, p, nyquist=sr / 2 - 100)
    partials = np.flatnonzero(amps > 1e-3)
    if len(partials) == 0:
        return None
    f0 = float(midi_to_hz(p))
    m = partials + 1
    decay_s = float(np.clip(2.5 * 2 ** (-(p - 60) / 24), 0.4, 6.0))  # low notes ring longer
    phases = np.random.default_rng(p).uniform(0, 2 * np.pi, len(m))
    out = np.empty(n, dtype=np.float32)
    for k in range(0, n, chunk):
        t = np.arange(k, min(n, k + chunk)) / sr
        env = np.exp(-t[:, None] * np.sqrt(m)[None, :] / decay_s)
        out[k:k + len(t)] = (np.sin(2 * np.pi * f0 * t[:, None] * m[None, :] + phases) * env) @ amps[partials]
    return _Tone(out, 0.5 / max(np.abs(amps).sum(), 1.0))


def write_sonification(path: str | Path, notes: np.ndarray, dictionary, *, sample_rate: int | None = None,
                       n_samples: int | None = None) -> None:
    """Sonify ``notes`` and write the audio (``.wav``/``.flac``/``.ogg`` by suffix) atomically.

    The notes are rendered at the dictionary's sample rate. ``sample_rate`` and ``n_samples``
    (the input's, so that the sonification lines up with it sample for sample): the mix lasts
    ``n_samples / sample_rate`` seconds, is resampled to ``sample_rate`` at the end (soxr, as
    the audio is read) and written with exactly ``n_samples`` samples. Without them: the
    dictionary's rate and the notes' length (the last offset plus :data:`TAIL_S`).
    """
    import soundfile as sf

    from nmftrans.io.fileio import atomic_path

    path = Path(path)
    fmt = {".wav": "WAV", ".flac": "FLAC", ".ogg": "OGG"}.get(path.suffix.lower())
    if fmt is None:
        raise NmftransError(f"{path}: unknown audio format {path.suffix!r} (use .wav, .flac or .ogg)")
    import tempfile

    sr = int(dictionary.settings.sample_rate)
    out_sr = int(sample_rate or sr)
    duration = n_samples / out_sr if n_samples else None
    # Two passes over a float32 scratch file, so that only one block of the mix is in memory:
    # the first mixes and finds the peak, the second scales, resamples and encodes (same samples
    # as sonify_notes before resampling).
    peak = 0.0
    with tempfile.TemporaryFile(prefix="nmftrans-sonify-") as scratch:
        for y in _mix_blocks(notes, dictionary, sr, duration):
            peak = max(peak, _peak(y))
            scratch.write(y.data)
        size = scratch.tell() // 4
        scratch.seek(0)
        scale = _scale(peak)
        want = n_samples if n_samples else int(round(size * out_sr / sr))
        stream = None
        if out_sr != sr:
            import soxr

            stream = soxr.ResampleStream(sr, out_sr, 1, dtype="float32", quality="HQ")
        written = 0
        with atomic_path(path, overwrite=True) as tmp:
            with sf.SoundFile(str(tmp), "w", out_sr, 1, format=fmt, subtype="PCM_16" if fmt != "OGG" else None) as out:
                for i in range(0, size, MIX_BLOCK):
                    y = np.empty(min(MIX_BLOCK, size - i), dtype=np.float32)
                    scratch.readinto(memoryview(y).cast("B"))
                    y *= scale
                    if stream is not None:
                        y = stream.resample_chunk(y, last=i + MIX_BLOCK >= size)
                    y = y[: max(0, want - written)]
                    out.write(y)
                    written += len(y)
                if written < want:  # the resampler's last samples: pad to the exact length
                    out.write(np.zeros(want - written, dtype=np.float32))
