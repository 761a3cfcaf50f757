"""The memory this process may use, and the LayoutWarning before a fit outgrows it."""

import os
import warnings

import pytest
from sklearn.base import BaseEstimator, MetaEstimatorMixin, clone
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import Ridge, SGDClassifier
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import skmemmap
from skmemmap import _resources
from skmemmap._resources import Memory, available_memory
from skmemmap._utils import format_mb

MB = 2**20
V1_UNLIMITED = "9223372036854771712"


def fake_root(tmp_path, *, cgroup, mountinfo, files, mem_available_kb=None):
    """A tree with /proc/self/cgroup, /proc/self/mountinfo, /proc/meminfo and
    the cgroup files ``files`` (path -> text) under ``tmp_path``."""
    (tmp_path / "proc/self").mkdir(parents=True)
    (tmp_path / "proc/self/cgroup").write_text(cgroup)
    (tmp_path / "proc/self/mountinfo").write_text(mountinfo)
    if mem_available_kb is not None:
        (tmp_path / "proc/meminfo").write_text(
            f"MemTotal:       99999999 kB\nMemAvailable:   {mem_available_kb} kB\n"
        )
    for path, text in files.items():
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_text(text)
    return str(tmp_path)


V1_MOUNTS = (
    "31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755\n"
    "35 31 0:32 {root} /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory\n"
    "41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw\n"
)


def v1_cgroup(folder, limit, usage=0, active_file=0, inactive_file=0):
    base = f"sys/fs/cgroup/memory/{folder}".rstrip("/")
    return {
        f"{base}/memory.limit_in_bytes": f"{limit}\n",
        f"{base}/memory.usage_in_bytes": f"{usage}\n",
        f"{base}/memory.stat": (
            f"cache 1\nrss 2\ntotal_active_file {active_file}\n"
            f"total_inactive_file {inactive_file}\n"
        ),
    }


def test_a_parents_v1_limit_counts_minus_what_cannot_be_reclaimed(tmp_path):
    root = fake_root(
        tmp_path,
        cgroup="9:name=systemd:/\n4:memory:/job/step\n0::/\n",
        mountinfo=V1_MOUNTS.format(root="/"),
        files={
            **v1_cgroup("", V1_UNLIMITED, usage=5000 * MB),
            # 600 MB used, 400 MB of it page cache the kernel reclaims
            **v1_cgroup("job", 1024 * MB, 600 * MB, 300 * MB, 100 * MB),
            **v1_cgroup("job/step", V1_UNLIMITED, 600 * MB, 300 * MB, 100 * MB),
        },
        mem_available_kb=8 * 2**20,
    )
    memory = available_memory(root)
    assert memory.nbytes == (1024 - 200) * MB
    assert memory.source == (
        "the limit of the memory cgroup /job (memory.limit_in_bytes: 1,024 MB) "
        "minus the 200 MB it holds that cannot be reclaimed"
    )


def test_v2_memory_max_and_mem_available_the_smaller_wins(tmp_path):
    files = {
        "sys/fs/cgroup/user.slice/memory.max": f"{2048 * MB}\n",
        "sys/fs/cgroup/user.slice/memory.current": f"{1000 * MB}\n",
        "sys/fs/cgroup/user.slice/memory.stat": (
            f"anon {100 * MB}\nfile {900 * MB}\nactive_file {500 * MB}\n"
            f"inactive_file {400 * MB}\n"
        ),
        "sys/fs/cgroup/user.slice/app.scope/memory.max": "max\n",
    }
    mounts = "30 23 0:26 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw,nsdelegate\n"
    args = dict(cgroup="0::/user.slice/app.scope\n", mountinfo=mounts, files=files)
    memory = available_memory(fake_root(tmp_path / "a", **args, mem_available_kb=2**22))
    assert memory.nbytes == (2048 - 100) * MB
    assert "/user.slice (memory.max: 2,048 MB) minus the 100 MB" in memory.source
    small = fake_root(tmp_path / "b", **args, mem_available_kb=512 * 1024)
    assert available_memory(small) == Memory(512 * MB, "MemAvailable in /proc/meminfo")


def test_a_containers_own_cgroup_is_its_mount_root(tmp_path):
    # /proc/self/cgroup names the host's path; the container mounts its own
    # cgroup (mount root /docker/abc) as /sys/fs/cgroup/memory.
    root = fake_root(
        tmp_path,
        cgroup="4:memory:/docker/abc\n",
        mountinfo=V1_MOUNTS.format(root="/docker/abc"),
        files=v1_cgroup("", 300 * MB, 50 * MB),
        mem_available_kb=2**22,
    )
    assert available_memory(root).nbytes == 250 * MB


def test_nothing_to_read_is_none_and_this_machine_has_some(tmp_path):
    empty = fake_root(tmp_path, cgroup="", mountinfo="", files={})
    assert available_memory(empty) is None
    here = available_memory()
    total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    assert 0 < here.nbytes <= total


# -- the warning ---------------------------------------------------------------------
@pytest.fixture
def data(folder, rng):
    X = rng.normal(size=(2000, 10))
    return skmemmap.memmap(X), (X[:, 0] > 0).astype(int)


@pytest.fixture
def limit(monkeypatch):
    """Fake the memory this process may use: ``limit(nbytes)``."""

    def set_limit(nbytes):
        memory = Memory(nbytes, "a test's limit")
        monkeypatch.setattr(_resources, "available_memory", lambda: memory)
        return memory

    return set_limit


def test_sgd_on_a_map_bigger_than_memory_warns_at_the_users_line_before_fit(
    data, limit
):
    Xm, y = data
    memory = limit(Xm.nbytes // 2)
    seen = []

    class Spy(SGDClassifier):
        def fit(self, X, y, **params):
            seen.append(len(caught))  # warnings shown when the fit starts
            return super().fit(X, y, **params)

    model = skmemmap.MemmapEstimator(Spy(max_iter=5, tol=None))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model.fit(Xm, y)
    layout = [w for w in caught if w.category is skmemmap.LayoutWarning]
    assert seen == [1] and len(layout) == 1
    message = str(layout[0].message)
    assert layout[0].filename == __file__
    assert message.startswith("Spy reads the rows of X in random order, and X ")
    assert f"({format_mb(Xm.nbytes)}, a memory-mapped file)" in message
    assert f"({format_mb(memory.nbytes)}: a test's limit)" in message
    assert "skmemmap.StreamingEstimator(Spy())" in message
    assert "X[:n] is a view" in message and "more memory" in message


def test_a_forest_is_told_of_the_file_it_reads_and_an_incremental_estimator(
    data, limit
):
    Xm, y = data
    limit(Xm.nbytes // 2 - 1)  # the float32 file it reads is half of X
    with pytest.warns(skmemmap.LayoutWarning) as caught:
        skmemmap.MemmapEstimator(RandomForestClassifier(n_estimators=2)).fit(Xm, y)
    (message,) = [str(w.message) for w in caught if "random order" in str(w.message)]
    assert f"X ({format_mb(Xm.nbytes // 2)}, a memory-mapped file)" in message
    assert "StreamingEstimator(SGDClassifier())" in message


def test_one_warning_per_search(data, limit):
    Xm, y = data
    limit(1000)
    search = GridSearchCV(
        skmemmap.MemmapEstimator(SGDClassifier(max_iter=5, tol=None)),
        {"estimator__alpha": [1e-4, 1e-3]},
        cv=skmemmap.ContiguousKFold(2),
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        search.fit(Xm, y)
    layout = [w for w in caught if w.category is skmemmap.LayoutWarning]
    assert len(layout) == 1 and layout[0].filename == __file__
    assert f"X ({format_mb(Xm.nbytes // 2)}," in str(layout[0].message)  # a fold


@pytest.mark.parametrize(
    "estimator",
    [
        SGDClassifier(shuffle=False, max_iter=5, tol=None),  # reads in order
        Ridge(),
        make_pipeline(StandardScaler(), SGDClassifier(max_iter=5, tol=None)),
    ],
    ids=["SGD-no-shuffle", "Ridge", "scaler-then-SGD"],
)
def test_sequential_readers_are_not_warned_about(data, limit, estimator):
    Xm, y = data
    limit(1000)
    with warnings.catch_warnings():
        warnings.simplefilter("error", skmemmap.LayoutWarning)
        skmemmap.MemmapEstimator(estimator).fit(Xm, y)


def test_x_that_fits_is_not_warned_about(data, limit):
    Xm, y = data
    limit(Xm.nbytes)
    with warnings.catch_warnings():
        warnings.simplefilter("error", skmemmap.LayoutWarning)
        skmemmap.MemmapEstimator(SGDClassifier(max_iter=5, tol=None)).fit(Xm, y)


class StreamingEstimator(MetaEstimatorMixin, BaseEstimator):
    """Stands for skmemmap.StreamingEstimator, recognised by its name."""

    def __init__(self, estimator):
        self.estimator = estimator

    def fit(self, X, y):
        self.estimator_ = clone(self.estimator).partial_fit(X, y, classes=[0, 1])
        return self

    def score(self, X, y):
        return self.estimator_.score(X, y)


def test_a_streaming_fit_inside_is_not_warned_about(data, limit):
    Xm, y = data
    limit(1000)
    search = GridSearchCV(
        StreamingEstimator(SGDClassifier()),
        {"estimator__alpha": [1e-4]},
        cv=skmemmap.ContiguousKFold(2),
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        skmemmap.MemmapEstimator(search).fit(Xm, y)
        skmemmap.MemmapEstimator(search.estimator.estimator).fit(Xm, y)
    layout = [w for w in caught if w.category is skmemmap.LayoutWarning]
    assert len(layout) == 1  # only the bare SGDClassifier
