"""Use case ``transcribe``: audio -> activations H (W fixed) -> notes.

The audio is analysed with the dictionary's own feature settings, so a dictionary always meets
features like the ones it was learned from.
"""

from __future__ import annotations

import collections
import functools
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from nmftrans.core import kernels
from nmftrans.io.audio import expected_samples, stream_audio, truncation_warning
from nmftrans.io.dictionary import ROLE_ATTACK, Dictionary
from nmftrans.core.features import SpectrogramStream, bandwidths, frequencies, n_frames_for
from nmftrans.core.levels import frame_gains, frame_levels
from nmftrans.core.steady import steady_floors, subtract_floors, subtract_steady
from nmftrans.core.standout import frame_carpet
from nmftrans.core.attacks import FluxMeter
from nmftrans.core.motion import MotionMeter, gated_notes, motion_gate
from nmftrans.core.notes import NoteParams, activations_to_notes, pitch_activations
from nmftrans.core.notearrays import empty_notes
from nmftrans.core.settings import FeatureSettings
from nmftrans.core.templates import floor_templates, response_gains
from nmftrans.core.threads import blas_controller

# Below this RMS (about -80 dBFS) the input counts as silence.
SILENCE_RMS = 1e-4
# Seconds of audio read and analysed at a time; the solver's blocks are cut from the frames, so
# the result does not depend on it (only memory does). Each read of a FLAC file costs soundfile
# a few seeks: 1 s reads took 10 % longer than 5 s reads.
READ_S = 2.0
# Frames updated at once by the MU loop (its temporaries are n_bins x this many floats); the
# columns of H are independent with W fixed, so this bounds memory without changing H.
SOLVE_COLUMNS = 512
# With ``keep_activations=False``, the spilled activations are read back and tracked this many
# bytes of rows at a time (the pitches are tracked independently then).
SPILL_READ_BYTES = 4 << 20
#: Octaves between the floor templates when neither the solver nor the dictionary sets them.
DEFAULT_FLOOR_OCTAVES = 2.0


@dataclass(frozen=True)
class SolverParams:
    """How H is solved.

    Attributes
    ----------
    n_iter : int
        MU iterations. A fixed count (``tol = 0``) keeps every frame's solution independent of
        the others, so block-wise solving gives exactly the whole-file result.
    tol : float
        Relative-decrease stop of the divergence (0: run all ``n_iter``).
    beta : float or None
        β of the divergence; None uses the dictionary's.
    l1 : float
        L1 weight on H; templates have unit sum, so it is in units of V. With β = 1 and
        unit-sum templates it only scales H by ``1 / (1 + l1)``, which the per-file
        normalisation cancels: it does not change the notes (kept for other β).
    block_s : float
        Seconds of audio solved as one block (bounds memory for long files), cut from the
        frames: the result does not depend on how the audio arrives.
    refine_w_iter, refine_h_iter : int
        Semi-supervised adaptation to the input: after solving H, ``refine_w_iter`` MU updates of W
        starting from the dictionary's (after the response gain of ``eq_octaves``; columns
        renormalised), then ``refine_h_iter`` more H updates. Done per block, so results depend
        on ``block_s`` (not on how the file is read). 0 disables it.
    refine_stride : int
        The adaptation (response gain, W updates) sees every ``refine_stride``-th frame of the
        block (the statistics of a template need far fewer frames than H does).
    eq_octaves : float
        Width (Gaussian standard deviation, in octaves) of the smooth response gain that first
        brings the dictionary's pitch templates to the recording's colour (instrument,
        microphone, room; :func:`nmftrans.core.templates.response_gains`, at most ×4 either way),
        followed by ``refine_h_iter`` H updates on the adaptation frames. 0: no gain.
    gamma : float or None
        Exponent of the H step (see :func:`nmftrans.core.kernels.update_activations`); None: the
        monotone one of β. The default 1.75 over-relaxes the KL step: 12 + 6 updates reached the
        transcriptions that 20 + 10 plain ones gave (``scripts/eval_accuracy.py``).
    attack_weight : float
        Weight of the attack templates in a pitch's activation (sustain templates weigh 1).
    floor_octaves : float or None
        Octaves between the fixed broadband "floor" templates solved alongside the dictionary
        (:func:`nmftrans.core.templates.floor_templates`; 2 gives 4 templates over the default
        25 Hz - 5 kHz). They take noise, hammer knocks and room sound, which pitch templates
        would otherwise explain as quiet spurious notes; they are not adapted to the input and
        not tracked. 0: none. None (default): the dictionary's ``floor_octaves`` (the shipped
        guitar's 0.25), else :data:`DEFAULT_FLOOR_OCTAVES`.
    threads : int
        Blocks solved at once, each on one core with single-threaded BLAS (coarse-grained, so
        a busy machine degrades gracefully). 0: one per core this process may use. The result
        does not depend on it.
    sparsity : float
        After the first solve, each frame's activations below ``sparsity`` times that frame's
        largest are set to zero; the refinement keeps them at zero (MU never moves a zero), so
        H ends with exact zeros. 0: none. In [0, 1).
    tuning : float or None
        How the input is brought to the templates' A440 grid before it is analysed
        (:func:`transcribe_file`, :func:`transcribe_signal`): None (default) reads its tuning from
        its first span of 30 s that shows one (:func:`nmftrans.core.tuning.estimate_tuning`) and corrects readings
        beyond ±12 cents (:func:`~nmftrans.core.tuning.tuning_correction`); a number: the input is
        this many cents sharp (negative: flat) of the dictionary's tuning, corrected as given (0:
        never corrected). The dictionary's tuning is A440 unless the audio it was learned from read
        more than 12 cents away (:func:`dictionary_tuning`). In [-50, 50]. Note times
        stay those of the input.

    Values are validated here, once for the CLI and the Python API (β in
    :data:`~nmftrans.core.settings.BETA_RANGE`, shared with ``learn``).
    """

    n_iter: int = 12
    tol: float = 0.0
    beta: float | None = None
    l1: float = 0.0
    block_s: float = 15.0
    refine_w_iter: int = 3
    refine_h_iter: int = 7
    refine_stride: int = 5
    eq_octaves: float = 0.5
    gamma: float | None = 1.75
    attack_weight: float = 0.5
    floor_octaves: float | None = None
    threads: int = 0
    sparsity: float = 0.0
    tuning: float | None = None

    def __post_init__(self) -> None:
        from nmftrans.core.settings import check_beta, check_floor_octaves
        from nmftrans.errors import SettingError

        if self.beta is not None:
            check_beta(self.beta)
        if not (0 <= self.tol < 1):
            raise SettingError("tol", f"must be at least 0 and below 1 (a relative decrease), got {self.tol:g}")
        if not (0 <= self.sparsity < 1):
            raise SettingError("sparsity", f"must be at least 0 and below 1 (a fraction of each frame's "
                                f"largest activation), got {self.sparsity:g}")
        if not (0 <= self.l1 < float("inf")):
            raise SettingError("l1", f"must be 0 or more, got {self.l1:g}")
        if self.n_iter < 1:
            raise SettingError("n_iter", f"must be at least 1, got {self.n_iter}")
        if self.refine_w_iter < 0 or self.refine_h_iter < 0:
            raise SettingError("refine_w_iter", "and refine_h_iter must be 0 or more")
        if self.floor_octaves is not None:
            check_floor_octaves(self.floor_octaves)
        if not 0 <= self.eq_octaves <= 100:
            raise SettingError("eq_octaves", f"must be between 0 (no response gain) and 100, got {self.eq_octaves}")
        if self.tuning is not None:
            try:
                cents = float(self.tuning)
            except (TypeError, ValueError):
                cents = float("nan")
            if not -50 <= cents <= 50:  # NaN fails too
                raise SettingError("tuning", f"must be between -50 and 50 cents (or left unset: read from the "
                                             f"input), got {self.tuning!r}")


@dataclass
class Transcription:
    """Result of transcribing one signal.

    Attributes
    ----------
    notes : np.ndarray [shape=(n_notes, 4)]
    activations : np.ndarray [shape=(n_pitches, n_frames)], float32, or None
        Per-pitch activations normalised frame by frame (:mod:`nmftrans.core.levels`): what the tracker saw.
        None when the transcription was made with ``keep_activations=False``.
    pitches : np.ndarray [shape=(n_pitches,)]
    frame_rate : float
    warnings : list of str
    pooled_from : int
        When made with ``pool_columns``: the number of frames the (max-pooled) activations
        summarise; else 0.
    tuning_cents : float
        The tuning correction applied to the input (``SolverParams.tuning``), in cents sharp of
        the dictionary's tuning (:func:`dictionary_tuning`: A440 unless its own notes were tuned
        elsewhere); 0: none. With one, ``frame_rate`` counts frames per second of the input, not of
        the analysis.
    """

    notes: np.ndarray
    activations: np.ndarray | None
    pitches: np.ndarray
    frame_rate: float
    warnings: list[str] = field(default_factory=list)
    pooled_from: int = 0
    tuning_cents: float = 0.0


def floor_spacing(dictionary: Dictionary, solver: SolverParams = SolverParams()) -> float:
    """Octaves between the floor templates solved with ``dictionary``: the solver's ``floor_octaves``,
    else the dictionary's, else :data:`DEFAULT_FLOOR_OCTAVES` (0: no floor templates)."""
    if solver.floor_octaves is not None:
        return float(solver.floor_octaves)
    if dictionary.floor_octaves is not None:
        return float(dictionary.floor_octaves)
    return DEFAULT_FLOOR_OCTAVES


def solver_templates(dictionary: Dictionary, solver: SolverParams = SolverParams()) -> np.ndarray:
    """The dictionary's W with the solver's floor templates appended after its columns.

    Returns
    -------
    W : np.ndarray [shape=(n_bins, n_components + n_floor)], float32
        For a convolutive dictionary ``(n_bins, n_components + n_floor, n_frames)``, the floor
        templates one frame long.
    """
    octaves = floor_spacing(dictionary, solver)
    if octaves <= 0:
        return dictionary.W
    floor = _floor(dictionary.settings, octaves)
    if dictionary.frames > 1:
        from nmftrans.core.convolutive import with_frames

        floor = with_frames(floor, dictionary.frames)
    return np.ascontiguousarray(np.concatenate([dictionary.W, floor], axis=1))


@functools.lru_cache(maxsize=8)
def _floor(settings, octaves: float) -> np.ndarray:
    """The floor templates for these feature settings (cached, read-only), ``(n_bins, n_floor)``."""
    floor = floor_templates(frequencies(settings), bandwidths(settings), spacing_octaves=octaves)
    floor.flags.writeable = False
    return floor


def solve_activations(V: np.ndarray, W: np.ndarray, beta: float, solver: SolverParams = SolverParams()) -> np.ndarray:
    """Solve ``V ≈ W H`` for H with ``W`` fixed.

    Each frame starts from the same split of its own energy over the templates, so the result
    scales with the input level and does not depend on other frames.

    Parameters
    ----------
    V : np.ndarray [shape=(n_bins, n_frames)]
    W : np.ndarray [shape=(n_bins, n_templates)]
        Unit-sum columns (:func:`solver_templates`).
    beta : float

    Returns
    -------
    H : np.ndarray [shape=(n_templates, n_frames)], float32
    """
    scale = W.sum(axis=0).mean()
    H = np.empty((W.shape[1], V.shape[1]), dtype=np.float32)
    H[:] = V.sum(axis=0) / (W.shape[1] * scale) + np.float32(1e-9)
    _update_columns(V, W, H, beta, solver.n_iter, solver.tol, solver)
    return H


def _update_columns(V: np.ndarray, W: np.ndarray, H: np.ndarray, beta: float, n_iter: int, tol: float,
                    solver: SolverParams) -> None:
    """``n_iter`` MU updates of H (in place), ``SOLVE_COLUMNS`` frames at a time."""
    for start in range(0, V.shape[1], SOLVE_COLUMNS):
        cols = slice(start, start + SOLVE_COLUMNS)
        H[:, cols], _ = kernels.update_activations(V[:, cols], W, H[:, cols], beta=beta, n_iter=n_iter, tol=tol,
                                                   l1=solver.l1, gamma=_gamma(beta, solver))


def _gamma(beta: float, solver: SolverParams) -> float | None:
    """The solver's step exponent, or None (the monotone one) where it does not apply."""
    return solver.gamma if solver.gamma is not None and beta == 1.0 else None


class _Columns:
    """A growable (rows, n) float32 array filled block by block."""

    def __init__(self, rows: int, capacity: int = 1024):
        self.data = np.zeros((rows, max(1, capacity)), dtype=np.float32)
        self.n = 0

    def append(self, block: np.ndarray) -> None:
        need = self.n + block.shape[1]
        if need > self.data.shape[1]:
            grown = np.zeros((self.data.shape[0], max(need, 2 * self.data.shape[1])), dtype=np.float32)
            grown[:, : self.n] = self.data[:, : self.n]
            self.data = grown
        self.data[:, self.n:need] = block
        self.n = need

    def array(self) -> np.ndarray:
        return self.data if self.n == self.data.shape[1] else self.data[:, : self.n]


def _first_solve(V: np.ndarray, dictionary: Dictionary, solver: SolverParams) -> np.ndarray:
    """The first solve of H (:func:`solve_activations` with the solver's templates) on frames ``V``."""
    if dictionary.deep_W is not None:
        return _deep_solve(V, dictionary, solver)
    beta = dictionary.beta if solver.beta is None else solver.beta
    return solve_activations(V, solver_templates(dictionary, solver), beta, solver)


def _block_activations(V: np.ndarray, dictionary: Dictionary, solver: SolverParams, early=()) -> np.ndarray:
    """Per-pitch activations of one block: solve H, adapt W to the block, solve H further.

    The adaptation runs on every ``refine_stride``-th frame: a smooth response gain on the pitch
    templates (``eq_octaves``), H updated on those frames, then free MU updates of W
    (``refine_w_iter``); the whole block's H then continues from the first solve with the
    adapted W. The floor templates take part in every solve but are neither adapted nor tracked.

    ``early``: futures (or arrays) of the first solve of the block's leading ``SOLVE_COLUMNS``-frame
    chunks, computed while the block was still being read; the first solve is per frame, on the
    same chunks, so the result is the same.
    """
    if dictionary.frames > 1:  # direct calls only: _BlockSolver adds the neighbours' frames
        return _conv_block_activations(V, dictionary, solver)
    if dictionary.deep_W is not None:
        return _deep_block_activations(V, dictionary, solver, early)
    W, H = block_model(V, dictionary, solver, early)
    n_comp = dictionary.W.shape[1]
    weights = np.where(dictionary.roles == ROLE_ATTACK, np.float32(solver.attack_weight), np.float32(1.0))
    A, _ = pitch_activations(H[:n_comp], dictionary.pitches, weights)
    return A


def block_model(V: np.ndarray, dictionary: Dictionary, solver: SolverParams, early=()) -> tuple[np.ndarray, np.ndarray]:
    """The model ``W @ H`` of one block as :func:`_block_activations` solves it (single-frame,
    not deep dictionaries): W adapted to the block (response gain, free updates; the floor
    templates appended, unchanged) and the block's final H.

    Returns
    -------
    W : np.ndarray [shape=(n_bins, n_components + n_floor)], float32
    H : np.ndarray [shape=(n_components + n_floor, n_frames)], float32
    """
    beta = dictionary.beta if solver.beta is None else solver.beta
    W = solver_templates(dictionary, solver)
    n_comp = dictionary.W.shape[1]
    parts = [part.result() if hasattr(part, "result") else part for part in early]
    done = sum(part.shape[1] for part in parts)
    H = solve_activations(V[:, done:], W, beta, solver)
    if parts:
        H = np.concatenate(parts + [H], axis=1)
    if solver.sparsity > 0:  # zeros the refinement keeps
        H[H < np.float32(solver.sparsity) * H.max(axis=0, keepdims=True)] = 0.0
    adapt_gain = solver.eq_octaves > 0
    if (adapt_gain or solver.refine_w_iter > 0) and V.shape[1] > 0:
        step = max(1, solver.refine_stride)
        Vs, Hs = np.ascontiguousarray(V[:, ::step]), H[:, ::step].copy()
        if adapt_gain:
            gains = response_gains(Vs, W @ Hs, frequencies(dictionary.settings), width_octaves=solver.eq_octaves)
            W = W.copy()
            W[:, :n_comp] *= gains[:, None]
            W[:, :n_comp] /= np.maximum(W[:, :n_comp].sum(axis=0, keepdims=True), np.float32(1e-12))
            _update_columns(Vs, W, Hs, beta, solver.refine_h_iter, 0.0, solver)
        if solver.refine_w_iter > 0:
            W_fit, _ = kernels.update_dictionary(Vs, W, Hs, beta=beta, n_iter=solver.refine_w_iter, tol=0.0)
            W_fit /= np.maximum(W_fit.sum(axis=0, keepdims=True), np.float32(1e-12))
            W_fit[:, n_comp:] = W[:, n_comp:]  # the floor stays as it is
            W = W_fit
        _update_columns(V, np.ascontiguousarray(W), H, beta, solver.refine_h_iter, 0.0, solver)
    return W, H


def conv_context(frames: int) -> int:
    """Frames of each neighbouring block solved along with a block of a convolutive dictionary."""
    return 2 * frames


def _conv_block_activations(V: np.ndarray, dictionary: Dictionary, solver: SolverParams, left: int = 0,
                            right: int = 0) -> np.ndarray:
    """:func:`_block_activations` for a convolutive dictionary (``dictionary.frames > 1``).

    ``V`` holds the block with ``left`` and ``right`` frames of its neighbours around it
    (:meth:`_BlockSolver._conv_submit`); the activations of the block's own frames are returned.

    H is solved with the convolutive MU (:func:`nmftrans.core.kernels.update_activations_conv`) on the
    whole block at once (its frames are coupled); the floor templates are one frame long. The
    adaptation works on the stacked templates (:func:`nmftrans.core.kernels.stack_patches`) against
    the shifted activations of every ``refine_stride``-th frame: the response gain on the pitch
    templates, then ``refine_w_iter`` MU updates of every frame of every pitch template (each
    template renormalised to unit sum); then ``refine_h_iter`` more H updates on the block.
    """
    beta = dictionary.beta if solver.beta is None else solver.beta
    gamma = _gamma(beta, solver)
    W = solver_templates(dictionary, solver)
    n_comp = dictionary.W.shape[1]
    H = np.empty((W.shape[1], V.shape[1]), dtype=np.float32)
    H[:] = V.sum(axis=0) / W.shape[1] + np.float32(1e-9)  # unit-sum templates: as solve_activations
    if V.shape[1] == 0:
        return np.zeros((len(dictionary.pitch_set), 0), dtype=np.float32)
    H = kernels.update_activations_conv(V, W, H, beta=beta, n_iter=solver.n_iter, l1=solver.l1, gamma=gamma)
    if solver.eq_octaves > 0 or solver.refine_w_iter > 0:
        S, comp, shift = kernels.stack_patches(W)
        pitch_cols = comp < n_comp
        step = max(1, solver.refine_stride)
        Vs = np.ascontiguousarray(V[:, ::step])
        Hs = np.ascontiguousarray(kernels.shifted_activations(H, comp, shift)[:, ::step])

        def unit_templates(S):
            sums = np.bincount(comp, weights=S.sum(axis=0, dtype=np.float64), minlength=W.shape[1])
            return S / np.maximum(sums[comp], 1e-12).astype(np.float32)

        if solver.eq_octaves > 0:
            gains = response_gains(Vs, S @ Hs, frequencies(dictionary.settings), width_octaves=solver.eq_octaves)
            S[:, pitch_cols] *= gains[:, None]
            S = unit_templates(S)
        if solver.refine_w_iter > 0:
            S_fit, _ = kernels.update_dictionary(Vs, S, Hs, beta=beta, n_iter=solver.refine_w_iter, tol=0.0)
            S_fit[:, ~pitch_cols] = S[:, ~pitch_cols]  # the floor stays as it is
            S = unit_templates(S_fit)
        W = np.zeros_like(W)
        W[:, comp, shift] = S
        H = kernels.update_activations_conv(V, W, H, beta=beta, n_iter=solver.refine_h_iter, l1=solver.l1,
                                            gamma=gamma)
    # what each template explains in each frame: its activation spread over the template's frames
    # by their energy (a sustain template's is its activation), so that the tracker meets an
    # activation shaped like the one-frame model's rather than a spike at each onset
    S, comp, shift = kernels.stack_patches(W[:, :n_comp])
    E = np.zeros((n_comp, H.shape[1]), dtype=np.float32)
    np.add.at(E, comp, kernels.shifted_activations(H[:n_comp], comp, shift) * S.sum(axis=0)[:, None])
    weights = np.where(dictionary.roles == ROLE_ATTACK, np.float32(solver.attack_weight), np.float32(1.0))
    A, _ = pitch_activations(E[:, left:H.shape[1] - right], dictionary.pitches, weights)
    return A


def _deep_solve(V: np.ndarray, dictionary: Dictionary, solver: SolverParams) -> np.ndarray:
    """H ``(n_templates, n_frames)`` from a deep dictionary's K unfolded MU layers (each layer's
    templates followed by the solver's floor), ``SOLVE_COLUMNS`` frames at a time."""
    from nmftrans.core.deep import unfolded_solve
    from nmftrans.errors import NmftransError

    if solver.beta is not None and solver.beta != 1.0:
        raise NmftransError(f"a deep dictionary's layers are KL updates: beta {solver.beta:g} is not possible")
    floor = solver_templates(dictionary, solver)[:, dictionary.W.shape[1]:]
    Ws = np.ascontiguousarray(np.concatenate(
        [dictionary.deep_W, np.broadcast_to(floor, (len(dictionary.deep_W),) + floor.shape)], axis=2))
    gamma = _gamma(1.0, solver) or 1.0
    H = np.empty((Ws.shape[2], V.shape[1]), dtype=np.float32)
    for start in range(0, V.shape[1], SOLVE_COLUMNS):
        cols = slice(start, start + SOLVE_COLUMNS)
        H[:, cols] = unfolded_solve(V[:, cols], Ws, gamma)
    return H


def _deep_block_activations(V: np.ndarray, dictionary: Dictionary, solver: SolverParams, early=()) -> np.ndarray:
    """:func:`_block_activations` for a deep dictionary: the unfolded layers replace the solve and
    the per-block adaptation (every frame is independent); with ``deep_adapt`` they replace the
    first solve only, and the adaptation follows from the last layer's templates."""
    parts = [part.result() if hasattr(part, "result") else part for part in early]
    done = sum(part.shape[1] for part in parts)
    H = np.concatenate(parts + [_deep_solve(V[:, done:], dictionary, solver)], axis=1)
    if dictionary.deep_adapt:
        return _block_activations(V, _last_layer(dictionary), solver, [H])
    weights = np.where(dictionary.roles == ROLE_ATTACK, np.float32(solver.attack_weight), np.float32(1.0))
    A, _ = pitch_activations(H[:dictionary.W.shape[1]], dictionary.pitches, weights)
    return A


def _last_layer(dictionary: Dictionary) -> Dictionary:
    """The deep dictionary's last layer as an ordinary dictionary (columns of unit sum)."""
    import dataclasses

    W = dictionary.deep_W[-1]
    return dataclasses.replace(dictionary, W=W / np.maximum(W.sum(axis=0, keepdims=True), np.float32(1e-12)),
                               deep_W=None, deep_adapt=False)


def notes_from_activations(activations: np.ndarray, pitches: np.ndarray, frame_rate: float,
                           note_params: NoteParams = NoteParams(), window_s: float = 0.0) -> np.ndarray:
    """Re-extract notes from saved activations (``Transcription.activations``) with new settings.

    Parameters
    ----------
    activations : np.ndarray [shape=(n_pitches, n_frames)]
        As stored in :attr:`Transcription.activations`.
    pitches : np.ndarray [shape=(n_pitches,)]
    frame_rate : float
    note_params : NoteParams
    window_s : float
        Analysis window in seconds (``FeatureSettings.window_s``; sets the offset correction).

    Returns
    -------
    notes : np.ndarray [shape=(n_notes, 4)]
    """
    return activations_to_notes(activations, pitches, frame_rate, note_params, window_s)


def track_activations(activations: np.ndarray, pitches: np.ndarray, settings: FeatureSettings,
                      note_params: NoteParams = NoteParams()) -> np.ndarray:
    """Notes from saved activations as a transcription tracks them, minus what needs the audio.

    The tracker (:func:`notes_from_activations`), the soft chord notes
    (:mod:`nmftrans.core.chord_notes`) and the harmonic ghosts (:mod:`nmftrans.core.ghosts`), which
    read the activations only; the motion gate, the re-strike splits and the attack check of
    re-onsets (:mod:`nmftrans.core.attacks`) read the spectrogram and are not applied.

    Parameters
    ----------
    activations : np.ndarray [shape=(n_pitches, n_frames)]
        As stored in :attr:`Transcription.activations` (normalised frame by frame).
    pitches : np.ndarray [shape=(n_pitches,)]
    settings : FeatureSettings
        The features the activations were solved on (frame rate, window, bins).
    note_params : NoteParams

    Returns
    -------
    notes : np.ndarray [shape=(n_notes, 4)]
    """
    A = np.asarray(activations, dtype=np.float32)
    notes = notes_from_activations(A, pitches, settings.frame_rate, note_params, settings.window_s)
    notes = _add_chord_notes(notes, [_chord_candidates(A, np.asarray(pitches), settings, note_params)], note_params)
    notes = _drop_ghosts(notes, lambda i: A[i], np.asarray(pitches), settings, note_params)
    notes = _drop_flat(notes, lambda i: A[i], lambda: frame_carpet(A), np.asarray(pitches), settings, note_params)
    return _merge_reonsets(notes, lambda i: A[i], np.asarray(pitches), settings, note_params)


class _SpilledColumns:
    """Per-pitch activations written block by block to an anonymous temporary file.

    Keeps only each frame's peak and carpet (:func:`nmftrans.core.levels.frame_levels`) and the
    standout carpet (:func:`nmftrans.core.standout.frame_carpet`) in memory, and
    reads the activations back a few pitch rows at a time (``SPILL_READ_BYTES``), so memory
    does not grow with the file's length.
    """

    def __init__(self):
        import tempfile

        self.file = tempfile.TemporaryFile(prefix="nmftrans-activations-")
        self.blocks: list[tuple[int, int]] = []  # (byte offset, frames) of each block
        self.levels = _Columns(3)  # peak, carpet, standout carpet
        self.n = 0

    def append(self, block: np.ndarray) -> None:
        block = np.ascontiguousarray(block, dtype=np.float32)
        self.blocks.append((self.file.tell(), block.shape[1]))
        self.file.write(block.data)
        self.levels.append(np.stack(frame_levels(block) + (frame_carpet(block),)))
        self.n += block.shape[1]

    def rows(self, lo: int, hi: int) -> np.ndarray:
        """Rows ``lo:hi`` of the whole-file activations (read after the last append), one read
        per block."""
        out = np.empty((hi - lo, self.n), dtype=np.float32)
        pos = 0
        for offset, n in self.blocks:
            part = np.empty((hi - lo, n), dtype=np.float32)
            self.file.seek(offset + 4 * lo * n)
            self.file.readinto(memoryview(part).cast("B"))
            out[:, pos:pos + n] = part
            pos += n
        return out

    def close(self) -> None:
        self.file.close()


def _finish(A, sum_sq: float, n_samples: int, dictionary: Dictionary, note_params: NoteParams,
            pool_columns: int = 0, gate=None, rises=None, flux=None) -> Transcription:
    """Silence check, normalisation (:mod:`nmftrans.core.levels`) and note tracking of the collected activations.

    ``A`` is the whole-file array, or :class:`_SpilledColumns` (then tracked a few rows at a
    time, and ``activations`` is None; the notes are the same). ``gate``: the motion gate
    (:func:`nmftrans.core.motion.motion_gate`), applied after the level gains
    (:func:`nmftrans.core.motion.gated_notes`). ``rises``: the
    :class:`~nmftrans.core.onset_channel.PartialRiseStream` of the input (None: no re-strike
    splits); the notes the gate keeps are split at the re-strikes of ringing notes. Tracking runs
    on this thread, after the last block. ``pool_columns`` > 0: ``activations`` are max-pooled to
    at most that many columns (:func:`nmftrans.core.pooling.max_pool_columns`), also when spilled.
    """
    from nmftrans.core.pooling import max_pool_columns

    settings = dictionary.settings
    pitch_set = dictionary.pitch_set
    rms = np.sqrt(sum_sq / max(n_samples, 1))
    spilled = isinstance(A, _SpilledColumns)
    n_frames = A.n if spilled else A.shape[1]
    if rms < SILENCE_RMS:
        A = None if spilled else np.zeros_like(A)
        if pool_columns:
            A = max_pool_columns(np.zeros((len(pitch_set), n_frames), dtype=np.float32), pool_columns)
        return Transcription(empty_notes(), A, pitch_set, settings.frame_rate, ["the audio is silent: no notes"],
                             n_frames if pool_columns else 0)

    def track(rows: np.ndarray, pitches: np.ndarray) -> np.ndarray:
        return notes_from_activations(rows, pitches, settings.frame_rate, note_params, settings.window_s)

    def steady(rows: np.ndarray) -> np.ndarray:  # the steady floors off, in place (nmftrans.core.steady)
        return subtract_steady(rows, settings.frame_rate, note_params.steady_factor, note_params.steady_percentile)

    if not spilled:
        # A is ours: no second whole-file array. The gains and the standout carpet are read before
        # the steady floors come off, as the spilled path reads them while the blocks arrive.
        gain = frame_gains(*frame_levels(A), settings.frame_rate)
        carpet = frame_carpet(A)
        np.multiply(steady(A), gain[None, :], out=A)
        notes = track(A, pitch_set) if gate is None else gated_notes(A, 0, pitch_set, gate, track,
                                                                     settings.frame_rate)
        carpet *= gain if gate is None else gain * gate.gate  # as the rows were scaled (gated in place)
        notes = _add_chord_notes(notes, [_chord_candidates(A, pitch_set, settings, note_params)], note_params)
        if rises is not None:
            candidates = [_restrike_candidates(A, pitch_set, settings, note_params, rises)]
            notes = _split_restrikes(notes, candidates, rises, pitch_set, settings, note_params)
        notes = _drop_ghosts(notes, lambda i: A[i], pitch_set, settings, note_params)
        notes = _drop_flat(notes, lambda i: A[i], lambda: carpet, pitch_set, settings, note_params)
        notes = _merge_reonsets(notes, lambda i: A[i], pitch_set, settings, note_params, flux)
        if pool_columns:
            return Transcription(notes, max_pool_columns(A, pool_columns), pitch_set, settings.frame_rate,
                                 pooled_from=n_frames)
        return Transcription(notes, A, pitch_set, settings.frame_rate)
    levels = A.levels.array()
    gain = frame_gains(levels[0], levels[1], settings.frame_rate)
    group = max(1, SPILL_READ_BYTES // (4 * max(A.n, 1)))  # rows read and tracked at once
    floors = {}  # each row's steady floors (a few floats a row), found when its group is read

    def steady_rows(lo: int, hi: int) -> np.ndarray:  # rows lo:hi, their steady floors off
        rows = A.rows(lo, hi)
        if note_params.steady_factor > 0:
            if any(i not in floors for i in range(lo, hi)):
                floors.update(zip(range(lo, hi), steady_floors(rows, settings.frame_rate, note_params.steady_percentile)))
            subtract_floors(rows, np.stack([floors[i] for i in range(lo, hi)]), settings.frame_rate,
                            note_params.steady_factor)
        return rows

    parts, pooled, candidates, chords = [], [], [], []
    for lo in range(0, len(pitch_set), group):
        hi = min(lo + group, len(pitch_set))
        pad = int(lo > 0)  # with the rows below and above: the motion gate's per-note check reads them
        rows = steady_rows(lo - pad, min(hi + 1, len(pitch_set)))
        np.multiply(rows, gain[None, :], out=rows)
        own = rows[pad:pad + hi - lo]
        parts.append(track(own, pitch_set[lo:hi]) if gate is None else gated_notes(
            rows, pad, pitch_set[lo:hi], gate, track, settings.frame_rate))
        if rises is not None:
            candidates.append(_restrike_candidates(own, pitch_set[lo:hi], settings, note_params, rises))
        chords.append(_chord_candidates(own, pitch_set[lo:hi], settings, note_params))
        if pool_columns:
            pooled.append(max_pool_columns(own, pool_columns))
    notes = np.concatenate(parts) if parts else empty_notes()
    notes = notes[np.lexsort((notes[:, 2], notes[:, 0]))] if len(notes) else empty_notes()
    notes = _add_chord_notes(notes, chords, note_params)
    notes = _split_restrikes(notes, candidates, rises, pitch_set, settings, note_params)
    seen = gain if gate is None else gain * gate.gate  # what the whole-file path's rules read (gated in place)

    def row(i: int) -> np.ndarray:
        return steady_rows(i, i + 1)[0] * seen

    notes = _drop_ghosts(notes, row, pitch_set, settings, note_params)
    notes = _drop_flat(notes, row, lambda: levels[2] * seen, pitch_set, settings, note_params)
    notes = _merge_reonsets(notes, row, pitch_set, settings, note_params, flux)
    if pool_columns:
        return Transcription(notes, np.concatenate(pooled), pitch_set, settings.frame_rate, pooled_from=A.n)
    return Transcription(notes, None, pitch_set, settings.frame_rate)


def _chord_candidates(A: np.ndarray, pitch_set: np.ndarray, settings, note_params: NoteParams) -> np.ndarray:
    from nmftrans.core.chord_notes import chord_candidates
    from nmftrans.core.onset_channel import resolved_pitches

    if note_params.chord_ratio <= 0:
        return empty_notes()
    resolved = np.asarray(pitch_set)[resolved_pitches(
        frequencies(settings), pitch_set, min_spacing=settings.sample_rate / settings.n_fft)]
    if len(resolved) == 0:
        return empty_notes()
    return chord_candidates(A, pitch_set, settings.frame_rate, note_params, settings.window_s,
                            lowest=int(resolved.min()))


def _add_chord_notes(notes: np.ndarray, candidates, note_params: NoteParams) -> np.ndarray:
    """Notes plus the soft chord notes (:mod:`nmftrans.core.chord_notes`) among ``candidates``, the
    :func:`_chord_candidates` of each group of pitch rows; the same notes whole or spilled."""
    from nmftrans.core.chord_notes import add_chord_notes

    if note_params.chord_ratio <= 0:
        return notes
    candidates = np.concatenate(candidates) if candidates else empty_notes()
    return add_chord_notes(notes, candidates, note_params.chord_window_s, note_params.min_ioi_s)


def _drop_ghosts(notes: np.ndarray, row, pitch_set: np.ndarray, settings, note_params: NoteParams) -> np.ndarray:
    """Notes without the harmonic and semitone ghosts (:mod:`nmftrans.core.ghosts`); ``row(i)``: the
    normalised activations of pitch row ``i``, read only for the notes in question, one row at a
    time (the same notes whole or spilled)."""
    from nmftrans.core.ghosts import SEMITONES, drop_ghosts, ghost_pairs, sounding_pairs

    if len(notes) == 0:
        return notes
    found, ratios = [], []  # (pairs, whether the source is read at the ghost's peak frame), their ratio
    window = note_params.ghost_window_s
    if note_params.ghost_ratio > 0:
        found.append((ghost_pairs(notes, tuple(note_params.ghost_intervals), window), False))
        ratios.append(note_params.ghost_ratio)
    if note_params.semitone_ratio > 0:
        found.append((ghost_pairs(notes, SEMITONES, window), False))
        ratios.append(note_params.semitone_ratio)
    if note_params.semitone_sounding_ratio > 0:
        found.append((sounding_pairs(notes, SEMITONES, window), True))
        ratios.append(note_params.semitone_sounding_ratio)
    if not found or sum(len(p) for p, _ in found) == 0:
        return notes
    pairs = np.concatenate([p for p, _ in found])
    at_ghost = np.concatenate([np.full(len(p), flag) for p, flag in found])
    ratio = np.concatenate([np.full(len(p), r) for (p, _), r in zip(found, ratios)])
    # each note's onset-peak frame and peak, then the sounding sources at their ghost's frame
    involved = np.unique(np.concatenate([pairs[:, 0], pairs[~at_ghost, 1]]))
    peak_frame, peak = _onset_peaks(notes, involved, row, pitch_set, settings, note_params)
    index = {int(p): i for i, p in enumerate(pitch_set)}
    rows = notes[:, 2].astype(np.int64)
    source = peak[pairs[:, 1]]
    sounding = np.flatnonzero(at_ghost)
    for p in np.unique(rows[pairs[sounding, 1]]):
        mine = sounding[rows[pairs[sounding, 1]] == p]
        values = np.asarray(row(index[int(p)]), dtype=np.float32)
        source[mine] = values[peak_frame[pairs[mine, 0]]] if len(values) else 0.0
    return drop_ghosts(notes, pairs, peak[pairs[:, 0]], source, ratio)


def _merge_reonsets(notes: np.ndarray, row, pitch_set: np.ndarray, settings, note_params: NoteParams,
                    flux: np.ndarray | None = None) -> np.ndarray:
    """Notes with the weak re-onsets merged into the notes they interrupt (:mod:`nmftrans.core.reonsets`);
    ``row(i)``: the normalised activations of pitch row ``i``, read one row at a time, only for
    pitches with more than one note (the same notes whole or spilled); ``flux``: the input's
    per-frame spectral flux (:class:`nmftrans.core.attacks.FluxMeter`; None: no attack check)."""
    from nmftrans.core.attacks import attack_ratios
    from nmftrans.core.reonsets import merge_weak_reonsets

    if note_params.reonset_ratio <= 0 or len(notes) < 2:
        return notes
    pitches, counts = np.unique(notes[:, 2].astype(np.int64), return_counts=True)
    repeated = np.flatnonzero(np.isin(notes[:, 2], pitches[counts > 1]))
    _, peaks = _onset_peaks(notes, repeated, row, pitch_set, settings, note_params)
    struck = None
    if flux is not None and note_params.reonset_attack_ratio > 0 and len(flux):
        # the ratios of all the notes that may be re-onsets at once (one vectorised median: asked
        # one note at a time they cost a 180 s file 30-60 ms)
        ratios = np.full(len(notes), np.inf)
        ratios[repeated] = attack_ratios(flux, np.round(notes[repeated, 0] * settings.frame_rate).astype(np.int64))

        def struck(j: int) -> bool:
            return bool(ratios[j] >= note_params.reonset_attack_ratio)
    return merge_weak_reonsets(notes, peaks, note_params.reonset_ratio, note_params.ghost_window_s,
                               note_params.reonset_gap_s, struck)


def _onset_peaks(notes: np.ndarray, which: np.ndarray, row, pitch_set: np.ndarray, settings,
                 note_params: NoteParams) -> tuple[np.ndarray, np.ndarray]:
    """The onset-peak frame and value (:func:`nmftrans.core.ghosts.onset_peak_frames`, over
    ``peak_window_s``) of the notes ``which`` (indices), each pitch's row read once; ``(n_notes,)``
    each, 0 for the other notes."""
    from nmftrans.core.ghosts import onset_peak_frames

    index = {int(p): i for i, p in enumerate(pitch_set)}
    frames = max(1, int(round(note_params.peak_window_s * settings.frame_rate)))
    peak_frame = np.zeros(len(notes), dtype=np.int64)
    peak = np.zeros(len(notes))
    rows = notes[:, 2].astype(np.int64)
    for p in np.unique(rows[which]):
        mine = which[rows[which] == p]
        values = np.asarray(row(index[int(p)]), dtype=np.float32)
        peak_frame[mine] = onset_peak_frames(values, notes[mine, 0], settings.frame_rate, frames)
        peak[mine] = values[peak_frame[mine]] if len(values) else 0.0
    return peak_frame, peak


def _drop_flat(notes: np.ndarray, row, carpet, pitch_set: np.ndarray, settings, note_params: NoteParams) -> np.ndarray:
    """Notes without those that do not stand out of their frames, nor above either semitone
    neighbour (:mod:`nmftrans.core.standout`; the dictionary's top pitch by the one below it);
    ``row(i)``: the normalised activations of pitch row ``i`` (at most three rows in memory at a
    time); ``carpet()``: the normalised frames' standout carpet."""
    from nmftrans.core.ghosts import onset_peak_frames
    from nmftrans.core.standout import between_neighbours, standing_out

    ratio, neighbours = note_params.carpet_ratio, note_params.neighbour_ratio
    if (ratio <= 0 and neighbours <= 0) or len(notes) == 0:
        return notes
    frames = max(1, int(round(note_params.peak_window_s * settings.frame_rate)))
    index = {int(p): i for i, p in enumerate(pitch_set)}
    at = np.zeros(len(notes), dtype=np.int64)  # each note's onset-peak frame
    peaks, lower, upper = (np.zeros(len(notes)) for _ in range(3))
    rows = notes[:, 2].astype(np.int64)
    loaded: dict[int, np.ndarray] = {}

    def read(i: int) -> np.ndarray:
        if i not in loaded:
            for old in [k for k in loaded if k < i - 1]:
                del loaded[old]
            loaded[i] = np.asarray(row(i), dtype=np.float32)
        return loaded[i]

    for p in np.unique(rows):
        mine = np.flatnonzero(rows == p)
        i = index[int(p)]
        own = read(i)
        at[mine] = onset_peak_frames(own, notes[mine, 0], settings.frame_rate, frames)
        peaks[mine] = own[at[mine]]
        if neighbours > 0:
            if i > 0 and pitch_set[i - 1] == p - 1:
                lower[mine] = read(i - 1)[at[mine]]
            if i + 1 < len(pitch_set) and pitch_set[i + 1] == p + 1:
                upper[mine] = read(i + 1)[at[mine]]
            elif i + 1 == len(pitch_set):  # the top pitch takes all that sounds above it: judged by
                upper[mine] = np.inf  # the pitch below alone (a gap inside the dictionary: not judged)
    keep = ~between_neighbours(peaks, lower, upper, neighbours)
    if ratio > 0:
        from nmftrans.core.ghosts import onset_peaks

        carpets = onset_peaks(np.asarray(carpet(), dtype=np.float32), notes[:, 0], settings.frame_rate, frames)
        keep &= standing_out(peaks, carpets, ratio)
    return notes[keep]


def _restrike_candidates(A: np.ndarray, pitch_set: np.ndarray, settings, note_params: NoteParams, rises) -> np.ndarray:
    from nmftrans.core.onset_channel import restrike_candidates

    splittable = rises.pitches[rises.n_partials > 0]  # the resolved pitches: MIDI 54 and up by default
    if len(splittable) == 0:
        return empty_notes()
    return restrike_candidates(A, pitch_set, settings.frame_rate, note_params, settings.window_s,
                               lowest=int(splittable.min()))


def _split_restrikes(notes: np.ndarray, candidates, rises, pitch_set: np.ndarray, settings,
                     note_params: NoteParams) -> np.ndarray:
    """Notes split at the re-strikes of ringing notes (:mod:`nmftrans.core.onset_channel`); ``candidates``:
    the candidate notes (:func:`_restrike_candidates`) of each group of pitch rows."""
    from nmftrans.core.onset_channel import split_restrikes

    if rises is None or len(notes) == 0:
        return notes
    candidates = np.concatenate(candidates) if candidates else empty_notes()
    return split_restrikes(notes, candidates, rises.finish(), rises.n_partials, pitch_set, settings.frame_rate,
                           note_params.restrike_share, note_params.restrike_gap_s)


def _restrike_stream(dictionary: Dictionary, note_params: NoteParams):
    """The per-pitch partial-rise counts of the input as it streams, or None (re-strikes off)."""
    if note_params.restrike_ratio <= 0:
        return None
    from nmftrans.core.onset_channel import PartialRiseStream

    settings = dictionary.settings
    return PartialRiseStream(frequencies(settings), dictionary.pitch_set, note_params.restrike_rise ** settings.power,
                             min_spacing=settings.sample_rate / settings.n_fft)


def transcribe_blocks(blocks, dictionary: Dictionary, solver: SolverParams = SolverParams(),
                      note_params: NoteParams = NoteParams(), *, n_samples_hint: int = 0,
                      keep_activations: bool = True, pool_columns: int = 0, tuning_cents: float = 0.0) -> Transcription:
    """Transcribe a signal given as consecutive mono blocks at the dictionary's sample rate.

    Memory: ``threads + 2`` solver blocks of features and one piece of audio at a time, plus
    either the whole-file per-pitch activations (``n_pitches × n_frames`` float32, allocated once when
    ``n_samples_hint`` gives the signal's length) or, with ``keep_activations=False``, only one
    float per frame: the activations go to a temporary file and are tracked one pitch at a
    time (same notes; ``Transcription.activations`` is then None). The result equals
    :func:`transcribe_signal` on the concatenated signal. ``pool_columns`` > 0 (for a picture):
    ``Transcription.activations`` are the activations max-pooled to at most that many columns
    (:func:`nmftrans.core.pooling.max_pool_columns`; ``pooled_from`` frames), also with
    ``keep_activations=False``. ``tuning_cents``: the tuning correction the blocks were resampled
    with (:func:`nmftrans.core.tuning.pitch_ratio`); note times and ``frame_rate`` are given back in
    the time of the signal before it.
    """
    settings = dictionary.settings
    note_params = note_params.ending(dictionary.note_ends)  # None: the dictionary's convention
    stream = SpectrogramStream(settings)
    cutter = _FrameBlocks(max(1, int(round(solver.block_s * settings.frame_rate))))
    sum_sq, n_samples = 0.0, 0
    capacity = n_frames_for(n_samples_hint, settings) + 2 if n_samples_hint > 0 else 1024
    spill = not keep_activations and note_params.sub_ratio <= 0  # the octave check needs all rows
    rises = _restrike_stream(dictionary, note_params)
    motion = MotionMeter(frequencies(settings), settings.frame_rate)  # no notes in speech or hum (nmftrans.core.motion)
    flux = FluxMeter()  # re-onsets without an attack (nmftrans.core.attacks)
    with _BlockSolver(dictionary, solver, capacity, spill=spill) as solving:
        for y in blocks:
            sum_sq += float(np.dot(y, y))  # float32 per piece: only the silence check reads it
            n_samples += len(y)
            piece = stream.push(y)
            if rises is not None:
                rises.push(piece)
            for V, index, own in cutter.push(piece):
                motion.push(V)
                flux.push(V)
                solving.submit(V, index, own)
            solving.start_early(*cutter.filling())
        piece = stream.finish()
        if rises is not None:
            rises.push(piece)
        for V, index, own in cutter.push(piece, last=True):
            motion.push(V)
            flux.push(V)
            solving.submit(V, index, own)
        A = solving.result()
        slow, slow_counted = motion.slow_flags()
        gate = motion_gate(*motion.flags(), settings.frame_rate, slow=slow, slow_counted=slow_counted)
        result = _finish(A, sum_sq, n_samples, dictionary, note_params, pool_columns, gate, rises, flux.flux())
    if tuning_cents:
        from nmftrans.core.tuning import pitch_ratio

        ratio = pitch_ratio(tuning_cents)  # resampled time -> the input's time
        result.notes = result.notes.copy()
        result.notes[:, :2] *= ratio
        result.frame_rate = settings.frame_rate / ratio
        result.tuning_cents = float(tuning_cents)
    return result


class _FrameBlocks:
    """Cut a stream of spectrogram pieces into solver blocks of ``size`` frames.

    A last piece shorter than half a block joins the block before it (a block of a few frames
    would adapt W to almost nothing), so blocks hold ``size // 2`` to ``size + size // 2``
    frames (a shorter signal gives one block). Each block is filled in place as the pieces
    arrive; a full block is held until the next has half a block, at most one at a time.
    """

    def __init__(self, size: int):
        self.size = size
        self.half = max(1, size // 2)
        self.block: np.ndarray | None = None  # being filled
        self.n = 0
        self.index = -1  # number of the block being filled (counted from 0)
        self.held: np.ndarray | None = None  # full, sent once the next one has half a block

    def push(self, V: np.ndarray, last: bool = False) -> list[tuple[np.ndarray, int, int]]:
        """Add frames ``(n_bins, n)``; return the blocks now complete (on ``last``, the rest too).

        Each block comes as ``(frames, index, own)``: the block's frames, the number of the block
        that was filled for it (as in :meth:`filling`) and how many of its leading frames are
        that block's frames (a short rest joined to it follows them).
        """
        out = []
        pos = 0
        while pos < V.shape[1]:
            if self.block is None:
                self.block = np.empty((V.shape[0], self.size), dtype=np.float32)
                self.index += 1
            take = min(self.size - self.n, V.shape[1] - pos)
            self.block[:, self.n:self.n + take] = V[:, pos:pos + take]
            self.n += take
            pos += take
            if self.held is not None and self.n >= self.half:
                out.append((self.held, self.index - 1, self.size))
                self.held = None
            if self.n == self.size:
                self.held, self.block, self.n = self.block, None, 0
        if last:
            rest = self.block[:, :self.n] if self.n else None
            if self.held is not None:
                held_index = self.index - 1 if rest is not None else self.index
                frames = self.held if rest is None else np.concatenate([self.held, rest], axis=1)
                out.append((frames, held_index, self.size))
            elif rest is not None:
                out.append((np.ascontiguousarray(rest), self.index, self.n))
            self.block, self.n, self.held = None, 0, None
        return out

    def filling(self) -> tuple[int, np.ndarray | None, int]:
        """The block being filled: its number, its array (None between blocks) and its frames so far."""
        return self.index, self.block, self.n


def solver_threads(requested: int = 0) -> int:
    """Blocks to solve at once: ``requested`` if > 0, else the cores this process may use."""
    if requested > 0:
        return int(requested)
    from nmftrans.core.threads import thread_budget

    budget = thread_budget()
    if budget > 0:
        return budget
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)



class _BlockSolver:
    """Solve blocks in order on ``solver.threads`` threads; collect their activations in order.

    Each block is independent (W fixed, per-block refinement), so the threads need no
    synchronisation; BLAS is limited to one thread meanwhile so that the cores are shared by
    blocks rather than by spinning BLAS threads, and so that the result does not depend on the
    number of threads. At most ``threads + 1`` blocks wait in memory: one is queued, so a thread
    that finishes a block starts the next at once instead of waiting for the reader.

    With more than one thread, the first solve (per frame, the larger part of a block's work)
    starts on each ``SOLVE_COLUMNS``-frame chunk of a block as soon as the chunk has been read
    (:meth:`start_early`), so that no thread waits for a whole block at the start of a file. The
    chunks are those the block's own first solve would use, so the result does not change.
    """

    def __init__(self, dictionary: Dictionary, solver: SolverParams, capacity: int = 1024, spill: bool = False):
        self.dictionary, self.solver = dictionary, solver
        rows = len(dictionary.pitch_set)
        self.columns = _SpilledColumns() if spill else _Columns(rows, capacity)
        self.threads = solver_threads(solver.threads)
        self._pending = collections.deque()
        self._early = {}  # block number -> futures of the first solve of its leading chunks
        self._pool = None
        self._limits = None

    def __enter__(self):
        # one BLAS thread always: the bits of a long product depend on BLAS's thread count
        self._limits = blas_controller().limit(limits=1, user_api="blas")
        # entered and exited as a context: threadpoolctl lets one thread at a time control a shared
        # OpenBLAS pool and releases it only on exit; a bare restore kept it with this thread for
        # good, so a later transcription from another thread (a dask worker) ran with all cores
        self._limits.__enter__()
        if self.threads > 1:
            from concurrent.futures import ThreadPoolExecutor

            self._pool = ThreadPoolExecutor(max_workers=self.threads, thread_name_prefix="nmftrans-block")
        return self

    def start_early(self, index: int, block: np.ndarray | None, n: int) -> None:
        """Start the first solve of the complete chunks among the ``n`` frames read so far of
        block number ``index`` (``_FrameBlocks.filling``)."""
        if self._pool is None or block is None or self.dictionary.frames > 1:  # convolutive: whole blocks
            return
        started = self._early.setdefault(index, [])
        size = SOLVE_COLUMNS
        while (len(started) + 1) * size <= n:
            chunk = block[:, len(started) * size:(len(started) + 1) * size].copy()
            started.append(self._pool.submit(_first_solve, chunk, self.dictionary, self.solver))

    def submit(self, V: np.ndarray, index: int = -1, own: int = 0) -> None:
        """Solve block ``V``; ``index`` and ``own``: its number and how many leading frames
        are that block's own (as ``_FrameBlocks.push`` gives them)."""
        if self.dictionary.frames > 1:
            self._conv_submit(V)
            return
        if self._pool is None:
            self.columns.append(_block_activations(V, self.dictionary, self.solver))
            return
        early = [f for i, f in enumerate(self._early.pop(index, [])) if (i + 1) * SOLVE_COLUMNS <= own]
        self._pending.append(self._pool.submit(_block_activations, V, self.dictionary, self.solver, early))
        while len(self._pending) > self.threads + 1:
            self.columns.append(self._pending.popleft().result())

    def _conv_submit(self, V: np.ndarray | None) -> None:
        """Convolutive dictionaries: a block is solved once the next one has come (``V``; None at
        the end), with ``conv_context`` frames of each neighbour around it (a note struck just
        before a block boundary still meets its whole template), and only its own frames kept."""
        pad = conv_context(self.dictionary.frames)
        tail, held = getattr(self, "_conv_held", (None, None))
        self._conv_held = (None if held is None else held[:, held.shape[1] - min(pad, held.shape[1]):], V)
        if held is None:
            return
        left = 0 if tail is None else tail.shape[1]
        right = 0 if V is None else min(pad, V.shape[1])
        parts = ([] if tail is None else [tail]) + [held] + ([] if V is None else [V[:, :right]])
        ext = np.ascontiguousarray(np.concatenate(parts, axis=1)) if len(parts) > 1 else held
        args = (ext, self.dictionary, self.solver, left, right)
        if self._pool is None:
            self.columns.append(_conv_block_activations(*args))
            return
        self._pending.append(self._pool.submit(_conv_block_activations, *args))
        while len(self._pending) > self.threads + 1:
            self.columns.append(self._pending.popleft().result())

    def result(self):
        """The whole-file activations (an array), or the spilled columns."""
        if self.dictionary.frames > 1:
            self._conv_submit(None)
        while self._pending:
            self.columns.append(self._pending.popleft().result())
        return self.columns if isinstance(self.columns, _SpilledColumns) else self.columns.array()

    def __exit__(self, *exc):
        if self._pool is not None:
            for future in [*self._pending, *(f for started in self._early.values() for f in started)]:
                future.cancel()
            self._pool.shutdown(wait=True)
        if self._limits is not None:
            self._limits.__exit__(None, None, None)  # restores the limits, releases the control
        if isinstance(self.columns, _SpilledColumns):
            self.columns.close()
        return False


def transcribe_signal(y: np.ndarray, dictionary: Dictionary, solver: SolverParams = SolverParams(),
                      note_params: NoteParams = NoteParams()) -> Transcription:
    """Transcribe a mono signal at the dictionary's sample rate (brought to the A440 grid first,
    ``SolverParams.tuning``)."""
    from nmftrans.core.tuning import pitch_ratio

    sr = dictionary.settings.sample_rate
    y = np.asarray(y, dtype=np.float32)
    reference = dictionary_tuning(dictionary)
    cents = input_tuning(y, sr, solver, reference)
    if cents:
        from nmftrans.io.audio import resample

        y = resample(y, sr * pitch_ratio(cents), sr)
    block = max(1, int(READ_S * sr))
    result = transcribe_blocks((y[i:i + block] for i in range(0, len(y), block)), dictionary, solver, note_params,
                               n_samples_hint=len(y), tuning_cents=cents)
    if cents and solver.tuning is None:
        result.warnings.append(tuning_message(cents, reference))
    return result


def tuning_message(cents: float, reference: float = 0.0) -> str:
    """What a transcription says when it corrected the input's tuning itself (``reference``:
    :func:`dictionary_tuning`)."""
    grid = "A440" if reference == 0 else f"the dictionary's tuning (A440 {reference:+.1f} cents)"
    return (f"the recording is {'sharp' if cents > 0 else 'flat'} of {grid}: brought {abs(cents):.1f} cents "
            f"{'down' if cents > 0 else 'up'} before the analysis (tuning 0 keeps it as it is)")


def input_tuning(y: np.ndarray, sample_rate: float, solver: SolverParams = SolverParams(),
                 reference: float = 0.0) -> float:
    """The tuning correction (cents sharp of the grid; 0: none) for the signal ``y``:
    ``solver.tuning`` if given, else read from ``y`` (:func:`~nmftrans.core.tuning.estimate_tuning`:
    its first span with a clear tuning) against ``reference`` (:func:`dictionary_tuning`)."""
    if solver.tuning is not None:
        return float(solver.tuning)
    from nmftrans.core.tuning import estimate_tuning

    return _correction(estimate_tuning(y, sample_rate), reference)


def _correction(reading: tuple[float, float, int], reference: float) -> float:
    """:func:`~nmftrans.core.tuning.tuning_correction` of a reading against ``reference``."""
    from nmftrans.core.tuning import relative_cents, tuning_correction

    cents, strength, n_peaks = reading
    return tuning_correction(relative_cents(cents, reference), strength, n_peaks)


def dictionary_tuning(dictionary: Dictionary) -> float:
    """The grid recordings are compared with, in cents from A440: the reading of the dictionary's
    training audio (``provenance["tuning_cents"]``, stored by ``learn``) where it lies
    beyond the dead zone (an instrument tuned away from A440), else 0 (A440; also for dictionaries
    without a reading)."""
    from nmftrans.core.tuning import reference_tuning

    provenance = dictionary.provenance if isinstance(dictionary.provenance, dict) else {}
    return reference_tuning(provenance.get("tuning_cents"))


class _Retune(Exception):
    """Raised by :func:`_watch_tuning` when the input needs a tuning correction (``cents``)."""

    def __init__(self, cents: float):
        super().__init__(cents)
        self.cents = cents


def _watch_tuning(blocks, sample_rate: int, solver: SolverParams, reference: float = 0.0):
    """Pass ``blocks`` on while a :class:`~nmftrans.core.tuning.TuningReader` reads their tuning
    (span by span, as :func:`input_tuning` reads a whole signal); once the reading is known, raise
    :class:`_Retune` if it needs a correction: the file is then transcribed again with it. Nothing
    waits for the reading, so an input in tune (the usual case) costs only the reading itself."""
    from nmftrans.core.tuning import TuningReader

    reader = TuningReader(sample_rate)
    decided = False
    for y in blocks:
        if not decided and reader.feed(y) is not None:
            decided = True
            cents = _correction(reader.reading, reference)
            if cents:
                blocks.close()  # the file is read again
                raise _Retune(cents)
        yield y
    if not decided:
        cents = _correction(reader.finish(), reference)
        if cents:
            raise _Retune(cents)


def transcribe_file(path: str | Path, dictionary: Dictionary, solver: SolverParams = SolverParams(),
                    note_params: NoteParams = NoteParams(), *, keep_activations: bool = True,
                    pool_columns: int = 0) -> Transcription:
    """Read an audio file block by block and transcribe it.

    ``keep_activations=False``: memory stays flat whatever the file's length (see
    :func:`transcribe_blocks`); ``Transcription.activations`` is then None, or with
    ``pool_columns`` the activations max-pooled to that many columns (for a picture).
    """
    from nmftrans.core.tuning import pitch_ratio

    sr = dictionary.settings.sample_rate

    def run(blocks, cents: float) -> Transcription:
        return transcribe_blocks(blocks, dictionary, solver, note_params,
                                 n_samples_hint=int(round(expected_samples(path, sr) / pitch_ratio(cents))),
                                 keep_activations=keep_activations, pool_columns=pool_columns, tuning_cents=cents)

    if solver.tuning is not None:
        cents = float(solver.tuning)
        result = run(stream_audio(path, sr, block_s=READ_S, pitch_ratio=pitch_ratio(cents)), cents)
    else:
        reference = dictionary_tuning(dictionary)
        try:
            result = run(_watch_tuning(stream_audio(path, sr, block_s=READ_S), sr, solver, reference), 0.0)
        except _Retune as retune:
            cents = retune.cents
            result = run(stream_audio(path, sr, block_s=READ_S, pitch_ratio=pitch_ratio(cents)), cents)
            result.warnings.append(tuning_message(cents, reference))
    truncated = truncation_warning(path)
    if truncated:
        result.warnings.insert(0, truncated)
    return result
