"""Shared pytest fixtures."""

import numpy as np
import pytest


@pytest.fixture
def rng() -> np.random.Generator:
    """A seeded random generator, fresh for each test."""
    return np.random.default_rng(0)


@pytest.fixture(scope="module")
def local_cluster():
    """An in-process dask LocalCluster with two single-threaded workers (skipped without dask)."""
    distributed = pytest.importorskip("distributed")
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                                       dashboard_address=None, silence_logs=50)
    yield cluster
    cluster.close()
