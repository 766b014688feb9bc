"""Use case ``evaluate``: score note lists against references with mir_eval.

Two ways in:

* :func:`match_pairs` + :func:`evaluate_pairs`: estimated note files (MIDI, CSV, JSON) paired by
  file stem with references (MIDI, CSV, JAMS, MAPS ``.txt``, madmom ``.notes``, JSON);
* :func:`evaluate_dataset`: transcribe every annotated file of a dataset folder with a dictionary
  and score it against its annotation, cropped to the audio and to the dictionary's pitch range.

Scores come from :func:`nmftrans.core.metrics.evaluate_notes` (frame level on a 10 ms grid, note level
with mir_eval's standard tolerances: 50 ms onsets, offsets within 20 % of the note or 50 ms).
A file that cannot be scored does not stop the others: its :class:`FileScore` carries the error.
Nothing here prints; :func:`format_table`, :func:`scores_to_json` and :func:`scores_to_csv` give text.

Both take ``on_scored(item, reference, estimate, transcription)``, called once per scored file
with the note lists that were scored (and, for a dataset, the :class:`~nmftrans.transcribe.Transcription`
with its activations; None for note files). :class:`ScorePlots` is such a callback: it draws one
piano roll per file (:mod:`nmftrans.io.plot`).
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable

import numpy as np

from nmftrans.core.metrics import SCORE_KEYS, evaluate_notes, mean_scores
from nmftrans.errors import NmftransError
from nmftrans.io.annotations import read_estimate, read_reference
from nmftrans.io.fileio import files_under
from nmftrans.io.noteformats import ANNOTATION_SUFFIXES, ESTIMATE_SUFFIXES, NOT_NOTE_FILES

__all__ = [
    "FileScore",
    "Matching",
    "match_pairs",
    "evaluate_pairs",
    "DatasetEvaluation",
    "evaluate_dataset",
    "ScorePlots",
    "successful",
    "table_rows",
    "format_table",
    "rich_table",
    "scores_to_json",
    "scores_to_csv",
]


#: Parameters of the scores, written to the JSON report.
SCORE_SETTINGS = {"frame_hop_s": 0.01, "onset_tolerance_s": 0.05, "offset_ratio": 0.2,
                  "offset_min_tolerance_s": 0.05}

Progress = Callable[[str], None]
#: ``on_scored(item, reference, estimate, transcription or None)``
OnScored = Callable[["FileScore", np.ndarray, np.ndarray, object], None]


@dataclass
class FileScore:
    """The scores of one file, or why it could not be scored.

    Attributes
    ----------
    name : str
        Label of the file in reports (the matched stem).
    reference : Path
    estimate : Path or None
        The estimated note file; None when the notes came from transcribing ``audio``.
    audio : Path or None
        The transcribed audio (dataset evaluation).
    n_ref, n_est : int
        Notes scored.
    scores : OrderedDict
        The keys of :data:`nmftrans.core.metrics.SCORE_KEYS`; empty when ``error`` is set.
    warnings : list of str
        What was dropped or cut on the way (one line each).
    error : str or None
        Why this file has no scores.
    """

    name: str
    reference: Path
    estimate: Path | None = None
    audio: Path | None = None
    n_ref: int = 0
    n_est: int = 0
    scores: OrderedDict = field(default_factory=OrderedDict)
    warnings: list[str] = field(default_factory=list)
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass
class Matching:
    """Estimate/reference pairs found by :func:`match_pairs`.

    Attributes
    ----------
    pairs : list of (str, Path, Path)
        ``(name, estimate, reference)`` sorted by name.
    unmatched : list of (Path, str)
        Estimates without a reference, and why.
    unused_references : list of Path
        References without an estimate.
    """

    pairs: list[tuple[str, Path, Path]] = field(default_factory=list)
    unmatched: list[tuple[Path, str]] = field(default_factory=list)
    unused_references: list[Path] = field(default_factory=list)


# --------------------------------------------------------------------------------------
# Pairing estimates with references
# --------------------------------------------------------------------------------------


def _note_files(folder: Path, suffixes: tuple[str, ...]) -> dict[str, list[Path]]:
    """Files under ``folder`` (recursive, hidden ones left out) with these suffixes, by stem,
    each stem's files in order of suffix preference, then path."""
    by_stem: dict[str, list[Path]] = {}
    for p in files_under(folder, suffixes):
        if p.name.lower() not in NOT_NOTE_FILES:
            by_stem.setdefault(p.stem, []).append(p)
    for files in by_stem.values():
        files.sort(key=lambda p: (suffixes.index(p.suffix.lower()), str(p)))
    return by_stem


def _pick(files: list[Path], root: Path, other: Path | None = None, other_root: Path | None = None) -> Path | str:
    """The preferred file of one stem; several folders holding the stem -> the one at the same
    relative place as ``other``, else a reason (ambiguous)."""
    folders = sorted({f.parent for f in files})
    if len(folders) == 1:
        return files[0]
    if other is not None and other_root is not None:
        same = [f for f in files if f.parent.relative_to(root) == other.parent.relative_to(other_root)]
        if same:
            return same[0]
    return "ambiguous: " + ", ".join(str(f) for f in files[:3]) + (", ..." if len(files) > 3 else "")


def _describe(by_stem: dict[str, list[Path]], limit: int = 3) -> str:
    names = sorted(by_stem)
    return ", ".join(names[:limit]) + (", ..." if len(names) > limit else "")


#: Suffixes other tools add to the input's stem: ``song_basic_pitch.mid`` is scored against ``song.*``.
TOOL_STEM_SUFFIXES = ("_basic_pitch",)


def _reference_stem(stem: str, ref_files: dict) -> str | None:
    """The reference stem an estimate stem pairs with: itself, or without a tool's suffix."""
    if stem in ref_files:
        return stem
    for suffix in TOOL_STEM_SUFFIXES:
        if stem.endswith(suffix) and stem[: -len(suffix)] in ref_files:
            return stem[: -len(suffix)]
    return None


def match_pairs(estimates: str | Path, references: str | Path) -> Matching:
    """Pair estimated note files with references by file stem (exact match).

    Two files are paired as given, whatever their names. A folder (searched recursively) is
    matched by stem against a file or another folder; where a stem has several files the first
    of :data:`ESTIMATE_SUFFIXES` / :data:`ANNOTATION_SUFFIXES` is used.

    Raises
    ------
    NmftransError
        A path is missing, a folder has no note files, or no estimate has a reference.
    """
    est, ref = Path(estimates), Path(references)
    for p, what in ((est, "estimate"), (ref, "reference")):
        if not p.exists():
            raise NmftransError(f"{p}: no such {what} file or folder")
    if est.is_dir() and ref.is_dir() and est.resolve() == ref.resolve():
        raise NmftransError(f"{est}: the estimates and the references are the same folder")
    result = Matching()
    if est.is_file() and ref.is_file():
        result.pairs.append((est.stem, est, ref))
        return result

    if est.is_dir():
        est_files = _note_files(est, ESTIMATE_SUFFIXES)
        if not est_files:
            raise NmftransError(f"{est}: no estimate files ({', '.join(ESTIMATE_SUFFIXES)}) in this folder")
    else:
        est_files = {est.stem: [est]}
    if ref.is_dir():
        ref_files = _note_files(ref, ANNOTATION_SUFFIXES)
        if not ref_files:
            raise NmftransError(f"{ref}: no reference files ({', '.join(ANNOTATION_SUFFIXES)}) in this folder")
    else:
        ref_files = {ref.stem: [ref]}

    est_root = est if est.is_dir() else est.parent
    ref_root = ref if ref.is_dir() else ref.parent
    used = set()
    for stem in sorted(est_files):
        e = _pick(est_files[stem], est_root)
        if isinstance(e, str):
            result.unmatched.append((est_files[stem][0], f"several estimates named {stem} ({e})"))
            continue
        key = _reference_stem(stem, ref_files)
        if key is None:
            result.unmatched.append((e, f"no reference named {stem}.* in {ref}"))
            continue
        if key in used:
            result.unmatched.append((e, f"reference {key} is already paired with another estimate"))
            continue
        r = _pick(ref_files[key], ref_root, e, est_root)
        if isinstance(r, str):
            result.unmatched.append((e, f"several references named {stem} ({r})"))
            continue
        used.add(key)
        result.pairs.append((key, e, r))
    result.unused_references = [files[0] for stem, files in sorted(ref_files.items()) if stem not in used]
    if not result.pairs:
        raise NmftransError(
            f"no estimate matches a reference by name (estimates: {_describe(est_files)}; "
            f"references: {_describe(ref_files)})")
    return result


# --------------------------------------------------------------------------------------
# Scoring
# --------------------------------------------------------------------------------------


def _score(item: FileScore, ref: np.ndarray, est: np.ndarray) -> FileScore:
    item.n_ref, item.n_est = len(ref), len(est)
    item.scores = evaluate_notes(ref, est)
    return item


def evaluate_pairs(pairs: Iterable[tuple[str, Path, Path]], *, sustain: bool = True,
                   progress: Progress | None = None, on_scored: OnScored | None = None) -> list[FileScore]:
    """Score estimated note files against references.

    Parameters
    ----------
    pairs : iterable of (name, estimate, reference)
        E.g. :attr:`Matching.pairs`.
    sustain : bool
        MIDI files: extend notes held by the sustain pedal.
    progress : callable or None
        Called with each name once it is done.
    on_scored : callable or None
        Called as ``on_scored(item, reference, estimate, None)`` for each file scored.

    Returns
    -------
    list of FileScore
        In the order of ``pairs``; files that could not be read carry ``error``.
    """
    out = []
    for name, est_path, ref_path in pairs:
        item = FileScore(name=name, reference=Path(ref_path), estimate=Path(est_path))
        try:
            ref, ref_warnings = read_reference(ref_path, sustain=sustain)
            est, est_warnings = read_estimate(est_path, sustain=sustain)
            item.warnings.extend(ref_warnings + est_warnings)
            _score(item, ref, est)
        except NmftransError as exc:
            item.error = str(exc)
        else:
            if on_scored is not None:
                on_scored(item, ref, est, None)
        out.append(item)
        if progress is not None:
            progress(name)
    return out


@dataclass
class DatasetEvaluation:
    """Result of :func:`evaluate_dataset`: per-file scores, files discovery left out, layout."""

    files: list[FileScore] = field(default_factory=list)
    skipped: list[tuple[Path, str]] = field(default_factory=list)
    layout: str = "empty"


def _as_written(notes: np.ndarray) -> np.ndarray:
    """The notes as ``transcribe`` writes them (a .mid file: times on its tick grid) and ``EST
    REF`` reads them back, so that both modes give exactly the same scores."""
    import tempfile

    from nmftrans.io.midi import write_midi

    with tempfile.TemporaryDirectory(prefix="nmftrans-") as folder:
        path = Path(folder) / "estimate.mid"
        write_midi(path, notes)
        written, _ = read_estimate(path)
    return written


def _transcribe_and_score(pair: tuple[Path, Path], dictionary, solver, note_params, sustain: bool,
                          keep: bool = False) -> tuple[FileScore, np.ndarray | None, object]:
    """Transcribe one annotated audio file and score it (runs on a worker); errors go in the FileScore.

    Returns ``(item, reference, transcription)``; the last two only with ``keep`` (for plots).
    """
    from nmftrans.core.notearrays import crop_notes
    from nmftrans.io.audio import load_audio, truncation_warning
    from nmftrans.transcribe import transcribe_signal

    audio, ann = pair
    pitch_set = dictionary.pitch_set
    pitch_range = (int(pitch_set.min()), int(pitch_set.max()))
    sr = dictionary.settings.sample_rate
    item = FileScore(name=audio.stem, reference=ann, audio=audio)
    try:
        ref, warnings = read_reference(ann, sustain=sustain)
        y = load_audio(audio, sr)
        truncated = truncation_warning(audio)
        if truncated:
            item.warnings.append(f"{audio}: {truncated}")
        ref, cropped = crop_notes(ref, len(y) / sr, pitch_range=pitch_range)
        item.warnings.extend(warnings + [f"{ann}: {w}" for w in cropped])
        if len(ref) == 0:
            raise NmftransError(f"{ann}: no reference notes left inside the audio and the dictionary's "
                                f"pitch range {pitch_range[0]}-{pitch_range[1]}")
        transcription = transcribe_signal(y, dictionary, solver, note_params)
        item.warnings.extend(f"{audio}: {w}" for w in transcription.warnings)
        _score(item, ref, _as_written(transcription.notes))
    except NmftransError as exc:
        item.error = str(exc)
        return item, None, None
    return (item, ref, transcription) if keep else (item, None, None)


def evaluate_dataset(sources, dictionary, *, note_params=None, solver=None, split: str | None = None,
                     guitarset_audio: str = "mic", max_files: int | None = None, sustain: bool = True,
                     progress: Progress | None = None, on_start: Callable[[int], None] | None = None,
                     on_scored: OnScored | None = None, jobs: int = 1, scheduler=None) -> DatasetEvaluation:
    """Transcribe every annotated audio file of a dataset and score it.

    References are read with :func:`read_reference`, cut to the audio's duration and to the
    dictionary's pitch range (:func:`~nmftrans.core.notearrays.crop_notes`; the dropped notes are
    counted in the file's warnings).

    Parameters
    ----------
    sources : Path or list of Path
        Dataset folders or files, any layout :func:`~nmftrans.io.datasets.discover_labelled` knows.
    dictionary : Dictionary
    note_params : NoteParams or None
        Note tracker settings (defaults of ``transcribe`` when None).
    solver : SolverParams or None
    split, guitarset_audio, max_files
        As in :func:`~nmftrans.io.datasets.discover_labelled`.
    sustain : bool
        MIDI references: apply the sustain pedal.
    progress : callable or None
        Called with each file's name once it is done.
    on_start : callable or None
        Called with the number of files before the first one is transcribed.
    on_scored : callable or None
        Called as ``on_scored(item, reference, estimate, transcription)`` for each file scored
        (the cropped reference; the transcription holds the activations, pitches, frame rate).
    jobs : int
        Files transcribed at once by worker processes (:func:`~nmftrans.parallel.map_ordered`).
    scheduler : str or distributed.Client, optional
        A dask.distributed scheduler to transcribe on instead (``jobs`` is then ignored).

    The files come back in discovery order whatever ``jobs`` is, so the scores are the same.

    Raises
    ------
    NmftransError
        A source is missing, no audio file with an annotation was found, or the scheduler
        cannot be reached.
    """
    import functools

    from nmftrans.io.datasets import discover_labelled
    from nmftrans.core.notes import NoteParams
    from nmftrans.parallel import map_ordered
    from nmftrans.transcribe import SolverParams

    note_params = NoteParams() if note_params is None else note_params
    solver = SolverParams() if solver is None else solver
    if scheduler is not None:  # cluster workers run in other folders: send them absolute paths
        sources = [Path(s).resolve() for s in ([sources] if isinstance(sources, (str, Path)) else sources)]
    found = discover_labelled(sources, guitarset_audio=guitarset_audio, split=split, max_files=max_files)
    result = DatasetEvaluation(skipped=list(found.skipped), layout=found.layout)
    if not found.pairs:
        names = ", ".join(str(s) for s in ([sources] if isinstance(sources, (str, Path)) else sources))
        if split is not None:
            raise NmftransError(f"{names}: the MAESTRO metadata lists no audio file with its annotation "
                                f"in the {split!r} split")
        raise NmftransError(f"{names}: no audio file with a note annotation of the same name found")
    if on_start is not None:
        on_start(len(found.pairs))
    work = functools.partial(_transcribe_and_score, dictionary=dictionary, solver=solver, note_params=note_params,
                             sustain=sustain, keep=on_scored is not None)
    for (audio, ann), done, error in map_ordered(work, found.pairs, jobs=jobs, scheduler=scheduler):
        if error is not None:  # _transcribe_and_score keeps its errors; this is for safety
            done = (FileScore(name=audio.stem, reference=ann, audio=audio, error=str(error)), None, None)
        item, ref, transcription = done
        if on_scored is not None and item.ok and transcription is not None:
            on_scored(item, ref, transcription.notes, transcription)
        result.files.append(item)
        if progress is not None:
            progress(item.name)
    return result


class ScorePlots:
    """Draw each scored file as a piano roll: hits, false alarms and misses (an ``on_scored`` callback).

    Note files are drawn as notes only (:func:`~nmftrans.io.plot.plot_notes`); a dataset's
    transcriptions over their activations (:func:`~nmftrans.io.plot.plot_transcription`). The title
    names the file and gives its onset F and frame F.

    Parameters
    ----------
    target : Path
        ``folder`` False: the image file (its suffix gives the format). ``folder`` True: a folder
        (created by :meth:`prepare`) that gets ``<name>.png`` per file.
    folder : bool
        Several files (EST/REF folders, a dataset) or one.
    overwrite : bool
        Replace existing images. Otherwise one image file that exists is refused here, before any
        scoring, and existing images in a folder are skipped (listed in :attr:`skipped`).
    time_range : (start, end) in seconds, optional
        Draw only this window (:func:`~nmftrans.io.plot.parse_time_range`).

    Raises
    ------
    NmftransError
        matplotlib is missing, or ``target`` cannot be what ``folder`` says.

    Attributes
    ----------
    written, skipped : list of Path
    errors : list of str
        Images that could not be written (the scores are unaffected).
    """

    def __init__(self, target: str | Path, *, folder: bool, overwrite: bool = False,
                 time_range: tuple[float | None, float | None] | None = None):
        from nmftrans.io.plot import IMAGE_SUFFIXES, check_image_path, require_matplotlib

        require_matplotlib()
        self.target = Path(target)
        self.overwrite = overwrite
        self.time_range = time_range
        self.written: list[Path] = []
        self.skipped: list[Path] = []
        self.errors: list[str] = []
        self._used: set[Path] = set()
        if not folder and self.target.is_dir():
            folder = True  # one file into an existing folder: <name>.png there
        self.folder = folder
        if folder:
            if self.target.exists() and not self.target.is_dir():
                raise NmftransError(f"--plot {self.target}: not a folder (several files are scored: one image each)")
            if not self.target.exists() and self.target.suffix.lower() in IMAGE_SUFFIXES:
                raise NmftransError(f"--plot {self.target} names one image but several files are scored; give a folder")
        else:
            check_image_path(self.target)
            parent = self.target.parent if str(self.target.parent) else Path(".")
            if not parent.is_dir():
                raise NmftransError(f"{self.target}: folder {parent} does not exist")
            if self.target.exists() and not overwrite:
                raise NmftransError(f"{self.target}: exists (use --overwrite to replace it)")

    def prepare(self) -> None:
        """Create the image folder (once there is something to draw)."""
        if self.folder and not self.target.is_dir():
            try:
                self.target.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise NmftransError(f"{self.target}: cannot create the plot folder ({exc.strerror})") from None

    def path_for(self, name: str) -> Path:
        """The image of file ``name`` (a second file of the same name gets ``<name>-2.png``)."""
        if not self.folder:
            return self.target
        path, k = self.target / f"{name}.png", 1
        while path in self._used:
            k += 1
            path = self.target / f"{name}-{k}.png"
        self._used.add(path)
        return path

    def title(self, item: FileScore) -> str:
        """``<file>: onset F 0.912, frame F 0.874`` (the scores of the whole file, also under a time window)."""
        label = item.audio.name if item.audio is not None else (
            f"{item.estimate.name} vs {item.reference.name}" if item.estimate is not None else item.name)
        text = f"{label}: onset F {item.scores['onset_f']:.3f}, frame F {item.scores['frame_f']:.3f}"
        return text + (" (whole file)" if self.time_range is not None else "")

    def __call__(self, item: FileScore, reference: np.ndarray, estimate: np.ndarray, transcription=None) -> None:
        from nmftrans.io import plot

        path = self.path_for(item.name)
        if path.exists() and not self.overwrite:
            self.skipped.append(path)
            return
        try:
            self.prepare()
            title = self.title(item)
            if transcription is None:
                plot.plot_notes(path, estimate, reference, title=title, time_range=self.time_range,
                                overwrite=self.overwrite)
            else:
                plot.plot_transcription(path, transcription.activations, transcription.pitches,
                                        transcription.frame_rate, estimate, reference, title=title,
                                        time_range=self.time_range, overwrite=self.overwrite)
        except NmftransError as exc:
            self.errors.append(f"{item.name}: plot not written: {exc}")
            return
        self.written.append(path)


def successful(files: Iterable[FileScore]) -> list[FileScore]:
    """The files that have scores."""
    return [f for f in files if f.ok]


def _mean(files: list[FileScore]) -> OrderedDict:
    return mean_scores(f.scores for f in files) if files else OrderedDict((k, 0.0) for k in SCORE_KEYS)


# --------------------------------------------------------------------------------------
# Reports
# --------------------------------------------------------------------------------------

#: Table columns: (header, score key).
TABLE_COLUMNS = (
    ("onset P", "onset_precision"),
    ("onset R", "onset_recall"),
    ("onset F", "onset_f"),
    ("on+off F", "onset_offset_f"),
    ("frame P", "frame_precision"),
    ("frame R", "frame_recall"),
    ("frame F", "frame_f"),
    ("frame Acc", "frame_accuracy"),
)


def table_rows(files: Iterable[FileScore]) -> tuple[list[str], list[list[str]]]:
    """Header and rows of the score table: one row per scored file, then ``MEAN``.

    The MEAN row averages each score over the files (unweighted); its note counts are totals.
    """
    files = successful(files)
    header = ["file", "n_ref", "n_est"] + [h for h, _ in TABLE_COLUMNS]
    rows = [[f.name, str(f.n_ref), str(f.n_est)] + [f"{f.scores[k]:.3f}" for _, k in TABLE_COLUMNS]
            for f in files]
    mean = _mean(files)
    rows.append(["MEAN", str(sum(f.n_ref for f in files)), str(sum(f.n_est for f in files))]
                + [f"{mean[k]:.3f}" for _, k in TABLE_COLUMNS])
    return header, rows


def format_table(files: Iterable[FileScore]) -> str:
    """The score table as plain aligned text (no colours), one line per row."""
    header, rows = table_rows(files)
    table = [header] + rows
    widths = [max(len(r[c]) for r in table) for c in range(len(header))]

    def line(row):
        cells = [row[0].ljust(widths[0])] + [cell.rjust(w) for cell, w in zip(row[1:], widths[1:])]
        return "  ".join(cells).rstrip()

    return "\n".join(line(r) for r in table) + "\n"


def rich_table(files: Iterable[FileScore], *, width: int = 80, title: str | None = None):
    """The score table as a :class:`rich.table.Table`, for a terminal ``width`` columns wide.

    Score headers take two lines ("onset" over "P"); where the table would not fit with two
    spaces between columns it gets one, and long file names fold.
    """
    from rich import box
    from rich.table import Table

    header, rows = table_rows(files)
    headers = [header[0]] + [name.replace(" ", "\n") for name in header[1:]]
    natural = sum(max(max(len(h) for h in headers[c].split("\n")), max(len(r[c]) for r in rows))
                  for c in range(len(headers)))
    gap = 2 if natural + 2 * (len(headers) - 1) <= width else 1
    # SIMPLE_HEAD draws a space between columns; padding adds the second one where it fits.
    table = Table(title=title, box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False,
                  padding=(0, 0, 0, 1) if gap == 2 else 0)
    table.add_column(headers[0], overflow="fold", min_width=min(12, max(len(r[0]) for r in rows)))
    for name in headers[1:]:
        table.add_column(name, justify="right", no_wrap=True)
    for row in rows[:-1]:
        table.add_row(*row)
    table.add_section()
    table.add_row(*rows[-1], style="bold")
    return table


def _file_record(f: FileScore) -> dict:
    record = {"file": f.name, "reference": str(f.reference),
              "estimate": str(f.estimate) if f.estimate is not None else None,
              "audio": str(f.audio) if f.audio is not None else None}
    if f.ok:
        record.update(n_ref=f.n_ref, n_est=f.n_est, **{k: float(v) for k, v in f.scores.items()})
    else:
        record["error"] = f.error
    return record


def scores_to_json(files: Iterable[FileScore], **extra) -> str:
    """JSON report: ``{"files": [...], "failed": [...], "mean": {...}, "settings": {...}, **extra}``.

    Each file: ``file``, ``reference``, ``estimate``, ``audio``, ``n_ref``, ``n_est`` and the
    scores of :data:`~nmftrans.core.metrics.SCORE_KEYS` (0-1). ``mean`` averages the scores over the
    scored files and sums the note counts (``n_files`` scored).
    """
    files = list(files)
    ok = successful(files)
    mean = {"n_files": len(ok), "n_ref": sum(f.n_ref for f in ok), "n_est": sum(f.n_est for f in ok),
            **{k: float(v) for k, v in _mean(ok).items()}}
    doc = {"files": [_file_record(f) for f in ok],
           "failed": [_file_record(f) for f in files if not f.ok],
           "mean": mean,
           "settings": dict(SCORE_SETTINGS),
           **extra}
    return json.dumps(doc, indent=1) + "\n"


def scores_to_csv(files: Iterable[FileScore]) -> str:
    """CSV report: ``file,reference,estimate,audio,n_ref,n_est,<scores>``, one row per scored
    file, then a ``MEAN`` row (scores averaged, note counts summed)."""
    ok = successful(files)
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["file", "reference", "estimate", "audio", "n_ref", "n_est", *SCORE_KEYS])
    for f in ok:
        writer.writerow([f.name, f.reference, f.estimate or "", f.audio or "", f.n_ref, f.n_est,
                         *(f"{f.scores[k]:.6f}" for k in SCORE_KEYS)])
    mean = _mean(ok)
    writer.writerow(["MEAN", "", "", "", sum(f.n_ref for f in ok), sum(f.n_est for f in ok),
                     *(f"{mean[k]:.6f}" for k in SCORE_KEYS)])
    return buf.getvalue()
