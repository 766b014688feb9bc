import mido
import numpy as np
import pytest

from nmftrans.io.annotations import read_notes
from nmftrans.errors import NmftransError
from nmftrans.io.midi import notes_to_csv, notes_to_json, write_midi, write_notes

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


def test_midi_clips_out_of_range_values_to_a_valid_file(tmp_path):
    """Messages are written without mido's own checks: the writer's clipping is what keeps the file
    valid. A note before 0 s starts at 0; pitch and velocity outside 0-127 are clipped."""
    path = tmp_path / "x.mid"
    write_midi(path, np.array([[-0.5, 0.25, 60, 90], [0.5, 1.0, 200, 300], [0.5, 1.0, -3, 0]]))
    events = [m for m in mido.MidiFile(path).tracks[0] if m.type in ("note_on", "note_off")]
    assert all(m.time >= 0 and 0 <= m.note <= 127 and 0 <= m.velocity <= 127 for m in events)
    back = read_notes(path, sustain=False)
    assert back[:, 2].tolist() == [60, 0, 127] and back[:, 3].tolist() == [90, 1, 127]
    np.testing.assert_allclose(back[:, 0], [0.0, 0.5, 0.5], atol=2e-3)


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


# --- the bytes of the file, read by a second reader --------------------------------------------


def _read_smf(data: bytes):
    """A minimal Standard MIDI File reader written from the SMF 1.0 specification (not mido, not
    nmftrans): the header ``(format, n_tracks, division)`` and each track's events as
    ``(absolute tick, status byte, data bytes)``, in file order. Handles running status, meta
    (``0xFF``) and sysex events."""
    assert data[:4] == b"MThd" and int.from_bytes(data[4:8], "big") == 6
    header = tuple(int.from_bytes(data[i:i + 2], "big") for i in (8, 10, 12))
    pos, tracks = 14, []
    while pos < len(data):
        assert data[pos:pos + 4] == b"MTrk", data[pos:pos + 4]
        end = pos + 8 + int.from_bytes(data[pos + 4:pos + 8], "big")
        pos += 8
        events, tick, status = [], 0, None

        def varlen():
            nonlocal pos
            value = 0
            while True:
                byte = data[pos]
                pos += 1
                value = (value << 7) | (byte & 0x7F)
                if byte < 0x80:
                    return value

        while pos < end:
            tick += varlen()
            if data[pos] >= 0x80:
                status = data[pos]
                pos += 1
            if status == 0xFF:
                kind = data[pos]
                pos += 1
                length = varlen()
                events.append((tick, 0xFF, bytes([kind]) + data[pos:pos + length]))
                pos += length
            elif status in (0xF0, 0xF7):
                length = varlen()
                events.append((tick, status, data[pos:pos + length]))
                pos += length
            else:
                n = 1 if status >> 4 in (0xC, 0xD) else 2
                events.append((tick, status, data[pos:pos + n]))
                pos += n
        assert pos == end
        tracks.append(events)
    return header, tracks


def _note_events(events):
    """``(tick, 'on'/'off', pitch, velocity)`` in file order; a note_on of velocity 0 is an off."""
    out = []
    for tick, status, body in events:
        if status >> 4 == 0x9 and body[1] > 0:
            out.append((tick, "on", body[0], body[1]))
        elif status >> 4 in (0x8, 0x9):
            out.append((tick, "off", body[0], 0))
    return out


def _play_sequentially(events, ticks_per_s):
    """What a strictly sequential player sounds: a note_on of a sounding pitch is lost, a note_off
    ends the sounding note. Returns ``(onset, offset, pitch, velocity)`` rows sorted like note lists."""
    sounding, played = {}, []
    for tick, kind, pitch, velocity in events:
        if kind == "on" and pitch not in sounding:
            sounding[pitch] = (tick, velocity)
        elif kind == "off" and pitch in sounding:
            start, v = sounding.pop(pitch)
            played.append((start / ticks_per_s, tick / ticks_per_s, pitch, v))
    played.sort(key=lambda r: (r[0], r[2]))
    return np.array(played, dtype=float).reshape(-1, 4)


@pytest.mark.parametrize("bpm", [120.0, 93.0])
def test_midi_bytes_have_the_notes_in_order_with_offs_before_ons(tmp_path, bpm):
    """The file's bytes, read without mido: one track with the tempo, the program and each note's
    on and off at ``round(seconds * 480 * bpm / 60)`` ticks, sorted by tick; at one tick the
    note_offs come first, so the 60 struck again at 1.25 s (where the first 60 ends) is a new
    note for a player that reads the events one by one."""
    path = tmp_path / "x.mid"
    write_midi(path, NOTES, tempo=bpm, program=24)
    (fmt, n_tracks, division), tracks = _read_smf(path.read_bytes())
    assert (fmt, n_tracks, division) == (1, 1, 480)
    events = tracks[0]
    us_per_beat = round(60e6 / bpm)
    assert events[0] == (0, 0xFF, b"\x51" + us_per_beat.to_bytes(3, "big"))
    assert events[1] == (0, 0xC0, bytes([24]))
    assert events[-1][1:] == (0xFF, b"\x2f")  # end of track
    tick = lambda s: round(s * 480 * bpm / 60)  # noqa: E731
    expected = sorted([(tick(on), "on", int(p), int(v)) for on, _, p, v in NOTES]
                      + [(tick(off), "off", int(p), 0) for _, off, p, _ in NOTES],
                      key=lambda e: (e[0], e[1] == "on", e[2]))
    assert _note_events(events) == expected
    restrike = tick(1.25)
    assert [e[1] for e in _note_events(events) if e[0] == restrike and e[2] == 60] == ["off", "on"]
    # a strictly sequential player hears all four notes, at their times (to a tick)
    played = _play_sequentially(_note_events(events), 480 * bpm / 60)
    np.testing.assert_allclose(played, NOTES[np.lexsort((NOTES[:, 2], NOTES[:, 0]))], atol=1.0 / (480 * bpm / 60))


def test_mido_reads_the_same_messages_in_the_same_order(tmp_path):
    """mido's raw messages (a second reader) agree with the byte reader, event by event."""
    path = tmp_path / "x.mid"
    write_midi(path, NOTES, tempo=120.0, program=0)
    _, tracks = _read_smf(path.read_bytes())
    tick, from_mido = 0, []
    for msg in mido.MidiFile(path).tracks[0]:
        tick += msg.time
        if msg.type == "note_on" and msg.velocity > 0:
            from_mido.append((tick, "on", msg.note, msg.velocity))
        elif msg.type in ("note_on", "note_off"):
            from_mido.append((tick, "off", msg.note, 0))
    assert from_mido == _note_events(tracks[0])
    assert [e[:2] for e in from_mido] == [(480, "on"), (480, "on"), (720, "off"), (960, "on"), (1200, "off"),
                                          (1200, "on"), (1440, "off"), (1920, "off")]


def test_short_and_soft_notes_stay_notes_in_midi(tmp_path):
    """A note shorter than a tick still lasts one tick, and velocity 0.3 is written as 1 (a
    note_on of velocity 0 would be a note_off)."""
    path = tmp_path / "x.mid"
    write_midi(path, np.array([[1.0, 1.0002, 60, 0.3], [1.0, 1.5, 64, 127.4]]))
    _, tracks = _read_smf(path.read_bytes())
    assert _note_events(tracks[0]) == [(960, "on", 60, 1), (960, "on", 64, 127), (961, "off", 60, 0),
                                       (1440, "off", 64, 0)]


def test_csv_text_is_exact():
    """CSV: the header, times to 0.1 ms, pitch and velocity rounded to integers, sorted as given."""
    text = notes_to_csv(np.array([[0.12344, 0.5, 60.2, 79.6], [1.23456, 2.0, 64, 100]]))
    assert text == "onset,offset,pitch,velocity\n0.1234,0.5000,60,80\n1.2346,2.0000,64,100\n"
