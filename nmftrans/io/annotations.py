"""Note annotations: readers for common formats.

A **note list** is an ``np.ndarray [shape=(n_notes, 4)], dtype float64`` with the columns

    0. onset in seconds (>= 0)
    1. offset in seconds (> onset)
    2. MIDI pitch (integer-valued, 0-127)
    3. MIDI velocity (integer-valued, 1-127; :data:`DEFAULT_VELOCITY` where a format has none)

sorted by onset, then pitch (:mod:`nmftrans.core.notearrays` holds the array operations on it).

Readers (:func:`read_notes`, or :func:`read_annotation` which also returns warnings) accept

* ``.mid`` / ``.midi``: all tracks merged, tempo map honoured, sustain pedal (CC64) applied,
  one voice per pitch, drum channel 10 ignored;
* ``.csv``: ``onset,offset,pitch[,velocity]`` with or without header (pitches as MIDI numbers or
  note names), Basic Pitch's note events (``start_time_s,end_time_s,pitch_midi,velocity,...``), or the FMP format
  (``"Start";"Duration";"Pitch";"Velocity";"Instrument"``, velocity scaled 0-1);
* ``.jams``: every ``note_midi`` annotation (GuitarSet: one per string), one voice per pitch;
* ``.txt``: MAPS (``OnsetTime OffsetTime MidiPitch``) or MIREX (``onset offset F0``, F0 in Hz:
  told apart by fractional or above-127 values, rounded to the nearest MIDI pitch);
* ``.notes``: madmom (onset, pitch, duration[, velocity]).

Every problem with a file raises :class:`~nmftrans.errors.NmftransError` with a one-line
message naming the file. Nothing here prints: warnings are returned as lists of strings.
"""

from __future__ import annotations

import csv
import io
import json
import math
from pathlib import Path

import numpy as np

from nmftrans.core.notearrays import empty_notes, one_voice_per_pitch, sort_notes
from nmftrans.io.noteformats import ANNOTATION_SUFFIXES, ESTIMATE_SUFFIXES
from nmftrans.errors import NmftransError

__all__ = [
    "DEFAULT_VELOCITY",
    "ANNOTATION_SUFFIXES",
    "read_notes",
    "read_annotation",
    "read_estimate",
    "read_reference",
    "read_note_json",
]

#: Velocity given to notes of formats without velocities (MAPS, JAMS, 3-column CSV).
DEFAULT_VELOCITY = 100

#: Suffixes :func:`read_notes` understands (lower case).

_DRUM_CHANNEL = 9  # MIDI channel 10
_SUSTAIN_CC = 64


# --------------------------------------------------------------------------------------
# Public entry points
# --------------------------------------------------------------------------------------


def read_notes(path: str | Path, *, sustain: bool = True) -> np.ndarray:
    """Read a note annotation, choosing the format by the file suffix.

    Parameters
    ----------
    path : str or Path
        ``.mid``, ``.midi``, ``.csv``, ``.jams``, ``.txt`` (MAPS) or ``.notes`` (madmom).
    sustain : bool
        MIDI only: extend notes held by the sustain pedal (CC64 >= 64).

    Returns
    -------
    notes : np.ndarray [shape=(n_notes, 4)], float64
        See the module docstring. Warnings (dropped notes) are discarded; use
        :func:`read_annotation` to get them.

    Raises
    ------
    NmftransError
        The file is missing, of an unknown type, unparseable, or (MIDI, JAMS) has no notes.
    """
    return read_annotation(path, sustain=sustain)[0]


def read_annotation(path: str | Path, *, sustain: bool = True) -> tuple[np.ndarray, list[str]]:
    """Read a note annotation and report what was dropped on the way.

    Parameters
    ----------
    path : str or Path
        See :func:`read_notes`.
    sustain : bool
        MIDI only: apply the sustain pedal.

    Returns
    -------
    notes : np.ndarray [shape=(n_notes, 4)], float64
    warnings : list of str
        Human-readable lines naming the file, e.g. notes with pitches outside 0-127 dropped.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in ANNOTATION_SUFFIXES:
        raise NmftransError(
            f"{path}: unsupported annotation format {suffix or '(no suffix)'!r}; "
            f"expected one of {', '.join(ANNOTATION_SUFFIXES)}"
        )
    if not path.exists():
        raise NmftransError(f"{path}: annotation file not found")
    if not path.is_file():
        raise NmftransError(f"{path}: not a file")
    try:
        if suffix in (".mid", ".midi"):
            return _read_midi(path, sustain=sustain)
        if suffix == ".jams":
            return _read_jams(path)
        text = _read_text(path)
        if suffix == ".csv":
            rows = _parse_csv(text, path)
        elif suffix == ".txt":
            rows = _parse_maps_txt(text, path)
        else:
            rows = _parse_madmom_notes(text, path)
        return _finalize(rows, path)
    except NmftransError:
        raise
    except (ValueError, TypeError, KeyError, IndexError, AttributeError, OverflowError,
            RecursionError, UnicodeError, EOFError, OSError) as exc:
        # Safety net: a malformed file must never surface as a traceback.
        raise NmftransError(f"{path}: cannot read annotation ({type(exc).__name__}: {exc})") from exc


# --------------------------------------------------------------------------------------
# Estimates and references (evaluate, align)
# --------------------------------------------------------------------------------------


def _json_number(row: dict, key: str, path: Path, k: int) -> float:
    value = row.get(key)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise NmftransError(f"{path}: note {k}: {key} {value!r} is not a finite number")
    return float(value)


def read_note_json(path: str | Path) -> tuple[np.ndarray, list[str]]:
    """Read a JSON note list ``[{"onset", "offset", "pitch", "velocity"}, ...]`` (as ``transcribe --json`` writes).

    ``velocity`` may be missing (:data:`~nmftrans.io.annotations.DEFAULT_VELOCITY`); notes of zero
    duration are dropped with a warning.

    Returns
    -------
    notes : np.ndarray [shape=(n, 4)], sorted by onset then pitch
    warnings : list of str

    Raises
    ------
    NmftransError
        Not JSON, not a list of note objects, or a note with bad values.
    """
    path = Path(path)
    try:
        doc = json.loads(path.read_text(encoding="utf-8-sig"))
    except OSError as exc:
        raise NmftransError(f"{path}: cannot read file ({exc.strerror or exc})") from None
    except (ValueError, RecursionError) as exc:
        raise NmftransError(f"{path}: not valid JSON ({exc})") from None
    if not isinstance(doc, list):
        raise NmftransError(f"{path}: not a JSON note list (expected [{{\"onset\", \"offset\", \"pitch\", \"velocity\"}}, ...])")
    rows = []
    for k, row in enumerate(doc):
        if not isinstance(row, dict):
            raise NmftransError(f"{path}: note {k} is not an object with onset, offset, pitch")
        onset = _json_number(row, "onset", path, k)
        offset = _json_number(row, "offset", path, k)
        pitch = _json_number(row, "pitch", path, k)
        velocity = _json_number(row, "velocity", path, k) if "velocity" in row else float(DEFAULT_VELOCITY)
        if onset < 0 or offset < onset:
            raise NmftransError(f"{path}: note {k}: bad times (onset {onset:g}, offset {offset:g})")
        if not 0 <= round(pitch) <= 127:
            raise NmftransError(f"{path}: note {k}: pitch {pitch:g} outside 0-127")
        rows.append((onset, offset, float(round(pitch)), float(np.clip(round(velocity), 1, 127))))
    warnings = []
    notes = np.array(rows, dtype=np.float64).reshape(-1, 4)
    empty = notes[:, 1] <= notes[:, 0]
    if empty.any():
        warnings.append(f"{path}: {int(empty.sum())} notes of zero duration dropped")
        notes = notes[~empty]
    if len(notes) == 0:
        return empty_notes(), warnings
    return notes[np.lexsort((notes[:, 2], notes[:, 0]))], warnings


def _midi_without_notes(path: Path) -> bool:
    """A readable MIDI file without any (non-drum) note: an empty transcription, not a broken file."""
    import mido

    try:
        mid = mido.MidiFile(str(path), clip=True)
    except Exception:  # noqa: BLE001 - unreadable: let the reader report it
        return False
    return not any(m.type == "note_on" and m.velocity > 0 and m.channel != 9 for t in mid.tracks for m in t)


def read_estimate(path: str | Path, *, sustain: bool = True) -> tuple[np.ndarray, list[str]]:
    """Read estimated notes: ``.mid``/``.midi``, ``.csv``, ``.json`` or MIREX ``.txt``.

    Unlike a reference, an estimate may be empty (a MIDI file without notes, a CSV with only its
    header): it then scores 0.

    Raises
    ------
    NmftransError
        Missing file, unknown format, or a file that cannot be parsed.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in ESTIMATE_SUFFIXES:
        raise NmftransError(f"{path}: unsupported estimate format {suffix or '(no suffix)'!r}; "
                            f"expected one of {', '.join(ESTIMATE_SUFFIXES)}")
    if not path.is_file():
        raise NmftransError(f"{path}: no such file")
    if suffix == ".json":
        return read_note_json(path)
    if suffix == ".txt" and not path.read_text(errors="replace").strip():
        return empty_notes(), []  # a MIREX file of a piece with no notes
    try:
        return read_annotation(path, sustain=sustain)
    except NmftransError:
        if suffix in (".mid", ".midi") and _midi_without_notes(path):
            return empty_notes(), []
        raise


def read_reference(path: str | Path, *, sustain: bool = True, what: str = "reference",
                   empty: str = "nothing to score against") -> tuple[np.ndarray, list[str]]:
    """Read reference notes (any format of :func:`~nmftrans.io.annotations.read_annotation`, or JSON).

    ``what`` names the file in errors (``align`` reads a score with it) and ``empty`` is what an
    empty file means for the caller.

    Raises
    ------
    NmftransError
        The file cannot be read, or it holds no notes (nothing to score against).
    """
    path = Path(path)
    if path.suffix.lower() == ".json":
        if not path.is_file():
            raise NmftransError(f"{path}: {what} file not found")
        notes, warnings = read_note_json(path)
    else:
        notes, warnings = read_annotation(path, sustain=sustain)
    if len(notes) == 0:
        raise NmftransError(f"{path}: the {what} has no notes" + (f"; {empty}" if empty else ""))
    return notes, warnings


# --------------------------------------------------------------------------------------
# Common helpers
# --------------------------------------------------------------------------------------


def _read_text(path: Path) -> str:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise NmftransError(f"{path}: cannot read file ({exc.strerror or exc})") from exc
    if b"\x00" in data:
        raise NmftransError(f"{path}: binary data, not a text annotation")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("latin-1")


def _number(field: str, path: Path, line_no: int, what: str) -> float:
    try:
        value = float(field.strip().strip('"').strip("'"))
    except ValueError:
        raise NmftransError(f"{path}: line {line_no}: {what} {field.strip()!r} is not a number") from None
    if not math.isfinite(value):
        raise NmftransError(f"{path}: line {line_no}: {what} {field.strip()!r} is not finite")
    return value


def _pitch(field: str, path: Path, line_no: int) -> float:
    """A MIDI number, or a note name (``C4``, ``F#2``, ``Bb3``)."""
    text = field.strip().strip('"').strip("'")
    if text and text[0].isalpha():
        from nmftrans.core.pitches import parse_pitch

        try:
            return float(parse_pitch(text))
        except NmftransError:
            raise NmftransError(f"{path}: line {line_no}: pitch {text!r} is not a number nor a note name") from None
    return _number(field, path, line_no, "pitch")


def _check_times(onset: float, offset: float, path: Path, line_no: int) -> None:
    if onset < 0:
        raise NmftransError(f"{path}: line {line_no}: negative onset {onset:g}")
    if offset < onset:
        raise NmftransError(f"{path}: line {line_no}: offset {offset:g} before onset {onset:g}")


def _finalize(rows: list[tuple[float, float, float, float]], path: Path) -> tuple[np.ndarray, list[str]]:
    """Round pitches, drop out-of-range pitches and empty notes, clip velocities, sort."""
    warnings: list[str] = []
    if not rows:
        return empty_notes(), warnings
    notes = np.asarray(rows, dtype=np.float64).reshape(-1, 4)
    notes[:, 2] = np.round(notes[:, 2])
    bad_pitch = (notes[:, 2] < 0) | (notes[:, 2] > 127)
    if bad_pitch.any():
        values = np.unique(notes[bad_pitch, 2])
        shown = ", ".join(f"{v:g}" for v in values[:5]) + (", ..." if len(values) > 5 else "")
        warnings.append(
            f"{path}: {int(bad_pitch.sum())} notes with pitches outside 0-127 dropped ({shown})"
        )
        notes = notes[~bad_pitch]
    empty = notes[:, 1] <= notes[:, 0]
    if empty.any():
        warnings.append(f"{path}: {int(empty.sum())} notes of zero duration dropped")
        notes = notes[~empty]
    vel = np.round(notes[:, 3])
    clipped = (vel < 1) | (vel > 127)
    if clipped.any():
        warnings.append(f"{path}: {int(clipped.sum())} velocities outside 1-127 clipped")
    notes[:, 3] = np.clip(vel, 1, 127)
    return sort_notes(notes), warnings


# --------------------------------------------------------------------------------------
# MIDI
# --------------------------------------------------------------------------------------


def _read_midi(path: Path, *, sustain: bool) -> tuple[np.ndarray, list[str]]:
    import mido

    try:
        mid = mido.MidiFile(str(path), clip=True)
    except Exception as exc:  # mido raises many types (OSError, EOFError, ValueError, KeyError...)
        raise NmftransError(f"{path}: not a readable MIDI file ({type(exc).__name__}: {exc})") from exc
    tpb = mid.ticks_per_beat
    if not isinstance(tpb, int) or tpb <= 0:
        raise NmftransError(f"{path}: unsupported MIDI time division {tpb!r}")

    # Type 2 files hold independent sequences; types 0 and 1 share one tempo map.
    groups = [[t] for t in mid.tracks] if mid.type == 2 else [list(mid.tracks)]
    raw: list[tuple[float, float, float, float]] = []
    for tracks in groups:
        raw.extend(_midi_notes(tracks, tpb, sustain=sustain))
    if not raw:
        raise NmftransError(f"{path}: MIDI file has no notes (drum channel 10 is ignored)")
    notes, warnings = _finalize(raw, path)
    notes = one_voice_per_pitch(notes)
    if len(notes) == 0:
        raise NmftransError(f"{path}: MIDI file has no notes of positive duration")
    return notes, warnings


def _midi_notes(tracks, tpb: int, *, sustain: bool) -> list[tuple[float, float, float, float]]:
    """Notes of tracks sharing one tempo map, pedal applied (tick domain, then seconds)."""
    events = []  # (tick, track, index, msg)
    end_tick = 0
    for ti, track in enumerate(tracks):
        tick = 0
        for i, msg in enumerate(track):
            tick += msg.time
            events.append((tick, ti, i, msg))
        end_tick = max(end_tick, tick)
    events.sort(key=lambda e: (e[0], e[1], e[2]))

    tempo_changes = [(0, 500000)]
    for tick, _, _, msg in events:
        if msg.type == "set_tempo":
            if tick == tempo_changes[-1][0]:
                tempo_changes[-1] = (tick, msg.tempo)
            else:
                tempo_changes.append((tick, msg.tempo))
    seg_ticks = np.array([t for t, _ in tempo_changes], dtype=np.int64)
    seg_tempi = np.array([tp for _, tp in tempo_changes], dtype=np.float64)
    seg_secs = np.zeros(len(seg_ticks))
    for k in range(1, len(seg_ticks)):
        seg_secs[k] = seg_secs[k - 1] + (seg_ticks[k] - seg_ticks[k - 1]) * seg_tempi[k - 1] / (1e6 * tpb)

    def seconds(tick: int) -> float:
        k = int(np.searchsorted(seg_ticks, tick, side="right")) - 1
        return float(seg_secs[k] + (tick - seg_ticks[k]) * seg_tempi[k] / (1e6 * tpb))

    # Pedal intervals per channel, in ticks: list of (down_tick, up_tick).
    pedal: dict[int, list[tuple[int, int]]] = {}
    down_since: dict[int, int] = {}
    for tick, _, _, msg in events:
        if msg.type == "control_change" and msg.control == _SUSTAIN_CC:
            ch = msg.channel
            if msg.value >= 64 and ch not in down_since:
                down_since[ch] = tick
            elif msg.value < 64 and ch in down_since:
                pedal.setdefault(ch, []).append((down_since.pop(ch), tick))
    for ch, start in down_since.items():
        pedal.setdefault(ch, []).append((start, end_tick))

    def pedal_release(ch: int, tick: int) -> int | None:
        # A pedal change at the same tick as the key release counts as already done.
        for down, up in pedal.get(ch, ()):
            if down <= tick < up:
                return up
        return None

    # Pair note-ons with note-offs per (track, channel, pitch), first in first out. A note-off
    # at the tick of a new note-on of the same key closes the earlier notes, not the new one.
    open_notes: dict[tuple[int, int, int], list[tuple[int, int]]] = {}
    raw_ticks: list[tuple[int, int, int, int, int]] = []  # on, off, pitch, vel, channel
    for tick, ti, _, msg in events:
        if msg.type not in ("note_on", "note_off") or msg.channel == _DRUM_CHANNEL:
            continue
        key = (ti, msg.channel, msg.note)
        if msg.type == "note_on" and msg.velocity > 0:
            open_notes.setdefault(key, []).append((tick, msg.velocity))
            continue
        pending = open_notes.get(key)
        if not pending:
            continue
        earlier = [n for n in pending if n[0] != tick]
        if earlier and len(earlier) < len(pending):
            for start, vel in earlier:
                raw_ticks.append((start, tick, msg.note, vel, msg.channel))
            open_notes[key] = [n for n in pending if n[0] == tick]
        else:
            start, vel = pending.pop(0)
            raw_ticks.append((start, tick, msg.note, vel, msg.channel))
    for (ti, ch, note), pending in open_notes.items():
        for start, vel in pending:  # never released: lasts to the end of the file
            raw_ticks.append((start, end_tick, note, vel, ch))

    out = []
    for on, off, note, vel, ch in raw_ticks:
        if sustain:
            up = pedal_release(ch, off)
            if up is not None:
                off = max(off, up)
        out.append((seconds(on), seconds(off), float(note), float(vel)))
    return out


# --------------------------------------------------------------------------------------
# JAMS
# --------------------------------------------------------------------------------------


def _read_jams(path: Path) -> tuple[np.ndarray, list[str]]:
    text = _read_text(path)
    try:
        doc = json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise NmftransError(f"{path}: not valid JSON ({exc})") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("annotations"), list):
        raise NmftransError(f"{path}: not a JAMS file (no 'annotations' list)")
    rows = []
    for k, ann in enumerate(doc["annotations"]):
        if not isinstance(ann, dict) or ann.get("namespace") != "note_midi":
            continue
        for time, duration, value in _jams_observations(ann.get("data"), path, k):
            where = f"annotation {k}"
            t = _jams_number(time, path, where, "time")
            d = _jams_number(duration, path, where, "duration")
            v = _jams_number(value, path, where, "value")
            if t < 0 or d < 0:
                raise NmftransError(f"{path}: {where}: negative time or duration")
            rows.append((t, t + d, v, float(DEFAULT_VELOCITY)))
    if not rows:
        raise NmftransError(f"{path}: no note data (no 'note_midi' observations)")
    notes, warnings = _finalize(rows, path)
    return one_voice_per_pitch(notes), warnings


def _jams_observations(data, path: Path, k: int):
    """Yield (time, duration, value) from a JAMS annotation's data (list or dict of arrays)."""
    if data is None:
        return
    if isinstance(data, list):
        for obs in data:
            if not isinstance(obs, dict):
                raise NmftransError(f"{path}: annotation {k}: observation is not an object")
            yield obs.get("time"), obs.get("duration"), obs.get("value")
    elif isinstance(data, dict):
        cols = [data.get(name) for name in ("time", "duration", "value")]
        if not all(isinstance(c, list) for c in cols) or len({len(c) for c in cols}) != 1:
            raise NmftransError(f"{path}: annotation {k}: malformed data arrays")
        yield from zip(*cols)
    else:
        raise NmftransError(f"{path}: annotation {k}: malformed data")


def _jams_number(value, path: Path, where: str, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise NmftransError(f"{path}: {where}: {what} {value!r} is not a finite number")
    return float(value)


# --------------------------------------------------------------------------------------
# Text formats
# --------------------------------------------------------------------------------------

# start_time_s, end_time_s, pitch_midi: Basic Pitch's note-event CSV (its pitch_bend columns are ignored).
_ONSET_NAMES = ("onset", "onset_time", "onsettime", "start", "start_time", "starttime", "begin", "time",
                "start_time_s", "onset_s")
_OFFSET_NAMES = ("offset", "offset_time", "offsettime", "end", "end_time", "endtime", "stop", "end_time_s",
                 "offset_s")
_DURATION_NAMES = ("duration", "dur", "length")
_PITCH_NAMES = ("pitch", "midi", "midi_pitch", "midipitch", "note", "key", "pitch_midi")
_VELOCITY_NAMES = ("velocity", "vel")


def _find(header: list[str], names: tuple[str, ...]) -> int | None:
    for name in names:
        if name in header:
            return header.index(name)
    return None


def _is_number(field: str) -> bool:
    try:
        float(field.strip().strip('"'))
    except ValueError:
        return False
    return True


def _parse_csv(text: str, path: Path) -> list[tuple[float, float, float, float]]:
    lines = [(i + 1, line) for i, line in enumerate(text.splitlines()) if line.strip()]
    lines = [(i, line) for i, line in lines if not line.lstrip().startswith("#")]
    if not lines:
        raise NmftransError(f"{path}: empty CSV file")
    first = lines[0][1]
    delimiter = ";" if first.count(";") > first.count(",") else ("\t" if "\t" in first and "," not in first else ",")
    try:
        rows = list(csv.reader(io.StringIO("\n".join(line for _, line in lines)), delimiter=delimiter))
    except csv.Error as exc:
        raise NmftransError(f"{path}: malformed CSV ({exc})") from None
    numbered = [(lines[k][0], [f.strip() for f in row]) for k, row in enumerate(rows)]

    header_fields = numbered[0][1]
    if all(_is_number(f) for f in header_fields):
        # No header: onset, offset, pitch[, velocity].
        n_cols = len(header_fields)
        if n_cols not in (3, 4):
            raise NmftransError(
                f"{path}: line {numbered[0][0]}: expected 3 or 4 columns "
                f"(onset, offset, pitch[, velocity]), found {n_cols}"
            )
        cols, body, scale_velocity, has_duration = (0, 1, 2, 3 if n_cols == 4 else None), numbered, False, False
    else:
        header = [f.strip().strip('"').strip("'").strip().lower() for f in header_fields]
        body = numbered[1:]
        if "file" in header or "filename" in header:
            raise NmftransError(
                f"{path}: a table of files (column 'file'), not a note annotation of one audio file"
            )
        onset = _find(header, _ONSET_NAMES)
        offset = _find(header, _OFFSET_NAMES)
        duration = _find(header, _DURATION_NAMES)
        pitch = _find(header, _PITCH_NAMES)
        velocity = _find(header, _VELOCITY_NAMES)
        if onset is None or pitch is None or (offset is None and duration is None):
            raise NmftransError(
                f"{path}: not a note table: header {','.join(header_fields)!r} lacks onset, "
                "offset (or duration) and pitch columns"
            )
        has_duration = offset is None
        cols = (onset, duration if has_duration else offset, pitch, velocity)
        # FMP: "Start";"Duration";"Pitch";"Velocity" with velocity scaled to 0-1.
        scale_velocity = has_duration and header[onset] == "start"

    out = []
    width = max(c for c in cols if c is not None) + 1
    for line_no, fields in body:
        if len(fields) < width:
            raise NmftransError(f"{path}: line {line_no}: expected at least {width} fields, found {len(fields)}")
        t0 = _number(fields[cols[0]], path, line_no, "onset")
        t1 = _number(fields[cols[1]], path, line_no, "duration" if has_duration else "offset")
        if has_duration:
            if t1 < 0:
                raise NmftransError(f"{path}: line {line_no}: negative duration {t1:g}")
            t1 = t0 + t1
        p = _pitch(fields[cols[2]], path, line_no)
        v = float(DEFAULT_VELOCITY) if cols[3] is None else _number(fields[cols[3]], path, line_no, "velocity")
        _check_times(t0, t1, path, line_no)
        out.append([t0, t1, p, v])
    if scale_velocity and out and max(r[3] for r in out) <= 1.0:
        for r in out:
            r[3] = max(1.0, round(r[3] * 127))
    return [tuple(r) for r in out]


def _whitespace_rows(text: str) -> list[tuple[int, list[str]]]:
    rows = []
    for i, line in enumerate(text.splitlines()):
        stripped = line.strip()
        if stripped and not stripped.startswith("#"):
            rows.append((i + 1, stripped.split()))
    return rows


def _parse_maps_txt(text: str, path: Path) -> list[tuple[float, float, float, float]]:
    rows = _whitespace_rows(text)
    if rows and not all(_is_number(f) for f in rows[0][1]):
        header = [f.lower() for f in rows[0][1]]
        if header[:3] != ["onsettime", "offsettime", "midipitch"]:
            raise NmftransError(
                f"{path}: not a MAPS annotation (header 'OnsetTime OffsetTime MidiPitch' expected)"
            )
        rows = rows[1:]
    elif not rows:
        raise NmftransError(f"{path}: empty annotation file")
    out = []
    for line_no, fields in rows:
        if len(fields) < 3:
            raise NmftransError(f"{path}: line {line_no}: expected onset, offset, pitch")
        t0 = _number(fields[0], path, line_no, "onset")
        t1 = _number(fields[1], path, line_no, "offset")
        p = _number(fields[2], path, line_no, "pitch")
        _check_times(t0, t1, path, line_no)
        out.append((t0, t1, p, float(DEFAULT_VELOCITY)))
    # MIREX note tracking: "onset offset F0" with F0 in Hz. Told from MIDI numbers (MAPS) by the
    # values: a fractional or above-127 third column is a frequency.
    if any(r[2] != round(r[2]) or r[2] > 127 for r in out):
        if any(r[2] <= 0 for r in out):
            raise NmftransError(f"{path}: frequencies in Hz must be positive")
        out = [(t0, t1, float(round(69 + 12 * math.log2(f / 440.0))), v) for t0, t1, f, v in out]
    return out


def _parse_madmom_notes(text: str, path: Path) -> list[tuple[float, float, float, float]]:
    rows = _whitespace_rows(text)
    if not rows:
        raise NmftransError(f"{path}: empty annotation file")
    out = []
    for line_no, fields in rows:
        if len(fields) not in (3, 4):
            raise NmftransError(
                f"{path}: line {line_no}: expected onset, pitch, duration[, velocity], "
                f"found {len(fields)} fields"
            )
        t0 = _number(fields[0], path, line_no, "onset")
        p = _number(fields[1], path, line_no, "pitch")
        d = _number(fields[2], path, line_no, "duration")
        v = _number(fields[3], path, line_no, "velocity") if len(fields) == 4 else float(DEFAULT_VELOCITY)
        if d < 0:
            raise NmftransError(f"{path}: line {line_no}: negative duration {d:g}")
        _check_times(t0, t0 + d, path, line_no)
        out.append((t0, t0 + d, p, v))
    return out
