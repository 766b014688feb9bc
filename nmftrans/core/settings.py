"""Analysis settings: one object that travels from ``learn`` into the dictionary file and back.

``transcribe`` never re-types a default: it analyses audio with the settings stored in the
dictionary it uses.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass

from nmftrans.errors import NmftransError, SettingError

FRONTENDS = ("stft", "logfreq", "mel")
# β of the divergence accepted everywhere (learn, transcribe, evaluate, align): 2 Euclidean,
# 1 Kullback-Leibler, 0 Itakura-Saito and anything between.
BETA_RANGE = (0.0, 2.0)


def check_beta(beta: float) -> float:
    """``beta`` as a float if it lies in :data:`BETA_RANGE`, else a one-line NmftransError."""
    lo, hi = BETA_RANGE
    try:
        value = float(beta)
    except (TypeError, ValueError):
        raise SettingError("beta", f"must be a number between {lo:g} and {hi:g}, got {beta!r}") from None
    if not lo <= value <= hi:  # NaN fails too
        raise SettingError("beta", f"must be between {lo:g} (Itakura-Saito) and {hi:g} (Euclidean), got {beta:g}")
    return value


#: Largest spacing (octaves) of the solver's floor templates accepted anywhere.
FLOOR_OCTAVES_MAX = 100.0


def check_floor_octaves(value: float) -> float:
    """``value`` as a float if it is a floor-template spacing of 0 (none) to
    :data:`FLOOR_OCTAVES_MAX` octaves, else a one-line SettingError."""
    try:
        octaves = float(value)
    except (TypeError, ValueError):
        raise SettingError("floor_octaves", f"must be a number, got {value!r}") from None
    if not 0 <= octaves <= FLOOR_OCTAVES_MAX:  # NaN fails too
        raise SettingError("floor_octaves", f"must be between 0 (no floor templates) and "
                                            f"{FLOOR_OCTAVES_MAX:g}, got {octaves:g}")
    return octaves


@dataclass(frozen=True)
class FeatureSettings:
    """How audio becomes a nonnegative spectrogram.

    Attributes
    ----------
    sample_rate : int
        Analysis sample rate in Hz; audio is resampled to it.
    frontend : {'stft', 'logfreq', 'mel'}
        ``'stft'``: linear-frequency STFT magnitude, bins between ``fmin`` and ``fmax`` kept.
        ``'logfreq'``: the STFT magnitude pooled by a semitone-spaced triangular filterbank
        with ``bins_per_semitone`` bands per semitone between ``fmin`` and ``fmax``.
        ``'mel'``: the STFT magnitude (to ``power``) pooled by ``mel_bands`` Slaney mel bands
        between ``fmin`` and ``fmax`` (librosa's filterbank; ``decompose`` uses it).
    n_fft : int
        FFT size in samples (Hann window of the same length; any length, not only powers of 2).
    hop_length : int
        Hop in samples; the frame rate is ``sample_rate / hop_length``. The default 320
        (68.9 frames/s, 14.5 ms) scored as well as 256 (86.1 frames/s) on the development and
        real recordings (note onset and frame F; hops 288-352 all alike) at 20 % less work.
    fmin, fmax : float
        Frequency range in Hz that the features keep.
    bins_per_semitone : int
        Resolution of the ``'logfreq'`` front end.
    mel_bands : int
        Number of bands of the ``'mel'`` front end.
    power : float
        Exponent applied to the magnitude (1 = magnitude, 2 = power; the default 0.6
        compresses the dynamics, which helps the KL fit of soft notes and partials).
    merge : str
        ``'stft'`` front end: above each ``HZ``, sum the compressed STFT bins in groups of
        ``SIZE`` (``"HZ:SIZE,HZ:SIZE"``; ``""`` keeps every bin). The default
        ``"1500:2,3000:3"`` still leaves 4 or more bins per semitone everywhere and makes the
        solve about 1.7x cheaper (462 -> 269 bins). Settings stored without this key (older
        dictionaries) mean ``""``.
    """

    sample_rate: int = 22050
    frontend: str = "stft"
    n_fft: int = 2048
    hop_length: int = 320
    fmin: float = 25.0
    fmax: float = 5000.0
    bins_per_semitone: int = 3
    power: float = 0.6
    merge: str = "1500:2,3000:3"
    mel_bands: int = 128

    def __post_init__(self) -> None:
        if self.frontend not in FRONTENDS:
            raise NmftransError(f"unknown front end {self.frontend!r} (choose from {', '.join(FRONTENDS)})")
        if self.sample_rate <= 0 or self.n_fft <= 0 or self.hop_length <= 0:
            raise NmftransError("sample_rate, n_fft and hop_length must be positive")
        if not (0 <= self.fmin < self.fmax <= self.sample_rate / 2):
            raise NmftransError(
                f"need 0 <= fmin < fmax <= sample_rate/2, got fmin={self.fmin}, fmax={self.fmax}"
            )
        if self.bins_per_semitone < 1 or self.power <= 0:
            raise NmftransError("bins_per_semitone must be >= 1 and power > 0")
        if self.mel_bands < 1:
            raise NmftransError(f"mel_bands must be >= 1, got {self.mel_bands}")
        self.merge_groups()  # validates

    def merge_groups(self) -> tuple[tuple[float, int], ...]:
        """``merge`` parsed: ``((hz, size), ...)`` in increasing ``hz``."""
        groups = []
        for part in filter(None, (p.strip() for p in self.merge.split(","))):
            try:
                hz_text, size_text = part.split(":")
                hz, size = float(hz_text), int(size_text)
            except ValueError:
                raise NmftransError(f"merge must look like '1500:2,3000:3', got {self.merge!r}") from None
            if not (hz >= 0 and size >= 1) or (groups and hz <= groups[-1][0]):
                raise NmftransError(f"merge needs increasing frequencies and sizes >= 1, got {self.merge!r}")
            groups.append((hz, size))
        return tuple(groups)

    @property
    def window_s(self) -> float:
        """Length of the analysis window in seconds."""
        return self.n_fft / self.sample_rate

    @property
    def frame_rate(self) -> float:
        """Frames per second."""
        return self.sample_rate / self.hop_length

    def to_json(self) -> str:
        """Serialise to a JSON string (stored in the dictionary file). ``mel_bands`` is
        written only for the ``'mel'`` front end, so other settings serialise as before it existed."""
        raw = dataclasses.asdict(self)
        if self.frontend != "mel":
            del raw["mel_bands"]
        return json.dumps(raw, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> "FeatureSettings":
        """Parse settings written by :meth:`to_json`; unknown or ill-typed keys are an error."""
        try:
            raw = json.loads(text)
        except (TypeError, ValueError) as exc:
            raise NmftransError(f"feature settings are not valid JSON: {exc}") from None
        if not isinstance(raw, dict):
            raise NmftransError("feature settings must be a JSON object")
        fields = {f.name: f.type for f in dataclasses.fields(cls)}
        unknown = set(raw) - set(fields)
        if unknown:
            raise NmftransError(f"unknown feature settings: {', '.join(sorted(unknown))}")
        kwargs = {"merge": ""}  # settings written before bins were merged
        for name, value in raw.items():
            default = getattr(cls, name)
            if isinstance(default, str):
                ok = isinstance(value, str)
            elif isinstance(default, int):
                ok = isinstance(value, int) and not isinstance(value, bool)
            else:
                ok = isinstance(value, (int, float)) and not isinstance(value, bool)
            if not ok:
                raise NmftransError(f"feature setting {name!r} has the wrong type: {value!r}")
            kwargs[name] = type(default)(value)
        return cls(**kwargs)
