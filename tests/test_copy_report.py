"""Copy events from every process, and the copy report that brings them back."""

import gc
import json
import multiprocessing
import os
import subprocess
import sys
import warnings

import numpy as np
import pytest
from sklearn.linear_model import Ridge
from sklearn.model_selection import GridSearchCV, KFold

import skmemmap
from skmemmap import ContiguousKFold, CopyWarning, MemmapEstimator, _copies

sys.path.insert(0, os.path.dirname(__file__))
from _copy_helpers import ReportRidge, append_many
from _helpers import folder_files

TESTS_DIR = os.path.dirname(os.path.abspath(__file__))


def _data(n_samples=2000, n_features=20):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((n_samples, n_features))
    return X, X @ rng.standard_normal(n_features)


def _grid_search(cv, estimator=None, **kwargs):
    return GridSearchCV(
        MemmapEstimator(Ridge() if estimator is None else estimator),
        {"estimator__alpha": [0.1, 1.0, 10.0]},
        cv=cv,
        n_jobs=2,
        **kwargs,
    )


def _matching(record, pattern):
    return [str(w.message) for w in record if pattern in str(w.message)]


# -- the "done when" --------------------------------------------------------
def test_five_fold_search_reports_each_cause_once_in_the_parent(folder):
    X, y = _data()
    # 100 KB: each middle training set (1600 rows x 20 float64, 0.24 MB) is gathered.
    with skmemmap.config_context(gather_nbytes="100K"):
        X_mm = skmemmap.memmap(X)
        with (
            pytest.warns(CopyWarning) as record,
            skmemmap.copy_report() as report,
        ):
            _grid_search(ContiguousKFold(5)).fit(X_mm, y)
    gathers = _matching(record, "Gathered 1600 of 2000 rows")
    own = _matching(record, "Ridge makes its own copies of X")
    assert len(gathers) == 1, gathers
    assert len(own) == 1, own
    assert "In worker process" in gathers[0]  # gathered in the workers only
    assert len(_matching(record, "ContiguousKFold(n_splits=5)")) == 1
    assert len(record) == 3, [str(w.message)[:80] for w in record]

    pids = {e["pid"] for e in report.events}
    assert pids - {os.getpid()}, "no event came from a worker"
    assert report.counts["gather"] == 3  # folds 1 to 3, each gathered once
    assert report.counts["Ridge/own"] == 3 * 5 + 1  # candidates x folds + refit
    assert report.counts["ContiguousKFold/middle-folds"] == 1
    assert report.n_copies == len(report.events)
    assert report.nbytes == sum(e["nbytes"] for e in report.events)
    for key, cause in report.to_dict()["causes"].items():
        events = [e for e in report.events if e["key"] == key]
        assert cause["count"] == len(events)
        assert cause["nbytes"] == sum(e["nbytes"] for e in events)
    gather_events = [e for e in report.events if e["key"] == "gather"]
    assert all(e["shape"] == [1600, 20] for e in gather_events)
    assert all(e["nbytes"] == 1600 * 20 * 8 for e in gather_events)
    assert {e["estimator"] for e in report.events if e["key"] == "Ridge/own"} == {
        "Ridge"
    }
    assert report.total_mb == pytest.approx(report.nbytes / 2**20)


def test_workers_print_no_duplicate_warnings_under_a_report():
    # A fresh interpreter starts its own loky workers, whose stderr is the
    # subprocess's: everything a worker prints is in `result.stderr`.
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([TESTS_DIR, *sys.path])}
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            "import _copy_helpers; _copy_helpers.five_fold_search()",
        ],
        capture_output=True,
        text=True,
        env=env,
        cwd=TESTS_DIR,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "CopyWarning" not in result.stderr, result.stderr
    assert "Gathered" not in result.stderr and "own copies" not in result.stderr
    out = json.loads(result.stdout)
    assert len([w for w in out["warnings"] if "Gathered" in w]) == 1
    assert len([w for w in out["warnings"] if "its own copies" in w]) == 1
    pids = {e["pid"] for e in out["report"]["events"]}
    assert len(pids - {out["parent"]}) >= 1  # the events did come from workers
    assert out["report"]["causes"]["gather"]["count"] == 3


def test_an_error_filter_fails_the_search_naming_the_gather(folder):
    X, y = _data()
    # KFold, not ContiguousKFold: no warning in the parent before the workers start.
    with skmemmap.config_context(gather_nbytes="100K"):
        X_mm = skmemmap.memmap(X)
        with warnings.catch_warnings():
            warnings.simplefilter("error", CopyWarning)
            with pytest.raises(CopyWarning, match=r"Gathered 1600 of 2000 rows"):
                _grid_search(KFold(5)).fit(X_mm, y)


def test_an_error_filter_fails_the_fit_naming_the_estimator_copy(folder):
    X, y = _data()
    X_mm = skmemmap.memmap(X)
    with warnings.catch_warnings():
        warnings.simplefilter("error", CopyWarning)
        with pytest.raises(CopyWarning, match="ReportRidge makes its own copies"):
            _grid_search(KFold(2), ReportRidge(), error_score="raise").fit(X_mm, y)


def test_an_error_filter_under_a_report_still_fails_in_the_worker(folder):
    X, y = _data()
    with skmemmap.config_context(gather_nbytes="100K"), warnings.catch_warnings():
        warnings.simplefilter("error", CopyWarning)
        X_mm = skmemmap.memmap(X)
        # The failure propagates through the report, which warns no more.
        with (
            pytest.raises(CopyWarning, match=r"Gathered 1600 of 2000 rows"),
            skmemmap.copy_report() as report,
        ):
            _grid_search(KFold(5)).fit(X_mm, y)
    assert report.counts["gather"] >= 1  # recorded before the filter raised


# -- without a report: the refit in the parent brings worker copies back ----------
def test_refit_in_the_parent_reemits_worker_copies_once(folder):
    X, y = _data()
    with skmemmap.config_context(gather_nbytes="100K"):
        X_mm = skmemmap.memmap(X)
        with pytest.warns(CopyWarning) as record:
            _grid_search(KFold(5)).fit(X_mm, y)
        gathers = _matching(record, "Gathered 1600 of 2000 rows")
        assert len(gathers) == 1, gathers
        assert gathers[0].startswith("In worker process")
        assert len(_matching(record, "Ridge makes its own copies")) == 1
        # Fitting again in the parent does not repeat what was re-emitted.
        with warnings.catch_warnings():
            warnings.simplefilter("error", CopyWarning)
            MemmapEstimator(Ridge()).fit(X_mm, y)


# -- the log ------------------------------------------------------------------------
def _log(folder):
    return folder / f"fam{_copies.LOG_SUFFIX}"  # append_many's family


@pytest.fixture
def big_cap(monkeypatch):
    monkeypatch.setattr(_copies, "MAX_EVENTS_PER_CAUSE", 10**6)


def test_concurrent_appends_are_whole_lines_none_lost(tmp_path, big_cap):
    ctx = multiprocessing.get_context("fork")
    procs = [
        ctx.Process(target=append_many, args=(str(tmp_path), 200, f"t{k}"))
        for k in range(4)
    ]
    for p in procs:
        p.start()
    for p in procs:
        p.join()
        assert p.exitcode == 0
    events, end = _copies.read_events(str(_log(tmp_path)))
    assert end == _log(tmp_path).stat().st_size
    assert sorted((e["key"], e["i"]) for e in events) == sorted(
        (f"t{k}", i) for k in range(4) for i in range(200)
    )
    assert len({e["pid"] for e in events}) == 4
    counts = _copies.read_counts(str(_log(tmp_path)))
    assert {k: c["count"] for k, c in counts.items()} == {
        f"t{k}": 200 for k in range(4)
    }
    assert counts["t0"]["nbytes"] == sum(1000 + i for i in range(200))


def test_log_is_bounded_and_keeps_counting(tmp_path, monkeypatch):
    monkeypatch.setattr(_copies, "MAX_EVENTS_PER_CAUSE", 5)
    append_many(str(tmp_path), 50, "a")
    events, _ = _copies.read_events(str(_log(tmp_path)))
    assert [e["i"] for e in events] == [0, 1, 2, 3, 4]
    assert _copies.read_counts(str(_log(tmp_path)))["a"]["count"] == 50
    monkeypatch.setattr(_copies, "MAX_EVENTS_PER_CAUSE", 10**6)
    monkeypatch.setattr(_copies, "MAX_LOG_BYTES", 20_000)
    append_many(str(tmp_path), 500, "b")
    assert _log(tmp_path).stat().st_size <= 20_000
    counts = _copies.read_counts(str(_log(tmp_path)))
    assert counts["b"]["count"] == 500
    assert counts["b"]["last"]["i"] == 499


def test_long_messages_stay_below_pipe_buf(tmp_path):
    event = _copies.make_event(
        "x" * 5000,
        1,
        "y" * 5000,
        "z" * 5000,
        key="k",
        shape=None,
        estimator=None,
        family="fam",
    )
    _copies.append_event(str(tmp_path), event)
    data = _log(tmp_path).read_bytes()
    assert len(data) < 4096 and json.loads(data)["key"] == "k"


# -- the report object -----------------------------------------------------------------
def test_report_of_copies_in_this_process(folder):
    X = skmemmap.memmap(np.arange(40.0).reshape(20, 2))
    with (
        pytest.warns(CopyWarning) as record,
        skmemmap.copy_report() as report,
    ):
        X[[0, 2, 4]]
        X[[1, 3, 5, 7]]
    # Warned when made, not again when the block ends.
    assert [str(w.message)[:19] for w in record] == [
        "Copied 3 of 20 rows",
        "Copied 4 of 20 rows",
    ]
    assert report.counts == {"copy-rows": 2}
    assert report.nbytes == (3 + 4) * 16
    assert [e["shape"] for e in report.events] == [[3, 2], [4, 2]]
    assert {e["pid"] for e in report.events} == {os.getpid()}
    data = report.to_dict()
    json.dumps(data)
    assert data["n_copies"] == 2 and data["nbytes"] == 112
    assert data["causes"]["copy-rows"]["count"] == 2
    assert data["causes"]["copy-rows"]["pids"] == [os.getpid()]
    text = str(report)
    assert text.startswith("skmemmap copy report: 2 copies")
    assert "cause      copies        MB  where" in text
    assert "copy-rows       2" in text
    assert "fix: Select one contiguous" in text
    assert repr(report) == "<CopyReport: 2 copies, 0.0001 MB, 1 cause>"


def test_report_of_nothing_is_empty_and_silent(folder):
    X = skmemmap.memmap(np.ones((10, 2)))
    with warnings.catch_warnings():
        warnings.simplefilter("error", CopyWarning)
        with skmemmap.copy_report() as report:
            X[2:5]
    assert report.events == [] and report.n_copies == 0 and report.nbytes == 0
    assert (
        str(report) == "skmemmap copy report: 0 copies, 0 MB in total, in 0 processes"
    )


def test_copies_before_the_report_are_not_in_it(folder):
    X = skmemmap.memmap(np.ones((10, 2)))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CopyWarning)
        X[[0, 2]]
        with skmemmap.copy_report() as report:
            X[[1, 3, 5]]
    assert [e["shape"] for e in report.events] == [[3, 2]]


def test_splitter_events_of_in_memory_x_are_in_the_report(folder):
    X, y = _data(100, 3)
    with (
        pytest.warns(CopyWarning, match="not a skmemmap.MemmapArray"),
        skmemmap.copy_report() as report,
    ):
        list(ContiguousKFold(2).split(X, y))
    assert report.counts == {"ContiguousKFold/not-memmap": 1}
    assert report.events[0]["shape"] == [100, 3]


def test_markers_and_logs_are_removed(folder):
    X = skmemmap.memmap(np.ones((10, 2)))
    with skmemmap.copy_report():
        import pickle

        pickle.dumps(X)  # as joblib does for a worker
        assert list(folder.glob(f"*/{_copies.MARKER_NAME}"))
        with pytest.warns(CopyWarning):
            X[[1, 3]]
    assert not list(folder.glob(f"*/{_copies.MARKER_NAME}"))
    assert list(folder.glob(f"*/*{_copies.LOG_SUFFIX}"))
    del X
    gc.collect()
    assert folder_files(folder) == []  # the log goes with the array's files
