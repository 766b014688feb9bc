"""Use case ``transcribe``: audio -> activations H (W fixed) -> notes.

The audio is analysed with the dictionary's own feature settings, so a dictionary always meets
features like the ones it was learned from.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from nmftrans import kernels
from nmftrans.audio import load_audio
from nmftrans.dictionary import Dictionary
from nmftrans.features import spectrogram
from nmftrans.notes import NoteParams, activations_to_notes, empty_notes, pitch_activations

# Below this RMS (about -80 dBFS) the input counts as silence.
SILENCE_RMS = 1e-4


@dataclass(frozen=True)
class SolverParams:
    """How H is solved.

    Attributes
    ----------
    n_iter : int
        Maximum MU iterations.
    tol : float
        Relative-decrease stop of the divergence.
    beta : float or None
        β of the divergence; None uses the dictionary's.
    l1 : float
        L1 weight on H (sparsity), relative to the mean of V.
    """

    n_iter: int = 50
    tol: float = 1e-4
    beta: float | None = None
    l1: float = 0.0


@dataclass
class Transcription:
    """Result of transcribing one signal.

    Attributes
    ----------
    notes : np.ndarray [shape=(n_notes, 4)]
    activations : np.ndarray [shape=(n_pitches, n_frames)], float32
        Normalised per-pitch activations that the note tracker saw.
    pitches : np.ndarray [shape=(n_pitches,)]
    frame_rate : float
    warnings : list of str
    """

    notes: np.ndarray
    activations: np.ndarray
    pitches: np.ndarray
    frame_rate: float
    warnings: list[str] = field(default_factory=list)


def solve_activations(V: np.ndarray, dictionary: Dictionary, solver: SolverParams = SolverParams()) -> np.ndarray:
    """Solve ``V ≈ W H`` for H with the dictionary's W fixed.

    Returns
    -------
    H : np.ndarray [shape=(n_components, n_frames)], float32
    """
    beta = dictionary.beta if solver.beta is None else solver.beta
    l1 = solver.l1 * float(V.mean()) if solver.l1 else 0.0
    H, _ = kernels.update_activations(V, dictionary.W, beta=beta, n_iter=solver.n_iter, tol=solver.tol, l1=l1)
    return H


def normalise_activations(A: np.ndarray) -> np.ndarray:
    """Scale per-pitch activations so that the loudest notes are about 1."""
    peak = float(np.percentile(A, 99.9)) if A.size else 0.0
    return A / peak if peak > 0 else A


def notes_from_activations(activations: np.ndarray, pitches: np.ndarray, frame_rate: float,
                           note_params: NoteParams = NoteParams()) -> np.ndarray:
    """Re-extract notes from saved activations (``Transcription.activations``) with new settings.

    Parameters
    ----------
    activations : np.ndarray [shape=(n_pitches, n_frames)]
        As stored in :attr:`Transcription.activations`.
    pitches : np.ndarray [shape=(n_pitches,)]
    frame_rate : float

    Returns
    -------
    notes : np.ndarray [shape=(n_notes, 4)]
    """
    return activations_to_notes(activations, pitches, frame_rate, note_params)


def transcribe_signal(y: np.ndarray, dictionary: Dictionary, solver: SolverParams = SolverParams(),
                      note_params: NoteParams = NoteParams()) -> Transcription:
    """Transcribe a mono signal at the dictionary's sample rate."""
    settings = dictionary.settings
    pitch_set = dictionary.pitch_set
    rms = float(np.sqrt(np.mean(np.square(y, dtype=np.float64)))) if len(y) else 0.0
    if rms < SILENCE_RMS:
        n_frames = 1 + len(y) // settings.hop_length
        A = np.zeros((len(pitch_set), n_frames), dtype=np.float32)
        return Transcription(empty_notes(), A, pitch_set, settings.frame_rate, ["the audio is silent: no notes"])
    V = spectrogram(y, settings)
    H = solve_activations(V, dictionary, solver)
    A, pitch_set = pitch_activations(H, dictionary.pitches)
    A = normalise_activations(A)
    notes = notes_from_activations(A, pitch_set, settings.frame_rate, note_params)
    return Transcription(notes, A, pitch_set, settings.frame_rate)


def transcribe_file(path: str | Path, dictionary: Dictionary, solver: SolverParams = SolverParams(),
                    note_params: NoteParams = NoteParams()) -> Transcription:
    """Load an audio file and transcribe it."""
    y = load_audio(path, dictionary.settings.sample_rate)
    return transcribe_signal(y, dictionary, solver, note_params)
