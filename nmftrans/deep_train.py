"""Use case ``learn --deep``: train the per-layer templates of a deep (unfolded) dictionary.

An ordinary dictionary gives the start: every layer's templates are its W. The K layers
(:mod:`nmftrans.core.deep`, one KL MU update of H each, the solver's floor templates appended and kept
fixed) are then trained by back-propagation so that the normalised per-pitch activations
predict the piano roll of labelled audio. The templates stay nonnegative through a log
parametrisation ``W_k = exp(theta_k)``; Adam updates ``theta`` on frames sampled at random
(seeded: the same inputs and seed give the same dictionary).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Sequence

import numpy as np

from nmftrans.core import deep
from nmftrans.io.dictionary import ROLE_ATTACK, Dictionary
from nmftrans.errors import NmftransError, SettingError

MAX_LAYERS = 64


@dataclass(frozen=True)
class DeepParams:
    """How a deep dictionary is trained.

    Attributes
    ----------
    layers : int
        K, the unfolded MU layers (each costs one MU update when transcribing; the plain solve
        runs 12 + 7 updates and an adaptation of W).
    steps : int
        Adam steps.
    frames : int
        Frames per step, drawn at random from all files (evenly per file).
    max_frames_per_file : int
        Frames of each file kept for training (a random subset, drawn once).
    learning_rate : float
        Adam step on ``log W`` (0.02: at most about 2 % change of a template entry per step).
    onset_frames, sustain_weight : int, float
        The first ``onset_frames`` frames of each note weigh ``pos_weight`` in the loss, the rest of
        the note ``sustain_weight`` and frames without the pitch 1; the frame just before an onset
        does not count (timing). The tracker keys on onsets: a plain frame loss (every note frame
        alike) taught the layers to hold notes up and cost onset F.
    scale, bias, pos_weight : float
        The loss: weighted cross-entropy of ``sigmoid(scale * (A / ref - bias))`` against the roll
        (:func:`nmftrans.core.deep.normalised_roll_loss`), ``A`` the per-pitch activations and ``ref``
        their reference level (:func:`nmftrans.core.notes.reference_level` of each file's sampled
        frames, differentiated too).
    colour : float
        Standard deviation (natural log units) of a smooth random gain over log frequency applied
        to each file's frames at each step (three cosines over the range; 0: none): teaches the
        layers not to rely on one instrument's colour, which the plain solve adapts to per block.
    seed : int
        Seed of the frame sampling (and of the colour gains).
    """

    layers: int = 12
    steps: int = 50
    frames: int = 1000
    max_frames_per_file: int = 4000
    learning_rate: float = 0.02
    scale: float = 10.0
    bias: float = 0.2
    pos_weight: float = 3.0
    onset_frames: int = 3
    sustain_weight: float = 0.3
    colour: float = 0.3
    seed: int = 0

    def __post_init__(self) -> None:
        if not 1 <= self.layers <= MAX_LAYERS:
            raise SettingError("layers", f"must be between 1 and {MAX_LAYERS} (got {self.layers})")
        if self.colour < 0:
            raise NmftransError("colour must be >= 0")
        if self.steps < 0 or self.frames < 1 or self.max_frames_per_file < 1:
            raise NmftransError("the deep training needs steps >= 0, frames >= 1 and max_frames_per_file >= 1")
        if not (self.learning_rate > 0 and self.scale > 0 and self.pos_weight > 0 and self.onset_frames >= 1
                and self.sustain_weight >= 0):
            raise NmftransError("learning_rate, scale, pos_weight and onset_frames must be positive")


@dataclass
class DeepReport:
    """What the training saw: files used and skipped, the loss before and after."""

    files: list[str] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    losses: list[float] = field(default_factory=list)


@dataclass
class _Frames:
    """One file's training frames: spectrogram columns and their roll."""

    name: str
    V: np.ndarray  # (n_bins, n) float32
    Y: np.ndarray  # (n_pitches, n) float32
    M: np.ndarray  # (n_pitches, n) float32, weight of each entry of Y in the loss


def _read_pair(audio: Path, annotation: Path, dictionary: Dictionary, params: DeepParams, rng,
               sustain: bool) -> tuple[_Frames | None, list[str], str | None]:
    from nmftrans.io.annotations import read_notes
    from nmftrans.core.notearrays import crop_notes
    from nmftrans.io.audio import load_audio
    from nmftrans.core.features import spectrogram

    settings = dictionary.settings
    y = load_audio(audio, settings.sample_rate)
    if len(y) == 0 or float(np.sqrt(np.mean(np.square(y, dtype=np.float64)))) < 1e-4:
        return None, [], "the audio is silent"
    pitch_set = dictionary.pitch_set
    notes, warns = crop_notes(read_notes(annotation, sustain=sustain), len(y) / settings.sample_rate,
                              pitch_range=(int(pitch_set[0]), int(pitch_set[-1])))
    if not len(notes):
        return None, warns, "no annotated notes inside the audio and pitch range"
    V = spectrogram(y, settings)
    Y, M = roll_targets(notes, V.shape[1], settings.frame_rate, pitch_set, params)
    keep = np.sort(rng.permutation(V.shape[1])[:params.max_frames_per_file])
    return _Frames(audio.name, np.ascontiguousarray(V[:, keep]), np.ascontiguousarray(Y[:, keep]),
                   np.ascontiguousarray(M[:, keep])), warns, None


def roll_targets(notes: np.ndarray, n_frames: int, frame_rate: float, pitch_set: np.ndarray,
                 params: DeepParams) -> tuple[np.ndarray, np.ndarray]:
    """The roll and the weight of each of its entries in the loss (see :class:`DeepParams`).

    Returns
    -------
    Y, M : np.ndarray [shape=(n_pitches, n_frames)], float32
    """
    from nmftrans.core.notearrays import notes_to_roll, onset_roll

    Y = notes_to_roll(notes, n_frames, frame_rate, pitch_set)
    attack = onset_roll(notes, n_frames, frame_rate, pitch_set, onset_frames=params.onset_frames)
    first = onset_roll(notes, n_frames, frame_rate, pitch_set, onset_frames=1)
    M = np.where(attack > 0, np.float32(params.pos_weight), np.where(Y > 0, np.float32(params.sustain_weight),
                                                                       np.float32(1.0))).astype(np.float32)
    M[:, :-1][(first[:, 1:] > 0) & (Y[:, :-1] == 0)] = 0.0
    return Y, M


def _full_templates(Ws: np.ndarray, floor: np.ndarray) -> np.ndarray:
    """Each layer's templates with the fixed floor templates appended: (K, n_bins, n_comp + n_floor)."""
    if floor.shape[1] == 0:
        return Ws
    return np.concatenate([Ws, np.broadcast_to(floor, (Ws.shape[0],) + floor.shape)], axis=2)


def deep_loss_and_gradient(batches: Sequence[tuple[np.ndarray, np.ndarray, np.ndarray]], Ws: np.ndarray, floor: np.ndarray,
                           P: np.ndarray, gamma: float, params: DeepParams) -> tuple[float, np.ndarray]:
    """Mean roll loss over the batches and its gradient with respect to the layers' templates.

    Parameters
    ----------
    batches : sequence of (V [shape=(n_bins, n)], Y, M [shape=(n_pitches, n)])
        Frames, roll and loss weights (:func:`roll_targets`).
        One per file: its reference level is computed on its own frames.
    Ws : np.ndarray [shape=(K, n_bins, n_comp)]
    floor : np.ndarray [shape=(n_bins, n_floor)]
    P : np.ndarray [shape=(n_pitches, n_comp + n_floor)]
        Template-to-pitch sums (:func:`nmftrans.core.deep.pitch_matrix`).
    gamma : float
    params : DeepParams

    Returns
    -------
    loss : float
    grad : np.ndarray [shape=(K, n_bins, n_comp)]
    """
    full = _full_templates(Ws, floor)
    n_comp = Ws.shape[2]
    total, grad = 0.0, np.zeros_like(Ws)
    for V, Y, M in batches:
        H0 = deep.initial_activations(V, full[0])
        H, inputs = deep.unfolded_forward(V, full, H0, gamma=gamma, keep=True)
        A = P @ H
        loss, grad_A = deep.normalised_roll_loss(A, Y, params.scale, params.bias, 1.0, M)
        total += loss / len(batches)
        g = deep.unfolded_backward(V, full, inputs, (P.T @ grad_A) / len(batches), gamma=gamma)
        grad += g[:, :, :n_comp]
    return total, grad


def train_deep(pairs: Sequence[tuple[Path, Path]], dictionary: Dictionary, params: DeepParams = DeepParams(), *,
               sustain: bool = True, log=None) -> tuple[Dictionary, DeepReport]:
    """Train the layers of a deep dictionary on labelled audio, starting from ``dictionary``.

    Parameters
    ----------
    pairs : sequence of (audio path, annotation path)
    dictionary : Dictionary
        The start (every layer begins with its W); a deep dictionary starts from its own layers
        when ``params.layers`` matches them. Must have β = 1.
    params : DeepParams
    sustain : bool
        Extend MIDI notes by the sustain pedal.
    log : optional
        Has ``info(str)``.

    Returns
    -------
    dictionary : Dictionary
        The same W, pitches, roles and settings, with ``deep_W`` of shape ``(K, n_bins, n_comp)``.
    report : DeepReport
    """
    from nmftrans.transcribe import SolverParams, solver_templates

    if dictionary.beta != 1.0:
        raise NmftransError(f"a deep dictionary starts from a beta 1 dictionary (this one has beta {dictionary.beta:g})")
    solver = SolverParams()
    gamma = solver.gamma if solver.gamma is not None else 1.0  # the solver's KL step exponent
    n_comp = dictionary.W.shape[1]
    floor = np.asarray(solver_templates(dictionary, solver)[:, n_comp:], dtype=np.float64)
    weights = np.where(dictionary.roles == ROLE_ATTACK, solver.attack_weight, 1.0)
    P, _ = deep.pitch_matrix(dictionary.pitches, weights, n_comp + floor.shape[1])
    rng = np.random.default_rng(params.seed)
    report = DeepReport()
    data: list[_Frames] = []
    for audio, annotation in pairs:
        try:
            frames, warns, skip = _read_pair(Path(audio), Path(annotation), dictionary, params, rng, sustain)
        except NmftransError as exc:
            frames, warns, skip = None, [], str(exc)
        report.warnings += [f"{Path(audio).name}: {w}" for w in warns]
        if skip is not None:
            report.skipped.append((str(audio), skip))
            continue
        data.append(frames)
        report.files.append(str(audio))
    if not data:
        raise NmftransError("no labelled audio to train the deep dictionary on")
    if dictionary.deep_W is not None and dictionary.deep_W.shape[0] == params.layers:
        start = dictionary.deep_W
    else:
        start = np.broadcast_to(dictionary.W, (params.layers,) + dictionary.W.shape)
    theta = np.log(np.maximum(np.asarray(start, dtype=np.float64), 1e-12))
    m, v = np.zeros_like(theta), np.zeros_like(theta)
    b1, b2, adam_eps = 0.9, 0.999, 1e-8
    per_file = max(1, params.frames // len(data))
    from nmftrans.core.features import frequencies

    logf = np.log2(np.maximum(frequencies(dictionary.settings), 1.0))
    x = (logf - logf[0]) / max(logf[-1] - logf[0], 1e-9)
    bases = np.cos(np.pi * np.arange(1, 4)[:, None] * x[None, :])  # (3, n_bins)
    floor32, P32 = floor.astype(np.float32), P.astype(np.float32)  # float32 GEMMs: twice as fast
    for step in range(params.steps + 1):
        batches = []
        for f in data:
            pick = rng.choice(f.V.shape[1], size=min(per_file, f.V.shape[1]), replace=False)
            V = f.V[:, pick]
            if params.colour > 0:
                gain = np.exp(rng.normal(0.0, params.colour, 3) @ bases).astype(np.float32)
                V = V * gain[:, None]
            batches.append((V, f.Y[:, pick], f.M[:, pick]))
        Ws = np.exp(theta)
        loss, grad = deep_loss_and_gradient(batches, Ws.astype(np.float32), floor32, P32, gamma, params)
        report.losses.append(loss)
        if log is not None and (step % 10 == 0 or step == params.steps):
            log.info(f"deep step {step}/{params.steps}: loss {loss:.4f}")
        if step == params.steps:
            break  # the last pass only measures the loss
        g = grad.astype(np.float64) * Ws  # d/dtheta of exp(theta)
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        t = step + 1
        theta -= params.learning_rate * (m / (1 - b1 ** t)) / (np.sqrt(v / (1 - b2 ** t)) + adam_eps)
    deep_W = np.exp(theta).astype(np.float32)
    provenance = dict(dictionary.provenance)
    provenance.update(deep={"layers": params.layers, "steps": params.steps, "frames": params.frames,
                            "learning_rate": params.learning_rate, "seed": params.seed,
                            "files": [Path(f).name for f in report.files][:50],
                            "loss_before": round(report.losses[0], 5), "loss_after": round(report.losses[-1], 5)})
    return replace(dictionary, deep_W=deep_W, provenance=provenance), report


def train_deep_from_sources(sources: Sequence[Path], init: str | Path | None = None,
                            params: DeepParams = DeepParams(), *, split: str | None = None,
                            guitarset_audio: str = "mic", max_files: int | None = None, sustain: bool = True,
                            log=None) -> tuple[Dictionary, DeepReport]:
    """Find labelled audio in ``sources`` and train a deep dictionary from ``init`` (a path, a shipped
    name, or None: the shipped piano dictionary)."""
    from nmftrans.io import datasets
    from nmftrans.io.dictionary import load_dictionary

    for s in sources:
        if not Path(s).exists():
            raise NmftransError(f"{s}: no such file or folder")
    start = load_dictionary(init)
    found = datasets.discover_labelled(sources, guitarset_audio=guitarset_audio, split=split, max_files=max_files)
    if log:
        log.info(f"deep training on {len(found.pairs)} labelled files, {params.layers} layers, {params.steps} steps")
    if not found.pairs:
        reasons = "; ".join(f"{p}: {r}" for p, r in found.skipped[:3])
        raise NmftransError("no audio with a matching annotation found" + (f" ({reasons})" if reasons else ""))
    dictionary, report = train_deep(found.pairs, start, params, sustain=sustain, log=log)
    report.skipped[:0] = [(str(p), r) for p, r in found.skipped]
    return dictionary, report
