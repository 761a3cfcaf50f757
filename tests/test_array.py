"""MemmapArray, memmap() and load(): views of a file, reported copies, pickled refs."""

import copy
import gc
import io
import os
import pickle
import re
import tracemalloc
import warnings

import joblib
import numpy as np
import pandas as pd
import pytest
from _helpers import folder_files, sha256
from _spy import ViewSpy, describe, read_log, take
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sklearn.model_selection import (
    GridSearchCV,
    KFold,
    TimeSeriesSplit,
    cross_val_predict,
    cross_validate,
)

import skmemmap
from skmemmap import CopyWarning, MemmapArray, is_memmap_view

MB = 2**20


def npy_nbytes(array, order="C"):
    """Size of the ``.npy`` file numpy itself writes for ``array`` in ``order``."""
    buf = io.BytesIO()
    np.save(buf, np.asarray(array, order=order))
    return len(buf.getvalue())


def assert_view_of(result, X):
    """``result`` is a MemmapArray view of X's file, sharing X's memory."""
    assert type(result) is MemmapArray
    assert is_memmap_view(result)
    assert result.filename == X.filename
    assert np.shares_memory(result, X)


@pytest.fixture
def X_data(rng):
    return rng.standard_normal((40, 3))


@pytest.fixture
def X_mm(X_data, skm_folder):
    return skmemmap.memmap(X_data)


# -- memmap() ------------------------------------------------------------------
SOURCES = {
    "float64 C": lambda a: np.ascontiguousarray(a),
    "float64 F": lambda a: np.asfortranarray(a),
    "float32 C": lambda a: a.astype(np.float32),
    "float32 F": lambda a: np.asfortranarray(a, dtype=np.float32),
    "int64 C": lambda a: (a * 100).astype(np.int64),
    "int32 F": lambda a: np.asfortranarray(a * 100, dtype=np.int32),
    "bool": lambda a: a > 0,
    "1-D": lambda a: a[:, 0].copy(),
    "list": lambda a: a.tolist(),
}


@pytest.mark.parametrize("make", SOURCES.values(), ids=SOURCES.keys())
def test_memmap_keeps_content_dtype_and_order(make, X_data, skm_folder):
    X = make(X_data)
    expected = np.asarray(X)
    X_mm = skmemmap.memmap(X)

    assert type(X_mm) is MemmapArray and is_memmap_view(X_mm)
    assert X_mm.dtype == expected.dtype
    assert X_mm.shape == expected.shape
    np.testing.assert_array_equal(X_mm, expected)
    if expected.ndim == 2:
        assert X_mm.flags.f_contiguous == np.isfortran(expected)
    assert X_mm.flags.c_contiguous or X_mm.flags.f_contiguous
    assert not X_mm.flags.writeable
    assert folder_files(skm_folder) == [os.path.relpath(X_mm.filename, skm_folder)]
    assert os.path.getsize(X_mm.filename) == npy_nbytes(
        expected, order="F" if np.isfortran(expected) else "C"
    )
    np.testing.assert_array_equal(np.load(X_mm.filename), expected)


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int32])
@pytest.mark.parametrize("order", ["C", "F"])
@pytest.mark.parametrize("src_order", ["C", "F"])
def test_memmap_honours_dtype_and_order(dtype, order, src_order, X_data, skm_folder):
    # Whole numbers: converting them to int32 keeps every value.
    X = np.asarray(np.round(X_data * 10), order=src_order)
    X_mm = skmemmap.memmap(X, dtype=dtype, order=order)

    assert X_mm.dtype == dtype
    assert X_mm.flags.f_contiguous if order == "F" else X_mm.flags.c_contiguous
    np.testing.assert_array_equal(X_mm, X.astype(dtype))
    on_disk = np.load(X_mm.filename, mmap_mode="r")
    assert on_disk.dtype == dtype and np.isfortran(on_disk) == (order == "F")


def test_memmap_is_read_only(X_mm, X_data):
    with pytest.raises(ValueError, match="read-only"):
        X_mm[0, 0] = 1.0
    with pytest.raises(ValueError, match="read-only"):
        X_mm[2:4][:, 1] = 1.0
    with pytest.raises(ValueError, match="read-only"):
        X_mm += 1
    with pytest.raises(ValueError):
        X_mm.flags.writeable = True
    np.testing.assert_array_equal(X_mm, X_data)
    assert np.array_equal(np.load(X_mm.filename), X_data)


def test_memmap_from_np_memmap_not_npy(X_data, tmp_path, skm_folder):
    raw = np.memmap(tmp_path / "raw.bin", dtype=np.float64, mode="w+", shape=(40, 3))
    raw[:] = X_data
    raw.flush()
    digest = sha256(tmp_path / "raw.bin")

    X_mm = skmemmap.memmap(raw)

    # A raw (headerless) map cannot be wrapped: it is written once as a .npy.
    assert os.path.dirname(X_mm.filename).startswith(str(skm_folder))
    np.testing.assert_array_equal(X_mm, X_data)
    del raw
    assert sha256(tmp_path / "raw.bin") == digest


@pytest.mark.parametrize("order", ["C", "F"])
def test_memmap_wraps_whole_npy_map_without_writing(
    order, X_data, user_file, skm_folder
):
    path = user_file(np.asarray(X_data, order=order))
    mm = np.load(path, mmap_mode="r")

    X_mm = skmemmap.memmap(mm, order=order)

    assert X_mm.filename == str(path)
    assert folder_files(skm_folder) == []
    np.testing.assert_array_equal(X_mm, X_data)
    assert not X_mm.flags.writeable
    # Another layout cannot be wrapped: it is written once.
    other = skmemmap.memmap(mm, order="C" if order == "F" else "F")
    assert other.filename != str(path)
    assert len(folder_files(skm_folder)) == 1
    np.testing.assert_array_equal(other, X_data)


def test_memmap_of_partial_npy_map_is_written(X_data, user_file, skm_folder):
    path = user_file(X_data)
    rows = np.load(path, mmap_mode="r")[5:10]

    X_mm = skmemmap.memmap(rows)

    assert X_mm.filename != str(path)
    np.testing.assert_array_equal(X_mm, X_data[5:10])


def test_memmap_returns_memmaparray_in_layout_as_is(X_mm, skm_folder):
    before = folder_files(skm_folder)
    assert skmemmap.memmap(X_mm) is X_mm
    assert skmemmap.memmap(X_mm, dtype=np.float64, order="C") is X_mm
    assert folder_files(skm_folder) == before


def test_memmap_of_memmaparray_in_other_layout(X_mm, X_data, skm_folder):
    X32 = skmemmap.memmap(X_mm, dtype=np.float32, order="F")

    assert is_memmap_view(X32) and X32.filename != X_mm.filename
    assert X32.dtype == np.float32 and X32.flags.f_contiguous
    np.testing.assert_array_equal(X32, X_data.astype(np.float32))
    # Converted once per file: the second request reuses the file.
    assert skmemmap.memmap(X_mm, dtype=np.float32, order="F").filename == X32.filename
    # Rows of the file in another layout are the same rows of the converted file.
    rows = skmemmap.memmap(X_mm[10:20], dtype=np.float32, order="F")
    assert rows.filename == X32.filename
    np.testing.assert_array_equal(rows, X_data[10:20].astype(np.float32))


def test_memmap_dataframe(X_data, skm_folder):
    df = pd.DataFrame(X_data, columns=["a", "b", "c"])
    df["n"] = np.arange(len(df), dtype=np.int64)

    X_mm = skmemmap.memmap(df)

    assert is_memmap_view(X_mm)
    assert X_mm.shape == df.shape
    assert X_mm.dtype == np.float64
    np.testing.assert_array_equal(X_mm, df.to_numpy())
    X32 = skmemmap.memmap(df, dtype=np.float32, order="C")
    assert X32.dtype == np.float32 and X32.flags.c_contiguous
    np.testing.assert_array_equal(X32, df.to_numpy(dtype=np.float32))


def test_memmap_series_is_one_dimensional(X_data, skm_folder):
    y = pd.Series(X_data[:, 0], name="target")
    y_mm = skmemmap.memmap(y)
    assert y_mm.shape == np.asarray(y).shape == (40,)
    np.testing.assert_array_equal(y_mm, y.to_numpy())
    y_int = skmemmap.memmap(pd.Series(np.arange(40)), dtype=np.int32)
    assert y_int.shape == (40,) and y_int.dtype == np.int32
    np.testing.assert_array_equal(y_int, np.arange(40))


def test_memmap_dataframe_with_text_column_names_it(X_data, skm_folder):
    df = pd.DataFrame(X_data, columns=["a", "b", "c"])
    df["city"] = "Paris"

    with pytest.raises(ValueError, match=r"non-numeric column\(s\) \['city'\]"):
        skmemmap.memmap(df)
    assert folder_files(skm_folder) == []


BAD_INPUTS = {
    "object": (np.array([[1.0, None]], dtype=object), "numeric data only"),
    "str": ([["a", "b"], ["c", "d"]], "numeric data only"),
    "complex": (np.ones((3, 2), dtype=complex), "numeric data only"),
    "3-D": (np.ones((3, 2, 2)), "1-D or 2-D"),
    "0-D": (np.float64(3.0), "1-D or 2-D"),
    "zero rows": (np.ones((0, 3)), "0 sample"),
    "zero columns": (np.ones((3, 0)), "0 feature"),
}


@pytest.mark.parametrize("X, match", BAD_INPUTS.values(), ids=BAD_INPUTS.keys())
def test_memmap_rejects_bad_input_and_writes_nothing(X, match, skm_folder):
    with pytest.raises(ValueError, match=match):
        skmemmap.memmap(X)
    assert folder_files(skm_folder) == []


def test_memmap_rejects_bad_requested_dtype_and_order(X_data, skm_folder):
    with pytest.raises(ValueError, match="numeric data only"):
        skmemmap.memmap(X_data, dtype=complex)
    with pytest.raises(ValueError, match="order must be"):
        skmemmap.memmap(X_data, order="K")
    assert folder_files(skm_folder) == []


def test_memmap_converts_block_by_block(skm_folder):
    # 200 MB of float64, converted to float32 Fortran: the conversion must not
    # hold X-sized (or output-sized) temporaries.
    X = np.random.default_rng(0).random((250_000, 100))
    tracemalloc.start()
    try:
        baseline = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()
        X_mm = skmemmap.memmap(X, dtype=np.float32, order="F")
        peak = tracemalloc.get_traced_memory()[1] - baseline
    finally:
        tracemalloc.stop()
    assert X.nbytes >= 200e6
    assert peak < 70 * MB, f"memmap() allocated {peak / MB:.0f} MB"
    assert X_mm.dtype == np.float32 and X_mm.flags.f_contiguous
    np.testing.assert_array_equal(X_mm, X.astype(np.float32))


# -- load() ----------------------------------------------------------------------
@pytest.mark.parametrize("order", ["C", "F"])
def test_load_maps_file_without_reading(order, user_file, skm_folder):
    X = np.asarray(np.arange(2 * 2**20, dtype=np.float64).reshape(-1, 64), order=order)
    path = user_file(X)

    tracemalloc.start()
    try:
        X_mm = skmemmap.load(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()

    assert peak < MB / 4, f"load() allocated {peak} bytes for a 16 MB file"
    assert X_mm.filename == str(path)
    assert is_memmap_view(X_mm) and not X_mm.flags.writeable
    assert X_mm.flags.f_contiguous == (order == "F")
    np.testing.assert_array_equal(X_mm, X)
    assert folder_files(skm_folder) == []
    # Loading twice maps the same file once.
    assert np.shares_memory(skmemmap.load(path), X_mm)


def test_load_with_other_layout_converts_to_new_file(X_data, user_file, skm_folder):
    path = user_file(X_data)

    X32 = skmemmap.load(path, dtype=np.float32, order="F")

    assert X32.filename != str(path)
    assert X32.dtype == np.float32 and X32.flags.f_contiguous
    np.testing.assert_array_equal(X32, X_data.astype(np.float32))


def test_load_rejects_object_file(user_file, skm_folder):
    path = user_file(np.array([[1, "a"]], dtype=object))
    with pytest.raises(ValueError, match="numeric data only"):
        skmemmap.load(path)
    assert folder_files(skm_folder) == []


def test_load_rejects_non_npy_and_missing(tmp_path, skm_folder):
    text = tmp_path / "notes.npy"
    text.write_text("not an array")
    with pytest.raises(ValueError, match=r"not a \.npy file"):
        skmemmap.load(text)
    missing = tmp_path / "missing.npy"
    with pytest.raises(FileNotFoundError, match=r"missing\.npy"):
        skmemmap.load(missing)
    with pytest.raises(FileNotFoundError, match=r"missing\.npy"):
        skmemmap.load([text, missing])
    assert text.read_text() == "not an array"
    assert folder_files(skm_folder) == []


@pytest.mark.parametrize("order", [None, "F"])
def test_load_consolidates_chunks(order, user_file, skm_folder, rng):
    chunks = [rng.standard_normal((n, 4)) for n in (5, 1, 7, 3)]
    paths = [user_file(c, f"train_x_{i}.npy") for i, c in enumerate(chunks)]
    expected = np.concatenate(chunks)

    X_mm = skmemmap.load(paths, order=order, consolidate=True)

    assert is_memmap_view(X_mm)
    assert X_mm.shape == (16, 4)
    assert X_mm.flags.f_contiguous == (order == "F")
    np.testing.assert_array_equal(X_mm, expected)
    assert os.path.dirname(X_mm.filename).startswith(str(skm_folder))
    # The same chunks are consolidated once.
    assert skmemmap.load(paths, order=order, consolidate=True).filename == (
        X_mm.filename
    )


def test_load_chunks_with_dtype_conversion(user_file, skm_folder):
    paths = [
        user_file(np.ones((2, 3), dtype=np.float32), "a.npy"),
        user_file(np.full((3, 3), 2, dtype=np.int64), "b.npy"),
    ]
    with pytest.raises(
        ValueError, match=r"disagree on dtype: .*b\.npy' holds int64, but .*a\.npy"
    ):
        skmemmap.load(paths)
    X_mm = skmemmap.load(paths, dtype=np.float64, consolidate=True)
    np.testing.assert_array_equal(X_mm, [[1] * 3] * 2 + [[2] * 3] * 3)


def test_load_chunks_disagreeing_on_columns(user_file, skm_folder):
    paths = [
        user_file(np.ones((2, 3)), "part0.npy"),
        user_file(np.ones((2, 4)), "part1.npy"),
    ]
    with pytest.raises(
        ValueError, match=r"columns: .*part1\.npy' has shape \(2, 4\), but .*part0\.npy"
    ):
        skmemmap.load(paths)
    assert folder_files(skm_folder) == []


# -- indexing: views -------------------------------------------------------------
def _run_mask(n, start, stop):
    mask = np.zeros(n, dtype=bool)
    mask[start:stop] = True
    return mask


CONTIGUOUS_KEYS = {
    "slice": (slice(5, 12), slice(5, 12)),
    "arange": (np.arange(5, 12), slice(5, 12)),
    "arange, ...": ((np.arange(5, 12), Ellipsis), slice(5, 12)),
    "arange, :": ((np.arange(5, 12), slice(None)), slice(5, 12)),
    "int32": (np.arange(5, 12, dtype=np.int32), slice(5, 12)),
    "uint64": (np.arange(5, 12, dtype=np.uint64), slice(5, 12)),
    "list": ([5, 6, 7, 8, 9, 10, 11], slice(5, 12)),
    "negative": (np.arange(-7, 0), slice(33, 40)),
    "negative, ...": ((np.arange(-7, -2), Ellipsis), slice(33, 38)),
    "single": (np.array([3]), slice(3, 4)),
    "all rows": (np.arange(40), slice(0, 40)),
    "mask": (_run_mask(40, 5, 12), slice(5, 12)),
    "mask, ...": ((_run_mask(40, 30, 40), Ellipsis), slice(30, 40)),
    "mask list": (_run_mask(40, 0, 1).tolist(), slice(0, 1)),
}


@pytest.mark.parametrize(
    "key, rows", CONTIGUOUS_KEYS.values(), ids=CONTIGUOUS_KEYS.keys()
)
def test_contiguous_selection_is_a_view(key, rows, X_mm, X_data):
    with warnings.catch_warnings():
        warnings.simplefilter("error", CopyWarning)
        result = X_mm[key]
    assert_view_of(result, X_mm)
    np.testing.assert_array_equal(result, X_data[rows])
    np.testing.assert_array_equal(result, X_data[key])
    assert not result.flags.owndata and not result.flags.writeable


def test_contiguous_selection_of_a_view_and_of_1d(X_mm, X_data, skm_folder):
    with warnings.catch_warnings():
        warnings.simplefilter("error", CopyWarning)
        cols = X_mm[:, 1:]
        result = cols[np.arange(3, 9)]
        y = skmemmap.memmap(X_data[:, 0])
        y_fold = y[np.arange(10, 20)]
    assert_view_of(result, X_mm)
    np.testing.assert_array_equal(result, X_data[3:9, 1:])
    assert_view_of(y_fold, y)
    np.testing.assert_array_equal(y_fold, X_data[10:20, 0])


@pytest.fixture
def warn_every_copy():
    """Warn about copies however small (the default threshold is 1 MB)."""
    with skmemmap.config_context(warn_nbytes=0):
        yield


NON_CONTIGUOUS = {
    "gap": ([1, 2, 4], "has 1 gap"),
    "unsorted": ([3, 1, 2], "not in ascending order"),
    "repeats": ([2, 2, 3], "repeats rows"),
    "mask with two runs": (_run_mask(40, 0, 2) | _run_mask(40, 5, 6), "has 1 gap"),
}


@pytest.mark.parametrize("key, why", NON_CONTIGUOUS.values(), ids=NON_CONTIGUOUS.keys())
def test_small_non_contiguous_selection_is_copied_with_warning(
    key, why, X_mm, X_data, warn_every_copy
):
    expected = X_data[key]
    with pytest.warns(
        CopyWarning,
        match=rf"^Non-contiguous rows of X copied \(.* MB\)[\s\S]*"
        rf"{why}, so it is not a view; {expected.shape[0]} rows were copied in memory",
    ):
        result = X_mm[key]
    assert type(result) is np.ndarray
    np.testing.assert_array_equal(result, expected)
    with pytest.warns(CopyWarning, match=why):
        result = X_mm[key, ...]
    np.testing.assert_array_equal(result, expected)


def test_large_non_contiguous_selection_is_gathered_once(
    X_mm, X_data, skm_folder, warn_every_copy
):
    idx = np.array([0, 3, 4, 9, 30])
    with skmemmap.config_context(gather_nbytes=16):
        with pytest.warns(CopyWarning, match=r"5 rows were gathered into a file"):
            first = X_mm[idx]
        with warnings.catch_warnings():
            warnings.simplefilter("error", CopyWarning)
            second = X_mm[idx, ...]
            third = X_mm[idx]
        with pytest.warns(CopyWarning, match="2 rows were gathered"):
            other = X_mm[[1, 3]]

    for result in (first, second, third):
        assert type(result) is MemmapArray and is_memmap_view(result)
        assert not result.flags.writeable
        np.testing.assert_array_equal(result, X_data[idx])
    assert first.filename != X_mm.filename
    assert os.path.dirname(first.filename) == os.path.dirname(X_mm.filename)
    assert second.filename == first.filename == third.filename
    assert other.filename != first.filename
    npy_files = [f for f in folder_files(skm_folder) if f.endswith(".npy")]
    assert len(npy_files) == 3  # X and two gathers
    # Below the threshold, the same selection is a plain in-memory copy again.
    with pytest.warns(CopyWarning, match="copied in memory"):
        assert type(X_mm[idx]) is np.ndarray


@pytest.mark.parametrize("order", ["C", "F"])
def test_gather_keeps_the_file_order(order, X_data, skm_folder, warn_every_copy):
    X_mm = skmemmap.memmap(X_data, order=order)
    idx = [0, 2, 5]
    with skmemmap.config_context(gather_nbytes=0):
        with pytest.warns(CopyWarning):
            whole = X_mm[idx]
        with pytest.warns(CopyWarning):
            rows = X_mm[10:20][idx]
    for result, expected in ((whole, X_data[idx]), (rows, X_data[10:20][idx])):
        assert is_memmap_view(result)
        assert result.flags.f_contiguous == (order == "F")
        assert result.flags.c_contiguous == (order == "C")
        np.testing.assert_array_equal(result, expected)


def test_gathered_rows_outlive_the_root_array(X_data, skm_folder, warn_every_copy):
    with skmemmap.config_context(gather_nbytes=0), pytest.warns(CopyWarning):
        G = skmemmap.memmap(X_data)[[5, 1, 7]]
    gc.collect()
    assert os.path.exists(G.filename)
    G2 = pickle.loads(pickle.dumps(G))
    np.testing.assert_array_equal(G2, X_data[[5, 1, 7]])
    del G, G2
    gc.collect()
    assert folder_files(skm_folder) == []


@pytest.mark.parametrize(
    "key",
    [[40], [-41], [0, 40], np.array([3, 99]), (np.array([40]), Ellipsis)],
    ids=["40", "-41", "0,40", "3,99", "40,..."],
)
def test_out_of_bounds_rows_raise_index_error(key, X_mm, X_data):
    with pytest.raises(IndexError):
        X_data[key]
    with pytest.raises(IndexError):
        X_mm[key]


def test_bad_mask_length_raises_like_numpy(X_mm, X_data):
    mask = np.ones(39, dtype=bool)
    with pytest.raises(IndexError):
        X_data[mask]
    with pytest.raises(IndexError):
        X_mm[mask]


def test_empty_selection_is_plain_empty_array(X_mm):
    for key in ([], np.array([], dtype=int), np.zeros(40, dtype=bool), slice(3, 3)):
        result = X_mm[key]
        assert type(result) is np.ndarray
        assert result.shape == (0, 3)


# -- indexing: property tests against numpy --------------------------------------
@st.composite
def row_keys(draw, n):
    """Every kind of row key scikit-learn or a user passes, valid or not."""
    kind = draw(st.sampled_from(["ints", "run", "mask", "run mask", "slice"]))
    if kind == "ints":
        key = np.array(
            draw(st.lists(st.integers(-n - 2, n + 1), max_size=2 * n)), dtype=np.intp
        )
    elif kind == "run":
        start = draw(st.integers(0, n - 1))
        stop = draw(st.integers(start, n))
        key = np.arange(start, stop) - draw(st.sampled_from([0, n]))
    elif kind == "mask":
        key = np.array(draw(st.lists(st.booleans(), min_size=n, max_size=n)))
    elif kind == "run mask":
        start = draw(st.integers(0, n - 1))
        key = _run_mask(n, start, draw(st.integers(start, n)))
    else:
        key = draw(st.slices(n))
    if not isinstance(key, slice) and draw(st.booleans()):
        key = key.tolist()
    rest = draw(st.sampled_from([(), (Ellipsis,), (slice(None),)]))
    return (key, *rest) if rest else key, kind


@settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    data=st.data(),
    n=st.integers(1, 12),
    n_cols=st.sampled_from([None, 1, 3]),
    order=st.sampled_from(["C", "F"]),
    gather_nbytes=st.sampled_from([0, 2**20]),
)
def test_indexing_matches_numpy(data, n, n_cols, order, gather_nbytes, tmp_path):
    shape = (n,) if n_cols is None else (n, n_cols)
    X = np.asarray(
        np.arange(np.prod(shape), dtype=np.float32).reshape(shape), order=order
    )
    X_mm = skmemmap.memmap(X, folder=tmp_path)
    key, kind = data.draw(row_keys(n))

    try:
        expected = X[key]
    except IndexError:
        with pytest.raises(IndexError):
            X_mm[key]
        return
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CopyWarning)
        with skmemmap.config_context(gather_nbytes=gather_nbytes):
            result = X_mm[key]

    assert result.shape == expected.shape
    assert result.dtype == expected.dtype
    np.testing.assert_array_equal(result, expected)
    assert type(result) is (MemmapArray if is_memmap_view(result) else np.ndarray)
    if kind in ("run", "run mask", "slice") and expected.size:
        assert_view_of(result, X_mm)
    if is_memmap_view(result) and result.filename == X_mm.filename:
        assert np.shares_memory(result, X_mm)
    elif is_memmap_view(result):  # a gather file: only for selections above 0 bytes
        assert gather_nbytes == 0
        assert not np.shares_memory(result, X_mm)
    else:
        assert not np.shares_memory(result, X_mm)


# -- results computed from the data are plain arrays -----------------------------
COMPUTED = {
    "ufunc": lambda X: np.sqrt(np.abs(X)),
    "add": lambda X: X + 1,
    "mul by 1": lambda X: X * 1,
    "radd": lambda X: 1 + X,
    "compare": lambda X: X > 0,
    "matmul": lambda X: X @ X.T,
    "astype": lambda X: X.astype(np.float32),
    "astype same": lambda X: X.astype(np.float64),
    "copy": lambda X: X.copy(),
    "np.copy": lambda X: np.copy(X),
    "copy.copy": copy.copy,
    "copy.deepcopy": copy.deepcopy,
    "sum axis": lambda X: X.sum(axis=0),
    "np.mean axis": lambda X: np.mean(X, axis=1),
    "cumsum": lambda X: X.cumsum(axis=0),
    "concatenate": lambda X: np.concatenate([X, X]),
    "vstack": lambda X: np.vstack([X[:2], X[5:7]]),
    "asarray dtype": lambda X: np.asarray(X, dtype=np.float32),
    "array": lambda X: np.array(X),
    "ravel of F view": lambda X: X.T.ravel(),
    "flatten": lambda X: X.flatten(),
    "take": lambda X: X.take([0, 2], axis=0),
    "sort": lambda X: np.sort(X, axis=0),
    "where": lambda X: np.where(X > 0, X, 0),
}


@pytest.mark.parametrize("compute", COMPUTED.values(), ids=COMPUTED.keys())
def test_computed_results_are_plain_ndarrays(compute, X_mm, X_data):
    result = compute(X_mm)
    assert type(result) is np.ndarray
    assert not np.shares_memory(result, X_mm)
    # Not bitwise: SIMD and BLAS results may depend on the data's alignment.
    np.testing.assert_allclose(result, compute(X_data), rtol=1e-12)


def test_reductions_are_numpy_scalars(X_mm, X_data):
    for name in ("sum", "mean", "max", "min", "std"):
        result = getattr(X_mm, name)()
        assert type(result) is np.float64
        np.testing.assert_allclose(result, getattr(X_data, name)(), rtol=1e-12)
    assert type(np.sum(X_mm)) is np.float64


VIEWS = {
    "T": lambda X: X.T,
    "column": lambda X: X[:, 0],
    "row": lambda X: X[3],
    "reshape": lambda X: X.reshape(-1),
    "ravel": lambda X: X.ravel(),
    "step": lambda X: X[::3],
    "reversed": lambda X: X[::-1],
    "view": lambda X: X.view(np.int64),
    "transpose": lambda X: np.transpose(X),
    "astype no copy": lambda X: X.astype(np.float64, copy=False),
}


@pytest.mark.parametrize("make_view", VIEWS.values(), ids=VIEWS.keys())
def test_views_stay_memmaparray(make_view, X_mm, X_data):
    result = make_view(X_mm)
    assert_view_of(result, X_mm)
    np.testing.assert_array_equal(result, make_view(X_data))


def test_asarray_without_dtype_change_is_a_plain_view(X_mm):
    # numpy's rule for subclasses: np.asarray drops the subclass, keeps the memory.
    result = np.asarray(X_mm)
    assert type(result) is np.ndarray
    assert np.shares_memory(result, X_mm) and not result.flags.writeable


# -- pickling --------------------------------------------------------------------
def _roundtrips(view):
    """Every way a view travels: (name, pickled size, unpickled object)."""
    for protocol in range(2, pickle.HIGHEST_PROTOCOL + 1):
        data = pickle.dumps(view, protocol=protocol)
        yield f"pickle {protocol}", len(data), pickle.loads(data)
    try:
        import cloudpickle
    except ImportError:
        pass
    else:
        data = cloudpickle.dumps(view)
        yield "cloudpickle", len(data), pickle.loads(data)
    buf = io.BytesIO()
    with warnings.catch_warnings():  # the reference is loaded back at once
        warnings.simplefilter("ignore", skmemmap.TemporaryFileWarning)
        joblib.dump(view, buf)
    yield "joblib.dump", buf.tell(), joblib.load(io.BytesIO(buf.getvalue()))


@pytest.mark.parametrize(
    "make_view",
    [
        lambda X: X,
        lambda X: X[5:30],
        lambda X: X[np.arange(5, 30), ...],
        lambda X: X[::-2, 1:],
        lambda X: X.T,
        lambda X: X[:, 2],
    ],
    ids=["whole", "rows", "fold", "reversed step", "T", "column"],
)
def test_pickle_roundtrip_is_a_view_of_the_same_file(make_view, X_mm):
    view = make_view(X_mm)
    for how, size, back in _roundtrips(view):
        assert type(back) is MemmapArray, how
        assert back.filename == X_mm.filename, how
        assert back.shape == view.shape and back.strides == view.strides, how
        assert back.dtype == view.dtype, how
        assert np.shares_memory(back, X_mm), how
        assert not back.flags.writeable, how
        np.testing.assert_array_equal(back, view)
        assert size < 4096, how


@pytest.fixture(scope="module")
def big_view(tmp_path_factory):
    """A view of ~100 MB (float64 rows 1..end of a 100 MB file)."""
    X = np.arange(13_107_200, dtype=np.float64).reshape(-1, 64)
    X_mm = skmemmap.memmap(X, folder=tmp_path_factory.mktemp("big"))
    del X
    return X_mm[1:]


def test_pickled_big_view_is_a_small_reference(big_view):
    assert big_view.nbytes > 99 * MB
    for how, size, back in _roundtrips(big_view):
        assert size < 4096, f"{how}: {size} bytes"
        assert back.filename == big_view.filename
        assert np.shares_memory(back, big_view)
    # A plain array computed from it is sent by value, as numpy does.
    plain = big_view[:20_000] * 1
    data = pickle.dumps(plain, protocol=5)
    assert len(data) > plain.nbytes
    back = pickle.loads(data)
    assert type(back) is np.ndarray
    np.testing.assert_array_equal(back, big_view[:20_000])


def test_loky_workers_receive_views_of_the_same_file(big_view):
    views = [big_view, big_view[100:50_000], big_view[:, 3:5]]
    results = joblib.Parallel(n_jobs=2)(joblib.delayed(describe)(v) for v in views)
    for view, (is_view, filename, total) in zip(views, results, strict=True):
        assert is_view
        assert filename == big_view.filename
        assert total == float(view.sum())


def test_gather_setting_travels_to_workers(X_mm, X_data):
    rows = [0, 2, 5]
    tasks = [joblib.delayed(take)(X_mm, rows) for _ in range(4)]
    with skmemmap.config_context(gather_nbytes=0):
        gathered = joblib.Parallel(n_jobs=2)(tasks)
    copied = joblib.Parallel(n_jobs=2)(tasks)

    for is_view, filename, total in gathered:
        assert is_view  # a gather file, as the parent asked
        assert filename != X_mm.filename
        assert os.path.dirname(filename) == os.path.dirname(X_mm.filename)
        assert total == pytest.approx(X_data[rows].sum())
    assert len({filename for _, filename, _ in gathered}) == 1  # made once
    for is_view, filename, total in copied:
        assert not is_view and filename is None
        assert total == pytest.approx(X_data[rows].sum())


def test_multiprocessing_spawn_receives_a_view(X_mm):
    import multiprocessing

    with multiprocessing.get_context("spawn").Pool(1) as pool:
        is_view, filename, total = pool.apply(describe, (X_mm[3:17],))
    assert is_view and filename == X_mm.filename
    assert total == float(X_mm[3:17].sum())


def test_unpickling_after_the_file_changed_raises(tmp_path, skm_folder):
    path = tmp_path / "x.npy"
    np.save(path, np.ones((10, 3)))
    X_mm = skmemmap.load(path)
    data = pickle.dumps(X_mm[2:6])
    del X_mm
    gc.collect()
    np.save(path, np.ones((3, 10)))  # same path, another shape

    with pytest.raises(skmemmap.FileMismatchError, match=r"x\.npy.*no longer matches"):
        pickle.loads(data)
    with pytest.raises(ValueError):  # FileMismatchError refines ValueError
        pickle.loads(data)


def test_unpickling_after_the_file_was_removed_raises(X_data, skm_folder):
    X_mm = skmemmap.memmap(X_data)
    path = X_mm.filename
    data = pickle.dumps(X_mm[2:6])
    del X_mm
    gc.collect()
    assert not os.path.exists(path)

    with pytest.raises(FileNotFoundError, match=rf"{re.escape(path)}.*SKMEMMAP_FOLDER"):
        pickle.loads(data)


# -- scikit-learn cross-validation gets views in the workers ---------------------
@pytest.fixture
def classification(rng):
    X = rng.standard_normal((300, 5))
    y = (X[:, 0] + 0.5 * rng.standard_normal(300) > 0).astype(int)
    return X, y


def _check_records(log, X_mm, min_records):
    records = read_log(log)
    assert len(records) >= min_records
    for r in records:
        assert r["is_view"], r
        assert not r["owndata"], r
        assert r["filename"] == X_mm.filename, r
    assert {r["pid"] for r in records} - {os.getpid()}, "no record from a worker"
    return records


def test_gridsearch_folds_are_views_in_workers(classification, tmp_path, skm_folder):
    X, y = classification
    X_mm = skmemmap.memmap(X)
    log = tmp_path / "spy.jsonl"
    grid = {"C": [0.1, 1.0]}

    with warnings.catch_warnings():
        warnings.simplefilter("error", CopyWarning)
        search = GridSearchCV(ViewSpy(log=str(log)), grid, cv=KFold(2), n_jobs=2)
        search.fit(X_mm, y)
    plain = GridSearchCV(ViewSpy(), grid, cv=KFold(2), n_jobs=2).fit(X, y)

    records = _check_records(log, X_mm, min_records=2 * 2 * 2 + 1)
    assert {r["method"] for r in records} == {"fit", "predict"}
    assert {r["rows"] for r in records} == {150, 300}  # folds, then the refit
    for key in ("mean_test_score", "split0_test_score", "split1_test_score"):
        np.testing.assert_allclose(search.cv_results_[key], plain.cv_results_[key])
    assert search.best_params_ == plain.best_params_


@pytest.mark.parametrize("cv", [KFold(2), TimeSeriesSplit(3)], ids=["KFold", "TSS"])
def test_cross_validate_folds_are_views_in_workers(cv, classification, tmp_path):
    X, y = classification
    X_mm = skmemmap.memmap(X, folder=tmp_path)
    log = tmp_path / "spy.jsonl"

    with warnings.catch_warnings():
        warnings.simplefilter("error", CopyWarning)
        result = cross_validate(ViewSpy(log=str(log)), X_mm, y, cv=cv, n_jobs=2)
    plain = cross_validate(ViewSpy(), X, y, cv=cv, n_jobs=2)

    _check_records(log, X_mm, min_records=2 * cv.get_n_splits())
    np.testing.assert_allclose(result["test_score"], plain["test_score"])


def test_cross_val_predict_folds_are_views_in_workers(classification, tmp_path):
    # TimeSeriesSplit is not a partition: cross_val_predict refuses it.
    X, y = classification
    X_mm = skmemmap.memmap(X, folder=tmp_path)
    log = tmp_path / "spy.jsonl"

    with warnings.catch_warnings():
        warnings.simplefilter("error", CopyWarning)
        pred = cross_val_predict(ViewSpy(log=str(log)), X_mm, y, cv=KFold(2), n_jobs=2)

    _check_records(log, X_mm, min_records=4)
    np.testing.assert_array_equal(
        pred, cross_val_predict(ViewSpy(), X, y, cv=KFold(2), n_jobs=2)
    )
