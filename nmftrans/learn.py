"""Use case ``learn``: build a :class:`~nmftrans.dictionary.Dictionary` from data or from nothing.

Three sources:

* isolated notes (one note per file): an attack and a sustain template per pitch, velocity layers pooled;
* labelled audio (audio + note annotation): supervised NMF, ``min_W D(X | W Y)`` with the
  activations fixed to the piano roll ``Y``;
* no data: pitch-informed harmonic templates.

Pitches of the requested range without training data get a harmonic template; the result says which.
"""

from __future__ import annotations

import datetime as _dt
import functools
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Sequence

import numpy as np

from nmftrans import __version__
from nmftrans.audio import audio_duration, load_audio
from nmftrans.dictionary import ROLE_ATTACK, ROLE_SUSTAIN, Dictionary
from nmftrans.errors import NmftransError
from nmftrans.features import frequencies, spectrogram
from nmftrans.parallel import Runner
from nmftrans.settings import FeatureSettings
from nmftrans.templates import harmonic_templates

Progress = Callable[[str], None]


@dataclass
class LearnReport:
    """What ``learn`` did, for the user: pitches learned, filled in, files skipped."""

    learned: list[int] = field(default_factory=list)
    filled: list[int] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


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
                   settings: FeatureSettings) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[int]]:
    """Add harmonic (sustain) templates for pitches in range without data.

    ``columns`` maps (pitch, role) to a template. Returns W, pitches, roles (sorted by pitch,
    then role) and the filled pitches.
    """
    learned = sorted({p for p, _ in columns})
    lo, hi = pitch_range if pitch_range else (learned[0], learned[-1])
    filled = [p for p in range(lo, hi + 1) if p not in learned]
    if filled:
        Wh = harmonic_templates(filled, frequencies(settings))
        for j, p in enumerate(filled):
            columns[(p, ROLE_SUSTAIN)] = Wh[:, j]
    keys = sorted(k for k in columns if lo <= k[0] <= hi)
    W = np.stack([columns[k] for k in keys], axis=1)
    return W, np.array([k[0] for k in keys], dtype=np.int16), np.array([k[1] for k in keys], dtype=np.int8), filled


def check_learn_settings(*, beta: float = 1.0, iterations: int = 50, split: str | None = None,
                         guitarset_audio: str = "mic", max_files: int | None = None) -> None:
    """Reject impossible learning settings before any file is read (the CLI: a usage error, exit 2)."""
    from nmftrans.datasets import check_dataset_options

    if not 0 <= beta <= 2:
        raise NmftransError(f"--beta must be between 0 and 2 (got {beta})")
    if iterations < 1:
        raise NmftransError(f"--iterations must be at least 1 (got {iterations})")
    check_dataset_options(split=split, guitarset_audio=guitarset_audio, max_files=max_files)


def learn_harmonic(pitch_range: tuple[int, int], settings: FeatureSettings = FeatureSettings(),
                   *, beta: float = 1.0) -> Dictionary:
    """Harmonic comb templates for every pitch in ``pitch_range`` (inclusive MIDI numbers)."""
    check_learn_settings(beta=beta)
    lo, hi = pitch_range
    if not 0 <= lo <= hi <= 127:
        raise NmftransError(f"invalid pitch range {lo}-{hi}")
    pitches = np.arange(lo, hi + 1)
    W = harmonic_templates(pitches, frequencies(settings))
    prov = _provenance("harmonic", [], pitch_range=[lo, hi])
    return Dictionary(W, pitches, np.full(len(pitches), ROLE_SUSTAIN), settings, beta, prov)


def _isolated_spectra(note: IsolatedNote, settings: FeatureSettings, n_attack: int, n_sustain: int
                      ) -> tuple[np.ndarray, np.ndarray]:
    """Unit-sum attack and sustain spectra of one isolated note (runs on a worker).

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
    return attack / attack.sum(), sustain / sustain.sum()


def learn_isolated(notes: Sequence[IsolatedNote], settings: FeatureSettings = FeatureSettings(), *,
                   beta: float = 1.0, pitch_range: tuple[int, int] | None = None, attack_s: float = 0.08,
                   sustain_s: float = 1.0, progress: Progress | None = None, jobs: int = 1,
                   scheduler=None) -> tuple[Dictionary, LearnReport]:
    """An attack and a sustain template per pitch from isolated-note recordings.

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

    Returns
    -------
    dictionary : Dictionary
    report : LearnReport

    Notes
    -----
    The spectra of each file are computed on the workers and summed here in input order, so
    the templates are the same for any ``jobs`` or cluster.
    """
    report = LearnReport()
    fr = settings.frame_rate
    n_attack = max(1, int(round(attack_s * fr)))
    work = functools.partial(_isolated_spectra, settings=settings, n_attack=n_attack,
                             n_sustain=int(round(sustain_s * fr)))
    sums: dict[tuple[int, int], list] = {}
    with _one_blas_thread(), Runner(jobs, scheduler) as runner:
        for note, spectra, error in runner.map_ordered(work, notes):
            if progress:
                progress(note.path.name)
            if error is not None:
                report.skipped.append((str(note.path), str(error)))
                continue
            for role, spectrum in zip((ROLE_ATTACK, ROLE_SUSTAIN), spectra):
                acc = sums.setdefault((note.pitch, role), [np.zeros_like(spectrum), 0])
                acc[0] += spectrum
                acc[1] += 1
    if not sums:
        raise NmftransError("no usable isolated notes found")
    columns = {k: (v / v.sum()).astype(np.float32) for k, (v, _) in sums.items()}
    W, pitches, roles, filled = _fill_and_sort(columns, pitch_range, settings)
    report.learned = sorted({p for p, _ in sums})
    report.filled = filled
    prov = _provenance("isolated", sorted({str(n.path.parent) for n in notes}), n_files=len(notes),
                       attack_s=attack_s, sustain_s=sustain_s, learned=report.learned, filled=filled)
    return Dictionary(W, pitches, roles, settings, beta, prov), report


def _skipped_summary(report: LearnReport) -> str:
    """One line naming the skipped files and why (at most three)."""
    if not report.skipped:
        return "no annotated notes inside the audio"
    shown = "; ".join(f"{Path(p).name}: {r}" for p, r in report.skipped[:3])
    more = f" and {len(report.skipped) - 3} more" if len(report.skipped) > 3 else ""
    return f"{len(report.skipped)} file(s) skipped ({shown}{more})"


def _silent(y: np.ndarray) -> bool:
    return len(y) == 0 or float(np.sqrt(np.mean(np.square(y, dtype=np.float64)))) < 1e-4


@dataclass(frozen=True, eq=False)
class _LabelledSetup:
    """What a worker needs to turn a labelled file into its spectrogram V and roll Y (picklable)."""

    settings: FeatureSettings
    pitch_range: tuple[int, int]
    n_attack: int
    beta: float
    store: str | None = None  # folder for V and Y as .npy (β != 2), on the parent's machine


@dataclass(frozen=True, eq=False)
class _LabelledFile:
    """One labelled audio file and its notes (cut to the audio); ``V``/``Y``: where they are stored."""

    index: int
    path: Path
    notes: np.ndarray
    V: str | None = None
    Y: str | None = None


@dataclass
class _Prepared:
    """A worker's answer for one labelled file: what the parent adds up (or why it is skipped)."""

    warnings: list[str]
    skip: str | None = None
    active: np.ndarray | None = None
    XYt: np.ndarray | None = None
    YYt: np.ndarray | None = None
    stored: tuple[str, str] | None = None


def _read_labels(pair: tuple[Path, Path], sustain: bool) -> tuple[np.ndarray, list[str]]:
    """The notes of one (audio, annotation) pair, cut to the audio's duration (runs on a worker)."""
    from nmftrans.annotations import crop_notes, read_notes

    audio_path, ann_path = pair
    notes = read_notes(ann_path, sustain=sustain)
    return crop_notes(notes, audio_duration(audio_path))


def _labelled_roll(item: _LabelledFile, setup: _LabelledSetup) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Spectrogram V, roll Y (sustain rows, then attack rows) and warnings of one labelled file."""
    from nmftrans.annotations import crop_notes, notes_to_roll, onset_roll

    settings = setup.settings
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


def _prepare_labelled(item: _LabelledFile, setup: _LabelledSetup) -> _Prepared:
    """Per-file work of labelled learning (runs on a worker).

    β = 2: the sufficient statistics ``X Yᵀ`` and ``Y Yᵀ``. Other β: V and Y saved to
    ``setup.store`` for the epochs, when that folder exists here (a worker on another machine
    does not see it; the epochs then recompute V and Y from the audio).
    """
    V, Y, warnings = _labelled_roll(item, setup)
    if not Y.any():
        return _Prepared(warnings, skip="no annotated notes inside the audio and pitch range")
    out = _Prepared(warnings, active=Y.any(axis=1))
    if setup.beta == 2:
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
    from nmftrans import kernels

    if item.V is not None and os.path.isfile(item.V) and os.path.isfile(item.Y):
        V, Y = np.load(item.V, mmap_mode="r"), np.load(item.Y, mmap_mode="r")
    else:
        V, Y, _ = _labelled_roll(item, setup)
    num, den = kernels.dictionary_update_terms(V, W, Y, beta=setup.beta)
    return num.astype(np.float64), den.astype(np.float64)


def learn_labelled(pairs: Sequence[tuple[Path, Path]], settings: FeatureSettings = FeatureSettings(), *,
                   beta: float = 1.0, iterations: int = 50, pitch_range: tuple[int, int] | None = None,
                   sustain: bool = True, attack_s: float = 0.08, progress: Progress | None = None,
                   jobs: int = 1, scheduler=None) -> tuple[Dictionary, LearnReport]:
    """Supervised NMF: learn W by minimising ``D(X | W Y)`` with H fixed to the piano roll Y.

    Spectrograms are never all held in memory: for β = 2 one pass accumulates ``X Yᵀ`` and
    ``Y Yᵀ``; for other β the spectrograms are kept in a temporary folder as ``.npy`` files and
    memory-mapped in each epoch, whose W update sums every file's numerator and denominator.

    Parameters
    ----------
    pairs : sequence of (audio path, annotation path)
    settings : FeatureSettings
    beta : float
    iterations : int
        MU updates of W (epochs over all files).
    pitch_range : (int, int), optional
        Inclusive MIDI range; default: the annotated pitches' range within 21-108.
    sustain : bool
        Extend MIDI notes by the sustain pedal.
    attack_s : float
        The first ``attack_s`` seconds of each note activate the pitch's attack template, the
        rest its sustain template (as for isolated notes).
    progress : callable, optional
        Called with each audio file's name once it is read.
    jobs : int
        Worker processes for the per-file work (:class:`~nmftrans.parallel.Runner`).
    scheduler : str or distributed.Client, optional
        A dask.distributed scheduler instead (``jobs`` is then ignored).

    Returns
    -------
    dictionary : Dictionary
    report : LearnReport

    Notes
    -----
    The workers read the annotations, compute each file's spectrogram and roll and its
    statistics (β = 2), or each epoch's numerator and denominator for the current W (other β);
    this process adds them up in input order, so W is bit-identical for any ``jobs`` or cluster
    of like machines (the per-file products run on one BLAS thread everywhere, since a BLAS's
    rounding depends on its thread count; the parallelism is over files).
    The spectrograms are stored in a temporary folder (``TMPDIR``); cluster workers on other
    machines that do not see it recompute them from the audio in every epoch, unless ``TMPDIR``
    points to a folder they share.
    """
    import contextlib
    import tempfile

    from nmftrans import kernels

    report = LearnReport()
    fr = settings.frame_rate
    with _one_blas_thread(), Runner(jobs, scheduler) as runner:
        annotated: list[_LabelledFile] = []
        # annotations first (cheap): they fix the pitch range
        for (audio_path, _), labels, error in runner.map_ordered(functools.partial(_read_labels, sustain=sustain), pairs):
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
        # components: a sustain template per pitch, then an attack template per pitch (Y's first
        # attack_s of each note goes to the attack row, the rest of the note to the sustain row)
        pitches = np.concatenate([pitch_list, pitch_list])
        roles = np.concatenate([np.full(n_p, ROLE_SUSTAIN), np.full(n_p, ROLE_ATTACK)]).astype(np.int8)
        freqs = frequencies(settings)
        W = np.concatenate([harmonic_templates(pitch_list, freqs)] * 2, axis=1)
        XYt = np.zeros((len(freqs), len(pitches)), dtype=np.float64)
        YYt = np.zeros((len(pitches), len(pitches)), dtype=np.float64)
        active = np.zeros(len(pitches), dtype=bool)
        spill = tempfile.TemporaryDirectory(prefix="nmftrans-learn-") if beta != 2 else contextlib.nullcontext()
        with spill as store:
            setup = _LabelledSetup(settings, (int(pitch_range[0]), int(pitch_range[1])),
                                   max(1, int(round(attack_s * fr))), float(beta), store)
            stored: list[_LabelledFile] = []
            prepare = functools.partial(_prepare_labelled, setup=setup)
            for item, prepared, error in runner.map_ordered(prepare, annotated):
                if progress:
                    progress(item.path.name)
                if error is not None:
                    report.skipped.append((str(item.path), str(error)))
                    continue
                report.warnings.extend(prepared.warnings)
                if prepared.skip:
                    report.skipped.append((str(item.path), prepared.skip))
                    continue
                active |= prepared.active
                if beta == 2:
                    XYt += prepared.XYt
                    YYt += prepared.YYt
                else:
                    vp, yp = prepared.stored or (None, None)
                    stored.append(_LabelledFile(item.index, item.path, item.notes, vp, yp))
            if not active.any():
                raise NmftransError("nothing to learn from: " + _skipped_summary(report))
            gamma = kernels.gamma_exponent(beta)
            for _ in range(iterations):
                if beta == 2:
                    num, den = XYt, W.astype(np.float64) @ YYt
                else:
                    terms = functools.partial(_labelled_update_terms, W=W, setup=setup)
                    (num, den), failed = runner.reduce_sum(terms, stored)
                    if failed:  # a file that was read before cannot be any more
                        item, error = failed[0]
                        raise NmftransError(f"{item.path}: {error}")
                step = np.where(den > 0, num / np.maximum(den, 1e-30), 1.0) ** gamma
                W = (W * step).astype(np.float32)  # inactive pitches: den = 0, step 1, harmonic init kept
    W = np.maximum(W, 1e-12)
    W /= W.sum(axis=0, keepdims=True)
    sounding = active[:n_p] | active[n_p:]
    report.learned = [int(p) for p in pitch_list[sounding]]
    report.filled = [int(p) for p in pitch_list[~sounding]]
    # a pitch without data keeps one harmonic template; a pitch seen only in attacks or only in
    # sustains keeps the role it was trained for plus the harmonic initialisation of the other
    keep = np.concatenate([np.ones(n_p, bool), active[n_p:]])
    W, pitches, roles = W[:, keep], pitches[keep], roles[keep]
    prov = _provenance("labelled", sorted({str(a) for a, _ in pairs})[:50], n_files=len(pairs),
                       beta=beta, iterations=iterations, learned=report.learned, filled=report.filled)
    order = np.lexsort((roles, pitches))
    return Dictionary(W[:, order], pitches[order], roles[order], settings, beta, prov), report


def learn_from_sources(sources: Sequence[Path], settings: FeatureSettings = FeatureSettings(), *,
                       beta: float = 1.0, pitch_range: tuple[int, int] | None = None, iterations: int = 50,
                       split: str | None = None, guitarset_audio: str = "mic", max_files: int | None = None,
                       sustain: bool = True, log=None, jobs: int = 1, scheduler=None) -> tuple[Dictionary, LearnReport]:
    """Find the training material in ``sources`` (isolated notes or labelled audio) and learn from it.

    ``log`` (optional) has ``info(str)`` and ``progress(total, description)`` as in the CLI.
    ``jobs`` and ``scheduler`` spread the per-file work over worker processes or a dask cluster
    (:class:`~nmftrans.parallel.Runner`); the dictionary is the same for any of them.
    """
    from nmftrans import datasets

    if scheduler is not None:  # cluster workers run in other folders: send them absolute paths
        sources = [Path(s).resolve() for s in sources]
    for s in sources:
        if not Path(s).exists():
            raise NmftransError(f"{s}: no such file or folder")
    check_learn_settings(beta=beta, iterations=iterations, split=split, guitarset_audio=guitarset_audio,
                         max_files=max_files)
    if datasets.looks_isolated(sources):
        found = datasets.discover_isolated(sources)
        items = [IsolatedNote(Path(a), int(p), float(on or 0.0), off) for a, p, _vel, on, off in found.items]
        if max_files is not None:
            items = items[:max_files]
        if log:
            log.info(f"isolated notes: {len(items)} files, {len({i.pitch for i in items})} pitches")
        if not items:
            raise NmftransError("no isolated notes with a known pitch found in " + ", ".join(map(str, sources)))
        with _bar(log, len(items), "learning") as bar:
            dictionary, report = learn_isolated(items, settings, beta=beta, pitch_range=pitch_range, progress=bar,
                                                jobs=jobs, scheduler=scheduler)
        report.skipped[:0] = [(str(p), r) for p, r in found.skipped]
        return dictionary, report
    found = datasets.discover_labelled(sources, guitarset_audio=guitarset_audio, split=split, max_files=max_files)
    if log:
        layouts = ", ".join(sorted(set(found.layouts.values()))) or "no known layout"
        log.info(f"labelled audio ({layouts}): {len(found.pairs)} pairs, {len(found.skipped)} skipped")
    if not found.pairs:
        reasons = "; ".join(f"{p}: {r}" for p, r in found.skipped[:3])
        where = f" in the MAESTRO {split!r} split" if split is not None else ""
        raise NmftransError(f"no audio with a matching annotation found{where}" + (f" ({reasons})" if reasons else ""))
    with _bar(log, len(found.pairs), "reading") as bar:
        dictionary, report = learn_labelled(found.pairs, settings, beta=beta, iterations=iterations,
                                            pitch_range=pitch_range, sustain=sustain, progress=bar,
                                            jobs=jobs, scheduler=scheduler)
    report.skipped[:0] = [(str(p), r) for p, r in found.skipped]
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
