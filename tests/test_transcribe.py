"""The transcription use case: block-parallel solving and flat-memory tracking give the same result."""

from dataclasses import replace

import numpy as np
import pytest
import soundfile as sf

from nmftrans.learn import IsolatedNote, learn_isolated
from nmftrans.transcribe import SolverParams, solver_threads, transcribe_file, transcribe_signal
from tests.synth import SR, example_notes, render, write_isolated

PITCHES = range(52, 72)


@pytest.fixture(scope="module")
def dictionary(tmp_path_factory):
    paths = write_isolated(tmp_path_factory.mktemp("isolated"), PITCHES)
    d, _ = learn_isolated([IsolatedNote(p, int(p.stem[6:9])) for p in paths])
    return d


@pytest.fixture(scope="module")
def piece():
    notes = example_notes(np.random.default_rng(7), pitches=PITCHES, n=24, spacing=0.3)
    return notes, render(notes)


def test_any_number_of_threads_gives_identical_activations(dictionary, piece):
    _, y = piece
    solver = SolverParams(block_s=1.5)  # several blocks
    one = transcribe_signal(y, dictionary, replace(solver, threads=1))
    three = transcribe_signal(y, dictionary, replace(solver, threads=3))
    assert one.activations.shape[1] > 2 * 1.5 * dictionary.settings.frame_rate
    np.testing.assert_array_equal(one.activations, three.activations)
    np.testing.assert_array_equal(one.notes, three.notes)


def test_flat_memory_tracking_gives_the_same_notes(dictionary, piece, tmp_path):
    ref, y = piece
    path = tmp_path / "piece.wav"
    sf.write(path, y, SR)
    solver = SolverParams(block_s=2.0)
    kept = transcribe_file(path, dictionary, solver)
    flat = transcribe_file(path, dictionary, solver, keep_activations=False)
    assert flat.activations is None
    assert len(kept.notes) >= 0.9 * len(ref)
    np.testing.assert_array_equal(kept.notes, flat.notes)


def test_flat_memory_tracking_of_silence(dictionary, tmp_path):
    path = tmp_path / "silence.wav"
    sf.write(path, np.zeros(SR, dtype=np.float32), SR)
    result = transcribe_file(path, dictionary, keep_activations=False)
    assert len(result.notes) == 0 and result.activations is None
    assert "silent" in result.warnings[0]


def test_solver_threads():
    assert solver_threads(3) == 3
    assert solver_threads(0) >= 1
