"""Batch transcription: expand inputs, plan output names, run one file, write its outputs.

Kept apart from :mod:`nmftrans.transcribe` (signal -> notes) so that the CLI stays thin and
every file of a batch is handled the same way: a failure is reported and the batch goes on,
outputs are written atomically, and existing outputs are skipped unless ``overwrite``.

Besides the note list, a job can write, beside its MIDI file ``<stem>.mid``:

* ``<stem>.activations.npz`` (``save_activations``): the activations, see :func:`save_activations`;
* ``<stem>.png`` (``plot``): activations with the notes on top, see :mod:`nmftrans.io.plot`
  (``plot_range``: only that window, in seconds);
* ``<stem>.sonify.wav`` (``sonify``): the notes played by the dictionary's templates.

Saved activations can be turned into notes again with other tracker settings and no solving
(:func:`run_reextraction`).

Activations file (``.npz``, plain arrays, read with ``allow_pickle=False``):

================  =========================  ===============================================
key               dtype / shape              meaning
================  =========================  ===============================================
``format``        str, ()                    ``"nmftrans-activations"``
``version``       int32, ()                  format version (currently 1)
``activations``   float32, (n_pitches, n)    normalised per-pitch activations (about 1 = loud)
``pitches``       int16, (n_pitches,)        MIDI pitch of each row, increasing
``frame_rate``    float64, ()                frames per second
``times``         float64, (n,)              time of each frame in seconds (``t / frame_rate``)
``settings``      str, ()                    the dictionary's feature settings (JSON)
``provenance``    str, ()                    the dictionary's provenance (JSON object)
``dictionary``    str, ()                    the dictionary as given (``piano`` or a path)
``source``        str, ()                    the audio file transcribed
================  =========================  ===============================================
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TextIO

import numpy as np

from nmftrans.io.audio import AUDIO_SUFFIXES
from nmftrans.io.noteformats import OUTPUT_SUFFIXES
from nmftrans.errors import NmftransError
from nmftrans.io.fileio import existing_file, files_under, is_stream, read_npz

ACTIVATIONS_FORMAT = "nmftrans-activations"
ACTIVATIONS_VERSION = 1
_ACTIVATION_KEYS = ("format", "version", "activations", "pitches", "frame_rate", "times",
                    "settings", "provenance", "dictionary", "source")


@dataclass(frozen=True)
class TranscribeOptions:
    """What the user asked for; ``None`` means the default of the dictionary or tracker."""

    dictionary: str | None = None
    onset_threshold: float | None = None
    frame_threshold: float | None = None
    min_note_ms: float | None = None
    standout: float | None = None
    pitch_range: tuple[int, int] | None = None
    note_ends: str | None = None
    iterations: int | None = None
    floor_octaves: float | None = None
    eq_octaves: float | None = None
    beta: float | None = None
    tol: float | None = None
    adapt: bool = True
    sparsity: float | None = None
    tuning: float | None = None
    tempo: float = 120.0
    program: int = -1
    csv: bool = False
    json: bool = False
    save_activations: bool = False
    plot: bool = False
    plot_range: tuple[float | None, float | None] | None = None
    sonify: bool = False
    overwrite: bool = False
    resynth: bool = False
    resynth_pitches: tuple[int, ...] | None = None

    @property
    def extras(self) -> bool:
        """Whether outputs beside the note list (activations, plot, audio) were asked for."""
        return self.save_activations or self.plot or self.sonify or self.resynth


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
    notes: np.ndarray | None = None  # a job for stdout: its notes (several files: see NoteStream)


class NoteStream:
    """Several files' notes on stdout as one document, written as the files finish.

    CSV: one header ``file,onset,offset,pitch,velocity`` and a row per note. JSON: one array of
    ``{"file": ..., "notes": [...]}`` objects (the notes as ``notes_to_json`` gives them).
    """

    def __init__(self, as_json: bool):
        self.as_json = as_json
        self._count = 0

    def start(self) -> str:
        return "[" if self.as_json else "file,onset,offset,pitch,velocity\n"

    def item(self, path: Path, notes: np.ndarray) -> str:
        import csv
        import io

        from nmftrans.io.midi import notes_to_csv

        self._count += 1
        if self.as_json:
            body = json.dumps({"file": str(path), "notes": json.loads(_note_text(notes, json_=True))}, indent=1)
            return ("," if self._count > 1 else "") + "\n" + body
        buffer = io.StringIO()
        csv.writer(buffer, lineterminator="").writerow([str(path)])
        prefix = buffer.getvalue() + ","
        rows = notes_to_csv(notes).splitlines()[1:]
        return "".join(prefix + row + "\n" for row in rows)

    def end(self) -> str:
        return "\n]\n" if self.as_json else ""


def check_options(options: TranscribeOptions) -> None:
    """Reject impossible option values before any file is touched (a usage error, exit 2)."""
    if not (options.tempo > 0 and options.tempo < 1e6):
        raise NmftransError(f"--tempo must be a positive number of beats per minute, got {options.tempo}")
    if not -1 <= options.program <= 127:
        raise NmftransError(f"--program must be a General MIDI program 0-127, got {options.program}")
    if options.min_note_ms is not None and not 0 <= options.min_note_ms <= 1e6:
        raise NmftransError(f"--min-note-ms must be 0 or more, got {options.min_note_ms}")
    if options.plot_range is not None and not options.plot:
        raise NmftransError("--plot-range restricts the --plot picture; give --plot too")
    _solver_params(options)  # validated by SolverParams, once for the CLI and the Python API
    _note_params(options)  # validated by NoteParams
    if options.resynth_pitches is not None and not options.resynth:
        raise NmftransError("--resynth-pitches chooses what --resynth plays; give --resynth too")


def check_outputs(jobs: list[Job], options: TranscribeOptions) -> None:
    """Every output of every job can be written (its folder exists and is writable, it is not a
    folder) and matplotlib is there for ``plot``: checked before any work, so that neither is
    found after a long transcription."""
    from nmftrans.io.fileio import check_output

    if options.plot:
        from nmftrans.io.plot import require_matplotlib

        require_matplotlib()

    for job in jobs:
        if job.midi is not None:
            for target in output_paths(job.midi, options).values():
                check_output(target, overwrite=True)  # existing files are skipped or replaced later


def expand_inputs(inputs: list[Path], stdin: TextIO | None = None, skipped: list[Path] | None = None) -> list[Path]:
    """Files as given, folders searched recursively for audio, ``-`` read from stdin (one path a line).

    Existing files that are not audio by their suffix (a shell glob's ``.csv``, ``.mid``
    siblings) and folders without audio files (a glob's output folder) are left out and appended
    to ``skipped``; missing files are kept, to be reported per file, so that the batch goes on.
    Nothing left to transcribe is an error.
    """
    paths: list[Path] = []
    left_out: list[Path] = []

    def add(path: Path) -> None:
        if path.suffix.lower() not in AUDIO_SUFFIXES and path.is_file():
            left_out.append(path)
        else:
            paths.append(path)

    for item in inputs:
        if str(item) == "-":
            if stdin is None:
                raise NmftransError("'-' given but there is no standard input")
            for line in stdin:
                if line.strip():
                    add(Path(line.strip()))
        elif item.is_dir():
            found = files_under(item, AUDIO_SUFFIXES)
            if not found:
                left_out.append(item)
            paths.extend(found)
        else:
            add(item)
    if skipped is not None:
        skipped.extend(left_out)
    if not paths:
        if left_out:
            what = ("no audio files in this folder" if left_out[0].is_dir()
                    else f"not an audio file ({', '.join(AUDIO_SUFFIXES[:4])}, ...)")
            raise NmftransError(f"{left_out[0]}: {what}"
                                + (f"; nor are the {len(left_out) - 1} other inputs" if len(left_out) > 1 else ""))
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
    if output is not None and is_stream(output):  # /dev/stdout, a named pipe: one file, written through
        extras = [flag for flag, on in (("--csv", options.csv), ("--json", options.json),
                                        ("--save-activations", options.save_activations), ("--plot", options.plot),
                                        ("--sonify", options.sonify), ("--resynth", options.resynth)) if on]
        if len(paths) != 1 or extras:
            why = f"{len(paths)} inputs were given" if len(paths) != 1 else f"{', '.join(extras)} write files beside it"
            raise NmftransError(f"-o {output} is a stream (one note file), but {why}; give a folder or a file name")
        if output.suffix and output.suffix.lower() not in OUTPUT_SUFFIXES:
            raise NmftransError(f"{output}: unknown output format {output.suffix!r} (use .mid, .csv or .json)")
        return [Job(paths[0], output)]  # written as MIDI unless its name ends in .csv or .json
    if len(paths) == 1 and output is not None and not output.is_dir() and output.suffix:
        if output.suffix.lower() not in OUTPUT_SUFFIXES:
            raise NmftransError(f"{output}: unknown output format {output.suffix!r} (use .mid, .csv or .json, or a folder)")
        return [Job(paths[0], output)]
    if output is not None and not output.is_dir() and output.suffix.lower() in OUTPUT_SUFFIXES:
        raise NmftransError(f"-o {output} names one file but {len(paths)} inputs were given; give a folder")
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


def for_cluster(jobs: list[Job], options: TranscribeOptions) -> tuple[list[Job], TranscribeOptions]:
    """Jobs and options with absolute paths, for workers that run in other folders (a cluster)."""
    from nmftrans.io.dictionary import SHIPPED

    name = options.dictionary
    if name is not None and name not in SHIPPED:
        options = replace(options, dictionary=str(Path(name).resolve()))
    return [replace(j, audio=j.audio.resolve(), midi=j.midi.resolve() if j.midi is not None else None)
            for j in jobs], options


def _solver_params(options: TranscribeOptions):
    """The :class:`~nmftrans.transcribe.SolverParams` the options ask for (defaults where None)."""
    from nmftrans.transcribe import SolverParams

    given = {"n_iter": options.iterations, "floor_octaves": options.floor_octaves, "eq_octaves": options.eq_octaves,
             "beta": options.beta, "tol": options.tol, "sparsity": options.sparsity, "tuning": options.tuning}
    if not options.adapt:  # W strictly fixed: no response gain, no W updates
        given.update(eq_octaves=0.0, refine_w_iter=0)
    return SolverParams(**{k: v for k, v in given.items() if v is not None})


@functools.lru_cache(maxsize=4)
def _dictionary(name: str | None):
    from nmftrans.io.dictionary import load_dictionary

    return load_dictionary(name)


def _note_params(options: TranscribeOptions):
    from nmftrans.core.notes import NoteParams

    params = NoteParams()
    changes = {}
    if options.onset_threshold is not None:
        changes["onset_threshold"] = options.onset_threshold
    if options.frame_threshold is not None:
        changes["frame_threshold"] = options.frame_threshold
    if options.min_note_ms is not None:
        changes["min_note_s"] = options.min_note_ms / 1000.0
    if options.standout is not None:
        changes["carpet_ratio"] = options.standout
    if options.pitch_range is not None:
        changes["lowest"], changes["highest"] = options.pitch_range
    if options.note_ends is not None:
        changes["note_ends"] = options.note_ends
    return replace(params, **changes)


def output_paths(midi: Path, options: TranscribeOptions) -> dict[str, Path]:
    """Every file a job writes, by kind: ``notes`` (the -o file), ``csv``, ``json``, ``activations``,
    ``plot``, ``sonify``. The extras sit beside the note file and share its stem."""
    targets = {"notes": midi}
    suffix = midi.suffix.lower()
    if options.csv and suffix != ".csv":
        targets["csv"] = midi.with_suffix(".csv")
    if options.json and suffix != ".json":
        targets["json"] = midi.with_suffix(".json")
    if options.save_activations:
        targets["activations"] = midi.with_name(f"{midi.stem}.activations.npz")
    if options.plot:
        targets["plot"] = midi.with_name(f"{midi.stem}.png")
    if options.sonify:
        targets["sonify"] = midi.with_name(f"{midi.stem}.sonify.wav")
    if options.resynth:
        targets["model"] = midi.with_name(f"{midi.stem}.model.wav")
    return targets


def run_transcription(job: Job, options: TranscribeOptions) -> JobResult:
    """Transcribe one file and write its outputs; raises NmftransError for this file only."""
    from nmftrans.transcribe import transcribe_file
    from nmftrans.core.pooling import PICTURE_COLUMNS

    result = JobResult()
    targets = output_paths(job.midi, options) if job.midi is not None else {}
    if targets and not options.overwrite and all(existing_file(t) for t in targets.values()):
        result.skipped.extend(targets.values())
        return result
    dictionary = _dictionary(options.dictionary)
    solver = _solver_params(options)
    keep = "activations" in targets or ("plot" in targets and options.plot_range is not None)
    # else memory stays flat for any length; a whole-file picture needs only the pooled activations
    pool = PICTURE_COLUMNS if "plot" in targets and not keep else 0
    transcription = transcribe_file(job.audio, dictionary, solver, _note_params(options), keep_activations=keep,
                                    pool_columns=pool)
    result.warnings.extend(transcription.warnings)
    if job.to_stdout:
        result.stdout = _note_text(transcription.notes, json_=options.json)
        result.notes = transcription.notes
        return result
    from nmftrans.io.dictionary import SHIPPED

    name = options.dictionary or "piano"
    meta = {"settings": dictionary.settings.to_json(), "provenance": json.dumps(dictionary.provenance, sort_keys=True),
            "dictionary": name if name in SHIPPED else str(Path(name).resolve()), "source": str(job.audio.resolve())}
    _write_outputs(targets, transcription.notes, transcription.activations, transcription.pitches,
                   transcription.frame_rate, meta, lambda: dictionary, options, result, title=job.audio.name,
                   pooled_from=transcription.pooled_from or None)
    return result


def _saved_settings(saved: dict):
    """The feature settings stored with saved activations."""
    from nmftrans.core.settings import FeatureSettings

    try:
        return FeatureSettings.from_json(str(saved["settings"]))
    except NmftransError as exc:
        raise NmftransError(f"the activations' {exc}") from None


def run_reextraction(activations_path: Path, output: Path | None, options: TranscribeOptions) -> JobResult:
    """Notes from saved activations with the tracker settings of ``options``; nothing is solved.

    ``output`` as for one input (a file, ``-``, a folder, or None for ``<stem>.mid`` here). A
    ``--sonify`` uses ``options.dictionary`` or else the dictionary the activations were made with.
    """
    from nmftrans.io.dictionary import note_ends_of
    from nmftrans.transcribe import track_activations

    saved = load_activations(activations_path)
    name = activations_path.name
    stem = name[: -len(".activations.npz")] if name.endswith(".activations.npz") else activations_path.stem
    settings = _saved_settings(saved)
    # None: the convention of the dictionary they were made with, as transcribe_blocks resolves it
    params = _note_params(options).ending(note_ends_of(json.loads(saved["provenance"])))
    notes = track_activations(saved["activations"], saved["pitches"], settings, params)
    if saved["frame_rate"] != settings.frame_rate:  # made from a tuning-corrected input: tracked on the
        notes = notes.copy()  # analysis' frames, timed in the recording's (Transcription.tuning_cents)
        notes[:, :2] *= settings.frame_rate / saved["frame_rate"]
    result = JobResult()
    if output is not None and str(output) == "-":
        result.stdout = _note_text(notes, json_=options.json)
        return result
    if output is None or output.is_dir() or not output.suffix:
        output = (output or Path(".")) / f"{stem}.mid"
    elif output.suffix.lower() not in OUTPUT_SUFFIXES:
        raise NmftransError(f"{output}: unknown output format {output.suffix!r} (use .mid, .csv or .json)")
    if not output.parent.is_dir():
        raise NmftransError(f"{output}: folder {output.parent} does not exist")
    targets = output_paths(output, replace(options, save_activations=False))
    meta = {k: str(saved[k]) for k in ("settings", "provenance", "dictionary", "source")}
    dictionary = _dictionary(options.dictionary or meta["dictionary"]) if options.sonify else None
    _write_outputs(targets, notes, saved["activations"], saved["pitches"], saved["frame_rate"], meta,
                   lambda: dictionary, options, result, title=Path(meta["source"]).name or name)
    return result


def _note_text(notes: np.ndarray, json_: bool) -> str:
    from nmftrans.io.midi import notes_to_csv, notes_to_json

    return notes_to_json(notes) if json_ else notes_to_csv(notes)


def _write_outputs(targets: dict[str, Path], notes, activations, pitches, frame_rate, meta, get_dictionary,
                   options: TranscribeOptions, result: JobResult, title: str, pooled_from: int | None = None) -> None:
    """Write every target not already there (or all with ``overwrite``), each atomically; ``pooled_from``:
    ``activations`` are max-pooled from that many frames, for the plot only."""
    from nmftrans.io.midi import write_notes

    program = options.program
    if program < 0:
        value = json.loads(meta["provenance"]).get("program", 0)
        program = value if isinstance(value, int) and 0 <= value <= 127 else 0
    for kind, target in targets.items():
        if existing_file(target) and not options.overwrite:
            result.skipped.append(target)
            continue
        if kind in ("notes", "csv", "json"):
            write_notes(target, notes, tempo=options.tempo, program=program, overwrite=True,
                        fmt=None if target.suffix else "mid")  # /dev/stdout: MIDI
        elif kind == "activations":
            save_activations(target, activations, pitches, frame_rate, **meta)
        elif kind == "plot":
            from nmftrans.io.plot import plot_transcription

            plot_transcription(target, activations, pitches, frame_rate, notes, title=title,
                               time_range=options.plot_range, n_frames=pooled_from)
        elif kind == "sonify":
            from nmftrans.io.audio import native_format
            from nmftrans.io.sonify import write_sonification

            rate, length = native_format(meta["source"]) or (None, None)  # the input's, to line up with it
            write_sonification(target, notes, get_dictionary(), sample_rate=rate, n_samples=length)
        elif kind == "model":
            from nmftrans.resynth import write_model_audio

            write_model_audio(target, meta["source"], get_dictionary(), _solver_params(options),
                              options.resynth_pitches)
        result.written.append(target)


def save_activations(path: str | Path, activations: np.ndarray, pitches: np.ndarray, frame_rate: float, *,
                     settings: str, provenance: str, dictionary: str, source: str) -> None:
    """Write activations and what produced them as an ``.npz`` of plain arrays, atomically."""
    from nmftrans.io.fileio import atomic_path

    activations = np.asarray(activations, dtype=np.float32)
    arrays = {
        "format": np.array(ACTIVATIONS_FORMAT),
        "version": np.array(ACTIVATIONS_VERSION, dtype=np.int32),
        "activations": activations,
        "pitches": np.asarray(pitches, dtype=np.int16),
        "frame_rate": np.array(float(frame_rate)),
        "times": np.arange(activations.shape[1]) / float(frame_rate),
        "settings": np.array(str(settings)),
        "provenance": np.array(str(provenance)),
        "dictionary": np.array(str(dictionary)),
        "source": np.array(str(source)),
    }
    with atomic_path(path, overwrite=True) as tmp:
        with open(tmp, "wb") as fh:
            np.savez_compressed(fh, **arrays)


def load_activations(path: str | Path) -> dict:
    """Read and validate an activations file written by :func:`save_activations`.

    Returns
    -------
    dict with ``activations`` (float32, (n_pitches, n_frames)), ``pitches`` (int64),
    ``frame_rate`` (float), ``times`` (float64) and the strings ``settings``, ``provenance``,
    ``dictionary``, ``source``.

    Raises
    ------
    NmftransError
        Missing file, not an activations file, missing keys, object arrays, wrong dtypes or shapes.
    """
    path = Path(path)
    source = str(path)
    arrays = read_npz(path, _ACTIVATION_KEYS, "activations")
    for key in ("format", "settings", "provenance", "dictionary", "source"):
        if arrays[key].shape != () or arrays[key].dtype.kind != "U":
            raise NmftransError(f"{source}: entry {key!r} must be a string")
    if str(arrays["format"]) != ACTIVATIONS_FORMAT:
        raise NmftransError(f"{source}: not an nmftrans activations file")
    version = arrays["version"]
    if version.shape != () or version.dtype.kind not in "iu" or int(version) != ACTIVATIONS_VERSION:
        raise NmftransError(f"{source}: unsupported activations format version")
    A, pitches, frame_rate, times = (arrays[k] for k in ("activations", "pitches", "frame_rate", "times"))
    for key in ("activations", "pitches", "frame_rate", "times"):
        if arrays[key].dtype.kind not in "fiu":
            raise NmftransError(f"{source}: entry {key!r} must be numeric")
    if A.ndim != 2 or pitches.ndim != 1 or times.ndim != 1 or frame_rate.shape != ():
        raise NmftransError(f"{source}: activations must be 2-D, pitches and times 1-D, frame_rate a scalar")
    if A.shape[0] != len(pitches) or A.shape[1] != len(times):
        raise NmftransError(f"{source}: activations are {A.shape[0]}x{A.shape[1]} but there are "
                            f"{len(pitches)} pitches and {len(times)} times")
    if A.shape[0] == 0:
        raise NmftransError(f"{source}: no pitches")
    if not np.isfinite(A).all() or (A < 0).any():
        raise NmftransError(f"{source}: activations have negative or non-finite values")
    if not (np.isfinite(pitches).all() and (pitches == np.round(pitches)).all()
            and pitches.min() >= 0 and pitches.max() <= 127 and (np.diff(pitches) > 0).all()):
        raise NmftransError(f"{source}: pitches must be increasing MIDI numbers 0-127")
    rate = float(frame_rate)
    if not (np.isfinite(rate) and 0 < rate <= 10000):
        raise NmftransError(f"{source}: frame_rate must be positive")
    try:
        provenance = json.loads(str(arrays["provenance"]))
        json.loads(str(arrays["settings"]))
    except ValueError:
        raise NmftransError(f"{source}: settings or provenance are not valid JSON") from None
    if not isinstance(provenance, dict):
        raise NmftransError(f"{source}: provenance must be a JSON object")
    return {
        "activations": np.ascontiguousarray(A, dtype=np.float32),
        "pitches": pitches.astype(np.int64),
        "frame_rate": rate,
        "times": times.astype(np.float64),
        **{k: str(arrays[k]) for k in ("settings", "provenance", "dictionary", "source")},
    }
