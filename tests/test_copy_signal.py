"""The copy signal: one warning per cause per call, at the user's line, true.

The workflow tests run users' scripts (doc/copy_warnings/*.py) in fresh
interpreters, so that their loky workers start fresh and print, if anything,
on the script's standard error, which the tests read.
"""

import gc
import json
import multiprocessing
import os
import sys
import textwrap
import warnings

import numpy as np
import pytest
from _helpers import folder_files
from _workflows import DOC_OUTPUT, names, run, run_script, transcript
from sklearn.linear_model import Ridge
from sklearn.model_selection import GridSearchCV, KFold

import skmemmap
from skmemmap import ContiguousKFold, CopyWarning, MemmapEstimator, _signal
from skmemmap._signal import calls as signal_calls
from skmemmap._signal import log as signal_log
from skmemmap._signal.events import CopyEvent

# name -> the warnings a user reads: (category, line, start of the first line)
EXPECTED = {
    "quick_start": [],
    "forest_float64": [
        ("CopyWarning", 17, "X converted from float64 C to float32 Fortran for Rand")
    ],
    "ridge_5fold": [
        ("CopyWarning", 17, "ContiguousKFold(5) copies the training sets"),
        ("CopyWarning", 17, "Ridge makes its own copies of X in fit, about 1x X (11"),
    ],
    "cross_val_predict_in_memory": [
        ("CopyWarning", 12, "scikit-learn copies in-memory X for each of the 2 fo")
    ],
    "fit_in_memory": [],
    "two_rows": [],
    "train_test_split": [
        ("CopyWarning", 10, "Non-contiguous rows of X copied (2 files")
    ],
    "after_a_search": [
        ("CopyWarning", 17, "ContiguousKFold(5) copies the training sets"),
        ("CopyWarning", 17, "Ridge makes its own copies of X in fit, about 1x X (11"),
        ("CopyWarning", 20, "Ridge makes its own copies of X in fit, about 1x X (10"),
    ],
}


def test_every_workflow_is_tested():
    assert sorted(EXPECTED) == names()


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_workflow_warnings_are_few_short_and_at_the_users_line(name):
    code, stderr, found = run(name)
    assert code == 0, stderr
    got = [(w["category"], w["lineno"], w["first_line"]) for w in found]
    assert len(got) == len(EXPECTED[name]), stderr
    for (category, line, start), w in zip(EXPECTED[name], found, strict=True):
        assert (w["category"], w["lineno"]) == (category, line), stderr
        assert w["first_line"].startswith(start), w["first_line"]
        assert w["filename"] == f"{name}.py", w  # the user's file, not a library's
        assert len(w["first_line"]) <= 170, w["first_line"]  # "about 160"
    # Nothing else reached the terminal: no worker printed anything.
    assert stderr.count("Warning: ") == len(found), stderr
    assert not stderr or stderr.startswith(f"{name}.py:"), stderr
    # "Reading copy warnings" shows this very output.
    assert (DOC_OUTPUT / f"{name}.txt").read_text() == transcript(name, stderr)


def _user_script(tmp_path, name, source):
    """Run ``source`` as the user's script ``<name>.py`` in a fresh process."""
    path = tmp_path / f"{name}.py"
    path.write_text(textwrap.dedent(source).lstrip())
    proc = run_script(path)
    assert proc.returncode == 0, proc.stderr
    return proc


def test_a_call_that_ends_without_warning_leaves_no_scope_behind(tmp_path):
    # A call that raised, or that copied nothing, has ended: the next call's
    # warning is about that next call, at its line.
    proc = _user_script(
        tmp_path,
        "after_an_error",
        """
        import numpy as np
        from sklearn.linear_model import Ridge
        import skmemmap

        X = skmemmap.memmap(np.random.default_rng(0).standard_normal((20_000, 20)))
        y = np.asarray(X[:, 0])
        try:
            skmemmap.MemmapEstimator(Ridge(solver="svd"), on_copy="raise").fit(X, y)
        except skmemmap.CopyError:
            print("raised")
        skmemmap.MemmapEstimator(Ridge()).fit(X, y)
        skmemmap.MemmapEstimator(Ridge(), on_copy="ignore").fit(X, y)
        skmemmap.MemmapEstimator(Ridge()).fit(X, y)
        """,
    )
    assert proc.stdout == "raised\n"
    got = [(w["filename"], w["lineno"], w["first_line"][:30]) for w in proc.warnings]
    own = "Ridge makes its own copies of "
    assert got == [("after_an_error.py", 11, own), ("after_an_error.py", 13, own)]


def test_a_report_records_copies_of_an_array_made_inside_the_call(tmp_path):
    # The array mapped inside the call is gone when the block ends, and its
    # copy log with it: the report has read the log before.
    proc = _user_script(
        tmp_path,
        "report_inside",
        """
        import numpy as np
        from sklearn.linear_model import Ridge
        from sklearn.model_selection import GridSearchCV, KFold
        import skmemmap

        rng = np.random.default_rng(0)
        X = rng.standard_normal((20_000, 20))
        y = X @ rng.standard_normal(20)
        plain = GridSearchCV(Ridge(), {"alpha": [0.1, 1.0]}, cv=KFold(5), n_jobs=2)
        wrapped = GridSearchCV(
            skmemmap.MemmapEstimator(Ridge()),
            {"estimator__alpha": [0.1, 1.0]},
            cv=skmemmap.ContiguousKFold(5),
            n_jobs=2,
        )
        for search in (plain, wrapped):
            with skmemmap.copy_report() as inside:
                search.fit(skmemmap.memmap(X), y)
            X_mm = skmemmap.memmap(X)
            with skmemmap.copy_report(warn=False) as before:
                search.fit(X_mm, y)
            print(inside.counts, before.counts, inside.nbytes == before.nbytes)
        """,
    )
    plain, wrapped = proc.stdout.splitlines()
    assert plain == "{'rows': 3} {'rows': 3} True"
    assert wrapped == (
        "{'ContiguousKFold/middle-folds': 3, 'Ridge/own': 11} "
        "{'ContiguousKFold/middle-folds': 3, 'Ridge/own': 11} True"
    )
    got = [(w["lineno"], w["first_line"][:20]) for w in proc.warnings]
    # Copies only the workers made (the plain search's) are warned about when
    # the block ends, at its "with" line; a search of a MemmapEstimator warns
    # when it returns, at its line.
    assert got[0] == (17, "Non-contiguous rows ")
    assert got[1:] == [
        (18, "ContiguousKFold(5) c"),
        (18, "Ridge makes its own "),
        (21, "ContiguousKFold(5) c"),
        (21, "Ridge makes its own "),
    ]
    assert {w["filename"] for w in proc.warnings} == {"report_inside.py"}


# -- in this process --------------------------------------------------------------
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


def test_five_fold_search_one_warning_per_cause_with_worker_totals(folder):
    X, y = _data()
    # 100 KB: each middle training set (1600 rows x 20 float64, 0.24 MB) is
    # gathered; 0: every cause is warned about, however small.
    with skmemmap.config_context(gather_nbytes="100K", warn_nbytes=0):
        X_mm = skmemmap.memmap(X)
        with (
            pytest.warns(CopyWarning) as record,
            skmemmap.copy_report() as report,
        ):
            _grid_search(ContiguousKFold(5)).fit(X_mm, y)
    messages = [str(w.message) for w in record]
    assert len(messages) == 2, messages
    assert messages[0].startswith(
        "ContiguousKFold(5) copies the training sets of folds 1 to 3 "
        "(3 files on disk, 0.73 MB in total)"
    )
    assert messages[1].startswith(
        "Ridge makes its own copies of X in fit, about 1x X (16 copies, "
    )
    assert {w.filename for w in record} == {__file__}
    # The gathers were made in the workers, and counted in the parent.
    assert report.counts == {"ContiguousKFold/middle-folds": 3, "Ridge/own": 16}
    gathers = [e for e in report.events if e["cause"] == "rows"]
    assert {e["pid"] for e in gathers} - {os.getpid()}
    assert all(e["shape"] == [1600, 20] and e["on_disk"] for e in gathers)
    assert report.disk_nbytes == 3 * 1600 * 20 * 8
    assert report.nbytes == sum(e["nbytes"] for e in report.events)
    assert report.total_mb == pytest.approx(report.nbytes / 2**20)


def test_a_cause_is_never_warned_about_in_a_later_call(folder):
    X, y = _data()
    with skmemmap.config_context(gather_nbytes="100K", warn_nbytes=0):
        X_mm = skmemmap.memmap(X)
        # KFold and a plain Ridge: only the workers run skmemmap code.
        search = GridSearchCV(Ridge(), {"alpha": [0.1, 1.0]}, cv=KFold(5), n_jobs=2)
        with warnings.catch_warnings(record=True) as first:
            warnings.simplefilter("always")
            search.fit(X_mm, y)
        with warnings.catch_warnings(record=True) as later:
            warnings.simplefilter("always")
            X_mm[2:5]  # a view: nothing to say
            MemmapEstimator(Ridge(copy_X=False)).fit(X_mm, y)
    assert not [w for w in first if issubclass(w.category, CopyWarning)]
    later = [str(w.message) for w in later if issubclass(w.category, CopyWarning)]
    assert len(later) == 1 and later[0].startswith("Ridge makes its own copies")


def test_a_report_warns_about_copies_only_workers_saw(folder):
    X, y = _data()
    with skmemmap.config_context(gather_nbytes="100K", warn_nbytes=0):
        X_mm = skmemmap.memmap(X)
        search = GridSearchCV(Ridge(), {"alpha": [0.1, 1.0]}, cv=KFold(5), n_jobs=2)
        with (
            pytest.warns(CopyWarning, match=r"^Non-contiguous rows of X copied") as rec,
            skmemmap.copy_report() as report,
        ):
            search.fit(X_mm, y)
    assert len(rec) == 1 and rec[0].filename == __file__
    assert report.counts == {"rows": 3}


def test_an_error_filter_fails_the_search_in_the_worker(folder):
    X, y = _data(20_000)  # middle training sets of 2.4 MB: worth a warning
    X_mm = skmemmap.memmap(X)
    search = GridSearchCV(
        Ridge(), {"alpha": [1.0]}, cv=KFold(5), n_jobs=2, error_score="raise"
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error", CopyWarning)
        with pytest.raises(CopyWarning, match="Non-contiguous rows of X copied"):
            search.fit(X_mm, y)


def test_small_copies_are_recorded_not_warned(folder):
    X = skmemmap.memmap(np.arange(40.0).reshape(20, 2))
    with warnings.catch_warnings():
        warnings.simplefilter("error", CopyWarning)
        with skmemmap.copy_report() as report:
            X[[0, 2, 4]]
            X[[1, 3, 5, 7]]
    assert report.counts == {"rows": 2}
    assert report.nbytes == (3 + 4) * 16
    with (
        skmemmap.config_context(warn_nbytes=0),
        pytest.warns(CopyWarning, match=r"rows of X copied \(0\.0001 MB\)") as rec,
    ):
        X[[0, 2, 4, 6, 8, 10, 12, 14, 16]]
    assert rec[0].filename == __file__


def test_report_of_copies_in_this_process(folder):
    X = skmemmap.memmap(np.arange(40.0).reshape(20, 2))
    with skmemmap.copy_report() as report:
        X[[0, 2, 4]]
        X[[1, 3, 5, 7]]
    assert [e["shape"] for e in report.events] == [[3, 2], [4, 2]]
    assert {e["pid"] for e in report.events} == {os.getpid()}
    data = report.to_dict()
    json.dumps(data)
    assert data["n_copies"] == 2 and data["nbytes"] == 112
    assert data["causes"]["rows"]["count"] == 2
    assert data["causes"]["rows"]["pids"] == [os.getpid()]
    text = str(report)
    assert text.startswith("skmemmap copy report: 2 copies")
    assert "cause  copies        MB  where" in text
    assert "rows        2" in text
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
    X[[0, 2]]
    with skmemmap.copy_report() as report:
        X[[1, 3, 5]]
    assert [e["shape"] for e in report.events] == [[3, 2]]


def test_in_memory_x_through_the_splitter_is_one_cause(folder):
    X, y = _data(100_000, 3)
    with (
        pytest.warns(CopyWarning, match="scikit-learn copies in-memory X") as rec,
        skmemmap.copy_report() as report,
    ):
        list(ContiguousKFold(2).split(X, y))
    assert len(rec) == 1 and rec[0].filename == __file__
    assert report.counts == {"ContiguousKFold/not-memmap": 1}


def test_logs_go_with_the_arrays_files(folder):
    X = skmemmap.memmap(np.ones((10, 2)))
    with skmemmap.copy_report():
        X[[1, 3]]
    assert list(folder.glob(f"*/*{signal_log.LOG_SUFFIX}"))
    del X
    gc.collect()
    assert folder_files(folder) == []


def test_reset_clears_the_one_state(folder):
    report = skmemmap.copy_report().__enter__()
    assert _signal.STATE.reports == [report]
    _signal.reset()
    assert _signal.STATE.reports == [] and _signal.STATE.scopes == {}


def _fit_twice_after_an_error(X, y):
    """A strict fit that raises, then a fit that warns: the warning's line."""
    with pytest.raises(skmemmap.CopyError):
        MemmapEstimator(Ridge(solver="svd"), on_copy="raise").fit(X, y)
    with pytest.warns(CopyWarning, match="^Ridge makes its own copies") as rec:
        MemmapEstimator(Ridge()).fit(X, y)
    return rec[0].filename, rec[0].lineno


def test_the_end_of_call_hooks_leave_nothing_behind(folder):
    X = skmemmap.memmap(np.arange(40.0).reshape(20, 2))
    line = _fit_twice_after_an_error.__code__.co_firstlineno + 5
    tracer = sys.gettrace()
    with skmemmap.config_context(warn_nbytes=0):
        assert _fit_twice_after_an_error(X, X[:, 0]) == (__file__, line)
    assert sys.gettrace() is tracer and _signal.STATE.scopes == {}
    if sys.version_info < (3, 12):
        return
    # sys.monitoring: no tool id, event or callback left
    assert signal_calls._MONITOR.tool is None
    assert all(sys.monitoring.get_tool(t) is None for t in range(6))
    # Another tool holds the ids skmemmap would take: the trace hook stands in.
    for tool in signal_calls._MONITOR.TOOL_IDS:
        sys.monitoring.use_tool_id(tool, "another tool")
    try:
        with skmemmap.config_context(warn_nbytes=0):
            assert _fit_twice_after_an_error(X, X[:, 0]) == (__file__, line)
        assert sys.gettrace() is tracer and signal_calls._MONITOR.tool is None
    finally:
        for tool in signal_calls._MONITOR.TOOL_IDS:
            sys.monitoring.free_tool_id(tool)


# -- the log ------------------------------------------------------------------------
def append_many(folder, n, tag):
    """Append ``n`` events of cause ``tag`` to ``folder``'s log (one process)."""
    for i in range(n):
        signal_log.append_event(
            folder,
            CopyEvent(tag, f"copy {i} of {tag}", 1000 + i, shape=(i, 2), family="fam"),
        )
    return os.getpid()


def _log(folder):
    return folder / f"fam{signal_log.LOG_SUFFIX}"


def test_concurrent_appends_are_whole_lines_none_lost(tmp_path, monkeypatch):
    monkeypatch.setattr(signal_log, "MAX_EVENTS_PER_CAUSE", 10**6)
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
    events, end = signal_log.read_events(str(_log(tmp_path)))
    assert end == _log(tmp_path).stat().st_size
    assert sorted((e.key, e.shape[0]) for e in events) == sorted(
        (f"t{k}", i) for k in range(4) for i in range(200)
    )
    assert len({e.pid for e in events}) == 4
    counts = signal_log.read_counts(str(_log(tmp_path)))
    assert {k: c["count"] for k, c in counts.items()} == {
        f"t{k}": 200 for k in range(4)
    }
    assert counts["t0"]["nbytes"] == sum(1000 + i for i in range(200))


def test_log_is_bounded_and_keeps_counting(tmp_path, monkeypatch):
    monkeypatch.setattr(signal_log, "MAX_EVENTS_PER_CAUSE", 5)
    append_many(str(tmp_path), 50, "a")
    events, _ = signal_log.read_events(str(_log(tmp_path)))
    assert [e.shape[0] for e in events] == [0, 1, 2, 3, 4]
    assert signal_log.read_counts(str(_log(tmp_path)))["a"]["count"] == 50
    monkeypatch.setattr(signal_log, "MAX_EVENTS_PER_CAUSE", 10**6)
    monkeypatch.setattr(signal_log, "MAX_LOG_BYTES", 20_000)
    append_many(str(tmp_path), 500, "b")
    assert _log(tmp_path).stat().st_size <= 20_000
    counts = signal_log.read_counts(str(_log(tmp_path)))
    assert counts["b"]["count"] == 500
    assert counts["b"]["last"]["shape"] == [499, 2]


def test_long_messages_stay_below_pipe_buf(tmp_path):
    event = CopyEvent("k", "x" * 5000, 1, "z" * 5000, "y" * 5000, family="fam")
    signal_log.append_event(str(tmp_path), event)
    data = _log(tmp_path).read_bytes()
    assert len(data) < 4096 and json.loads(data)["key"] == "k"


def test_events_round_trip_through_the_log(tmp_path):
    event = CopyEvent(
        "gather",
        "w",
        5,
        "r",
        "y",
        on_disk=True,
        family="fam",
        shape=(2, 3),
        announces=("rows",),
    )
    signal_log.append_event(str(tmp_path), event)
    (back,), _ = signal_log.read_events(str(_log(tmp_path)))
    assert back == event
