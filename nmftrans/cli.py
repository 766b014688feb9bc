"""The ``nmftrans`` command line: thin Typer wrappers around the use cases.

Exit codes: 0 all went well, 1 an input failed (in a batch: at least one file failed, the others
were processed), 2 usage error, 130 interrupted (Ctrl-C). Results go to stdout; messages and progress go to stderr.
Heavy modules (NumPy, Numba, librosa) are imported inside the commands, so ``--help`` is fast.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import List, Optional

import typer

from nmftrans import __version__
from nmftrans.errors import NmftransError

app = typer.Typer(
    name="nmftrans",
    help="Automatic music transcription with nonnegative matrix factorization.\n\n"
    "Learn a spectral dictionary from your instrument's notes in seconds, then transcribe audio to MIDI.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
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


def _fail(message: str, code: int = 1) -> None:
    typer.echo(f"error: {message}", err=True)
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


def _pitch_range(lowest: Optional[str], highest: Optional[str], default: tuple[int, int] | None):
    from nmftrans.pitches import parse_pitch

    if lowest is None and highest is None:
        return default
    lo = parse_pitch(lowest) if lowest is not None else (default[0] if default else 0)
    hi = parse_pitch(highest) if highest is not None else (default[1] if default else 127)
    if lo > hi:
        raise NmftransError(f"--lowest ({lowest}) is above --highest ({highest})")
    return lo, hi


@app.command()
def learn(
    sources: List[Path] = typer.Argument(None, help="Folders or files: isolated notes or labelled audio.", show_default=False),
    output: Path = typer.Option(..., "-o", "--output", help="Dictionary file to write (.npz)."),
    harmonic: bool = typer.Option(False, "--harmonic", help="No data: pitch-informed harmonic templates."),
    lowest: Optional[str] = typer.Option(None, help="Lowest pitch of the dictionary (MIDI number or name, e.g. A0)."),
    highest: Optional[str] = typer.Option(None, help="Highest pitch of the dictionary (e.g. C8)."),
    beta: float = typer.Option(1.0, help="β of the divergence: 2 Euclidean, 1 Kullback-Leibler, 0 Itakura-Saito."),
    iterations: int = typer.Option(50, help="MU iterations (labelled audio: epochs over the files)."),
    split: Optional[str] = typer.Option(None, help="MAESTRO split to use: train, validation or test."),
    guitarset_audio: str = typer.Option("mic", help="GuitarSet audio: mic or mix."),
    max_files: Optional[int] = typer.Option(None, help="Use at most this many labelled files."),
    sustain: bool = typer.Option(True, "--sustain/--no-sustain", help="Extend MIDI notes by the sustain pedal."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing output file."),
    n_jobs: int = typer.Option(1, "--jobs", "-j", help="Read this many files at once (worker processes); the dictionary is the same for any N."),
    scheduler: Optional[str] = typer.Option(None, "--scheduler", help="dask.distributed scheduler address (tcp://host:8786): fan the files out to a cluster."),
    deep: bool = typer.Option(False, "--deep", help="Deep NMF: train K unfolded MU layers with their own templates on labelled audio (--iterations: training steps)."),
    layers: int = typer.Option(12, "--layers", help="--deep: number of unfolded MU layers (each costs one MU update)."),
    init: Optional[str] = typer.Option(None, "--init", help="--deep: dictionary to start from (piano, guitar or a .npz; default piano)."),
    seed: int = typer.Option(0, "--seed", help="--deep: seed of the frame sampling."),
    deep_adapt: bool = typer.Option(False, "--deep-adapt", help="--deep: the layers replace the first solve only; the per-block adaptation of W follows when transcribing."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Only errors and warnings on stderr."),
) -> None:
    """Build a dictionary W from isolated notes, labelled audio, or nothing (--harmonic).

    \b
    Examples:
      nmftrans learn my-piano-notes/ -o piano.npz        one note per file (pitch from notes.csv,
                                                         an annotation, or names like M60)
      nmftrans learn guitarset/ -o guitar.npz            labelled audio: W from D(X | W·Y), Y = piano roll
      nmftrans learn --harmonic --lowest A0 --highest C8 -o harmonic.npz
      nmftrans learn maestro/ -o maestro.npz -j 4        4 worker processes (or --scheduler tcp://host:8786)
      nmftrans learn pieces/ --deep -o deep.npz          deep NMF: 12 trained MU layers (from piano)
    """
    log = Log(quiet)
    try:
        from nmftrans import learn as use_case
        from nmftrans.dictionary import save_dictionary
        from nmftrans.pitches import midi_to_name

        if not harmonic and not sources:
            _fail("give SOURCE folders or files, or --harmonic", 2)
        if output.exists() and not overwrite:
            _fail(f"{output}: exists (use --overwrite to replace it)")
        if deep:
            from nmftrans.deep_train import DeepParams, train_deep_from_sources

            if harmonic or not sources:
                _fail("--deep needs labelled audio SOURCE folders or files (and no --harmonic)", 2)
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
            rng = _pitch_range(lowest, highest, (21, 108))
            dictionary = use_case.learn_harmonic(rng, beta=beta)
            report = use_case.LearnReport(filled=list(range(rng[0], rng[1] + 1)))
        else:
            dictionary, report = use_case.learn_from_sources(
                sources, beta=beta, pitch_range=_pitch_range(lowest, highest, None), iterations=iterations,
                split=split, guitarset_audio=guitarset_audio, max_files=max_files, sustain=sustain, log=log,
                jobs=n_jobs, scheduler=scheduler)
        save_dictionary(dictionary, output, overwrite=True)
    except NmftransError as exc:
        _fail(str(exc))
    for path, reason in report.skipped:
        log.warn(f"skipped {path}: {reason}")
    for message in report.warnings:
        log.warn(message)
    names = [midi_to_name(p) for p in dictionary.pitch_set]
    log.info(f"learned {len(report.learned)} pitches from data, {len(report.filled)} harmonic; "
             f"{len(dictionary.pitches)} templates {names[0]}-{names[-1]} -> {output}")
    if report.filled and report.learned:
        log.info("no training notes (harmonic templates): " + " ".join(midi_to_name(p) for p in report.filled))
    typer.echo(str(output))


@app.command()
def transcribe(
    inputs: List[Path] = typer.Argument(None, help="Audio files or folders ('-' reads paths from stdin).", show_default=False),
    dictionary: Optional[str] = typer.Option(None, "-W", "--dictionary", help="piano, guitar or a .npz path [default: piano]."),
    output: Optional[Path] = typer.Option(None, "-o", "--output", help="Output file (one input), folder (many inputs), or - for a note list on stdout. Default: <name>.mid in the current folder."),
    csv: bool = typer.Option(False, "--csv", help="Also write the note list as <name>.csv."),
    json_: bool = typer.Option(False, "--json", help="Also write the note list as <name>.json (with -o -: JSON on stdout)."),
    save_activations: bool = typer.Option(False, "--save-activations", help="Also write the activations as <name>.activations.npz (re-track them later with --activations)."),
    plot: bool = typer.Option(False, "--plot", help="Also draw the activations and notes as <name>.png (needs matplotlib)."),
    plot_range: Optional[str] = typer.Option(None, "--plot-range", metavar="START:END", help="With --plot: draw only these seconds (10:25, :30, 12:).", show_default=False),
    sonify: bool = typer.Option(False, "--sonify", help="Also render the notes with the dictionary's templates as <name>.sonify.wav."),
    activations: Optional[Path] = typer.Option(None, "--activations", help="Re-extract notes from a saved <name>.activations.npz instead of audio: no solving.", show_default=False),
    tempo: float = typer.Option(120.0, help="MIDI tempo in BPM (note times stay in seconds)."),
    program: int = typer.Option(-1, help="MIDI program (0 piano, 24 nylon guitar); default: from the dictionary."),
    onset_threshold: Optional[float] = typer.Option(None, help="Onset sensitivity: lower finds more notes."),
    frame_threshold: Optional[float] = typer.Option(None, help="How long notes last: lower gives longer notes."),
    min_note_ms: Optional[float] = typer.Option(None, help="Drop notes shorter than this (ms)."),
    lowest: Optional[str] = typer.Option(None, help="Lowest pitch to transcribe (e.g. E2 or 40)."),
    highest: Optional[str] = typer.Option(None, help="Highest pitch to transcribe (e.g. C8)."),
    iterations: Optional[int] = typer.Option(None, help="MU iterations of the solver."),
    floor_octaves: Optional[float] = typer.Option(
        None, help="Octaves between the broadband floor templates that take noise and knocks (default 2; 0: none)."),
    eq_octaves: Optional[float] = typer.Option(
        None, help="Smoothing (octaves) of the gain that fits the templates to the recording's colour (default 0.5; 0: none)."),
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
      nmftrans transcribe --activations song.activations.npz --onset-threshold 0.3

    \b
    Exit codes: 0 all files transcribed, 1 some file failed (the others are
    written), 2 usage error, 130 interrupted (finished outputs are kept).
    """
    log = Log(quiet)
    from nmftrans import batch as run

    def _report(result, prefix: str = "") -> None:
        for message in result.warnings:
            log.warn(f"{prefix}{message}")
        if result.stdout:
            sys.stdout.write(result.stdout)
            sys.stdout.flush()
        for path in result.written:
            typer.echo(str(path))
        for path in result.skipped:
            log.info(f"{path}: exists, skipped (use --overwrite to replace it)")

    try:
        from nmftrans.plot import parse_time_range

        options = run.TranscribeOptions(
            dictionary=dictionary, onset_threshold=onset_threshold, frame_threshold=frame_threshold,
            min_note_ms=min_note_ms, pitch_range=_pitch_range(lowest, highest, None), iterations=iterations,
            floor_octaves=floor_octaves, eq_octaves=eq_octaves, tempo=tempo, program=program, csv=csv, json=json_,
            save_activations=save_activations, plot=plot,
            plot_range=parse_time_range(plot_range) if plot_range is not None else None,
            sonify=sonify, overwrite=overwrite)
        run.check_options(options)
    except NmftransError as exc:
        _fail(str(exc), 2)
    if options.extras and output is not None and str(output) == "-":
        _fail("--plot, --sonify and --save-activations write files beside the MIDI file; not with -o -", 2)
    if activations is not None:
        if inputs:
            _fail("give either audio INPUTS or --activations, not both", 2)
        if save_activations:
            _fail("--save-activations with --activations: the activations are already saved", 2)
        try:
            result = run.run_reextraction(activations, output, options)
        except NmftransError as exc:
            _fail(str(exc))
        except KeyboardInterrupt:
            _fail("interrupted", 130)
        _report(result)
        return
    if not inputs:
        _fail("give audio INPUTS (files, folders or -) or --activations FILE", 2)
    try:
        paths = run.expand_inputs(inputs, stdin=sys.stdin)
        jobs = run.plan_outputs(paths, output, options)
    except NmftransError as exc:
        _fail(str(exc))
    failed = done = 0
    try:
        import functools

        from nmftrans.parallel import map_ordered

        work = functools.partial(run.run_transcription, options=options)
        with log.progress(len(jobs), "transcribing") as bar:
            for job, result, error in map_ordered(work, jobs, jobs=n_jobs, scheduler=scheduler):
                bar.start(job.audio.name)
                if error is not None:
                    log.error(str(error))
                    failed += 1
                else:
                    _report(result, prefix=f"{job.audio}: ")
                done += 1
                bar.advance()
    except NmftransError as exc:  # e.g. an unreachable scheduler
        _fail(str(exc))
    except KeyboardInterrupt:
        _fail(f"interrupted after {done} of {len(jobs)} files; finished outputs are kept, a re-run skips them", 130)
    if len(jobs) > 1:
        log.info(f"{len(jobs) - failed} of {len(jobs)} files transcribed" + (f", {failed} failed" if failed else ""))
    if failed:
        raise typer.Exit(1)


@app.command()
def show(
    dictionary: str = typer.Argument("piano", help="piano, guitar or a .npz path."),
    plot: Optional[Path] = typer.Option(None, "--plot", help="Draw the templates to this image (.png, .pdf, .svg; needs matplotlib).", show_default=False),
) -> None:
    """Print what a dictionary holds: pitches, templates, feature settings, β, provenance.

    \b
    Examples:
      nmftrans show piano
      nmftrans show my.npz --plot templates.png
    """
    import json

    try:
        from nmftrans.dictionary import ROLE_NAMES, load_dictionary, resolve_dictionary
        from nmftrans.features import frequencies
        from nmftrans.pitches import midi_to_name

        path = resolve_dictionary(dictionary)
        d = load_dictionary(dictionary)
        if plot is not None:
            from nmftrans.plot import plot_templates

            plot_templates(plot, d, title=f"{Path(path).name}: templates")
    except NmftransError as exc:
        _fail(str(exc))
    pitch_set = [int(p) for p in d.pitch_set]
    missing = sorted(set(range(pitch_set[0], pitch_set[-1] + 1)) - set(pitch_set))
    roles = ", ".join(f"{int((d.roles == r).sum())} {name}" for r, name in ROLE_NAMES.items() if (d.roles == r).any())
    freqs = frequencies(d.settings)
    s = d.settings
    lines = [
        f"dictionary   {path}",
        f"pitches      {midi_to_name(pitch_set[0])}-{midi_to_name(pitch_set[-1])} (MIDI {pitch_set[0]}-{pitch_set[-1]}), "
        f"{len(pitch_set)} pitches" + (f"; gaps: {' '.join(midi_to_name(p) for p in missing)}" if missing else ""),
        f"templates    {d.W.shape[1]} ({roles}), {d.W.shape[0]} frequency bins {freqs[0]:.1f}-{freqs[-1]:.1f} Hz",
        f"features     {s.frontend}, {s.sample_rate} Hz, n_fft {s.n_fft}, hop {s.hop_length} "
        f"({s.frame_rate:.1f} frames/s), fmin {s.fmin:g} Hz, fmax {s.fmax:g} Hz"
        + (f", {s.bins_per_semitone} bins/semitone" if s.frontend == "logfreq" else "") + f", power {s.power:g}",
        f"beta         {d.beta:g}",
    ]
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
            if isinstance(value, list) and value and all(isinstance(v, int) and 0 <= v <= 127 for v in value):
                text = f"{len(value)} pitches {midi_to_name(min(value))}-{midi_to_name(max(value))}"
            elif isinstance(value, list) and len(text) > 100:
                text = f"{len(value)} items: {json.dumps(value[:3])[:-1]}, ...]"
            lines.append(f"  {key:<{width}}{text}")
    typer.echo("\n".join(lines))
    if plot is not None:
        typer.echo(str(plot))


@app.command()
def evaluate(
    paths: List[Path] = typer.Argument(..., metavar="EST REF | DATASET", help="EST REF: note files or folders, matched by name. DATASET: a folder to transcribe with -W.", show_default=False),
    dictionary: Optional[str] = typer.Option(None, "-W", "--dictionary", help="DATASET mode: transcribe with this dictionary (piano, guitar or a .npz path)."),
    json_out: Optional[Path] = typer.Option(None, "--json", help="Write per-file scores and the mean as JSON."),
    csv_out: Optional[Path] = typer.Option(None, "--csv", help="Write per-file scores and the mean as CSV."),
    split: Optional[str] = typer.Option(None, help="DATASET: MAESTRO split (train, validation, test)."),
    guitarset_audio: Optional[str] = typer.Option(None, help="DATASET: GuitarSet audio, mic or mix (default mic)."),
    max_files: Optional[int] = typer.Option(None, help="DATASET: evaluate at most this many files."),
    onset_threshold: Optional[float] = typer.Option(None, help="DATASET: onset sensitivity, as in transcribe."),
    frame_threshold: Optional[float] = typer.Option(None, help="DATASET: note length threshold, as in transcribe."),
    min_note_ms: Optional[float] = typer.Option(None, help="DATASET: drop notes shorter than this (ms)."),
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
      nmftrans evaluate midi/ dataset/                 folders: paired by file name (stem)
      nmftrans evaluate maps/ -W piano --json r.json   transcribe a dataset and score it
      nmftrans evaluate maps/ -W piano -j 4            ... on 4 worker processes
    \b
    Piano rolls of hits (green), false alarms (red) and misses (blue):
      nmftrans evaluate song.mid song_ref.csv --plot song.png --plot-range 10:25
      nmftrans evaluate maps/ -W piano --plot rolls/   one <name>.png per file, over its activations
    """
    log = Log(quiet)
    dataset_only = {"--split": split, "--guitarset-audio": guitarset_audio, "--max-files": max_files,
                    "--onset-threshold": onset_threshold, "--frame-threshold": frame_threshold,
                    "--min-note-ms": min_note_ms, "--jobs": None if n_jobs == 1 else n_jobs,
                    "--scheduler": scheduler}
    if len(paths) == 2:
        if dictionary is not None:
            _fail("-W is for DATASET mode (one folder); EST REF are scored as they are", 2)
        given = [name for name, value in dataset_only.items() if value is not None]
        if given:
            _fail(f"{', '.join(given)}: only with DATASET -W DICTIONARY", 2)
    elif len(paths) == 1:
        if dictionary is None:
            _fail("give EST REF (note files or folders), or DATASET -W DICTIONARY", 2)
    else:
        _fail(f"expected EST REF or DATASET -W DICTIONARY, got {len(paths)} paths", 2)
    time_range = None
    if plot_range is not None:
        from nmftrans.plot import parse_time_range

        if plot is None:
            _fail("--plot-range restricts the --plot picture; give --plot too", 2)
        try:
            time_range = parse_time_range(plot_range)
        except NmftransError as exc:
            _fail(str(exc), 2)
    for out in (json_out, csv_out):
        if out is not None and out.exists() and not overwrite:
            _fail(f"{out}: exists (use --overwrite to replace it)")
        if out is not None and not (out.parent if str(out.parent) else Path(".")).is_dir():
            _fail(f"{out}: folder {out.parent} does not exist")
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

            from nmftrans.batch import TranscribeOptions, _note_params
            from nmftrans.dictionary import load_dictionary

            plots = plotter(not paths[0].is_file())  # a dataset folder: one image per file
            W = load_dictionary(dictionary)
            params = _note_params(TranscribeOptions(onset_threshold=onset_threshold, frame_threshold=frame_threshold,
                                                    min_note_ms=min_note_ms))
            with contextlib.ExitStack() as stack:
                bars = []  # the bar starts once discovery knows how many files there are

                def start(n: int) -> None:
                    if plots is not None:
                        plots.prepare()
                    bars.append(stack.enter_context(log.progress(n, "transcribing")))

                result = use_case.evaluate_dataset(
                    paths[0], W, note_params=params, split=split, guitarset_audio=guitarset_audio or "mic",
                    max_files=max_files, sustain=sustain, jobs=n_jobs, scheduler=scheduler, on_start=start,
                    progress=lambda name: bars[0].advance(name), on_scored=plots)
            for path, reason in result.skipped:
                log.warn(f"skipped {path}: {reason}")
            files = result.files
            extra = {"dataset": str(paths[0]), "dictionary": str(dictionary)}
    except NmftransError as exc:
        _fail(str(exc))
    failed = [f for f in files if not f.ok]
    for f in files:
        for message in f.warnings:
            log.warn(message)
        if f.error:
            log.error(f.error)
    scored = use_case.successful(files)
    if scored:
        if sys.stdout.isatty():
            from rich.console import Console

            console = Console(file=sys.stdout)
            console.print(use_case.rich_table(scored, width=console.width))
        else:
            sys.stdout.write(use_case.format_table(scored))
        sys.stdout.flush()
    try:
        from nmftrans.fileio import write_text_atomic

        if json_out is not None:
            write_text_atomic(json_out, use_case.scores_to_json(files, **extra))
        if csv_out is not None:
            write_text_atomic(csv_out, use_case.scores_to_csv(files))
    except NmftransError as exc:
        _fail(str(exc))
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


def main() -> None:
    """Console-script entry point."""
    app()


if __name__ == "__main__":
    main()
