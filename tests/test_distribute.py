"""dask workers on "other machines": no shared filesystem, skmemmap.distribute.

Each worker runs in its own mount namespace with an empty tmpfs over the
test's skmemmap base folder, so it cannot see the client's files, as on
another machine or in a Kubernetes pod. The scheduler runs in its own process
and *can* see them (a shared filesystem): it must still never map one.

Run them alone with ``pytest -m cluster tests/test_distribute.py`` (as root, or
wherever ``unshare --mount`` is allowed).
"""

import contextlib
import json
import os
import shutil
import subprocess
import sys
import time
import warnings
from pathlib import Path

import joblib
import numpy as np
import pytest

distributed = pytest.importorskip("distributed")

from _spy import ViewSpy, describe, read_log  # noqa: E402
from sklearn.model_selection import GridSearchCV, KFold  # noqa: E402

import skmemmap  # noqa: E402

pytestmark = pytest.mark.cluster

ROOT = str(Path(skmemmap.__file__).resolve().parent.parent)
TESTS = str(Path(__file__).resolve().parent)


def _unshare_allowed():
    if shutil.which("unshare") is None:
        return "the unshare command is not installed"
    done = subprocess.run(
        ["unshare", "--mount", "--propagation", "private", "true"],
        capture_output=True,
        text=True,
    )
    if done.returncode:
        return f"unshare --mount is not permitted here ({done.stderr.strip()})"
    return None


def _wait_for(predicate, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.2)
    raise TimeoutError(f"{what} did not happen within {timeout} s")


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """A scheduler process and two workers isolated from the client's folder."""
    reason = _unshare_allowed()
    if reason:
        pytest.skip(f"Simulating separate machines needs unshare: {reason}")
    base = tmp_path_factory.mktemp("skm-base")  # hidden from the workers
    logs = tmp_path_factory.mktemp("cluster-logs")  # visible to all
    env = dict(
        os.environ,
        PYTHONPATH=os.pathsep.join([ROOT, TESTS]),
        SKMEMMAP_FOLDER=str(base),
        DASK_DISTRIBUTED__WORKER__DAEMON="False",
    )
    scheduler_file = logs / "scheduler.json"
    procs = []

    def start(args, name):
        out = open(logs / f"{name}.log", "w")  # noqa: SIM115 - closed at teardown
        proc = subprocess.Popen(args, env=env, stdout=out, stderr=subprocess.STDOUT)
        procs.append((proc, out))
        return proc

    try:
        scheduler = start(
            [
                sys.executable,
                "-m",
                "distributed.cli.dask_scheduler",
                "--scheduler-file",
                str(scheduler_file),
                "--no-dashboard",
                "--host",
                "127.0.0.1",
                "--port",
                "0",
            ],
            "scheduler",
        )
        _wait_for(scheduler_file.exists, 60, "the scheduler start")
        address = json.loads(scheduler_file.read_text())["address"]
        worker_cmd = (
            f"mount -t tmpfs -o size=256m tmpfs {base} && exec {sys.executable} -m "
            f"distributed.cli.dask_worker {address} --no-nanny --nthreads 1 "
            f"--no-dashboard --memory-limit 0 --host 127.0.0.1"
        )
        workers = [
            start(
                [
                    "unshare",
                    "--mount",
                    "--propagation",
                    "private",
                    "sh",
                    "-c",
                    worker_cmd,
                ],
                f"worker{i}",
            )
            for i in range(2)
        ]
        client = distributed.Client(address, timeout=60)
        try:
            client.wait_for_workers(2, timeout=60)
            yield {
                "client": client,
                "base": base,
                "scheduler": scheduler,
                "workers": workers,
                "logs": logs,
            }
        finally:
            client.close()
    finally:
        for proc, _ in procs:
            proc.terminate()
        for proc, out in procs:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            out.close()


@pytest.fixture(scope="module")
def data(cluster):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((400, 6))
    y = (X[:, 0] + 0.5 * rng.standard_normal(400) > 0).astype(int)
    return X, y


def _alive(cluster):
    assert all(p.poll() is None for p in cluster["workers"]), "a worker process died"
    assert len(cluster["client"].scheduler_info()["workers"]) == 2


def _search(X, y, log=None):
    grid = {"C": [0.1, 1.0]}
    return GridSearchCV(ViewSpy(log=log), grid, cv=KFold(2), n_jobs=2).fit(X, y)


def test_workers_are_isolated_from_the_client_folder(cluster, data):
    X_mm = skmemmap.memmap(data[0], folder=cluster["base"])
    seen = cluster["client"].run(os.path.exists, X_mm.filename)
    assert list(seen.values()) == [False, False]
    assert os.path.exists(X_mm.filename)


def test_search_without_distribute_fails_the_task_not_the_workers(cluster, data):
    X, y = data
    X_mm = skmemmap.memmap(X, folder=cluster["base"])
    start = time.monotonic()
    with (
        joblib.parallel_config(backend="dask"),
        pytest.raises(FileNotFoundError) as info,
    ):
        _search(X_mm, y)
    assert time.monotonic() - start < 60
    message = str(info.value)
    assert X_mm.filename in message
    assert "shared filesystem mounted at the same path" in message
    assert "skmemmap.distribute(X, client)" in message
    _alive(cluster)
    # The workers still serve the next call.
    client = cluster["client"]
    assert client.submit(sum, [1, 2], pure=False).result(timeout=30) == 3


def test_submit_without_distribute_raises_in_the_task(cluster):
    client = cluster["client"]
    X_mm = skmemmap.memmap(np.ones((100, 3)), folder=cluster["base"])
    future = client.submit(describe, X_mm[10:20], pure=False)
    with pytest.raises(FileNotFoundError, match=r"skmemmap\.distribute"):
        future.result(timeout=60)
    _alive(cluster)


def test_search_after_distribute_equals_scikit_learn(cluster, data, tmp_path):
    X, y = data
    client = cluster["client"]
    log = cluster["logs"] / "spy-distribute.jsonl"
    X_mm = skmemmap.memmap(X, folder=cluster["base"])
    assert skmemmap.distribute(X_mm, client) is X_mm
    with warnings.catch_warnings(), joblib.parallel_config(backend="dask"):
        warnings.simplefilter("error", skmemmap.CopyWarning)
        search = _search(X_mm, y, log=str(log))
    plain = GridSearchCV(ViewSpy(), {"C": [0.1, 1.0]}, cv=KFold(2)).fit(X, y)

    for key in ("mean_test_score", "split0_test_score", "split1_test_score"):
        np.testing.assert_array_equal(search.cv_results_[key], plain.cv_results_[key])
    assert search.best_params_ == plain.best_params_
    records = read_log(log)
    workers = set(client.run(os.getpid).values())
    in_workers = [r for r in records if r["pid"] in workers]
    assert {r["method"] for r in in_workers} == {"fit", "predict"}
    assert len(in_workers) == 2 * 2 * 2  # 2 candidates x 2 folds x fit+predict
    for r in records:
        assert r["is_view"] and not r["owndata"], r
        # In a worker, a view of its own copy; in the client (refit), of X's file.
        assert (r["filename"] == X_mm.filename) == (r["pid"] == os.getpid()), r
    _alive(cluster)


def _received(client):
    from skmemmap import _distribute

    def report():
        return dict(_distribute._received), {
            k: v[0] for k, v in _distribute._copies.items()
        }

    return client.run(report)


def test_distribute_sends_the_file_once_per_worker(cluster):
    client = cluster["client"]
    X_mm = skmemmap.memmap(np.arange(300_000.0).reshape(-1, 3), folder=cluster["base"])
    file_size = os.path.getsize(X_mm.filename)
    key = X_mm._skm_file.key
    skmemmap.distribute(X_mm, client)
    skmemmap.distribute(X_mm[10:])  # the default client; there already: no resend
    state = _received(client)
    for received, copies in state.values():
        assert received[copies[key]] == file_size
    # Views and folds resolve to the copy, with the same bytes.
    total = float(X_mm[1000:2000].sum())
    for worker, (is_view, filename, got) in client.run(
        describe, X_mm[1000:2000]
    ).items():
        assert is_view and filename == state[worker][1][key]
        assert got == total


def test_copies_go_when_the_array_is_released(cluster):
    import gc

    client = cluster["client"]
    X_mm = skmemmap.memmap(np.ones((1000, 4)), folder=cluster["base"])
    key = X_mm._skm_file.key
    skmemmap.distribute(X_mm, client)
    paths = [copies[key] for _, copies in _received(client).values()]
    assert all(client.run(os.path.exists, p) for p in paths)
    del X_mm
    gc.collect()

    def gone():
        return all(
            key not in copies for _, copies in _received(client).values()
        ) and not any(any(client.run(os.path.exists, p).values()) for p in paths)

    _wait_for(gone, 30, "removal of the workers' copies")


def test_copies_go_when_the_client_closes(cluster):
    client = cluster["client"]
    X_mm = skmemmap.memmap(np.ones((1000, 4)), folder=cluster["base"])
    key = X_mm._skm_file.key
    address = client.scheduler.address
    with distributed.Client(address, timeout=60, set_as_default=False) as other:
        skmemmap.distribute(X_mm, other)
        paths = [copies[key] for _, copies in _received(client).values()]
        assert len(paths) == 2
    # X_mm is still alive here: only the client's closing removes the copies.

    def gone():
        return not any(any(client.run(os.path.exists, p).values()) for p in paths)

    _wait_for(gone, 30, "removal of the workers' copies")
    assert all(key not in copies for _, copies in _received(client).values())


def test_scheduler_never_maps_the_data(cluster, data):
    X, y = data
    client = cluster["client"]
    # The scheduler shares the client's filesystem: it could open the file.
    X_mm = skmemmap.memmap(X, folder=cluster["base"])
    pid = cluster["scheduler"].pid
    skmemmap.distribute(X_mm, client)
    with joblib.parallel_config(backend="dask"):
        _search(X_mm, y)
    client.submit(describe, X_mm[5:50], pure=False).result(timeout=60)
    with open(f"/proc/{pid}/maps") as f:
        mapped = [line for line in f if ".npy" in line]
    assert mapped == []
    with contextlib.suppress(FileNotFoundError):
        assert ".npy" not in "".join(os.listdir(f"/proc/{pid}/map_files"))
