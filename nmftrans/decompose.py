"""Use case ``decompose``: how loud each known reference track is in a mix, and where in it.

The mix and every reference are read (:mod:`nmftrans.io.audio`) and analysed with the same mel
front end (:mod:`nmftrans.core.features`, power mel spectrogram, long windows with 75 % overlap);
the reference frames are the fixed templates and the activations are solved by
:mod:`nmftrans.core.mixsolve` (β-divergence MU, multi-resolution by default). Nothing here prints:
progress goes through a callback, results come back as a :class:`Decomposition`.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from nmftrans.errors import NmftransError, SettingError
from nmftrans.core.settings import FeatureSettings, check_beta

__all__ = ["DecomposeSettings", "Decomposition", "decompose", "decomposition_to_csv", "mel_spectrogram"]

GAIN_FOR_POSITION = 0.01  # positions are left empty below this gain
SILENCE = 1e-6  # mix frames below this times the references' median frame energy: no track


def _smooth(n: int) -> bool:
    """Whether ``n`` has no prime factor above 11 (lengths pocketfft transforms fast)."""
    for p in (2, 3, 5, 7, 11):
        while n % p == 0:
            n //= p
    return n == 1


@dataclass(frozen=True)
class DecomposeSettings:
    """Settings of ``decompose``, validated once for the CLI and the Python API.

    Attributes
    ----------
    beta : float
        β of the divergence (0: Itakura-Saito, 1: KL, 2: Euclidean), in [0, 2].
    window_s : float
        Base analysis window in seconds (>= 0.05); the hop is a quarter of it (75 % overlap).
    n_mels : int
        Mel bands.
    levels : int or None
        Multi-resolution levels (factors ``2^(levels-1) ... 1`` of the base window); 1 is the
        single-resolution solver; None chooses by size (:func:`nmftrans.core.mixsolve.default_levels`).
    sample_rate : int
        Analysis sample rate (every input is resampled to it).
    n_iter : int
        Most MU updates at the base level and the coarsest one.
    tol : float
        Relative change of a column's divergence over 5 updates below which it stops
        (1e-3 scored as 1e-4 on bench_decompose's mixes at 0.6x the updates).
    coarse_iter : int
        Most MU updates at the levels in between (50 scored as 200).
    """

    beta: float = 0.0
    window_s: float = 0.5
    n_mels: int = 256
    levels: int | None = None
    sample_rate: int = 22050
    n_iter: int = 200
    tol: float = 1e-3
    coarse_iter: int = 50

    def __post_init__(self) -> None:
        check_beta(self.beta)
        if not (0.05 <= self.window_s <= 10.0):
            raise SettingError("window_s", f"must be between 0.05 and 10 seconds, got {self.window_s:g}")
        if not (8 <= self.n_mels <= 1024):
            raise SettingError("n_mels", f"must be between 8 and 1024, got {self.n_mels}")
        if self.levels is not None and not (1 <= self.levels <= 8):
            raise SettingError("levels", f"must be between 1 and 8, got {self.levels}")
        if self.n_iter < 1 or self.coarse_iter < 1 or not (self.tol >= 0.0):
            raise NmftransError("n_iter and coarse_iter must be >= 1 and tol >= 0")

    @property
    def features(self) -> FeatureSettings:
        """The mel front end: power mel spectrogram, window ``window_s`` (rounded up to the next
        length that is a multiple of 4 and fast for the FFT), hop a quarter of it.

        For 0.5 s at 22.05 kHz: 11088 samples (2^4 3^2 7 11), hop 2772 (0.1257 s); 11026
        (2 37 149) took 4x as long to transform.
        """
        n_fft = int(round(self.window_s * self.sample_rate))
        while n_fft % 4 or not _smooth(n_fft):
            n_fft += 1
        return FeatureSettings(sample_rate=self.sample_rate, frontend="mel", n_fft=n_fft, hop_length=n_fft // 4,
                               fmin=0.0, fmax=self.sample_rate / 2, power=2.0, merge="", mel_bands=self.n_mels)


@dataclass
class Decomposition:
    """What ``decompose`` found.

    Attributes
    ----------
    times : np.ndarray [shape=(n_frames,)]
        Mix frame centres in seconds.
    tracks : list of str
        Reference names (file stems).
    gains : np.ndarray [shape=(n_tracks, n_frames)]
        Share of each track in each frame's activations (sum over tracks <= 1).
    positions : np.ndarray [shape=(n_tracks, n_frames)]
        Position in seconds of the track (NaN where its gain is below ``GAIN_FOR_POSITION``).
    levels : int
        Levels the solver used.
    stats : dict
        Timings (s) and the solver's per-level figures.
    """

    times: np.ndarray
    tracks: list
    gains: np.ndarray
    positions: np.ndarray
    levels: int
    stats: dict = field(default_factory=dict)


def mel_spectrogram(path: str | Path, features: FeatureSettings) -> np.ndarray:
    """Power mel spectrogram of an audio file, read block by block (memory flat in its length).

    Returns
    -------
    np.ndarray [shape=(n_mels, n_frames)], float32
    """
    from nmftrans.io.audio import stream_audio
    from nmftrans.core.features import SpectrogramStream

    stream = SpectrogramStream(features)
    parts = [stream.push(y) for y in stream_audio(path, features.sample_rate, block_s=60.0)]
    parts.append(stream.finish())
    return np.ascontiguousarray(np.concatenate(parts, axis=1))


def _names(paths: Sequence[Path]) -> list[str]:
    """File stems, made unique with ``#2``, ``#3`` where two references share one."""
    names, seen = [], {}
    for p in paths:
        stem = Path(p).stem
        seen[stem] = seen.get(stem, 0) + 1
        names.append(stem if seen[stem] == 1 else f"{stem}#{seen[stem]}")
    return names


def decompose(mix: str | Path, references: Sequence[str | Path], settings: DecomposeSettings | None = None, *,
              jobs: int = 1, progress: Callable[[str], None] | None = None) -> Decomposition:
    """Gains and positions of each reference track in a mix.

    Parameters
    ----------
    mix : path
    references : sequence of paths
        The tracks that may play in the mix (at least one).
    settings : DecomposeSettings, optional
    jobs : int
        Files read and analysed at once (threads; the result does not depend on it).
    progress : callable(str), optional
        Called with a short message at each stage.

    Returns
    -------
    Decomposition

    Raises
    ------
    NmftransError
        A missing or unreadable file (the message names it), no references.
    """
    from nmftrans.core import mixsolve

    settings = settings or DecomposeSettings()
    if not references:
        raise NmftransError("give at least one reference track")
    say = progress or (lambda message: None)
    features = settings.features
    paths = [Path(mix)] + [Path(r) for r in references]
    for p in paths:  # before any work: a missing file is a one-line error at once
        if not p.is_file():
            raise NmftransError(f"{p}: no such file" if not p.exists() else f"{p}: not a file")
    t0 = time.perf_counter()
    say(f"reading {len(paths)} files")
    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        specs = list(pool.map(lambda p: mel_spectrogram(p, features), paths))
    V, refs = specs[0], specs[1:]
    t_read = time.perf_counter() - t0
    # Itakura-Saito is scale invariant per bin: a floor relative to the mix's level keeps
    # digital silence (zero bins of V or of a template) from dominating the fit.
    floor = np.float32(1e-6 * max(float(V.mean(dtype=np.float64)), 1e-20))
    bounds = np.concatenate([[0], np.cumsum([r.shape[1] for r in refs])]).astype(np.int64)
    W = np.concatenate(refs, axis=1)
    del refs, specs
    # Mix frames 60 dB below the references' median frame hold no track: gain 0 there.
    ref_level = float(np.median(W.sum(axis=0, dtype=np.float64)))
    silent = V.sum(axis=0, dtype=np.float64) < SILENCE * ref_level
    V += floor
    W += floor
    levels = settings.levels or mixsolve.default_levels(V.shape[1], W.shape[1])
    say(f"solving: {V.shape[1]} mix frames, {W.shape[1]} template frames, {levels} level(s)")
    t1 = time.perf_counter()
    gains, pos, stats = mixsolve.solve_multires(V, W, bounds, levels=levels, beta=settings.beta,
                                                n_iter=settings.n_iter, tol=settings.tol,
                                                coarse_iter=settings.coarse_iter)
    t_solve = time.perf_counter() - t1
    seconds_per_frame = features.hop_length / features.sample_rate
    gains[:, silent] = 0.0
    positions = pos * seconds_per_frame
    positions[gains < GAIN_FOR_POSITION] = np.nan
    times = np.arange(V.shape[1]) * seconds_per_frame
    return Decomposition(times, _names(paths[1:]), gains, positions, levels,
                         {"read_s": t_read, "solve_s": t_solve, "levels": stats.levels})


def decomposition_to_csv(result: Decomposition) -> str:
    """``time,track,gain,position``: one row per frame and track (position empty below gain 0.01)."""
    lines = ["time,track,gain,position"]
    names = [n if not any(c in n for c in ',"\n') else '"' + n.replace('"', '""') + '"' for n in result.tracks]
    for n, t in enumerate(result.times):
        for i, name in enumerate(names):
            p = result.positions[i, n]
            lines.append(f"{t:.3f},{name},{result.gains[i, n]:.4f}," + ("" if np.isnan(p) else f"{p:.3f}"))
    return "\n".join(lines) + "\n"
