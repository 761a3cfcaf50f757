"""StreamingEstimator: partial_fit on contiguous blocks of X, read in order."""

import inspect
import itertools
import mmap
import numbers
import warnings

import numpy as np
import pytest
import sklearn
from numpy.testing import assert_allclose, assert_array_equal
from scipy import sparse
from sklearn.cluster import KMeans, MiniBatchKMeans
from sklearn.decomposition import IncrementalPCA, LatentDirichletAllocation
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import (
    LogisticRegression,
    SGDClassifier,
    SGDRegressor,
)
from sklearn.metrics import accuracy_score, r2_score
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils import all_estimators, get_tags

import skmemmap
from skmemmap import ContiguousKFold, CopyWarning, StreamingEstimator
from skmemmap._chunked import ChunkedArray
from skmemmap._streaming import _INCREMENTAL, _Pager

_LENGTHS = (130, 200, 170)


def _data(n=500, p=6, seed=0):
    rng = np.random.RandomState(seed)
    X = rng.rand(n, p)
    y = (X[:, 0] + X[:, 1] > 1).astype(np.int64)
    return X, y


def _chunk_list(user_file, parts, name):
    return skmemmap.load([user_file(c, f"{name}_{i}.npy") for i, c in enumerate(parts)])


@pytest.fixture
def chunks(folder, user_file, monkeypatch):
    """``(X, y)`` as chunk lists of user files, and the chunks as arrays.

    Gathering a chunk list into one array fails the test: StreamingEstimator
    reads it piece by piece.
    """

    def gathered(self, *args, **kwargs):
        raise AssertionError("the chunk list was gathered into one array")

    monkeypatch.setattr(ChunkedArray, "__array__", gathered)
    monkeypatch.setattr(ChunkedArray, "gather", gathered)
    X, y = _data()
    bounds = np.cumsum((0, *_LENGTHS))
    xs = [X[a:b] for a, b in itertools.pairwise(bounds)]
    ys = [y[a:b] for a, b in itertools.pairwise(bounds)]
    return _chunk_list(user_file, xs, "x"), _chunk_list(user_file, ys, "y"), xs, ys


def _hand_loop(est, xs, ys, *, n_passes=1, passes_per_block=1, classes=None, **kw):
    """The reference: partial_fit on each block in order, as users write it."""
    for _ in range(n_passes):
        for i, (xb, yb) in enumerate(zip(xs, ys, strict=True)):
            params = {k: v[i] for k, v in kw.items()}
            for _ in range(passes_per_block):
                if classes is None:
                    est.partial_fit(xb, yb, **params)
                else:
                    est.partial_fit(xb, yb, classes=classes, **params)
    return est


def _hand_pipeline(pipe, xs, ys, *, n_passes, passes_per_block, classes):
    """The reference for a Pipeline: each transformer one pass, then the last
    step, each on blocks transformed by the steps before it."""
    fitted = []
    for k, (_, step) in enumerate(pipe.steps):
        last = k == len(pipe.steps) - 1
        blocks = list(xs)
        for before in fitted:
            blocks = [before.transform(b) for b in blocks]
        _hand_loop(
            step,
            blocks,
            ys,
            n_passes=n_passes if last else 1,
            passes_per_block=passes_per_block if last else 1,
            classes=classes if last else None,
        )
        fitted.append(step)
    return pipe


def _fitted(est):
    """Every fitted attribute of an estimator (or of each Pipeline step)."""
    steps = est.steps if isinstance(est, Pipeline) else [("", est)]
    return {
        f"{name}.{key}": value
        for name, step in steps
        for key, value in vars(step).items()
        if key.endswith("_") and isinstance(value, (np.ndarray, numbers.Number))
    }


def _assert_same_model(ours, reference):
    ours, reference = _fitted(ours), _fitted(reference)
    assert ours.keys() == reference.keys()
    for key, value in reference.items():
        assert_array_equal(ours[key], value, err_msg=key, strict=True)


_EQUAL_CASES = {
    "SGDClassifier": lambda: SGDClassifier(random_state=0),
    "SGDRegressor": lambda: SGDRegressor(random_state=0),
    "MiniBatchKMeans": lambda: MiniBatchKMeans(3, random_state=0, n_init=1),
    "IncrementalPCA": lambda: IncrementalPCA(n_components=3),
    "StandardScaler->SGDClassifier": lambda: make_pipeline(
        StandardScaler(), SGDClassifier(random_state=0)
    ),
}


@pytest.mark.parametrize("make", _EQUAL_CASES.values(), ids=_EQUAL_CASES.keys())
def test_equals_the_hand_written_loop_over_chunks_bit_for_bit(chunks, make):
    Xc, yc, xs, ys = chunks
    model = StreamingEstimator(
        make(), n_passes=2, passes_per_block=2, shuffle_blocks=False
    ).fit(Xc, yc)
    reference = make()
    classes = (
        np.unique(np.concatenate(ys)) if sklearn.base.is_classifier(reference) else None
    )
    if isinstance(reference, Pipeline):
        _hand_pipeline(
            reference, xs, ys, n_passes=2, passes_per_block=2, classes=classes
        )
    else:
        _hand_loop(reference, xs, ys, n_passes=2, passes_per_block=2, classes=classes)
    assert model.n_blocks_ == len(_LENGTHS)
    _assert_same_model(model.estimator_, reference)


def test_one_file_in_blocks_of_block_rows_equals_the_loop(folder):
    X, y = _data()
    Xm = skmemmap.memmap(X)
    weights = np.random.RandomState(1).rand(len(X))
    model = StreamingEstimator(
        SGDClassifier(random_state=0), block_rows=120, shuffle_blocks=False
    ).fit(Xm, y, sample_weight=weights)
    cuts = [slice(a, a + 120) for a in range(0, len(X), 120)]
    reference = _hand_loop(
        SGDClassifier(random_state=0),
        [X[c] for c in cuts],
        [y[c] for c in cuts],
        classes=[0, 1],
        sample_weight=[weights[c] for c in cuts],
    )
    assert model.n_blocks_ == 5  # 4 x 120 rows and the last 20
    _assert_same_model(model.estimator_, reference)


def test_shuffled_blocks_follow_a_new_permutation_each_pass(folder):
    X, y = _data()
    model = StreamingEstimator(
        SGDRegressor(random_state=0), n_passes=3, block_rows=100, random_state=7
    ).fit(skmemmap.memmap(X), y)
    rng = np.random.RandomState(7)
    reference = SGDRegressor(random_state=0)
    orders = [rng.permutation(5) for _ in range(3)]
    assert not all(np.array_equal(o, orders[0]) for o in orders[1:])
    for order in orders:
        for i in order:
            reference.partial_fit(
                X[100 * i : 100 * (i + 1)], y[100 * i : 100 * (i + 1)]
            )
    _assert_same_model(model.estimator_, reference)


class _Spy(SGDRegressor):
    """SGDRegressor that records what each partial_fit call receives."""

    calls = []

    def partial_fit(self, X, y, **params):
        _Spy.calls.append((X, y, params))
        return super().partial_fit(X, y, **params)


class _SpyClassifier(SGDClassifier):
    calls = []

    def partial_fit(self, X, y, **params):
        _SpyClassifier.calls.append((X, y, params))
        return super().partial_fit(X, y, **params)


def test_blocks_are_views_of_the_file_read_in_order(folder):
    X, y = _data()
    Xm = skmemmap.memmap(X)
    _Spy.calls = []
    with warnings.catch_warnings():
        warnings.simplefilter("error", CopyWarning)
        StreamingEstimator(_Spy(), block_rows=200, shuffle_blocks=False).fit(Xm, y)
    starts = []
    for block, yb, _ in _Spy.calls:
        assert skmemmap.is_memmap_view(block) and np.shares_memory(block, Xm)
        starts.append((block.__array_interface__["data"][0] - Xm.ctypes.data) // 48)
        assert_array_equal(yb, y[starts[-1] : starts[-1] + len(block)])
    assert starts == [0, 200, 400]
    assert [len(b) for b, _, _ in _Spy.calls] == [200, 200, 100]


def test_a_block_not_in_the_layout_is_converted_alone_and_said(folder):
    X, y = _data()
    Xf = skmemmap.memmap(X.astype(np.float32), order="F")
    _Spy.calls = []
    converted = pytest.warns(CopyWarning, match=r"Blocks of X converted from float32")
    with skmemmap.config_context(warn_nbytes=0), converted:
        StreamingEstimator(_Spy(), block_rows=250).fit(Xf, y)
    for block, _, _ in _Spy.calls:
        # SGD reads float32 C without a copy: one block at a time, in memory.
        assert block.flags.c_contiguous and block.dtype == np.float32
        assert not np.shares_memory(block, Xf) and len(block) == 250


def test_a_writeable_layout_gets_copy_on_write_blocks_of_the_file(folder, user_file):
    X, _ = _data()
    path = user_file(X)
    Xm = skmemmap.load(path)
    seen = []

    class Scaler(StandardScaler):
        def partial_fit(self, X, y=None, sample_weight=None):
            seen.append(X)
            return super().partial_fit(X, y, sample_weight)

    model = StreamingEstimator(Scaler(), block_rows=250).fit(Xm)
    assert all(b.flags.writeable and b.filename == str(path) for b in seen)
    assert_allclose(model.estimator_.mean_, X.mean(axis=0))


def test_classes_from_all_of_y_on_the_first_call_only(chunks, user_file):
    Xc = chunks[0]
    # The first chunk holds one class, the last one a class no other has.
    ys = [np.zeros(130, int), np.arange(200) % 2, np.arange(170) % 3]
    yc = _chunk_list(user_file, ys, "labels")
    _SpyClassifier.calls = []
    StreamingEstimator(_SpyClassifier(), n_passes=2, shuffle_blocks=False).fit(Xc, yc)
    params = [p for _, _, p in _SpyClassifier.calls]
    assert_array_equal(params[0]["classes"], [0, 1, 2])
    assert all("classes" not in p for p in params[1:]) and len(params) == 6


def test_y_in_memory_is_cut_at_the_chunks_and_other_chunks_are_refused(
    chunks, user_file
):
    Xc, _, xs, ys = chunks
    y = np.concatenate(ys)
    model = StreamingEstimator(SGDClassifier(random_state=0), shuffle_blocks=False)
    reference = _hand_loop(SGDClassifier(random_state=0), xs, ys, classes=[0, 1])
    _assert_same_model(model.fit(Xc, y).estimator_, reference)
    other = _chunk_list(user_file, [y[:250], y[250:]], "y_other")
    with pytest.raises(ValueError, match="chunks do not match"):
        model.fit(Xc, other)


def test_block_budget_is_working_memory_and_blocks_stay_in_a_chunk(folder, user_file):
    big, small = np.random.RandomState(0).rand(2000, 64), np.ones((300, 64))
    Xc = _chunk_list(user_file, [big, small], "x")
    y = np.arange(2300) % 2
    _Spy.calls = []
    # 0.25 MiB holds 512 rows of 64 float64: the 2000-row chunk is cut into 4
    # equal blocks, the 300-row chunk is one.
    with sklearn.config_context(working_memory=0.25):
        model = StreamingEstimator(_Spy(), shuffle_blocks=False).fit(Xc, y)
    assert [len(b) for b, _, _ in _Spy.calls] == [500, 500, 500, 500, 300]
    assert model.n_blocks_ == 5
    _Spy.calls = []
    StreamingEstimator(_Spy(), block_rows=700, shuffle_blocks=False).fit(Xc, y)
    assert [len(b) for b, _, _ in _Spy.calls] == [700, 700, 600, 300]


def test_incremental_pca_blocks_never_shorter_than_n_components(folder):
    X, _ = _data(n=403)
    model = StreamingEstimator(IncrementalPCA(n_components=5), block_rows=100)
    model.fit(skmemmap.memmap(X))  # the last 3 rows join the block before
    assert model.n_blocks_ == 4


@pytest.mark.parametrize(
    "estimator, match",
    [
        (
            RandomForestClassifier(),
            r"RandomForestClassifier has no partial_fit.*"
            r"incremental classifiers in scikit-learn .* SGDClassifier, Perceptron",
        ),
        (LogisticRegression(), r"counterpart is SGDClassifier\(loss='log_loss'\)"),
        (KMeans(), r"counterpart is MiniBatchKMeans.*clusterers"),
        (
            make_pipeline(StandardScaler(), RandomForestClassifier()),
            r"Step 'randomforestclassifier' \(RandomForestClassifier\) of the "
            r"Pipeline has no partial_fit",
        ),
    ],
    ids=["forest", "logistic", "kmeans", "pipeline"],
)
def test_an_estimator_without_partial_fit_is_refused_at_fit(estimator, match):
    model = StreamingEstimator(estimator)  # __init__ only stores it
    X, y = _data(n=20)
    with pytest.raises(TypeError, match=match):
        model.fit(X, y)


def test_the_incremental_table_lists_scikit_learns_partial_fit_estimators():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        found = {
            name
            for name, cls in all_estimators()
            if hasattr(cls, "partial_fit")
            # Meta-estimators (partial_fit when their estimator has it), the
            # deprecated PassiveAggressive*, and a text vectorizer.
            and "estimator" not in inspect.signature(cls).parameters
            and "deprecated" not in (cls.__doc__ or "").lower()[:200]
            and name != "HashingVectorizer"
        }
    listed = {name for names in _INCREMENTAL.values() for name in names}
    assert listed <= found  # every name suggested exists, with partial_fit
    # PassiveAggressive* are deprecated from scikit-learn 1.8, not suggested.
    assert found - listed <= {
        "PassiveAggressiveClassifier",
        "PassiveAggressiveRegressor",
    }


def test_predict_and_transform_stream_and_return_plain_arrays(chunks):
    Xc, yc, xs, ys = chunks
    X, y = np.concatenate(xs), np.concatenate(ys)
    model = StreamingEstimator(SGDClassifier(random_state=0)).fit(Xc, yc)
    for method in ("predict", "decision_function"):
        out = getattr(model, method)(Xc)
        assert type(out) is np.ndarray
        assert_array_equal(out, getattr(model.estimator_, method)(X))
    assert model.score(Xc, yc) == accuracy_score(y, model.estimator_.predict(X))
    scaler = StreamingEstimator(StandardScaler(), block_rows=64).fit(Xc)
    Xt = scaler.transform(Xc)
    assert type(Xt) is np.ndarray
    assert_allclose(Xt, scaler.estimator_.transform(X))
    assert_allclose(scaler.inverse_transform(Xt), X)
    assert_allclose(Xt.mean(axis=0), 0, atol=1e-12)


def test_score_adds_up_over_blocks_or_says_why_not(folder):
    X, y = _data()
    Xm, w = skmemmap.memmap(X), np.random.RandomState(2).rand(len(X))
    reg = StreamingEstimator(SGDRegressor(random_state=0), block_rows=64).fit(Xm, y)
    assert_allclose(
        reg.score(Xm, y, sample_weight=w),
        r2_score(y, reg.estimator_.predict(X), sample_weight=w),
        rtol=1e-12,
    )
    km = StreamingEstimator(MiniBatchKMeans(3, random_state=0, n_init=1), block_rows=64)
    km.fit(Xm)
    assert_allclose(km.score(Xm), km.estimator_.score(X), rtol=1e-10)
    lda = StreamingEstimator(
        LatentDirichletAllocation(2, random_state=0), block_rows=64
    )
    with pytest.warns(skmemmap.LayoutWarning, match="LatentDirichletAllocation"):
        lda.fit(Xm)
    with pytest.raises(ValueError, match=r"neither a sum nor a mean .* 8 blocks"):
        lda.score(Xm)
    assert lda.score(Xm[:64]) == lda.estimator_.score(X[:64])


def test_grid_search_over_estimator_alpha_equals_the_loop_per_fold(folder):
    X, y = _data(n=600)
    Xm = skmemmap.memmap(X)
    search = GridSearchCV(
        StreamingEstimator(
            SGDClassifier(random_state=0), block_rows=100, shuffle_blocks=False
        ),
        {"estimator__alpha": [1e-4, 1e-1]},
        cv=ContiguousKFold(2),
    ).fit(Xm, y)
    for c, alpha in enumerate([1e-4, 1e-1]):
        for fold, (train, test) in enumerate(
            [(slice(300, 600), slice(0, 300)), (slice(0, 300), slice(300, 600))]
        ):
            Xt, yt = X[train], y[train]
            cuts = [slice(a, a + 100) for a in range(0, 300, 100)]
            est = _hand_loop(
                SGDClassifier(random_state=0, alpha=alpha),
                [Xt[s] for s in cuts],
                [yt[s] for s in cuts],
                classes=[0, 1],
            )
            score = search.cv_results_[f"split{fold}_test_score"][c]
            assert score == est.score(X[test], y[test])


def test_works_as_a_pipeline_step_and_keeps_frame_feature_names(folder):
    pd = pytest.importorskip("pandas")
    X, y = _data()
    df = pd.DataFrame(X, columns=[f"f{i}" for i in range(X.shape[1])])
    pipe = make_pipeline(
        StandardScaler(),
        StreamingEstimator(SGDClassifier(random_state=0), block_rows=100),
    ).fit(df, y)
    assert pipe.score(df, y) > 0.9
    model = StreamingEstimator(StandardScaler(), block_rows=100).fit(df)
    assert_array_equal(model.feature_names_in_, df.columns)
    assert_array_equal(model.get_feature_names_out(), df.columns)
    out = model.set_output(transform="pandas").transform(df)
    assert list(out.columns) == list(df.columns) and out.index.equals(df.index)


def test_sparse_x_is_cut_into_csr_row_blocks(folder):
    X, y = _data()
    Xs = sparse.coo_matrix(np.where(X > 0.7, X, 0))
    model = StreamingEstimator(
        SGDClassifier(random_state=0), block_rows=100, shuffle_blocks=False
    ).fit(Xs, y)
    Xr = Xs.tocsr()
    reference = _hand_loop(
        SGDClassifier(random_state=0),
        [Xr[a : a + 100] for a in range(0, 500, 100)],
        [y[a : a + 100] for a in range(0, 500, 100)],
        classes=[0, 1],
    )
    _assert_same_model(model.estimator_, reference)
    assert_array_equal(model.predict(Xs), reference.predict(Xr))


@pytest.mark.parametrize(
    "params, match",
    [
        ({"n_passes": 0}, r"n_passes must be an int >= 1, got 0\."),
        ({"passes_per_block": 1.5}, r"passes_per_block must be an int >= 1"),
        ({"block_rows": 0}, r"block_rows must be None or an int >= 1, got 0\."),
        ({"shuffle_blocks": "yes"}, r"shuffle_blocks must be True or False"),
    ],
)
def test_bad_parameters_raise_in_fit(params, match):
    X, y = _data(n=20)
    model = StreamingEstimator(SGDClassifier(), **params)
    with pytest.raises(ValueError, match=match):
        model.fit(X, y)


def test_a_classifier_without_y_says_y_is_required():
    X, _ = _data(n=20)
    with pytest.raises(ValueError, match="SGDClassifier requires y to be passed"):
        StreamingEstimator(SGDClassifier()).fit(X)


def test_tags_and_delegated_methods_are_the_wrapped_estimators():
    for inner in (SGDClassifier(), StandardScaler(), MiniBatchKMeans()):
        ours, bare = get_tags(StreamingEstimator(inner)), get_tags(inner)
        assert ours.estimator_type == bare.estimator_type
        assert ours.input_tags == bare.input_tags
        assert ours.target_tags == bare.target_tags
    assert not hasattr(StreamingEstimator(SGDRegressor()), "predict_proba")
    assert not hasattr(StreamingEstimator(SGDClassifier()), "transform")
    assert hasattr(StreamingEstimator(StandardScaler()), "inverse_transform")
    fit = inspect.signature(StreamingEstimator(SGDClassifier()).fit).parameters
    assert "sample_weight" in fit
    fit = inspect.signature(StreamingEstimator(IncrementalPCA()).fit).parameters
    assert "sample_weight" not in fit


@pytest.mark.skipif(
    not hasattr(mmap, "MADV_DONTNEED"), reason="no madvise on this platform"
)
def test_a_finished_block_leaves_the_page_tables(folder):
    X = skmemmap.memmap(np.random.RandomState(0).rand(4096, 128))  # 4 MiB
    half = X[:2048]
    float(half.sum())  # maps its pages
    before = _mapped_rss(X.filename)
    _Pager(True).done(half)
    after = _mapped_rss(X.filename)
    assert before >= 2 * 2**20 and after <= before - 2 * 2**20  # its 2 MiB went


@pytest.mark.skipif(
    not hasattr(mmap, "MADV_DONTNEED"), reason="no madvise on this platform"
)
def test_fit_and_predict_leave_no_block_mapped(folder):
    X = skmemmap.memmap(np.random.RandomState(0).rand(4096, 128))  # 4 MiB
    y = np.arange(4096) % 2
    model = StreamingEstimator(SGDClassifier(), block_rows=512).fit(X, y)
    assert _mapped_rss(X.filename) < 2**20  # at most the last block's folios
    model.predict(X)
    assert _mapped_rss(X.filename) < 2**20
    float(X.sum())
    assert _mapped_rss(X.filename) >= 4 * 2**20  # what reading all of it maps


def _mapped_rss(path):
    """Bytes of ``path`` mapped in this process's page tables (/proc smaps)."""
    total, inside = 0, False
    with open("/proc/self/smaps") as f:
        for line in f:
            if "-" in line.split(" ", 1)[0]:
                inside = line.rstrip().endswith(path)
            elif inside and line.startswith("Rss:"):
                total += int(line.split()[1]) * 1024
    return total


def test_parallel_search_on_a_chunk_list_scores_as_the_loop_over_its_pieces(chunks):
    Xc, yc, xs, ys = chunks
    X, y = np.concatenate(xs), np.concatenate(ys)
    alphas = [1e-4, 1e-1]
    search = GridSearchCV(
        StreamingEstimator(SGDClassifier(random_state=0), shuffle_blocks=False),
        {"estimator__alpha": alphas},
        cv=ContiguousKFold(2),
        n_jobs=2,
    ).fit(Xc, yc)
    for fold, (train, test) in enumerate(ContiguousKFold(2).split(X)):
        pieces = list(Xc[train].pieces())
        assert [len(p) for p in pieces] == ([80, 170] if fold == 0 else [130, 120])
        bounds = np.cumsum([train[0], *[len(p) for p in pieces]])
        y_pieces = [y[a:b] for a, b in itertools.pairwise(bounds)]
        for c, alpha in enumerate(alphas):
            est = SGDClassifier(random_state=0, alpha=alpha)
            _hand_loop(est, pieces, y_pieces, classes=[0, 1])
            score = search.cv_results_[f"split{fold}_test_score"][c]
            assert score == est.score(X[test], y[test])


def test_scattered_rows_of_a_chunk_list_are_one_block_per_chunk(chunks):
    Xc, yc, xs, ys = chunks
    X, y = np.concatenate(xs), np.concatenate(ys)
    rows = np.flatnonzero(np.random.RandomState(0).rand(len(X)) < 0.6)  # ~300
    model = StreamingEstimator(SGDClassifier(random_state=0), shuffle_blocks=False)
    model.fit(Xc[rows], yc[rows])
    chunk = np.searchsorted(np.cumsum(_LENGTHS), rows, side="right")
    blocks = [rows[chunk == c] for c in range(3)]
    reference = _hand_loop(
        SGDClassifier(random_state=0),
        [X[b] for b in blocks],
        [y[b] for b in blocks],
        classes=[0, 1],
    )
    assert model.n_blocks_ == 3
    _assert_same_model(model.estimator_, reference)


def test_block_conversions_in_search_workers_are_warned_once_at_the_search(folder):
    X, y = _data(n=400)
    Xf = skmemmap.memmap(X.astype(np.float32), order="F")
    search = GridSearchCV(
        StreamingEstimator(SGDClassifier(random_state=0), block_rows=100),
        {"estimator__alpha": [1e-4, 1e-1]},
        cv=ContiguousKFold(2),
        n_jobs=2,
    )
    with (
        skmemmap.config_context(warn_nbytes=0),
        warnings.catch_warnings(record=True) as seen,
    ):
        warnings.simplefilter("always")
        search.fit(Xf, y)  # 4 fits and 4 scores in workers, the refit here
    copies = [w for w in seen if issubclass(w.category, CopyWarning)]
    assert len(copies) == 1 and copies[0].filename == __file__
    assert "one block at a time (9 copies" in str(copies[0].message)
