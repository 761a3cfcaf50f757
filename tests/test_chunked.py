"""The chunk list: chunk files opened in place, views inside a chunk, pieces
across chunks, gathers only where one array is needed."""

import json
import pickle
import warnings

import numpy as np
import pytest
from _helpers import folder_files
from _spy import PieceSpy
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, cross_val_predict

import skmemmap
from skmemmap import ChunkedArray, ContiguousKFold, CopyWarning, MemmapEstimator

SIZES = (5, 1, 7, 3, 4, 4)


def data_files(folder):
    """The data files skmemmap wrote under ``folder`` (not its copy logs)."""
    return [f for f in folder_files(folder) if f.endswith(".npy")]


@pytest.fixture
def chunks(tmp_path, rng):
    """Six chunk files of X (2-D) and y (1-D) saved as a user would, and their
    concatenation; checked unchanged at teardown."""
    parts = [rng.standard_normal((n, 3)) for n in SIZES]
    labels = [(p[:, 0] > 0).astype(np.int64) for p in parts]
    folder = tmp_path / "data"
    folder.mkdir()
    for i, (x, y) in enumerate(zip(parts, labels, strict=True)):
        np.save(folder / f"train_x_{i}.npy", x)
        np.save(folder / f"train_y_{i}.npy", y)
    before = {p: p.read_bytes() for p in folder.iterdir()}
    yield folder, np.concatenate(parts), np.concatenate(labels)
    assert {p: p.read_bytes() for p in folder.iterdir()} == before


def test_load_opens_chunk_files_and_writes_nothing(chunks, folder):
    data, X_full, _ = chunks
    paths = [str(data / f"train_x_{i}.npy") for i in range(len(SIZES))]
    X = skmemmap.load(paths)
    assert isinstance(X, ChunkedArray)
    assert (X.shape, X.dtype, X.ndim, len(X)) == ((24, 3), np.float64, 2, 24)
    assert X.filenames == tuple(paths)
    assert repr(X) == (
        f"ChunkedArray(shape=(24, 3), dtype=float64, all rows of 6 chunk files "
        f"train_x_0.npy ... train_x_5.npy in {str(data)!r})"
    )
    assert data_files(folder) == []
    # Pickled as references: a few hundred bytes per chunk, whatever its size.
    blob = pickle.dumps(X[2:20])
    assert len(blob) < 600 * len(SIZES)
    np.testing.assert_array_equal(np.asarray(pickle.loads(blob)), X_full[2:20])
    assert data_files(folder) == []


KEYS = {
    "inside one chunk": slice(7, 12),
    "one row": slice(5, 6),
    "across chunks": slice(2, 20),
    "all but the last": slice(0, 23),
    "arange across": np.arange(3, 20),
    "arange, ...": (np.arange(3, 20), Ellipsis),
    "arange, :": (np.arange(13, 16), slice(None)),
    "scattered": [1, 5, 2, 23, 0],
    "negative": np.array([-1, 0, -24]),
    "step": slice(None, None, 3),
    "mask": np.arange(24) % 5 == 0,
    "uint": np.arange(6, 13, dtype=np.uint32),
    "empty": np.array([], dtype=np.intp),
}


@pytest.mark.parametrize("key", KEYS.values(), ids=KEYS.keys())
def test_row_selection_equals_numpy(key, chunks, folder):
    data, X_full, _ = chunks
    X = skmemmap.load(data / "train_x_*.npy")
    with warnings.catch_warnings():
        warnings.simplefilter("error", CopyWarning)  # small selections: no warning
        got = X[key]
        np.testing.assert_array_equal(np.asarray(got), X_full[key])
    assert data_files(folder) == []


def test_rows_inside_one_chunk_are_views_of_its_file(chunks, folder):
    data, X_full, _ = chunks
    X = skmemmap.load(data / "train_x_*.npy")
    piece = X[np.arange(7, 12)]  # chunk 2 holds rows 6 to 12
    assert skmemmap.is_memmap_view(piece)
    assert piece.filename == str(data / "train_x_2.npy")
    assert np.shares_memory(piece, skmemmap.load(data / "train_x_2.npy"))
    np.testing.assert_array_equal(piece, X_full[7:12])
    # A selection across chunks is pieces of their files, nothing read.
    across = X[2:20]
    assert isinstance(across, ChunkedArray)
    pieces = list(across.pieces())
    assert [len(p) for p in pieces] == [3, 1, 7, 3, 4]
    assert all(skmemmap.is_memmap_view(p) for p in pieces)
    assert pieces[2].filename == str(data / "train_x_2.npy")
    # Columns, elements and single rows behave as numpy's.
    np.testing.assert_array_equal(X[2:20, 1], X_full[2:20, 1])
    np.testing.assert_array_equal(X[2:20, :2], X_full[2:20, :2])
    assert X[13, 2] == X_full[13, 2]
    np.testing.assert_array_equal(X[-1], X_full[-1])
    assert data_files(folder) == []


@pytest.mark.parametrize(
    "key, error",
    [
        (24, "index 24 is out of bounds for axis 0 with size 24"),
        ([0, 30], "index 30 is out of bounds"),
        (np.ones(5, dtype=bool), "boolean index did not match"),
        (1.5, "only integers, slices, integer or boolean arrays"),
    ],
)
def test_bad_row_selection_raises_as_numpy_does(key, error, chunks):
    X = skmemmap.load(chunks[0] / "train_x_*.npy")
    with pytest.raises(IndexError, match=error):
        X[key]


def test_blocks_follow_chunks_in_order(chunks):
    data, X_full, _ = chunks
    X = skmemmap.load(data / "train_x_*.npy")
    sel = X[2:20]
    blocks = list(sel.iter_blocks())
    assert [(a, b) for a, b, _ in blocks] == [
        (0, 3),
        (3, 4),
        (4, 11),
        (11, 14),
        (14, 18),
    ]
    for a, b, block in blocks:
        np.testing.assert_array_equal(block, X_full[2:20][a:b])
    # A chunk larger than max_nbytes is cut; block_rows ignores chunks.
    cut = [(a, b) for a, b, _ in sel.iter_blocks(max_nbytes=3 * 24)]
    assert cut[:4] == [(0, 3), (3, 4), (4, 7), (7, 10)]
    fixed = list(X.iter_blocks(block_rows=10))
    assert [(a, b) for a, b, _ in fixed] == [(0, 10), (10, 20), (20, 24)]
    np.testing.assert_array_equal(np.concatenate([b for *_, b in fixed]), X_full)
    # Scattered rows of one chunk are one block, read into memory.
    scattered = X[[6, 8, 11, 13, 2]]
    assert [(a, b) for a, b, _ in scattered.iter_blocks()] == [(0, 3), (3, 4), (4, 5)]


def test_one_array_is_gathered_in_memory_or_into_a_reused_file(chunks, folder):
    data, X_full, _ = chunks
    X = skmemmap.load(data / "train_x_*.npy")
    with skmemmap.copy_report() as report:
        small = np.asarray(X[2:20])
    np.testing.assert_array_equal(small, X_full[2:20])
    assert [e["nbytes"] for e in report.events] == [18 * 3 * 8]
    assert data_files(folder) == []
    with skmemmap.config_context(gather_nbytes=0):
        with (
            pytest.warns(CopyWarning, match=r"Rows of a chunk list copied into one"),
            skmemmap.config_context(warn_nbytes=0),
        ):
            gathered = X[2:20].gather(dtype=np.float32, order="F")
        assert gathered.flags.f_contiguous and gathered.dtype == np.float32
        np.testing.assert_array_equal(gathered, X_full[2:20].astype(np.float32))
        assert len(data_files(folder)) == 1
        # The same rows in the same layout are gathered once.
        again = X[2:20].gather(dtype=np.float32, order="F")
        assert again.filename == gathered.filename
    # The files go with the chunk list.
    del X, gathered, again
    import gc

    gc.collect()
    assert data_files(folder) == []


def test_the_whole_chunk_list_is_not_consolidated_implicitly(chunks, folder):
    data, X_full, y_full = chunks
    X = skmemmap.load(data / "train_x_*.npy")
    with pytest.raises(ValueError, match=r"whole chunk list .* consolidate=True"):
        np.asarray(X)
    with pytest.raises(ValueError, match=r"RandomForestClassifier \(in MemmapEst"):
        from sklearn.ensemble import RandomForestClassifier

        MemmapEstimator(RandomForestClassifier(n_estimators=2)).fit(X, y_full)
    assert data_files(folder) == []
    # Asked for, it is one file; a 1-D chunk list (y) is gathered when needed.
    np.testing.assert_array_equal(
        skmemmap.load(data / "train_x_*.npy", consolidate=True), X_full
    )
    np.testing.assert_array_equal(
        np.asarray(skmemmap.load(data / "train_y_*.npy")), y_full
    )


def test_load_orders_a_folder_naturally(tmp_path):
    for i in (0, 1, 2, 10, 11, 20):
        np.save(tmp_path / f"train_x_{i}.npy", np.full((1, 2), i))
    X = skmemmap.load(tmp_path)
    assert np.asarray(X[:, 0]).tolist() == [0, 1, 2, 10, 11, 20]
    assert X.filenames == skmemmap.load(tmp_path / "train_x_*.npy").filenames


@pytest.mark.parametrize(
    "names, why",
    [
        (["train_x_0.npy", "train_x_1.npy", "train_y_0.npy"], "differ in more than"),
        (["x_01.npy", "x_1.npy"], "same numbers"),
    ],
)
def test_load_refuses_names_without_one_order(names, why, tmp_path, folder):
    for name in names:
        np.save(tmp_path / name, np.ones((1, 2)))
    with pytest.raises(ValueError, match=why) as info:
        skmemmap.load(tmp_path)
    # It lists the order it would have used.
    assert f"In natural order they would be {', '.join(names)}." in str(info.value)
    assert data_files(folder) == []


def test_load_errors_name_the_path_once(tmp_path):
    missing = str(tmp_path / "nope.npy")
    with pytest.raises(FileNotFoundError) as info:
        skmemmap.load(missing)
    assert str(info.value).count(missing) == 1
    with pytest.raises(FileNotFoundError, match=r"holds no \.npy file"):
        skmemmap.load(tmp_path)
    with pytest.raises(FileNotFoundError, match=r"No \.npy file matches"):
        skmemmap.load(tmp_path / "x_*.npy")


def test_chunk_lists_convert_only_when_consolidating(chunks, folder):
    pattern = chunks[0] / "train_x_*.npy"
    with pytest.raises(ValueError, match=r"writes nothing; dtype='float32' would"):
        skmemmap.load(pattern, dtype=np.float32)
    assert data_files(folder) == []
    X = skmemmap.load(pattern, dtype=np.float32, consolidate=True)
    assert skmemmap.is_memmap_view(X) and X.dtype == np.float32


def test_x_and_y_chunk_lists_must_match_chunk_by_chunk(chunks, tmp_path):
    data, _, y_full = chunks
    X = skmemmap.load(data / "train_x_*.npy")
    # The same labels, cut into other chunks: rows no longer line up by chunk.
    other = tmp_path / "y"
    other.mkdir()
    np.save(other / "y_0.npy", y_full[:12])
    np.save(other / "y_1.npy", y_full[12:])
    y = skmemmap.load(other)
    with pytest.raises(ValueError, match=r"chunk 0 of X \(train_x_0.npy\) has 5 rows"):
        next(ContiguousKFold(2).split(X, y))
    with pytest.raises(ValueError, match="chunks do not match"):
        MemmapEstimator(LogisticRegression()).fit(X[2:20], y[2:20])


def test_search_folds_of_a_chunk_list_are_pieces_in_every_worker(
    chunks, folder, tmp_path
):
    data, X_full, y_full = chunks
    X = skmemmap.load(data / "train_x_*.npy")
    y = skmemmap.load(data / "train_y_*.npy")
    log = tmp_path / "log.jsonl"
    search = GridSearchCV(
        PieceSpy(log=str(log)),
        {"log": [str(log), str(log) + "2"]},
        cv=ContiguousKFold(2),
        n_jobs=2,
        refit=False,
    )
    search.fit(X, y)
    records = [json.loads(line) for line in log.read_text().splitlines()]
    # Rows 12-23 and 0-11: chunk 2 holds rows 6-12, so each training set
    # cuts it; the first is 4 pieces (chunks 2-5), the second 3 (chunks 0-2).
    assert sorted((r["type"], r["pieces"], r["rows"]) for r in records) == [
        ("ChunkedArray", 3, 12),
        ("ChunkedArray", 4, 12),
    ]
    plain = cross_val_predict(
        LogisticRegression(), X_full, y_full, cv=ContiguousKFold(2)
    )
    chunked = cross_val_predict(
        LogisticRegression(), X, y, cv=ContiguousKFold(2), n_jobs=2
    )
    np.testing.assert_array_equal(chunked, plain)


def test_wrapped_estimator_gets_the_fold_gathered_once_in_its_layout(chunks, folder):
    from sklearn.ensemble import RandomForestClassifier

    data, X_full, y_full = chunks
    X = skmemmap.load(data / "train_x_*.npy")
    forest = RandomForestClassifier(n_estimators=3, random_state=0)
    with (
        skmemmap.config_context(warn_nbytes=0),
        pytest.warns(
            CopyWarning,
            match=r"Rows of a chunk list gathered into a float32 Fortran file for "
            r"RandomForestClassifier",
        ),
    ):
        model = MemmapEstimator(forest).fit(X[2:20], y_full[2:20])
    gathered = data_files(folder)
    assert len(gathered) == 1 and ".gather-" in gathered[0]
    bare = RandomForestClassifier(n_estimators=3, random_state=0)
    bare.fit(X_full[2:20].astype(np.float32), y_full[2:20])
    np.testing.assert_array_equal(model.predict(X[2:20]), bare.predict(X_full[2:20]))
    # Strict mode refuses before anything is written.
    with pytest.raises(skmemmap.CopyError, match="chunk list"):
        MemmapEstimator(forest, on_copy="raise").fit(X[3:21], y_full[3:21])
    assert data_files(folder) == gathered


def test_shuffle_reads_a_chunk_list_in_place(chunks, folder):
    data, X_full, y_full = chunks
    X = skmemmap.load(data / "train_x_*.npy")
    y = skmemmap.load(data / "train_y_*.npy")
    X_s, y_s = skmemmap.shuffle(X, y, random_state=0)
    perm = np.random.RandomState(0).permutation(len(X_full))
    np.testing.assert_array_equal(X_s, X_full[perm])
    np.testing.assert_array_equal(y_s, y_full[perm])
    assert skmemmap.is_memmap_view(X_s) and isinstance(y_s, np.ndarray)
    assert len(data_files(folder)) == 1  # the shuffled file, and nothing else
