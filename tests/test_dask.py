"""Scaling out: the same searches under joblib's dask backend, views in the workers."""

import os
import pickle
import subprocess
import sys
import textwrap
import warnings
from pathlib import Path

import joblib
import numpy as np
import pytest

distributed = pytest.importorskip("distributed")

from _engines import check_worker_views, classification  # noqa: E402
from _spy import ViewSpy, describe, read_log  # noqa: E402
from sklearn.model_selection import (  # noqa: E402
    GridSearchCV,
    KFold,
    cross_val_predict,
)

import skmemmap  # noqa: E402

pytestmark = pytest.mark.cluster

IMPORT_ROOT = str(Path(skmemmap.__file__).resolve().parent.parent)


@pytest.fixture(scope="module")
def client():
    """One two-process LocalCluster for the module (starting one takes seconds)."""
    with (
        distributed.LocalCluster(
            n_workers=2,
            processes=True,
            threads_per_worker=1,
            # No dashboard; the scheduler's HTTP server (health, metrics) still
            # starts, on a free port so that a second cluster does not warn.
            dashboard_address=None,
            scheduler_kwargs={"dashboard_address": ":0"},
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        yield client


@pytest.fixture
def data(tmp_path):
    return classification(tmp_path)


def check_views(log, X_mm, client):
    check_worker_views(log, X_mm, set(client.run(os.getpid).values()))


def test_grid_search_on_dask_equals_scikit_learn(client, data, tmp_path):
    X, y, X_mm = data
    log = tmp_path / "spy.jsonl"
    grid = {"C": [0.1, 1.0]}
    with warnings.catch_warnings(), joblib.parallel_config(backend="dask"):
        warnings.simplefilter("error", skmemmap.CopyWarning)
        search = GridSearchCV(ViewSpy(log=str(log)), grid, cv=KFold(2), n_jobs=2)
        search.fit(X_mm, y)
    plain = GridSearchCV(ViewSpy(), grid, cv=KFold(2)).fit(X, y)

    check_views(log, X_mm, client)
    for key in ("mean_test_score", "split0_test_score", "split1_test_score"):
        np.testing.assert_array_equal(search.cv_results_[key], plain.cv_results_[key])
    assert search.best_params_ == plain.best_params_


def test_cross_val_predict_on_dask_equals_scikit_learn(client, data, tmp_path):
    X, y, X_mm = data
    log = tmp_path / "spy.jsonl"
    with warnings.catch_warnings(), joblib.parallel_config(backend="dask"):
        warnings.simplefilter("error", skmemmap.CopyWarning)
        pred = cross_val_predict(ViewSpy(log=str(log)), X_mm, y, cv=KFold(2), n_jobs=2)

    check_views(log, X_mm, client)
    np.testing.assert_array_equal(pred, cross_val_predict(ViewSpy(), X, y, cv=KFold(2)))


def test_scatter_and_submit_send_a_reference(client):
    # joblib scatters every argument above 1 kB: dask must not copy the data.
    big = skmemmap.memmap(np.ones((50_000, 20)))  # 8 MB
    _, frames = distributed.protocol.serialize(big[10:])
    assert sum(len(memoryview(f)) for f in frames) < 4096
    [future] = client.scatter([big[10:]])
    is_view, filename, total = client.submit(describe, future).result()
    assert is_view and filename == big.filename and total == float(big[10:].sum())


def test_registration_works_when_distributed_is_imported_later():
    # This module imports distributed first when it runs alone; a user who
    # imports skmemmap first relies on the import hook.
    code = """
        import skmemmap, distributed
        import numpy as np
        from distributed.protocol import serialize
        X = skmemmap.memmap(np.ones((10_000, 10)))
        print(sum(len(memoryview(f)) for f in serialize(X)[1]))
        """
    env = dict(os.environ, PYTHONPATH=IMPORT_ROOT)
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert int(done.stdout) < 4096


def test_worker_without_the_file_names_path_and_remedy(client, tmp_path):
    # As a worker on another machine, without the folder, would see it.
    X_mm = skmemmap.memmap(np.ones((100, 4)), folder=tmp_path)
    view = X_mm[10:20]
    data = pickle.dumps(view)
    os.unlink(X_mm.filename)  # still mapped here, gone for the workers

    future = client.submit(pickle.loads, data, pure=False)
    with pytest.raises(FileNotFoundError) as info:
        future.result()
    message = str(info.value)
    assert X_mm.filename in message
    assert "shared filesystem" in message
    assert "folder=" in message and "SKMEMMAP_FOLDER" in message


def test_worker_decoding_a_missing_file_fails_the_task_and_lives(client, tmp_path):
    # The reference is decoded by the worker as part of the task (not by the
    # task's own code): dask must report a task error, not lose the worker.
    X_mm = skmemmap.memmap(np.ones((100, 4)), folder=tmp_path)
    view = X_mm[10:20]
    workers = set(client.run(os.getpid).values())
    os.unlink(X_mm.filename)  # still mapped here, gone for the workers
    future = client.submit(describe, view, pure=False)
    with pytest.raises(FileNotFoundError) as info:
        future.result(timeout=60)
    assert X_mm.filename in str(info.value)
    assert "skmemmap.distribute(X, client)" in str(info.value)
    assert set(client.run(os.getpid).values()) == workers
    assert client.submit(sum, [1, 2], pure=False).result(timeout=30) == 3


def test_distribute_on_a_shared_filesystem_sends_nothing(client, data):
    _, _, X_mm = data
    assert skmemmap.distribute(X_mm[5:], client) is not None
    assert X_mm._skm_file.copies == []  # every worker opens the file itself


def test_distribute_rejects_what_it_cannot_send(client):
    with pytest.raises(TypeError, match=r"expects a MemmapArray.*skmemmap.memmap"):
        skmemmap.distribute(np.ones((3, 2)), client)


def test_unresolved_reference_raises_at_first_use_and_travels_on(tmp_path):
    from skmemmap._dask import Unresolved
    from skmemmap._mapped import _rebuild

    X_mm = skmemmap.memmap(np.ones((10, 2)), folder=tmp_path)
    _func, args = X_mm[2:4].__reduce__()
    error = FileNotFoundError(2, "Cannot open the skmemmap file 'x'")
    ref = Unresolved(_rebuild, args, error)
    assert "could not be opened" in repr(ref)
    for use in (len, np.asarray, lambda r: r.shape, lambda r: hasattr(r, "iloc")):
        with pytest.raises(FileNotFoundError, match="Cannot open"):
            use(ref)
    assert not hasattr(ref, "__array_interface__")  # probes are not uses
    again = pickle.loads(pickle.dumps(ref))  # re-pickled: the same reference
    assert skmemmap.is_memmap_view(again) and again.shape == (2, 2)


def test_threads_cluster_equals_scikit_learn(data, tmp_path):
    # Scheduler and workers in this process: the scheduler's decoded graph
    # goes to the workers as it is, so references must be arrays there.
    X, y, X_mm = data
    log = tmp_path / "spy.jsonl"
    grid = {"C": [0.1, 1.0]}
    with (
        distributed.LocalCluster(
            n_workers=2,
            processes=False,
            dashboard_address=None,
            scheduler_kwargs={"dashboard_address": ":0"},
        ) as cluster,
        distributed.Client(cluster, set_as_default=False) as threads,
        joblib.parallel_config(backend="dask", client=threads),
    ):
        search = GridSearchCV(ViewSpy(log=str(log)), grid, cv=KFold(2), n_jobs=2)
        search.fit(X_mm, y)
    plain = GridSearchCV(ViewSpy(), grid, cv=KFold(2)).fit(X, y)
    np.testing.assert_array_equal(
        search.cv_results_["mean_test_score"], plain.cv_results_["mean_test_score"]
    )
    records = read_log(log)
    assert len(records) == 2 * 2 * 2 + 1  # folds x candidates x fit/predict, refit
    assert all(r["is_view"] and r["filename"] == X_mm.filename for r in records)
