"""The one note-file format table: everything it says is written can be read back as an estimate,
every suffix list of the package is drawn from it, and an unknown suffix is refused in one line."""

from __future__ import annotations

import numpy as np
import pytest

from nmftrans.errors import NmftransError
from nmftrans.io.annotations import read_annotation, read_estimate
from nmftrans.io.midi import write_notes
from nmftrans.io.noteformats import (ANNOTATION_SUFFIXES, ESTIMATE_SUFFIXES, NOTE_FORMATS, OUTPUT_SUFFIXES,
                                     SCORE_SUFFIXES)

NOTES = np.array([[0.5, 1.0, 60, 80], [0.5, 2.25, 64, 100], [1.5, 1.75, 67, 30]], dtype=np.float64)


@pytest.mark.parametrize("suffix", OUTPUT_SUFFIXES)
def test_every_written_format_reads_back_as_an_estimate(tmp_path, suffix):
    path = tmp_path / f"song{suffix}"
    write_notes(path, NOTES)
    notes, warnings = read_estimate(path)
    assert warnings == []
    # MIDI at 120 bpm / 480 ticks: times on a 1/960 s grid, exact for these values.
    np.testing.assert_allclose(notes, NOTES, atol=1e-3)


def test_the_suffix_lists_follow_the_table():
    rows = {f.suffix: f for f in NOTE_FORMATS}
    assert len(rows) == len(NOTE_FORMATS)
    assert set(ANNOTATION_SUFFIXES) == {s for s, f in rows.items() if f.annotation_rank is not None}
    assert set(ESTIMATE_SUFFIXES) == {s for s, f in rows.items() if f.estimate_rank is not None}
    assert set(OUTPUT_SUFFIXES) == {s for s, f in rows.items() if f.written}
    assert set(SCORE_SUFFIXES) >= set(ANNOTATION_SUFFIXES)
    # Preference orders: a reference prefers CSV (the datasets' own tables), an estimate MIDI.
    assert ANNOTATION_SUFFIXES[0] == ".csv" and ESTIMATE_SUFFIXES[0] == ".mid"


@pytest.mark.parametrize("reader", [read_annotation, read_estimate])
def test_an_unknown_suffix_is_refused_in_one_line_naming_the_known_ones(tmp_path, reader):
    path = tmp_path / "song.xml"
    path.write_text("<notes/>")
    with pytest.raises(NmftransError) as err:
        reader(path)
    message = str(err.value)
    assert "\n" not in message and "'.xml'" in message and ".mid" in message
