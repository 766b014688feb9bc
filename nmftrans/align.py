"""Use case ``align``: a recording and its score -> the performed time of every score note.

1. Global synchronisation: the recording is transcribed as usual (the dictionary's own
   activations), and DTW matches its activations with the score's piano roll
   (:mod:`nmftrans.core.dtw`), so a score in another tempo, with rubato, or starting later still
   aligns; then each note moves by the strikes heard around it
   (:func:`nmftrans.core.scoreinformed.resynchronise`).
2. Score-informed NMF (:mod:`nmftrans.core.scoreinformed`): H is zero except within each synchronised
   note's window (attack templates around its onset, sustain templates over its length, both
   widened by ``before_s`` / ``after_s``), and refined by MU within that support.
3. Each score note gets its performed onset and offset (where its pitch's activation rises and
   falls), a status (``played`` if its pitch rises by ``threshold`` there in the unconstrained
   transcription, else ``missing``) and a confidence; with ``extra=True``, notes of the
   unconstrained transcription that no score note explains are reported too (status ``extra``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from nmftrans.io.dictionary import ROLE_ATTACK, Dictionary
from nmftrans.core.dtw import cosine_cost, dtw_path, time_map
from nmftrans.errors import NmftransError
from nmftrans.core.notes import pitch_activations, reference_level
from nmftrans.core.scoreinformed import (STRONG_RISE, AlignParams, audio_features, chord_onsets, local_offsets, locate_notes,
                                    onset_rises, resynchronise, score_features, solve_constrained, support_mask)
from nmftrans.transcribe import SILENCE_RMS, SolverParams, solver_templates, solver_threads, transcribe_signal
from nmftrans.core.threads import blas_controller

STATUSES = ("played", "missing", "extra")
# Synchronisation cells (audio frames x score frames) above which the DTW rate is lowered.
MAX_SYNC_CELLS = 16_000_000
# Weight of the onset features against the level features in the synchronisation.
ONSET_WEIGHT = 3.0
# Half-width (s) of the moving average smoothing the synchronisation's time map.
SMOOTH_S = 0.0
# Radius (s) of the neighbourhood whose strong, unambiguous notes correct the synchronisation.
LOCAL_RADIUS_S = 1.0
# Silence (s) after the score's last offset in the synchronisation.
SCORE_TAIL_S = 1.0
# A recording whose last CUT_TAIL_S still sound this loud (normalised activation) was cut: its
# end may meet the score anywhere (the best mean cost), not only at the score's end.
CUT_LEVEL = 0.1
CUT_TAIL_S = 0.2
# An extra note is one whose onset lies this far (s) from every played note of its pitch.
EXTRA_DISTANCE_S = 0.1


@dataclass
class Alignment:
    """Result of aligning one recording with its score.

    Attributes
    ----------
    notes : np.ndarray [shape=(n, 4)]
        Onset (s), offset (s), pitch, velocity: performed times of the played notes; for the
        missing ones the best guess (where their pitch rose a little, else their synchronised
        time) and the score's velocity; extra notes last.
    score_onset : np.ndarray [shape=(n,)]
        Onset of each note in the score (NaN for extra notes).
    status : np.ndarray [shape=(n,)], str
        ``played``, ``missing`` or ``extra``.
    confidence : np.ndarray [shape=(n,)]
        In [0, 1]; ``played`` notes have >= 0.5.
    activations : np.ndarray [shape=(n_pitches, n_frames)], float32
        Normalised per-pitch activations of the score-informed solve (for plots).
    pitches : np.ndarray [shape=(n_pitches,)]
    frame_rate : float
    synced : np.ndarray [shape=(n_score, 4)]
        The score after the global synchronisation only (DTW, then :func:`resynchronise`).
    warnings : list of str
    """

    notes: np.ndarray
    score_onset: np.ndarray
    status: np.ndarray
    confidence: np.ndarray
    activations: np.ndarray
    pitches: np.ndarray
    frame_rate: float
    synced: np.ndarray
    warnings: list[str] = field(default_factory=list)

    @property
    def played(self) -> np.ndarray:
        """The notes heard: played and extra ones, sorted by onset, shape ``(n, 4)``."""
        keep = self.status != "missing"
        notes = self.notes[keep]
        return notes[np.lexsort((notes[:, 2], notes[:, 0]))]


def synchronise(A: np.ndarray, pitch_set: np.ndarray, frame_rate: float, score: np.ndarray,
                sync_rate: float = 20.0) -> tuple[np.ndarray, callable]:
    """Global synchronisation of a score with a recording's activations (DTW).

    Parameters
    ----------
    A : np.ndarray [shape=(n_pitches, n_frames)]
        Normalised per-pitch activations of the recording.
    pitch_set : np.ndarray [shape=(n_pitches,)]
    frame_rate : float
    score : np.ndarray [shape=(n_notes, 4)]
    sync_rate : float
        Frames per second of the DTW (lowered for long pieces, see ``MAX_SYNC_CELLS``).

    Returns
    -------
    path : np.ndarray [shape=(n_steps, 2)]
        DTW path in synchronisation frames (audio, score).
    warp : callable
        Score time (s) -> recording time (s), monotone.
    """
    n = A.shape[1]
    score_end = float(score[:, 1].max()) + SCORE_TAIL_S if len(score) else 1.0
    step = max(1, int(round(frame_rate / sync_rate)))
    while (n / step) * (score_end * frame_rate / step) > MAX_SYNC_CELLS:
        step += 1
    rate = frame_rate / step
    level, rise = audio_features(A, step)
    n_score = max(1, int(np.ceil(score_end * rate)) + 1)
    roll, onsets = score_features(score, pitch_set, n_score, rate)
    X = np.vstack([level, ONSET_WEIGHT * rise])
    Y = np.vstack([roll, ONSET_WEIGHT * onsets])
    cut = n > 0 and float(A[:, max(0, n - int(round(CUT_TAIL_S * frame_rate))):].max()) >= CUT_LEVEL
    path = dtw_path(cosine_cost(X, Y), end_from=0 if cut else None)
    # a synchronisation frame covers `step` frames: its time is their centre
    x_times = (np.arange(X.shape[1]) * step + (step - 1) / 2.0) / frame_rate
    y_times = np.arange(n_score) / rate
    return path, time_map(path, x_times, y_times, smooth=int(round(SMOOTH_S * rate)))


def align_signal(y: np.ndarray, score: np.ndarray, dictionary: Dictionary, params: AlignParams = AlignParams(),
                 *, extra: bool = False, solver: SolverParams = SolverParams()) -> Alignment:
    """Align a mono signal at the dictionary's sample rate with its score, after bringing it to the
    templates' A440 grid as ``transcribe`` does (``solver.tuning``; :func:`~nmftrans.transcribe.input_tuning`):
    the performed times (``notes``, ``synced``) and ``frame_rate`` are the recording's.

    Parameters
    ----------
    y : np.ndarray [shape=(n_samples,)]
    score : np.ndarray [shape=(n_notes, 4)]
        Score notes: onset (s), offset (s), MIDI pitch, velocity, in score time. The result's
        first ``n_notes`` rows are these notes, in this order.
    dictionary : Dictionary
    params : AlignParams
    extra : bool
        Also report notes of the unconstrained transcription that no score note explains.
    solver : SolverParams
        Solver of the synchronisation's transcription (and β of the refinement).

    Returns
    -------
    Alignment
    """
    from dataclasses import replace

    from nmftrans.core.tuning import pitch_ratio
    from nmftrans.transcribe import dictionary_tuning, input_tuning, tuning_message

    sr = dictionary.settings.sample_rate
    y = np.asarray(y, dtype=np.float32)
    reference = dictionary_tuning(dictionary)
    cents = input_tuning(y, sr, solver, reference)
    if not cents:
        return _align(y, score, dictionary, params, extra, replace(solver, tuning=0.0))
    from nmftrans.io.audio import resample

    ratio = pitch_ratio(cents)
    result = _align(resample(y, sr * ratio, sr), score, dictionary, params, extra, replace(solver, tuning=0.0))
    result.notes = result.notes.copy()
    result.notes[:, :2] *= ratio  # resampled time -> the recording's
    result.synced = result.synced.copy()
    result.synced[:, :2] *= ratio
    result.frame_rate = dictionary.settings.frame_rate / ratio
    if solver.tuning is None:
        result.warnings.append(tuning_message(cents, reference))
    return result


def _align(y: np.ndarray, score: np.ndarray, dictionary: Dictionary, params: AlignParams, extra: bool,
           solver: SolverParams) -> Alignment:
    """:func:`align_signal` of a signal on the templates' grid (``solver.tuning`` 0)."""
    from nmftrans.core.features import spectrogram

    settings = dictionary.settings
    fr = settings.frame_rate
    score = np.asarray(score, dtype=np.float64).reshape(-1, 4)
    y = np.asarray(y, dtype=np.float32)
    warnings: list[str] = []
    pitch_set = dictionary.pitch_set
    known = np.isin(np.rint(score[:, 2]).astype(int), pitch_set)
    if not known.all():
        bad = sorted({int(p) for p in np.rint(score[~known, 2])})
        warnings.append(f"{int((~known).sum())} score notes have pitches the dictionary lacks "
                        f"({', '.join(map(str, bad[:8]))}{', ...' if len(bad) > 8 else ''}): marked missing")
    transcription = transcribe_signal(y, dictionary, solver)
    A0 = transcription.activations
    n = A0.shape[1]
    silent = len(y) == 0 or float(np.sqrt(np.mean(np.square(y, dtype=np.float64)))) < SILENCE_RMS
    if silent or len(score) == 0:
        if silent:
            warnings.append("the audio is silent: every score note is missing")
        return _all_missing(score, A0, pitch_set, fr, warnings)
    _, warp = synchronise(A0, pitch_set, fr, score[known], params.sync_rate)
    synced = score.copy()
    synced[:, 0] = warp(score[:, 0])
    synced[:, 1] = np.maximum(warp(score[:, 1]), synced[:, 0] + 1.0 / fr)
    # the frame-level synchronisation slips by a repetition in runs of repeated notes: moved by
    # the strikes heard around each note, each pitch's notes taking them in order
    row_of = {int(p): i for i, p in enumerate(pitch_set)}
    k = np.flatnonzero(known)
    k_rows = np.array([row_of[int(round(p))] for p in synced[k, 2]], dtype=np.int64)
    synced[k, :2] += resynchronise(A0, k_rows, synced[k, 0], synced[k, 1] + params.after_s, fr, params,
                                   settings.window_s)[:, None]

    # score-informed refinement over the notes whose pitch the dictionary has and that the
    # synchronisation puts before the recording's end
    idx = np.flatnonzero(known & (synced[:, 0] < (n - 0.5) / fr))
    rows = np.array([row_of[int(round(p))] for p in synced[idx, 2]], dtype=np.int64)
    W = solver_templates(dictionary, solver)
    n_comp = dictionary.W.shape[1]
    comp_row = np.searchsorted(pitch_set, dictionary.pitches)
    attack = dictionary.roles == ROLE_ATTACK
    masks = {flag: support_mask(synced[idx, 0], synced[idx, 1], rows, len(pitch_set), n, fr, params.before_s,
                                params.after_s, attack=flag) for flag in (False, True)}
    mask = np.ones((W.shape[1], n), dtype=bool)  # floor templates: everywhere
    mask[:n_comp] = np.where(attack[:, None], masks[True][comp_row], masks[False][comp_row])
    V = spectrogram(y, settings)[:, :n]
    beta = dictionary.beta if solver.beta is None else solver.beta
    with blas_controller().limit(limits=1, user_api="blas"):  # threads share the cores, not BLAS
        H = solve_constrained(V, W, mask, beta, params.n_iter, gamma=solver.gamma if beta == 1.0 else None,
                              threads=solver_threads(solver.threads))
        if solver.eq_octaves > 0:  # the templates brought to the recording's colour, as transcribe does
            from nmftrans.core.features import frequencies
            from nmftrans.core.templates import response_gains

            step = max(1, solver.refine_stride)
            gains = response_gains(V[:, ::step], W @ H[:, ::step], frequencies(settings),
                                   width_octaves=solver.eq_octaves)
            W = W.copy()
            W[:, :n_comp] *= gains[:, None]
            W[:, :n_comp] /= W[:, :n_comp].sum(axis=0, keepdims=True)
            H = solve_constrained(V, np.ascontiguousarray(W), mask, beta, params.n_iter,
                                  gamma=solver.gamma if beta == 1.0 else None, threads=solver_threads(solver.threads))
    weights = np.where(attack, np.float32(solver.attack_weight), np.float32(1.0))
    A, _ = pitch_activations(H[:n_comp], dictionary.pitches, weights)
    ref = reference_level(A)
    if ref > 0:
        A /= np.float32(ref)
    limits = synced[idx, 1] + params.after_s
    onset, offset, rise, peak, unique = locate_notes(A, rows, synced[idx, 0], fr, params, limits, settings.window_s)
    # the synchronisation is coarse: move each note by the median offset of the strong,
    # unambiguous notes around it, and look again
    shift = local_offsets(synced[idx, 0], onset, rise >= STRONG_RISE, LOCAL_RADIUS_S)
    onset, offset, rise, peak, _ = locate_notes(A, rows, synced[idx, 0] + shift, fr, params, limits + shift,
                                             settings.window_s)

    notes = synced.copy()
    confidence = np.zeros(len(score))
    status = np.full(len(score), "missing", dtype=object)
    # played or not: judged on the recording's own transcription, where every pitch may explain
    # the sound (in the score-informed solve a written note's pitch, the only one allowed
    # there, soaks up its neighbours' partials even when it was not played)
    heard = onset_rises(A0, rows, onset, fr)
    conf = heard / (heard + params.threshold) if params.threshold > 0 else np.where(heard > 0, 1.0, 0.0)
    played = conf >= 0.5
    if params.chord_s > 0:
        onset = chord_onsets(score[idx, 0], onset, played, params.chord_s)
    # a missing note keeps the best guess too: where its pitch rose, however little (or its
    # synchronised time where it did not rise at all)
    notes[idx, 0] = onset
    notes[idx, 1] = offset
    notes[idx[played], 3] = np.clip(np.rint(30.0 + 90.0 * np.sqrt(np.minimum(1.0, peak[played]))), 1, 127)
    confidence[idx] = np.where(played, conf, 1.0 - conf)
    status[idx[played]] = "played"
    score_onset = score[:, 0].copy()
    if extra:
        found = _extra_notes(transcription.notes, notes[status == "played"], params.extra_threshold)
        notes = np.concatenate([notes, found])
        score_onset = np.concatenate([score_onset, np.full(len(found), np.nan)])
        status = np.concatenate([status, np.full(len(found), "extra", dtype=object)])
        confidence = np.concatenate([confidence, np.minimum(1.0, (found[:, 3] - 30.0) / 90.0) ** 2])
    return Alignment(notes, score_onset, status.astype(str), confidence, A, pitch_set, fr, synced, warnings)


def _all_missing(score, A, pitch_set, fr, warnings) -> Alignment:
    n = len(score)
    return Alignment(score.copy(), score[:, 0].copy(), np.full(n, "missing"), np.ones(n), A, pitch_set, fr,
                     score.copy(), warnings)


def _extra_notes(transcribed: np.ndarray, played: np.ndarray, threshold: float) -> np.ndarray:
    """Transcribed notes at least ``threshold`` strong (by velocity) that no played score note
    of the same pitch explains (onsets within ``EXTRA_DISTANCE_S``)."""
    min_velocity = 30.0 + 90.0 * np.sqrt(min(1.0, threshold))
    keep = []
    for k, (on, _, p, v) in enumerate(transcribed):
        if v < min_velocity - 1e-9:
            continue
        same = played[np.rint(played[:, 2]) == round(p)]
        if len(same) == 0 or np.min(np.abs(same[:, 0] - on)) > EXTRA_DISTANCE_S:
            keep.append(k)
    return transcribed[keep].reshape(-1, 4)


def align_file(audio: str | Path, score: np.ndarray, dictionary: Dictionary, params: AlignParams = AlignParams(),
               *, extra: bool = False, solver: SolverParams = SolverParams()) -> Alignment:
    """Read an audio file and align it with ``score`` (see :func:`align_signal`)."""
    from nmftrans.io.audio import load_audio

    y = load_audio(audio, dictionary.settings.sample_rate)
    return align_signal(y, score, dictionary, params, extra=extra, solver=solver)


def alignment_to_csv(alignment: Alignment) -> str:
    """CSV text ``onset,offset,pitch,velocity,score_onset,status,confidence`` (one row per note,
    by onset; ``score_onset`` empty for extra notes)."""
    lines = ["onset,offset,pitch,velocity,score_onset,status,confidence"]
    order = np.lexsort((alignment.notes[:, 2], alignment.notes[:, 0]))
    for k in order:
        on, off, p, v = alignment.notes[k]
        s = alignment.score_onset[k]
        lines.append(f"{on:.4f},{off:.4f},{int(round(p))},{int(round(v))},{'' if np.isnan(s) else f'{s:.4f}'},"
                     f"{alignment.status[k]},{alignment.confidence[k]:.3f}")
    return "\n".join(lines) + "\n"


def pair_inputs(audio: str | Path, score: str | Path) -> tuple[list[tuple[str, Path, Path]], list[str]]:
    """Pair recordings with scores: two files as given, or folders (recursive) by file stem.

    Returns
    -------
    pairs : list of (stem, audio path, score path)
    unmatched : list of str
        One line per recording without a score.

    Raises
    ------
    NmftransError
        A path is missing, a folder holds no recordings or scores, or nothing pairs.
    """
    from nmftrans.io.audio import AUDIO_SUFFIXES
    from nmftrans.io.fileio import files_under
    from nmftrans.io.noteformats import SCORE_SUFFIXES

    a, s = Path(audio), Path(score)
    for p, what in ((a, "audio"), (s, "score")):
        if not p.exists():
            raise NmftransError(f"{p}: no such {what} file or folder")
    if a.is_file() and s.is_file():
        return [(a.stem, a, s)], []

    def by_stem(p: Path, suffixes, what: str) -> dict[str, Path]:
        if p.is_file():
            return {p.stem: p}
        found: dict[str, Path] = {}
        for f in sorted(files_under(p, suffixes), key=lambda f: (suffixes.index(f.suffix.lower()), str(f))):
            found.setdefault(f.stem, f)
        if not found:
            raise NmftransError(f"{p}: no {what} files ({', '.join(suffixes)}) in this folder")
        return found

    recordings = by_stem(a, AUDIO_SUFFIXES, "audio")
    scores = by_stem(s, SCORE_SUFFIXES, "score")
    pairs, unmatched = [], []
    for stem, path in sorted(recordings.items()):
        if stem in scores:
            pairs.append((stem, path, scores[stem]))
        else:
            unmatched.append(f"{path}: no score named {stem}.* in {s}")
    if not pairs:
        raise NmftransError(f"no recording in {a} has a score of the same name in {s}")
    return pairs, unmatched


def output_format(path: Path) -> str:
    """``mid`` or ``csv`` from an output file's suffix."""
    suffix = path.suffix.lower()
    if suffix in (".mid", ".midi"):
        return "mid"
    if suffix == ".csv":
        return "csv"
    raise NmftransError(f"{path}: unknown output format {suffix or '(no suffix)'!r} (use .mid or .csv)")


def run_align(audio: Path, score_path: Path, out: Path, dictionary: Dictionary, params: AlignParams, *,
              extra: bool = False, plot: bool = False, overwrite: bool = False, program: int = -1,
              sustain: bool = True, time_range=None, solver: SolverParams = SolverParams()) -> tuple[Alignment, list[Path]]:
    """Align one recording with its score file and write ``out`` (MIDI of the notes heard, or
    the CSV of :func:`alignment_to_csv`), and with ``plot`` ``<out stem>.png`` (the
    activations of the score-informed solve, the notes heard, and the synchronised score as the
    reference; ``time_range``: only those seconds).

    ``solver``: the solver of :func:`align_signal` (its tuning correction).
    Returns the alignment and the files written; raises NmftransError for this pair only.
    """
    from nmftrans.io.fileio import write_text_atomic
    from nmftrans.io.midi import write_midi

    fmt = output_format(out)
    targets = [out] + ([out.with_name(f"{out.stem}.png")] if plot else [])
    for t in targets:
        if t.exists() and not overwrite:
            raise NmftransError(f"{t}: exists (use --overwrite to replace it)")
    if plot:
        from nmftrans.io.plot import require_matplotlib

        require_matplotlib()
    score, warnings = read_score(score_path, sustain=sustain)
    result = align_file(audio, score, dictionary, params, extra=extra, solver=solver)
    result.warnings[:0] = warnings
    if fmt == "csv":
        write_text_atomic(out, alignment_to_csv(result))
    else:
        if program < 0:
            value = dictionary.provenance.get("program", 0)
            program = value if isinstance(value, int) and 0 <= value <= 127 else 0
        write_midi(out, result.played, program=program)
    if plot:
        from nmftrans.io.plot import plot_transcription

        plot_transcription(targets[1], result.activations, result.pitches, result.frame_rate, result.played,
                           reference=result.synced, title=f"{audio.name}: performed notes vs synchronised score",
                           time_range=time_range)
    return result, targets


def read_score(path: str | Path, *, sustain: bool = True) -> tuple[np.ndarray, list[str]]:
    """Score notes from any annotation format ``evaluate`` reads (MIDI, CSV, JAMS, MAPS ``.txt``,
    madmom ``.notes``, JSON), with the reader's warnings; a one-line error if it holds none."""
    from nmftrans.io.annotations import read_reference

    return read_reference(path, sustain=sustain, what="score", empty="")
