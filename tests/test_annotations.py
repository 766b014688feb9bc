"""Tests for nmftrans.io.annotations: readers, one voice per pitch, cropping, rolls."""

from __future__ import annotations

import atexit
import json
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nmftrans.io.annotations import DEFAULT_VELOCITY, read_annotation, read_notes
from nmftrans.core.notearrays import crop_notes, empty_notes, notes_to_roll, one_voice_per_pitch, onset_roll
from nmftrans.errors import NmftransError
from tests._make_data import cc, off, on, tempo, write_midi, write_text


# ---------------------------------------------------------------------------- MIDI


def _pedal_midi(path: Path) -> Path:
    # 480 ticks per beat; 120 bpm until tick 1920 (2.0 s), then 60 bpm (480 ticks = 1 s).
    meta = [(0, tempo(500000)), (1920, tempo(1000000))]
    ch0 = [
        (0, on(0, 60, 80)), (480, off(0, 60)),             # released under the pedal -> 1.0 s
        (240, cc(0, 64, 100)), (960, cc(0, 64, 63)),       # pedal down 0.25-1.0 s (63 = up)
        (480, on(0, 64, 70)), (720, off(0, 64)),           # released under the pedal...
        (840, on(0, 64, 90)), (1200, off(0, 64)),          # ...then struck again at 0.875 s
        (1920, on(0, 67, 60)), (2400, off(0, 67)),         # after the tempo change: 2.0-3.0 s
        (2400, on(0, 72, 50)), (2640, on(0, 72, 0)),       # note_on velocity 0 = note_off
    ]
    ch1 = [
        (0, on(1, 60, 100)), (240, off(1, 60)),            # same pitch & onset: merged; no pedal on ch 1
        (100, on(9, 36, 127)), (200, off(9, 36)),          # drums ignored
    ]
    return write_midi(path, [meta, ch0, ch1])


def test_midi_pedal_tempo_voices(tmp_path):
    notes = read_notes(_pedal_midi(tmp_path / "a.mid"))
    expected = np.array([
        [0.0, 1.0, 60, 100],
        [0.5, 0.875, 64, 70],
        [0.875, 1.25, 64, 90],
        [2.0, 3.0, 67, 60],
        [3.0, 3.5, 72, 50],
    ])
    assert notes.dtype == np.float64
    np.testing.assert_allclose(notes, expected, atol=1e-9)


def test_midi_without_sustain(tmp_path):
    notes = read_notes(_pedal_midi(tmp_path / "a.midi"), sustain=False)
    expected = np.array([
        [0.0, 0.5, 60, 100],
        [0.5, 0.75, 64, 70],
        [0.875, 1.25, 64, 90],
        [2.0, 3.0, 67, 60],
        [3.0, 3.5, 72, 50],
    ])
    np.testing.assert_allclose(notes, expected, atol=1e-9)


def test_midi_pedal_held_to_end_and_restrike_order(tmp_path):
    # Pedal never released: the note lasts to the end of the file (last event at 2.0 s).
    # A note-off at the tick of a new note-on of the same key ends the old note, not the new.
    path = write_midi(tmp_path / "b.mid", [[
        (0, cc(0, 64, 127)),
        (0, on(0, 50, 40)), (240, off(0, 50)),
        (480, on(0, 55, 40)), (960, off(0, 55)), (960, on(0, 55, 41)), (1440, off(0, 55)),
        (1920, cc(0, 1, 0)),
    ]], midi_type=0)
    notes = read_notes(path, sustain=False)
    np.testing.assert_allclose(notes, [[0, 0.25, 50, 40], [0.5, 1.0, 55, 40], [1.0, 1.5, 55, 41]])
    notes = read_notes(path)
    np.testing.assert_allclose(notes, [[0, 2.0, 50, 40], [0.5, 1.0, 55, 40], [1.0, 2.0, 55, 41]])


def test_midi_no_notes(tmp_path):
    path = write_midi(tmp_path / "empty.mid", [[(0, tempo(500000)), (480, cc(0, 64, 127))]])
    with pytest.raises(NmftransError, match="empty.mid.*no notes"):
        read_notes(path)
    drums = write_midi(tmp_path / "drums.mid", [[(0, on(9, 36)), (100, off(9, 36))]])
    with pytest.raises(NmftransError, match="no notes"):
        read_notes(drums)


def test_midi_garbage(tmp_path):
    path = tmp_path / "bad.mid"
    path.write_bytes(b"MThd\x00\x00\x00\x06\x00\x01\x00\x01\x01\xe0MTrk\x00\x00\xff\xff\x90")
    with pytest.raises(NmftransError, match="bad.mid"):
        read_notes(path)


# ---------------------------------------------------------------------------- CSV


def test_csv_with_header(tmp_path):
    path = write_text(tmp_path / "a.csv", "onset,offset,pitch,velocity\n1.0,1.5,62,90\n0.5,1.0,60.4,80\n0.5,0.7,59,70\n")
    np.testing.assert_array_equal(read_notes(path), [[0.5, 0.7, 59, 70], [0.5, 1.0, 60, 80], [1.0, 1.5, 62, 90]])


def test_csv_headerless_3_and_4_columns(tmp_path):
    three = write_text(tmp_path / "three.csv", "0.0,1.0,60\n2.0,2.5,64\n")
    np.testing.assert_array_equal(read_notes(three), [[0, 1, 60, DEFAULT_VELOCITY], [2, 2.5, 64, DEFAULT_VELOCITY]])
    four = write_text(tmp_path / "four.csv", "0.0,1.0,60,33\n")
    np.testing.assert_array_equal(read_notes(four), [[0, 1, 60, 33]])


def test_csv_fmp_format(tmp_path):
    text = (
        '"Start";"Duration";"Pitch";"Velocity";"Instrument"\n'
        '2.2;0.75;64;0.9921875;"lh"\n'
        '0.0;1.5;59;0.5;"rh"\n'
    )
    notes = read_notes(write_text(tmp_path / "fmp.csv", text))
    np.testing.assert_allclose(notes, [[0.0, 1.5, 59, 64], [2.2, 2.95, 64, 126]])


def test_csv_onset_duration_header(tmp_path):
    notes = read_notes(write_text(tmp_path / "d.csv", "onset,duration,pitch\n1.0,0.5,70\n"))
    np.testing.assert_array_equal(notes, [[1.0, 1.5, 70, DEFAULT_VELOCITY]])


def test_csv_header_only_is_empty(tmp_path):
    notes = read_notes(write_text(tmp_path / "h.csv", "onset,offset,pitch,velocity\n"))
    assert notes.shape == (0, 4)


def test_csv_out_of_range_pitches_and_zero_durations_reported(tmp_path):
    path = write_text(tmp_path / "r.csv", "onset,offset,pitch,velocity\n0,1,130,50\n0,1,-3,50\n0,1,60,200\n1,1,61,50\n")
    notes, warnings = read_annotation(path)
    np.testing.assert_array_equal(notes, [[0, 1, 60, 127]])
    text = " | ".join(warnings)
    assert "2 notes with pitches outside 0-127 dropped (-3, 130)" in text
    assert "1 notes of zero duration dropped" in text
    assert "1 velocities outside 1-127 clipped" in text
    assert all(str(path) in w for w in warnings)


@pytest.mark.parametrize(
    "text, message",
    [
        ("onset,offset,pitch\n0,1,sixty\n", "line 2: pitch 'sixty' is not a number"),
        ("onset,offset,pitch\n0,1\n", "line 2: expected at least 3 fields"),
        ("onset,offset,pitch\n2,1,60\n", "line 2: offset 1 before onset 2"),
        ("onset,offset,pitch\n-1,1,60\n", "negative onset"),
        ("onset,offset,pitch\n0,inf,60\n", "not finite"),
        ("a,b,c\n1,2,3\n", "not a note table"),
        ("file,pitch,velocity,onset,offset\nx.wav,60,100,0,1\n", "table of files"),
        ("1,2\n", "expected 3 or 4 columns"),
        ("", "empty CSV"),
    ],
)
def test_csv_bad(tmp_path, text, message):
    path = write_text(tmp_path / "bad.csv", text)
    with pytest.raises(NmftransError, match="bad.csv") as info:
        read_notes(path)
    assert message in str(info.value)


# ---------------------------------------------------------------------------- JAMS


def _jams(annotations) -> str:
    return json.dumps({"annotations": annotations, "file_metadata": {"duration": 3.0}, "sandbox": {"x": 1}})


def test_jams_two_strings(tmp_path):
    doc = _jams([
        {"namespace": "pitch_contour", "data": {"time": [0.1], "duration": [0], "value": [{"frequency": 440}]}},
        {"namespace": "note_midi", "annotation_metadata": {"data_source": "0"},
         "data": [{"time": 0.5, "duration": 0.5, "value": 40.2, "confidence": None},
                  {"time": 1.0, "duration": 0.25, "value": 45.6, "confidence": None}]},
        {"namespace": "note_midi", "annotation_metadata": {"data_source": "1"},   # dict-of-arrays form
         "data": {"time": [0.5, 1.0], "duration": [0.75, 0.5], "value": [40.0, 47.0], "confidence": [None, None]}},
        {"namespace": "note_midi", "data": []},
    ])
    notes = read_notes(write_text(tmp_path / "g.jams", doc))
    # Unison on two strings at 0.5 s merges into one note (longest offset).
    np.testing.assert_allclose(notes, [[0.5, 1.25, 40, 100], [1.0, 1.25, 46, 100], [1.0, 1.5, 47, 100]])


@pytest.mark.parametrize(
    "text, message",
    [
        (_jams([{"namespace": "note_midi", "data": []}, {"namespace": "chord", "data": []}]), "no note data"),
        (_jams([]), "no note data"),
        ("{not json", "not valid JSON"),
        ("[1, 2]", "not a JAMS file"),
        (_jams([{"namespace": "note_midi", "data": [{"time": "a", "duration": 1, "value": 60}]}]), "not a finite number"),
        (_jams([{"namespace": "note_midi", "data": {"time": [1], "duration": [], "value": [60]}}]), "malformed"),
    ],
)
def test_jams_bad(tmp_path, text, message):
    with pytest.raises(NmftransError, match="bad.jams") as info:
        read_notes(write_text(tmp_path / "bad.jams", text))
    assert message in str(info.value)


# ---------------------------------------------------------------------------- MAPS, madmom


def test_maps_txt(tmp_path):
    text = "OnsetTime\tOffsetTime\tMidiPitch\r\n0.500\t1.200\t60\r\n0.100 0.300 72\r\n\r\n"
    notes = read_notes(write_text(tmp_path / "MAPS_ISOL_NO_F_S0_M60_AkPnBcht.txt", text))
    np.testing.assert_array_equal(notes, [[0.1, 0.3, 72, 100], [0.5, 1.2, 60, 100]])


def test_maps_txt_bad(tmp_path):
    with pytest.raises(NmftransError, match="not a MAPS annotation"):
        read_notes(write_text(tmp_path / "readme.txt", "This is a readme\n"))
    with pytest.raises(NmftransError, match="line 2"):
        read_notes(write_text(tmp_path / "x.txt", "OnsetTime OffsetTime MidiPitch\n0.1 x 60\n"))


def test_madmom_notes(tmp_path):
    text = "# MIDI notes\n0.147\t72\t3.323\t63\n1.567\t41\t0.223\n"
    notes = read_notes(write_text(tmp_path / "s.notes", text))
    np.testing.assert_allclose(notes, [[0.147, 3.47, 72, 63], [1.567, 1.79, 41, 100]])
    with pytest.raises(NmftransError, match="line 1: expected onset, pitch, duration"):
        read_notes(write_text(tmp_path / "b.notes", "0.1 60\n"))


def test_unknown_suffix_and_missing(tmp_path):
    with pytest.raises(NmftransError, match="unsupported annotation format '.xml'"):
        read_notes(tmp_path / "a.xml")
    with pytest.raises(NmftransError, match="not found"):
        read_notes(tmp_path / "missing.csv")


# ---------------------------------------------------------------------------- fuzz

_FUZZ_DIR = Path(tempfile.mkdtemp(prefix="nmftrans-fuzz-"))
atexit.register(shutil.rmtree, _FUZZ_DIR, ignore_errors=True)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    data=st.one_of(
        st.binary(max_size=300),
        st.text(max_size=300).map(lambda s: s.encode("utf-8")),
        st.lists(st.lists(st.sampled_from(["0", "1.5", "-2", "60", "nan", "1e400", "x", '"a"', ""]),
                          max_size=5), max_size=6)
        .map(lambda rows: "\n".join(",".join(r) for r in rows).encode()),
        st.binary(max_size=200).map(lambda b: b"MThd\x00\x00\x00\x06\x00\x01\x00\x02\x01\xe0MTrk" + b),
    ),
    suffix=st.sampled_from([".mid", ".midi", ".csv", ".jams", ".txt", ".notes"]),
)
def test_fuzz_read_notes_raises_only_nmftrans_error(data, suffix):
    path = _FUZZ_DIR / f"fuzz{suffix}"
    path.write_bytes(data)
    try:
        notes = read_notes(path)
    except NmftransError:
        return
    assert notes.ndim == 2 and notes.shape[1] == 4 and notes.dtype == np.float64
    if len(notes):
        assert (notes[:, 1] > notes[:, 0]).all() and (notes[:, 0] >= 0).all()
        assert ((notes[:, 2] >= 0) & (notes[:, 2] <= 127)).all()
        assert ((notes[:, 3] >= 1) & (notes[:, 3] <= 127)).all()


# ---------------------------------------------------------------------------- helpers


def test_empty_notes():
    e = empty_notes()
    assert e.shape == (0, 4) and e.dtype == np.float64


def test_one_voice_per_pitch():
    notes = np.array([[0, 2, 60, 50], [0, 1, 60, 90], [1.5, 3, 60, 40], [0, 5, 62, 10]], float)
    np.testing.assert_array_equal(one_voice_per_pitch(notes), [[0, 1.5, 60, 90], [0, 5, 62, 10], [1.5, 3, 60, 40]])


def test_crop_notes():
    notes = np.array([[0.5, 1.0, 60, 80], [1.5, 3.0, 120, 80], [1.8, 2.5, 64, 80], [2.0, 2.5, 65, 80], [4.0, 5.0, 70, 80]], float)
    cropped, warnings = crop_notes(notes, 2.0, pitch_range=(21, 108))
    np.testing.assert_array_equal(cropped, [[0.5, 1.0, 60, 80], [1.8, 2.0, 64, 80]])
    assert warnings == [
        "annotation runs to 5.0 s but the audio is 2.0 s: 2 notes after the end dropped",
        "2 notes cut at the end of the audio (2.0 s)",
        "1 notes outside the pitch range 21-108 dropped (pitches 120)",
    ]
    same, none = crop_notes(notes[:1], 10.0)
    np.testing.assert_array_equal(same, notes[:1])
    assert none == []
    nothing, none = crop_notes(empty_notes(), 1.0, pitch_range=(21, 108))
    assert nothing.shape == (0, 4) and none == []


def test_notes_to_roll_and_onset_roll():
    notes = np.array([[0.0, 0.3, 60, 80], [0.25, 0.51, 62, 80], [0.2, 0.4, 61, 80], [0.9, 2.0, 64, 80]], float)
    pitches = np.array([60, 62, 64])
    roll = notes_to_roll(notes, 8, 10.0, pitches)  # frames at 0.0, 0.1, ..., 0.7 s
    assert roll.dtype == np.float32 and roll.shape == (3, 8)
    np.testing.assert_array_equal(roll, [
        [1, 1, 1, 0, 0, 0, 0, 0],   # 0.0 <= t < 0.3
        [0, 0, 0, 1, 1, 1, 0, 0],   # 0.25 <= t < 0.51
        [0, 0, 0, 0, 0, 0, 0, 0],   # starts after the last frame; pitch 61 not in pitches
    ])
    att = onset_roll(notes, 8, 10.0, pitches, onset_frames=2)
    np.testing.assert_array_equal(att, [
        [1, 1, 0, 0, 0, 0, 0, 0],
        [0, 0, 0, 1, 1, 0, 0, 0],
        [0, 0, 0, 0, 0, 0, 0, 0],
    ])
    short = np.array([[0.11, 0.12, 60, 80]])
    assert notes_to_roll(short, 4, 10.0, [60]).sum() == 0
    np.testing.assert_array_equal(onset_roll(short, 4, 10.0, [60], onset_frames=3), [[0, 0, 1, 0]])
