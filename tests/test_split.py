"""ContiguousKFold: KFold's indices, the warnings, and views (or gathers) in workers."""

import os
import re
import sys
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.model_selection import (
    GridSearchCV,
    KFold,
    RandomizedSearchCV,
    check_cv,
    cross_val_predict,
    cross_val_score,
    cross_validate,
    learning_curve,
    validation_curve,
)

import skmemmap
from skmemmap import ContiguousKFold, CopyWarning
from skmemmap._utils import format_mb

sys.path.insert(0, os.path.dirname(__file__))
from _spy_split import SpySplitRidge, read_log


def _data(n_samples=120, n_features=5, seed=0):
    rng = np.random.RandomState(seed)
    X = rng.normal(size=(n_samples, n_features))
    y = X @ rng.normal(size=n_features) + 0.1 * rng.normal(size=n_samples)
    return X, y


def _splits(cv, X):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CopyWarning)
        return [(train.copy(), test.copy()) for train, test in cv.split(X)]


# -- indices ---------------------------------------------------------------------
@pytest.mark.parametrize(
    ("n_samples", "n_splits"),
    [(2, 2), (3, 2), (4, 2), (5, 3), (10, 3), (10, 10), (11, 4), (100, 7), (101, 5)],
)
def test_indices_equal_kfold(n_samples, n_splits):
    X = np.zeros((n_samples, 2))
    ours = _splits(ContiguousKFold(n_splits), X)
    theirs = list(KFold(n_splits).split(X))
    assert len(ours) == len(theirs) == n_splits
    for (train, test), (k_train, k_test) in zip(ours, theirs, strict=True):
        assert isinstance(train, np.ndarray) and isinstance(test, np.ndarray)
        np.testing.assert_array_equal(train, k_train)
        np.testing.assert_array_equal(test, k_test)


@settings(max_examples=60, deadline=None)
@given(st.integers(2, 300).flatmap(lambda n: st.tuples(st.just(n), st.integers(2, n))))
def test_indices_equal_kfold_hypothesis(case):
    n_samples, n_splits = case
    X = np.zeros((n_samples, 1), dtype=np.float32)
    ours = _splits(ContiguousKFold(n_splits), X)
    theirs = list(KFold(n_splits).split(X))
    for (train, test), (k_train, k_test) in zip(ours, theirs, strict=True):
        np.testing.assert_array_equal(train, k_train)
        np.testing.assert_array_equal(test, k_test)
        # Test folds are one block; training sets are one block only at the ends.
        assert np.all(np.diff(test) == 1)


def test_defaults_repr_and_n_splits():
    cv = ContiguousKFold()
    assert cv.n_splits == 2 and cv.get_n_splits() == 2
    assert repr(cv) == "ContiguousKFold(n_splits=2)"
    assert ContiguousKFold(np.int64(4)).get_n_splits(np.zeros((8, 1))) == 4
    assert type(ContiguousKFold(np.int64(4)).n_splits) is int


@pytest.mark.parametrize("n_splits", [1, 0, -3, np.int32(1)])
def test_too_few_splits(n_splits):
    with pytest.raises(ValueError, match=r"at least one train/test split.*n_splits=2"):
        ContiguousKFold(n_splits)


@pytest.mark.parametrize("n_splits", [2.0, "2", None, True, False, 2.5])
def test_non_integer_splits(n_splits):
    with pytest.raises(ValueError, match=r"must be of Integral type.*was passed"):
        ContiguousKFold(n_splits)


def test_more_splits_than_samples():
    cv = ContiguousKFold(5)
    with pytest.raises(ValueError, match=r"n_splits=5 greater than the number of "):
        cv.split(np.zeros((4, 2)))  # raised at the call, before iterating


def test_groups_ignored_warns():
    X = skmemmap.memmap(np.zeros((4, 2)))
    with pytest.warns(UserWarning, match="groups parameter is ignored"):
        list(ContiguousKFold().split(X, groups=[0, 0, 1, 1]))


def test_check_cv_accepts_it():
    cv = ContiguousKFold(3)
    assert check_cv(cv) is cv
    assert check_cv(cv, np.array([0, 1] * 3), classifier=True) is cv


# -- scikit-learn's CV tools give KFold's results --------------------------------
_INPUTS = [
    pytest.param("memmap", 2, id="memmap-2folds"),
    pytest.param("ndarray", 3, id="ndarray-3folds"),
]


def _x(kind, X):
    return skmemmap.memmap(X) if kind == "memmap" else X


@pytest.mark.filterwarnings("ignore::skmemmap.CopyWarning")
@pytest.mark.parametrize(("kind", "k"), _INPUTS)
def test_searches_match_kfold(folder, kind, k):
    X, y = _data()
    Xk = _x(kind, X)
    grid = {"alpha": [0.1, 1.0, 10.0]}
    ours = GridSearchCV(Ridge(), grid, cv=ContiguousKFold(k)).fit(Xk, y)
    ref = GridSearchCV(Ridge(), grid, cv=KFold(k)).fit(X, y)
    for key in [f"split{i}_test_score" for i in range(k)] + ["mean_test_score"]:
        np.testing.assert_allclose(ours.cv_results_[key], ref.cv_results_[key])
    assert ours.best_params_ == ref.best_params_

    rs = dict(n_iter=3, random_state=0)
    ours = RandomizedSearchCV(Ridge(), grid, cv=ContiguousKFold(k), **rs).fit(Xk, y)
    ref = RandomizedSearchCV(Ridge(), grid, cv=KFold(k), **rs).fit(X, y)
    np.testing.assert_allclose(
        ours.cv_results_["mean_test_score"], ref.cv_results_["mean_test_score"]
    )


@pytest.mark.filterwarnings("ignore::skmemmap.CopyWarning")
@pytest.mark.parametrize(("kind", "k"), _INPUTS)
def test_cv_functions_match_kfold(folder, kind, k):
    X, y = _data()
    Xk = _x(kind, X)
    yc = (y > np.median(y)).astype(int)
    ours, ref = ContiguousKFold(k), KFold(k)

    got = cross_validate(Ridge(), Xk, y, cv=ours, return_train_score=True)
    want = cross_validate(Ridge(), X, y, cv=ref, return_train_score=True)
    np.testing.assert_allclose(got["test_score"], want["test_score"])
    np.testing.assert_allclose(got["train_score"], want["train_score"])

    np.testing.assert_allclose(
        cross_val_score(LogisticRegression(), Xk, yc, cv=ours),
        cross_val_score(LogisticRegression(), X, yc, cv=ref),
    )
    np.testing.assert_allclose(
        cross_val_predict(Ridge(), Xk, y, cv=ours),
        cross_val_predict(Ridge(), X, y, cv=ref),
    )
    np.testing.assert_array_equal(
        cross_val_predict(LogisticRegression(), Xk, yc, cv=ours, method="predict"),
        cross_val_predict(LogisticRegression(), X, yc, cv=ref, method="predict"),
    )

    sizes = [0.5, 1.0]
    got = learning_curve(Ridge(), Xk, y, cv=ours, train_sizes=sizes)
    want = learning_curve(Ridge(), X, y, cv=ref, train_sizes=sizes)
    for a, b in zip(got, want, strict=True):
        np.testing.assert_allclose(a, b)

    params = dict(param_name="alpha", param_range=[0.1, 10.0])
    got = validation_curve(Ridge(), Xk, y, cv=ours, **params)
    want = validation_curve(Ridge(), X, y, cv=ref, **params)
    for a, b in zip(got, want, strict=True):
        np.testing.assert_allclose(a, b)


# -- warnings --------------------------------------------------------------------
def test_middle_folds_notice_and_its_gathers_are_one_warning(folder):
    X, y = _data(3000, 20)  # training sets of 2400 rows x 20 float64: 0.37 MB
    with skmemmap.config_context(gather_nbytes=0, warn_nbytes=0):
        X_mm = skmemmap.memmap(X)
        with pytest.warns(CopyWarning) as record:
            GridSearchCV(Ridge(), {"alpha": [0.1, 1.0]}, cv=ContiguousKFold(5)).fit(
                X_mm, y
            )
    (message,) = [str(w.message) for w in record]
    each = 2400 * 20 * 8
    assert message.startswith(
        f"ContiguousKFold(5) copies the training sets of folds 1 to 3 "
        f"(3 files on disk, {format_mb(3 * each)} in total). Use ContiguousKFold(2) "
        f"(skmemmap.shuffle first if rows are ordered)."
    )
    assert record[0].filename == __file__
    # The files exist now: the same search copies nothing, and says nothing.
    with (
        skmemmap.config_context(gather_nbytes=0, warn_nbytes=0),
        warnings.catch_warnings(),
    ):
        warnings.simplefilter("error", CopyWarning)
        GridSearchCV(Ridge(), {"alpha": [10.0]}, cv=ContiguousKFold(5)).fit(X_mm, y)


def test_middle_folds_notice_names_the_folds(folder):
    # 11 rows in 3 folds (4, 4, 3 rows): only fold 1's training set is two blocks.
    X = skmemmap.memmap(np.zeros((11, 4), dtype=np.float32))
    with (
        skmemmap.config_context(warn_nbytes=0),
        pytest.warns(CopyWarning, match=r"training sets of fold 1 \(0.0001 MB\)"),
    ):
        cross_val_predict(Ridge(), X, np.arange(11.0), cv=ContiguousKFold(3))


def test_warns_when_not_a_memmaparray():
    X = np.zeros((1000, 100))
    with pytest.warns(
        CopyWarning,
        match=r"^scikit-learn copies in-memory X for each of the 2 folds "
        r"\(1\.5 MB\)\. Map it once: skmemmap\.memmap\(X\)",
    ) as record:
        next(iter(ContiguousKFold(2).split(X)))
    assert len(record) == 1 and record[0].filename == __file__


def test_not_a_memmaparray_with_more_folds_is_one_cause():
    with skmemmap.config_context(warn_nbytes=0), pytest.warns(CopyWarning) as record:
        ContiguousKFold(4).split(np.zeros((8, 3)))
    assert len(record) == 1
    assert "for each of the 4 folds" in str(record[0].message)


def test_warns_for_dataframes_and_lists():
    pd = pytest.importorskip("pandas")
    df = pd.DataFrame({"a": np.zeros(2**17), "b": np.zeros(2**17, dtype=np.float32)})
    with pytest.warns(CopyWarning, match=r"\(3 MB\)[\s\S]*in memory \(DataFrame\)"):
        ContiguousKFold().split(df)
    with (
        skmemmap.config_context(warn_nbytes=0),
        pytest.warns(CopyWarning, match=r"in memory \(list\)"),
    ):
        ContiguousKFold().split([[1.0, 2.0]] * 4)


def test_no_warning_where_there_is_no_remedy():
    sparse = pytest.importorskip("scipy.sparse")
    with warnings.catch_warnings():
        warnings.simplefilter("error", CopyWarning)
        list(ContiguousKFold(2).split(sparse.random(10, 3, format="csr")))
        list(ContiguousKFold(2).split(np.array([["a"], ["b"], ["c"]])))


def test_silent_for_two_folds_of_a_memmaparray(folder):
    X, y = _data()
    X_mm = skmemmap.memmap(X)
    with warnings.catch_warnings():
        warnings.simplefilter("error", CopyWarning)
        list(ContiguousKFold(2).split(X_mm, y))
        GridSearchCV(
            Ridge(), {"alpha": [0.1, 1.0]}, cv=ContiguousKFold(2), n_jobs=2
        ).fit(X_mm, y)
        cross_val_predict(Ridge(), X_mm, y, cv=ContiguousKFold(), n_jobs=2)


def test_warning_points_at_user_code():
    X, y = _data()
    with skmemmap.config_context(warn_nbytes=0):
        with pytest.warns(CopyWarning) as record:
            ContiguousKFold(3).split(X)
        with pytest.warns(CopyWarning) as record_search:
            GridSearchCV(Ridge(), {"alpha": [1.0]}, cv=ContiguousKFold(3)).fit(X, y)
    for w in [*record, *record_search]:
        assert w.filename == __file__, w.filename


def test_warnings_are_raised_in_the_calling_process_with_workers():
    X, y = _data()
    with skmemmap.config_context(warn_nbytes=0), pytest.warns(CopyWarning) as record:
        GridSearchCV(
            Ridge(), {"alpha": [0.1, 1.0]}, cv=ContiguousKFold(3), n_jobs=2
        ).fit(X, y)
    messages = [str(w.message) for w in record]
    assert len(messages) == 1, messages  # in-memory X: every fold, one cause
    assert messages[0].startswith("scikit-learn copies in-memory X for each of the 3")


# -- worker processes: views with 2 folds, one gather per middle fold with 5 ------
def test_two_folds_workers_see_views_of_the_file(folder, tmp_path):
    X, y = _data(400, 6)
    X_mm = skmemmap.memmap(X)
    log = tmp_path / "spy.jsonl"
    grid = {"alpha": [0.1, 1.0, 10.0, 100.0]}
    with warnings.catch_warnings():
        warnings.simplefilter("error", CopyWarning)
        search = GridSearchCV(
            SpySplitRidge(log=str(log)), grid, cv=ContiguousKFold(2), n_jobs=2
        ).fit(X_mm, y)
    records = read_log(log)
    in_workers = [r for r in records if r["pid"] != os.getpid()]
    assert {r["method"] for r in in_workers} == {"fit", "predict"}
    assert len([r for r in in_workers if r["method"] == "fit"]) == 4 * 2
    for r in records:
        assert r["view"], r
        assert r["file"] == X_mm.filename
    assert not list(folder.glob("*/*.gather-*.npy"))
    ref = GridSearchCV(SpySplitRidge(), grid, cv=KFold(2)).fit(X, y)
    np.testing.assert_allclose(
        search.cv_results_["mean_test_score"], ref.cv_results_["mean_test_score"]
    )


def _five_fold_search(folder, tmp_path, n_samples, n_features, gather_nbytes):
    X, y = _data(n_samples, n_features)
    log = tmp_path / "spy.jsonl"
    grid = {"alpha": [0.1, 1.0, 10.0, 100.0]}
    with skmemmap.config_context(gather_nbytes=gather_nbytes, warn_nbytes=0):
        X_mm = skmemmap.memmap(X)
        with pytest.warns(CopyWarning, match=r"training sets of folds 1 to 3 \(3 "):
            search = GridSearchCV(
                SpySplitRidge(log=str(log)), grid, cv=ContiguousKFold(5), n_jobs=2
            ).fit(X_mm, y)
    # Listed while X_mm is alive: its release removes the files derived from it.
    gathers = sorted(p.name for p in folder.glob("*/*.gather-*.npy"))
    records = read_log(log)
    ref = GridSearchCV(SpySplitRidge(), grid, cv=KFold(5)).fit(X, y)
    return X_mm, search, ref, gathers, records


def _check_five_fold_search(X_mm, search, ref, gathers, records):
    assert len(gathers) == 3, gathers
    fits = [r for r in records if r["method"] == "fit" and r["pid"] != os.getpid()]
    assert len(fits) == 4 * 5
    # No anonymous copy anywhere: every X seen in fit and predict is file-backed.
    assert all(r["view"] for r in records), [r for r in records if not r["view"]]
    from_gathers = [r for r in fits if ".gather-" in os.path.basename(r["file"])]
    assert len(from_gathers) == 4 * 3  # every candidate, folds 1 to 3
    assert {os.path.basename(r["file"]) for r in from_gathers} == set(gathers)
    n_train = X_mm.shape[0] * 4 // 5
    assert all(r["rows"] == n_train for r in from_gathers)
    predicts = [r for r in records if r["method"] == "predict"]
    assert all(r["file"] == X_mm.filename for r in predicts)
    for key in [f"split{i}_test_score" for i in range(5)] + ["mean_test_score"]:
        np.testing.assert_allclose(
            search.cv_results_[key], ref.cv_results_[key], rtol=1e-12
        )
    assert search.best_params_ == ref.best_params_


def test_five_folds_gather_each_middle_training_set_once(folder, tmp_path):
    # 2000 x 100 float64 = 1.5 MB; each training set (1.2 MB) is above both
    # the gather_nbytes set here and the default (1 MB).
    _check_five_fold_search(*_five_fold_search(folder, tmp_path, 2000, 100, "500K"))


def test_gather_nbytes_setting_reaches_the_workers(folder, tmp_path):
    # 1500 x 40 float64 = 0.46 MB: each training set (0.37 MB) is below the
    # default gather_nbytes, so it is gathered only if the setting travelled.
    _check_five_fold_search(*_five_fold_search(folder, tmp_path, 1500, 40, 100_000))


def test_gathered_training_sets_hold_the_right_rows(folder):
    X, _ = _data(300, 8)
    with skmemmap.config_context(gather_nbytes=0):
        X_mm = skmemmap.memmap(X)
        for train, _test in _splits(ContiguousKFold(4), X_mm):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", CopyWarning)
                part = X_mm[train]
            assert skmemmap.is_memmap_view(part)
            np.testing.assert_array_equal(np.asarray(part), X[train])
    assert re.search(r"gather", " ".join(p.name for p in folder.glob("*/*")))
