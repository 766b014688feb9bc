"""Use case ``learn``: build a :class:`~nmftrans.io.dictionary.Dictionary` from data or from nothing.

Three sources:

* isolated notes (one note per file): an attack and a sustain template per pitch, velocity layers pooled;
* labelled audio (audio + note annotation): score-informed NMF, ``min_{W,H} D(X | W H)`` with H
  started from the piano roll ``Y`` and kept inside its (widened) support
  (:mod:`nmftrans.core.informed`), or plain supervised NMF with H fixed to ``Y``; isolated notes can
  join them as one-note labelled files;
* no data: pitch-informed harmonic templates.

Pitches of the requested range without training data get a harmonic template; the result says which.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import functools
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Sequence

import numpy as np

from nmftrans import __version__
from nmftrans.io.audio import audio_duration, load_audio
from nmftrans.core.tuning import REFERENCE_PITCHES, TuningReader, estimate_tuning, mean_reading
from nmftrans.io.dictionary import ROLE_ATTACK, ROLE_SUSTAIN, Dictionary
from nmftrans.errors import NmftransError, SettingError
from nmftrans.core.features import frequencies, spectrogram
from nmftrans.core.informed import (InformedParams, check_method, divergence, informed_epoch, initial_activations,
                               initial_templates, shrink_to_prior, update_templates)
from nmftrans.parallel import Runner
from nmftrans.core.settings import FeatureSettings, check_beta
from nmftrans.core.templates import harmonic_templates

Progress = Callable[[str], None]

# A pitch annotated in fewer frames than this (0.7 s at 68.9 frames/s) over all labelled files
# is learned from little: ``learn`` warns about it.
FEW_FRAMES = 50


@dataclass
class LearnReport:
    """What ``learn`` did, for the user: pitches learned, filled in, files skipped."""

    learned: list[int] = field(default_factory=list)
    filled: list[int] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    fit: list[tuple[str, float, int]] = field(default_factory=list)  # labelled: (file, D(V|WH) per frame, frames)
    pitch_frames: dict[int, int] = field(default_factory=dict)  # labelled: annotated frames per pitch


@dataclass(frozen=True)
class IsolatedNote:
    """One training file holding a single note."""

    path: Path
    pitch: int
    onset: float = 0.0
    offset: float | None = None


def _provenance(method: str, sources: Iterable, **extra) -> dict:
    return {
        "method": method,
        "sources": [str(s) for s in sources],
        "tool": f"nmftrans {__version__}",
        "date": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        **extra,
    }


def _one_blas_thread():
    """BLAS on one thread in this process while a dictionary is learned.

    OpenBLAS rounds a long GEMM differently with one thread than with several; worker processes
    run one thread each (:mod:`nmftrans.parallel`, and dask's nanny sets ``OPENBLAS_NUM_THREADS=1``),
    so the per-file products in this process (``jobs=1``, or dask threads in this process, which
    share its BLAS pool) must too for W to be the same bits for any ``jobs``. The parallelism is
    over files. A no-op without threadpoolctl (it comes with librosa).
    """
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        import contextlib

        return contextlib.nullcontext()
    return threadpool_limits(limits=1, user_api="blas")


def _fill_and_sort(columns: dict[tuple[int, int], np.ndarray], pitch_range: tuple[int, int] | None,
                   settings: FeatureSettings, fill: bool = True) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[int]]:
    """Add harmonic (sustain) templates for pitches in range without data (``fill=False``: none).

    ``columns`` maps (pitch, role) to a template. Returns W, pitches, roles (sorted by pitch,
    then role) and the filled pitches.
    """
    learned = sorted({p for p, _ in columns})
    lo, hi = pitch_range if pitch_range else (learned[0], learned[-1])
    filled = [p for p in range(lo, hi + 1) if p not in learned] if fill else []
    if filled:
        Wh = harmonic_templates(filled, frequencies(settings))
        for j, p in enumerate(filled):
            columns[(p, ROLE_SUSTAIN)] = Wh[:, j]
    keys = sorted(k for k in columns if lo <= k[0] <= hi)
    W = np.stack([columns[k] for k in keys], axis=1)
    return W, np.array([k[0] for k in keys], dtype=np.int16), np.array([k[1] for k in keys], dtype=np.int8), filled


def check_learn_settings(*, beta: float = 1.0, iterations: int | None = 50, split: str | None = None,
                         guitarset_audio: str = "mic", max_files: int | None = None, frames: int = 1,
                         method: str = "informed", comb_share: float = 0.0, note_ends: str | None = None) -> None:
    """Reject impossible learning settings before any file is read (the CLI: a usage error, exit 2)."""
    from nmftrans.core.convolutive import check_frames
    from nmftrans.core.notes import NoteParams
    from nmftrans.io.datasets import check_dataset_options

    NoteParams(note_ends=note_ends)  # note_ends, stored in the provenance: validated where it is defined
    check_beta(beta)
    check_frames(frames)
    check_method(method)
    check_comb_share(comb_share)
    if iterations is not None and iterations < 1:  # None: not used here (learn --deep: DeepParams' steps)
        raise SettingError("iterations", f"must be at least 1 (got {iterations})")
    check_dataset_options(split=split, guitarset_audio=guitarset_audio, max_files=max_files)


def check_comb_share(comb_share: float) -> float:
    """``comb_share`` (the harmonic comb's share in a learned sustain template) if in [0, 1]."""
    if not 0.0 <= comb_share <= 1.0:  # NaN fails too
        raise SettingError("comb_share", f"must be between 0 and 1, got {comb_share:g}")
    return float(comb_share)


def learn_harmonic(pitch_range: tuple[int, int], settings: FeatureSettings = FeatureSettings(),
                   *, beta: float = 1.0, tolerance: float = 0.02, pitches=None) -> Dictionary:
    """Harmonic comb templates for every pitch in ``pitch_range`` (inclusive MIDI numbers).

    ``tolerance``: half-width of each partial's lobe relative to its frequency
    (:func:`~nmftrans.core.templates.harmonic_templates`), in (0, 0.5]. ``pitches``: only these MIDI
    pitches (e.g. those a score uses) instead of the whole range.
    """
    check_learn_settings(beta=beta)
    if not (0 < tolerance <= 0.5):
        raise SettingError("tolerance", f"must be above 0 and at most 0.5 (a fraction of each partial's "
                            f"frequency), got {tolerance:g}")
    lo, hi = pitch_range
    if not 0 <= lo <= hi <= 127:
        raise NmftransError(f"invalid pitch range {lo}-{hi}")
    pitches = np.arange(lo, hi + 1) if pitches is None else np.unique(np.asarray(pitches, dtype=int))
    if len(pitches) == 0 or pitches.min() < 0 or pitches.max() > 127:
        raise NmftransError("the pitch set must hold MIDI pitches 0-127")
    W = harmonic_templates(pitches, frequencies(settings), tolerance=tolerance)
    prov = _provenance("harmonic", [], pitch_range=[int(pitches[0]), int(pitches[-1])], tolerance=tolerance)
    return Dictionary(W, pitches, np.full(len(pitches), ROLE_SUSTAIN), settings, beta, prov)


def _isolated_spectra(note: IsolatedNote, settings: FeatureSettings, n_attack: int, n_sustain: int,
                      frames: int = 1, beta: float = 1.0) -> tuple[np.ndarray, np.ndarray, tuple | None]:
    """Unit-sum attack and sustain spectra of one isolated note (runs on a worker), and the
    tuning reading of the note from its onset (:func:`nmftrans.core.tuning.estimate_tuning`) if its
    pitch is in :data:`~nmftrans.core.tuning.REFERENCE_PITCHES`, else None.

    With ``frames > 1`` the attack is instead the note's ``(n_bins, frames)`` convolutive patch
    (:func:`nmftrans.core.convolutive.learn_patch`, fitted with ``beta``).

    Raises
    ------
    NmftransError
        The audio cannot be read, or the note is silent or too short.
    """
    y = load_audio(note.path, settings.sample_rate)
    V = spectrogram(y, settings)
    on = int(round(note.onset * settings.frame_rate))
    off = V.shape[1] if note.offset is None else int(round(note.offset * settings.frame_rate))
    attack = V[:, on:on + n_attack].sum(axis=1, dtype=np.float64)
    sustain = V[:, on + n_attack:max(min(off, on + n_sustain), on + n_attack + 1)].sum(axis=1, dtype=np.float64)
    if attack.sum() <= 0 or sustain.sum() <= 0:
        raise NmftransError("silent or too short a note")
    if frames > 1:
        from nmftrans.core.convolutive import learn_patch

        attack = learn_patch(V[:, on:], frames, beta=beta)
    reading = None
    if REFERENCE_PITCHES[0] <= note.pitch <= REFERENCE_PITCHES[1]:
        start = int(round(note.onset * settings.sample_rate))  # its first second: the clearest
        reading = estimate_tuning(y[start:start + settings.sample_rate], settings.sample_rate)
    return attack / attack.sum(), sustain / sustain.sum(), reading


def learn_isolated(notes: Sequence[IsolatedNote], settings: FeatureSettings = FeatureSettings(), *,
                   beta: float = 1.0, pitch_range: tuple[int, int] | None = None, attack_s: float = 0.08,
                   sustain_s: float = 1.0, progress: Progress | None = None, jobs: int = 1,
                   scheduler=None, frames: int = 1, one_template: bool = False,
                   fill: bool = True, comb_share: float = 0.0) -> tuple[Dictionary, LearnReport]:
    """An attack and a sustain template per pitch from isolated-note recordings.

    ``comb_share`` in [0, 1]: each learned sustain template becomes ``(1 - comb_share)`` of itself
    plus ``comb_share`` of its pitch's harmonic comb (:func:`learn_harmonic`'s), renormalised:
    templates less specific to the recorded instrument (the shipped piano dictionary uses 0.5:
    another piano, TimGM6mb, 0.873 -> 0.893 onset F; the recorded one 0.918 -> 0.910).
    ``one_template``: one template per pitch instead (attack and sustain frames pooled, the
    rank-one NMF of the note's spectrogram summed over time). ``fill=False``: pitches without
    data get no harmonic template.

    For each file the attack spectrum is the sum of the frames in the first ``attack_s`` after the
    onset and the sustain spectrum the sum of the frames from ``attack_s`` to
    ``min(offset, onset + sustain_s)`` (so louder frames weigh more); each is normalised to unit
    sum, averaged over the files of a pitch (velocity layers pooled) and normalised again. Unit-sum
    templates make an activation equal to the magnitude it explains.

    Parameters
    ----------
    notes : sequence of IsolatedNote
    settings : FeatureSettings
    beta : float
        Stored as the dictionary's divergence for solving.
    pitch_range : (int, int), optional
        Inclusive MIDI range of the dictionary; pitches without data get a harmonic template.
        Default: the range of the data.
    attack_s, sustain_s : float
        Attack length and end of the sustain part after the onset, in seconds.
    progress : callable, optional
        Called with each file name once it is processed.
    jobs : int
        Files read at once by worker processes (:class:`~nmftrans.parallel.Runner`).
    scheduler : str or distributed.Client, optional
        A dask.distributed scheduler to read the files on instead (``jobs`` is then ignored).
    frames : int
        1: one-frame templates (above). τ > 1: a convolutive dictionary (3-D W), whose attack
        template of each pitch is a τ-frame patch, the mean over the pitch's files of each note's
        rank-one convolutive NMF (:func:`nmftrans.core.convolutive.learn_patch`); sustain templates stay
        one frame long.

    Returns
    -------
    dictionary : Dictionary
    report : LearnReport

    Notes
    -----
    The spectra of each file are computed on the workers and summed here in input order, so
    the templates are the same for any ``jobs`` or cluster.
    """
    from nmftrans.core.convolutive import check_frames, with_frames

    frames = check_frames(frames)
    report = LearnReport()
    fr = settings.frame_rate
    n_attack = max(1, int(round(attack_s * fr)))
    work = functools.partial(_isolated_spectra, settings=settings, n_attack=n_attack,
                             n_sustain=int(round(sustain_s * fr)), frames=frames, beta=beta)
    sums: dict[tuple[int, int], list] = {}
    readings = []  # tuning readings of the notes in the middle of the range, in input order
    with _one_blas_thread(), Runner(jobs, scheduler) as runner:
        for note, result, error in runner.map_ordered(work, notes):
            if progress:
                progress(note.path.name)
            if error is not None:
                report.skipped.append((str(note.path), str(error)))
                continue
            *spectra, reading = result
            if reading is not None:
                readings.append(reading)
            for role, spectrum in zip((ROLE_ATTACK, ROLE_SUSTAIN), spectra):
                acc = sums.setdefault((note.pitch, role), [np.zeros_like(spectrum), 0])
                acc[0] += spectrum
                acc[1] += 1
    if not sums:
        raise NmftransError("no usable isolated notes found")
    if one_template:
        pooled: dict[tuple[int, int], list] = {}
        for (pitch, _), (v, count) in sorted(sums.items()):
            acc = pooled.setdefault((pitch, ROLE_SUSTAIN), [np.zeros_like(v), count])
            acc[0] += v
        sums = pooled
    columns = {k: (v / v.sum()).astype(np.float32) for k, (v, _) in sums.items()}
    patches = {k: v for k, v in columns.items() if v.ndim == 2}  # frames > 1: the attack patches
    columns.update({k: v[:, 0] for k, v in patches.items()})  # placeholders, replaced below
    W, pitches, roles, filled = _fill_and_sort(columns, pitch_range, settings, fill)
    check_comb_share(comb_share)
    if comb_share > 0:
        learned = np.isin(pitches, [p for p, r in sums if r == ROLE_SUSTAIN]) & (roles == ROLE_SUSTAIN)
        combs = harmonic_templates(pitches[learned], frequencies(settings))
        W[:, learned] = shrink_to_prior(W[:, learned], combs, comb_share)
    if frames > 1:
        W = with_frames(W, frames)
        for j, key in enumerate(zip(pitches.tolist(), roles.tolist())):
            if key in patches:
                W[:, j, :] = patches[key]
    report.learned = sorted({p for p, _ in sums})
    report.filled = filled
    cents, _, n_peaks = mean_reading(readings)
    prov = _provenance("isolated", sorted({str(n.path.parent) for n in notes}), n_files=len(notes),
                       attack_s=attack_s, sustain_s=sustain_s, learned=report.learned, filled=filled,
                       **({"frames": frames} if frames > 1 else {}),
                       **({"comb_share": comb_share} if comb_share > 0 else {}),
                       **({"tuning_cents": round(cents, 1)} if n_peaks > 0 else {}))
    return Dictionary(W, pitches, roles, settings, beta, prov), report


def _skipped_summary(report: LearnReport) -> str:
    """One line naming the skipped files and why (at most three)."""
    if not report.skipped:
        return "no annotated notes inside the audio"
    shown = "; ".join(f"{Path(p).name}: {r}" for p, r in report.skipped[:3])
    more = f" and {len(report.skipped) - 3} more" if len(report.skipped) > 3 else ""
    return f"{len(report.skipped)} file(s) skipped ({shown}{more})"


SILENT_RMS = 1e-4  # below this RMS a training file counts as silent


def _silent(y: np.ndarray) -> bool:
    return len(y) == 0 or float(np.sqrt(np.mean(np.square(y, dtype=np.float64)))) < SILENT_RMS


@dataclass(frozen=True, eq=False)
class _LabelledSetup:
    """What a worker needs to turn a labelled file into its spectrogram V and roll Y (picklable)."""

    settings: FeatureSettings
    pitch_range: tuple[int, int]
    n_attack: int
    beta: float
    store: str | None = None  # folder for V and Y (or H) as .npy (β != 2 or informed), on the parent's machine
    method: str = "fixed"
    params: InformedParams = InformedParams()


@dataclass(frozen=True, eq=False)
class _LabelledFile:
    """One labelled audio file and its notes (cut to the audio); ``V``/``Y``: where they are stored."""

    index: int
    path: Path
    notes: np.ndarray
    V: str | None = None
    Y: str | None = None  # fixed: the roll; informed: the initial H (epoch e reads H.<e % 2>.npy beside it)


@dataclass
class _Prepared:
    """A worker's answer for one labelled file: what the parent adds up (or why it is skipped)."""

    warnings: list[str]
    skip: str | None = None
    active: np.ndarray | None = None
    XYt: np.ndarray | None = None
    YYt: np.ndarray | None = None
    stored: tuple[str, str] | None = None
    frames: np.ndarray | None = None  # annotated frames per pitch
    reading: tuple | None = None  # its tuning reading (core.tuning.estimate_tuning)


def _read_labels(pair: tuple[Path, Path] | IsolatedNote, sustain: bool) -> tuple[np.ndarray, list[str]]:
    """The notes of one (audio, annotation) pair, or the one note of an isolated-note file, cut
    to the audio's duration (runs on a worker)."""
    from nmftrans.io.annotations import read_notes
    from nmftrans.core.notearrays import crop_notes

    if isinstance(pair, IsolatedNote):
        duration = audio_duration(pair.path)
        offset = duration if pair.offset is None else min(float(pair.offset), duration)
        return crop_notes(np.array([[pair.onset, max(offset, pair.onset), pair.pitch, 100.0]]), duration)
    audio_path, ann_path = pair
    notes = read_notes(ann_path, sustain=sustain)
    return crop_notes(notes, audio_duration(audio_path))


def _labelled_roll(item: _LabelledFile, setup: _LabelledSetup,
                   y: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Spectrogram V, roll Y (sustain rows, then attack rows) and warnings of one labelled file
    (``method='fixed'``); ``y``: its audio, if already read."""
    from nmftrans.core.notearrays import crop_notes, notes_to_roll, onset_roll

    settings = setup.settings
    if y is None:
        y = load_audio(item.path, settings.sample_rate)
    if _silent(y):
        raise NmftransError("the audio is silent")
    V = spectrogram(y, settings)
    notes, warns = crop_notes(item.notes, len(y) / settings.sample_rate, pitch_range=setup.pitch_range)
    pitch_list = np.arange(setup.pitch_range[0], setup.pitch_range[1] + 1)
    fr = settings.frame_rate
    attack = onset_roll(notes, V.shape[1], fr, pitch_list, onset_frames=setup.n_attack)
    Y = np.concatenate([notes_to_roll(notes, V.shape[1], fr, pitch_list) * (1 - attack), attack])
    return V, Y, [f"{item.path.name}: {w}" for w in warns]


@functools.lru_cache(maxsize=4)
def _noise_templates(settings: FeatureSettings, params: InformedParams) -> np.ndarray:
    """The fixed broadband templates of informed learning, ``(n_bins, n_noise)`` (maybe 0 columns)."""
    from nmftrans.core.features import bandwidths
    from nmftrans.core.templates import floor_templates

    if params.noise_octaves <= 0:
        return np.zeros((len(frequencies(settings)), 0), dtype=np.float32)
    return floor_templates(frequencies(settings), bandwidths(settings),
                           spacing_octaves=params.noise_octaves).astype(np.float32)


def _frames_per_pitch(item: _LabelledFile, n_frames: int, setup: _LabelledSetup) -> np.ndarray:
    """Annotated frames of each pitch of the range in one file (for the report)."""
    from nmftrans.core.notearrays import crop_notes

    notes, _ = crop_notes(item.notes, n_frames / setup.settings.frame_rate, pitch_range=setup.pitch_range)
    pitch_list = np.arange(setup.pitch_range[0], setup.pitch_range[1] + 1)
    return _annotated_frames(notes, n_frames, setup.settings.frame_rate, pitch_list)


class _RowWriter:
    """Rows of a float32 ``.npy`` file written one block after another, the row count fixed at the
    end (the header is rewritten in place, padded to a fixed length)."""

    HEADER = 128

    def __init__(self, path: str, n_cols: int):
        if os.path.exists(path):
            os.unlink(path)
        self.path, self.n_cols, self.rows = path, n_cols, 0
        self._file = open(path, "wb")
        self._file.write(self._header())

    def _header(self) -> bytes:
        import struct

        body = f"{{'descr': '<f4', 'fortran_order': False, 'shape': ({self.rows}, {self.n_cols}), }}"
        body = body.ljust(self.HEADER - 10 - 1) + "\n"
        return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(body)) + body.encode("latin1")

    def write(self, block: np.ndarray) -> None:
        """Append rows, shape ``(n, n_cols)``."""
        self._file.write(np.ascontiguousarray(block, dtype="<f4").tobytes())
        self.rows += block.shape[0]

    def close(self, ok: bool = True) -> None:
        if ok:
            self._file.seek(0)
            self._file.write(self._header())
        self._file.close()
        if not ok:
            os.unlink(self.path)


def _prepare_informed(item: _LabelledFile, setup: _LabelledSetup) -> _Prepared:
    """Per-file work of score-informed learning (runs on a worker), streamed: the audio is read
    and analysed block by block into Vᵀ on disk, then the initial Hᵀ is written block by block
    (``setup.params.block_frames`` frames), so memory does not grow with the file's length."""
    from nmftrans.core.notearrays import crop_notes
    from nmftrans.io.audio import stream_audio
    from nmftrans.core.features import SpectrogramStream

    settings, params = setup.settings, setup.params
    if setup.store is None or not os.path.isdir(setup.store):
        return _Prepared([])  # nothing stored: the parent stops with the TMPDIR message
    vp = os.path.join(setup.store, f"{item.index}_V.npy")
    hp = os.path.join(setup.store, f"{item.index}_Y.npy")
    stream = SpectrogramStream(settings)
    writer = _RowWriter(vp, len(frequencies(settings)))
    ok = False
    sum_sq, n_samples, v_sum = 0.0, 0, 0.0
    piece = params.block_frames * settings.hop_length  # samples analysed at once
    tuning = TuningReader(settings.sample_rate)
    try:
        for y in stream_audio(item.path, settings.sample_rate):
            tuning.feed(y)
            sum_sq += float(np.square(y, dtype=np.float64).sum())
            n_samples += len(y)
            for k in range(0, len(y), piece):
                V = stream.push(y[k:k + piece])
                v_sum += float(V.sum(dtype=np.float64))
                writer.write(V.T)
        V = stream.finish()
        v_sum += float(V.sum(dtype=np.float64))
        writer.write(V.T)
        ok = n_samples > 0 and np.sqrt(sum_sq / n_samples) >= SILENT_RMS
    finally:
        writer.close(ok)
    if not ok:
        raise NmftransError("the audio is silent")
    n = writer.rows
    notes, warns = crop_notes(item.notes, n_samples / settings.sample_rate, pitch_range=setup.pitch_range)
    warnings = [f"{item.path.name}: {w}" for w in warns]
    pitch_list = np.arange(setup.pitch_range[0], setup.pitch_range[1] + 1)
    fr = settings.frame_rate
    blocks = [(a, min(a + params.block_frames, n)) for a in range(0, n, params.block_frames)]

    def block(b):
        return initial_activations(notes, n, fr, pitch_list, setup.n_attack, params, frames=b)

    # first pass: the support and its sum; second: H0 at V's level (W H0 with unit-sum columns has
    # V's sum), the noise templates' rows (free everywhere) at a tenth of V's mean frame
    active = np.zeros(2 * len(pitch_list), dtype=bool)
    h_sum = 0.0
    for b in blocks:
        H = block(b)
        active |= H.any(axis=1)
        h_sum += float(H.sum(dtype=np.float64))
    if not active.any():
        os.unlink(vp)
        return _Prepared(warnings, skip="no annotated notes inside the audio and pitch range")
    level = np.float32(v_sum / h_sum)
    noise = _noise_templates(settings, params).shape[1]
    writer = _RowWriter(hp, len(active) + noise)
    ok = False
    try:
        for b in blocks:
            H = block(b) * level
            if noise:
                H = np.concatenate([H, np.full((noise, H.shape[1]), 0.1 * v_sum / n, np.float32)])
            writer.write(H.T)
        ok = True
    finally:
        writer.close(ok)
    return _Prepared(warnings, active=active, frames=_annotated_frames(notes, n, fr, pitch_list), stored=(vp, hp),
                     reading=tuning.finish())


def _annotated_frames(notes: np.ndarray, n_frames: int, frame_rate: float, pitch_list: np.ndarray) -> np.ndarray:
    """Frames of each pitch covered by at least one note (frame t: onset <= t / frame_rate < offset)."""
    start = np.clip(np.ceil(notes[:, 0] * frame_rate - 1e-9).astype(np.int64), 0, n_frames)
    stop = np.clip(np.ceil(notes[:, 1] * frame_rate - 1e-9).astype(np.int64), 0, n_frames)
    counts = np.zeros(len(pitch_list), dtype=np.int64)
    for j, p in enumerate(pitch_list):
        mine = notes[:, 2] == p
        covered_to = 0
        for a, b in sorted(zip(start[mine], stop[mine])):
            a = max(a, covered_to)
            if b > a:
                counts[j] += b - a
                covered_to = b
    return counts


def _prepare_labelled(item: _LabelledFile, setup: _LabelledSetup) -> _Prepared:
    """Per-file work of labelled learning (runs on a worker).

    β = 2: the sufficient statistics ``X Yᵀ`` and ``Y Yᵀ``. Other β: V and Y saved to
    ``setup.store`` for the epochs, when that folder exists here (a worker on another machine
    does not see it; the epochs then recompute V and Y from the audio).
    """
    if setup.method == "informed":
        return _prepare_informed(item, setup)
    y = load_audio(item.path, setup.settings.sample_rate)
    V, Y, warnings = _labelled_roll(item, setup, y)
    if not Y.any():
        return _Prepared(warnings, skip="no annotated notes inside the audio and pitch range")
    out = _Prepared(warnings, active=Y.any(axis=1), frames=_frames_per_pitch(item, V.shape[1], setup),
                    reading=estimate_tuning(y, setup.settings.sample_rate))
    if setup.beta == 2 and setup.method == "fixed":
        out.XYt = V.astype(np.float64) @ Y.T
        out.YYt = Y.astype(np.float64) @ Y.T
    elif setup.store is not None and os.path.isdir(setup.store):
        vp, yp = os.path.join(setup.store, f"{item.index}_V.npy"), os.path.join(setup.store, f"{item.index}_Y.npy")
        np.save(vp, V)
        np.save(yp, Y)
        out.stored = (vp, yp)
    return out


def _labelled_update_terms(item: _LabelledFile, W: np.ndarray, setup: _LabelledSetup) -> tuple[np.ndarray, np.ndarray]:
    """One file's MU numerator and denominator for W, as float64 to be summed over the files
    (runs on a worker; memory-maps the stored V and Y, or recomputes them where they are not seen)."""
    from nmftrans.core import kernels

    if item.V is not None and os.path.isfile(item.V) and os.path.isfile(item.Y):
        V, Y = np.load(item.V, mmap_mode="r"), np.load(item.Y, mmap_mode="r")
    else:
        V, Y, _ = _labelled_roll(item, setup)
    num, den = kernels.dictionary_update_terms(V, W, Y, beta=setup.beta)
    return num.astype(np.float64), den.astype(np.float64)


def _epoch_h(item: _LabelledFile, epoch: int) -> str:
    """Where the informed H of ``item`` is read from at ``epoch`` (written to at ``epoch - 1``).

    Two files alternate, so an epoch never overwrites what it reads: a retried task (dask)
    gives the same result. H is stored transposed, (frames, components), so that a block of
    frames is one contiguous stretch of the file."""
    return item.Y if epoch == 0 else item.Y[: -len(".npy")] + f".{epoch % 2}.npy"


class _ColumnWriter:
    """``H[:, a:b] = block`` for consecutive blocks of frames, written through to an ``.npy`` file
    holding Hᵀ (sequential buffered writes: no memory map to flush). The file of two epochs
    before is overwritten in place when it has the right size, else a new file is made: never
    truncated or renamed over, since ext4 flushes a file to disk on close after either
    (``auto_da_alloc``), which cost more than the arithmetic, and creating files is slow too."""

    def __init__(self, path: str, shape: tuple[int, int]):
        import io

        header = io.BytesIO()
        np.lib.format.write_array_header_1_0(
            header, {"descr": np.lib.format.dtype_to_descr(np.dtype(np.float32)), "fortran_order": False,
                     "shape": (shape[1], shape[0])})
        size = len(header.getvalue()) + 4 * shape[0] * shape[1]
        if os.path.exists(path) and os.path.getsize(path) != size:
            os.unlink(path)
        self._file = open(path, "r+b" if os.path.exists(path) else "wb")
        self._file.write(header.getvalue())
        self._path = path

    def __setitem__(self, key, block: np.ndarray) -> None:
        self._file.write(np.ascontiguousarray(block.T, dtype=np.float32).tobytes())

    def close(self, ok: bool) -> None:
        self._file.close()
        if not ok:  # never leave a partial H for the next epoch
            os.unlink(self._path)


def _load_h(path: str, block_frames: int) -> np.ndarray:
    """A stored informed H (or V) as a (rows, frames) view of the stored transpose: memory-mapped,
    or read whole when the file is no larger than a block of ``block_frames`` frames of up to 1024
    values (short files, e.g. isolated notes: one ``open`` instead of two)."""
    small = os.path.getsize(path) <= block_frames * 1024 * 4
    return np.load(path, mmap_mode=None if small else "r").T


def _informed_terms(item: _LabelledFile, W: np.ndarray, epoch: int, setup: _LabelledSetup) -> tuple[np.ndarray, np.ndarray]:
    """One file's epoch of score-informed learning (runs on a worker): update its H on disk with
    the current W, return the W update's numerator and denominator."""
    if item.V is None or not (os.path.isfile(item.V) and os.path.isfile(_epoch_h(item, epoch))):
        raise NmftransError(_NOT_SHARED)
    V = _load_h(item.V, setup.params.block_frames)
    H_in = _load_h(_epoch_h(item, epoch), setup.params.block_frames)
    H_out = _ColumnWriter(_epoch_h(item, epoch + 1), H_in.shape)
    ok = False
    try:
        terms = informed_epoch(V, W, H_in, H_out, beta=setup.beta, params=setup.params)
        ok = True
    finally:
        H_out.close(ok)
    return terms


def _fit(item: _LabelledFile, W: np.ndarray, epoch: int, setup: _LabelledSetup) -> tuple[float, int]:
    """``D(V | W H)`` of one file with the final W (and H) and its frame count (runs on a worker)."""
    if setup.method == "informed":
        if item.V is None or not (os.path.isfile(item.V) and os.path.isfile(_epoch_h(item, epoch))):
            raise NmftransError(_NOT_SHARED)
        frames = setup.params.block_frames
        V, H = _load_h(item.V, frames), _load_h(_epoch_h(item, epoch), frames)
    elif item.V is not None and os.path.isfile(item.V) and os.path.isfile(item.Y):
        V, H = np.load(item.V, mmap_mode="r"), np.load(item.Y, mmap_mode="r")
    else:
        V, H, _ = _labelled_roll(item, setup)
    return divergence(V, W, H, beta=setup.beta, block_frames=setup.params.block_frames), int(V.shape[1])


_NOT_SHARED = ("this worker does not see the temporary folder of the learning run (score-informed learning "
               "keeps each file's V and H there): set TMPDIR to a folder all cluster workers share")


def learn_labelled(pairs: Sequence[tuple[Path, Path] | IsolatedNote], settings: FeatureSettings = FeatureSettings(), *,
                   beta: float = 1.0, iterations: int = 50, pitch_range: tuple[int, int] | None = None,
                   sustain: bool = True, attack_s: float = 0.08, progress: Progress | None = None,
                   jobs: int = 1, scheduler=None, method: str = "informed",
                   informed: InformedParams = InformedParams()) -> tuple[Dictionary, LearnReport]:
    """Learn W from labelled audio: score-informed NMF, or H fixed to the piano roll Y.

    ``method='informed'`` (:mod:`nmftrans.core.informed`): H starts from the notes (a decaying
    sustain profile and a flat attack window per note) and is updated inside their support
    widened by a tolerance, alternating with the W updates, so that each template keeps only
    what its own note explains. The sustain templates start harmonic, the attack templates flat;
    fixed broadband templates take what no note explains; at the end each sustain template is
    shrunk towards its harmonic comb (``informed.prior_share``).
    ``method='fixed'``: plain supervised NMF, ``min_W D(X | W Y)`` with H fixed to the binary roll
    (the first ``attack_s`` of each note on the attack row), both templates starting harmonic.

    Spectrograms are never all held in memory: each file's V (and H) is kept in a temporary
    folder as ``.npy`` files and memory-mapped in each epoch, whose W update sums every file's
    numerator and denominator (worked out ``informed.block_frames`` frames at a time; the
    informed method also reads, analyses and writes each file in such blocks); for
    ``method='fixed'`` and β = 2 one pass accumulates ``X Yᵀ`` and ``Y Yᵀ`` instead.

    Parameters
    ----------
    pairs : sequence of (audio path, annotation path) or IsolatedNote
        Isolated notes are labelled files holding one note.
    settings : FeatureSettings
    beta : float
    iterations : int
        Epochs over all files (one W update each).
    pitch_range : (int, int), optional
        Inclusive MIDI range; default: the annotated pitches' range within 21-108.
    sustain : bool
        Extend MIDI notes by the sustain pedal.
    attack_s : float
        Length of each note's attack (the window of its attack template) after the onset.
    progress : callable, optional
        Called with each audio file's name once it is read.
    jobs : int
        Worker processes for the per-file work (:class:`~nmftrans.parallel.Runner`).
    scheduler : str or distributed.Client, optional
        A dask.distributed scheduler instead (``jobs`` is then ignored).
    method : {'informed', 'fixed'}
    informed : InformedParams
        Support, initial profile, H updates per epoch and block size of the informed method
        (``block_frames`` also bounds the fit evaluation of either method).

    Returns
    -------
    dictionary : Dictionary
    report : LearnReport
        With ``fit`` (each file's divergence per frame under the final W) and ``pitch_frames``
        (annotated frames per pitch).

    Notes
    -----
    The workers read the annotations, compute each file's spectrogram and initial H, and each
    epoch's numerator and denominator for the current W; this process adds them up in input
    order, so W is bit-identical for any ``jobs`` or cluster of like machines (the per-file
    products run on one BLAS thread everywhere, since a BLAS's rounding depends on its thread
    count; the parallelism is over files). Each file's H depends only on W and that file.
    The temporary folder is ``TMPDIR``: a cluster's workers on other machines must share it for
    the informed method (``method='fixed'`` recomputes V and Y from the audio there instead).
    """
    import contextlib
    import tempfile

    method = check_method(method)
    report = LearnReport()
    fr = settings.frame_rate
    with _one_blas_thread(), Runner(jobs, scheduler) as runner:
        annotated: list[_LabelledFile] = []
        # annotations first (cheap): they fix the pitch range
        for pair, labels, error in runner.map_ordered(functools.partial(_read_labels, sustain=sustain), pairs):
            audio_path = pair.path if isinstance(pair, IsolatedNote) else pair[0]
            if error is not None:
                report.skipped.append((str(audio_path), str(error)))
                continue
            notes, warns = labels
            report.warnings.extend(f"{Path(audio_path).name}: {w}" for w in warns)
            annotated.append(_LabelledFile(len(annotated), Path(audio_path), notes))
        if not annotated:
            raise NmftransError("no usable labelled audio: " + _skipped_summary(report))
        if pitch_range is None:
            all_pitches = np.concatenate([f.notes[:, 2] for f in annotated]).astype(int)
            inside = all_pitches[(all_pitches >= 21) & (all_pitches <= 108)]
            if inside.size == 0:
                raise NmftransError("the annotations hold no pitches in the piano range 21-108; give --lowest/--highest")
            pitch_range = (int(inside.min()), int(inside.max()))
        pitch_list = np.arange(pitch_range[0], pitch_range[1] + 1)
        n_p = len(pitch_list)
        # components: a sustain template per pitch, then an attack template per pitch
        pitches = np.concatenate([pitch_list, pitch_list])
        roles = np.concatenate([np.full(n_p, ROLE_SUSTAIN), np.full(n_p, ROLE_ATTACK)]).astype(np.int8)
        freqs = frequencies(settings)
        harmonic = harmonic_templates(pitch_list, freqs)
        if method == "informed":  # attack templates start flat and are shaped by the data (FMP C8)
            noise = _noise_templates(settings, informed)
            W = np.concatenate([initial_templates(harmonic, informed), noise], axis=1)
        else:
            W = np.concatenate([harmonic] * 2, axis=1)
        XYt = np.zeros((len(freqs), len(pitches)), dtype=np.float64)
        YYt = np.zeros((len(pitches), len(pitches)), dtype=np.float64)
        active = np.zeros(len(pitches), dtype=bool)
        frames = np.zeros(n_p, dtype=np.int64)
        statistics = beta == 2 and method == "fixed"
        spill = contextlib.nullcontext() if statistics else tempfile.TemporaryDirectory(prefix="nmftrans-learn-")
        with spill as store:
            setup = _LabelledSetup(settings, (int(pitch_range[0]), int(pitch_range[1])),
                                   max(1, int(round(attack_s * fr))), float(beta), store, method, informed)
            stored: list[_LabelledFile] = []
            readings = []  # each file's tuning reading, in input order
            prepare = functools.partial(_prepare_labelled, setup=setup)
            for item, prepared, error in runner.map_ordered(prepare, annotated):
                if progress:
                    progress(item.path.name)
                if error is not None:
                    report.skipped.append((str(item.path), str(error)))
                    continue
                if prepared.stored is None and method == "informed" and not prepared.skip:
                    raise NmftransError(f"{item.path}: {_NOT_SHARED}")
                report.warnings.extend(prepared.warnings)
                if prepared.skip:
                    report.skipped.append((str(item.path), prepared.skip))
                    continue
                active |= prepared.active
                frames += prepared.frames
                if prepared.reading is not None:
                    readings.append(prepared.reading)
                if statistics:
                    XYt += prepared.XYt
                    YYt += prepared.YYt
                    stored.append(item)
                else:
                    vp, yp = prepared.stored or (None, None)
                    stored.append(_LabelledFile(item.index, item.path, item.notes, vp, yp))
            if not active.any():
                raise NmftransError("nothing to learn from: " + _skipped_summary(report))
            for epoch in range(iterations):
                if statistics:
                    num, den = XYt, W.astype(np.float64) @ YYt
                else:
                    if method == "informed":
                        terms = functools.partial(_informed_terms, W=W, epoch=epoch, setup=setup)
                    else:
                        terms = functools.partial(_labelled_update_terms, W=W, setup=setup)
                    (num, den), failed = runner.reduce_sum(terms, stored)
                    if failed:  # a file that was read before cannot be any more
                        item, error = failed[0]
                        raise NmftransError(f"{item.path}: {error}")
                W = update_templates(W, num, den, beta=beta)  # inactive pitches: den = 0, initial template kept
                if method == "informed" and noise.shape[1]:
                    W[:, 2 * n_p:] = noise  # the noise templates are fixed
            # how well the final W explains each file (its H after the last epoch)
            fit = functools.partial(_fit, W=W, epoch=iterations, setup=setup)
            for item, result, error in runner.map_ordered(fit, stored):
                if error is not None:
                    raise NmftransError(f"{item.path}: {error}")
                report.fit.append((str(item.path), result[0] / max(result[1], 1), result[1]))
    W = np.maximum(W[:, :2 * n_p], 1e-12)
    W /= W.sum(axis=0, keepdims=True)
    if method == "informed" and informed.prior_share > 0:
        W[:, :n_p] = shrink_to_prior(W[:, :n_p], harmonic, informed.prior_share)
    sounding = active[:n_p] | active[n_p:]
    report.learned = [int(p) for p in pitch_list[sounding]]
    report.filled = [int(p) for p in pitch_list[~sounding]]
    report.pitch_frames = {int(p): int(n) for p, n in zip(pitch_list, frames) if n > 0}
    # a pitch without data keeps one harmonic template; a pitch seen only in attacks or only in
    # sustains keeps the role it was trained for plus the initial template of the other
    keep = np.concatenate([np.ones(n_p, bool), active[n_p:]])
    W, pitches, roles = W[:, keep], pitches[keep], roles[keep]
    sources = sorted({str(p.path if isinstance(p, IsolatedNote) else p[0]) for p in pairs})
    extra = {"informed": dataclasses.asdict(informed)} if method == "informed" else {}
    cents, _, n_peaks = mean_reading(readings)
    prov = _provenance("labelled", sources[:50], n_files=len(pairs), beta=beta, iterations=iterations,
                       learning=method, learned=report.learned, filled=report.filled, **extra,
                       **({"tuning_cents": round(cents, 1)} if n_peaks > 0 else {}))
    order = np.lexsort((roles, pitches))
    return Dictionary(W[:, order], pitches[order], roles[order], settings, beta, prov), report


def learn_from_sources(sources: Sequence[Path], settings: FeatureSettings = FeatureSettings(), *,
                       beta: float = 1.0, pitch_range: tuple[int, int] | None = None, iterations: int = 50,
                       split: str | None = None, guitarset_audio: str = "mic", max_files: int | None = None,
                       sustain: bool = True, log=None, jobs: int = 1, scheduler=None,
                       frames: int = 1, method: str = "informed", one_template: bool = False,
                       fill: bool = True, comb_share: float = 0.0) -> tuple[Dictionary, LearnReport]:
    """Find the training material in ``sources`` (isolated notes, labelled audio, or both) and learn from it.

    Sources that are all isolated notes give :func:`learn_isolated`'s templates; labelled audio
    gives :func:`learn_labelled` with ``method``; a mix of the two learns from everything at
    once with :func:`learn_labelled`, each isolated note a labelled file of one note.
    ``one_template``, ``fill`` and ``comb_share``: see :func:`learn_isolated` (isolated notes only).
    ``log`` (optional) has ``info(str)`` and ``progress(total, description)`` as in the CLI.
    ``jobs`` and ``scheduler`` spread the per-file work over worker processes or a dask cluster
    (:class:`~nmftrans.parallel.Runner`); the dictionary is the same for any of them. ``frames``
    > 1 (convolutive templates) applies to isolated notes only.
    """
    from nmftrans.io import datasets

    if scheduler is not None:  # cluster workers run in other folders: send them absolute paths
        sources = [Path(s).resolve() for s in sources]
    for s in sources:
        if not Path(s).exists():
            raise NmftransError(f"{s}: no such file or folder")
    check_learn_settings(beta=beta, iterations=iterations, split=split, guitarset_audio=guitarset_audio,
                         max_files=max_files, frames=frames, method=method, comb_share=comb_share)
    if one_template and frames > 1:
        raise NmftransError("--one-template and --frames > 1 exclude each other (one template per pitch has no attack patch)")
    isolated_sources = [s for s in sources if datasets.looks_isolated([s])]
    labelled_sources = [s for s in sources if s not in isolated_sources]
    items: list[IsolatedNote] = []
    skipped: list[tuple[str, str]] = []
    if isolated_sources:
        found = datasets.discover_isolated(isolated_sources)
        items = [IsolatedNote(Path(a), int(p), float(on or 0.0), off) for a, p, _vel, on, off in found.items]
        skipped = [(str(p), r) for p, r in found.skipped]
        if max_files is not None:
            items = items[:max_files]
        if log:
            log.info(f"isolated notes: {len(items)} files, {len({i.pitch for i in items})} pitches")
        if not items and not labelled_sources:
            raise NmftransError("no isolated notes with a known pitch found in " + ", ".join(map(str, sources)))
    if not labelled_sources:
        with _bar(log, len(items), "learning") as bar:
            dictionary, report = learn_isolated(items, settings, beta=beta, pitch_range=pitch_range, progress=bar,
                                                jobs=jobs, scheduler=scheduler, frames=frames,
                                                one_template=one_template, fill=fill, comb_share=comb_share)
        report.skipped[:0] = skipped
        return dictionary, report
    if frames > 1:
        raise NmftransError("--frames > 1 (convolutive templates) is learned from isolated notes only")
    if one_template or not fill or comb_share > 0:
        raise NmftransError("--one-template, --no-fill and --comb-share work with isolated notes only, not "
                            "labelled audio (its templates are shrunk towards the combs by the informed method)")
    found = datasets.discover_labelled(labelled_sources, guitarset_audio=guitarset_audio, split=split,
                                       max_files=max_files)
    if log:
        layouts = ", ".join(sorted(set(found.layouts.values()))) or "no known layout"
        log.info(f"labelled audio ({layouts}): {len(found.pairs)} pairs, {len(found.skipped)} skipped")
    if not found.pairs and not items:
        reasons = "; ".join(f"{p}: {r}" for p, r in found.skipped[:3])
        where = f" in the MAESTRO {split!r} split" if split is not None else ""
        raise NmftransError(f"no audio with a matching annotation found{where}" + (f" ({reasons})" if reasons else ""))
    pairs = list(found.pairs) + items
    with _bar(log, len(pairs), "reading") as bar:
        dictionary, report = learn_labelled(pairs, settings, beta=beta, iterations=iterations,
                                            pitch_range=pitch_range, sustain=sustain, progress=bar,
                                            jobs=jobs, scheduler=scheduler, method=method)
    report.skipped[:0] = [(str(p), r) for p, r in found.skipped] + skipped
    return dictionary, report


class _bar:
    """Adapter: a CLI progress bar as a ``progress(label)`` callable (or nothing without a log)."""

    def __init__(self, log, total: int, description: str):
        self._cm = log.progress(total, description) if log is not None else None

    def __enter__(self):
        self._p = self._cm.__enter__() if self._cm else None
        return self

    def __call__(self, label: str) -> None:
        if self._p:
            self._p.advance(label)

    def __exit__(self, *exc):
        return self._cm.__exit__(*exc) if self._cm else False
