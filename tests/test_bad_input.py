"""Bad and unusual input through the CLI: every case ends in a correct result or in one
``error:`` line on stderr with the right exit code, never a traceback. Plus fuzzing of the two
``.npz`` loaders (dictionary, activations): whatever the file holds, only NmftransError."""

import io
import json
import zipfile

import mido
import numpy as np
import pytest
import soundfile as sf
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from nmftrans.io.annotations import read_notes
from nmftrans.batch import load_activations, save_activations
from nmftrans.cli import app
from nmftrans.io.dictionary import load_dictionary
from nmftrans.errors import NmftransError
from nmftrans.core.settings import FeatureSettings
from tests.synth import SR, render

runner = CliRunner()
NOTES = np.array([[0.2, 0.6, 60, 90], [0.7, 1.1, 64, 90], [1.2, 1.6, 67, 90]])


@pytest.fixture(scope="module")
def kit(tmp_path_factory):
    """A harmonic C4-C5 dictionary, a short piece, and its saved activations."""
    tmp = tmp_path_factory.mktemp("bad")
    assert runner.invoke(app, ["learn", "--harmonic", "--lowest", "C4", "--highest", "C5", "-o", str(tmp / "W.npz")]).exit_code == 0
    y = render(NOTES, tail=0.3)
    sf.write(tmp / "piece.wav", y, SR)
    result = runner.invoke(app, ["transcribe", str(tmp / "piece.wav"), "-W", str(tmp / "W.npz"), "-o",
                                 str(tmp / "piece.mid"), "--save-activations"])
    assert result.exit_code == 0, result.output
    return tmp, y


def run(kit, *args, input=None):
    tmp, _ = kit
    result = runner.invoke(app, [str(a) for a in args], input=input)
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    return result


def transcribe(kit, audio, out, *args):
    tmp, _ = kit
    return run(kit, "transcribe", audio, "-W", tmp / "W.npz", "-o", out, *args)


def one_error(result, code: int, fragment: str) -> None:
    assert result.exit_code == code, result.output
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and fragment in errors[0], result.stderr


def found(kit, midi) -> np.ndarray:
    est = read_notes(midi, sustain=False)
    return sorted(int(p) for p in est[:, 2])


# ---- audio -------------------------------------------------------------------------------------

def test_missing_audio(kit, tmp_path):
    one_error(transcribe(kit, tmp_path / "nope.wav", tmp_path / "o.mid"), 1, "no such file")


def test_empty_audio(kit, tmp_path):
    (tmp_path / "e.wav").write_bytes(b"")
    one_error(transcribe(kit, tmp_path / "e.wav", tmp_path / "o.mid"), 1, "empty file")


def test_corrupt_header(kit, tmp_path):
    (tmp_path / "c.wav").write_bytes(b"RIFF\x24\x00\x00\x00WAVEfmt \x10\x00garbage" + bytes(100))
    one_error(transcribe(kit, tmp_path / "c.wav", tmp_path / "o.mid"), 1, "cannot read audio")
    assert not (tmp_path / "o.mid").exists()


def test_header_cut_before_the_data(kit, tmp_path):
    tmp, _ = kit
    (tmp_path / "h.wav").write_bytes((tmp / "piece.wav").read_bytes()[:30])
    one_error(transcribe(kit, tmp_path / "h.wav", tmp_path / "o.mid"), 1, "cannot read audio")


def test_truncated_mid_data_transcribes_what_is_there(kit, tmp_path):
    tmp, y = kit
    buf = io.BytesIO()
    sf.write(buf, y, SR, format="WAV", subtype="PCM_16")
    cut = 44 + 2 * int(1.0 * SR)  # the header still promises the whole piece; 1 s of samples left
    (tmp_path / "t.wav").write_bytes(buf.getvalue()[:cut])
    result = transcribe(kit, tmp_path / "t.wav", tmp_path / "t.mid")
    assert result.exit_code == 0, result.output
    est = read_notes(tmp_path / "t.mid", sustain=False)
    # both notes are found in what is left (the hard cut may add a click-like extra note)
    assert {60, 64} <= set(est[:, 2].astype(int)) and len(est) <= 3 and est[:, 1].max() <= 1.05


def test_silence_gives_an_empty_midi_and_a_warning(kit, tmp_path):
    sf.write(tmp_path / "s.wav", np.zeros(SR // 2, dtype=np.float32), SR)
    result = transcribe(kit, tmp_path / "s.wav", tmp_path / "s.mid")
    assert result.exit_code == 0 and "warning:" in result.stderr and "silent" in result.stderr
    assert not [m for m in mido.MidiFile(tmp_path / "s.mid").tracks[0] if m.type == "note_on"]


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_samples(kit, tmp_path, bad):
    _, y = kit
    z = y.copy()
    z[1000] = bad
    sf.write(tmp_path / "n.wav", z, SR, subtype="FLOAT")
    one_error(transcribe(kit, tmp_path / "n.wav", tmp_path / "n.mid"), 1, "NaN or infinite")
    assert not (tmp_path / "n.mid").exists()


def test_eight_channels_are_downmixed(kit, tmp_path):
    _, y = kit
    sf.write(tmp_path / "8ch.wav", np.tile(y[:, None], (1, 8)) * np.linspace(0.2, 1, 8), SR)
    assert transcribe(kit, tmp_path / "8ch.wav", tmp_path / "8.mid").exit_code == 0
    assert found(kit, tmp_path / "8.mid") == [60, 64, 67]


@pytest.mark.parametrize("rate", [8000, 192000])
def test_other_sample_rates_are_resampled(kit, tmp_path, rate):
    sf.write(tmp_path / "r.wav", render(NOTES, sr=rate, tail=0.3), rate)
    result = transcribe(kit, tmp_path / "r.wav", tmp_path / "r.mid")
    assert result.exit_code == 0, result.output
    assert found(kit, tmp_path / "r.mid") == [60, 64, 67]


def test_a_folder_without_audio(kit, tmp_path):
    (tmp_path / "notes.txt").write_text("x")
    one_error(transcribe(kit, tmp_path, tmp_path / "out"), 1, "no audio files")


# ---- dictionaries ------------------------------------------------------------------------------

def _dictionary_arrays(kit) -> dict:
    tmp, _ = kit
    with np.load(tmp / "W.npz", allow_pickle=False) as npz:
        return {k: npz[k] for k in npz.files}


def _write_npz(path, arrays, allow_pickle=False):
    with open(path, "wb") as fh:
        np.savez(fh, allow_pickle=allow_pickle, **arrays)
    return path


@pytest.mark.parametrize("change, fragment", [
    (lambda a: a.update(settings=np.array(json.dumps({**json.loads(str(a["settings"])), "n_fft": 4096}))), "frequency bins"),
    (lambda a: a.update(W=np.array([object()] * 3, dtype=object)), "object arrays"),
    (lambda a: a.update(pitches=a["pitches"][:-1]), "templates"),
    (lambda a: a.pop("roles"), "missing roles"),
    (lambda a: a.update(W=-a["W"]), "negative"),
    (lambda a: a.update(settings=np.array("{not json")), "not valid JSON"),
])
def test_tampered_dictionary_is_rejected(kit, tmp_path, change, fragment):
    tmp, _ = kit
    arrays = _dictionary_arrays(kit)
    change(arrays)
    bad = _write_npz(tmp_path / "bad.npz", arrays, allow_pickle=True)
    one_error(transcribe(kit, tmp / "piece.wav", tmp_path / "o.mid", "-W", bad), 1, fragment)
    one_error(run(kit, "show", bad), 1, fragment)


def test_a_text_file_as_dictionary(kit, tmp_path):
    tmp, _ = kit
    (tmp_path / "W.npz").write_text("hello")
    one_error(transcribe(kit, tmp / "piece.wav", tmp_path / "o.mid", "-W", tmp_path / "W.npz"), 1, "not a valid .npz")


# ---- saved activations -------------------------------------------------------------------------

def _activation_arrays(kit) -> dict:
    tmp, _ = kit
    with np.load(tmp / "piece.activations.npz", allow_pickle=False) as npz:
        return {k: npz[k] for k in npz.files}


@pytest.mark.parametrize("change, fragment", [
    (lambda a: a.update(activations=np.array([None, 1], dtype=object)), "object arrays"),
    (lambda a: a.pop("pitches"), "missing pitches"),
    (lambda a: a.update(activations=a["activations"][:, :-3]), "activations are"),
    (lambda a: a.update(activations=a["activations"] * np.nan), "non-finite"),
    (lambda a: a.update(pitches=a["pitches"] + 200), "MIDI numbers"),
    (lambda a: a.update(frame_rate=np.array(-1.0)), "frame_rate"),
    (lambda a: a.update(format=np.array("nmftrans-dictionary")), "not an nmftrans activations file"),
    (lambda a: a.update(settings=np.array("{not json")), "not valid JSON"),
    (lambda a: a.update(settings=np.array('{"bogus": 1}')), "unknown feature settings: bogus"),
])
def test_tampered_activations_are_rejected(kit, tmp_path, change, fragment):
    arrays = _activation_arrays(kit)
    change(arrays)
    bad = _write_npz(tmp_path / "bad.activations.npz", arrays, allow_pickle=True)
    one_error(run(kit, "transcribe", "--activations", bad, "-o", tmp_path / "o.mid"), 1, fragment)
    assert not (tmp_path / "o.mid").exists()


def test_missing_activations_file(kit, tmp_path):
    one_error(run(kit, "transcribe", "--activations", tmp_path / "none.npz"), 1, "no such activations file")


# ---- outputs and options -----------------------------------------------------------------------

def test_output_folder_is_a_regular_file(kit, tmp_path):
    tmp, _ = kit
    (tmp_path / "file").write_text("x")
    one_error(transcribe(kit, tmp / "piece.wav", tmp_path / "file" / "o.mid"), 1, "does not exist")
    one_error(transcribe(kit, tmp / "piece.wav", tmp / "piece.wav", "-o", tmp_path / "file" / "sub"), 1,
              "cannot create the output folder")


def test_unwritable_output_folder(kit, tmp_path, monkeypatch):
    """A folder we may not write into (made unwritable by the operating system's answer rather
    than by chmod, which root ignores: CI runs as root): one error line, nothing left behind."""
    import tempfile

    tmp, _ = kit

    def refused(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(tempfile, "mkstemp", refused)
    one_error(transcribe(kit, tmp / "piece.wav", tmp_path / "o.mid"), 1, "o.mid: cannot write (Permission denied)")
    assert list(tmp_path.iterdir()) == []


def test_output_that_cannot_be_replaced(kit, tmp_path):
    """The output name is taken by a non-empty folder (no rename can replace it, root or not): the
    outputs are checked before any work, so the batch stops with one error line naming it, nothing
    is transcribed or written, and the folder is left as it was."""
    tmp, _ = kit
    blocked = tmp_path / "out" / "piece.mid"
    (blocked / "keep").mkdir(parents=True)
    other = tmp_path / "other.wav"
    other.write_bytes((tmp / "piece.wav").read_bytes())
    result = run(kit, "transcribe", other, tmp / "piece.wav", "-W", tmp / "W.npz", "-o", tmp_path / "out", "--overwrite")
    one_error(result, 1, "piece.mid: is a folder")
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["piece.mid"]
    assert blocked.is_dir() and (blocked / "keep").is_dir()


@pytest.mark.parametrize("args, fragment", [
    (["--lowest", "H9"], "not a pitch"),
    (["--highest", "200"], "outside the MIDI range"),
    (["--program", "128"], "--program"),
    (["--tempo", "-5"], "--tempo"),
    (["--min-note-ms", "-1"], "--min-note-ms"),
    (["--floor-octaves", "-1"], "--floor-octaves"),
    (["--eq-octaves", "-1"], "--eq-octaves"),
])
def test_bad_option_values_are_usage_errors(kit, tmp_path, args, fragment):
    tmp, _ = kit
    one_error(transcribe(kit, tmp / "piece.wav", tmp_path / "o.mid", *args), 2, fragment)


def test_unknown_output_suffix(kit, tmp_path):
    tmp, _ = kit
    one_error(transcribe(kit, tmp / "piece.wav", tmp_path / "o.txt"), 1, "unknown output format")


# ---- learn on labelled audio with awkward annotations ------------------------------------------

def test_learn_with_annotation_longer_than_audio_and_pitches_out_of_range(kit, tmp_path):
    _, y = kit
    folder = tmp_path / "labelled"
    folder.mkdir()
    sf.write(folder / "take.wav", y, SR)
    rows = [*NOTES.tolist(), [5.0, 6.0, 62, 80], [0.3, 0.5, 20, 80]]  # past the end; below --lowest
    (folder / "take.csv").write_text("onset,offset,pitch,velocity\n" + "".join(f"{a},{b},{int(p)},{int(v)}\n" for a, b, p, v in rows))
    result = run(kit, "learn", folder, "-o", tmp_path / "L.npz", "--lowest", "C4", "--highest", "C5", "--iterations", "5")
    assert result.exit_code == 0, result.output
    assert "warning:" in result.stderr and "after the end" in result.stderr and "outside the pitch range" in result.stderr
    assert load_dictionary(tmp_path / "L.npz").pitch_set.tolist() == list(range(60, 73))


# ---- fuzzing of the .npz loaders ---------------------------------------------------------------

_DTYPES = ["float32", "float64", "int8", "int16", "int64", "uint8", "bool", "complex64", "U8", "S4"]
_arrays = st.builds(
    lambda dtype, shape, seed: np.random.default_rng(seed).normal(size=shape).astype(dtype)
    if dtype not in ("U8", "S4") else np.full(shape, "x", dtype=dtype),
    st.sampled_from(_DTYPES), st.lists(st.integers(0, 4), max_size=3).map(tuple), st.integers(0, 2**16))


def _fuzzed(base: dict, data) -> dict:
    arrays = dict(base)
    for key in data.draw(st.lists(st.sampled_from(sorted(base)), max_size=4, unique=True)):
        action = data.draw(st.sampled_from(["drop", "replace", "reshape", "recast"]))
        if action == "drop":
            arrays.pop(key)
        elif action == "replace":
            arrays[key] = data.draw(_arrays)
        elif action == "reshape":
            arrays[key] = np.atleast_1d(arrays[key]).ravel()[: data.draw(st.integers(0, 5))]
        else:
            try:
                arrays[key] = arrays[key].astype(data.draw(st.sampled_from(_DTYPES)))
            except (ValueError, TypeError):
                arrays[key] = np.array([], dtype="float32")
    for key in data.draw(st.lists(st.text("abcxyz", min_size=1, max_size=4), max_size=2)):
        arrays[key] = data.draw(_arrays)
    return arrays


_FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@pytest.mark.parametrize("arrays_of, load, consistent", [
    (_dictionary_arrays, load_dictionary, lambda d: d.W.shape[1] == len(d.pitches)),
    (_activation_arrays, load_activations,
     lambda saved: saved["activations"].shape == (len(saved["pitches"]), len(saved["times"]))),
], ids=["dictionary", "activations"])
@_FUZZ
@given(data=st.data())
def test_fuzzed_files_only_raise_nmftrans_error(kit, tmp_path, data, arrays_of, load, consistent):
    path = _write_npz(tmp_path / "f.npz", _fuzzed(arrays_of(kit), data))
    try:
        loaded = load(path)
    except NmftransError as exc:
        assert "\n" not in str(exc)
    else:
        assert consistent(loaded)


@_FUZZ
@given(blob=st.binary(max_size=300))
def test_fuzz_loaders_on_random_bytes(tmp_path, blob):
    path = tmp_path / "junk.npz"
    path.write_bytes(blob)
    for loader in (load_dictionary, load_activations):
        with pytest.raises(NmftransError):
            loader(path)


def test_activations_round_trip_and_zip_without_npy(tmp_path):
    A = np.random.default_rng(0).random((3, 10)).astype(np.float32)
    save_activations(tmp_path / "a.npz", A, np.array([60, 61, 62]), 50.0, settings=FeatureSettings().to_json(),
                     provenance="{}", dictionary="piano", source="x.wav")
    saved = load_activations(tmp_path / "a.npz")
    np.testing.assert_array_equal(saved["activations"], A)
    assert saved["frame_rate"] == 50.0 and saved["times"][1] == 0.02
    with zipfile.ZipFile(tmp_path / "z.npz", "w") as z:
        z.writestr("readme.txt", "not an array")
    with pytest.raises(NmftransError):
        load_activations(tmp_path / "z.npz")
