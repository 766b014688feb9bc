"""Score-informed NMF: activations constrained to a note list's support, for learning W.

Plain supervised NMF fixes H to the binary piano roll Y, so a template must also explain the
notes that sound with it, the note's decay and whatever the annotation's timing misses. Here
H starts from Y with a decaying profile and is updated inside Y's support widened by a
tolerance (multiplicative updates keep a zero at zero, so the support is set once, by the
initial H), alternating with the updates of W (Müller, *Fundamentals of Music Processing*,
ch. 8.3: score-informed NMF with onset templates). Each pitch has a sustain component and an
attack component active over a short window around each onset; the learned sustain templates
are finally shrunk towards the harmonic comb of their pitch (:func:`shrink_to_prior`).

Array code only: the use case (:mod:`nmftrans.learn`) stores V and H per file and sums the W
terms over files.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from nmftrans.core import kernels
from nmftrans.errors import NmftransError

METHODS = ("informed", "fixed")


@dataclass(frozen=True)
class InformedParams:
    """How H is initialised and constrained.

    Attributes
    ----------
    tolerance_s : float
        The support of a note starts this long before its annotated onset (its attack window
        too, which also ends this long after ``attack_s``).
    release_s : float
        The sustain support goes on this long after the annotated offset (the release).
    max_s : float
        The sustain support ends at most this long after the onset, however long the note
        (0: no limit).
    decay_s : float
        Time constant of the initial sustain profile ``exp(-(t - onset) / decay_s)``; its
        value at a frame is floored at ``floor`` so that the updates can raise it.
    floor : float
        Initial value of the support outside the note's decaying profile (before the onset,
        in the release), relative to the onset's 1.
    flat_share : float
        Share of a flat spectrum mixed into the harmonic comb that starts each sustain template
        (0: the comb's zeros between partials stay zero, as multiplicative updates cannot
        leave zero; > 0 lets the data put energy anywhere, e.g. on inharmonic partials). The
        default 0.1 lifted the real piano recordings from 0.64 to 0.72 onset F (learned from the
        six FluidR3 piano pieces, before ``prior_share``; the TimGM6mb pieces unchanged at 0.83).
    noise_octaves : float
        Octaves between fixed broadband templates (:func:`nmftrans.core.templates.floor_templates`,
        as ``transcribe`` solves alongside the dictionary) whose activations are free at every
        frame, so that what no annotated note explains (noise, knocks, room, unannotated
        sound) is not forced into the notes' templates; they are not part of the dictionary.
        0: none. With the default 2 (four templates, as ``transcribe``'s floor) the dictionary
        learned from the six FluidR3 piano pieces scored 0.833 onset F on the TimGM6mb pieces
        (0.821 without; both before ``prior_share``).
    prior_share : float
        Share of the harmonic comb in each final sustain template (shrinkage towards the
        pitch-informed prior, :func:`shrink_to_prior`). Templates fitted to one instrument's
        recordings carry its every detail; the comb carries what pitches share. Learned from the
        six FluidR3 piano pieces, onset F on the six TimGM6mb piano pieces went 0.834 (0) ->
        0.868 (0.2) -> 0.877 (0.3) -> 0.886 (0.4) -> 0.892 (0.5) -> 0.893 (0.6) -> 0.888 (0.8) ->
        0.875 (1: combs, with the learned attack templates); on the real pianos 0.715 -> 0.820 ->
        0.820 -> 0.827 -> 0.847 -> 0.847 -> 0.837 -> 0.747; learned from the first half of the
        real GuitarSet track, on its second half 0.677 -> 0.706 -> 0.695 -> 0.707 -> 0.729 -> 0.727 -> 0.715 -> 0.699.
    h_updates : int
        MU updates of H per epoch (before each W update); 0 keeps H at its initial profile.
    block_frames : int
        Frames of a file processed at once in an epoch: bounds memory (the H updates are
        independent per frame and the W terms are summed over the blocks) and, since a block
        is solved with only the components that have support in it, saves work on short
        blocks. The default 512 (7.4 s at 68.9 frames/s) learned the six FluidR3 piano pieces
        (88 pitches) about 3x faster than 8192.
    """

    tolerance_s: float = 0.05
    release_s: float = 0.2
    max_s: float = 0.0
    decay_s: float = 1.0
    floor: float = 0.1
    flat_share: float = 0.1
    noise_octaves: float = 2.0
    prior_share: float = 0.5
    h_updates: int = 1
    block_frames: int = 512

    def __post_init__(self) -> None:
        for name in ("tolerance_s", "release_s", "max_s"):
            value = getattr(self, name)
            if not (np.isfinite(value) and value >= 0):
                raise NmftransError(f"{name} must be a nonnegative number (got {value})")
        if not (np.isfinite(self.decay_s) and self.decay_s > 0):
            raise NmftransError(f"decay_s must be positive (got {self.decay_s})")
        if not 0 < self.floor <= 1:
            raise NmftransError(f"floor must be in (0, 1] (got {self.floor})")
        if not (np.isfinite(self.noise_octaves) and self.noise_octaves >= 0):
            raise NmftransError(f"noise_octaves must be a nonnegative number (got {self.noise_octaves})")
        if not 0 <= self.prior_share <= 1:
            raise NmftransError(f"prior_share must be in [0, 1] (got {self.prior_share})")
        if not 0 <= self.flat_share <= 1:
            raise NmftransError(f"flat_share must be in [0, 1] (got {self.flat_share})")
        if int(self.h_updates) != self.h_updates or self.h_updates < 0:
            raise NmftransError(f"h_updates must be a nonnegative whole number (got {self.h_updates})")
        if int(self.block_frames) != self.block_frames or self.block_frames < 1:
            raise NmftransError(f"block_frames must be at least 1 (got {self.block_frames})")


def check_method(method: str) -> str:
    """The validated learning method for labelled audio (``'informed'`` or ``'fixed'``)."""
    if method not in METHODS:
        raise NmftransError(f"unknown learning method {method!r} (use {' or '.join(METHODS)})")
    return method


def initial_activations(notes: np.ndarray, n_frames: int, frame_rate: float, pitches: np.ndarray,
                        attack_frames: int, params: InformedParams = InformedParams(),
                        frames: tuple[int, int] | None = None) -> np.ndarray:
    """The starting H of score-informed learning: zero outside each note's widened support.

    Parameters
    ----------
    notes : np.ndarray [shape=(n_notes, 4)]
        onset (s), offset (s), MIDI pitch, velocity; notes of other pitches are ignored.
    n_frames : int
    frame_rate : float
        Frame ``t`` is at time ``t / frame_rate``.
    pitches : np.ndarray [shape=(n_pitches,)], int
        Sorted MIDI pitches, one sustain and one attack row each.
    attack_frames : int
        Length of the attack window after the onset, in frames.
    params : InformedParams
    frames : (int, int), optional
        Only the columns ``first .. last - 1`` of the whole-file H (a block of a long file).

    Returns
    -------
    H : np.ndarray [shape=(2 * n_pitches, n_frames or last - first)], float32
        Rows ``0 .. n_pitches-1``: sustain, ``exp(-(t - onset) / decay_s)`` floored at
        ``floor`` from ``onset - tolerance_s`` to ``offset + release_s`` (``floor`` before the
        onset); rows ``n_pitches ..``: attack, 1 from ``onset - tolerance_s`` to
        ``onset + attack + tolerance_s``. Overlapping notes of one pitch take the larger value.
    """
    notes = np.asarray(notes, dtype=np.float64).reshape(-1, 4)
    pitches = np.asarray(pitches).astype(np.int64).ravel()
    n_p = len(pitches)
    first, last = (0, int(n_frames)) if frames is None else (int(frames[0]), min(int(frames[1]), int(n_frames)))
    H = np.zeros((2 * n_p, max(last - first, 0)), dtype=np.float32)
    if len(notes) == 0 or n_p == 0 or last <= first:
        return H
    rows = np.searchsorted(pitches, notes[:, 2].astype(np.int64))
    valid = (rows < n_p) & (pitches[np.minimum(rows, n_p - 1)] == notes[:, 2])
    tol = int(round(params.tolerance_s * frame_rate))
    release = int(round(params.release_s * frame_rate))
    decay = params.decay_s * frame_rate
    floor = np.float32(params.floor)
    start = np.ceil(notes[:, 0] * frame_rate - 1e-9).astype(np.int64)
    stop = np.maximum(np.ceil(notes[:, 1] * frame_rate - 1e-9).astype(np.int64), start + 1)
    limit = int(round(params.max_s * frame_rate)) if params.max_s > 0 else None
    end = np.minimum(stop + release, start + limit) if limit is not None else stop + release
    # notes whose support or attack window meets the block
    valid &= (np.maximum(end, start + attack_frames + tol) > first) & (start - tol < last)
    for r, a, b, e in zip(rows[valid], start[valid], stop[valid], end[valid]):
        lo, hi = max(a - tol, first, 0), min(e, last, n_frames)
        if lo < hi:
            t = np.arange(lo, hi, dtype=np.float64)
            profile = np.where(t < a, floor, np.maximum(np.exp(-(t - a) / decay), floor)).astype(np.float32)
            np.maximum(H[r, lo - first:hi - first], profile, out=H[r, lo - first:hi - first])
        alo, ahi = max(a - tol, first, 0), min(a + attack_frames + tol, last, n_frames)
        if alo < ahi:
            H[n_p + r, alo - first:ahi - first] = 1.0
    return H


def initial_templates(harmonic: np.ndarray, params: InformedParams = InformedParams()) -> np.ndarray:
    """Starting W of score-informed learning: sustain templates, then flat attack templates.

    Parameters
    ----------
    harmonic : np.ndarray [shape=(n_bins, n_pitches)]
        Unit-sum harmonic combs, one per pitch (:func:`nmftrans.core.templates.harmonic_templates`).
    params : InformedParams

    Returns
    -------
    W : np.ndarray [shape=(n_bins, 2 * n_pitches)], float32
        ``(1 - flat_share) * harmonic + flat_share * flat``, then flat (FMP C8: an onset template
        starts flat and is shaped by the data); every column sums to 1.
    """
    flat = np.full_like(harmonic, 1.0 / harmonic.shape[0], dtype=np.float32)
    sustain = (1.0 - params.flat_share) * harmonic + params.flat_share * flat
    return np.concatenate([sustain, flat], axis=1).astype(np.float32)


def _blocks(n: int, size: int) -> list[slice]:
    return [slice(a, min(a + size, n)) for a in range(0, n, size)] or [slice(0, 0)]


def informed_epoch(V: np.ndarray, W: np.ndarray, H_in: np.ndarray, H_out: np.ndarray | None, *, beta: float,
                   params: InformedParams = InformedParams()) -> tuple[np.ndarray, np.ndarray]:
    """One epoch on one file: ``h_updates`` MU updates of H (W fixed), then the W MU terms.

    Works through the frames in blocks of ``params.block_frames``, so ``V`` and the H arrays
    may be memory-mapped files larger than memory.

    Parameters
    ----------
    V : np.ndarray [shape=(n_bins, n_frames)], nonnegative
    W : np.ndarray [shape=(n_bins, n_comp)], nonnegative
    H_in : np.ndarray [shape=(n_comp, n_frames)], nonnegative
        Activations before the epoch (not modified); zeros stay zero.
    H_out : np.ndarray [shape=(n_comp, n_frames)] or None
        Receives the updated activations (may not be ``H_in``); None: not kept.
    beta : float
    params : InformedParams

    Returns
    -------
    num, den : np.ndarray [shape=(n_bins, n_comp)], float64
        The numerator and denominator of the W update (:func:`kernels.dictionary_update_terms`)
        with the updated H, summed over the blocks.
    """
    num = np.zeros(W.shape, dtype=np.float64)
    den = np.zeros(W.shape, dtype=np.float64)
    for b in _blocks(V.shape[1], int(params.block_frames)):
        Hb = np.array(H_in[:, b], dtype=np.float32, order="C")  # a copy: H_in is never written
        # only the components with support in this block: the others are zero and stay zero,
        # and add nothing to the W terms (a block of a few seconds holds a few pitches)
        rows = np.flatnonzero(Hb.any(axis=1))
        if len(rows):
            Vb = np.ascontiguousarray(V[:, b], dtype=np.float32)
            Wr = np.ascontiguousarray(W[:, rows])
            Hr = Hb[rows]
            if params.h_updates > 0:
                Hr, _ = kernels.update_activations(Vb, Wr, Hr, beta=beta, n_iter=int(params.h_updates), tol=0.0)
                Hb[rows] = Hr
            n, d = kernels.dictionary_update_terms(Vb, Wr, Hr, beta=beta)
            num[:, rows] += n
            den[:, rows] += d
        if H_out is not None:
            H_out[:, b] = Hb
    return num, den


def shrink_to_prior(W: np.ndarray, prior: np.ndarray, share: float) -> np.ndarray:
    """Blend learned templates with prior ones: ``(1 - share) * W + share * prior``.

    Parameters
    ----------
    W : np.ndarray [shape=(n_bins, n)]
        Learned templates, unit-sum columns.
    prior : np.ndarray [shape=(n_bins, n)]
        The prior template of each column (harmonic combs), unit-sum columns.
    share : float in [0, 1]

    Returns
    -------
    W : np.ndarray [shape=(n_bins, n)], float32
        Unit-sum columns.
    """
    out = (1.0 - share) * np.asarray(W, dtype=np.float64) + share * np.asarray(prior, dtype=np.float64)
    return (out / out.sum(axis=0, keepdims=True)).astype(np.float32)


def update_templates(W: np.ndarray, num: np.ndarray, den: np.ndarray, *, beta: float) -> np.ndarray:
    """The W step of an epoch from the terms summed over all files.

    Parameters
    ----------
    W : np.ndarray [shape=(n_bins, n_comp)]
    num, den : np.ndarray [shape=(n_bins, n_comp)]
        Sums of :func:`informed_epoch`'s (or :func:`kernels.dictionary_update_terms`') terms.
    beta : float

    Returns
    -------
    W : np.ndarray [shape=(n_bins, n_comp)], float32
        ``W * (num / den) ** gamma_exponent(beta)``; a component with ``den = 0`` (never
        active) is kept as it is.
    """
    step = np.where(den > 0, num / np.maximum(den, 1e-30), 1.0) ** kernels.gamma_exponent(beta)
    return (W * step).astype(np.float32)


def divergence(V: np.ndarray, W: np.ndarray, H: np.ndarray, *, beta: float, block_frames: int = 8192) -> float:
    """``D_β(V | W H)`` summed over all bins and frames, in blocks of ``block_frames`` frames.

    Parameters
    ----------
    V : np.ndarray [shape=(n_bins, n_frames)]
    W : np.ndarray [shape=(n_bins, n_comp)]
    H : np.ndarray [shape=(n_comp, n_frames)]
    beta : float
    block_frames : int

    Returns
    -------
    divergence : float
    """
    total = 0.0
    for b in _blocks(V.shape[1], int(block_frames)):
        Vb = np.ascontiguousarray(V[:, b], dtype=np.float32)
        if Vb.shape[1]:
            total += kernels.beta_divergence(Vb, W @ np.ascontiguousarray(H[:, b], dtype=np.float32), beta)
    return total
