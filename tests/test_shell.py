"""Issue 23, "a tool that never surprises at the shell": interrupts with real signals, outputs that
are not plain files, batches from shell globs, early checks, usage errors, help, interop."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from typer.testing import CliRunner

from nmftrans.cli import app
from tests.synth import SR, render

runner = CliRunner()
NOTES = np.array([[0.2 + 0.5 * i, 0.6 + 0.5 * i, 60 + (3 * i) % 12, 90] for i in range(6)])


@pytest.fixture(scope="module")
def kit(tmp_path_factory):
    """Four short pieces and a harmonic C4-C6 dictionary."""
    tmp = tmp_path_factory.mktemp("shell")
    for k in range(4):
        sf.write(tmp / f"p{k}.wav", render(NOTES + [0, 0, k, 0], tail=0.3), SR)
    assert runner.invoke(app, ["learn", "--harmonic", "--lowest", "C4", "--highest", "C6",
                               "-o", str(tmp / "W.npz")]).exit_code == 0
    return tmp


def _cli(*args, cwd):
    """Start ``python -m nmftrans ARGS`` in its own process group (as a shell job is)."""
    return subprocess.Popen([sys.executable, "-m", "nmftrans", *map(str, args)], cwd=cwd, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)


def _interrupt(proc) -> tuple[str, str]:
    """Ctrl-C as a terminal sends it: SIGINT to the whole process group (workers included)."""
    os.killpg(proc.pid, signal.SIGINT)
    out, err = proc.communicate(timeout=60)  # a hang guard, not a timing assertion
    return out, err


def _group_gone(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return True
    return False


def _messages(stderr: str) -> list[str]:
    """stderr's lines without the first run's one-line kernel notice (a fresh install compiles)."""
    return [line for line in stderr.strip().splitlines() if not line.startswith("preparing the ")]


def test_ctrl_c_with_two_workers(kit, tmp_path):
    """-j 2 on four files, Ctrl-C once a file is finished: exit 130, one line, no traceback, the
    count equals the files on disk, no worker left, nothing written afterwards, no temp files."""
    out = tmp_path / "out"
    out.mkdir()
    proc = _cli("transcribe", *(kit / f"p{k}.wav" for k in range(4)), "-W", kit / "W.npz", "-o", out,
                "-j", "2", "--iterations", "20000", cwd=tmp_path)
    # A finished output, not a temporary ".<name>.mid.<random>.part.mid" beside it (glob sees dot files).
    while not [p for p in out.glob("*.mid") if not p.name.startswith(".")] and proc.poll() is None:
        time.sleep(0.02)
    assert proc.poll() is None, "finished before the interrupt: the test needs longer files"
    stdout, stderr = _interrupt(proc)
    assert proc.returncode == 130, stderr
    assert "Traceback" not in stderr
    lines = _messages(stderr)
    assert len(lines) == 1 and lines[0].startswith("error: interrupted: "), stderr
    written = sorted(p.name for p in out.iterdir())
    assert all(name.endswith(".mid") for name in written), written  # no .part files left
    assert f"interrupted: {len(written)} of 4 files finished" in lines[0]
    assert 1 <= len(written) < 4
    for line in stdout.splitlines():  # paths printed are files that exist
        assert Path(line).is_file()
    assert _group_gone(proc.pid)
    time.sleep(1.0)
    assert sorted(p.name for p in out.iterdir()) == written  # nothing written after the interrupt


def test_ctrl_c_in_a_long_solve(kit, tmp_path):
    """One file, --iterations 100000 (minutes of Numba kernel): Ctrl-C stops it, no output."""
    proc = _cli("transcribe", kit / "p0.wav", "-W", kit / "W.npz", "-o", tmp_path / "p0.mid",
                "--iterations", "100000", cwd=tmp_path)
    time.sleep(4.0)  # imports done, inside the solver
    assert proc.poll() is None
    _, stderr = _interrupt(proc)
    assert proc.returncode == 130, stderr
    assert "Traceback" not in stderr and _messages(stderr)[0].startswith("error: interrupted: 0 of 1 files"), stderr
    assert list(tmp_path.iterdir()) == []


# -- 2. outputs that are not plain files --------------------------------------------------------

def _note_files(folder: Path) -> tuple[Path, Path]:
    (folder / "ref.csv").write_text("onset,offset,pitch\n0.1,0.5,60\n0.6,1.0,64\n")
    (folder / "est.csv").write_text("onset,offset,pitch\n0.1,0.5,60\n0.6,1.0,65\n")
    return folder / "est.csv", folder / "ref.csv"


def test_csv_and_json_dash_write_to_stdout(tmp_path, monkeypatch):
    import csv
    import io
    import json

    est, ref = _note_files(tmp_path)
    monkeypatch.chdir(tmp_path)
    as_csv = runner.invoke(app, ["evaluate", str(est), str(ref), "--csv", "-"])
    assert as_csv.exit_code == 0, as_csv.output
    rows = list(csv.DictReader(io.StringIO(as_csv.stdout)))  # the CSV only: no table around it
    assert [r["file"] for r in rows] == ["est", "MEAN"] and float(rows[0]["onset_f"]) == 0.5  # 1 of 2 onsets
    as_json = runner.invoke(app, ["evaluate", str(est), str(ref), "--json", "-"])
    assert as_json.exit_code == 0 and json.loads(as_json.stdout)["files"][0]["file"] == "est"
    assert not (tmp_path / "-").exists()
    both = runner.invoke(app, ["evaluate", str(est), str(ref), "--json", "-", "--csv", "-"])
    assert both.exit_code == 2 and both.stderr.startswith("error: ")


def test_symlinked_output_is_written_through(tmp_path):
    est, ref = _note_files(tmp_path)
    (tmp_path / "real.csv").write_text("old\n")
    (tmp_path / "link.csv").symlink_to("real.csv")
    kept = runner.invoke(app, ["evaluate", str(est), str(ref), "--csv", str(tmp_path / "link.csv")])
    assert kept.exit_code == 1 and "exists" in kept.stderr and (tmp_path / "real.csv").read_text() == "old\n"
    done = runner.invoke(app, ["evaluate", str(est), str(ref), "--csv", str(tmp_path / "link.csv"), "--overwrite"])
    assert done.exit_code == 0, done.output
    assert (tmp_path / "link.csv").is_symlink() and os.readlink(tmp_path / "link.csv") == "real.csv"
    assert (tmp_path / "real.csv").read_text().startswith("file,reference,estimate")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["est.csv", "link.csv", "real.csv", "ref.csv"]


def test_fifo_output_is_written_into_not_replaced(kit, tmp_path):
    import threading

    fifo = tmp_path / "notes.csv"
    os.mkfifo(fifo)
    got = []
    reader = threading.Thread(target=lambda: got.append(fifo.read_text()))
    reader.start()
    done = runner.invoke(app, ["transcribe", str(kit / "p0.wav"), "-W", str(kit / "W.npz"), "-o", str(fifo)])
    reader.join(30)
    assert done.exit_code == 0, done.output
    assert fifo.is_fifo() and list(tmp_path.iterdir()) == [fifo]
    lines = got[0].splitlines()
    assert lines[0] == "onset,offset,pitch,velocity" and len(lines) == 1 + len(NOTES)


# -- 3. -o - with several inputs ----------------------------------------------------------------

def test_stdout_with_several_inputs_is_one_document(kit):
    import csv
    import io
    import json

    files = [str(kit / "p0.wav"), str(kit / "p2.wav")]
    alone = {}
    for f in files:
        single = runner.invoke(app, ["transcribe", f, "-W", str(kit / "W.npz"), "-o", "-"])
        assert single.exit_code == 0
        alone[f] = single.stdout.splitlines()[1:]  # a single file: the plain note list, unchanged
        assert single.stdout.splitlines()[0] == "onset,offset,pitch,velocity" and len(alone[f]) == len(NOTES)
    both = runner.invoke(app, ["transcribe", *files, "-W", str(kit / "W.npz"), "-o", "-"])
    assert both.exit_code == 0, both.output
    rows = list(csv.reader(io.StringIO(both.stdout)))
    assert rows[0] == ["file", "onset", "offset", "pitch", "velocity"]
    assert [r[0] for r in rows[1:]] == [files[0]] * len(NOTES) + [files[1]] * len(NOTES)
    assert [",".join(r[1:]) for r in rows[1:]] == alone[files[0]] + alone[files[1]]
    as_json = runner.invoke(app, ["transcribe", *files, "-W", str(kit / "W.npz"), "-o", "-", "--json"])
    assert as_json.exit_code == 0
    doc = json.loads(as_json.stdout)
    assert [d["file"] for d in doc] == files
    assert [n["pitch"] for n in doc[1]["notes"]] == [int(r.split(",")[2]) for r in alone[files[1]]]


# -- 4. a shell glob --------------------------------------------------------------------------

def test_shell_glob_skips_non_audio_with_a_note(kit, tmp_path):
    """`transcribe real/* -o out/` with x.flac beside x.csv and x.mid: the audio is transcribed."""
    folder = tmp_path / "real"
    folder.mkdir()
    (folder / "p0.wav").write_bytes((kit / "p0.wav").read_bytes())
    (folder / "p0.csv").write_text("onset,offset,pitch\n0.2,0.6,60\n")
    (folder / "p0.mid").write_bytes(b"MThd")
    (folder / "manifest.txt").write_text("x\n")
    glob = sorted(folder.iterdir())  # what the shell expands real/* to
    result = runner.invoke(app, ["transcribe", *map(str, glob), "-W", str(kit / "W.npz"), "-o", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["p0.mid"]
    notes = [line for line in result.stderr.splitlines() if "not audio, skipped" in line]
    assert sorted(Path(line.split(":")[0]).name for line in notes) == ["manifest.txt", "p0.csv", "p0.mid"]
    piped = runner.invoke(app, ["transcribe", "-", "-W", str(kit / "W.npz"), "-o", str(tmp_path / "out2")],
                          input="".join(f"{p}\n" for p in glob))  # find dir | nmftrans transcribe -
    assert piped.exit_code == 0 and sorted(p.name for p in (tmp_path / "out2").iterdir()) == ["p0.mid"]
    only = runner.invoke(app, ["transcribe", str(folder / "p0.csv"), "-o", "-"])
    assert only.exit_code == 1 and only.stderr.startswith("error: ") and "not an audio file" in only.stderr


def test_shell_glob_skips_a_folder_without_audio(kit, tmp_path):
    """`transcribe work/* -o work/out/` run again: the glob now holds the output folder (MIDI only)."""
    folder = tmp_path / "work"
    (folder / "out").mkdir(parents=True)
    (folder / "p0.wav").write_bytes((kit / "p0.wav").read_bytes())
    (folder / "out" / "old.mid").write_bytes(b"MThd")
    glob = sorted(folder.iterdir())
    result = runner.invoke(app, ["transcribe", *map(str, glob), "-W", str(kit / "W.npz"), "-o", str(folder / "out")])
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in (folder / "out").iterdir()) == ["old.mid", "p0.mid"]
    assert f"{folder / 'out'}: no audio files in this folder, skipped" in result.stderr
    alone = runner.invoke(app, ["transcribe", str(folder / "out"), "-o", str(tmp_path / "x")])
    assert alone.exit_code == 1 and alone.stderr.strip() == f"error: {folder / 'out'}: no audio files in this folder"


# -- 5. cheap checks first --------------------------------------------------------------------

def test_bad_outputs_and_missing_extras_are_found_before_any_work(kit, tmp_path, monkeypatch):
    import nmftrans.transcribe as transcribe_module

    def no_work(*args, **kwargs):
        raise AssertionError("transcribed before the check")

    monkeypatch.setattr(transcribe_module, "transcribe_file", no_work)
    audio, W = str(kit / "p0.wav"), str(kit / "W.npz")
    missing = runner.invoke(app, ["transcribe", audio, "-W", W, "-o", str(tmp_path / "nofolder" / "x.mid")])
    assert missing.exit_code == 1 and missing.stderr.startswith("error: ") and "does not exist" in missing.stderr
    (tmp_path / "x.png").mkdir()  # the plot's path is taken by a folder
    blocked = runner.invoke(app, ["transcribe", audio, "-W", W, "-o", str(tmp_path / "x.mid"), "--plot"])
    assert blocked.exit_code == 1 and "x.png: is a folder" in blocked.stderr, blocked.output
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # matplotlib not installed
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    no_plot = runner.invoke(app, ["transcribe", audio, "-W", W, "-o", str(tmp_path / "y.mid"), "--plot"])
    assert no_plot.exit_code == 1 and "matplotlib" in no_plot.stderr, no_plot.output
    assert not (tmp_path / "y.mid").exists()
    learn_out = runner.invoke(app, ["learn", "--harmonic", "-o", str(tmp_path / "nofolder" / "W.npz")])
    assert learn_out.exit_code == 1 and "does not exist" in learn_out.stderr


# -- 6. every option acts or is refused (exit 2) --------------------------------------------------

@pytest.mark.parametrize("args, fragment", [
    (["learn", "--harmonic", "SRC", "-o", "W.npz"], "not both"),
    (["learn", "--harmonic", "-j", "2", "-o", "W.npz"], "--jobs: not used by --harmonic"),
    (["learn", "--harmonic", "--iterations", "9", "-o", "W.npz"], "--iterations: not used by --harmonic"),
    (["learn", "--harmonic", "--lowest", "C5", "--highest", "C4", "-o", "W.npz"], "above --highest"),
    (["learn", "--harmonic", "--lowest", "X9", "-o", "W.npz"], "not a pitch"),
    (["learn", "--harmonic", "--beta", "3", "-o", "W.npz"], "--beta"),
    (["learn", "SRC", "--split", "foo", "-o", "W.npz"], "--split"),
    (["learn", "SRC", "--max-files", "0", "-o", "W.npz"], "--max-files"),
    (["transcribe", "--activations", "A.npz", "--iterations", "5"], "--iterations: nothing is solved"),
    (["transcribe", "--activations", "A.npz", "--floor-octaves", "1"], "--floor-octaves: nothing is solved"),
    (["transcribe", "--activations", "A.npz", "-W", "piano"], "only used by --sonify"),
    (["evaluate", "SRC", "-W", "piano", "--onset-threshold", "-1"], "--onset-threshold"),
    (["evaluate", "SRC", "-W", "piano", "--guitarset-audio", "x"], "--guitarset-audio"),
    (["evaluate", "SRC", "-W", "piano", "--max-files", "0"], "--max-files"),
])
def test_ignored_or_impossible_options_are_usage_errors(tmp_path, args, fragment):
    (tmp_path / "SRC").mkdir()
    args = [str(tmp_path / a) if a in ("SRC", "W.npz", "A.npz") else a for a in args]
    result = runner.invoke(app, args)
    assert result.exit_code == 2, result.output
    errors = result.stderr.strip().splitlines()
    assert len(errors) == 1 and errors[0].startswith("error: ") and fragment in errors[0], result.stderr
    assert not (tmp_path / "W.npz").exists()


def test_one_rule_for_existing_outputs(kit, tmp_path):
    """Never replaced without --overwrite: a single output stops before work (exit 1), a batch
    skips the file and says so; with --overwrite both replace it."""
    plot = tmp_path / "t.png"
    plot.write_bytes(b"mine")
    shown = runner.invoke(app, ["show", "piano", "--plot", str(plot)])
    assert shown.exit_code == 1 and "exists" in shown.stderr and plot.read_bytes() == b"mine"
    (tmp_path / "W.npz").write_bytes(b"mine")
    learned = runner.invoke(app, ["learn", "--harmonic", "-o", str(tmp_path / "W.npz")])
    assert learned.exit_code == 1 and "exists" in learned.stderr
    (tmp_path / "p0.mid").write_bytes(b"mine")
    skipped = runner.invoke(app, ["transcribe", str(kit / "p0.wav"), "-W", str(kit / "W.npz"), "-o", str(tmp_path)])
    assert skipped.exit_code == 0 and "exists, skipped" in skipped.stderr
    assert (tmp_path / "p0.mid").read_bytes() == b"mine"


# -- 7. help and the Python API -----------------------------------------------------------------

@pytest.mark.parametrize("command", ["", "learn", "transcribe", "evaluate", "show", "align", "decompose"])
def test_help_fits_80_columns_without_bool_metavars(command):
    result = runner.invoke(app, [c for c in (command, "--help") if c], env={"COLUMNS": "200"})  # a wide terminal
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert max(len(line) for line in lines) <= 80, max(lines, key=len)
    assert "<bool>" not in result.stdout


def _default_of(help_text: str, option: str) -> str:
    """The ``[default: X]`` of ``option`` in plain click help (it may wrap onto later lines)."""
    import re

    flat = " ".join(help_text.split("Options:")[1].split())
    entry = re.search(re.escape(option) + r" .*?(?= --?[a-z]|$)", flat).group(0)
    return re.search(r"\[default: ([^\]]+)\]", entry).group(1).strip("()")


def test_help_shows_the_true_defaults():
    from nmftrans.core.notes import NoteParams
    from nmftrans.core.scoreinformed import AlignParams
    from nmftrans.transcribe import SolverParams

    text = runner.invoke(app, ["transcribe", "--help"]).stdout
    notes, solver = NoteParams(), SolverParams()
    assert float(_default_of(text, "--onset-threshold")) == notes.onset_threshold
    assert float(_default_of(text, "--frame-threshold")) == notes.frame_threshold
    assert float(_default_of(text, "--min-note-ms")) == notes.min_note_s * 1000
    assert float(_default_of(text, "--standout")) == notes.carpet_ratio
    assert int(_default_of(text, "--iterations")) == solver.n_iter
    assert solver.floor_octaves is None and _default_of(text, "--floor-octaves") == "the dictionary's, else 2"
    assert float(_default_of(text, "--eq-octaves")) == solver.eq_octaves
    assert _default_of(text, "--dictionary") == "piano"
    assert _default_of(text, "--program") == "from the dictionary"
    align = runner.invoke(app, ["align", "--help"]).stdout
    params = AlignParams()
    assert float(_default_of(align, "--before")) == params.before_s
    assert float(_default_of(align, "--after")) == params.after_s
    assert float(_default_of(align, "--threshold")) == params.threshold
    assert int(_default_of(align, "--iterations")) == params.n_iter
    assert float(_default_of(align, "--onset-rise-fraction")) == params.onset_rise_fraction
    # the re-tracking example uses another threshold than the default (else it changes nothing)
    example = text.split("--activations song.activations.npz --onset-threshold ")[1].split()[0]
    assert float(example) != notes.onset_threshold


def test_readme_python_api_block_runs():
    import contextlib
    import io
    import re

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    block = re.search(r"## Python API.*?```python\n(.*?)```", readme, re.S).group(1)
    scope: dict = {}
    with contextlib.redirect_stdout(io.StringIO()) as printed:
        exec(compile(block, "README.md", "exec"), scope)
    assert scope["notes"].shape == (1, 4) and scope["notes"][0, 2] == 60  # the C4 the block renders
    assert 0.45 <= scope["notes"][0, 0] <= 0.55  # it starts at 0.5 s
    assert printed.getvalue().strip() == "[60.]"


# -- 8. interop -------------------------------------------------------------------------------

def test_evaluate_reads_basic_pitch_csv_and_mirex_txt_and_pairs_basic_pitch_names(tmp_path):
    import csv
    import io

    refs, ests = tmp_path / "refs", tmp_path / "ests"
    refs.mkdir()
    ests.mkdir()
    # reference: C4 at 0.1-0.5, E4 at 0.6-1.0, G4 at 1.1-1.5 (note names in notes.csv style)
    (refs / "song.csv").write_text("onset,offset,pitch\n0.1,0.5,C4\n0.6,1.0,E4\n1.1,1.5,G4\n")
    # Basic Pitch note events: two of three right (C4, E4), G4 transcribed as G#4, pitch bends after
    (ests / "song_basic_pitch.csv").write_text(
        "start_time_s,end_time_s,pitch_midi,velocity,pitch_bend\n"
        "0.105,0.49,60,80,0,1,2\n0.61,1.0,64,90,0\n1.1,1.5,68,70,0,0\n")
    result = runner.invoke(app, ["evaluate", str(ests), str(refs), "--csv", "-"])
    assert result.exit_code == 0, result.output
    row = next(csv.DictReader(io.StringIO(result.stdout)))
    assert row["file"] == "song" and int(row["n_ref"]) == 3 and int(row["n_est"]) == 3
    assert abs(float(row["onset_f"]) - 2 / 3) < 1e-6  # 2 hits of 3 estimates and 3 references
    # MIREX: onset offset F0(Hz); 261.63 Hz = C4, 329.63 = E4, 392.00 = G4: all three hit
    (tmp_path / "mirex.txt").write_text("0.1\t0.5\t261.63\n0.6\t1.0\t329.63\n1.1\t1.5\t392.00\n")
    mirex = runner.invoke(app, ["evaluate", str(tmp_path / "mirex.txt"), str(refs / "song.csv"), "--csv", "-"])
    assert mirex.exit_code == 0, mirex.output
    assert float(next(csv.DictReader(io.StringIO(mirex.stdout)))["onset_f"]) == 1.0


def test_mp3_decoder_noise_is_not_printed(tmp_path):
    """libmpg123 prints 'Note: ...' and '[...] error: ...' on stderr while it resyncs a damaged
    MP3 frame it then decodes; the user sees an `error:` line for a file that worked."""
    y = render(NOTES, tail=0.3)
    try:
        sf.write(tmp_path / "clean.mp3", y, SR, format="MP3")
    except (sf.LibsndfileError, TypeError, ValueError, RuntimeError):
        pytest.skip("this libsndfile cannot write MP3")
    data = (tmp_path / "clean.mp3").read_bytes()
    (tmp_path / "bumpy.mp3").write_bytes(data[: len(data) // 2] + bytes(300) + data[len(data) // 2:])
    proc = subprocess.run([sys.executable, "-m", "nmftrans", "transcribe", str(tmp_path / "bumpy.mp3"),
                           "-W", "piano", "-o", "-"], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("onset,offset,pitch,velocity") and len(proc.stdout.splitlines()) > 3
    noise = [line for line in proc.stderr.splitlines() if "error" in line.lower() or line.startswith("Note:")]
    assert noise == [], proc.stderr


# -- 9. costs that surprise -------------------------------------------------------------------

def test_cold_kernel_cache_is_detected(tmp_path):
    """A fresh NUMBA_CACHE_DIR has no compiled kernels: kernels_cached() says so (no compiling)."""
    code = "from nmftrans.kernelcache import kernels_cached; print(kernels_cached())"
    env = dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path))
    cold = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert cold.stdout.strip() == "False", cold.stderr


def test_first_run_says_it_prepares_the_kernels(kit, monkeypatch):
    import nmftrans.kernelcache as kernelcache

    args = ["transcribe", str(kit / "p0.wav"), "-W", str(kit / "W.npz"), "-o", "-"]
    monkeypatch.setattr(kernelcache, "kernels_cached", lambda: False)  # as under a fresh cache (above)
    cold = runner.invoke(app, args)
    assert cold.exit_code == 0
    assert [line for line in cold.stderr.splitlines() if "preparing" in line] == [
        "preparing the solver's kernels (first run only; about 10-20 s)"]
    monkeypatch.setattr(kernelcache, "kernels_cached", lambda: True)
    warm = runner.invoke(app, args)
    assert warm.exit_code == 0 and "preparing" not in warm.stderr


def test_eval_accuracy_without_data_says_what_to_pass(tmp_path):
    script = Path(__file__).resolve().parents[1] / "scripts" / "eval_accuracy.py"
    (tmp_path / "checkout" / "scripts").mkdir(parents=True)
    copy = tmp_path / "checkout" / "scripts" / "eval_accuracy.py"  # a checkout with no development data beside it
    copy.write_text(script.read_text())
    env = {k: v for k, v in os.environ.items() if k != "NMFTRANS_DATA"}
    proc = subprocess.run([sys.executable, str(copy)], cwd=tmp_path / "checkout", capture_output=True,
                          text=True, env=env, timeout=120)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr.strip().splitlines()[-1].endswith("pass --data PATH")


def test_plot_range_after_the_end_is_an_error(kit, tmp_path):
    pytest.importorskip("matplotlib")
    result = runner.invoke(app, ["transcribe", str(kit / "p0.wav"), "-W", str(kit / "W.npz"),
                                 "-o", str(tmp_path / "p.mid"), "--plot", "--plot-range", "100:"])
    assert result.exit_code == 1
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and "--plot-range starts at 100 s, after the end (3.4" in errors[0], result.stderr
    assert not (tmp_path / "p.png").exists()


def test_learned_dictionary_carries_its_midi_program(kit, tmp_path):
    """A guitar dictionary learned by a user wrote MIDI program 0 (piano); `learn --program 25`."""
    import mido

    W = tmp_path / "guitar.npz"
    assert runner.invoke(app, ["learn", "--harmonic", "--lowest", "C4", "--highest", "C6", "--program", "25",
                               "-o", str(W)]).exit_code == 0
    done = runner.invoke(app, ["transcribe", str(kit / "p0.wav"), "-W", str(W), "-o", str(tmp_path / "p.mid")])
    assert done.exit_code == 0, done.output
    programs = {m.program for track in mido.MidiFile(tmp_path / "p.mid").tracks for m in track
                if m.type == "program_change"}
    assert programs == {25}
    bad = runner.invoke(app, ["learn", "--harmonic", "--program", "128", "-o", str(tmp_path / "x.npz")])
    assert bad.exit_code == 2 and "--program" in bad.stderr


def test_sonify_renders_each_pitch_once(monkeypatch):
    """--sonify on a 20-minute file took 98 s: every note ran its own additive synthesis. Now one
    tone per pitch is rendered and each note plays its start (same notes, same partials)."""
    import nmftrans.io.sonify as sonify
    from nmftrans.io.dictionary import load_dictionary

    d = load_dictionary("piano")
    calls = []
    real = sonify._pitch_tone
    monkeypatch.setattr(sonify, "_pitch_tone", lambda *a, **k: calls.append(a[1]) or real(*a, **k))
    notes = np.array([[0.5 * k, 0.5 * k + 0.3, 60 + (k % 3) * 4, 100] for k in range(30)])
    y = sonify.sonify_notes(notes, d)
    assert sorted(calls) == [60, 64, 68] and y.dtype == np.float32
    # each note is its pitch: the spectrum of the 10th note (C4 at 4.5 s, 261.6 Hz) peaks there
    seg = y[int(4.52 * SR):int(4.52 * SR) + 4410] * np.hanning(4410)
    spectrum = np.abs(np.fft.rfft(seg, 8 * len(seg)))
    freqs = np.fft.rfftfreq(8 * len(seg), 1 / SR)
    assert abs(freqs[spectrum.argmax()] - 261.63) < 3


def test_long_plot_draws_at_most_a_screenful_of_columns(tmp_path, monkeypatch):
    """--plot of a 20-minute file peaked at 958 MB: the full-resolution image went to matplotlib.
    Columns are max-pooled to at most 2048 (a short note's peak stays visible)."""
    pytest.importorskip("matplotlib")
    from matplotlib.axes import Axes

    from nmftrans.io.plot import plot_transcription

    shapes = []
    real = Axes.pcolormesh
    monkeypatch.setattr(Axes, "pcolormesh", lambda self, x, y, X, **k: shapes.append(np.shape(X)) or real(self, x, y, X, **k))
    n = 20 * 60 * 69  # 20 minutes of frames
    A = np.zeros((12, n), dtype=np.float32)
    A[3, 50_000] = 1.0  # one frame of one pitch
    notes = np.array([[50_000 / 69, 50_001 / 69, 63, 100]])
    plot_transcription(tmp_path / "long.png", A, np.arange(60, 72), 69.0, notes)
    rows, columns = shapes[0]  # the activations (the colour bar draws a mesh of its own after it)
    assert columns <= 2048 and columns >= n / 41  # pooled, not cropped
    step = -(-n // 2048)
    # independent check of the pooling: the one active frame lands in column 50_000 // step
    monkeypatch.setattr(Axes, "pcolormesh", lambda self, x, y, X, **k: shapes.append(np.asarray(X)) or real(self, x, y, X, **k))
    shapes.clear()
    plot_transcription(tmp_path / "long.png", A, np.arange(60, 72), 69.0, notes)
    image = shapes[0]
    assert np.unravel_index(np.nanargmax(image), image.shape)[1] == 50_000 // step


def test_est_ref_and_dataset_modes_agree_exactly(kit, tmp_path):
    """The same transcription scored two ways: `transcribe DIR -o est/` + `evaluate est/ DIR`,
    and `evaluate DIR -W`. Scores were slightly different (unquantised times in DATASET mode)."""
    import json

    data = tmp_path / "data"
    data.mkdir()
    for k in (0, 1, 3):
        (data / f"p{k}.wav").write_bytes((kit / f"p{k}.wav").read_bytes())
        rows = "".join(f"{a:.3f},{b:.3f},{int(p) + k}\n" for a, b, p, _ in NOTES[:5])  # the 6th note is missed
        (data / f"p{k}.csv").write_text("onset,offset,pitch\n" + rows)
    W = str(kit / "W.npz")
    assert runner.invoke(app, ["transcribe", str(data), "-W", W, "-o", str(tmp_path / "est")]).exit_code == 0
    a = runner.invoke(app, ["evaluate", str(tmp_path / "est"), str(data), "--json", "-"])
    b = runner.invoke(app, ["evaluate", str(data), "-W", W, "--json", "-"])
    assert a.exit_code == 0 and b.exit_code == 0, (a.output, b.output)
    files_a, files_b = json.loads(a.stdout)["files"], json.loads(b.stdout)["files"]
    assert [f["file"] for f in files_a] == [f["file"] for f in files_b] == ["p0", "p1", "p3"]
    keys = [k for k in files_a[0] if k.endswith(("_precision", "_recall", "_f", "_accuracy"))]
    assert len(keys) == 10
    for fa, fb in zip(files_a, files_b):
        assert [fa[k] for k in keys] == [fb[k] for k in keys]  # exactly, every score
        assert fa["n_est"] == fb["n_est"] == len(NOTES) and fa["n_ref"] == fb["n_ref"] == 5
        assert fa["onset_recall"] == 1.0 and abs(fa["onset_precision"] - 5 / 6) < 1e-9
