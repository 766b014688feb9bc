"""Memory of long files' extras: `--plot` keeps only the activations it draws (max-pooled to the
picture's width), `--sonify` writes its mix block by block."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf
from typer.testing import CliRunner

from nmftrans.cli import app
from tests.synth import SR, render

runner = CliRunner()
# 40 s of notes: about 2760 frames, more than the 2048 columns of a picture
NOTES = np.array([[0.3 + 0.8 * i, 0.8 + 0.8 * i, 60 + (5 * i) % 13, 90] for i in range(49)])


@pytest.fixture(scope="module")
def long_kit(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("memory")
    sf.write(tmp / "long.wav", render(NOTES, tail=0.5), SR)
    assert runner.invoke(app, ["learn", "--harmonic", "--lowest", "C4", "--highest", "C6",
                               "-o", str(tmp / "W.npz")]).exit_code == 0
    return tmp


def test_max_pool_columns_keeps_each_runs_maximum(rng):
    from nmftrans.core.pooling import max_pool_columns

    A = rng.uniform(0, 1, (5, 103))  # runs of 11 columns, the last one 4 long
    pooled = max_pool_columns(A, 10)
    expected = np.array([[max(row[j:j + 11]) for j in range(0, 103, 11)] for row in A], dtype=np.float32)
    assert pooled.dtype == np.float32 and pooled.shape == (5, 10)
    np.testing.assert_array_equal(pooled, expected)
    np.testing.assert_array_equal(max_pool_columns(A[:, :10], 10), A[:, :10].astype(np.float32))  # narrow: as is


@pytest.mark.parametrize("sub_ratio", [None, 0.0])  # the default tracker, and the one that spills
def test_pooled_activations_are_the_column_maxima_of_the_full_ones(long_kit, sub_ratio):
    from dataclasses import replace

    from nmftrans.io.dictionary import load_dictionary
    from nmftrans.core.notes import NoteParams
    from nmftrans.transcribe import SolverParams, transcribe_file

    W = load_dictionary(long_kit / "W.npz")
    params = NoteParams() if sub_ratio is None else replace(NoteParams(), sub_ratio=sub_ratio)
    full = transcribe_file(long_kit / "long.wav", W, SolverParams(), params)
    A = full.activations
    n = A.shape[1]
    # a width whose runs do not divide the frames: the last run is shorter
    limit = next(k for k in range(1000, 500, -1) if n % -(-n // k))
    pooled = transcribe_file(long_kit / "long.wav", W, SolverParams(), params, keep_activations=False,
                             pool_columns=limit)
    assert n > 2048 and pooled.pooled_from == n and full.pooled_from == 0
    step = -(-n // limit)
    expected = np.array([[row[j:j + step].max() for j in range(0, n, step)] for row in A])
    assert pooled.activations.shape == expected.shape and expected.shape[1] <= limit
    np.testing.assert_allclose(pooled.activations, expected, rtol=1e-5, atol=1e-7)
    np.testing.assert_array_equal(pooled.notes, full.notes)


def test_whole_file_plot_gets_only_pooled_activations_and_draws_the_same_picture(long_kit, tmp_path, monkeypatch):
    """`--plot` kept the whole file's activations (a 20-minute file peaked at 395 MB): now the
    transcription hands the plot at most 2048 columns, and the picture is the one drawn from the
    full activations (`--save-activations` keeps those)."""
    pytest.importorskip("matplotlib")
    from matplotlib.axes import Axes

    import nmftrans.transcribe as transcribe

    kept, meshes = [], []
    real_file = transcribe.transcribe_file

    def spy(*args, **kwargs):
        result = real_file(*args, **kwargs)
        kept.append(result.activations)
        return result

    monkeypatch.setattr(transcribe, "transcribe_file", spy)
    real_mesh = Axes.pcolormesh
    monkeypatch.setattr(Axes, "pcolormesh", lambda self, x, y, C, **k: meshes.append((np.asarray(x), np.asarray(C)))
                        or real_mesh(self, x, y, C, **k))
    W = str(long_kit / "W.npz")
    for name, extra in (("pooled", []), ("full", ["--save-activations"])):
        result = runner.invoke(app, ["transcribe", str(long_kit / "long.wav"), "-W", W,
                                     "-o", str(tmp_path / f"{name}.mid"), "--plot", *extra])
        assert result.exit_code == 0, result.output
        assert (tmp_path / f"{name}.png").stat().st_size > 0
    pooled_kept, full_kept = kept
    assert pooled_kept.shape[1] <= 2048 < full_kept.shape[1]
    (x_pooled, image_pooled), (x_full, image_full) = meshes[0], meshes[2]  # [1], [3]: the colour bars
    np.testing.assert_allclose(x_pooled, x_full)
    np.testing.assert_allclose(image_pooled, image_full, rtol=1e-5, atol=1e-5, equal_nan=True)
    n = full_kept.shape[1]
    assert image_full.shape[1] == -(-n // -(-n // 2048))  # pooled by the plot itself, not cropped


def test_sonification_is_written_block_by_block(tmp_path, monkeypatch):
    """`--sonify` held the whole float32 mix (106 MB for 20 minutes) and peaked at 319 MB: the mix
    is now written a block at a time. Measured with tracemalloc on a 10-minute note list (numpy
    reports its buffers to it): the peak is under a quarter of the signal, and the samples are
    those of one note at a time, added up independently here."""
    import tracemalloc

    from nmftrans.io import sonify
    from nmftrans.io.dictionary import load_dictionary

    d = load_dictionary("piano")
    sr = d.settings.sample_rate
    notes = np.array([[0.25 + 2.0 * i, 0.75 + 2.0 * i, 48 + (7 * i) % 24, 100] for i in range(300)])
    signal_bytes = 4 * int(round((notes[-1, 1] + sonify.TAIL_S) * sr))  # the whole float32 mix
    tracemalloc.start()
    sonify.write_sonification(tmp_path / "long.wav", notes, d)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < signal_bytes / 4, (peak, signal_bytes)  # about 9 MB: one chunk of partials, 53 MB of signal
    y, rate = sf.read(tmp_path / "long.wav", dtype="float32")
    assert rate == sr and len(y) * 4 == signal_bytes

    # every block boundary, and a mix that must be scaled down: overlapping loud notes, small blocks
    loud = np.array([[0.01 * k, 0.4 + 0.01 * k, 60 + k % 3, 127] for k in range(12)])
    expected = np.zeros(int(round((loud[:, 1].max() + sonify.TAIL_S) * sr)))
    assert len(expected) < sonify.MIX_BLOCK  # the reference: each note alone, in one block, added here
    for note in loud:  # (one note stays below 0.9: never scaled)
        expected += sonify.sonify_notes(note[None], d, duration=len(expected) / sr)
    expected *= 0.9 / np.abs(expected).max()
    monkeypatch.setattr(sonify, "MIX_BLOCK", 1000)
    sonify.write_sonification(tmp_path / "loud.wav", loud, d)
    y, _ = sf.read(tmp_path / "loud.wav", dtype="float64")
    assert np.abs(expected).max() == pytest.approx(0.9)
    np.testing.assert_allclose(y, expected, atol=2 / 32768)
