"""The transcription use case: block-parallel solving and flat-memory tracking give the same result."""

from dataclasses import replace

import numpy as np
import pytest
import soundfile as sf

from nmftrans.transcribe import SolverParams, solver_threads, transcribe_file, transcribe_signal
from tests.synth import SR, example_notes, render, tone_dictionary

PITCHES = range(52, 72)


@pytest.fixture(scope="module")
def dictionary(tmp_path_factory):
    return tone_dictionary(tmp_path_factory.mktemp("isolated"), PITCHES)


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


def test_first_solve_started_while_reading_changes_nothing(dictionary, piece, monkeypatch):
    """With threads, the first solve of a block's chunks starts as they are read; the result
    is bit for bit that of one thread, which solves each block whole."""
    import nmftrans.transcribe as tr

    _, y = piece
    monkeypatch.setattr(tr, "SOLVE_COLUMNS", 20)  # several whole chunks in each 1 s block
    monkeypatch.setattr(tr, "READ_S", 0.3)
    calls = []
    first_solve = tr._first_solve
    monkeypatch.setattr(tr, "_first_solve", lambda V, *a: calls.append(V.shape[1]) or first_solve(V, *a))
    path_solver = SolverParams(block_s=1.0)
    blocks = [y[i:i + 6615] for i in range(0, len(y), 6615)]
    one = tr.transcribe_blocks(iter(blocks), dictionary, replace(path_solver, threads=1), n_samples_hint=len(y))
    assert calls == []
    two = tr.transcribe_blocks(iter(blocks), dictionary, replace(path_solver, threads=2), n_samples_hint=len(y))
    size = int(round(path_solver.block_s * dictionary.settings.frame_rate))  # frames in a block
    n_blocks = one.activations.shape[1] // size
    assert n_blocks >= 4 and len(calls) >= (size // 20 - 1) * n_blocks and set(calls) == {20}
    np.testing.assert_array_equal(one.activations, two.activations)
    np.testing.assert_array_equal(one.notes, two.notes)


@pytest.mark.parametrize("read_rows", [None, 1, 5])
def test_flat_memory_tracking_gives_the_same_notes(dictionary, piece, tmp_path, monkeypatch, read_rows):
    import nmftrans.transcribe as tr

    ref, y = piece
    path = tmp_path / "piece.wav"
    sf.write(path, y, SR)
    solver = SolverParams(block_s=2.0)
    kept = transcribe_file(path, dictionary, solver)
    if read_rows is not None:  # spilled rows read back and tracked this many at a time
        monkeypatch.setattr(tr, "SPILL_READ_BYTES", 4 * read_rows * kept.activations.shape[1])
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


@pytest.mark.parametrize("size", [1, 7, 50])
def test_frame_blocks_cut_any_pieces_into_blocks_of_the_solver_size(rng, size):
    from nmftrans.transcribe import _FrameBlocks

    for _ in range(20):
        pieces = [rng.random((3, int(n)), dtype=np.float32) for n in rng.integers(0, 40, rng.integers(1, 12))]
        cutter = _FrameBlocks(size)
        blocks = []
        for i, p in enumerate(pieces):
            for b, index, own in cutter.push(p, last=i == len(pieces) - 1):
                # the block's own frames are those of the block that was filled for it
                assert index == len(blocks) and own == min(b.shape[1], size)
                blocks.append(b)
        total = sum(p.shape[1] for p in pieces)
        joined = np.concatenate([np.zeros((3, 0), np.float32)] + pieces, axis=1)
        np.testing.assert_array_equal(np.concatenate([np.zeros((3, 0), np.float32)] + blocks, axis=1), joined)
        sizes = [b.shape[1] for b in blocks]
        assert all(n == size for n in sizes[:-1])
        if total >= size:  # a short rest joins the last full block
            assert size // 2 <= sizes[-1] < size + max(1, size // 2)


def test_result_does_not_depend_on_how_the_audio_arrives(dictionary, piece, tmp_path, monkeypatch):
    import nmftrans.transcribe as tr

    _, y = piece
    path = tmp_path / "piece.wav"
    sf.write(path, y, SR)
    solver = SolverParams(block_s=1.5)
    whole = transcribe_file(path, dictionary, solver)
    monkeypatch.setattr(tr, "READ_S", 0.37)  # audio read in other pieces: the same frames and blocks
    pieces = transcribe_file(path, dictionary, solver)
    np.testing.assert_array_equal(pieces.activations, whole.activations)
    monkeypatch.setattr(tr, "SOLVE_COLUMNS", 40)  # columns of H solved apart: equal up to BLAS rounding
    columns = transcribe_file(path, dictionary, solver)
    np.testing.assert_allclose(columns.activations, whole.activations, rtol=0, atol=1e-5)
    np.testing.assert_allclose(columns.notes, whole.notes, rtol=0, atol=1e-6)  # onsets interpolate activations
