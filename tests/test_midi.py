import mido
import numpy as np
import pytest

from nmftrans.annotations import read_notes
from nmftrans.errors import NmftransError
from nmftrans.midi import notes_to_csv, notes_to_json, write_midi, write_notes

NOTES = np.array([
    [0.5, 1.25, 60, 80],
    [0.5, 0.75, 64, 100],
    [1.0, 2.0, 67, 40],
    [1.25, 1.5, 60, 90],  # the same pitch again right after the first one ends
])


@pytest.mark.parametrize("tempo", [120.0, 93.0])
def test_midi_round_trip(tmp_path, tempo):
    path = tmp_path / "x.mid"
    write_midi(path, NOTES, tempo=tempo, program=24)
    back = read_notes(path, sustain=False)
    np.testing.assert_allclose(back[:, :2], NOTES[np.lexsort((NOTES[:, 2], NOTES[:, 0]))][:, :2], atol=2e-3)
    np.testing.assert_array_equal(back[:, 2:], NOTES[np.lexsort((NOTES[:, 2], NOTES[:, 0]))][:, 2:])
    programs = [m.program for m in mido.MidiFile(path).tracks[0] if m.type == "program_change"]
    assert programs == [24]


def test_csv_and_json_round_trip(tmp_path):
    path = tmp_path / "x.csv"
    write_notes(path, NOTES)
    back = read_notes(path)
    np.testing.assert_allclose(back, NOTES[np.lexsort((NOTES[:, 2], NOTES[:, 0]))], atol=1e-4)
    assert notes_to_csv(NOTES).splitlines()[0] == "onset,offset,pitch,velocity"
    assert '"pitch": 67' in notes_to_json(NOTES)


def test_empty_note_list_writes_a_valid_midi(tmp_path):
    path = tmp_path / "empty.mid"
    write_midi(path, np.zeros((0, 4)))
    assert len(mido.MidiFile(path).tracks) == 1


def test_bad_output_is_one_error(tmp_path):
    with pytest.raises(NmftransError):
        write_notes(tmp_path / "x.wav", NOTES)
    with pytest.raises(NmftransError, match="does not exist"):
        write_notes(tmp_path / "missing" / "x.mid", NOTES)
    with pytest.raises(NmftransError, match="exists"):
        (tmp_path / "y.mid").write_bytes(b"keep me")
        write_notes(tmp_path / "y.mid", NOTES, overwrite=False)
    assert (tmp_path / "y.mid").read_bytes() == b"keep me"
