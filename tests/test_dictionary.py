import json

import numpy as np
import pytest

from nmftrans.io.dictionary import (SHIPPED, Dictionary, load_dictionary, save_dictionary, shipped_path)
from nmftrans.errors import NmftransError
from nmftrans.core.features import frequencies
from nmftrans.learn import learn_harmonic
from nmftrans.core.settings import FeatureSettings


@pytest.fixture
def small():
    return learn_harmonic((48, 60), FeatureSettings(hop_length=512))


def test_round_trip(tmp_path, small):
    path = tmp_path / "W.npz"
    save_dictionary(small, path)
    loaded = load_dictionary(path)
    np.testing.assert_array_equal(loaded.W, small.W)
    np.testing.assert_array_equal(loaded.pitches, np.arange(48, 61))
    assert loaded.settings == small.settings
    assert loaded.beta == small.beta
    assert loaded.provenance["method"] == "harmonic"
    assert not list(tmp_path.glob("*.part*"))


def _tamper(tmp_path, small, **changes):
    path = tmp_path / "W.npz"
    save_dictionary(small, path)
    with np.load(path, allow_pickle=False) as npz:
        arrays = dict(npz)
    for key, value in changes.items():
        if value is None:
            arrays.pop(key)
        else:
            arrays[key] = value
    bad = tmp_path / "bad.npz"
    np.savez(bad, **arrays)
    return bad


def test_floor_octaves_round_trip_and_absent_by_default(tmp_path, small):
    assert small.floor_octaves is None
    save_dictionary(small, tmp_path / "plain.npz")
    assert load_dictionary(tmp_path / "plain.npz").floor_octaves is None
    with np.load(tmp_path / "plain.npz") as npz:
        assert "floor_octaves" not in npz.files  # files without it stay as they were
    import dataclasses

    save_dictionary(dataclasses.replace(small, floor_octaves=0.25), tmp_path / "narrow.npz")
    assert load_dictionary(tmp_path / "narrow.npz").floor_octaves == 0.25
    with pytest.raises(NmftransError, match="floor_octaves must be between 0"):
        dataclasses.replace(small, floor_octaves=-1.0)


@pytest.mark.parametrize("changes, message", [
    ({"floor_octaves": np.array(float("nan"))}, "floor_octaves must be between 0"),
    ({"floor_octaves": np.array([0.25, 0.5])}, "entry 'floor_octaves' must be a number"),
    ({"floor_octaves": np.array("0.25")}, "entry 'floor_octaves' must be numeric"),
    ({"W": None}, "missing W"),
    ({"pitches": None}, "missing pitches"),
    ({"W": np.ones((10, 13), np.float32)}, "frequency bins"),
    ({"pitches": np.arange(5)}, "templates"),
    ({"W": -np.ones((1, 1))}, "W has 1 templates but 13 pitches"),
    ({"format": np.array("something-else")}, "not an nmftrans dictionary"),
    ({"version": np.array(99)}, "version"),
    ({"settings": np.array('{"frontend": "cqt"}')}, "front end"),
    ({"provenance": np.array("not json")}, "provenance"),
    ({"pitches": np.array([1, 2], dtype=object)}, "object arrays"),
])
def test_tampered_files_are_rejected_with_one_line(tmp_path, small, changes, message):
    bad = _tamper(tmp_path, small, **changes)
    with pytest.raises(NmftransError) as err:
        load_dictionary(bad)
    assert message in str(err.value)
    assert "\n" not in str(err.value)


def test_negative_templates_are_rejected(tmp_path, small):
    bad = _tamper(tmp_path, small, W=-small.W)
    with pytest.raises(NmftransError, match="W has negative or non-finite values"):
        load_dictionary(bad)
    nan = small.W.copy()
    nan[3, 2] = np.nan
    with pytest.raises(NmftransError, match="W has negative or non-finite values"):
        load_dictionary(_tamper(tmp_path, small, W=nan))


def test_non_npz_and_missing(tmp_path):
    junk = tmp_path / "junk.npz"
    junk.write_bytes(b"not a zip file at all")
    with pytest.raises(NmftransError, match="not a valid"):
        load_dictionary(junk)
    with pytest.raises(NmftransError, match="no such"):
        load_dictionary(tmp_path / "missing.npz")


def test_dictionary_of_other_settings_is_rejected(small):
    with pytest.raises(NmftransError, match="frequency bins"):
        Dictionary(small.W, small.pitches, small.roles, FeatureSettings(n_fft=4096), 1.0, {})


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_dictionaries_load(name):
    d = load_dictionary(name)
    assert shipped_path(name).is_file()
    assert d.W.shape == (len(frequencies(d.settings)), len(d.pitches))
    assert d.provenance["method"] in ("isolated", "labelled")
    lo, hi = (21, 108) if name == "piano" else (40, 88)
    assert d.pitch_set.min() <= lo and d.pitch_set.max() >= hi
    # provenance says where the templates came from and which GM program plays them back
    program = 0 if name == "piano" else 24
    assert d.provenance["program"] == program and f"GM program {program}" in d.provenance["description"]
    assert d.provenance["sources"][0] == f"isolated/{name}-fluidr3"
    assert d.provenance["learned"] == list(range(lo, hi + 1))
    if name == "guitar":  # also the steel-string guitar's notes, rendered by the build script; narrow floors
        assert d.provenance["sources"][1:] == ['rendered: FluidR3_GM.sf2 program 25, FluidR3 GM "Steel String '
                                               'Guitar" (GM program 25)']
        assert d.provenance["n_files"] == 2 * 98 and d.floor_octaves == 0.25
    else:
        assert len(d.provenance["sources"]) == 1 and d.floor_octaves is None
    assert json.loads(json.dumps(d.provenance)) == d.provenance  # plain JSON values only


def test_a_checkout_without_the_installed_dictionaries_package_finds_them_beside_the_package(monkeypatch):
    """A non-editable install run against the checkout (CI's ``pythonpath = '.'``) has no
    ``nmftrans.dictionaries`` package: the shipped files are then read from ``dictionaries/``."""
    import importlib.resources

    from nmftrans.io.dictionary import shipped_path

    def missing(name):
        raise ModuleNotFoundError(name)

    monkeypatch.setattr(importlib.resources, "files", missing)
    for name in ("piano", "guitar"):
        path = shipped_path(name)
        assert path.is_file() and path.parent.name == "dictionaries" and path.parent.parent.joinpath("nmftrans").is_dir()
