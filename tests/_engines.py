"""Data and checks shared by the dask and Ray engine tests."""

import os

import numpy as np
from _spy import read_log

import skmemmap


def classification(folder):
    """``(X, y, X_mm)``: 300 x 5, a learnable target, X mapped in ``folder``."""
    rng = np.random.default_rng(0)
    X = rng.standard_normal((300, 5))
    y = (X[:, 0] + 0.5 * rng.standard_normal(300) > 0).astype(int)
    return X, y, skmemmap.memmap(X, folder=folder)


def check_worker_views(log, X_mm, workers=None):
    """Every fit and predict got a view of X_mm's file, some in a worker.

    ``workers``: the engine's worker pids, or None for "any other process".
    """
    records = read_log(log)
    if workers is None:
        in_workers = [r for r in records if r["pid"] != os.getpid()]
    else:
        in_workers = [r for r in records if r["pid"] in workers]
    assert in_workers, "no record from a worker"
    assert {r["method"] for r in in_workers} == {"fit", "predict"}
    for r in records:
        assert r["is_view"] and not r["owndata"], r
        assert r["filename"] == X_mm.filename, r
