"""Soft notes struck again every 0.25 s under a louder held note (issue 16): synthetic tones with a
5 ms attack, so the notes are known exactly (no external data).

Two renderings of the same notes: *damped*, each strike's sound ends (30 ms release) where the
next strike of its pitch starts, as a piano's damper would; *ringing*, every strike sounds on for
1 s under the following ones (sustain pedal, or a string struck again while it vibrates), so a new
strike adds a quarter to a third to an activation that is already high.
"""

import mir_eval
import numpy as np
import pytest

from nmftrans.transcribe import transcribe_signal
from tests.synth import SR, render, tone, tone_dictionary

HELD = 50  # D3, velocity 100, held under the soft strikes
SOFT_CHORDS = [(57, 64), (55, 59, 66)]  # 7-16 semitones above it: none a partial of it
PERIOD, STRIKES, SOFT_VELOCITY = 0.25, 10, 30


@pytest.fixture(scope="module")
def dictionary(tmp_path_factory):
    """Attack + sustain templates learned from one isolated synthetic tone per pitch."""
    return tone_dictionary(tmp_path_factory.mktemp("isolated"), range(48, 70))


def restrike_piece(soft):
    """Reference notes (one voice per pitch: a strike ends where the next one starts) and the
    strikes ``(onset, pitch)``."""
    rows = [(0.2, 0.2 + PERIOD * STRIKES + 0.3, HELD, 100)]
    strikes = []
    for k in range(STRIKES):
        t = 0.2 + PERIOD * k
        for p in soft:
            rows.append((t, t + PERIOD if k + 1 < STRIKES else t + 1.0, p, SOFT_VELOCITY))
            strikes.append((t, p))
    notes = np.array(rows, dtype=np.float64)
    return notes[np.lexsort((notes[:, 2], notes[:, 0]))], strikes


def render_ringing(ref, strikes, ring_s=1.0):
    """Every strike sounds for ``ring_s`` whatever follows it (added to the strikes still sounding)."""
    total = int((ref[:, 1].max() + ring_s + 0.5) * SR)
    y = np.zeros(total, dtype=np.float32)
    held = tone(HELD, PERIOD * STRIKES + 0.3, amplitude=0.3)
    y[int(0.2 * SR):int(0.2 * SR) + len(held)] += held
    for t, p in strikes:
        x = tone(p, ring_s, amplitude=0.3 * SOFT_VELOCITY / 100)
        start = int(round(t * SR))
        y[start:start + len(x)] += x[: total - start]
    return y


def recall(ref, est):
    """Onset-only (50 ms) recall of ``ref`` by ``est``, via mir_eval.transcription."""
    if len(est) == 0:
        return 0.0
    _, r, _, _ = mir_eval.transcription.precision_recall_f1_overlap(
        ref[:, :2], mir_eval.util.midi_to_hz(ref[:, 2]), est[:, :2], mir_eval.util.midi_to_hz(est[:, 2]),
        offset_ratio=None)
    return r


@pytest.mark.parametrize("soft", SOFT_CHORDS, ids=["two", "three"])
def test_damped_restrikes_under_a_held_note_are_found(dictionary, soft):
    """Measured: soft strikes found 18/20 and 24/30, the held note too. Fails when a note can only
    restart from near silence (NoteParams(rise_ratio=10): 2/20 and 3/30)."""
    ref, _ = restrike_piece(soft)
    est = transcribe_signal(render(ref), dictionary).notes
    assert recall(ref[ref[:, 3] < 100], est) >= 0.75
    assert recall(ref[ref[:, 2] == HELD], est) == 1.0


@pytest.mark.xfail(strict=True, reason="known limit (issue 16): a strike added to a note that still rings "
                   "raises its activation by a quarter to a third, below the tracker's rise_ratio 1.5; "
                   "no onset evidence tried so far (attack templates, spectral flux at the pitch's "
                   "partials, activation dips) found these without false alarms elsewhere")
@pytest.mark.parametrize("soft", SOFT_CHORDS, ids=["two", "three"])
def test_restrikes_that_ring_on_under_a_held_note_are_found(dictionary, soft):
    """The issue's case: >= 90 % of the soft strikes found. Measured: 3/20 and 5/30 (the first
    strike of each pitch and one or two more); the same strikes damped: 18/20 and 24/30."""
    ref, strikes = restrike_piece(soft)
    est = transcribe_signal(render_ringing(ref, strikes), dictionary).notes
    assert recall(ref[ref[:, 3] < 100], est) >= 0.9
