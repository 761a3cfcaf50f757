"""skmemmap.shuffle: one permutation written once, y alike, stratified folds."""

import hashlib
import os
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import skmemmap
from skmemmap import ContiguousKFold, CopyWarning
from skmemmap._folds import fold_sizes


def _rows_with_ids(n_samples, n_features=3, dtype=np.float64, order="C"):
    """X whose column 0 is the row number, so any permutation can be read back."""
    X = np.empty((n_samples, n_features), dtype=dtype, order=order)
    X[:] = np.arange(n_features, dtype=dtype) * 0.5
    X[:, 0] = np.arange(n_samples)
    return X


def _sha256(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def _check_stratified(labels, n_splits):
    classes, counts = np.unique(labels, return_counts=True)
    start = 0
    for size in fold_sizes(len(labels), n_splits):
        fold = labels[start : start + size]
        start += size
        for c, n_c in zip(classes, counts, strict=True):
            ideal = size * n_c / len(labels)
            assert abs(np.count_nonzero(fold == c) - ideal) <= 1, (c, size, ideal)


@pytest.mark.parametrize("order", ["C", "F"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int64])
def test_rows_permuted_consistently_with_y(folder, dtype, order):
    X = _rows_with_ids(50, dtype=dtype, order=order)
    y = np.arange(50) * 10
    X_s, y_s = skmemmap.shuffle(X, y, random_state=0)
    assert skmemmap.is_memmap_view(X_s)
    assert X_s.dtype == X.dtype
    assert X_s.flags.f_contiguous if order == "F" else X_s.flags.c_contiguous
    perm = np.asarray(X_s[:, 0]).astype(np.intp)
    np.testing.assert_array_equal(np.sort(perm), np.arange(50))
    assert not np.array_equal(perm, np.arange(50))
    np.testing.assert_array_equal(np.asarray(X_s), X[perm])
    np.testing.assert_array_equal(y_s, y[perm])
    assert type(y_s) is np.ndarray


def test_random_state_reproducible(folder):
    X = _rows_with_ids(100)
    a = skmemmap.shuffle(X, random_state=3)
    b = skmemmap.shuffle(X, random_state=3)
    c = skmemmap.shuffle(X, random_state=4)
    assert a.filename != b.filename  # a new file each time
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    assert not np.array_equal(np.asarray(a), np.asarray(c))
    rs = np.random.RandomState(3)
    np.testing.assert_array_equal(
        np.asarray(skmemmap.shuffle(X, random_state=rs))[:, 0],
        np.random.RandomState(3).permutation(100),
    )


def test_source_file_untouched(folder, tmp_path):
    X = _rows_with_ids(300, 5, dtype=np.float32, order="F")
    path = tmp_path / "x.npy"
    np.save(path, X)
    before, mtime = _sha256(path), os.stat(path).st_mtime_ns
    X_mm = skmemmap.load(path)
    X_s = skmemmap.shuffle(X_mm, random_state=0)
    X_s2 = skmemmap.shuffle(np.load(path, mmap_mode="r"), random_state=0)
    assert X_s.filename != os.fspath(path)
    assert _sha256(path) == before and os.stat(path).st_mtime_ns == mtime
    assert X_s.dtype == np.float32 and X_s.flags.f_contiguous
    np.testing.assert_array_equal(np.asarray(X_s), np.asarray(X_s2))
    perm = np.asarray(X_s[:, 0]).astype(np.intp)
    np.testing.assert_array_equal(np.asarray(X_s), X[perm])


@pytest.mark.parametrize("order", ["C", "F"])
def test_many_blocks(folder, monkeypatch, order):
    # Blocks of 4 KB: the rows are read and written in many pieces.
    monkeypatch.setattr("skmemmap._npy.BLOCK_BYTES", 4096)
    X = _rows_with_ids(2000, 7, order=order)
    X_mm = skmemmap.memmap(X)
    X_s = skmemmap.shuffle(X_mm, random_state=1)
    perm = np.asarray(X_s[:, 0]).astype(np.intp)
    np.testing.assert_array_equal(np.sort(perm), np.arange(2000))
    np.testing.assert_array_equal(np.asarray(X_s), X[perm])
    assert X_s.flags.f_contiguous if order == "F" else X_s.flags.c_contiguous


def test_one_dimensional_and_memmap_view(folder):
    x = np.arange(30.0)
    x_s = skmemmap.shuffle(x, random_state=0)
    assert x_s.shape == (30,)
    np.testing.assert_array_equal(np.sort(np.asarray(x_s)), x)
    X_mm = skmemmap.memmap(_rows_with_ids(40))
    part = X_mm[10:30]
    X_s, y_s = skmemmap.shuffle(part, np.arange(10, 30), random_state=0)
    np.testing.assert_array_equal(np.asarray(X_s[:, 0]), y_s)


def test_pandas_inputs(folder):
    pd = pytest.importorskip("pandas")
    X = _rows_with_ids(20)
    y = pd.Series(np.arange(20) * 2, index=[f"r{i}" for i in range(20)], name="t")
    X_s, y_s = skmemmap.shuffle(X, y, random_state=0)
    assert isinstance(y_s, pd.Series) and y_s.name == "t"
    perm = np.asarray(X_s[:, 0]).astype(np.intp)
    assert list(y_s.index) == [f"r{i}" for i in perm]
    np.testing.assert_array_equal(y_s.to_numpy(), 2 * perm)

    df = pd.DataFrame(X, columns=["id", "b", "c"])
    X_s, y_s = skmemmap.shuffle(df, y, random_state=0)
    assert skmemmap.is_memmap_view(X_s)
    np.testing.assert_array_equal(y_s.to_numpy(), 2 * np.asarray(X_s[:, 0]))


def test_y_list_stays_a_list(folder):
    X_s, y_s = skmemmap.shuffle(_rows_with_ids(6), list("abcdef"), random_state=0)
    assert isinstance(y_s, list)
    assert y_s == ["abcdef"[int(i)] for i in np.asarray(X_s[:, 0])]


@pytest.mark.parametrize("n_splits", [2, 3, 5, 7])
def test_stratified_folds_within_one_sample(folder, n_splits):
    y = np.repeat([0, 1, 2, 3], [500, 37, 180, 4])  # sorted: the worst order
    X = _rows_with_ids(len(y))
    X_s, y_s = skmemmap.shuffle(X, y, stratify=y, n_splits=n_splits, random_state=0)
    np.testing.assert_array_equal(y_s, y[np.asarray(X_s[:, 0]).astype(np.intp)])
    _check_stratified(y_s, n_splits)
    # and the folds ContiguousKFold makes are these blocks
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CopyWarning)
        for _, test in ContiguousKFold(n_splits).split(X_s):
            assert abs(np.mean(y_s[test] == 0) - 500 / len(y)) < 1 / len(test) + 1e-12


def test_stratify_with_strings_and_other_labels(folder):
    y = np.array(["a"] * 9 + ["b"] * 3)
    groups = np.array([0, 1] * 6)
    X_s, y_s = skmemmap.shuffle(
        _rows_with_ids(12), y, stratify=groups, n_splits=3, random_state=0
    )
    _check_stratified(groups[np.asarray(X_s[:, 0]).astype(np.intp)], 3)
    np.testing.assert_array_equal(y_s, y[np.asarray(X_s[:, 0]).astype(np.intp)])


@settings(max_examples=80, deadline=None)
@given(
    st.lists(st.integers(0, 5), min_size=2, max_size=80),
    st.integers(2, 9),
    st.integers(0, 2**31 - 1),
)
def test_stratified_order_hypothesis(labels, n_splits, seed):
    from skmemmap._shuffle import _stratified_order

    labels = np.array(labels)
    n_splits = min(n_splits, len(labels))
    perm = _stratified_order(labels, len(labels), n_splits, np.random.RandomState(seed))
    np.testing.assert_array_equal(np.sort(perm), np.arange(len(labels)))
    _check_stratified(labels[perm], n_splits)


def test_errors(folder):
    X = _rows_with_ids(10)
    with pytest.raises(
        ValueError, match="inconsistent numbers of samples: \\[10, 9\\]"
    ):
        skmemmap.shuffle(X, np.arange(9))
    with pytest.raises(ValueError, match="stratify has 8 samples but X has 10"):
        skmemmap.shuffle(X, np.arange(10), stratify=np.arange(8))
    with pytest.raises(ValueError, match="n_splits=11 greater than the number"):
        skmemmap.shuffle(X, stratify=np.zeros(10), n_splits=11)
    with pytest.raises(ValueError, match="Integral type"):
        skmemmap.shuffle(X, n_splits=2.0)
    with pytest.raises(ValueError, match="numeric data only"):
        skmemmap.shuffle(np.array([["a"], ["b"]]))
    assert not list(folder.glob("*/*.npy"))  # nothing written by failed calls
