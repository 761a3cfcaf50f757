"""Tests for MemoryMonitor: it must see worker processes and count shared pages once."""

import json
import mmap
import multiprocessing
import os
import sys
import textwrap
import time
import uuid

import numpy as np
import pytest

from skmemmap import MemoryMonitor
from skmemmap._monitor import MemorySample

MB = 2**20
# 25e6 float64 values: the 200 MB the acceptance tests allocate or map.
N_VALUES = 25_000_000
# Spawned children start a fresh interpreter and import numpy: allow for a
# slow, loaded machine before calling the test failed.
START_TIMEOUT = 60

linux_only = pytest.mark.skipif(
    not os.path.exists(f"/proc/{os.getpid()}/smaps_rollup"),
    reason="PSS needs /proc/<pid>/smaps_rollup (Linux)",
)


def _spawn(code, **namespace):
    """Start a spawned child that runs `code` with `namespace` as its globals.

    The child runs the code through the builtin ``exec`` rather than a
    function of this module, so it imports numpy only, not this test module
    (and with it scikit-learn): its own footprint stays small next to the
    200 MB the tests look for.
    """
    ctx = multiprocessing.get_context("spawn")
    process = ctx.Process(target=exec, args=(textwrap.dedent(code), namespace))
    process.start()
    return process


def _events(n):
    ctx = multiprocessing.get_context("spawn")
    return [ctx.Event() for _ in range(n)]


@linux_only
def test_child_allocation_is_seen_only_with_children():
    ready, done = _events(2)
    with (
        MemoryMonitor() as tree,
        MemoryMonitor(include_children=False) as parent_only,
    ):
        child = _spawn(
            """
            import numpy as np
            x = np.ones(N_VALUES)  # 200 MB, every page written
            ready.set()
            done.wait(10)
            """,
            N_VALUES=N_VALUES,
            ready=ready,
            done=done,
        )
        try:
            assert ready.wait(START_TIMEOUT), "the child never allocated"
            time.sleep(0.5)  # several samples while the child holds its 200 MB
        finally:
            done.set()
            child.join(START_TIMEOUT)
    assert child.exitcode == 0

    assert tree.metric == "pss"
    assert tree.peak_.n_processes >= 2
    assert tree.peak_above_baseline("pss") >= 180 * MB
    assert tree.peak_above_baseline("anon") >= 180 * MB
    assert tree.peak_above_baseline("rss") >= 180 * MB

    assert parent_only.peak_.n_processes == 1
    assert parent_only.peak_above_baseline("pss") < 50 * MB
    assert parent_only.peak_above_baseline("anon") < 50 * MB


@linux_only
def test_shared_file_map_counts_once_in_pss(tmp_path):
    path = tmp_path / "x.npy"
    np.save(path, np.ones(N_VALUES))  # 200 MB; in the page cache, mapped by nobody
    ready, done = _events(2)
    with MemoryMonitor() as monitor:
        X = np.load(path, mmap_mode="r")
        assert X.sum() == N_VALUES  # every page of the file read in the parent
        child = _spawn(
            """
            import numpy as np
            X = np.load(path, mmap_mode="r")
            assert X.sum() == X.size  # the same pages read in the child
            ready.set()
            done.wait(10)
            """,
            path=str(path),
            ready=ready,
            done=done,
        )
        try:
            assert ready.wait(START_TIMEOUT), "the child never read the map"
            time.sleep(0.5)
        finally:
            done.set()
            child.join(START_TIMEOUT)
        del X
    assert child.exitcode == 0

    pss = monitor.peak_above_baseline("pss")
    rss = monitor.peak_above_baseline("rss")
    anon = monitor.peak_above_baseline("anon")
    # Counted about once (plus the child interpreter), not once per process.
    assert 150 * MB <= pss <= 280 * MB, pss / MB
    # Summed RSS counts the file in both processes.
    assert rss >= 350 * MB, rss / MB
    # The map is file-backed: no copy in anonymous memory.
    assert anon < 100 * MB, anon / MB
    assert monitor.peak_.pss_file - monitor.baseline_.pss_file >= 150 * MB


def test_dev_shm_file_shows_in_shm_used():
    if not os.path.isdir("/dev/shm"):
        pytest.skip("no /dev/shm on this system")
    st = os.statvfs("/dev/shm")
    if st.f_bavail * st.f_frsize < 300 * MB:
        pytest.skip("less than 300 MB free in /dev/shm")
    path = f"/dev/shm/skmemmap-test-{uuid.uuid4().hex}"
    chunk = b"\1" * MB
    try:
        with MemoryMonitor() as monitor:
            with open(path, "wb") as f:
                for _ in range(100):
                    f.write(chunk)
            time.sleep(0.2)
    finally:
        os.unlink(path)
    assert monitor.peak_above_baseline("shm_used") >= 95 * MB
    # Written but never mapped: the file is in no process's memory.
    assert monitor.peak_above_baseline() < 50 * MB


@linux_only
def test_sampling_is_cheap():
    # The parent and four idle children: the sampler thread is the only one
    # using CPU in this process while the main thread sleeps.
    done = _events(1)[0]
    children = [_spawn("import numpy; done.wait(30)", done=done) for _ in range(4)]
    try:
        with MemoryMonitor() as monitor:
            deadline = time.monotonic() + START_TIMEOUT
            while monitor.samples_[-1].n_processes < 5:
                assert time.monotonic() < deadline, "the children never started"
                time.sleep(0.05)
            cpu = time.process_time()
            wall = time.perf_counter()
            time.sleep(1.0)
            cpu = time.process_time() - cpu
            wall = time.perf_counter() - wall
    finally:
        done.set()
        for child in children:
            child.join(START_TIMEOUT)
    assert cpu / wall < 0.10, f"the sampler used {cpu / wall:.0%} of a core"
    assert monitor.peak_.n_processes >= 5


def test_start_stop_and_samples():
    monitor = MemoryMonitor(interval=0.01)
    assert not hasattr(monitor, "baseline_")
    assert monitor.start() is monitor
    assert monitor.running
    with pytest.raises(RuntimeError, match="already running"):
        monitor.start()
    # 40 MB of fresh anonymous pages, every page written. Not np.ones: in a
    # process that freed large arrays before (a test session), malloc may hand
    # back pages that are already resident, and anon would not grow.
    x = np.frombuffer(mmap.mmap(-1, 40 * MB, flags=mmap.MAP_PRIVATE), dtype=np.uint8)
    x[:] = 1
    time.sleep(0.1)
    assert monitor.stop() is monitor
    assert not monitor.running
    with pytest.raises(RuntimeError, match="not running"):
        monitor.stop()

    samples = monitor.samples_
    assert len(samples) >= 3
    assert all(isinstance(s, MemorySample) for s in samples)
    assert monitor.baseline_ is samples[0]
    times = [s.time for s in samples]
    assert times == sorted(times)
    assert samples[0].exact and samples[-1].exact
    peak = monitor.peak_
    assert peak.rss == max(s.rss for s in samples)
    assert peak.anon == max(s.anon for s in samples)
    assert monitor.peak_above_baseline("anon") >= 35 * MB
    assert monitor.peak_above_baseline() == monitor.peak_above_baseline(monitor.metric)
    del x

    # Starting again begins a new run.
    with monitor:
        pass
    assert len(monitor.samples_) >= 2
    assert monitor.samples_[0].time < 0.1


def test_short_run_has_start_and_stop_samples():
    with MemoryMonitor(interval=60) as monitor:
        pass
    assert len(monitor.samples_) == 2
    assert monitor.peak_above_baseline() >= 0


def test_invalid_arguments():
    for interval in (0, -1, float("nan"), "1", True):
        with pytest.raises(ValueError, match="interval must be a positive"):
            MemoryMonitor(interval=interval)
    with MemoryMonitor() as monitor:
        pass
    with pytest.raises(ValueError, match="kind must be one of"):
        monitor.peak_above_baseline("vms")


def test_to_dict_is_json_serialisable():
    with MemoryMonitor(interval=0.01) as monitor:
        time.sleep(0.05)
    result = json.loads(json.dumps(monitor.to_dict()))
    n = len(monitor.samples_)
    assert result["metric"] == monitor.metric
    assert all(len(values) == n for values in result["samples"].values())
    assert result["samples"]["rss"] == [s.rss for s in monitor.samples_]
    assert result["baseline"]["rss"] == monitor.baseline_.rss
    assert result["peak"]["rss"] == monitor.peak_.rss
    assert result["peak_above_baseline"]["rss"] == monitor.peak_above_baseline("rss")

    empty = MemoryMonitor().to_dict()
    assert empty["samples"]["time"] == []
    json.dumps(empty)


def test_plot():
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    monitor = MemoryMonitor(interval=0.01)
    with pytest.raises(RuntimeError, match="start the MemoryMonitor"):
        monitor.plot()
    with monitor:
        time.sleep(0.05)

    ax = monitor.plot(label="run")
    try:
        lines = ax.get_lines()
        assert [line.get_label() for line in lines] == [
            f"run {monitor.metric}",
            "run anon",
        ]
        times, values = lines[0].get_data()
        assert list(times) == [s.time for s in monitor.samples_]
        expected = [getattr(s, monitor.metric) / MB for s in monitor.samples_]
        np.testing.assert_allclose(values, expected)
        assert ax.get_xlabel() == "time (s)"
        assert ax.get_ylabel() == "memory (MB)"
        ax.figure.canvas.draw()

        fig, own_ax = plt.subplots()
        assert monitor.plot(own_ax, kinds=("rss",)) is own_ax
        assert len(own_ax.get_lines()) == 1
        plt.close(fig)
    finally:
        plt.close(ax.figure)


def test_plot_without_matplotlib(monkeypatch):
    with MemoryMonitor() as monitor:
        pass
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    monkeypatch.setitem(sys.modules, "matplotlib.pyplot", None)
    with pytest.raises(ImportError, match="pip install matplotlib"):
        monitor.plot()


def test_rss_fallback_without_pss(monkeypatch):
    pytest.importorskip("psutil")
    monkeypatch.setattr("skmemmap._monitor._proc_available", lambda: False)
    ready, done = _events(2)
    with MemoryMonitor() as monitor:
        child = _spawn("ready.set(); done.wait(10)", ready=ready, done=done)
        try:
            assert ready.wait(START_TIMEOUT)
            time.sleep(0.2)
        finally:
            done.set()
            child.join(START_TIMEOUT)
    assert monitor.metric == "rss"
    assert monitor.baseline_.pss is None
    assert monitor.peak_.n_processes >= 2
    assert monitor.peak_above_baseline() == monitor.peak_above_baseline("rss") > 0
    with pytest.raises(ValueError, match="not measured on this platform"):
        monitor.peak_above_baseline("pss")
    json.dumps(monitor.to_dict())


def test_rss_fallback_needs_psutil(monkeypatch):
    monkeypatch.setattr("skmemmap._monitor._proc_available", lambda: False)
    monkeypatch.setitem(sys.modules, "psutil", None)
    monitor = MemoryMonitor()
    with pytest.raises(ImportError, match="pip install psutil"):
        monitor.start()
    assert not monitor.running
