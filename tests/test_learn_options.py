"""learn --harmonic --tolerance / --pitches-from, --one-template, --no-fill."""

import numpy as np
import pytest
from typer.testing import CliRunner

from nmftrans.cli import app
from nmftrans.io.dictionary import ROLE_SUSTAIN, load_dictionary
from nmftrans.learn import IsolatedNote, learn_isolated
from nmftrans.io.midi import notes_to_csv
from tests.synth import write_isolated

runner = CliRunner()


@pytest.fixture(scope="module")
def notes_folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("isolated")
    write_isolated(folder, [60, 62, 64])
    return folder


def test_one_template_pools_attack_and_sustain(notes_folder):
    items = [IsolatedNote(p, int(p.stem[6:9])) for p in sorted(notes_folder.glob("*.wav"))]
    two, _ = learn_isolated(items)
    one, _ = learn_isolated(items, one_template=True)
    assert [int(p) for p in one.pitches] == [60, 61, 62, 63, 64] and (one.roles == ROLE_SUSTAIN).all()
    for p in (60, 62, 64):
        j = int(np.flatnonzero(one.pitches == p)[0])
        both = two.W[:, two.pitches == p].sum(axis=1)  # attack + sustain, each of unit sum
        np.testing.assert_allclose(one.W[:, j], both / both.sum(), rtol=1e-5, atol=1e-8)


def test_no_fill_leaves_pitches_without_data_out(notes_folder, tmp_path):
    for flags, expected in (([], list(range(58, 67))), (["--no-fill"], [60, 62, 64])):
        out = tmp_path / f"d{len(flags)}.npz"
        r = runner.invoke(app, ["learn", str(notes_folder), "--lowest", "58", "--highest", "66", "-o", str(out), "-q"]
                          + flags)
        assert r.exit_code == 0, r.stderr
        assert [int(p) for p in load_dictionary(str(out)).pitch_set] == expected


def test_harmonic_tolerance_widens_the_partials(tmp_path):
    widths = []
    for tol in ("0.01", "0.1"):
        out = tmp_path / f"h{tol}.npz"
        r = runner.invoke(app, ["learn", "--harmonic", "--lowest", "60", "--highest", "60", "--tolerance", tol,
                                "-o", str(out)])
        assert r.exit_code == 0, r.stderr
        widths.append(int((load_dictionary(str(out)).W[:, 0] > 0).sum()))
    assert widths[1] > 2 * widths[0]


def test_pitches_from_a_score(tmp_path):
    score = tmp_path / "score.csv"
    score.write_text(notes_to_csv(np.array([[0, 1, 62, 80], [1, 2, 55, 80], [2, 3, 62, 80], [3, 4, 70, 80]])))
    out = tmp_path / "h.npz"
    r = runner.invoke(app, ["learn", "--harmonic", "--pitches-from", str(score), "-o", str(out)])
    assert r.exit_code == 0, r.stderr
    assert [int(p) for p in load_dictionary(str(out)).pitch_set] == [55, 62, 70]


@pytest.mark.parametrize("args, message", [
    (["--harmonic", "--tolerance", "0"], "--tolerance must be above 0 and at most 0.5"),
    (["--harmonic", "--tolerance", "0.6"], "--tolerance must be above 0 and at most 0.5"),
    (["x", "--tolerance", "0.05"], "give --harmonic"),
    (["x", "--pitches-from", "s.mid"], "give --harmonic"),
    (["--harmonic", "--one-template"], "not --harmonic"),
    (["--harmonic", "--no-fill"], "not --harmonic"),
])
def test_learn_option_errors_are_one_line_usage_errors(tmp_path, args, message):
    r = runner.invoke(app, ["learn", "-o", str(tmp_path / "d.npz")] + args)
    assert r.exit_code == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0]


def test_comb_share_blends_the_learned_sustain_templates_with_their_combs(notes_folder, tmp_path):
    """--comb-share 0.3: each learned sustain template is 0.7 of itself plus 0.3 of its pitch's comb
    (the comb as `learn --harmonic` writes it), renormalised; attack templates and the harmonic
    templates of pitches without data stay as they are."""
    paths = {}
    for name, flags in (("plain", []), ("blend", ["--comb-share", "0.3"])):
        paths[name] = tmp_path / f"{name}.npz"
        r = runner.invoke(app, ["learn", str(notes_folder), "-o", str(paths[name]), "-q"] + flags)
        assert r.exit_code == 0, r.stderr
    paths["comb"] = tmp_path / "comb.npz"
    r = runner.invoke(app, ["learn", "--harmonic", "--lowest", "60", "--highest", "64", "-o", str(paths["comb"])])
    assert r.exit_code == 0, r.stderr
    plain, blend, comb = (load_dictionary(str(paths[k])) for k in ("plain", "blend", "comb"))
    np.testing.assert_array_equal(plain.pitches, blend.pitches)
    np.testing.assert_array_equal(plain.roles, blend.roles)
    for j, (p, role) in enumerate(zip(plain.pitches, plain.roles)):
        if role == ROLE_SUSTAIN and p in (60, 62, 64):
            c = comb.W[:, int(np.flatnonzero(comb.pitches == p)[0])].astype(np.float64)
            expected = 0.7 * plain.W[:, j] / plain.W[:, j].sum() + 0.3 * c / c.sum()
            np.testing.assert_allclose(blend.W[:, j], expected / expected.sum(), rtol=1e-5, atol=1e-9)
            assert not np.allclose(blend.W[:, j], plain.W[:, j], rtol=1e-3)
        else:
            np.testing.assert_array_equal(blend.W[:, j], plain.W[:, j])


@pytest.mark.parametrize("flags, fragment", [
    (["--comb-share", "1.5"], "--comb-share must be between 0 and 1"),
    (["--comb-share", "-0.1"], "--comb-share must be between 0 and 1"),
])
def test_comb_share_out_of_range_is_a_usage_error(notes_folder, tmp_path, flags, fragment):
    r = runner.invoke(app, ["learn", str(notes_folder), "-o", str(tmp_path / "x.npz")] + flags)
    assert r.exit_code == 2 and fragment in r.stderr and not (tmp_path / "x.npz").exists()
