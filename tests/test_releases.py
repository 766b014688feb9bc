"""Notes that end with a release tail (a damper, a muted string): the note ends where the key or
string was let go, not where the tail has faded (``NoteParams.release_*``). Synthetic tones, so the
releases are known exactly (no external data)."""

import mir_eval
import numpy as np
import pytest

from nmftrans.core.notes import NoteParams
from nmftrans.transcribe import transcribe_signal
from tests.synth import SR, tone, tone_dictionary


@pytest.fixture(scope="module")
def dictionary(tmp_path_factory):
    """Attack + sustain templates learned from one isolated synthetic tone per pitch."""
    return tone_dictionary(tmp_path_factory.mktemp("isolated"), range(48, 73))


def released_piece(rng, damper_s):
    """Random notes (1-3 at a time) whose sound goes on after each release (the annotated offset),
    falling 60 dB in ``damper_s``; returns the notes and the audio."""
    rows, t = [], 0.3
    for _ in range(24):
        for p in rng.choice(np.arange(48, 73), size=int(rng.integers(1, 4)), replace=False):
            rows.append((t, t + rng.uniform(0.25, 0.9), int(p), int(rng.integers(50, 110))))
        t += rng.uniform(0.3, 0.7)
    notes = np.array(rows, dtype=np.float64)
    y = np.zeros(int((notes[:, 1].max() + damper_s + 0.5) * SR), dtype=np.float32)
    for onset, offset, pitch, velocity in notes:
        x = tone(int(pitch), offset - onset + damper_s, amplitude=0.3 * velocity / 100)
        after = np.arange(len(x)) / SR - (offset - onset)
        x *= 10 ** (-3 * np.maximum(after, 0.0) / damper_s)  # -60 dB in damper_s after the release
        start = int(round(onset * SR))
        y[start:start + len(x)] += x
    return notes[np.lexsort((notes[:, 2], notes[:, 0]))], y


def offsets_within(ref, est, tolerance_s):
    """Share of the onset-matched (50 ms) reference notes whose offset ``est`` gives within
    ``tolerance_s`` (mir_eval.transcription.match_notes)."""
    matched = mir_eval.transcription.match_notes(
        ref[:, :2], mir_eval.util.midi_to_hz(ref[:, 2]), est[:, :2], mir_eval.util.midi_to_hz(est[:, 2]),
        offset_ratio=None)
    assert len(matched) >= 0.9 * len(ref)  # the onsets are found: this is about the ends
    return np.mean([abs(est[j, 1] - ref[i, 1]) <= tolerance_s for i, j in matched])


@pytest.mark.parametrize("damper_s, share", [(0.2, 0.7), (0.5, 0.5)])
def test_notes_end_at_their_release_not_at_the_end_of_its_tail(dictionary, damper_s, share):
    """Offsets within 50 ms of the release: 0.79 and 0.57 of the notes (0.09 and 0.04 without the
    rule, which ends them where the tail fades, 0.05-0.3 s later)."""
    ref, y = released_piece(np.random.default_rng(7), damper_s)
    est = transcribe_signal(y, dictionary).notes
    assert offsets_within(ref, est, 0.05) >= share
    tails = transcribe_signal(y, dictionary, note_params=NoteParams(release_fall_db=0.0)).notes
    assert offsets_within(ref, tails, 0.05) <= 0.2
