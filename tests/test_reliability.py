"""Bad input, faults, concurrency and file safety (issue 7).

Every bad input fails with scikit-learn's error (type and message) and leaves
no file behind; killed workers and parents, full disks and racing processes
leave no partial or orphaned file; user files are never changed.
"""

import errno
import gc
import json
import multiprocessing
import os
import re
import signal
import stat
import subprocess
import sys
import textwrap
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from _helpers import folder_files, session_dirs, sha256
from sklearn.base import clone
from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import (
    GridSearchCV,
    KFold,
    cross_val_predict,
)
from test_folder import readonly_dir  # noqa: F401 - a fixture

import skmemmap
from skmemmap import (
    ContiguousKFold,
    MemmapEstimator,
    NotEnoughDiskSpaceError,
    _array,
    _construct,
    _folder,
)

IMPORT_ROOT = str(Path(skmemmap.__file__).resolve().parent.parent)
TESTS_DIR = str(Path(__file__).resolve().parent)


def leftovers(base):
    """Data and temporary files under ``base`` (lock and owner files aside)."""
    gc.collect()
    return [
        f
        for f in folder_files(base)
        if f.endswith(".npy") or os.path.basename(f).startswith(".tmp-")
    ]


def run_python(code, base, *args, timeout=120):
    """Run ``code`` in a fresh interpreter with ``base`` as $SKMEMMAP_FOLDER."""
    env = dict(os.environ, SKMEMMAP_FOLDER=str(base))
    env["PYTHONPATH"] = os.pathsep.join(
        [IMPORT_ROOT, TESTS_DIR, *filter(None, [env.get("PYTHONPATH")])]
    )
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code), *map(str, args)],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def first_line(exc):
    return str(exc).splitlines()[0]


def forbid_writes(mp, fail):
    """Make every way skmemmap writes a ``.npy`` file call ``fail`` instead."""
    mp.setattr(_construct, "_write_new_npy", fail)
    mp.setattr(_construct, "_write_npy_once", fail)
    mp.setattr(_array, "_write_npy_once", fail)  # gathers


@pytest.fixture
def no_writes(monkeypatch):
    """Fail the test if skmemmap starts writing any file."""

    def fail(*args, **kwargs):
        raise AssertionError("skmemmap wrote a file before validating its input")

    forbid_writes(monkeypatch, fail)


# -- 1. bad input ------------------------------------------------------------------
N = 60
UNMAPPABLE = {
    "object": lambda: np.array([["a", 1.0]] * N, dtype=object),
    "str": lambda: np.array([["a", "b"]] * N),
    "list of str": lambda: [["a", "b"]] * N,
    "complex": lambda: np.ones((N, 2), dtype=complex),
    "1-D": lambda: np.ones(N),
    "3-D": lambda: np.ones((N, 2, 2)),
    "zero rows": lambda: np.ones((0, 3)),
    "zero columns": lambda: np.ones((N, 0)),
    "text column": lambda: pd.DataFrame({"a": np.ones(N), "city": ["x"] * N}),
}
ESTIMATORS = {
    "LogisticRegression": LogisticRegression(),
    "RandomForest": RandomForestClassifier(n_estimators=3, random_state=0),
    "HistGradientBoosting": HistGradientBoostingClassifier(max_iter=3),
}


@pytest.mark.parametrize("est", ESTIMATORS.values(), ids=ESTIMATORS.keys())
@pytest.mark.parametrize("make", UNMAPPABLE.values(), ids=UNMAPPABLE.keys())
def test_unmappable_x_fails_as_in_scikit_learn(make, est, skm_folder):
    # MemmapEstimator hands X it cannot map to the estimator, whose own
    # validation must raise exactly what it raises unwrapped.
    X = make()
    y = np.arange(len(X)) % 2
    with pytest.raises(Exception) as expected:
        clone(est).fit(X, y)
    with pytest.raises(type(expected.value)) as got:
        MemmapEstimator(est, max_nbytes=0).fit(X, y)
    assert type(got.value) is type(expected.value)
    assert first_line(got.value) == first_line(expected.value)
    del got, expected
    assert leftovers(skm_folder) == []


@pytest.mark.parametrize("mapped", [False, True], ids=["in memory", "MemmapArray"])
@pytest.mark.parametrize("value", [np.nan, np.inf], ids=["nan", "inf"])
@pytest.mark.parametrize("est", ESTIMATORS.values(), ids=ESTIMATORS.keys())
def test_non_finite_values_fail_or_fit_as_in_scikit_learn(est, value, mapped, rng):
    # LogisticRegression rejects NaN and inf, forests reject inf only,
    # HistGradientBoosting takes both: the wrapper changes none of that.
    X = rng.standard_normal((80, 3))
    y = (X[:, 0] > 0).astype(int)
    X[::7, 1] = value
    try:
        expected = clone(est).fit(X, y).predict(X)
    except ValueError as exc:
        expected = exc
    X_in = skmemmap.memmap(X) if mapped else X
    model = MemmapEstimator(est, max_nbytes=0, on_copy="ignore")
    if isinstance(expected, ValueError):
        with pytest.raises(ValueError, match=re.escape(first_line(expected))):
            model.fit(X_in, y)
    else:
        np.testing.assert_array_equal(model.fit(X_in, y).predict(X_in), expected)


@pytest.mark.parametrize("mapped", [False, True], ids=["in memory", "MemmapArray"])
def test_x_and_y_of_different_lengths_fail_before_any_write(mapped, rng, skm_folder):
    X = rng.standard_normal((300, 4))
    y = np.arange(299) % 2
    with pytest.raises(ValueError) as expected:
        RandomForestClassifier().fit(X, y)
    X_in = skmemmap.memmap(X) if mapped else X  # float64: the forest wants float32
    with pytest.MonkeyPatch.context() as mp:
        fail = lambda *a, **k: pytest.fail("wrote a file")  # noqa: E731
        forbid_writes(mp, fail)
        with pytest.raises(ValueError, match=re.escape(str(expected.value))):
            MemmapEstimator(RandomForestClassifier(), max_nbytes=0).fit(X_in, y)
    del X_in
    assert leftovers(skm_folder) == []


def test_estimator_with_missing_or_read_only_folder(tmp_path, readonly_dir, rng):  # noqa: F811
    # float64 X for a forest, above max_nbytes: converted into a file there.
    X, y = rng.standard_normal((50, 3)), np.arange(50) % 2
    forest = RandomForestClassifier(n_estimators=1)
    missing = tmp_path / "missing"
    with pytest.raises(FileNotFoundError, match=r"missing.*does not exist"):
        MemmapEstimator(forest, folder=missing, max_nbytes=0).fit(X, y)
    with pytest.raises(PermissionError, match="not writable"):
        MemmapEstimator(forest, folder=readonly_dir, max_nbytes=0).fit(X, y)
    assert not missing.exists()
    assert list(readonly_dir.iterdir()) == []


SPLIT_INPUTS = {
    "object": (np.array([["a", 1.0]] * 10, dtype=object), None),
    "complex": (np.ones((10, 2), dtype=complex), None),
    "1-D": (np.ones(10), None),
    "3-D": (np.ones((10, 2, 2)), None),
    "zero columns": (np.ones((10, 0)), None),
    "nan": (np.full((10, 2), np.nan), None),
    "text column": (pd.DataFrame({"a": range(10), "b": ["x"] * 10}), None),
    "zero rows": (np.ones((0, 3)), None),
    "zero rows and y": (np.ones((0, 3)), np.arange(10)),
    "y too short": (np.ones((10, 3)), np.arange(9)),
    "None": (None, None),
    "scalar": (np.float64(1.0), None),
}


@pytest.mark.parametrize("X, y", SPLIT_INPUTS.values(), ids=SPLIT_INPUTS.keys())
def test_split_accepts_and_rejects_what_kfold_does(X, y):
    def outcome(cv):
        try:
            return [(tr.tolist(), te.tolist()) for tr, te in cv.split(X, y)]
        except Exception as exc:
            return type(exc), str(exc)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", skmemmap.CopyWarning)
        assert outcome(ContiguousKFold(2)) == outcome(KFold(2))


def test_split_of_a_memmaparray_with_a_short_y(skm_folder):
    X_mm = skmemmap.memmap(np.ones((10, 3)))
    with pytest.raises(ValueError, match=r"inconsistent numbers of samples: \[10, 9\]"):
        list(ContiguousKFold(2).split(X_mm, np.arange(9)))


SHUFFLE_INPUTS = {
    "object": (np.array([["a", 1.0]] * 10, dtype=object), ValueError, "numeric data"),
    "complex": (np.ones((10, 2), dtype=complex), ValueError, "numeric data only"),
    "3-D": (np.ones((10, 2, 2)), ValueError, "1-D or 2-D"),
    "zero rows": (np.ones((0, 3)), ValueError, "0 sample"),
    "zero columns": (np.ones((10, 0)), ValueError, "0 feature"),
    "text column": (
        pd.DataFrame({"a": range(10), "b": ["x"] * 10}),
        ValueError,
        r"non-numeric column\(s\) \['b'\]",
    ),
    "None": (None, TypeError, "Expected sequence or array-like"),
}


@pytest.mark.parametrize(
    "X, error, match", SHUFFLE_INPUTS.values(), ids=SHUFFLE_INPUTS.keys()
)
def test_shuffle_rejects_bad_input_and_writes_nothing(X, error, match, skm_folder):
    with pytest.raises(error, match=match):
        skmemmap.shuffle(X, random_state=0)
    assert leftovers(skm_folder) == []


def test_shuffle_with_missing_or_read_only_folder(tmp_path, readonly_dir):  # noqa: F811
    with pytest.raises(FileNotFoundError, match="does not exist"):
        skmemmap.shuffle(np.ones((10, 2)), folder=tmp_path / "missing")
    with pytest.raises(PermissionError, match="not writable"):
        skmemmap.shuffle(np.ones((10, 2)), folder=readonly_dir)
    assert list(readonly_dir.iterdir()) == []


def test_load_with_missing_or_read_only_folder(user_file, tmp_path, readonly_dir):  # noqa: F811
    path = user_file(np.ones((10, 2)))
    with pytest.raises(FileNotFoundError, match="does not exist"):
        skmemmap.load(path, folder=tmp_path / "missing")
    with pytest.raises(PermissionError, match="not writable"):
        skmemmap.load([path, path], folder=readonly_dir)
    assert list(readonly_dir.iterdir()) == []


BAD_FILES = {
    "zero rows": ([np.ones((0, 3))], "0 sample"),
    "3-D": ([np.ones((4, 2, 2))], "1-D or 2-D"),
    "complex": ([np.ones((4, 2), dtype=complex)], "numeric data only"),
    "chunks 1-D and 2-D": ([np.ones(4), np.ones((4, 1))], "number of columns"),
    "chunks of zero rows": ([np.ones((0, 3)), np.ones((0, 3))], "0 sample"),
    "chunk of text": (
        [np.ones((2, 2)), np.array([["a", "b"]])],
        r"part1\.npy. has dtype <U1",
    ),
    "chunks of text": ([np.array([["a"]]), np.array([["b"]])], "numeric data only"),
}


@pytest.mark.parametrize("arrays, match", BAD_FILES.values(), ids=BAD_FILES.keys())
def test_load_rejects_bad_files_and_writes_nothing(
    arrays, match, user_file, skm_folder
):
    paths = [user_file(a, f"part{i}.npy") for i, a in enumerate(arrays)]
    with pytest.raises(ValueError, match=match):
        skmemmap.load(paths if len(paths) > 1 else paths[0])
    assert leftovers(skm_folder) == []


# -- 2. faults ---------------------------------------------------------------------
def test_killed_worker_fails_the_search_and_the_parent_goes_on(skm_folder, tmp_path):
    # The parent is a subprocess, so that the test can check its folder is
    # gone once it has exited, whatever its workers left there.
    done = run_python(
        """
        import json, os, sys, warnings
        import numpy as np
        import skmemmap
        from _faults import KillOnGatheredFit, KillOnSecondFit
        from sklearn.model_selection import GridSearchCV, KFold
        from skmemmap._folder import session_folder

        warnings.simplefilter("ignore", skmemmap.CopyWarning)
        rng = np.random.default_rng(0)
        X = rng.standard_normal((300, 5))
        y = (X[:, 0] > 0).astype(int)
        X_mm = skmemmap.memmap(X)
        out = {"folder": str(session_folder())}
        grid = {"C": [0.1, 1.0, 10.0]}
        try:
            # KFold(3): workers also gather the middle training set to a file.
            with skmemmap.config_context(gather_nbytes=0):
                GridSearchCV(
                    KillOnGatheredFit(marker=sys.argv[1]), grid, cv=KFold(3), n_jobs=2
                ).fit(X_mm, y)
        except Exception as exc:
            out["error"] = f"{type(exc).__module__}.{type(exc).__name__}"
        out["killed"] = os.path.exists(sys.argv[1] + ".killed")
        search = GridSearchCV(KillOnSecondFit(), grid, cv=KFold(2), n_jobs=2)
        plain = GridSearchCV(KillOnSecondFit(), grid, cv=KFold(2), n_jobs=2)
        search.fit(X_mm, y)
        plain.fit(X, y)
        out["same"] = bool(
            np.array_equal(
                search.cv_results_["mean_test_score"],
                plain.cv_results_["mean_test_score"],
            )
        )
        out["files"] = sorted(os.listdir(out["folder"]))
        print(json.dumps(out))
        """,
        skm_folder,
        tmp_path / "marker",
    )
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert out["killed"]
    assert (
        out["error"] == "joblib.externals.loky.process_executor.TerminatedWorkerError"
    )
    assert out["same"]
    assert any(".gather-" in f for f in out["files"])  # workers wrote there
    assert not os.path.exists(out["folder"])
    assert list(skm_folder.iterdir()) == []


def test_killed_parent_with_siblings_and_gathers_is_swept(skm_folder):
    done = run_python(
        """
        import json, os, warnings
        import numpy as np
        import skmemmap
        from skmemmap._folder import session_folder

        warnings.simplefilter("ignore", skmemmap.CopyWarning)
        X_mm = skmemmap.memmap(np.arange(4000.0).reshape(1000, 4))
        X32 = skmemmap.memmap(X_mm, dtype=np.float32, order="F")
        with skmemmap.config_context(gather_nbytes=0):
            G = X_mm[[0, 5, 9, 700]]
        folder = str(session_folder())
        print(json.dumps({"folder": folder, "files": os.listdir(folder)}), flush=True)
        os.kill(os.getpid(), 9)
        """,
        skm_folder,
    )
    assert done.returncode == -signal.SIGKILL
    out = json.loads(done.stdout)
    orphan = Path(out["folder"])
    assert any(".as-float32-F-" in f for f in out["files"])
    assert any(".gather-" in f for f in out["files"])
    assert orphan.is_dir()

    mine = _folder.session_folder(skm_folder)

    assert not orphan.exists()
    assert session_dirs(skm_folder) == [mine]


@pytest.fixture
def small_disk(tmp_path, monkeypatch):
    """A 2 MB tmpfs as $SKMEMMAP_FOLDER: writes past it fail with ENOSPC."""
    mount = tmp_path / "tmpfs"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mount)],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    monkeypatch.setenv("SKMEMMAP_FOLDER", str(mount))
    try:
        yield mount
    finally:
        gc.collect()
        session = _folder._sessions.pop(mount.resolve(), None)
        if session is not None:
            session.remove()
        subprocess.run(["umount", "-l", str(mount)], check=True)


FULL_DISK_WAYS = {
    # The free-space check refuses before writing anything...
    "checked": (),
    # ...or, if the disk filled up since, posix_fallocate fails...
    "fallocate": ("check",),
    # ...or, where fallocate is missing, the write itself fails half-way.
    "write": ("check", "fallocate"),
}


@pytest.mark.parametrize("target", ["memmap", "sibling", "gather"])
@pytest.mark.parametrize("skip", FULL_DISK_WAYS.values(), ids=FULL_DISK_WAYS.keys())
def test_disk_full_raises_and_leaves_no_partial_file(
    skip, target, small_disk, monkeypatch
):
    if "check" in skip:
        monkeypatch.setattr(_folder, "check_free_space", lambda folder, nbytes: None)
    if "fallocate" in skip:
        monkeypatch.delattr(os, "posix_fallocate")
    root_data = np.arange(2**18, dtype=np.float32).reshape(-1, 8)  # 1 MB
    root = None if target == "memmap" else skmemmap.memmap(root_data)
    before = set(folder_files(small_disk))

    with pytest.raises(NotEnoughDiskSpaceError, match="bytes needed") as info:
        if target == "memmap":
            skmemmap.memmap(np.ones((2**18, 2)))  # 4 MB
        elif target == "sibling":
            skmemmap.memmap(root, dtype=np.float64)  # 2 MB
        else:
            rows = np.repeat(np.arange(root.shape[0]), 2)  # 2 MB
            with (
                skmemmap.config_context(gather_nbytes=0),
                warnings.catch_warnings(),
            ):
                warnings.simplefilter("ignore", skmemmap.CopyWarning)
                root[rows]

    assert info.value.errno == errno.ENOSPC
    assert "SKMEMMAP_FOLDER" in str(info.value)
    del info
    new = set(folder_files(small_disk)) - before
    assert all(f.endswith(".lock") for f in new), new  # nothing partial
    assert not any(".tmp-" in f for f in folder_files(small_disk))
    if root is not None:
        np.testing.assert_array_equal(root, root_data)  # the source is intact


def test_file_size_limit_is_reported_as_such(skm_folder):
    # EFBIG comes from RLIMIT_FSIZE, not from the disk: the message must say
    # so, not report the disk's (plentiful) free space.
    done = run_python(
        """
        import errno, json, os, resource, signal, warnings
        import numpy as np
        import skmemmap
        from skmemmap._folder import session_folder

        warnings.simplefilter("ignore", skmemmap.CopyWarning)
        root = skmemmap.memmap(np.arange(2**17, dtype=np.float32).reshape(-1, 8))
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (2**20, resource.RLIM_INFINITY))
        rows = np.repeat(np.arange(root.shape[0]), 4)
        attempts = {
            "memmap": lambda: skmemmap.memmap(np.ones((2**16, 4))),
            "sibling": lambda: skmemmap.memmap(root, dtype=np.float64, order="F"),
            "gather": lambda: root[rows],
        }
        out = {}
        for name, attempt in attempts.items():
            try:
                with skmemmap.config_context(gather_nbytes=0):
                    attempt()
            except skmemmap.NotEnoughDiskSpaceError as exc:
                out[name] = [exc.errno == errno.EFBIG, str(exc)]
        folder = session_folder()
        out["left"] = sorted(os.listdir(folder))
        out["root"] = os.path.basename(root.filename)
        print(json.dumps(out))
        """,
        skm_folder,
    )
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    for name in ("memmap", "sibling", "gather"):
        is_efbig, message = out[name]
        assert is_efbig, name
        assert "file-size limit" in message and "1048576 bytes" in message, message
        assert "bytes needed" in message and "bytes free" not in message, message
    assert [f for f in out["left"] if not f.endswith(".lock")] == [
        ".owner",
        out["root"],
    ]


@pytest.mark.parametrize("what", ["sibling", "gather"])
def test_two_processes_create_the_same_file_once(what, skm_folder, rng):
    from _faults import race

    X = rng.standard_normal((100_000, 10))  # 8 MB: long enough to overlap
    X_mm = skmemmap.memmap(X)
    idx = np.arange(0, X.shape[0], 2)
    ctx = multiprocessing.get_context("spawn")
    barrier, results = ctx.Barrier(2), ctx.Queue()
    procs = [
        ctx.Process(target=race, args=(what, X_mm, idx, barrier, results))
        for _ in range(2)
    ]
    for p in procs:
        p.start()
    try:
        outcomes = [results.get(timeout=120) for _ in procs]
    finally:
        for p in procs:
            p.join(timeout=60)
    for outcome in outcomes:
        assert outcome[1] != "error", outcome[2]
    assert sorted(written for _, written, _, _ in outcomes) == [False, True]
    assert len({filename for _, _, filename, _ in outcomes}) == 1
    assert all(equal for *_, equal in outcomes)
    made = [f for f in folder_files(skm_folder) if f.endswith(".npy")]
    assert len(made) == 2  # X's file and one shared sibling or gather
    assert not any(".tmp-" in f for f in folder_files(skm_folder))


# -- 3. nothing lost, nothing changed ------------------------------------------------
def test_user_file_unchanged_and_results_equal_scikit_learn(user_file, skm_folder, rng):
    X = rng.standard_normal((400, 6))
    y = (X[:, 0] + X[:, 1] > 0).astype(int)
    path = user_file(X)
    digest = sha256(path)
    X_mm = skmemmap.load(path)
    grid = {"max_depth": [2, 4]}
    forest = RandomForestClassifier(n_estimators=5, random_state=0)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", skmemmap.CopyWarning)
        search = GridSearchCV(
            MemmapEstimator(forest),
            {"estimator__" + k: v for k, v in grid.items()},
            cv=KFold(2),
            n_jobs=2,
        )
        search.fit(X_mm, y)
        pred = cross_val_predict(
            MemmapEstimator(LogisticRegression()), X_mm, y, cv=KFold(3), n_jobs=2
        )
        X_s, y_s = skmemmap.shuffle(X_mm, y, random_state=0)
        with skmemmap.config_context(gather_nbytes=0):
            gathered = X_mm[::-1]
    plain = GridSearchCV(forest, grid, cv=KFold(2), n_jobs=2).fit(X, y)

    np.testing.assert_array_equal(
        search.cv_results_["mean_test_score"], plain.cv_results_["mean_test_score"]
    )
    np.testing.assert_array_equal(
        pred, cross_val_predict(LogisticRegression(), X, y, cv=KFold(3))
    )
    order = np.argsort(X[:, 0])
    pos = order[np.searchsorted(X[order, 0], np.asarray(X_s)[:, 0])]
    np.testing.assert_array_equal(X_s, X[pos])  # X's rows, permuted with y
    np.testing.assert_array_equal(y_s, y[pos])
    np.testing.assert_array_equal(gathered, X[::-1])
    assert sha256(path) == digest


# -- 4. security -------------------------------------------------------------------
def test_every_file_and_folder_is_private(user_file, skm_folder, rng):
    # Under a umask that would let anyone read: the modes are skmemmap's own.
    old_umask = os.umask(0)
    try:
        paths = [user_file(rng.standard_normal((50, 3)), f"c{i}.npy") for i in (0, 1)]
        X = skmemmap.load(paths, consolidate=True)  # a consolidated chunk file
        X32 = skmemmap.memmap(X, dtype=np.float32, order="F")  # a sibling
        with skmemmap.config_context(gather_nbytes=0), warnings.catch_warnings():
            warnings.simplefilter("ignore", skmemmap.CopyWarning)
            G = X[[0, 5, 9]]  # a gather
        S = skmemmap.shuffle(X, random_state=0)
    finally:
        os.umask(old_umask)
    (session,) = session_dirs(skm_folder)
    names = os.listdir(session)
    for kind in ("chunks-", ".as-float32-F-", ".gather-", ".lock", ".owner"):
        assert any(kind in n for n in names), (kind, names)
    assert stat.S_IMODE(session.stat().st_mode) == 0o700
    for name in names:
        mode = stat.S_IMODE((session / name).stat(follow_symlinks=False).st_mode)
        assert mode == 0o600, (name, oct(mode))
    assert X32.shape == S.shape and G.shape == (3, 3)


def test_names_cannot_be_predicted(skm_folder):
    a, b = skmemmap.memmap(np.ones((4, 2))), skmemmap.memmap(np.ones((4, 2)))
    assert a.filename != b.filename
    for X in (a, b):
        assert re.fullmatch(r"[0-9a-f]{16}\.npy", os.path.basename(X.filename))
    folder = os.path.basename(os.path.dirname(a.filename))
    assert re.fullmatch(rf"skmemmap-{os.getpid()}-\w{{8}}", folder)


def test_symlink_at_a_sibling_path_is_not_followed(tmp_path, skm_folder, rng):
    X = rng.standard_normal((20, 3))
    X_mm = skmemmap.memmap(X)
    path = _construct.sibling_path(X_mm._skm_file, np.float32, "F")
    # A valid .npy of the right layout, but the wrong data, and a lock target.
    victim = tmp_path / "victim.npy"
    np.save(victim, np.zeros((20, 3), dtype=np.float32, order="F"))
    digest = sha256(victim)
    lock_target = tmp_path / "lock-target"
    os.symlink(victim, path)
    os.symlink(lock_target, path + ".lock")

    X32 = skmemmap.memmap(X_mm, dtype=np.float32, order="F")

    np.testing.assert_array_equal(X32, X.astype(np.float32))  # not the victim's
    assert X32.filename == path and not os.path.islink(path)
    assert not os.path.islink(path + ".lock")
    assert sha256(victim) == digest
    assert not lock_target.exists()


def test_dangling_symlink_at_a_gather_path_is_not_followed(tmp_path, skm_folder):
    X = np.arange(60.0).reshape(20, 3)
    X_mm = skmemmap.memmap(X)
    rows = [0, 4, 7]
    with skmemmap.config_context(gather_nbytes=0), warnings.catch_warnings():
        warnings.simplefilter("ignore", skmemmap.CopyWarning)
        path = X_mm[rows].filename
        gc.collect()
        os.unlink(path)
        target = tmp_path / "created-through-the-link.npy"
        os.symlink(target, path)
        again = X_mm[rows]
    np.testing.assert_array_equal(again, X[rows])
    assert again.filename == path and not os.path.islink(path)
    assert not target.exists()
