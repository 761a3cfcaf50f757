"""Bad and unusual input to memmap() and load(): clear errors, nothing on disk.

Every error test also checks that the private folder is left empty (no partial
file, no lock file) and that the user's files are unchanged (the ``user_file``
fixture compares their bytes at teardown; tests here compare mtimes too).
"""

import math
import os
import warnings
import zipfile

import numpy as np
import pandas as pd
import pytest
from _helpers import folder_files, sha256
from _spy_est import SpyRegressor, read_log
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from scipy import sparse
from sklearn.linear_model import LogisticRegression
from sklearn.tree import DecisionTreeClassifier

import skmemmap
from skmemmap import CopyWarning, FileMismatchError, Layout, MemmapEstimator


def assert_nothing_written(folder):
    assert folder_files(folder) == [], "an error left files in the private folder"


def mtimes(paths):
    return [os.stat(p).st_mtime_ns for p in paths]


# -- conversions that would change values ----------------------------------------
CHANGING = {
    "fraction to int": (
        [[1.7, 300.0]],
        np.int8,
        r"float64 to int8 without changing values: X\[0, 0\] = 1\.7 is not a whole "
        r"number and would become 1\.",
    ),
    "out of int8 range": (
        [[1.0, 300.0]],
        np.int8,
        r"X\[0, 1\] = 300\.0 is outside the range of int8 \(-128 to 127\) and would "
        r"become 44",
    ),
    "NaN to int": ([[1.0], [np.nan]], np.int32, r"X\[1, 0\] = nan is NaN"),
    "negative to uint": (
        np.array([[3, -1]]),
        np.uint64,
        r"int64 to uint64 .* X\[0, 1\] = -1 is outside the range of uint64",
    ),
    "larger to smaller int": (
        np.array([5, 70_000], dtype=np.int64),
        np.int16,
        r"X\[1\] = 70000 is outside the range of int16",
    ),
    "not 0 or 1 to bool": (np.array([[0, 2]]), bool, r"X\[0, 1\] = 2 is neither 0"),
    "overflow to inf": (
        [[1.0, 2.0], [3.0, 1e300]],
        np.float32,
        r"X\[1, 1\] = 1e\+300 is too large for float32 \(largest 3\.4028235e\+38\) "
        r"and would become inf",
    ),
    "int overflow to float16 inf": (
        np.array([[70_000]]),
        np.float16,
        r"X\[0, 0\] = 70000 is too large for float16",
    ),
    "complex to real": (
        np.array([[1 + 0j, 2 + 1j]]),
        np.float64,
        r"X\[0, 1\] = \(2\+1j\) has an imaginary part",
    ),
}


@pytest.mark.parametrize("order", ["C", "F"])
@pytest.mark.parametrize(
    "X, dtype, match", CHANGING.values(), ids=list(CHANGING.keys())
)
def test_conversion_that_changes_a_value_raises(X, dtype, match, order, skm_folder):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no numpy casting warning on the way
        with pytest.raises(ValueError, match=match) as info:
            skmemmap.memmap(np.asarray(X), dtype=dtype, order=order)
    assert "Pass a dtype that holds every value" in str(info.value)
    assert_nothing_written(skm_folder)


@pytest.mark.parametrize("order", ["C", "F"])
def test_the_offending_value_is_found_in_a_later_block(order, skm_folder, monkeypatch):
    # Blocks of 4 KB: the bad value is in the middle of the file, so earlier
    # blocks were already written when it is found.
    monkeypatch.setattr("skmemmap._npy.BLOCK_BYTES", 4096)
    X = np.arange(2000 * 6, dtype=np.float64).reshape(2000, 6) % 100
    X[1234, 4] = 0.5
    with pytest.raises(ValueError, match=r"X\[1234, 4\] = 0\.5 is not a whole"):
        skmemmap.memmap(np.asarray(X, order=order), dtype=np.int16)
    assert_nothing_written(skm_folder)
    X[1234, 4] = 7
    np.testing.assert_array_equal(skmemmap.memmap(X, dtype=np.int16), X)


KEPT = {
    "whole floats to int8": (np.array([[-128.0, 127.0], [-0.0, 3.0]]), np.int8),
    "small ints to int8": (np.array([[-5, 100]], dtype=np.int64), np.int8),
    "0 and 1 to bool": (np.array([[0.0, 1.0]]), bool),
    "uint to int": (np.array([[2**62]], dtype=np.uint64), np.int64),
    "float64 to float32 rounds": (np.array([[1 / 3, 1e-50, 3e38]]), np.float32),
    "nan and inf stay": (np.array([[np.nan, np.inf, -np.inf]]), np.float32),
    "large int to float32 rounds": (np.array([[2**24 + 1, 2**62]]), np.float32),
    "real complex to float": (np.array([[1 + 0j, -2 + 0j]]), np.float64),
}


@pytest.mark.parametrize("X, dtype", KEPT.values(), ids=list(KEPT.keys()))
def test_conversions_that_keep_values_or_only_round_pass(X, dtype, skm_folder):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        X_mm = skmemmap.memmap(X, dtype=dtype)
    assert X_mm.dtype == dtype
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", np.exceptions.ComplexWarning)
        expected = X.astype(dtype)
    np.testing.assert_array_equal(X_mm, expected)


def test_conversion_of_a_memmaparray_raises_and_leaves_no_sibling(skm_folder):
    X_mm = skmemmap.memmap(np.array([[1.5, 2.0], [3.0, 4.0]]))
    before = folder_files(skm_folder)
    with pytest.raises(ValueError, match=r"X\[0, 0\] = 1\.5 is not a whole number"):
        skmemmap.memmap(X_mm, dtype=np.int64)
    # Neither a partial sibling nor its lock file is left.
    assert (
        folder_files(skm_folder)
        == before
        == [os.path.relpath(X_mm.filename, skm_folder)]
    )


def test_memmap_estimator_refuses_a_float32_overflow(skm_folder):
    X = np.ones((50, 3))
    X[7, 1] = 1e300
    X_mm = skmemmap.memmap(X)
    y = np.arange(50) % 2
    with pytest.raises(ValueError, match=r"X\[7, 1\] = 1e\+300 is too large for "):
        MemmapEstimator(DecisionTreeClassifier()).fit(X_mm, y)
    assert len(folder_files(skm_folder)) == 1  # X_mm's own file only


def test_dataframe_conversion_names_row_and_column(skm_folder):
    df = pd.DataFrame({"rooms": [1, 2, 3, 4], "price": [10.0, 20.0, 30.0, 300.5]})
    with pytest.raises(
        ValueError, match=r"row 3, column 'price' of the DataFrame = 300\.5 is not a"
    ):
        skmemmap.memmap(df, dtype=np.int16)
    with pytest.raises(ValueError, match=r"row 3, column 'price' .* range of int8"):
        skmemmap.memmap(df.round(), dtype=np.int8)
    assert_nothing_written(skm_folder)
    X_mm = skmemmap.memmap(df.round(), dtype=np.int16)
    np.testing.assert_array_equal(X_mm, df.round().to_numpy(dtype=np.int16))


def test_nullable_frame_to_float32_keeps_missing_values_as_nan(skm_folder):
    df = pd.DataFrame({"a": pd.array([1, None, 3], dtype="Int64")})
    df["b"] = pd.array([0.5, 2.0, None], dtype="Float64")
    X_mm = skmemmap.memmap(df, dtype=np.float32)
    np.testing.assert_array_equal(X_mm, [[1, 0.5], [np.nan, 2], [3, np.nan]])


def test_loaded_file_conversion_names_the_file(user_file, skm_folder):
    path = user_file(np.array([[1.0, 2.0], [3.0, 1e39]]))
    stamp = mtimes([path])
    with pytest.raises(ValueError, match=r"x\.npy': .*X\[1, 1\] = 1e\+39 is too"):
        skmemmap.load(path, dtype=np.float32)
    assert_nothing_written(skm_folder)
    assert mtimes([path]) == stamp


def test_chunk_conversion_names_the_chunk_and_its_row(user_file, skm_folder):
    b = np.zeros((3, 4), dtype=np.int64)
    b[1, 2] = 1000
    paths = [
        user_file(np.ones((2, 4), dtype=np.int64), "part0.npy"),
        user_file(b, "part1.npy"),
    ]
    stamp = mtimes(paths)
    for order in ("C", "F"):
        with pytest.raises(
            ValueError, match=r"part1\.npy'\[1, 2\] = 1000 is outside the range of int8"
        ):
            skmemmap.load(paths, dtype=np.int8, order=order, consolidate=True)
        assert_nothing_written(skm_folder)
    assert mtimes(paths) == stamp


def _changes_a_value(X, dst):
    """The rule, value by value in exact Python arithmetic (the reference)."""
    for v in X.ravel().tolist():
        if dst.kind == "b":
            bad = v not in (0, 1)
        elif dst.kind in "iu":
            info = np.iinfo(dst)
            whole = not isinstance(v, float) or v.is_integer()
            bad = not (whole and info.min <= v <= info.max)
        else:
            with np.errstate(over="ignore"):
                bad = math.isfinite(v) and np.isinf(np.asarray(v, X.dtype).astype(dst))
        if bad:
            return True
    return False


SRC = [np.bool_, np.int16, np.int64, np.uint64, np.float32, np.float64]
DST = [np.bool_, np.int8, np.uint8, np.int32, np.int64, np.uint64, np.float16]
DST += [np.float32, np.float64]


# Values at the edges of the target dtypes, kept to those the source holds.
EDGES = [0, 1, -1, 2, 127, 128, -129, 255, 256, 2**31, 2**63 - 1, 2**63, 2**64 - 1]
FLOAT_EDGES = [0.5, 1.7, -0.0, 65504.0, 65520.0, 3.4e38, 3.5e38, 1e39, math.nan]


def _values(dtype):
    dtype = np.dtype(dtype)
    if dtype.kind == "b":
        return st.booleans()
    if dtype.kind in "iu":
        info = np.iinfo(dtype)
        edges = [v for v in EDGES if info.min <= v <= info.max]
    else:
        largest = float(np.finfo(dtype).max)
        edges = [v for v in EDGES + FLOAT_EDGES if not abs(v) > largest]
    return st.sampled_from(edges) | hnp.from_dtype(dtype)


@settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    X=st.sampled_from(SRC).flatmap(
        lambda dt: hnp.arrays(
            dt,
            hnp.array_shapes(min_dims=1, max_dims=2, min_side=1, max_side=5),
            elements=_values(dt),
        )
    ),
    dst=st.sampled_from(DST),
    order=st.sampled_from(["C", "F"]),
)
def test_conversion_raises_exactly_when_astype_would_change_a_value(
    X, dst, order, tmp_path
):
    dst = np.dtype(dst)
    if _changes_a_value(X, dst):
        with pytest.raises(ValueError, match=f"to {dst} without changing values"):
            skmemmap.memmap(X, dtype=dst, order=order, folder=tmp_path)
        assert folder_files(tmp_path) == []
        return
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        X_mm = skmemmap.memmap(X, dtype=dst, order=order, folder=tmp_path)
    np.testing.assert_array_equal(X_mm, X.astype(dst))


# -- sparse input ------------------------------------------------------------------
SPARSE = {
    fmt: getattr(sparse, fmt)
    for fmt in (
        "csr_matrix",
        "csc_matrix",
        "coo_matrix",
        "lil_matrix",
        "dok_matrix",
        "bsr_matrix",
        "dia_matrix",
        "csr_array",
        "coo_array",
    )
}


@pytest.mark.parametrize("make", SPARSE.values(), ids=list(SPARSE.keys()))
def test_sparse_input_gets_a_sparse_error(make, skm_folder):
    X = make(np.eye(4, 3))
    kind = "array" if "array" in type(X).__name__ else "matrix"
    with pytest.raises(
        TypeError,
        match=rf"X is a sparse {kind} \({type(X).__name__} of shape \(4, 3\), 3 "
        r"stored values\)\. Pass it straight to skmemmap\.MemmapEstimator",
    ) as info:
        skmemmap.memmap(X)
    assert "X.toarray()" in str(info.value)
    assert_nothing_written(skm_folder)


# -- load errors name the file -------------------------------------------------------
def _write(path, data):
    path.write_bytes(data)
    return path


def _npy_bytes(X):
    import io

    buf = io.BytesIO()
    np.save(buf, X)
    return buf.getvalue()


GOOD = np.arange(12.0).reshape(4, 3)
FULL = _npy_bytes(GOOD)
DAMAGED = {
    "missing": (None, FileNotFoundError, "No such .npy file"),
    # Alone, a folder is a folder of chunk files; in a list, a mistake.
    "directory": (
        "dir",
        (IsADirectoryError, FileNotFoundError),
        r"is a directory, not a \.npy file|holds no \.npy file",
    ),
    "empty": (b"", ValueError, "is empty: it is not a .npy file"),
    "text": (b"a,b\n1,2\n", ValueError, r"is not a \.npy file"),
    "npz": ("npz", ValueError, r"is a zip archive such as a \.npz file"),
    "cut in magic": (FULL[:4], ValueError, r"damaged \.npy file: its header is cut"),
    "cut in header": (FULL[:30], ValueError, r"damaged \.npy file: its header is cut"),
    "bad header": (
        FULL[:10] + b"{'nonsense'" + b" " * (len(FULL) - 21),
        ValueError,
        r"damaged \.npy file",
    ),
    "cut in data": (FULL[:-8], FileMismatchError, "truncated"),
    "object dtype": (
        _npy_bytes(np.array([[1, "a"]], dtype=object)),
        ValueError,
        "numeric data only",
    ),
    "3-D": (_npy_bytes(np.ones((2, 2, 2))), ValueError, "1-D or 2-D"),
}


def _damaged(tmp_path, kind):
    data = DAMAGED[kind][0]
    path = tmp_path / "user" / "bad.npy"
    path.parent.mkdir(exist_ok=True)
    if data is None:
        return path
    if data == "dir":
        path.mkdir()
    elif data == "npz":
        with zipfile.ZipFile(path, "w") as z:
            z.writestr("x.npy", FULL)
    else:
        _write(path, data)
    return path


@pytest.mark.parametrize("where", ["alone", "after a good chunk", "first of chunks"])
@pytest.mark.parametrize("kind", DAMAGED.keys())
def test_every_load_error_names_the_file(kind, where, tmp_path, user_file, skm_folder):
    bad = _damaged(tmp_path, kind)
    good = user_file(GOOD, "good.npy")
    arg = {
        "alone": bad,
        "after a good chunk": [good, bad],
        "first of chunks": [bad, good],
    }[where]
    stamp = mtimes([good] + ([bad] if bad.exists() else []))
    digest = sha256(bad) if bad.is_file() else None
    error, match = DAMAGED[kind][1:]

    with pytest.raises(error, match=match) as info:
        skmemmap.load(arg)

    assert repr(str(bad)) in str(info.value), str(info.value)
    assert repr(str(good)) not in str(info.value)
    assert_nothing_written(skm_folder)
    assert mtimes([good] + ([bad] if bad.exists() else [])) == stamp
    assert digest is None or sha256(bad) == digest


def test_chunks_disagreeing_name_the_member_that_differs(user_file, skm_folder):
    ones = np.ones((2, 3))
    paths = [user_file(ones, f"part{i}.npy") for i in range(3)]
    paths.append(user_file(np.ones(3), "part3.npy"))
    with pytest.raises(
        ValueError, match=r"part3\.npy' has shape \(3,\), but .*part0\.npy' has shape"
    ) as info:
        skmemmap.load(paths)
    assert "part1" not in str(info.value)
    paths[3] = user_file(ones.astype(np.float32), "part3_32.npy")
    with pytest.raises(
        ValueError, match=r"part3_32\.npy' holds float32, but .*part0\.npy' holds"
    ):
        skmemmap.load(paths)
    assert_nothing_written(skm_folder)
    X_mm = skmemmap.load(paths, dtype=np.float64, consolidate=True)
    np.testing.assert_array_equal(X_mm, np.ones((8, 3)))


def test_chunks_with_an_empty_member_are_opened_and_consolidated(user_file, skm_folder):
    paths = [
        user_file(np.ones((2, 3)), "a.npy"),
        user_file(np.ones((0, 3)), "empty.npy"),
        user_file(np.zeros((1, 3)), "b.npy"),
    ]
    X = skmemmap.load(paths)
    assert X.shape == (3, 3)
    assert [len(p) for p in X.pieces()] == [2, 1]
    expected = [[1] * 3] * 2 + [[0] * 3]
    np.testing.assert_array_equal(skmemmap.load(paths, consolidate=True), expected)


def test_load_rejects_bad_arguments_before_reading(user_file, skm_folder):
    path = user_file(GOOD)
    with pytest.raises(ValueError, match="order must be"):
        skmemmap.load(path, order="K")
    with pytest.raises(
        ValueError, match=r"dtype=complex128 was requested\. Pass a numeric dtype"
    ):
        skmemmap.load([path, path], dtype=complex)
    with pytest.raises(TypeError, match="path must be a str"):
        skmemmap.load(sparse.csr_matrix(GOOD))
    assert_nothing_written(skm_folder)


# -- load([one_path]) is load(one_path) ------------------------------------------------
@pytest.mark.parametrize("container", [list, tuple])
def test_load_of_a_one_file_list_maps_the_file(container, user_file, skm_folder):
    path = user_file(np.asfortranarray(GOOD))
    X_mm = skmemmap.load(container([path]))
    assert X_mm.filename == str(path)
    assert np.shares_memory(X_mm, skmemmap.load(path))
    assert X_mm.flags.f_contiguous  # the file's own order, as load(path) keeps
    assert_nothing_written(skm_folder)


@pytest.mark.parametrize(
    "kwargs", [{"order": "C"}, {"dtype": np.float32}, {"dtype": "int8", "order": "F"}]
)
def test_load_of_a_one_file_list_converts_like_load(kwargs, user_file, skm_folder):
    path = user_file(np.asfortranarray(GOOD))
    single = skmemmap.load(path, **kwargs)
    listed = skmemmap.load([path], **kwargs)
    assert listed.filename == single.filename  # the same converted file, reused
    assert listed.dtype == single.dtype
    assert listed.flags.f_contiguous == single.flags.f_contiguous
    np.testing.assert_array_equal(listed, single)


def test_fortran_chunks_consolidate_in_fortran_order(user_file, skm_folder):
    paths = [user_file(np.asfortranarray(GOOD), f"f{i}.npy") for i in range(2)]
    assert skmemmap.load(paths, consolidate=True).flags.f_contiguous
    paths.append(user_file(GOOD, "c.npy"))
    assert skmemmap.load(paths, consolidate=True).flags.c_contiguous


# -- DataFrame order -----------------------------------------------------------------
def _frame(n=200, rng=None):
    rng = rng or np.random.default_rng(0)
    return pd.DataFrame(rng.standard_normal((n, 4)), columns=list("abcd"))


def test_dataframe_defaults_to_c_order(skm_folder):
    df = _frame()
    assert np.isfortran(df.to_numpy())  # pandas' own column-wise layout
    X_mm = skmemmap.memmap(df)
    assert X_mm.flags.c_contiguous and not X_mm.flags.f_contiguous
    np.testing.assert_array_equal(X_mm, df.to_numpy())
    assert skmemmap.memmap(df, order="F").flags.f_contiguous
    assert skmemmap.memmap(df["a"]).shape == (200,)


def test_mapped_dataframe_is_not_converted_again_for_logistic_regression(skm_folder):
    df = _frame()
    y = (df["a"] + df["b"] > 0).to_numpy().astype(int)
    X_mm = skmemmap.memmap(df)
    written = folder_files(skm_folder)
    with warnings.catch_warnings():
        warnings.simplefilter("error", CopyWarning)
        model = MemmapEstimator(LogisticRegression()).fit(X_mm, y)
    assert folder_files(skm_folder) == written  # no float64 C sibling
    plain = LogisticRegression().fit(df.to_numpy(), y)
    np.testing.assert_allclose(model.estimator_.coef_, plain.coef_)


@pytest.mark.parametrize("order", ["C", "F"])
def test_memmap_estimator_maps_a_dataframe_in_its_estimator_order(
    order, skm_folder, tmp_path
):
    df = _frame()
    log = tmp_path / "log.jsonl"
    model = MemmapEstimator(
        SpyRegressor(log=str(log)), layout=Layout(np.float64, order), max_nbytes=0
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CopyWarning)  # "wrote X to a file"
        model.fit(df, df["a"].to_numpy())
    (seen,) = read_log(log)
    assert seen["view"]
    assert seen["f_contiguous" if order == "F" else "c_contiguous"]
