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
    """Measured: soft strikes found 20/20 and 30/30 (18/20 and 24/30 without the re-strike split),
    the held note too. Fails when a note can only restart from near silence
    (NoteParams(rise_ratio=10, restrike_ratio=0): 2/20 and 3/30)."""
    ref, _ = restrike_piece(soft)
    est = transcribe_signal(render(ref), dictionary).notes
    assert recall(ref[ref[:, 3] < 100], est) >= 0.75
    assert recall(ref[ref[:, 2] == HELD], est) == 1.0


@pytest.mark.parametrize("soft", SOFT_CHORDS, ids=["two", "three"])
def test_restrikes_that_ring_on_under_a_held_note_are_found(dictionary, soft):
    """The issue's case: >= 90 % of the soft strikes found. Measured: 20/20 and 28/30 with the
    re-strike split of :mod:`nmftrans.core.onset_channel`; without it (``NoteParams(restrike_ratio=0)``)
    3/20 and 5/30 (the first strike of each pitch and one or two more)."""
    ref, strikes = restrike_piece(soft)
    est = transcribe_signal(render_ringing(ref, strikes), dictionary).notes
    assert recall(ref[ref[:, 3] < 100], est) >= 0.9
    assert recall(ref[ref[:, 2] == HELD], est) == 1.0


def test_restrike_splits_do_not_depend_on_threads_reads_or_spilling(dictionary, tmp_path):
    """The partial-rise channel streams with the audio: any read size, thread count and spilled
    tracking give the same notes, and the splits are there (more notes than without them)."""
    import dataclasses

    import soundfile as sf

    from nmftrans.core.notes import NoteParams
    from nmftrans.transcribe import SolverParams, transcribe_blocks, transcribe_file

    ref, strikes = restrike_piece(SOFT_CHORDS[1])
    y = render_ringing(ref, strikes)
    solver = SolverParams(block_s=1.0, threads=1)
    whole = transcribe_signal(y, dictionary, solver).notes
    off = transcribe_signal(y, dictionary, solver, NoteParams(restrike_ratio=0)).notes
    assert len(whole) >= len(off) + 15
    pieces = transcribe_blocks(iter(np.array_split(y, 37)), dictionary, dataclasses.replace(solver, threads=2),
                               n_samples_hint=len(y)).notes
    np.testing.assert_array_equal(pieces, whole)
    sf.write(tmp_path / "ringing.wav", y, SR, subtype="FLOAT")
    spilled = transcribe_file(tmp_path / "ringing.wav", dictionary, solver, keep_activations=False).notes
    np.testing.assert_array_equal(spilled, whole)
