"""MemmapEstimator: layouts, one conversion per file, no copies, sklearn behaviour."""

import gc
import hashlib
import os
import pickle
import sys
import tracemalloc
import warnings

import numpy as np
import pytest
import sklearn
from sklearn.decomposition import PCA
from sklearn.ensemble import (
    ExtraTreesRegressor,
    HistGradientBoostingClassifier,
    RandomForestClassifier,
)
from sklearn.linear_model import Lasso, LogisticRegression, Ridge, SGDClassifier
from sklearn.model_selection import GridSearchCV, KFold, cross_val_predict
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import skmemmap
from skmemmap import ContiguousKFold, CopyError, CopyWarning, Layout, MemmapEstimator

sys.path.insert(0, os.path.dirname(__file__))
from _spy_est import SpyRegressor, read_log


@pytest.fixture
def spy_layout():
    skmemmap.register_layout(SpyRegressor, Layout(np.float32, "F"))
    yield
    skmemmap.register_layout(SpyRegressor, None)


def _data(n=600, p=8, seed=0):
    rng = np.random.RandomState(seed)
    X = rng.standard_normal((n, p))
    y_clf = (X[:, 0] + 0.3 * rng.standard_normal(n) > 0).astype(int)
    y_reg = X @ rng.standard_normal(p) + 0.1 * rng.standard_normal(n)
    return X, y_clf, y_reg


def _files(folder, pattern):
    return sorted(p for p in folder.rglob(pattern) if not p.name.endswith(".lock"))


def _sha(path):
    return hashlib.sha256(open(path, "rb").read()).hexdigest()


def _anon_bytes():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("RssAnon:"):
                return int(line.split()[1]) * 1024
    pytest.skip("no RssAnon in /proc/self/status")


DETERMINISTIC = [
    (RandomForestClassifier(n_estimators=5, random_state=0), "clf"),
    (ExtraTreesRegressor(n_estimators=5, random_state=0), "reg"),
    (LogisticRegression(), "clf"),
    (Ridge(), "reg"),
    (Lasso(alpha=0.01), "reg"),
    (SGDClassifier(random_state=0), "clf"),
    (KNeighborsClassifier(), "clf"),
    (StandardScaler(), "reg"),
    (PCA(n_components=3), "reg"),
    (make_pipeline(StandardScaler(), LogisticRegression()), "clf"),
]


def _outputs(est, X):
    out = {}
    for method in ("predict", "predict_proba", "decision_function", "transform"):
        if hasattr(est, method):
            out[method] = getattr(est, method)(X)
    return out


@pytest.mark.parametrize(
    "est, target", DETERMINISTIC, ids=[type(e).__name__ for e, _ in DETERMINISTIC]
)
@pytest.mark.parametrize("source", ["memmap", "memmap_f32F", "in_memory_mapped"])
def test_outputs_equal_direct_fit(folder, est, target, source):
    X, y_clf, y_reg = _data()
    y = y_clf if target == "clf" else y_reg
    if source == "memmap":
        X_in, X_ref, kwargs = skmemmap.memmap(X), X, {}
    elif source == "memmap_f32F":
        X_in = skmemmap.memmap(X, dtype=np.float32, order="F")
        X_ref, kwargs = np.asarray(X_in), {}
    else:
        X_in, X_ref, kwargs = X, X, {"max_nbytes": 0}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CopyWarning)
        wrapped = MemmapEstimator(est, **kwargs).fit(X_in, y)
        got = _outputs(wrapped, X_in)
    # The same data in the same memory layout: results must be bit-identical
    # (a different order changes BLAS summation order, hence the last bits).
    dtype, order = skmemmap.layout_for(est).resolve(np.asarray(X_in))
    X_ref = np.asarray(X_ref, dtype=dtype, order=order)
    direct = sklearn.clone(est).fit(X_ref, y)
    expected = _outputs(direct, X_ref)
    assert got.keys() == expected.keys() and got
    for method in expected:
        np.testing.assert_array_equal(got[method], expected[method], err_msg=method)
    if hasattr(direct, "score"):
        assert wrapped.score(X_in, y) == direct.score(X_ref, y)


def test_delegated_methods_exist_only_when_wrapped_has_them():
    assert hasattr(MemmapEstimator(LogisticRegression()), "predict_proba")
    assert not hasattr(MemmapEstimator(Ridge()), "predict_proba")
    assert not hasattr(MemmapEstimator(Ridge()), "transform")
    assert hasattr(MemmapEstimator(PCA()), "transform")
    assert hasattr(MemmapEstimator(PCA()), "inverse_transform")
    assert hasattr(MemmapEstimator(SGDClassifier()), "partial_fit")
    assert not hasattr(MemmapEstimator(Ridge()), "partial_fit")
    assert not hasattr(MemmapEstimator(LogisticRegression()), "classes_")


def test_rf_converts_once_then_reuses_sibling(folder):
    """Float64 X for a forest: one float32 sibling; later fits allocate no X."""
    rng = np.random.RandomState(0)
    X = skmemmap.memmap(rng.standard_normal((20_000, 250)))  # 40 MB float64
    y = (np.asarray(X[:, 0]) > 0).astype(int)
    model = MemmapEstimator(
        RandomForestClassifier(n_estimators=2, max_depth=3, random_state=0)
    )
    with pytest.warns(
        CopyWarning, match=r"float64 C to float32 Fortran for RandomForestClassifier"
    ):
        model.fit(X, y)
    (sibling,) = _files(folder, "*.as-float32-F-*.npy")
    inode = sibling.stat().st_ino
    gc.collect()
    anon_before = _anon_bytes()
    tracemalloc.start()
    with warnings.catch_warnings():
        warnings.simplefilter("error", CopyWarning)
        for _ in range(2):
            model.fit(X[: len(X) // 2], y[: len(X) // 2])
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    anon_growth = _anon_bytes() - anon_before
    x32_nbytes = X.size * 4
    assert peak < 0.1 * x32_nbytes, peak
    assert anon_growth < 0.25 * x32_nbytes, anon_growth
    assert _files(folder, "*.as-float32-F-*.npy") == [sibling]
    assert sibling.stat().st_ino == inode


def test_logistic_regression_reads_float64_c_memmap_without_copy(folder):
    rng = np.random.RandomState(0)
    X = skmemmap.memmap(rng.standard_normal((20_000, 250)))  # 40 MB
    y = (np.asarray(X[:, 0]) > 0).astype(int)
    model = MemmapEstimator(LogisticRegression(max_iter=5))
    gc.collect()
    anon_before = _anon_bytes()
    tracemalloc.start()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", sklearn.exceptions.ConvergenceWarning)
        warnings.simplefilter("error", CopyWarning)
        model.fit(X, y)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 0.2 * X.nbytes, peak
    assert _anon_bytes() - anon_before < 0.5 * X.nbytes
    assert _files(folder, "*.as-*") == []


def test_grid_search_writes_sibling_once_and_workers_read_views(
    folder, tmp_path, spy_layout
):
    X, _, y = _data(4000, 10)
    X_mm = skmemmap.memmap(X)
    log = str(tmp_path / "log.jsonl")
    search = GridSearchCV(
        MemmapEstimator(SpyRegressor(log=log)),
        {"estimator__alpha": [0.1, 1.0, 10.0, 100.0]},
        cv=KFold(2),
        n_jobs=2,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CopyWarning)
        search.fit(X_mm, y)
    records = read_log(log)
    fits = [r for r in records if r["method"] == "fit"]
    assert len(fits) == 4 * 2 + 1  # candidates x folds, plus the refit
    assert {r["pid"] for r in records} - {os.getpid()}, "no fit ran in a worker"
    (sibling,) = _files(folder, "*.as-float32-F-*.npy")
    assert {r["file"] for r in records} == {str(sibling)}
    # One file, never replaced: every process saw the same inode and mtime.
    assert {(r["inode"], r["mtime"]) for r in records} == {
        (sibling.stat().st_ino, sibling.stat().st_mtime_ns)
    }
    assert all(r["view"] and r["dtype"] == "float32" for r in records)
    assert all(not r["owndata"] for r in records)
    plain = GridSearchCV(
        SpyRegressor(), {"alpha": [0.1, 1.0, 10.0, 100.0]}, cv=KFold(2)
    ).fit(X.astype(np.float32).astype(np.float64), y)
    np.testing.assert_allclose(
        search.cv_results_["mean_test_score"], plain.cv_results_["mean_test_score"]
    )


def test_wrapping_a_search_maps_in_memory_x_once_for_every_worker(
    folder, tmp_path, spy_layout
):
    X, _, y = _data(4000, 10)  # in memory, float64 C
    log = str(tmp_path / "log.jsonl")
    search = GridSearchCV(
        SpyRegressor(log=log),
        {"alpha": [0.1, 1.0, 10.0, 100.0]},
        cv=ContiguousKFold(2),
        n_jobs=2,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error", CopyWarning)  # the automatic path is quiet
        with skmemmap.copy_report(warn=False) as report:
            model = MemmapEstimator(search).fit(X, y)
    records = read_log(log)
    in_workers = [r for r in records if r["pid"] != os.getpid()]
    assert len([r for r in in_workers if r["method"] == "fit"]) == 4 * 2
    # X written once, in the spy's layout, into this test's folder; every fit
    # and predict, in every process, was a view of that one file.
    (mapped,) = {r["file"] for r in records}
    assert mapped.startswith(str(folder))
    assert all(r["view"] and r["dtype"] == "float32" for r in records)
    assert _files(folder, "*.npy") == []  # released with the fit
    assert report.counts == {"GridSearchCV/in-memory": 1}  # recorded, not warned
    plain = GridSearchCV(
        SpyRegressor(), {"alpha": [0.1, 1.0, 10.0, 100.0]}, cv=KFold(2)
    ).fit(X.astype(np.float32).astype(np.float64), y)
    np.testing.assert_allclose(
        model.estimator_.cv_results_["mean_test_score"],
        plain.cv_results_["mean_test_score"],
    )


def test_writeable_layout_gets_copy_on_write_map(folder, tmp_path):
    X, _, y = _data()
    X_mm = skmemmap.memmap(X)
    digest = _sha(X_mm.filename)
    log = str(tmp_path / "log.jsonl")
    skmemmap.register_layout(SpyRegressor, Layout(np.float64, "C", writeable=True))
    try:
        MemmapEstimator(SpyRegressor(log=log, write_x=True)).fit(X_mm, y)
    finally:
        skmemmap.register_layout(SpyRegressor, None)
    (record,) = read_log(log)
    assert record["writeable"] and record["view"] and record["file"] == X_mm.filename
    assert _sha(X_mm.filename) == digest
    np.testing.assert_array_equal(X_mm, X)


def test_ridge_copy_x_false_on_memmap_leaves_file_unchanged(folder):
    X, _, y = _data()
    X_mm = skmemmap.memmap(X)
    digest = _sha(X_mm.filename)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CopyWarning)
        got = MemmapEstimator(Ridge(copy_X=False)).fit(X_mm, y).predict(X_mm)
    assert _sha(X_mm.filename) == digest
    np.testing.assert_allclose(got, Ridge().fit(X, y).predict(X))


def test_a_conversion_is_warned_when_made_and_not_when_reused(folder):
    X, y, _ = _data(40_000, 10)  # 1.5 MB as float32: above the 1 MB threshold
    X_mm = skmemmap.memmap(X)
    model = MemmapEstimator(RandomForestClassifier(n_estimators=2, random_state=0))
    with pytest.warns(CopyWarning) as record:
        model.fit(X_mm, y)
    messages = [str(w.message) for w in record if w.category is CopyWarning]
    assert len(messages) == 1
    assert messages[0].startswith(
        "X converted from float64 C to float32 Fortran for RandomForestClassifier "
        "(1.5 MB on disk). Map it so once: "
        "skmemmap.memmap(X, dtype='float32', order='F')."
    )
    assert record[0].filename == __file__
    with warnings.catch_warnings():
        warnings.simplefilter("error", CopyWarning)
        model.fit(X_mm, y)  # the sibling is reused: no copy, nothing to say
        model.fit(X_mm[:300], y[:300])


def test_in_memory_x_converted_into_a_file_says_so(folder):
    X, y, _ = _data(40_000, 10)
    with pytest.warns(
        CopyWarning,
        match=r"^In-memory X converted from float64 C to a float32 Fortran file for "
        r"RandomForestClassifier \(1.5 MB on disk\). Map it so once: "
        r"skmemmap\.memmap\(X, dtype='float32', order='F'\)",
    ):
        MemmapEstimator(RandomForestClassifier(n_estimators=2), max_nbytes="1K").fit(
            X, y
        )


def test_in_memory_x_read_as_it_is_writes_nothing_and_says_nothing(folder):
    from _spy_est import ListFolderLogReg

    X, y, _ = _data(50_000, 20)  # 7.6 MB float64 C, what LogisticRegression reads
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model = MemmapEstimator(ListFolderLogReg(folder=str(folder))).fit(X, y)
    assert model.estimator_.seen_files_ == []  # nothing written while it ran
    assert model.estimator_.seen_X_ is X


def test_a_strided_view_is_copied_in_memory_and_says_so(folder):
    X, y, _ = _data(50_000, 20)
    X_mm = skmemmap.memmap(X)
    with pytest.warns(
        CopyWarning,
        match=r"^X converted from float64 \(a non-contiguous view\) to float64 C in "
        r"memory for LogisticRegression \(3\.8 MB\)",
    ):
        MemmapEstimator(LogisticRegression(), max_nbytes=None).fit(X_mm[:, ::2], y)
    assert _files(folder, "*.as-*") == []


@pytest.mark.parametrize(
    "estimator, dtype, message",
    [
        (
            Ridge(),
            "float64",
            r"^Ridge makes its own copies of X in fit, about 1x X "
            r"\(1\.5 MB\)\.\nWhy: it centers a copy of X \(copy_X=True\)",
        ),
        (
            Ridge(fit_intercept=False),
            "float64",
            r"about 1x X \(1\.5 MB\)\. Pass "
            r"Ridge\(copy_X=False\) to bring them to none\.",
        ),
        (
            PCA(5, svd_solver="full"),
            "float64",
            r"^PCA makes its own copies of X in "
            r"fit, about 3x X \(4\.6 MB\)\. Pass PCA\(svd_solver='covariance_eigh'\)",
        ),
        # float32 X is converted to float64 and, above 10,000 rows, early
        # stopping splits off a float64 validation set
        (
            HistGradientBoostingClassifier(max_iter=2),
            "float32",
            r"about 4\.2x X \(3\.2 MB\)\.\nWhy: it bins X into its own uint8 copy, "
            r"converts float32 X to float64 and with early stopping",
        ),
    ],
    ids=["Ridge", "Ridge-no-intercept", "PCA-full", "HGB-float32"],
)
def test_own_copies_are_reported_for_the_parameters_and_x(
    folder, estimator, dtype, message
):
    X, y, _ = _data(20_000, 10)
    with pytest.warns(CopyWarning, match=message):
        MemmapEstimator(estimator).fit(skmemmap.memmap(X, dtype=dtype), y)


def test_no_own_copy_is_reported_where_the_solver_makes_none(folder):
    X, _, y = _data(20_000, 10)
    with skmemmap.copy_report(warn=False) as report:
        # PCA's "auto" picks covariance_eigh for this tall, narrow X
        MemmapEstimator(PCA(5)).fit(skmemmap.memmap(X), y)
        MemmapEstimator(Ridge(fit_intercept=False, copy_X=False)).fit(
            skmemmap.memmap(X), y
        )
    assert report.counts == {}


def test_on_copy_raise_and_ignore(folder):
    X, y, _ = _data()
    X_mm = skmemmap.memmap(X)
    strict = MemmapEstimator(RandomForestClassifier(n_estimators=2), on_copy="raise")
    with pytest.raises(CopyError, match="float32 Fortran"):
        strict.fit(X_mm, y)
    with pytest.raises(CopyError):  # not deduplicated: raises every time
        strict.fit(X_mm, y)
    assert _files(folder, "*.as-*") == []  # raised before converting anything
    with warnings.catch_warnings():
        warnings.simplefilter("error", CopyWarning)
        MemmapEstimator(RandomForestClassifier(n_estimators=2), on_copy="ignore").fit(
            X_mm, y
        )
    assert len(_files(folder, "*.as-float32-F-*.npy")) == 1
    # The sibling exists now: fitting makes no copy, so strict mode passes.
    strict.fit(X_mm, y)


@pytest.mark.parametrize(
    "params, match",
    [
        ({"on_copy": "loud"}, "on_copy must be one of"),
        ({"layout": "fast"}, "layout must be 'auto' or a skmemmap.Layout"),
        ({"blas_threads": 0}, "blas_threads must be None or a positive int"),
        ({"max_nbytes": "lots"}, "max_nbytes must be a non-negative int"),
    ],
)
def test_bad_parameters_raise_in_fit(params, match):
    X, y, _ = _data(50, 3)
    model = MemmapEstimator(LogisticRegression(), **params)  # __init__ only stores
    with pytest.raises(ValueError, match=match):
        model.fit(X, y)


def test_blas_threads_limits_thread_pools(folder, tmp_path):
    import threadpoolctl

    if not threadpoolctl.threadpool_info():
        pytest.skip("no BLAS/OpenMP thread pool loaded")
    X, _, y = _data()
    log = str(tmp_path / "log.jsonl")
    MemmapEstimator(SpyRegressor(log=log), blas_threads=1, layout=Layout()).fit(X, y)
    (record,) = read_log(log)
    assert record["blas_threads"] and set(record["blas_threads"]) == {1}


def test_pickle_after_fit_holds_model_not_data(folder):
    X, y, _ = _data(20_000, 50)  # 8 MB
    X_mm = skmemmap.memmap(X)
    model = MemmapEstimator(LogisticRegression()).fit(X_mm, y)
    blob = pickle.dumps(model)
    assert len(blob) < 50_000
    restored = pickle.loads(blob)
    np.testing.assert_array_equal(restored.predict(X_mm), model.predict(X_mm))


def test_pipeline_step_and_cross_val_predict_parallel(folder):
    X, y, _ = _data(2000, 6)
    X_mm = skmemmap.memmap(X)
    pipe = make_pipeline(MemmapEstimator(StandardScaler()), LogisticRegression())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CopyWarning)
        got = cross_val_predict(pipe, X_mm, y, cv=KFold(2), n_jobs=2)
    expected = cross_val_predict(
        make_pipeline(StandardScaler(), LogisticRegression()), X, y, cv=KFold(2)
    )
    np.testing.assert_array_equal(got, expected)


def test_predict_in_blocks_within_working_memory(folder, tmp_path, spy_layout):
    X, _, y = _data(6000, 100)  # 4.6 MB float64, the spy reads float32 F
    log = str(tmp_path / "log.jsonl")
    with pytest.warns(CopyWarning, match="in memory for SpyRegressor"):
        model = MemmapEstimator(SpyRegressor(log=log), max_nbytes=None).fit(X, y)
    with sklearn.config_context(working_memory=1):
        got = model.predict(X)
    predicts = [r for r in read_log(log) if r["method"] == "predict"]
    assert len(predicts) > 1
    assert all(r["nbytes"] <= 2**20 and r["dtype"] == "float32" for r in predicts)
    assert sum(r["rows"] for r in predicts) == len(X)
    np.testing.assert_array_equal(got, model.estimator_.predict(X.astype(np.float32)))


def test_sample_weight_passes_through_and_routes():
    X, y, _ = _data()
    w = np.random.RandomState(1).uniform(0.1, 2, len(y))
    expected = LogisticRegression().fit(X, y, sample_weight=w).coef_
    got = MemmapEstimator(LogisticRegression()).fit(X, y, sample_weight=w)
    np.testing.assert_allclose(got.estimator_.coef_, expected)
    with sklearn.config_context(enable_metadata_routing=True):
        inner = LogisticRegression().set_fit_request(sample_weight=True)
        routed = MemmapEstimator(inner).fit(X, y, sample_weight=w)
        np.testing.assert_allclose(routed.estimator_.coef_, expected)
        unrequested = MemmapEstimator(LogisticRegression())
        with pytest.raises(ValueError, match="sample_weight"):
            unrequested.fit(X, y, sample_weight=w)


def test_dataframe_feature_names(folder):
    pd = pytest.importorskip("pandas")
    X, y, _ = _data(300, 4)
    df = pd.DataFrame(X, columns=["a", "b", "c", "d"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CopyWarning)
        model = MemmapEstimator(LogisticRegression(), max_nbytes=0).fit(df, y)
    assert list(model.feature_names_in_) == ["a", "b", "c", "d"]
    assert model.n_features_in_ == 4
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "fitted without feature names" warning
        np.testing.assert_array_equal(
            model.predict(df), LogisticRegression().fit(X, y).predict(X)
        )
    with pytest.raises(ValueError, match="feature names should match"):
        model.predict(df[["d", "c", "b", "a"]])


def test_grid_search_over_wrapped_params_in_parallel(folder):
    X, y, _ = _data(1000, 5)
    X_mm = skmemmap.memmap(X)
    grid = {"estimator__C": [0.01, 1.0]}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CopyWarning)
        search = GridSearchCV(
            MemmapEstimator(LogisticRegression()), grid, cv=KFold(2), n_jobs=2
        ).fit(X_mm, y)
    plain = GridSearchCV(LogisticRegression(), {"C": [0.01, 1.0]}, cv=KFold(2)).fit(
        X, y
    )
    np.testing.assert_array_equal(
        search.cv_results_["mean_test_score"], plain.cv_results_["mean_test_score"]
    )
    assert search.best_estimator_.estimator_.C == plain.best_estimator_.C


def test_sparse_x_passes_through_unmapped_with_one_note(folder):
    from scipy import sparse

    X, y, _ = _data(300, 10)
    X_sp = sparse.csr_matrix(np.where(np.abs(X) > 1, X, 0))
    with pytest.warns(skmemmap.LayoutWarning, match="sparse matrix") as record:
        model = MemmapEstimator(LogisticRegression(), max_nbytes=0).fit(X_sp, y)
    assert len([w for w in record if w.category is skmemmap.LayoutWarning]) == 1
    np.testing.assert_array_equal(
        model.predict(X_sp), LogisticRegression().fit(X_sp, y).predict(X_sp)
    )
    assert _files(folder, "*.npy") == []  # nothing was mapped
    with warnings.catch_warnings():
        warnings.simplefilter("error", skmemmap.LayoutWarning)
        MemmapEstimator(LogisticRegression()).fit(X_sp, y)  # said once only


@pytest.mark.parametrize(
    "est",
    [
        LogisticRegression(),
        Ridge(),
        RandomForestClassifier(n_estimators=5, random_state=0),
        make_pipeline(StandardScaler(), Lasso(alpha=0.01)),
    ],
    ids=lambda e: type(e).__name__,
)
def test_cross_val_predict_with_contiguous_kfold_equals_plain(folder, est):
    X, y_clf, y_reg = _data(1200, 6)
    y = y_clf if sklearn.base.is_classifier(est) else y_reg
    X_in = X.astype(np.float32) if isinstance(est, RandomForestClassifier) else X
    X_mm = skmemmap.memmap(X_in)
    with warnings.catch_warnings():
        # 2 contiguous folds: no fold is copied or gathered, in any process
        # (scikit-learn forwards this filter to its workers). Estimators' own
        # copies (Ridge's, StandardScaler's) may still be reported.
        warnings.filterwarnings(
            "error", message="(Copied|Gathered|Converted)", category=CopyWarning
        )
        got = cross_val_predict(
            MemmapEstimator(est), X_mm, y, cv=skmemmap.ContiguousKFold(), n_jobs=2
        )
    expected = cross_val_predict(est, X_in, y, cv=KFold(2))
    np.testing.assert_array_equal(got, expected)


def test_copy_on_write_view_keeps_its_file_alive(folder):
    from skmemmap._convert import _copy_on_write

    X, _, _ = _data(200, 4)
    X_mm = skmemmap.memmap(X)
    path = X_mm.filename
    cow = _copy_on_write(X_mm[50:100])
    assert cow.flags.writeable
    del X_mm
    gc.collect()
    # The root array is gone, but the writeable view still maps its file:
    # the file must stay, so the view can still be sent to a worker.
    assert os.path.exists(path)
    np.testing.assert_array_equal(pickle.loads(pickle.dumps(cow)), X[50:100])


# -- causes named truly --------------------------------------------------------------
def _warned(record):
    return [str(w.message) for w in record if w.category is CopyWarning]


def test_a_transformers_output_in_a_pipeline_is_that_steps_copy(folder):
    X, y, _ = _data(20_000, 10)
    search = GridSearchCV(
        make_pipeline(StandardScaler(), MemmapEstimator(LogisticRegression())),
        {"memmapestimator__estimator__C": [1.0, 2.0]},
        cv=ContiguousKFold(2),
    )
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        search.fit(skmemmap.memmap(X), y)
    texts = _warned(record)
    outputs = [t for t in texts if t.startswith("StandardScaler wrote its output")]
    assert len(outputs) == 1, texts  # 2 candidates x 2 folds, one cause
    assert "for LogisticRegression into new memory" in outputs[0]
    assert "(4 copies, 3.1 MB in total)" in outputs[0]
    assert not any("Map it once" in t or "in-memory X" in t for t in texts), texts


def test_halving_search_names_its_subsampling_not_the_users_rows(folder):
    from sklearn.experimental import enable_halving_search_cv  # noqa: F401
    from sklearn.model_selection import HalvingGridSearchCV

    X, y, _ = _data(8000, 10)
    search = HalvingGridSearchCV(
        MemmapEstimator(LogisticRegression()),
        {"estimator__C": [0.1, 1.0, 10.0]},
        cv=ContiguousKFold(2),
        random_state=0,
    )
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        search.fit(skmemmap.memmap(X), y)
    texts = _warned(record)
    assert len(texts) == 1, texts
    assert texts[0].startswith(
        "HalvingGridSearchCV copies the rows it subsamples for each candidate ("
    )
    assert "resource='n_samples'" in texts[0] and "another resource" in texts[0]
    assert not any("Select one contiguous" in t or "in-memory X" in t for t in texts)


def test_wrapping_the_search_reports_the_workers_copies_as_wrapping_the_estimator(
    folder,
):
    X, y, _ = _data(20_000, 10)
    pipe = make_pipeline(StandardScaler(), LogisticRegression())
    grid = {"logisticregression__C": [1.0, 2.0]}

    def own(call):
        with warnings.catch_warnings(record=True) as record:
            warnings.simplefilter("always")
            call()
        return [t.splitlines()[0] for t in _warned(record) if "own copies" in t]

    automatic = own(
        lambda: MemmapEstimator(
            GridSearchCV(pipe, grid, cv=ContiguousKFold(2), n_jobs=2)
        ).fit(X, y)
    )
    grid = {f"estimator__{k}": v for k, v in grid.items()}
    wrapped = own(
        lambda: GridSearchCV(
            MemmapEstimator(pipe), grid, cv=ContiguousKFold(2), n_jobs=2
        ).fit(skmemmap.memmap(X), y)
    )
    # 2 candidates x 2 folds in the workers, and the refit on all of X
    assert automatic == wrapped, (automatic, wrapped)
    assert "(5 copies, " in automatic[0]


def test_a_wrapped_forests_gathered_folds_are_written_in_its_layout(folder):
    X, y, _ = _data(6000, 10)
    X_mm = skmemmap.memmap(X)
    forest = RandomForestClassifier(n_estimators=2, max_depth=2, random_state=0)
    with skmemmap.config_context(gather_nbytes=0), warnings.catch_warnings():
        warnings.simplefilter("ignore", CopyWarning)
        GridSearchCV(MemmapEstimator(forest), {}, cv=ContiguousKFold(4)).fit(X_mm, y)
    gathers = _files(folder, "*.gather-*.npy")
    assert len(gathers) == 2  # folds 1 and 2
    for path in gathers:  # float32 Fortran, 3/4 of the rows: no conversion after
        g = np.load(path, mmap_mode="r")
        assert (g.dtype, g.shape, np.isfortran(g)) == (np.float32, (4500, 10), True)
    assert [p.name for p in _files(folder, "*.as-*.npy")] == [
        p.name for p in _files(folder, "*.as-float32-F-*.npy")
    ]  # the sibling of X only (for the folds that are views), none of a gather
    assert len(_files(folder, "*.as-*.npy")) == 1


def test_layout_warnings_suggest_only_what_runs():
    from sklearn.base import BaseEstimator
    from sklearn.compose import ColumnTransformer

    class NeedsArgs(BaseEstimator):
        def __init__(self, a):
            self.a = a

        def fit(self, X, y=None):
            return self

    with warnings.catch_warnings():
        warnings.simplefilter("error", skmemmap.LayoutWarning)
        ct = ColumnTransformer([("s", StandardScaler(), [0])])
        assert skmemmap.layout_for(make_pipeline(ct, LogisticRegression())).keeps_input
    with pytest.warns(
        skmemmap.LayoutWarning, match=r"audit\(your NeedsArgs\(\.\.\.\)\)"
    ):
        skmemmap.layout_for(NeedsArgs(1))
    with pytest.raises(TypeError, match="estimator must be a scikit-learn estimator"):
        MemmapEstimator(None).fit(np.ones((4, 2)))
