"""nmftrans.parallel: ordered results, per-item errors, sums, and the dask path."""

import functools
import os
import socket

import numpy as np
import pytest

from nmftrans import parallel
from nmftrans.core.threads import thread_budget
from nmftrans.errors import NmftransError


def square_or_fail(x):
    """Top-level (picklable) worker: fails for multiples of 3, like a bad file in a batch."""
    if x % 3 == 0:
        raise NmftransError(f"item {x}: bad")
    return x * x


def stats(x, scale=1.0):
    """Sufficient statistics of an item: a matrix and a vector, as learn's X Yᵀ and Y Yᵀ."""
    rng = np.random.default_rng(x)
    a = rng.random((4, 3)) * scale
    return a, a.sum(axis=0)


def stats_or_fail(x):
    if x == 2:
        raise NmftransError("no notes")
    if x == 4:
        return None  # contributes nothing
    return stats(x)


def buggy(x):
    if x == 1:
        raise ValueError("a bug")
    return x


def worker_env(_):
    return os.environ.get("OMP_NUM_THREADS"), thread_budget()


def _summarise(gen):
    return [(item, result, None if error is None else str(error)) for item, result, error in gen]


ITEMS = list(range(10))
EXPECTED = [(x, None, f"item {x}: bad") if x % 3 == 0 else (x, x * x, None) for x in ITEMS]


def test_serial_in_order_with_errors():
    assert _summarise(parallel.map_ordered(square_or_fail, ITEMS)) == EXPECTED


def test_processes_match_serial():
    out = list(parallel.map_ordered(square_or_fail, ITEMS, jobs=2))
    assert _summarise(out) == EXPECTED
    assert all(isinstance(e, NmftransError) for _, _, e in out if e is not None)


def test_empty_and_generator_input():
    assert list(parallel.map_ordered(square_or_fail, [], jobs=2)) == []
    assert _summarise(parallel.map_ordered(square_or_fail, iter(ITEMS), jobs=1)) == EXPECTED


def test_other_exceptions_propagate():
    with pytest.raises(ValueError, match="a bug"):
        list(parallel.map_ordered(buggy, range(5)))
    with pytest.raises(ValueError, match="a bug"):
        list(parallel.map_ordered(buggy, range(5), jobs=2))


def test_workers_are_single_threaded():
    out = list(parallel.map_ordered(worker_env, range(2), jobs=2))
    assert [r for _, r, _ in out] == [("1", 1), ("1", 1)]


def test_reduce_sum_identical_for_any_jobs():
    items = list(range(6))
    expected = tuple(sum(stats(x)[k] for x in items) for k in range(2))
    for jobs in (1, 2):
        sums, failed = parallel.reduce_sum(stats, items, jobs=jobs)
        np.testing.assert_array_equal(sums[0], expected[0])  # same order: same bits
        np.testing.assert_array_equal(sums[1], expected[1])
        assert failed == []


def test_reduce_sum_skips_errors_and_none():
    sums, failed = parallel.reduce_sum(stats_or_fail, range(6), jobs=2)
    expected = sum(stats(x)[0] for x in (0, 1, 3, 5))
    np.testing.assert_array_equal(sums[0], expected)
    assert [(item, str(err)) for item, err in failed] == [(2, "no notes")]
    sums, failed = parallel.reduce_sum(stats_or_fail, [2, 4])
    assert sums is None and [item for item, _ in failed] == [2]


def test_reduce_sum_does_not_modify_results():
    a = np.ones(3)
    sums, _ = parallel.reduce_sum(lambda x: (a,), range(3))  # jobs=1: any callable
    np.testing.assert_array_equal(sums[0], 3.0)
    np.testing.assert_array_equal(a, 1.0)


def test_runner_reuses_workers_with_partial():
    with parallel.Runner(jobs=2) as run:
        first, _ = run.reduce_sum(functools.partial(stats, scale=1.0), range(4))
        second, _ = run.reduce_sum(functools.partial(stats, scale=2.0), range(4))
    np.testing.assert_allclose(second[0], 2 * first[0])


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_unreachable_scheduler_is_one_line_error():
    pytest.importorskip("distributed")
    address = f"tcp://127.0.0.1:{_free_port()}"
    runner = parallel.Runner(scheduler=address, connect_timeout=1.0)
    with pytest.raises(NmftransError, match="cannot reach the dask scheduler") as info:
        list(runner.map_ordered(square_or_fail, [1]))
    assert "\n" not in str(info.value)
    assert address in str(info.value)


def test_missing_dask_is_one_line_error(monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_distributed(name, *args, **kwargs):
        if name == "distributed" or name.startswith("distributed."):
            raise ImportError("no distributed")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_distributed)
    with pytest.raises(NmftransError, match=r"install nmftrans\[cluster\]"):
        list(parallel.map_ordered(square_or_fail, [1], scheduler="tcp://127.0.0.1:1"))


def test_dask_map_ordered(local_cluster):
    assert _summarise(parallel.map_ordered(square_or_fail, ITEMS, scheduler=local_cluster)) == EXPECTED
    # by address too, as the CLI passes it
    out = parallel.map_ordered(square_or_fail, ITEMS, scheduler=local_cluster.scheduler_address)
    assert _summarise(out) == EXPECTED


def test_dask_reduce_sum(local_cluster):
    serial, _ = parallel.reduce_sum(stats_or_fail, range(6))
    sums, failed = parallel.reduce_sum(stats_or_fail, range(6), scheduler=local_cluster)
    np.testing.assert_array_equal(sums[0], serial[0])
    np.testing.assert_array_equal(sums[1], serial[1])
    assert [(item, str(err)) for item, err in failed] == [(2, "no notes")]


def test_dask_bug_propagates(local_cluster):
    with pytest.raises(ValueError, match="a bug"):
        list(parallel.map_ordered(buggy, range(4), scheduler=local_cluster))


def test_malformed_scheduler_address():
    pytest.importorskip("distributed")
    with pytest.raises(NmftransError, match="use tcp://HOST:PORT"):
        list(parallel.map_ordered(square_or_fail, [1], scheduler="no-port-here"))
