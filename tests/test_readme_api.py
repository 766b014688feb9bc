"""The README's "Python API" section: its code block runs as written (tests/test_shell.py) and the
calls its closing sentence names work as named: ``transcribe_file(path, W)``,
``write_notes(path, notes)`` and ``NoteParams``."""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

import mido
import numpy as np
import soundfile as sf

README = Path(__file__).resolve().parents[1] / "README.md"


def _section() -> str:
    text = README.read_text()
    return re.search(r"## Python API\n(.*?)\n## ", text, re.S).group(1)


def test_the_calls_the_python_api_section_names_work_as_named(tmp_path):
    section = _section()
    for name in ("nmftrans.transcribe.transcribe_file(path, W)", "nmftrans.io.midi.write_notes(path, notes)",
                 "nmftrans.core.notes.NoteParams"):
        assert name in section
    scope: dict = {}
    block = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    with contextlib.redirect_stdout(io.StringIO()):
        exec(compile(block, "README.md", "exec"), scope)
    from nmftrans.io.midi import write_notes
    from nmftrans.core.notes import NoteParams
    from nmftrans.transcribe import transcribe_file

    W, y = scope["W"], 0.2 * scope["y"].astype(np.float32)
    path = tmp_path / "c4.wav"
    sf.write(path, y, W.settings.sample_rate, subtype="FLOAT")  # the block's signal, as a file
    notes = transcribe_file(path, W).notes
    np.testing.assert_array_equal(notes, scope["notes"])  # the same samples give the same notes
    write_notes(tmp_path / "c4.mid", notes)
    ons, seconds = [], 0.0
    for message in mido.MidiFile(tmp_path / "c4.mid"):  # mido's reader, in seconds
        seconds += message.time
        if message.type == "note_on" and message.velocity > 0:
            ons.append((message.note, seconds))
    assert [p for p, _ in ons] == [60] and abs(ons[0][1] - 0.5) < 0.05
    # NoteParams holds the tracker's settings: an onset threshold above the normalised peak (1)
    # leaves no note
    assert NoteParams().onset_threshold == 0.3
    assert len(transcribe_file(path, W, note_params=NoteParams(onset_threshold=1.5)).notes) == 0
