"""Batch transcription: expand inputs, plan output names, run one file, write its outputs.

Kept apart from :mod:`nmftrans.transcribe` (signal -> notes) so that the CLI stays thin and
every file of a batch is handled the same way: a failure is reported and the batch goes on,
outputs are written atomically, and existing outputs are skipped unless ``overwrite``.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TextIO

from nmftrans.audio import AUDIO_SUFFIXES
from nmftrans.errors import NmftransError


@dataclass(frozen=True)
class TranscribeOptions:
    """What the user asked for; ``None`` means the default of the dictionary or tracker."""

    dictionary: str | None = None
    onset_threshold: float | None = None
    frame_threshold: float | None = None
    min_note_ms: float | None = None
    pitch_range: tuple[int, int] | None = None
    iterations: int | None = None
    tempo: float = 120.0
    program: int = -1
    csv: bool = False
    json: bool = False
    overwrite: bool = False


@dataclass(frozen=True)
class Job:
    """One input and where its results go. ``midi`` None with ``to_stdout``: note list on stdout."""

    audio: Path
    midi: Path | None
    to_stdout: bool = False


@dataclass
class JobResult:
    written: list[Path] = field(default_factory=list)
    skipped: list[Path] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    stdout: str = ""


def expand_inputs(inputs: list[Path], stdin: TextIO | None = None) -> list[Path]:
    """Files as given, folders searched recursively for audio, ``-`` read from stdin (one path a line)."""
    paths: list[Path] = []
    for item in inputs:
        if str(item) == "-":
            if stdin is None:
                raise NmftransError("'-' given but there is no standard input")
            paths.extend(Path(line.strip()) for line in stdin if line.strip())
        elif item.is_dir():
            found = sorted(p for p in item.rglob("*") if p.suffix.lower() in AUDIO_SUFFIXES and p.is_file())
            if not found:
                raise NmftransError(f"{item}: no audio files in this folder")
            paths.extend(found)
        else:
            paths.append(item)  # missing files are reported per file, so the batch goes on
    if not paths:
        raise NmftransError("no input files")
    return paths


def plan_outputs(paths: list[Path], output: Path | None, options: TranscribeOptions) -> list[Job]:
    """Decide every input's MIDI path.

    One input: ``output`` is the file (``.mid``, or ``.csv``/``.json`` for a note list), ``-`` for
    stdout, or an existing folder. Many inputs: ``output`` is a folder (created if needed). Without
    ``output``: ``<stem>.mid`` in the current folder.
    """
    if output is not None and str(output) == "-":
        return [Job(p, None, to_stdout=True) for p in paths]
    if len(paths) == 1 and output is not None and not output.is_dir() and output.suffix:
        return [Job(paths[0], output)]
    folder = output if output is not None else Path(".")
    if output is not None and not output.exists():
        try:
            output.mkdir(parents=True)
        except OSError as exc:
            raise NmftransError(f"{output}: cannot create the output folder ({exc.strerror})") from None
    stems: dict[str, Path] = {}
    jobs = []
    for p in paths:
        if p.stem in stems and stems[p.stem] != p:
            raise NmftransError(f"{p} and {stems[p.stem]} would both write {p.stem}.mid; transcribe them separately")
        stems[p.stem] = p
        jobs.append(Job(p, folder / f"{p.stem}.mid"))
    return jobs


@functools.lru_cache(maxsize=4)
def _dictionary(name: str | None):
    from nmftrans.dictionary import load_dictionary

    return load_dictionary(name)


def _note_params(options: TranscribeOptions):
    from nmftrans.notes import NoteParams

    params = NoteParams()
    changes = {}
    if options.onset_threshold is not None:
        changes["onset_threshold"] = options.onset_threshold
    if options.frame_threshold is not None:
        changes["frame_threshold"] = options.frame_threshold
    if options.min_note_ms is not None:
        changes["min_note_s"] = options.min_note_ms / 1000.0
    if options.pitch_range is not None:
        changes["lowest"], changes["highest"] = options.pitch_range
    return replace(params, **changes)


def run_transcription(job: Job, options: TranscribeOptions) -> JobResult:
    """Transcribe one file and write its outputs; raises NmftransError for this file only."""
    from nmftrans.midi import notes_to_csv, notes_to_json, write_notes
    from nmftrans.transcribe import SolverParams, transcribe_file

    result = JobResult()
    targets = []
    if job.midi is not None:
        targets.append(job.midi)
        if options.csv and job.midi.suffix.lower() != ".csv":
            targets.append(job.midi.with_suffix(".csv"))
        if options.json and job.midi.suffix.lower() != ".json":
            targets.append(job.midi.with_suffix(".json"))
        if not options.overwrite and all(t.exists() for t in targets):
            result.skipped.extend(targets)
            return result
    dictionary = _dictionary(options.dictionary)
    solver = SolverParams() if options.iterations is None else SolverParams(n_iter=options.iterations)
    transcription = transcribe_file(job.audio, dictionary, solver, _note_params(options))
    result.warnings.extend(transcription.warnings)
    program = options.program if options.program >= 0 else int(dictionary.provenance.get("program", 0))
    if job.to_stdout:
        notes = transcription.notes
        result.stdout = notes_to_json(notes) if options.json else notes_to_csv(notes)
        return result
    for target in targets:
        if target.exists() and not options.overwrite:
            result.skipped.append(target)
            continue
        write_notes(target, transcription.notes, tempo=options.tempo, program=program, overwrite=True)
        result.written.append(target)
    return result
