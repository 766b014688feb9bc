"""Reading audio: any format soundfile reads (wav, flac, ogg, mp3), librosa's loader as fallback.

Audio is returned as mono float32 at the requested sample rate. Problems a user can cause
(missing, empty, corrupt or non-finite audio) raise :class:`~nmftrans.errors.NmftransError`.
"""

from __future__ import annotations

import contextlib
import os
import warnings
from pathlib import Path

import numpy as np

from nmftrans.errors import NmftransError

AUDIO_SUFFIXES = (".wav", ".flac", ".ogg", ".oga", ".mp3", ".aiff", ".aif", ".aifc", ".m4a", ".opus")


@contextlib.contextmanager
def decoder_quiet(path: str | Path):
    """Silence what a C decoder prints on stderr itself (libmpg123 prints ``Note:``/``error:``
    lines about resyncing MP3 frames while it decodes them fine); decoding errors still come
    back as exceptions. Only for MP3; the file descriptor is restored afterwards."""
    if Path(path).suffix.lower() != ".mp3":
        yield
        return
    import sys

    with contextlib.suppress(Exception):
        sys.stderr.flush()
    try:
        saved = os.dup(2)
        devnull = os.open(os.devnull, os.O_WRONLY)
    except OSError:
        yield
        return
    os.dup2(devnull, 2)
    try:
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def _read_native(path: Path) -> tuple[np.ndarray, int]:
    """Read with soundfile, falling back to librosa/audioread for formats it lacks."""
    import soundfile as sf

    try:
        with decoder_quiet(path):
            data, sr = sf.read(str(path), dtype="float32", always_2d=True)
        return data, int(sr)
    except sf.LibsndfileError as exc:
        first_error = exc
    except RuntimeError as exc:  # older soundfile versions
        first_error = exc
    try:
        import librosa

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            data, sr = librosa.load(str(path), sr=None, mono=False, dtype=np.float32)
    except Exception:  # noqa: BLE001 - any decoder failure is a user-facing "cannot read"
        raise NmftransError(f"{path}: cannot read audio ({first_error})") from None
    data = np.atleast_2d(data).T
    return np.ascontiguousarray(data, dtype=np.float32), int(sr)


def _checked(path: str | Path) -> Path:
    """The path, if it names a non-empty file; otherwise a one-line error."""
    path = Path(path)
    if not path.exists():
        raise NmftransError(f"{path}: no such file")
    if path.is_dir():
        raise NmftransError(f"{path}: is a folder, not an audio file")
    if path.stat().st_size == 0:
        raise NmftransError(f"{path}: empty file")
    return path


def resample(y: np.ndarray, orig_sr: float, target_sr: float) -> np.ndarray:
    """Resample a mono signal with soxr (high quality).

    Parameters
    ----------
    y : np.ndarray [shape=(n_samples,)], float32
    orig_sr, target_sr : float
        Sample rates in Hz (any positive numbers: a signal resampled as if recorded at another
        rate than its own is transposed).

    Returns
    -------
    np.ndarray [shape=(round(n_samples * target_sr / orig_sr),)], float32
    """
    if orig_sr == target_sr:
        return y
    import soxr

    return soxr.resample(y, orig_sr, target_sr, quality="HQ").astype(np.float32, copy=False)


def load_audio(path: str | Path, sample_rate: int) -> np.ndarray:
    """Load an audio file as mono float32 at ``sample_rate``.

    Parameters
    ----------
    path : str or Path
        Any file soundfile or librosa can decode.
    sample_rate : int
        Target sample rate in Hz.

    Returns
    -------
    y : np.ndarray [shape=(n_samples,)], float32

    Raises
    ------
    NmftransError
        Missing or unreadable file, no samples, or NaN/inf samples.
    """
    path = _checked(path)
    data, sr = _read_native(path)
    if data.size == 0:
        raise NmftransError(f"{path}: the audio has no samples")
    if not np.isfinite(data).all():
        raise NmftransError(f"{path}: the audio contains NaN or infinite samples")
    y = data.mean(axis=1, dtype=np.float32) if data.shape[1] > 1 else data[:, 0]
    return resample(np.ascontiguousarray(y, dtype=np.float32), sr, sample_rate)


def audio_duration(path: str | Path) -> float:
    """Duration of an audio file in seconds, read from its header when possible."""
    import soundfile as sf

    try:
        with decoder_quiet(path):
            info = sf.info(str(path))
        return info.frames / info.samplerate
    except Exception:  # noqa: BLE001 - fall back to decoding
        import librosa

        try:
            return float(librosa.get_duration(path=str(path)))
        except Exception:  # noqa: BLE001
            raise NmftransError(f"{path}: cannot read audio") from None


def expected_samples(path: str | Path, sample_rate: int) -> int:
    """Length of the file's signal at ``sample_rate`` from its header (0 when unknown)."""
    import soundfile as sf

    try:
        with decoder_quiet(path):
            info = sf.info(str(path))
    except Exception:  # noqa: BLE001 - unreadable here: the reader reports it
        return 0
    if info.frames <= 0 or info.samplerate <= 0:
        return 0
    return int(np.ceil(info.frames * sample_rate / info.samplerate))


def truncation_warning(path: str | Path) -> str | None:
    """A one-line note when a WAV file's header promises more audio than the file holds.

    Decoders silently read what is there; this compares the ``data`` chunk's declared size with
    the bytes present. Returns None for complete files and for other formats.
    """
    import struct

    path = Path(path)
    try:
        size = path.stat().st_size
        with open(path, "rb") as fh:
            head = fh.read(12)
            if len(head) < 12 or head[:4] not in (b"RIFF", b"RIFX") or head[8:12] != b"WAVE":
                return None
            endian = "<" if head[:4] == b"RIFF" else ">"
            block_align = rate = 0
            while True:
                chunk = fh.read(8)
                if len(chunk) < 8:
                    return None
                cid, length = chunk[:4], struct.unpack(endian + "I", chunk[4:])[0]
                if cid == b"fmt ":
                    fmt = fh.read(min(length, 16))
                    if len(fmt) >= 14:
                        rate = struct.unpack(endian + "I", fmt[4:8])[0]
                        block_align = struct.unpack(endian + "H", fmt[12:14])[0]
                    fh.seek(length - len(fmt) + (length & 1), 1)
                elif cid == b"data":
                    present = size - fh.tell()
                    if length == 0xFFFFFFFF or length <= present or block_align <= 0:
                        return None  # complete, or a streamed header with no size (RF64-style)
                    promised, read = length // block_align, max(0, present) // block_align
                    seconds = (lambda n: f" ({n / rate:.2f} s)") if rate > 0 else (lambda n: "")
                    return (f"truncated file: the header promises {promised} samples{seconds(promised)}, "
                            f"only {read}{seconds(read)} are there; transcribing those")
                else:
                    fh.seek(length + (length & 1), 1)
    except (OSError, struct.error):
        return None


def stream_audio(path: str | Path, sample_rate: int, *, block_s: float = 30.0, pitch_ratio: float = 1.0):
    """Read an audio file block by block as mono float32 at ``sample_rate``.

    Memory stays bounded by the block length whatever the file's duration. Concatenating the
    blocks gives the same signal as :func:`load_audio` up to resampler rounding.

    Parameters
    ----------
    path : str or Path
    sample_rate : int
        Target sample rate in Hz.
    block_s : float
        Length of a block in seconds of input audio.
    pitch_ratio : float
        Resample as if the file's rate were this times its own: frequencies are multiplied by
        ``pitch_ratio`` and the signal lasts ``1 / pitch_ratio`` times as long (a tuning
        correction, :func:`nmftrans.core.tuning.pitch_ratio`). 1: as it is.

    Yields
    ------
    y : np.ndarray [shape=(n,)], float32
        Consecutive pieces of the signal (the last one may be shorter; none is empty).

    Raises
    ------
    NmftransError
        As :func:`load_audio`; NaN/inf samples are reported when their block is read.
    """
    import soundfile as sf

    path = _checked(path)
    try:
        with decoder_quiet(path):
            handle = sf.SoundFile(str(path))
    except Exception:  # noqa: BLE001 - not for soundfile: decode it whole with the fallback
        y = load_audio(path, sample_rate)
        yield y if pitch_ratio == 1.0 else resample(y, sample_rate * pitch_ratio, sample_rate)
        return
    import soxr

    with handle:
        sr = handle.samplerate
        rate = sr * pitch_ratio if pitch_ratio != 1.0 else sr
        stream = None if rate == sample_rate else soxr.ResampleStream(rate, sample_rate, 1, dtype="float32",
                                                                      quality="HQ")
        block = max(1, int(block_s * sr))
        total = 0
        while True:
            try:
                with decoder_quiet(path):
                    data = handle.read(block, dtype="float32", always_2d=True)
            except Exception as exc:  # noqa: BLE001 - truncated or corrupt data
                raise NmftransError(f"{path}: cannot read audio ({exc})") from None
            last = len(data) < block
            if len(data) and not np.isfinite(data).all():
                raise NmftransError(f"{path}: the audio contains NaN or infinite samples")
            total += len(data)
            y = data.mean(axis=1, dtype=np.float32) if data.shape[1] > 1 else np.ascontiguousarray(data[:, 0])
            if stream is not None:
                y = stream.resample_chunk(y, last=last)
            if len(y):
                yield y
            if last:
                break
        if total == 0:
            raise NmftransError(f"{path}: the audio has no samples")


def native_format(path: str | Path) -> tuple[int, int] | None:
    """(sample rate, samples per channel) of an audio file from its header; None when unknown."""
    import soundfile as sf

    try:
        with decoder_quiet(path):
            info = sf.info(str(path))
    except Exception:  # noqa: BLE001 - not readable here (moved, or a format only librosa decodes)
        return None
    if info.frames <= 0 or info.samplerate <= 0:
        return None
    return int(info.samplerate), int(info.frames)
