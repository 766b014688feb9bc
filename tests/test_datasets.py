"""Tests for nmftrans.io.datasets on small fake dataset trees."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from nmftrans.io.datasets import (
    discover_isolated,
    discover_labelled,
    looks_isolated,
    pitch_from_filename,
    velocity_from_filename,
)
from nmftrans.errors import NmftransError
from tests._make_data import off, on, write_midi, write_text, write_wav

NOTE_CSV = "onset,offset,pitch,velocity\n0.0,0.5,60,80\n0.1,0.4,64,80\n"


@pytest.mark.parametrize(
    "name, pitch",
    [
        ("MAPS_ISOL_NO_F_S0_M60_AkPnBcht.wav", 60),
        ("M60", 60),
        ("piano_M060_v100.flac", 60),
        ("x_M108_", 108),
        ("keyboard_acoustic_004-060-100.wav", 60),
        ("synth_lead_synthetic_000-021-050", 21),
        ("MAPS_MUS-alb_se3_AkPnBcht.wav", None),
        ("track_2019_take3.wav", None),
        ("take-001-002.wav", None),
        ("M60M64", None),
        ("mix_M60_M64", None),      # two pitches: ambiguous
        ("piano_M200_v10.wav", None),
    ],
)
def test_pitch_from_filename(name, pitch):
    assert pitch_from_filename(name) == pitch


def test_velocity_from_filename():
    assert velocity_from_filename("piano_M060_v050.flac") == 50
    assert velocity_from_filename("keyboard_acoustic_004-060-127.wav") == 127
    assert velocity_from_filename("MAPS_ISOL_NO_F_S0_M60_AkPnBcht.wav") is None


# ---------------------------------------------------------------------------- MAESTRO


def _maestro(root: Path, *, column_json: bool = True, csv_meta: bool = False) -> Path:
    records = [
        {"audio_filename": "2018/a.wav", "midi_filename": "2018/a.midi", "split": "train"},
        {"audio_filename": "2018/b.wav", "midi_filename": "2018/b.midi", "split": "test"},
        {"audio_filename": "2017/c.wav", "midi_filename": "2017/c.midi", "split": "validation"},
        {"audio_filename": "2017/gone.wav", "midi_filename": "2017/gone.midi", "split": "train"},
        {"audio_filename": "2017/nomidi.wav", "midi_filename": "2017/nomidi.midi", "split": "train"},
    ]
    if csv_meta:
        rows = ["canonical_title,split,year,midi_filename,audio_filename,duration"]
        rows += [f'"T, x",{r["split"]},2018,{r["midi_filename"]},{r["audio_filename"]},1.0' for r in records]
        write_text(root / "maestro-v3.0.0.csv", "\n".join(rows) + "\n")
    elif column_json:
        cols = {k: {str(i): r[k] for i, r in enumerate(records)} for k in records[0]}
        write_text(root / "maestro-v3.0.0.json", json.dumps(cols))
    else:
        write_text(root / "maestro-v2.0.0.json", json.dumps(records))
    for r in records[:3]:
        write_wav(root / r["audio_filename"])
        write_midi(root / r["midi_filename"], [[(0, on(0, 60)), (480, off(0, 60))]])
    # b.wav was converted to flac: still found
    (root / "2018/b.wav").rename(root / "2018/b.flac")
    write_wav(root / "2017/nomidi.wav")
    write_wav(root / "2019/unlisted.wav")
    write_midi(root / "2019/unlisted.midi", [[(0, on(0, 60)), (480, off(0, 60))]])
    return root


@pytest.mark.parametrize("kind", ["column_json", "records_json", "csv"])
def test_maestro_layout(tmp_path, kind):
    root = _maestro(tmp_path / "maestro", column_json=kind == "column_json", csv_meta=kind == "csv")
    d = discover_labelled([root])
    assert d.layout == "maestro"
    assert [(a.relative_to(root).as_posix(), m.relative_to(root).as_posix()) for a, m in d.pairs] == [
        ("2017/c.wav", "2017/c.midi"),
        ("2018/a.wav", "2018/a.midi"),
        ("2018/b.flac", "2018/b.midi"),
        ("2019/unlisted.wav", "2019/unlisted.midi"),   # not in metadata: paired by stem
    ]
    reasons = {p.name: r for p, r in d.skipped}
    assert "its MIDI 2017/nomidi.midi" in reasons["nomidi.wav"]
    assert reasons[next(n for n in reasons if n.startswith("maestro-v"))] == "1 entries have neither audio nor MIDI here"


def test_maestro_split(tmp_path):
    root = _maestro(tmp_path / "m")
    test = discover_labelled([root], split="test")
    assert [a.name for a, _ in test.pairs] == ["b.flac"]
    assert (root / "2019/unlisted.wav", "not listed in MAESTRO metadata, so its split is unknown") in test.skipped
    train = discover_labelled([root], split="train")
    assert [a.name for a, _ in train.pairs] == ["a.wav"]
    assert discover_labelled([root], split="validation", max_files=5).pairs == [(root / "2017/c.wav", root / "2017/c.midi")]


def test_split_needs_maestro_and_valid_names(tmp_path):
    write_wav(tmp_path / "x.wav")
    with pytest.raises(NmftransError, match="needs MAESTRO metadata"):
        discover_labelled([tmp_path], split="test")
    with pytest.raises(NmftransError, match="split must be one of"):
        discover_labelled([tmp_path], split="dev")
    with pytest.raises(NmftransError, match="^guitarset_audio must be mic or mix"):
        discover_labelled([tmp_path], guitarset_audio="hex")


def test_maestro_bad_metadata(tmp_path):
    write_text(tmp_path / "maestro-v3.0.0.json", "{oops")
    with pytest.raises(NmftransError, match="maestro-v3.0.0.json: unreadable MAESTRO metadata"):
        discover_labelled([tmp_path])
    write_text(tmp_path / "maestro-v3.0.0.json", json.dumps([{"audio_filename": "a.wav"}]))
    with pytest.raises(NmftransError, match="entry 0 lacks"):
        discover_labelled([tmp_path])


# ---------------------------------------------------------------------------- GuitarSet


def _guitarset(root: Path) -> Path:
    for stem in ("00_BN1-129-Eb_comp", "03_BN3-119-G_solo", "05_SS3-98-C_solo"):
        write_text(root / "annotation" / f"{stem}.jams", json.dumps({"annotations": []}))
    write_wav(root / "audio_mono-mic/03_BN3-119-G_solo_mic.wav")
    write_wav(root / "audio_mono-mic/05_SS3-98-C_solo_mic.wav")
    write_wav(root / "audio_mono-mic/99_extra_mic.wav")
    write_wav(root / "audio_mono-pickup_mix/03_BN3-119-G_solo_mix.wav")
    write_wav(root / "audio_hex-pickup_debleeded/03_BN3-119-G_solo_hex_cln.wav")
    return root


def test_guitarset_mic_and_mix(tmp_path):
    root = _guitarset(tmp_path / "GuitarSet")
    d = discover_labelled([root])
    assert d.layout == "guitarset"
    assert d.pairs == [
        (root / "audio_mono-mic/03_BN3-119-G_solo_mic.wav", root / "annotation/03_BN3-119-G_solo.jams"),
        (root / "audio_mono-mic/05_SS3-98-C_solo_mic.wav", root / "annotation/05_SS3-98-C_solo.jams"),
    ]
    assert d.skipped == [
        (root / "annotation/00_BN1-129-Eb_comp.jams", "no audio audio_mono-mic/00_BN1-129-Eb_comp_mic.wav"),
        (root / "audio_mono-mic/99_extra_mic.wav", "no annotation/99_extra.jams"),
    ]
    mix = discover_labelled([root], guitarset_audio="mix")
    assert mix.pairs == [(root / "audio_mono-pickup_mix/03_BN3-119-G_solo_mix.wav", root / "annotation/03_BN3-119-G_solo.jams")]
    assert len(mix.skipped) == 2   # the two jams without a mix recording


def test_guitarset_single_files(tmp_path):
    root = _guitarset(tmp_path / "gs")
    d = discover_labelled([root / "audio_mono-mic/03_BN3-119-G_solo_mic.wav", root / "annotation/05_SS3-98-C_solo.jams"])
    assert d.layout == "file"
    assert [a.name for a, _ in d.pairs] == ["03_BN3-119-G_solo_mic.wav", "05_SS3-98-C_solo_mic.wav"]


# ---------------------------------------------------------------------------- MAPS, generic


def test_maps_layout(tmp_path):
    write_wav(tmp_path / "MUS/MAPS_MUS-alb_se3_AkPnBcht.wav")
    write_text(tmp_path / "MUS/MAPS_MUS-alb_se3_AkPnBcht.txt", "OnsetTime OffsetTime MidiPitch\n0.5 1.0 60\n")
    write_text(tmp_path / "MUS/MAPS_MUS-alb_se3_AkPnBcht.mid", "not read during discovery")
    d = discover_labelled([tmp_path])
    # .mid is preferred over .txt, so this is a generic pair
    assert d.pairs == [(tmp_path / "MUS/MAPS_MUS-alb_se3_AkPnBcht.wav", tmp_path / "MUS/MAPS_MUS-alb_se3_AkPnBcht.mid")]
    (tmp_path / "MUS/MAPS_MUS-alb_se3_AkPnBcht.mid").unlink()
    d = discover_labelled([tmp_path])
    assert d.layout == "maps"
    assert d.pairs[0][1].suffix == ".txt"


def test_generic_layout_preference_and_skips(tmp_path):
    write_wav(tmp_path / "a.flac")
    write_text(tmp_path / "a.csv", NOTE_CSV)
    write_midi(tmp_path / "a.mid", [[(0, on(0, 60)), (480, off(0, 60))]])
    write_wav(tmp_path / "sub/b.wav")
    write_midi(tmp_path / "sub/b.midi", [[(0, on(0, 60)), (480, off(0, 60))]])
    write_wav(tmp_path / "sub/b.flac")                    # same stem, second audio
    write_wav(tmp_path / "lonely.ogg")                    # audio without annotation
    write_text(tmp_path / "orphan.csv", NOTE_CSV)         # annotation without audio
    write_text(tmp_path / "mismatch.csv", NOTE_CSV)       # stems differ from mismatch_take.wav
    write_wav(tmp_path / "mismatch_take.wav")
    write_text(tmp_path / "manifest.csv", "file,instrument\na.flac,piano\n")
    write_text(tmp_path / "notes.csv", "file,pitch\na.flac,60\n")
    write_text(tmp_path / "README.txt", "hello\n")
    write_text(tmp_path / "summary.csv", "name,score\nx,1\n")
    write_wav(tmp_path / ".hidden/x.wav")
    d = discover_labelled([tmp_path])
    assert d.layout == "generic"
    assert d.pairs == [(tmp_path / "a.flac", tmp_path / "a.csv"), (tmp_path / "sub/b.wav", tmp_path / "sub/b.midi")]
    assert d.skipped == [
        (tmp_path / "lonely.ogg", "no annotation with the same name (.csv, .mid, .midi, .jams, .notes, .txt)"),
        (tmp_path / "mismatch.csv", "no audio file with the same name"),
        (tmp_path / "mismatch_take.wav", "no annotation with the same name (.csv, .mid, .midi, .jams, .notes, .txt)"),
        (tmp_path / "orphan.csv", "no audio file with the same name"),
        (tmp_path / "sub/b.flac", "same name as b.wav, which is used"),
    ]
    assert discover_labelled([tmp_path], max_files=1).pairs == d.pairs[:1]
    with pytest.raises(NmftransError, match="^max_files must be at least 1"):
        discover_labelled([tmp_path], max_files=0)


def test_sources_files_dedup_and_order(tmp_path):
    write_wav(tmp_path / "b.wav")
    write_text(tmp_path / "b.csv", NOTE_CSV)
    write_wav(tmp_path / "a.wav")
    write_text(tmp_path / "a.notes", "0.1 60 0.5\n")
    write_text(tmp_path / "x.xml", "")
    d = discover_labelled([tmp_path / "b.wav", tmp_path, tmp_path / "a.notes", tmp_path / "x.xml"])
    assert d.pairs == [(tmp_path / "a.wav", tmp_path / "a.notes"), (tmp_path / "b.wav", tmp_path / "b.csv")]
    assert d.skipped == [(tmp_path / "x.xml", "neither audio nor a note annotation")]
    assert d.layout == "mixed"


def test_empty_folder_and_missing_source(tmp_path):
    d = discover_labelled([tmp_path])
    assert d.pairs == [] and d.skipped == [] and d.layout == "empty"
    with pytest.raises(NmftransError, match="no such file or folder"):
        discover_labelled([tmp_path / "nope"])


# ---------------------------------------------------------------------------- isolated


def test_isolated_table_annotation_and_names(tmp_path):
    # 1. table
    write_text(tmp_path / "tab/notes.csv", "file,pitch,velocity,onset,offset\np1.wav,21,50,0.0,1.5\ngone.wav,22,50,0,1\n")
    write_wav(tmp_path / "tab/p1.wav")
    # 2. same-stem annotation with one note / one pitch repeated / several pitches
    write_wav(tmp_path / "maps/MAPS_ISOL_NO_F_S0_M60_AkPnBcht.wav")
    write_text(tmp_path / "maps/MAPS_ISOL_NO_F_S0_M60_AkPnBcht.txt", "OnsetTime OffsetTime MidiPitch\n0.5 1.9 61\n")
    write_wav(tmp_path / "maps/MAPS_ISOL_RE_F_S0_M62_AkPnBcht.wav")
    write_text(tmp_path / "maps/MAPS_ISOL_RE_F_S0_M62_AkPnBcht.txt",
               "OnsetTime OffsetTime MidiPitch\n0.5 0.9 62\n1.0 1.4 62\n")
    write_wav(tmp_path / "maps/MAPS_ISOL_CH0.1_F_AkPnBcht.wav")
    write_text(tmp_path / "maps/MAPS_ISOL_CH0.1_F_AkPnBcht.txt", "OnsetTime OffsetTime MidiPitch\n0.5 0.9 62\n1.0 1.4 63\n")
    write_wav(tmp_path / "mid/tone.wav")
    write_midi(tmp_path / "mid/tone.mid", [[(0, on(0, 70, 33)), (480, off(0, 70))]])
    write_wav(tmp_path / "bad/x_M50.wav")
    write_text(tmp_path / "bad/x_M50.jams", "{}")
    # 3. names
    write_wav(tmp_path / "names/piano_M060_v100.flac")
    write_wav(tmp_path / "names/keyboard_acoustic_004-064-025.wav")
    write_wav(tmp_path / "names/something.wav")

    iso = discover_isolated([tmp_path])
    got = [(i.audio.relative_to(tmp_path).as_posix(), i.pitch, i.velocity, i.onset, i.offset) for i in iso.items]
    assert got == [
        ("maps/MAPS_ISOL_NO_F_S0_M60_AkPnBcht.wav", 61, None, 0.5, 1.9),   # annotation wins over the name
        ("maps/MAPS_ISOL_RE_F_S0_M62_AkPnBcht.wav", 62, None, 0.5, 1.4),
        ("mid/tone.wav", 70, 33, 0.0, 0.5),
        ("names/keyboard_acoustic_004-064-025.wav", 64, 25, None, None),
        ("names/piano_M060_v100.flac", 60, 100, None, None),
        ("tab/p1.wav", 21, 50, 0.0, 1.5),
    ]
    reasons = {p.relative_to(tmp_path).as_posix(): r for p, r in iso.skipped}
    assert set(reasons) == {"bad/x_M50.wav", "maps/MAPS_ISOL_CH0.1_F_AkPnBcht.wav", "names/something.wav", "tab/gone.wav"}
    assert reasons["maps/MAPS_ISOL_CH0.1_F_AkPnBcht.wav"].endswith("holds 2 pitches: not an isolated note")
    assert reasons["bad/x_M50.wav"].startswith("annotation x_M50.jams unreadable")
    assert reasons["names/something.wav"].startswith("pitch unknown")
    assert "listed in" in reasons["tab/gone.wav"]
    assert len(discover_isolated([tmp_path], max_files=2).items) == 2


def test_isolated_bad_table(tmp_path):
    write_text(tmp_path / "notes.csv", "file,pitch\na.wav,sixty\n")
    write_wav(tmp_path / "a.wav")
    with pytest.raises(NmftransError, match="notes.csv: line 2"):
        discover_isolated([tmp_path])
    write_text(tmp_path / "notes.csv", "file,pitch\na.wav,60.5\n")
    with pytest.raises(NmftransError, match="not a MIDI pitch"):
        discover_isolated([tmp_path])


def test_looks_isolated(tmp_path):
    names = tmp_path / "names"
    for p in (40, 41, 42):
        write_wav(names / f"guitar_M{p:03d}_v100.wav")
    assert looks_isolated([names])

    table = tmp_path / "table"
    write_wav(table / "a.wav")
    write_text(table / "notes.csv", "file,pitch\na.wav,60\n")
    assert looks_isolated([table])

    pieces = tmp_path / "pieces"
    write_wav(pieces / "song.flac")
    write_text(pieces / "song.csv", NOTE_CSV)
    write_text(pieces / "manifest.csv", "file,instrument\nsong.flac,piano\n")
    assert not looks_isolated([pieces])
    assert not looks_isolated([pieces, names])       # a multi-note annotation decides

    assert not looks_isolated([_guitarset(tmp_path / "gs")])
    (tmp_path / "empty_dir").mkdir()
    assert not looks_isolated([tmp_path / "empty_dir"])
