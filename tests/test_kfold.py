"""k-fold at any k: bounded gather memory, no stale mappings, known disk use."""

import gc
import os
import tracemalloc
import warnings

import numpy as np
import pytest
from sklearn.model_selection import GridSearchCV
from sklearn.tree import DecisionTreeClassifier

import skmemmap
from skmemmap import _npy
from skmemmap._disk import disk_usage, family_files, kfold_disk_bound

# What a gather, conversion or shuffle may allocate on top of its input,
# whatever X's size: two 4 MB blocks (input and converted output) plus the
# index arrays' small temporaries. Plain numpy indexing of the 128 MB X below
# would allocate 100+ MB.
PEAK_LIMIT = 12 * 2**20


def _peak(func):
    gc.collect()
    tracemalloc.start()
    try:
        result = func()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    return peak, result


def _middle_train(n, k=5, i=2):
    """The training indices of KFold(k)'s fold ``i``: not contiguous."""
    sizes = np.full(k, n // k)
    sizes[: n % k] += 1
    lo, hi = sizes[:i].sum(), sizes[: i + 1].sum()
    return np.r_[0:lo, hi:n]


@pytest.fixture
def small_gathers():
    skmemmap.set_config(gather_nbytes=1)
    yield
    skmemmap.set_config(gather_nbytes="1M")


def _ramp(shape, dtype, order):
    return np.asarray(
        np.arange(np.prod(shape), dtype=np.float64).reshape(shape) % 251,
        dtype=dtype,
        order=order,
    )


@pytest.mark.parametrize("order", ["C", "F"])
def test_gather_peak_does_not_grow_with_x(folder, small_gathers, order):
    peaks = []
    for n_features in (200, 1600):  # X of 16 MB, then 128 MB
        X = skmemmap.memmap(_ramp((20_000, n_features), np.float32, order))
        idx = _middle_train(X.shape[0])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", skmemmap.CopyWarning)
            peak, gathered = _peak(lambda X=X, idx=idx: X[idx])
        assert os.path.basename(gathered.filename).split(".")[1].startswith("gather")
        np.testing.assert_array_equal(gathered[::997], X.view(np.ndarray)[idx][::997])
        assert gathered.flags.f_contiguous == (order == "F")
        peaks.append(peak)
        del X, gathered
    assert max(peaks) < PEAK_LIMIT, [p / 2**20 for p in peaks]


@pytest.mark.parametrize("order", ["C", "F"])
def test_rows_and_columns_larger_than_a_block(folder, small_gathers, order):
    # One row (C) or one column (F) of 6 MB: written in parts of a line.
    shape = (8, 1_500_000) if order == "C" else (1_500_000, 8)
    X = skmemmap.memmap(_ramp(shape, np.float32, order))
    idx = np.array([5, 1, 1, 7, 0]) if order == "C" else _middle_train(shape[0])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", skmemmap.CopyWarning)
        peak, gathered = _peak(lambda: X[idx])
    np.testing.assert_array_equal(gathered, X.view(np.ndarray)[idx])
    assert peak < PEAK_LIMIT, peak / 2**20


def test_conversion_and_shuffle_peaks_bounded(folder):
    X = skmemmap.memmap(_ramp((40_000, 400), np.float64, "C"))  # 128 MB
    peak, X32 = _peak(lambda: skmemmap.memmap(X, dtype=np.float32, order="F"))
    assert peak < PEAK_LIMIT, peak / 2**20
    np.testing.assert_array_equal(X32[::101], X.view(np.ndarray)[::101])
    for src in (X, X32):
        peak, Xs = _peak(lambda src=src: skmemmap.shuffle(src, random_state=0))
        assert peak < PEAK_LIMIT + 3 * src.shape[0] * 8, peak / 2**20  # perm
        assert Xs.dtype == src.dtype and Xs.flags.f_contiguous == (src is X32)


def test_tiles_cover_the_file_in_order(monkeypatch, tmp_path):
    monkeypatch.setattr(_npy, "BLOCK_BYTES", 24)  # 3 float64 per block
    for order in ("C", "F"):
        for shape in ((7, 5), (2, 11), (11, 2), (9,)):
            a = _ramp(shape, np.float64, order)
            path = tmp_path / f"t-{order}-{len(shape)}.npy"
            with open(path, "wb") as f:
                f.write(_npy.header_bytes(shape, a.dtype, order))
                _npy.write_blocks(
                    f,
                    lambda r, c, a=a: a[r] if c is None else a[r, c],
                    shape,
                    a.dtype,
                    order,
                )
            np.testing.assert_array_equal(np.load(path), a)


def _maps():
    with open("/proc/self/maps") as f:
        return [line.split()[-1] for line in f if len(line.split()) >= 6]


@pytest.mark.skipif(not os.path.exists("/proc/self/maps"), reason="Linux /proc")
@pytest.mark.parametrize("n_jobs", [1, 2])
def test_no_gather_or_source_mapped_after_search(
    folder, small_gathers, user_file, n_jobs
):
    rng = np.random.RandomState(0)
    source = user_file(rng.standard_normal((600, 20)))
    y = np.arange(600) % 2
    X = skmemmap.load(source, dtype=np.float32, order="F")  # a sibling of source
    assert X.filename != str(source)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        search = GridSearchCV(
            skmemmap.MemmapEstimator(DecisionTreeClassifier(random_state=0)),
            {"estimator__max_depth": [2, 3]},
            cv=skmemmap.ContiguousKFold(5),
            n_jobs=n_jobs,
        ).fit(X, y)
    gc.collect()
    gathers = [p for p in family_files(X) if ".gather-" in p]
    assert len(gathers) == 3  # folds 1, 2, 3 were gathered
    mapped = set(_maps())
    assert str(source) not in mapped
    assert not mapped & set(gathers)
    assert X.filename in mapped  # the array in use stays mapped
    # The source is mapped again on demand when a view of it is taken.
    again = skmemmap.load(source)
    assert str(source) in set(_maps())
    np.testing.assert_allclose(again[:5], X[:5], rtol=1e-6)
    assert search.best_score_ > 0


@pytest.mark.parametrize("n_splits", [2, 3, 5, 10])
def test_disk_usage_equals_files_made(folder, small_gathers, user_file, n_splits):
    rng = np.random.RandomState(0)
    source = user_file(rng.standard_normal((503, 7)))
    y = np.arange(503) % 2
    base = folder
    before = {p for p, _, fs in os.walk(base) for p in fs}
    X = skmemmap.load(source, dtype=np.float32, order="F")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        GridSearchCV(
            skmemmap.MemmapEstimator(DecisionTreeClassifier(random_state=0)),
            {"estimator__max_depth": [2, 3]},
            cv=skmemmap.ContiguousKFold(n_splits),
        ).fit(X, y)
    made = {
        os.path.join(d, f): os.path.getsize(os.path.join(d, f))
        for d, _, fs in os.walk(base)
        for f in fs
        if f.endswith(".npy") and f not in before
    }
    assert len(made) == 1 + max(0, n_splits - 2)  # one sibling, k-2 gathers
    assert disk_usage(X) == sum(made.values())
    assert family_files(X) == made
    # Exactly the bound: the float64 source, read by a float32 F estimator.
    source_view = skmemmap.load(source)
    assert disk_usage(source_view) == disk_usage(X)
    bound = kfold_disk_bound(source_view, n_splits, np.float32, "F")
    assert disk_usage(X) == bound
    # Released with the arrays that need it.
    del X, source_view
    gc.collect()
    left = [p for p in made if os.path.exists(p)]
    assert left == []


def test_kfold_disk_bound_formula(folder):
    X = skmemmap.memmap(np.zeros((1000, 10)))
    for k in (2, 5, 10):
        bound = kfold_disk_bound(X, k, np.float32, "F")
        xc = 1000 * 10 * 4
        approx = xc * (k - 2) * (k - 1) / k + xc
        assert abs(bound - approx) <= 128 * (k - 1)  # headers only
    assert kfold_disk_bound(X, 5) == 3 * (128 + 800 * 80)  # no sibling
    with pytest.raises(ValueError, match="n_splits=2 or more"):
        kfold_disk_bound(X, 1)
    with pytest.raises(ValueError, match="greater than the number of samples"):
        kfold_disk_bound(X[:3], 5)
    assert disk_usage(np.ones(3)) == 0
