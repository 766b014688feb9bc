"""Hear what the model explains: ``W·H`` turned back into sound with the recording's phase.

The model is the one ``transcribe`` fits (:func:`model_spectrogram`): the same solver blocks, each
with its own adapted W (response gain and free updates, unless ``--no-adapt``) and its final H.
For every frame and feature bin the model ``W·H`` (all templates, or only those of chosen pitches)
is compared with the recording's own feature ``V``; each STFT bin of the recording is scaled by
``(model / V) ** (1 / power)`` of its feature bin (undoing the magnitude compression; merged bins
share their group's ratio), keeping its phase, and the STFT is inverted by overlap-add. With all
templates this is the recording as the model hears it; with one pitch, that pitch's part of it.
Bins outside the features' ``fmin``-``fmax`` are silent.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from nmftrans.errors import NmftransError

# Largest gain applied to an STFT bin (where the recording is nearly silent the ratio is noise).
MAX_GAIN = 4.0


def _stft(y: np.ndarray, n_fft: int, hop: int, n_frames: int) -> tuple[np.ndarray, np.ndarray]:
    """Complex STFT with the features' framing (centred frames, zero padding), shape
    ``(n_frames, n_fft // 2 + 1)``, and the Hann window."""
    import scipy.fft

    padded = np.zeros(len(y) + 2 * (n_fft // 2) + hop, dtype=np.float32)
    padded[n_fft // 2: n_fft // 2 + len(y)] = y
    win = np.hanning(n_fft + 1)[:-1].astype(np.float32)
    frames = np.lib.stride_tricks.sliding_window_view(padded, n_fft)[::hop][:n_frames]
    return scipy.fft.rfft(frames * win, axis=1), win


def _istft(X: np.ndarray, win: np.ndarray, hop: int, n_samples: int) -> np.ndarray:
    """Overlap-add inverse of :func:`_stft` (window-squared normalisation), ``n_samples`` long."""
    import scipy.fft

    n_fft = len(win)
    frames = scipy.fft.irfft(X, n=n_fft, axis=1) * win
    total = (len(X) - 1) * hop + n_fft
    out = np.zeros(total)
    norm = np.zeros(total)
    for t in range(len(X)):
        out[t * hop: t * hop + n_fft] += frames[t]
        norm[t * hop: t * hop + n_fft] += win ** 2
    out /= np.maximum(norm, 1e-8)
    start = n_fft // 2
    y = out[start: start + n_samples]
    return np.pad(y, (0, n_samples - len(y))).astype(np.float32)


def bin_groups(settings) -> tuple[slice, np.ndarray]:
    """The STFT bins the features keep, and the feature bin of each of them.

    Returns
    -------
    kept : slice
        Into the ``n_fft // 2 + 1`` STFT bins.
    group : np.ndarray [shape=(n_kept,)], int
    """
    from nmftrans.core.features import _kept_bins, _merge_starts

    kept = _kept_bins(settings)
    n_kept = kept.stop - kept.start
    starts = _merge_starts(settings)
    if starts is None:
        return kept, np.arange(n_kept)
    return kept, np.searchsorted(starts, np.arange(n_kept), side="right") - 1


def model_spectrogram(y: np.ndarray, dictionary, solver=None, pitches=None) -> tuple[np.ndarray, np.ndarray]:
    """The model ``W·H`` that ``transcribe`` fits to a signal, and the signal's features.

    The features are cut into the solver's blocks as ``transcribe`` cuts them (``block_s``; a
    short rest joins the block before it) and each block is solved by
    :func:`nmftrans.transcribe.block_model`: its H, and W as adapted to that block. A deep
    dictionary's H comes from its unfolded layers, and its model is the last layer's templates
    (with the floor) times that H; with ``deep_adapt``, the block's adaptation follows from the
    last layer as ``transcribe`` does it.

    Parameters
    ----------
    y : np.ndarray [shape=(n_samples,)]
        Mono, at the dictionary's sample rate.
    dictionary : Dictionary
        Single-frame (convolutive ones are refused).
    solver : SolverParams, optional
    pitches : sequence of int, optional
        Only these pitches' templates (the floor left out); None: every template.

    Returns
    -------
    model, V : np.ndarray [shape=(n_bins, n_frames)], float32
    """
    from nmftrans.core.features import spectrogram
    from nmftrans.transcribe import SolverParams, _FrameBlocks
    from nmftrans.core.threads import blas_controller

    if dictionary.frames > 1:
        raise NmftransError("--resynth needs a single-frame dictionary (a convolutive model is not one W·H)")
    settings = dictionary.settings
    solver = SolverParams() if solver is None else solver
    V = spectrogram(np.asarray(y, dtype=np.float32), settings)
    n_comp = dictionary.W.shape[1]
    keep = None
    if pitches is not None:
        keep = np.flatnonzero(np.isin(dictionary.pitches, np.asarray(list(pitches), dtype=int)))
    blocks = _FrameBlocks(max(1, int(round(solver.block_s * settings.frame_rate)))).push(V, last=True)
    parts = []
    with blas_controller().limit(limits=1, user_api="blas"):  # as transcribe solves them
        for Vb, _, _ in blocks:
            W, H = _block_model(np.ascontiguousarray(Vb), dictionary, solver)
            parts.append(W @ H if keep is None else W[:, :n_comp][:, keep] @ H[keep])
    model = np.concatenate(parts, axis=1) if parts else np.zeros_like(V)
    return model.astype(np.float32, copy=False), V


def _block_model(V: np.ndarray, dictionary, solver) -> tuple[np.ndarray, np.ndarray]:
    """W and H of one solver block, as ``transcribe`` fits them (see :func:`model_spectrogram`;
    the deep branch mirrors ``transcribe._deep_block_activations``)."""
    from nmftrans.transcribe import _deep_solve, _last_layer, block_model, solver_templates

    if dictionary.deep_W is None:
        return block_model(V, dictionary, solver)
    H = _deep_solve(V, dictionary, solver)
    if dictionary.deep_adapt:
        return block_model(V, _last_layer(dictionary), solver, [H])
    floor = solver_templates(dictionary, solver)[:, dictionary.W.shape[1]:]
    return np.concatenate([dictionary.deep_W[-1], floor], axis=1), H


def model_signal(y: np.ndarray, dictionary, solver=None, pitches=None) -> np.ndarray:
    """The model's sound for a mono signal at the dictionary's sample rate.

    A signal tuned away from the dictionary's grid is brought to it first, as ``transcribe``
    brings it (``solver.tuning``; :func:`nmftrans.transcribe.input_tuning`), and the model's sound
    is taken back to the signal's own tuning and clock: it lines up with the recording.

    Parameters
    ----------
    y : np.ndarray [shape=(n_samples,)]
    dictionary : Dictionary
        With the ``stft`` front end, single-frame.
    solver : SolverParams, optional
        As ``transcribe`` uses it (the model is :func:`model_spectrogram`'s).
    pitches : sequence of int, optional
        Only these pitches' templates (the floor left out); None: every template.

    Returns
    -------
    y_model : np.ndarray [shape=(n_samples,)], float32
    """
    from nmftrans.core.tuning import pitch_ratio
    from nmftrans.io.audio import resample
    from nmftrans.transcribe import SolverParams, dictionary_tuning, input_tuning

    settings = dictionary.settings
    if settings.frontend != "stft":
        raise NmftransError("--resynth needs a dictionary with the stft front end (its bins can be inverted)")
    y = np.asarray(y, dtype=np.float32)
    if len(y) == 0:
        return y.copy()
    solver = SolverParams() if solver is None else solver
    sr = settings.sample_rate
    cents = input_tuning(y, sr, solver, dictionary_tuning(dictionary))
    if not cents:
        return _model_signal(y, dictionary, solver, pitches)
    ratio = pitch_ratio(cents)
    back = resample(_model_signal(resample(y, sr * ratio, sr), dictionary, solver, pitches), sr, sr * ratio)
    return np.pad(back[: len(y)], (0, max(0, len(y) - len(back))))


def _model_signal(y: np.ndarray, dictionary, solver, pitches) -> np.ndarray:
    """:func:`model_signal` of a signal on the dictionary's grid (no tuning correction)."""
    from nmftrans.core.features import n_frames_for

    settings = dictionary.settings
    n = n_frames_for(len(y), settings)
    model, V = model_spectrogram(y, dictionary, solver, pitches)
    V, model = V[:, :n], model[:, :n]
    ratio = np.where(V > 0, model / np.maximum(V, np.float32(1e-12)), 0.0)
    gain = np.minimum(ratio ** (1.0 / settings.power), MAX_GAIN)  # (n_bins, n_frames)
    X, win = _stft(y, settings.n_fft, settings.hop_length, n)
    kept, group = bin_groups(settings)
    Y = np.zeros_like(X)
    Y[:, kept] = X[:, kept] * gain[group].T
    return _istft(Y, win, settings.hop_length, len(y))


def write_model_audio(path: str | Path, audio: str | Path, dictionary, solver=None, pitches=None) -> None:
    """Read ``audio``, and write :func:`model_signal` of it to ``path`` (WAV, atomically)."""
    import soundfile as sf

    from nmftrans.io.audio import load_audio
    from nmftrans.io.fileio import atomic_path

    sr = dictionary.settings.sample_rate
    y_model = model_signal(load_audio(audio, sr), dictionary, solver, pitches)
    peak = float(np.abs(y_model).max()) if len(y_model) else 0.0
    if peak > 1.0:
        y_model = y_model / peak
    with atomic_path(path) as tmp:
        sf.write(str(tmp), y_model, sr, format="WAV", subtype="FLOAT")
