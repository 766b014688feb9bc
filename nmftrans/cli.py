"""The ``nmftrans`` command line: thin Typer wrappers around the use cases.

Exit codes: 0 all went well, 1 an input failed (in a batch: at least one file failed, the others
were processed), 2 usage error, 130 interrupted (Ctrl-C). Results go to stdout; messages and progress go to stderr.
Heavy modules (NumPy, Numba, librosa) are imported inside the commands, so ``--help`` is fast.
"""

# No `from __future__ import annotations` in this module: Typer reads every command's annotations
# at each start (typing.get_type_hints), and a string annotation costs a compile and an eval:
# building the commands took 6.1 ms with them, 3.2 ms without.

import sys
from pathlib import Path
from typing import List, Optional

import typer

from nmftrans import __version__
from nmftrans.errors import NmftransError, SettingError
from nmftrans.interrupt import interruptible

app = typer.Typer(
    name="nmftrans",
    help="Automatic music transcription with nonnegative matrix factorization.\n\n"
    "Learn a spectral dictionary from your instrument's notes in seconds, then transcribe audio to MIDI.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,  # plain help: wraps at 80 columns, keeps [default: ...], no <bool> on flags
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 80},
)


class Log:
    """One-line messages on stderr; progress only on a terminal and when not quiet.

    While a progress bar is shown, messages go through its console so that they print above the
    bar instead of tearing it.
    """

    def __init__(self, quiet: bool = False):
        self.quiet = quiet
        self._bar = None

    def _echo(self, message: str) -> None:
        if self._bar is not None:
            self._bar.console.print(message, markup=False, highlight=False, soft_wrap=True)
        else:
            typer.echo(message, err=True)

    def info(self, message: str) -> None:
        if not self.quiet:
            self._echo(message)

    def warn(self, message: str) -> None:
        self._echo(f"warning: {message}")

    def error(self, message: str) -> None:
        self._echo(f"error: {message}")

    def progress(self, total: int, description: str):
        """A rich progress bar on stderr, or a no-op when stderr is not a terminal."""
        return _Progress(total, description, enabled=not self.quiet and sys.stderr.isatty(), log=self)


def _say_if_compiling(log: "Log") -> None:
    """One line on stderr when the first run will compile the kernels (else a silent wait)."""
    from nmftrans.kernelcache import kernels_cached

    if not kernels_cached():
        log.info("preparing the solver's kernels (first run only; about 10-20 s)")


class _Progress:
    def __init__(self, total: int, description: str, enabled: bool, log: Log | None = None):
        self.enabled = enabled
        self.total = total
        self.description = description
        self.log = log

    def __enter__(self):
        if self.enabled:
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

            self._bar = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                 TimeRemainingColumn(), console=Console(stderr=True), transient=True)
            self._bar.__enter__()
            self._task = self._bar.add_task(self.description, total=self.total)
            if self.log is not None:
                self.log._bar = self._bar
        return self

    def start(self, label: str) -> None:
        """Show the item being worked on."""
        if self.enabled:
            self._bar.update(self._task, description=f"{self.description} {label}"[:60])

    def advance(self, label: str = "") -> None:
        if self.enabled:
            self._bar.update(self._task, advance=1, **({"description": f"{self.description} {label}"[:60]} if label else {}))

    def __exit__(self, *exc):
        if self.enabled:
            if self.log is not None:
                self.log._bar = None
            self._bar.__exit__(*exc)
        return False


def parse_time_range(text: str) -> tuple[float | None, float | None]:
    """``START:END`` in seconds (``10:25``, ``:30``, ``12:``) -> ``(start, end)``, None for an open side.

    Raises
    ------
    NmftransError
        No colon, a side that is not a finite number of seconds >= 0, neither side given, or
        END not after START.
    """
    import math

    usage = f"--plot-range: expected START:END in seconds (e.g. 10:25, :30 or 12:), got {text!r}"
    first, colon, second = str(text).partition(":")
    if not colon:
        raise NmftransError(usage)

    def seconds(part: str) -> float | None:
        part = part.strip()
        if not part:
            return None
        try:
            value = float(part)
        except ValueError:
            raise NmftransError(usage) from None
        if not (math.isfinite(value) and value >= 0):
            raise NmftransError(f"--plot-range: times must be finite seconds >= 0, got {text!r}")
        return value

    start, end = seconds(first), seconds(second)
    if start is None and end is None:
        raise NmftransError(usage)
    if start is not None and end is not None and end <= start:
        raise NmftransError(f"--plot-range: END must be after START, got {text!r}")
    return start, end


#: Python setting names whose option is not ``--`` + the name with hyphens (and without ``_s``).
_OPTION_NAMES = {"n_iter": "iterations", "n_mels": "mels", "time_range": "plot-range", "carpet_ratio": "standout"}


def _option(setting: str) -> str:
    """The command-line option of a Python setting name: ``before_s`` -> ``--before``."""
    name = _OPTION_NAMES.get(setting, setting)
    name = name[:-2] if name.endswith("_s") else name
    return "--" + name.replace("_", "-")


def _say(error: str | Exception) -> str:
    """The one line a user reads for an error: a setting is named by its option."""
    if isinstance(error, SettingError):
        return f"{_option(error.setting)} {error.problem}"
    return str(error)


def _fail(message: str | Exception, code: int = 1) -> None:
    """Print ``error: message`` on stderr and exit with ``code``."""
    typer.echo(f"error: {_say(message)}", err=True)
    raise typer.Exit(code)


def _version_callback(value: bool) -> None:
    if value:
        typer.echo(f"nmftrans {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", callback=_version_callback, is_eager=True,
                                 help="Print the version and exit."),
) -> None:
    """Automatic music transcription with nonnegative matrix factorization."""


def _batch_end(log: Log, total: int, failed: int, done: str) -> None:
    """A batch's summary line on stderr (several inputs only); exit 1 if any input failed."""
    if total > 1:
        log.info(f"{total - failed} of {total} {done}" + (f", {failed} failed" if failed else ""))
    if failed:
        raise typer.Exit(1)


def _tuning(value: str | None) -> float | None:
    """``--tuning``: None for ``auto`` (or unset), else the number of cents (its range is checked by
    :class:`~nmftrans.transcribe.SolverParams`)."""
    if value is None or value.strip().lower() == "auto":
        return None
    try:
        return float(value)
    except ValueError:
        raise NmftransError(f"--tuning must be auto or a number of cents between -50 and 50, got {value!r}") from None


def _changed(**given) -> list[str]:
    """``--option`` names of the ``name=(value, default)`` pairs whose value is not the default."""
    return ["--" + name.replace("_", "-") for name, (value, default) in given.items() if value != default]


def _pitch_range(lowest: Optional[str], highest: Optional[str], default: tuple[int, int] | None):
    from nmftrans.core.pitches import parse_pitch

    if lowest is None and highest is None:
        return default
    lo = parse_pitch(lowest) if lowest is not None else (default[0] if default else 0)
    hi = parse_pitch(highest) if highest is not None else (default[1] if default else 127)
    if lo > hi:
        raise NmftransError(f"--lowest ({lowest}) is above --highest ({highest})")
    return lo, hi


def _pitch_list(text: Optional[str]) -> Optional[tuple[int, ...]]:
    """``"60,64"`` or ``"C4,E4"`` as MIDI numbers (None stays None)."""
    from nmftrans.core.pitches import parse_pitch

    if text is None:
        return None
    parts = [p.strip() for p in text.split(",") if p.strip()]
    if not parts:
        raise NmftransError("--resynth-pitches needs pitches like 60,64 or C4,E4")
    return tuple(sorted({parse_pitch(p) for p in parts}))


@app.command()
@interruptible("interrupted; no dictionary written")
def learn(
    sources: List[Path] = typer.Argument(None, help="Folders or files: isolated notes or labelled audio.", show_default=False),
    output: Path = typer.Option(..., "-o", "--output", help="Dictionary file to write (.npz)."),
    harmonic: bool = typer.Option(False, "--harmonic", help="No data: pitch-informed harmonic templates."),
    lowest: Optional[str] = typer.Option(None, help="Lowest pitch of the dictionary (MIDI number or name, e.g. A0).", show_default="A0 with --harmonic, else the data's lowest"),
    highest: Optional[str] = typer.Option(None, help="Highest pitch of the dictionary (e.g. C8).", show_default="C8 with --harmonic, else the data's highest"),
    beta: float = typer.Option(1.0, help="β of the divergence: 2 Euclidean, 1 Kullback-Leibler, 0 Itakura-Saito."),
    iterations: int = typer.Option(50, help="MU iterations (labelled audio: epochs over the files)."),
    split: Optional[str] = typer.Option(None, help="MAESTRO split to use: train, validation or test."),
    guitarset_audio: str = typer.Option("mic", help="GuitarSet audio: mic or mix."),
    max_files: Optional[int] = typer.Option(None, help="Use at most this many labelled files."),
    sustain: bool = typer.Option(True, "--sustain/--no-sustain", help="Extend MIDI notes by the sustain pedal."),
    method: str = typer.Option("informed", "--method", help="Labelled audio: informed (H refined inside the notes' support) or fixed (H = piano roll)."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing output file."),
    program: Optional[int] = typer.Option(None, help="General MIDI program transcriptions with this dictionary get (0 piano, 24 nylon guitar, 25 steel guitar).", show_default="0"),
    note_ends: Optional[str] = typer.Option(None, "--note-ends", metavar="release|sound", help="Where notes transcribed with this dictionary end by default (transcribe --note-ends): release (pianos) or sound (guitars).", show_default="release"),
    n_jobs: int = typer.Option(1, "--jobs", "-j", help="Read this many files at once (worker processes); the dictionary is the same for any N."),
    scheduler: Optional[str] = typer.Option(None, "--scheduler", help="dask.distributed scheduler address (tcp://host:8786): fan the files out to a cluster."),
    tolerance: float = typer.Option(0.02, "--tolerance", help="--harmonic: half-width of each partial's lobe, a fraction of its frequency (0-0.5)."),
    pitches_from: Optional[Path] = typer.Option(None, "--pitches-from", help="--harmonic: only the pitches this score (any note file) uses.", show_default=False),
    one_template: bool = typer.Option(False, "--one-template", help="Isolated notes: one template per pitch (no attack template)."),
    no_fill: bool = typer.Option(False, "--no-fill", help="Isolated notes: no harmonic template for pitches without data."),
    comb_share: float = typer.Option(0.0, "--comb-share", help="Isolated notes: share of the harmonic comb blended into each learned sustain template (0-1; the shipped piano: 0.5)."),
    deep: bool = typer.Option(False, "--deep", help="Deep NMF: train K unfolded MU layers with their own templates on labelled audio (--iterations: training steps)."),
    layers: int = typer.Option(12, "--layers", help="--deep: number of unfolded MU layers (each costs one MU update)."),
    init: Optional[str] = typer.Option(None, "--init", help="--deep: dictionary to start from (piano, guitar or a .npz; default piano)."),
    seed: int = typer.Option(0, "--seed", help="--deep: seed of the frame sampling."),
    deep_adapt: bool = typer.Option(False, "--deep-adapt", help="--deep: the layers replace the first solve only; the per-block adaptation of W follows when transcribing."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Only errors and warnings on stderr."),
    frames: int = typer.Option(1, "--frames", help="Isolated notes: frames of each pitch's attack template (> 1: convolutive templates, τ-frame patches; 1: one-frame templates)."),
) -> None:
    """Build a dictionary W from isolated notes, labelled audio, or nothing (--harmonic).

    \b
    Examples:
      nmftrans learn my-piano-notes/ -o piano.npz
          one note per file (pitch: notes.csv, an annotation, or names like M60)
      nmftrans learn guitarset/ -o guitar.npz
          labelled audio: W and H from D(X | W·H), H inside the notes
      nmftrans learn takes/ my-notes/ -o mine.npz
          labelled takes and isolated notes together
      nmftrans learn --harmonic --lowest A0 --highest C8 -o harmonic.npz
          no data: harmonic combs
      nmftrans learn maestro/ -o maestro.npz -j 4
          4 worker processes (or --scheduler tcp://host:8786)
      nmftrans learn my-piano-notes/ --frames 4 -o conv.npz
          4-frame (convolutive) attack templates
      nmftrans learn pieces/ --deep -o deep.npz
          deep NMF: 12 trained MU layers (from piano)
    """
    log = Log(quiet)
    try:
        from nmftrans.core.settings import check_beta

        check_beta(beta)  # the range transcribe and evaluate accept too
        if not harmonic and (pitches_from is not None or tolerance != 0.02):
            raise NmftransError("--tolerance and --pitches-from shape harmonic templates; give --harmonic")
        if harmonic and (one_template or no_fill):
            raise NmftransError("--one-template and --no-fill are for learning from isolated notes, not --harmonic")
        if not (0 < tolerance <= 0.5):
            raise NmftransError(f"--tolerance must be above 0 and at most 0.5 (a fraction of each partial's "
                                f"frequency), got {tolerance:g}")
    except NmftransError as exc:
        _fail(exc, 2)
    try:
        from nmftrans import learn as use_case
        from nmftrans.io.dictionary import save_dictionary
        from nmftrans.core.pitches import midi_to_name

        if not harmonic and not sources:
            _fail("give SOURCE folders or files, or --harmonic", 2)
        if harmonic and sources:
            _fail("--harmonic builds templates from no data: give SOURCES or --harmonic, not both", 2)
        deep_only = _changed(layers=(layers, 12), init=(init, None), seed=(seed, 0), deep_adapt=(deep_adapt, False))
        if deep_only and not deep:
            _fail(f"{', '.join(deep_only)}: for --deep only", 2)
        not_deep = _changed(frames=(frames, 1), method=(method, "informed"), one_template=(one_template, False),
                            no_fill=(no_fill, False), comb_share=(comb_share, 0.0), jobs=(n_jobs, 1),
                            scheduler=(scheduler, None))
        if deep and (harmonic or not sources):
            _fail("--deep needs labelled audio SOURCE folders or files (and no --harmonic)", 2)
        if deep and not_deep:
            _fail(f"{', '.join(not_deep)}: not used by --deep", 2)
        unused = _changed(iterations=(iterations, 50), split=(split, None), guitarset_audio=(guitarset_audio, "mic"),
                          max_files=(max_files, None), no_sustain=(sustain, True), jobs=(n_jobs, 1),
                          scheduler=(scheduler, None), method=(method, "informed"), comb_share=(comb_share, 0.0))
        if harmonic and frames != 1:
            _fail("--frames applies to isolated notes, not to --harmonic", 2)
        if harmonic and unused:
            _fail(f"{', '.join(unused)}: not used by --harmonic (no data is read)", 2)
        try:
            use_case.check_learn_settings(beta=beta, iterations=None if deep else iterations, split=split,
                                          guitarset_audio=guitarset_audio, max_files=max_files,
                                          frames=frames, method=method, comb_share=comb_share, note_ends=note_ends)
            pitch_range = _pitch_range(lowest, highest, (21, 108) if harmonic else None)
            if program is not None and not 0 <= program <= 127:
                raise NmftransError(f"--program must be a General MIDI program 0-127, got {program}")
        except NmftransError as exc:
            _fail(exc, 2)
        from nmftrans.io.fileio import check_output

        check_output(output, overwrite=overwrite)  # before any work
        if not harmonic:
            _say_if_compiling(log)
        if deep:
            from nmftrans.deep_train import DeepParams, train_deep_from_sources

            params = DeepParams(layers=layers, steps=iterations, seed=seed)
            dictionary, deep_report = train_deep_from_sources(
                sources, init, params, split=split, guitarset_audio=guitarset_audio, max_files=max_files,
                sustain=sustain, log=log)
            if deep_adapt:
                import dataclasses

                dictionary = dataclasses.replace(dictionary, deep_adapt=True)
            save_dictionary(dictionary, output, overwrite=True)
            for path, reason in deep_report.skipped:
                log.warn(f"skipped {path}: {reason}")
            for message in deep_report.warnings:
                log.warn(message)
            log.info(f"deep dictionary: {layers} layers trained on {len(deep_report.files)} files, loss "
                     f"{deep_report.losses[0]:.4f} -> {deep_report.losses[-1]:.4f} -> {output}")
            typer.echo(str(output))
            return
        if harmonic:
            rng = pitch_range
            chosen = None
            if pitches_from is not None:
                from nmftrans.align import read_score

                used = read_score(pitches_from)[0][:, 2].astype(int)
                chosen = sorted({int(p) for p in used if rng[0] <= p <= rng[1]})
                if not chosen:
                    raise NmftransError(f"{pitches_from}: no score pitch within {rng[0]}-{rng[1]}")
            dictionary = use_case.learn_harmonic(rng, beta=beta, tolerance=tolerance, pitches=chosen)
            report = use_case.LearnReport(filled=[int(p) for p in dictionary.pitch_set])
        else:
            dictionary, report = use_case.learn_from_sources(
                sources, beta=beta, pitch_range=pitch_range, iterations=iterations,
                split=split, guitarset_audio=guitarset_audio, max_files=max_files, sustain=sustain, log=log,
                jobs=n_jobs, scheduler=scheduler, frames=frames, method=method,
                one_template=one_template, fill=not no_fill, comb_share=comb_share)
        if program is not None:
            dictionary.provenance["program"] = program  # what transcribe writes in its MIDI files
        if note_ends is not None:
            dictionary.provenance["note_ends"] = note_ends  # transcribe's default with it
        save_dictionary(dictionary, output, overwrite=True)
    except NmftransError as exc:
        _fail(exc)
    for path, reason in report.skipped:
        log.warn(f"skipped {path}: {reason}")
    for message in report.warnings:
        log.warn(message)
    names = [midi_to_name(p) for p in dictionary.pitch_set]
    log.info(f"learned {len(report.learned)} pitches from data, {len(report.filled)} harmonic; "
             f"{len(dictionary.pitches)} templates {names[0]}-{names[-1]} -> {output}")
    if report.filled and report.learned:
        log.info("no training notes (harmonic templates): " + " ".join(midi_to_name(p) for p in report.filled))
    for path, per_frame, n_frames in report.fit:  # labelled audio: how well W explains its training data
        log.info(f"fit {Path(path).name}: divergence {per_frame:.4g} per frame ({n_frames} frames)")
    if report.pitch_frames:
        log.info("annotated frames per pitch: " + " ".join(f"{midi_to_name(p)}:{n}" for p, n in report.pitch_frames.items()))
        thin = [midi_to_name(p) for p, n in report.pitch_frames.items() if n < use_case.FEW_FRAMES]
        if thin:
            log.warn(f"learned from fewer than {use_case.FEW_FRAMES} frames: " + " ".join(thin))
    typer.echo(str(output))


@app.command()
def transcribe(
    inputs: List[Path] = typer.Argument(None, help="Audio files or folders ('-' reads paths from stdin).", show_default=False),
    dictionary: Optional[str] = typer.Option(None, "-W", "--dictionary", help="piano, guitar or a .npz path.", show_default="piano"),
    output: Optional[Path] = typer.Option(None, "-o", "--output", help="Output file (one input), folder (many inputs), or - for a note list on stdout.", show_default="<name>.mid in the current folder"),
    csv: bool = typer.Option(False, "--csv", help="Also write the note list as <name>.csv."),
    json_: bool = typer.Option(False, "--json", help="Also write the note list as <name>.json (with -o -: JSON on stdout)."),
    save_activations: bool = typer.Option(False, "--save-activations", help="Also write the activations as <name>.activations.npz (re-track them later with --activations)."),
    plot: bool = typer.Option(False, "--plot", help="Also draw the activations and notes as <name>.png (needs matplotlib)."),
    plot_range: Optional[str] = typer.Option(None, "--plot-range", metavar="START:END", help="With --plot: draw only these seconds (10:25, :30, 12:).", show_default=False),
    sonify: bool = typer.Option(False, "--sonify", help="Also render the notes with the dictionary's templates as <name>.sonify.wav."),
    resynth: bool = typer.Option(False, "--resynth", help="Also write <name>.model.wav: the model W·H with the recording's phase (what NMF explains)."),
    resynth_pitches: Optional[str] = typer.Option(None, "--resynth-pitches", metavar="P,P,...", help="With --resynth: only these pitches' templates (60,64 or C4,E4).", show_default=False),
    activations: Optional[Path] = typer.Option(None, "--activations", help="Re-extract notes from a saved <name>.activations.npz instead of audio: no solving.", show_default=False),
    tempo: float = typer.Option(120.0, help="MIDI tempo in BPM (note times stay in seconds)."),
    program: int = typer.Option(-1, help="MIDI program (0 piano, 24 nylon guitar).", show_default="from the dictionary"),
    onset_threshold: Optional[float] = typer.Option(None, help="Onset sensitivity: lower finds more notes.", show_default="0.3"),
    frame_threshold: Optional[float] = typer.Option(None, help="How long fading notes last: lower gives longer notes (a note that stops, released or damped, ends where it stops).", show_default="0.05"),
    min_note_ms: Optional[float] = typer.Option(None, help="Drop notes shorter than this (ms).", show_default="0"),
    note_ends: Optional[str] = typer.Option(
        None, "--note-ends", metavar="release|sound",
        help="Where notes end: release (where the key or string is let go, as MIDI note-offs: MAESTRO, MAPS) or "
             "sound (where the sound fades, its release's decay included: GuitarSet).",
        show_default="the dictionary's: piano release, guitar sound"),
    standout: Optional[float] = typer.Option(
        None, help="Keep a note only if its onset stands this many times above its frames' carpet (many pitches lit "
                   "at once: hammer noise, clicks); lower (5-7) for dictionaries learned with H = Y, 0: off.",
        show_default="10"),
    lowest: Optional[str] = typer.Option(None, help="Lowest pitch to transcribe (e.g. E2 or 40).", show_default="the dictionary's lowest"),
    highest: Optional[str] = typer.Option(None, help="Highest pitch to transcribe (e.g. C8).", show_default="the dictionary's highest"),
    iterations: Optional[int] = typer.Option(None, help="MU iterations of the solver.", show_default="12"),
    floor_octaves: Optional[float] = typer.Option(
        None, help="Octaves between the broadband floor templates that take noise and knocks (0: none).", show_default="the dictionary's, else 2"),
    eq_octaves: Optional[float] = typer.Option(
        None, help="Smoothing (octaves) of the gain that fits the templates to the recording's colour (0: none).", show_default="0.5"),
    beta: Optional[float] = typer.Option(None, "--beta", help="β of the divergence H is solved for, 0-2 (2 Euclidean, 1 KL, 0 Itakura-Saito).", show_default="the dictionary's"),
    tol: Optional[float] = typer.Option(None, "--tol", help="Stop solving once the divergence decreases by less than this (relative, over 5 updates; 0: all --iterations).", show_default="0"),
    no_adapt: bool = typer.Option(False, "--no-adapt", help="Keep W strictly fixed: no adaptation of the templates to the recording."),
    tuning: Optional[str] = typer.Option(
        None, "--tuning", metavar="auto|CENTS",
        help="How far the recording is tuned from the dictionary's tuning (A440 unless the audio it was learned "
             "from was tuned elsewhere), in cents (-50 to 50; positive: sharp); it is corrected before the analysis. auto: read "
             "from the first 30 s span of its first 2 minutes that shows a clear tuning, corrected beyond ±12 cents. 0: never corrected.",
        show_default="auto"),
    sparsity: Optional[float] = typer.Option(None, "--sparsity", help="Zero each frame's activations below this fraction of its largest (0-1; exact zeros).", show_default="0"),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace existing outputs (otherwise they are skipped)."),
    n_jobs: int = typer.Option(1, "--jobs", "-j", help="Transcribe this many files at once (worker processes); output is the same for any N."),
    scheduler: Optional[str] = typer.Option(None, "--scheduler", help="dask.distributed scheduler address (tcp://host:8786): fan the files out to a cluster."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Only errors and warnings on stderr."),
) -> None:
    """Transcribe audio to MIDI with a dictionary (W fixed, H solved, H -> notes).

    \b
    Examples:
      nmftrans transcribe song.wav -o song.mid         shipped piano dictionary
      nmftrans transcribe take.flac -W guitar -o take.mid --csv
      nmftrans transcribe album/ -W my.npz -o midi/    one .mid per file
      nmftrans transcribe song.wav -o - | head         note list (CSV) on stdout
      find music -name '*.flac' | nmftrans transcribe - -o out/
    \b
    Beside song.mid: song.activations.npz, song.png, song.sonify.wav
      nmftrans transcribe song.wav -o song.mid --save-activations --plot --sonify
      nmftrans transcribe song.wav -o song.mid --plot --plot-range 10:25
    Re-track saved activations with other settings, without solving:
      nmftrans transcribe --activations song.activations.npz --onset-threshold 0.2

    \b
    Exit codes: 0 all files transcribed, 1 some file failed (the others are
    written), 2 usage error, 130 interrupted (finished outputs are kept).
    """
    log = Log(quiet)
    from nmftrans.core.threads import one_blas_thread_at_load

    one_blas_thread_at_load()  # before NumPy loads: no BLAS thread pool that would only spin
    from nmftrans.core.jitcache import import_numba_quickly

    import_numba_quickly()
    from nmftrans import batch as run

    stream = None  # several inputs with -o -: one CSV with a file column, or one JSON document

    def _report(result, prefix: str = "", audio: Optional[Path] = None) -> None:
        for message in result.warnings:
            log.warn(f"{prefix}{message}")
        if result.stdout:
            sys.stdout.write(stream.item(audio, result.notes) if stream is not None else result.stdout)
            sys.stdout.flush()
        for path in result.written:
            if not run.is_stream(path):  # -o /dev/stdout: the notes are the output, not its name
                typer.echo(str(path))
        for path in result.skipped:
            log.info(f"{path}: exists, skipped (use --overwrite to replace it)")

    try:
        options = run.TranscribeOptions(
            dictionary=dictionary, onset_threshold=onset_threshold, frame_threshold=frame_threshold,
            min_note_ms=min_note_ms, standout=standout, pitch_range=_pitch_range(lowest, highest, None),
            note_ends=note_ends, iterations=iterations,
            floor_octaves=floor_octaves, eq_octaves=eq_octaves, beta=beta, tol=tol, adapt=not no_adapt,
            sparsity=sparsity, tuning=_tuning(tuning), resynth=resynth, resynth_pitches=_pitch_list(resynth_pitches),
            tempo=tempo, program=program, csv=csv, json=json_,
            save_activations=save_activations, plot=plot,
            plot_range=parse_time_range(plot_range) if plot_range is not None else None,
            sonify=sonify, overwrite=overwrite)
        run.check_options(options)
    except NmftransError as exc:
        _fail(exc, 2)
    if options.extras and output is not None and str(output) == "-":
        _fail("--plot, --sonify, --resynth and --save-activations write files beside the MIDI file; not with -o -", 2)
    if activations is not None:
        if inputs:
            _fail("give either audio INPUTS or --activations, not both", 2)
        if save_activations:
            _fail("--save-activations with --activations: the activations are already saved", 2)
        if resynth:
            _fail("--resynth needs the audio; not with --activations", 2)
        unsolved = _changed(iterations=(iterations, None), floor_octaves=(floor_octaves, None),
                            eq_octaves=(eq_octaves, None), jobs=(n_jobs, 1), scheduler=(scheduler, None),
                            beta=(beta, None), tol=(tol, None), no_adapt=(no_adapt, False),
                            sparsity=(sparsity, None), tuning=(tuning, None))
        if unsolved:
            _fail(f"{', '.join(unsolved)}: nothing is solved with --activations (only the note tracking runs)", 2)
        if dictionary is not None and not sonify:
            _fail("-W with --activations is only used by --sonify (the activations are already solved)", 2)
        try:
            run.check_outputs([], options)  # matplotlib for --plot, before anything is written
            result = run.run_reextraction(activations, output, options)
        except NmftransError as exc:
            _fail(exc)
        except KeyboardInterrupt:
            _fail("interrupted", 130)
        _report(result)
        return
    if not inputs:
        _fail("give audio INPUTS (files, folders or -) or --activations FILE", 2)
    try:
        not_audio: list = []
        paths = run.expand_inputs(inputs, stdin=sys.stdin, skipped=not_audio)
        for path in not_audio:
            log.info(f"{path}: {'no audio files in this folder' if path.is_dir() else 'not audio'}, skipped")
        jobs = run.plan_outputs(paths, output, options)
        run.check_outputs(jobs, options)
        if scheduler is not None:
            jobs, options = run.for_cluster(jobs, options)
    except NmftransError as exc:
        _fail(exc)
    _say_if_compiling(log)
    failed = done = 0

    def interrupted() -> str:
        """Counted once the workers are stopped: the files whose outputs are all there."""
        finished = done if output is not None and str(output) == "-" else sum(
            all(t.exists() for t in run.output_paths(j.midi, options).values()) for j in jobs)
        return (f"interrupted: {finished} of {len(jobs)} files finished; their outputs are kept, "
                "a re-run skips them")

    try:
        import functools

        from nmftrans.interrupt import stop_on_interrupt
        from nmftrans.parallel import map_ordered

        work = functools.partial(run.run_transcription, options=options)
        if output is not None and str(output) == "-" and len(jobs) > 1:
            stream = run.NoteStream(as_json=options.json)
            sys.stdout.write(stream.start())
        with stop_on_interrupt(interrupted), log.progress(len(jobs), "transcribing") as bar:
            for job, result, error in map_ordered(work, jobs, jobs=n_jobs, scheduler=scheduler):
                bar.start(job.audio.name)
                if error is not None:
                    log.error(_say(error))
                    failed += 1
                else:
                    _report(result, prefix=f"{job.audio}: ", audio=job.audio)
                done += 1
                bar.advance()
        if stream is not None:
            sys.stdout.write(stream.end())
            sys.stdout.flush()
    except NmftransError as exc:  # e.g. an unreachable scheduler
        _fail(exc)
    except KeyboardInterrupt:
        _fail(f"interrupted after {done} of {len(jobs)} files; finished outputs are kept, a re-run skips them", 130)
    _batch_end(log, len(jobs), failed, "files transcribed")


@app.command()
def show(
    dictionary: str = typer.Argument("piano", help="piano, guitar or a .npz path."),
    plot: Optional[Path] = typer.Option(None, "--plot", help="Draw the templates to this image (.png, .pdf, .svg; needs matplotlib).", show_default=False),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing --plot file."),
) -> None:
    """Print what a dictionary holds: pitches, templates, feature settings, β, provenance.

    \b
    Examples:
      nmftrans show piano
      nmftrans show my.npz --plot templates.png
    """
    import json

    try:
        from nmftrans.io.dictionary import ROLE_NAMES, load_dictionary, resolve_dictionary
        from nmftrans.core.features import frequencies
        from nmftrans.core.pitches import midi_to_name

        if plot is not None:
            from nmftrans.io.fileio import check_output

            check_output(plot, overwrite=overwrite)
        path = resolve_dictionary(dictionary)
        d = load_dictionary(dictionary)
        if plot is not None:
            from nmftrans.io.plot import plot_templates

            plot_templates(plot, d, title=f"{Path(path).name}: templates")
    except NmftransError as exc:
        _fail(exc)
    pitch_set = [int(p) for p in d.pitch_set]
    missing = sorted(set(range(pitch_set[0], pitch_set[-1] + 1)) - set(pitch_set))
    roles = ", ".join(f"{int((d.roles == r).sum())} {name}" for r, name in ROLE_NAMES.items() if (d.roles == r).any())
    freqs = frequencies(d.settings)
    s = d.settings
    lines = [
        f"dictionary   {path}",
        f"pitches      {midi_to_name(pitch_set[0])}-{midi_to_name(pitch_set[-1])} (MIDI {pitch_set[0]}-{pitch_set[-1]}), "
        f"{len(pitch_set)} pitches" + (f"; gaps: {' '.join(midi_to_name(p) for p in missing)}" if missing else ""),
        f"templates    {d.W.shape[1]} ({roles}), {d.W.shape[0]} frequency bins {freqs[0]:.1f}-{freqs[-1]:.1f} Hz"
        + (f", convolutive: up to {d.frames} frames ({d.frames / s.frame_rate * 1000:.0f} ms), attack "
           f"{_template_frames(d, 1)}, sustain {_template_frames(d, 0)}" if d.frames > 1 else ""),
        f"features     {s.frontend}, {s.sample_rate} Hz, n_fft {s.n_fft}, hop {s.hop_length} "
        f"({s.frame_rate:.1f} frames/s), fmin {s.fmin:g} Hz, fmax {s.fmax:g} Hz"
        + (f", {s.bins_per_semitone} bins/semitone" if s.frontend == "logfreq" else "") + f", power {s.power:g}",
        f"beta         {d.beta:g}",
    ]
    if d.floor_octaves is not None:
        lines.append(f"floor        {d.floor_octaves:g} octaves between the floor templates (transcribe's default with it)")
    lines.append(f"note ends    {d.note_ends}: " + ("where the sound fades (transcribe's default with it)" if d.note_ends == "sound"
                                                   else "at the release (transcribe's default with it)"))
    stored = d.provenance.get("tuning_cents") if isinstance(d.provenance, dict) else None
    if stored is not None:
        from nmftrans.core.tuning import reference_tuning

        grid = reference_tuning(stored)
        lines.append(f"tuning       its notes read {json.dumps(stored)} cents from A440: recordings are brought to "
                     + (f"A440 {grid:+.1f} cents" if grid else "A440"))
    if d.deep_W is not None:
        lines.append(f"deep         {d.deep_W.shape[0]} unfolded MU layers with their own templates "
                     + ("(they replace the first solve; the adaptation of W follows)" if d.deep_adapt
                        else "(they replace the solve and the adaptation of W)"))
    provenance = d.provenance
    if provenance:
        lines.append("provenance")
        width = max(len(k) for k in provenance) + 2
        for key in sorted(provenance):
            value = provenance[key]
            text = value if isinstance(value, str) else json.dumps(value)
            if key.endswith("range") and isinstance(value, list) and len(value) == 2 and all(isinstance(v, int) and 0 <= v <= 127 for v in value):
                text = f"{midi_to_name(value[0])}-{midi_to_name(value[1])} (MIDI {value[0]}-{value[1]})"
            elif isinstance(value, list) and value and all(isinstance(v, int) and 0 <= v <= 127 for v in value):
                text = f"{len(value)} pitches {midi_to_name(min(value))}-{midi_to_name(max(value))}"
            elif isinstance(value, list) and len(text) > 100:
                text = f"{len(value)} items: {json.dumps(value[:3])[:-1]}, ...]"
            lines.append(f"  {key:<{width}}{text}")
    typer.echo("\n".join(lines))
    if plot is not None:
        typer.echo(str(plot))


def _template_frames(d, role: int) -> str:
    """Frames of the convolutive templates of one role, e.g. ``"4 frames"`` or ``"1-4 frames"``."""
    import numpy as np

    W = d.W[:, d.roles == role]
    if W.shape[1] == 0:
        return "none"
    used = W.any(axis=0)
    used[:, 0] = True
    lengths = W.shape[2] - np.argmax(used[:, ::-1], axis=1)
    lo, hi = int(lengths.min()), int(lengths.max())
    return f"{lo} frame{'s' if lo > 1 else ''}" if lo == hi else f"{lo}-{hi} frames"


@app.command()
@interruptible("interrupted; no scores written")
def evaluate(
    paths: List[Path] = typer.Argument(..., metavar="EST REF | DATASET", help="EST REF: note files or folders, matched by name. DATASET: a folder to transcribe with -W.", show_default=False),
    dictionary: Optional[str] = typer.Option(None, "-W", "--dictionary", help="DATASET mode: transcribe with this dictionary (piano, guitar or a .npz path)."),
    json_out: Optional[Path] = typer.Option(None, "--json", help="Write per-file scores and the mean as JSON (- for stdout, instead of the table)."),
    csv_out: Optional[Path] = typer.Option(None, "--csv", help="Write per-file scores and the mean as CSV (- for stdout, instead of the table)."),
    split: Optional[str] = typer.Option(None, help="DATASET: MAESTRO split (train, validation, test)."),
    guitarset_audio: Optional[str] = typer.Option(None, help="DATASET: GuitarSet audio, mic or mix.", show_default="mic"),
    max_files: Optional[int] = typer.Option(None, help="DATASET: evaluate at most this many files."),
    onset_threshold: Optional[float] = typer.Option(None, help="DATASET: onset sensitivity, as in transcribe.", show_default="0.3"),
    frame_threshold: Optional[float] = typer.Option(None, help="DATASET: note length threshold, as in transcribe.", show_default="0.05"),
    min_note_ms: Optional[float] = typer.Option(None, help="DATASET: drop notes shorter than this (ms).", show_default="0"),
    standout: Optional[float] = typer.Option(None, help="DATASET: note standout ratio, as in transcribe.", show_default="10"),
    note_ends: Optional[str] = typer.Option(None, "--note-ends", metavar="release|sound", help="DATASET: where notes end, as in transcribe.", show_default="the dictionary's"),
    beta: Optional[float] = typer.Option(None, "--beta", help="DATASET: β of the divergence, 0-2, as in transcribe.", show_default="the dictionary's"),
    tol: Optional[float] = typer.Option(None, "--tol", help="DATASET: relative-decrease stop of the solver, as in transcribe.", show_default="0"),
    no_adapt: bool = typer.Option(False, "--no-adapt", help="DATASET: W strictly fixed, as in transcribe."),
    tuning: Optional[str] = typer.Option(None, "--tuning", metavar="auto|CENTS", help="DATASET: the recordings' tuning correction, as in transcribe.", show_default="auto"),
    sparsity: Optional[float] = typer.Option(None, "--sparsity", help="DATASET: sparsification of H, as in transcribe.", show_default="0"),
    sustain: bool = typer.Option(True, "--sustain/--no-sustain", help="Extend MIDI notes by the sustain pedal."),
    plot: Optional[Path] = typer.Option(None, "--plot", help="Draw hits, false alarms and misses on a piano roll: an image file (two files) or a folder, one <name>.png per file (needs matplotlib).", show_default=False),
    plot_range: Optional[str] = typer.Option(None, "--plot-range", metavar="START:END", help="With --plot: draw only these seconds (10:25, :30, 12:).", show_default=False),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace existing --json/--csv/--plot files."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Only errors and warnings on stderr."),
    n_jobs: int = typer.Option(1, "--jobs", "-j", help="DATASET: transcribe this many files at once (worker processes); the scores are the same for any N."),
    scheduler: Optional[str] = typer.Option(None, "--scheduler", help="DATASET: dask.distributed scheduler address (tcp://host:8786): fan the files out to a cluster."),
) -> None:
    """Score transcriptions against references (mir_eval: note onsets, onsets+offsets, frames).

    Note level: onsets within 50 ms (offsets within 20 % of the note or 50 ms); frame level: a
    10 ms grid. The table goes to stdout; its MEAN row averages over files (note counts: totals).

    \b
    Examples:
      nmftrans evaluate song.mid song_ref.csv          one estimate, one reference
      nmftrans evaluate midi/ dataset/                 folders, paired by stem
      nmftrans evaluate maps/ -W piano --json r.json   transcribe a dataset, score
      nmftrans evaluate maps/ -W piano -j 4            ... on 4 worker processes
    \b
    Piano rolls of hits (green), false alarms (red) and misses (blue):
      nmftrans evaluate song.mid song_ref.csv --plot song.png --plot-range 10:25
      nmftrans evaluate maps/ -W piano --plot rolls/
          one <name>.png per file, over its activations
    """
    log = Log(quiet)
    dataset_only = {"--split": split, "--guitarset-audio": guitarset_audio, "--max-files": max_files,
                    "--onset-threshold": onset_threshold, "--frame-threshold": frame_threshold,
                    "--min-note-ms": min_note_ms, "--standout": standout, "--note-ends": note_ends,
                    "--jobs": None if n_jobs == 1 else n_jobs,
                    "--beta": beta, "--tol": tol, "--no-adapt": no_adapt or None, "--sparsity": sparsity,
                    "--tuning": tuning, "--scheduler": scheduler}
    if len(paths) == 2:
        if dictionary is not None:
            _fail("-W is for DATASET mode (one folder); EST REF are scored as they are", 2)
        given = [name for name, value in dataset_only.items() if value is not None]
        if given:
            _fail(f"{', '.join(given)}: only with DATASET -W DICTIONARY", 2)
    elif len(paths) == 1:
        if dictionary is None:
            _fail("give EST REF (note files or folders), or DATASET -W DICTIONARY", 2)
        try:
            from nmftrans.batch import TranscribeOptions, _solver_params, check_options
            from nmftrans.io.datasets import check_dataset_options

            check_dataset_options(split=split, guitarset_audio=guitarset_audio or "mic", max_files=max_files)
            check_options(TranscribeOptions(onset_threshold=onset_threshold, frame_threshold=frame_threshold,
                                            min_note_ms=min_note_ms, standout=standout, note_ends=note_ends))
            # --beta, --tol, --sparsity, --tuning: range-checked as for transcribe, before any work (EST REF
            # refuses them above, and scores without loading the solver: 0.2-0.3 s of Numba)
            _solver_params(TranscribeOptions(beta=beta, tol=tol, sparsity=sparsity, tuning=_tuning(tuning)))
        except NmftransError as exc:
            _fail(exc, 2)
    else:
        _fail(f"expected EST REF or DATASET -W DICTIONARY, got {len(paths)} paths", 2)
    time_range = None
    if plot_range is not None:

        if plot is None:
            _fail("--plot-range restricts the --plot picture; give --plot too", 2)
        try:
            time_range = parse_time_range(plot_range)
        except NmftransError as exc:
            _fail(exc, 2)
    to_stdout = [name for name, out in (("--json", json_out), ("--csv", csv_out)) if out is not None and str(out) == "-"]
    if len(to_stdout) > 1:
        _fail("--json - and --csv -: only one of them can go to stdout", 2)
    try:
        from nmftrans.io.fileio import check_output

        for out in (json_out, csv_out):
            if out is not None:
                check_output(out, overwrite=overwrite)
    except NmftransError as exc:
        _fail(exc)
    try:
        from nmftrans import evaluate as use_case

        extra = {}
        plots = None

        def plotter(several: bool):
            """Checked before any scoring: matplotlib, the image path or folder."""
            if plot is None:
                return None
            return use_case.ScorePlots(plot, folder=several, overwrite=overwrite, time_range=time_range)

        if len(paths) == 2:
            matching = use_case.match_pairs(paths[0], paths[1])
            plots = plotter(paths[0].is_dir() or paths[1].is_dir())
            for path, reason in matching.unmatched:
                log.warn(f"{path}: {reason}")
            if matching.unused_references and (paths[0].is_dir() or paths[1].is_dir()):
                log.info(f"{len(matching.unused_references)} references have no estimate")
            if plots is not None:
                plots.prepare()
            with log.progress(len(matching.pairs), "scoring") as bar:
                files = use_case.evaluate_pairs(matching.pairs, sustain=sustain, progress=bar.advance,
                                                on_scored=plots)
            extra = {"estimates": str(paths[0]), "references": str(paths[1])}
        else:
            import contextlib

            from nmftrans.batch import TranscribeOptions, _note_params, _solver_params
            from nmftrans.io.dictionary import load_dictionary

            plots = plotter(not paths[0].is_file())  # a dataset folder: one image per file
            _say_if_compiling(log)
            W = load_dictionary(dictionary)
            chosen = TranscribeOptions(onset_threshold=onset_threshold, frame_threshold=frame_threshold,
                                       min_note_ms=min_note_ms, standout=standout, note_ends=note_ends, beta=beta, tol=tol,
                                       adapt=not no_adapt, sparsity=sparsity, tuning=_tuning(tuning))
            params = _note_params(chosen)
            solver = _solver_params(chosen)
            with contextlib.ExitStack() as stack:
                bars = []  # the bar starts once discovery knows how many files there are

                def start(n: int) -> None:
                    if plots is not None:
                        plots.prepare()
                    bars.append(stack.enter_context(log.progress(n, "transcribing")))

                result = use_case.evaluate_dataset(
                    paths[0], W, note_params=params, solver=solver, split=split, guitarset_audio=guitarset_audio or "mic",
                    max_files=max_files, sustain=sustain, jobs=n_jobs, scheduler=scheduler, on_start=start,
                    progress=lambda name: bars[0].advance(name), on_scored=plots)
            for path, reason in result.skipped:
                log.warn(f"skipped {path}: {reason}")
            files = result.files
            extra = {"dataset": str(paths[0]), "dictionary": str(dictionary)}
    except NmftransError as exc:
        _fail(exc)
    failed = [f for f in files if not f.ok]
    for f in files:
        for message in f.warnings:
            log.warn(message)
        if f.error:
            log.error(f.error)
    scored = use_case.successful(files)
    if scored and not to_stdout:  # with --csv - / --json - stdout carries that document only
        if sys.stdout.isatty():
            from rich.console import Console

            console = Console(file=sys.stdout)
            console.print(use_case.rich_table(scored, width=console.width))
        else:
            sys.stdout.write(use_case.format_table(scored))
        sys.stdout.flush()
    try:
        from nmftrans.io.fileio import write_text_atomic

        for out, text in ((json_out, lambda: use_case.scores_to_json(files, **extra)),
                          (csv_out, lambda: use_case.scores_to_csv(files))):
            if out is not None and str(out) == "-":
                sys.stdout.write(text())
                sys.stdout.flush()
            elif out is not None:
                write_text_atomic(out, text())
    except NmftransError as exc:
        _fail(exc)
    if plots is not None:
        for path in plots.skipped:
            log.info(f"{path}: exists, skipped (use --overwrite to replace it)")
        for message in plots.errors:
            log.error(message)
        if plots.written:
            log.info(f"plot: {plots.written[0]}" if not plots.folder
                     else f"{len(plots.written)} plots written to {plots.target}")
    if len(files) > 1:
        log.info(f"{len(scored)} of {len(files)} files scored" + (f", {len(failed)} failed" if failed else ""))
    if not scored and len(files) > 1:
        _fail("no file could be scored")
    if failed or (plots is not None and plots.errors):
        raise typer.Exit(1)


@app.command()
def align(
    audio: Path = typer.Argument(..., help="Recording, or a folder of recordings.", show_default=False),
    score: Path = typer.Argument(..., help="Its score (MIDI, CSV or any annotation evaluate reads), or a folder: paired by file name.", show_default=False),
    output: Path = typer.Option(..., "-o", "--output", help="Output: .mid (the notes heard, performed times) or .csv (every score note: onset,offset,pitch,velocity,score_onset,status,confidence); with folders, a folder."),
    dictionary: Optional[str] = typer.Option(None, "-W", "--dictionary", help="piano, guitar or a .npz path [default: piano]."),
    csv: bool = typer.Option(False, "--csv", help="Folders: write <name>.csv instead of <name>.mid."),
    extra: bool = typer.Option(False, "--extra", help="Also report notes heard that no score note explains (status extra)."),
    before: Optional[float] = typer.Option(None, "--before", help="Seconds before a synchronised onset where a note may start (0-5).", show_default="0.2"),
    after: Optional[float] = typer.Option(None, "--after", help="Seconds after a synchronised offset where a note may still sound (0-10).", show_default="0.5"),
    threshold: Optional[float] = typer.Option(None, "--threshold", help="Rise of the activation that counts as played (lower: fewer missing).", show_default="0.08"),
    iterations: Optional[int] = typer.Option(None, "--iterations", help="MU iterations of the score-informed refinement (1-1000).", show_default="15"),
    onset_rise_fraction: Optional[float] = typer.Option(None, "--onset-rise-fraction", help="Time onsets where the activation has risen this fraction of the way to its peak (0-1; sharper attacks: higher).", show_default="0.3"),
    tuning: Optional[str] = typer.Option(None, "--tuning", metavar="auto|CENTS", help="The recording's tuning correction, as in transcribe.", show_default="auto"),
    plot: bool = typer.Option(False, "--plot", help="Also draw activations, performed notes and the synchronised score as <name>.png."),
    plot_range: Optional[str] = typer.Option(None, "--plot-range", metavar="START:END", help="With --plot: draw only these seconds (10:25, :30, 12:).", show_default=False),
    program: int = typer.Option(-1, help="MIDI program of the output; default: from the dictionary."),
    sustain: bool = typer.Option(True, "--sustain/--no-sustain", help="MIDI scores: extend notes by the sustain pedal."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace existing outputs."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Only errors and warnings on stderr."),
) -> None:
    """Align a recording with its score: the performed onset and offset of every score note.

    A global synchronisation (DTW on the dictionary's activations) maps the score onto the
    recording; NMF activations are then refined within each note's window only (score-informed
    NMF), and each note gets its performed time, a status (played/missing) and a confidence.

    \b
    Examples:
      nmftrans align take.wav score.mid -o take.csv    times, status, confidence
      nmftrans align take.wav score.mid -o take.mid    the notes heard, as played
      nmftrans align take.wav score.mid -o take.csv --extra --plot
      nmftrans align takes/ scores/ -o aligned/ --csv  folders: paired by name
    """
    log = Log(quiet)
    try:
        from nmftrans import align as use_case
        from nmftrans.core.scoreinformed import AlignParams

        given = {"before_s": before, "after_s": after, "threshold": threshold, "n_iter": iterations,
                 "onset_rise_fraction": onset_rise_fraction}
        params = AlignParams(**{name: value for name, value in given.items() if value is not None})
        from nmftrans.batch import TranscribeOptions, _solver_params

        solver = _solver_params(TranscribeOptions(tuning=_tuning(tuning)))
        time_range = None
        if plot_range is not None:
    
            if not plot:
                raise NmftransError("--plot-range restricts the --plot picture; give --plot too")
            time_range = parse_time_range(plot_range)
        if not -1 <= program <= 127:
            raise NmftransError(f"--program must be a General MIDI program 0-127, got {program}")
    except NmftransError as exc:
        _fail(exc, 2)
    folders = audio.is_dir() or score.is_dir()
    if not folders and csv and output.suffix.lower() != ".csv":
        _fail("--csv is for folders; name the output .csv", 2)
    try:
        pairs, unmatched = use_case.pair_inputs(audio, score)
        if folders:
            if output.exists() and not output.is_dir():
                _fail(f"{output}: not a folder (AUDIO or SCORE is a folder: -o names a folder)", 2)
            output.mkdir(parents=True, exist_ok=True)
            outs = [output / f"{stem}.{'csv' if csv else 'mid'}" for stem, _, _ in pairs]
        else:
            use_case.output_format(output)
            outs = [output]
        from nmftrans.io.dictionary import load_dictionary

        W = load_dictionary(dictionary)
    except NmftransError as exc:
        _fail(exc, 2 if "output format" in str(exc) else 1)
    for message in unmatched:
        log.warn(message)
    failed = 0
    try:
        with log.progress(len(pairs), "aligning") as bar:
            for (stem, a, s), out in zip(pairs, outs):
                bar.start(a.name)
                try:
                    result, written = use_case.run_align(a, s, out, W, params, extra=extra, plot=plot,
                                                         overwrite=overwrite, program=program, sustain=sustain,
                                                         time_range=time_range, solver=solver)
                except NmftransError as exc:
                    log.error(_say(exc))
                    failed += 1
                    bar.advance()
                    continue
                for message in result.warnings:
                    log.warn(f"{a}: {message}")
                counts = {k: int((result.status == k).sum()) for k in ("played", "missing", "extra")}
                log.info(f"{a.name}: {counts['played']} played, {counts['missing']} missing"
                         + (f", {counts['extra']} extra" if extra else ""))
                for path in written:
                    typer.echo(str(path))
                bar.advance()
    except KeyboardInterrupt:
        _fail("interrupted; finished outputs are kept", 130)
    _batch_end(log, len(pairs), failed, "recordings aligned")


@app.command()
def decompose(
    mix: Path = typer.Argument(..., help="The mix (any audio file).", show_default=False),
    references: List[Path] = typer.Argument(..., help="The reference tracks that may play in it.", show_default=False),
    output: Path = typer.Option(..., "-o", "--output", help="CSV to write (time,track,gain,position), or - for stdout.", show_default=False),
    plot: Optional[Path] = typer.Option(None, "--plot", help="Also draw each track's gain and position against time (.png, .pdf, .svg; needs matplotlib).", show_default=False),
    beta: float = typer.Option(0.0, "--beta", help="β of the divergence: 0 Itakura-Saito, 1 KL, 2 Euclidean."),
    window: float = typer.Option(0.5, "--window", help="Base analysis window in seconds (hop: a quarter of it)."),
    mels: int = typer.Option(256, "--mels", help="Mel bands."),
    levels: Optional[int] = typer.Option(None, "--levels", help="Multi-resolution levels (windows 2^(N-1) ... 1 x --window); 1: single resolution [default: by size].", show_default=False),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace existing outputs."),
    n_jobs: int = typer.Option(1, "--jobs", "-j", help="Read and analyse this many files at once (threads); same output for any N."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Only errors and warnings on stderr."),
) -> None:
    """A mix against its known reference tracks: each track's gain and position over time.

    The reference tracks' mel-spectrogram frames are fixed templates; the mix's activations
    are solved by β-divergence NMF (long windows first, then finer ones on a sparse band).
    One CSV row per mix frame and track: time (s), track (file stem), gain (share of the
    activations, 0-1), position (s in the track; empty where the gain is below 0.01).

    \b
    Examples:
      nmftrans decompose mix.wav a.flac b.flac c.flac -o mix.csv --plot mix.png
      nmftrans decompose mix.wav refs/*.flac -o - --levels 1   one resolution
    """
    log = Log(quiet)
    from nmftrans.decompose import DecomposeSettings, decompose as run_decompose, decomposition_to_csv
    from nmftrans.io.fileio import write_text_atomic

    try:
        settings = DecomposeSettings(beta=beta, window_s=window, n_mels=mels, levels=levels)
        if plot is not None:
            from nmftrans.io.plot import check_image_path, require_matplotlib

            check_image_path(plot)
            require_matplotlib()
    except NmftransError as exc:
        _fail(exc, 2)
    to_stdout = str(output) == "-"
    from nmftrans.io.fileio import check_output

    try:
        for path in ([] if to_stdout else [output]) + ([plot] if plot is not None else []):
            check_output(path, overwrite=overwrite)  # before any work; the rule of every command
    except NmftransError as exc:
        _fail(exc)
    try:
        result = run_decompose(mix, references, settings, jobs=n_jobs, progress=log.info)
        text = decomposition_to_csv(result)
        if to_stdout:
            sys.stdout.write(text)
            sys.stdout.flush()
        else:
            write_text_atomic(output, text)
            typer.echo(str(output))
        if plot is not None:
            from nmftrans.io.mixplot import plot_decomposition

            plot_decomposition(plot, result, title=f"{mix.name}: {len(result.tracks)} reference tracks")
            if to_stdout:  # stdout carries the CSV only
                log.info(f"plot: {plot}")
            else:
                typer.echo(str(plot))
    except NmftransError as exc:
        _fail(exc)
    except KeyboardInterrupt:
        _fail("interrupted", 130)
    log.info(f"{len(result.times)} frames x {len(result.tracks)} tracks, {result.levels} level(s), "
             f"read {result.stats['read_s']:.1f} s, solved {result.stats['solve_s']:.1f} s")


def main() -> None:
    """Console-script entry point (``nmftrans``, ``python -m nmftrans``): runs the command, then ends
    the process at once.

    Once the command has returned, every output is written and renamed; what is left is the
    interpreter's teardown (freeing every module and object, about 0.13 s: a quarter of a short
    run's process). So the standard streams are flushed and the exit handlers run (worker pools,
    temporary folders), and the process exits with the command's code without that teardown.
    Under a profiler or a tracer (``python -m cProfile``, coverage) the interpreter exits as usual
    so that they can write their results; in-process callers use ``app`` instead.
    """
    try:
        app()
        code = 0
    except SystemExit as exc:
        code = exc.code
    if sys.getprofile() is not None or sys.gettrace() is not None:
        sys.exit(code)
    _exit_now(code)


def _exit_now(code) -> None:
    """``sys.exit(code)`` without the interpreter's teardown (see :func:`main`)."""
    import atexit
    import os

    if code is None:
        code = 0
    elif not isinstance(code, int):
        print(code, file=sys.stderr)
        code = 1
    atexit._run_exitfuncs()  # what the interpreter would run first at exit (CPython's, documented in atexit's source)
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed pipe or stream: nothing more can reach it
            code = code or 1
    os._exit(code)


if __name__ == "__main__":
    main()
