"""Strict mode: ``on_copy="raise"`` refuses every copy that can be avoided.

Each CopyError names its remedy; following it makes the error go away.
Copies that no input and no parameter avoids (the estimator's own) are
reported, not raised, so strict mode runs with Lasso, KMeans and Ridge.
"""

import warnings

import pytest
from sklearn.cluster import KMeans
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import Lasso, LogisticRegression, Ridge
from sklearn.model_selection import (
    GridSearchCV,
    KFold,
    cross_val_score,
    cross_validate,
)

import skmemmap
from skmemmap import ContiguousKFold, CopyError, MemmapEstimator


@pytest.fixture
def data(rng):
    X = rng.standard_normal((3000, 10))
    return X, (X[:, 0] > 0).astype(int)


def strict(estimator):
    return MemmapEstimator(estimator, on_copy="raise")


@pytest.mark.parametrize("mapped", [False, True], ids=["in-memory", "memmap"])
def test_a_layout_conversion_raises_and_its_remedy_works(folder, data, mapped):
    X, y = data
    forest = RandomForestClassifier(n_estimators=2, random_state=0)
    with pytest.raises(CopyError, match="float64 C to float32 Fortran") as exc:
        strict(forest).fit(skmemmap.memmap(X) if mapped else X, y)
    remedy = "skmemmap.memmap(X, dtype='float32', order='F')"
    assert remedy in str(exc.value).splitlines()[0]
    assert not list(folder.glob("*/*.as-*"))  # raised before converting
    strict(forest).fit(skmemmap.memmap(X, dtype="float32", order="F"), y)


def test_in_memory_x_in_a_search_raises_and_its_remedy_works(folder, data):
    X, y = data
    # no error_score="raise": the CopyError ends the search, not a NaN score
    search = GridSearchCV(
        strict(LogisticRegression()), {"estimator__C": [1.0]}, cv=ContiguousKFold(2)
    )
    with (
        warnings.catch_warnings(),
        pytest.raises(CopyError, match=r"Map it once: skmemmap.memmap\(X\)"),
    ):
        warnings.simplefilter("ignore", skmemmap.CopyWarning)  # the splitter's
        search.fit(X, y)
    search.fit(skmemmap.memmap(X), y)


def test_a_gathered_fold_raises_and_its_remedy_works(folder, data):
    X, y = data
    X_mm = skmemmap.memmap(X)
    with skmemmap.config_context(gather_nbytes=0, warn_nbytes="1G"):
        with pytest.raises(CopyError, match=r"ContiguousKFold\(2\)"):
            cross_val_score(strict(LogisticRegression()), X_mm, y, cv=KFold(3))
        cross_val_score(strict(LogisticRegression()), X_mm, y, cv=ContiguousKFold(2))


def _search(cv, n_jobs=1):
    forest = RandomForestClassifier(n_estimators=2, max_depth=2, random_state=0)
    return GridSearchCV(
        strict(forest), {"estimator__max_depth": [2, 3]}, cv=cv, n_jobs=n_jobs
    )


@pytest.mark.parametrize(
    "call",
    [
        lambda X, y: _search(ContiguousKFold(3), n_jobs=2).fit(X, y),
        lambda X, y: cross_validate(
            strict(RandomForestClassifier(n_estimators=2, max_depth=2)),
            X,
            y,
            cv=KFold(3, shuffle=True, random_state=0),
        ),
        lambda X, y: MemmapEstimator(
            GridSearchCV(RandomForestClassifier(n_estimators=2), {}, cv=KFold(3)),
            on_copy="raise",
        ).fit(X, y),
    ],
    ids=["search", "cross_validate", "wrapped-search"],
)
def test_copied_folds_end_the_call_with_copy_error_before_any_file(folder, data, call):
    """scikit-learn takes a fold outside the try that turns a fit's error into
    a NaN score, and a gather writes its file then: strict mode refuses when
    the search clones the estimator, before any fold is taken."""
    X, y = data
    X_mm = skmemmap.memmap(X, dtype="float32", order="F")  # the forest's layout
    before = sorted(p.name for p in folder.rglob("*"))
    with (
        skmemmap.config_context(gather_nbytes=0),
        pytest.raises(CopyError, match=r"not one block of rows of X") as exc,
    ):
        call(X_mm, y)
    assert "Use contiguous folds: skmemmap.ContiguousKFold(2)" in str(exc.value)
    assert sorted(p.name for p in folder.rglob("*")) == before  # nothing written
    assert _search(ContiguousKFold(2)).fit(X_mm, y).best_score_ > 0.5


@pytest.mark.parametrize(
    "estimator, remedy, fixed, left",
    [
        (
            Ridge(fit_intercept=False),
            r"Pass Ridge\(copy_X=False\)",
            Ridge(fit_intercept=False, copy_X=False),
            {},
        ),
        (
            Ridge(solver="svd"),
            r"Pass Ridge\(solver='cholesky'\)",
            Ridge(solver="cholesky"),
            {"Ridge/own": 1},
        ),
        (
            KMeans(n_clusters=2, n_init=1, random_state=0),
            r"Pass KMeans\(copy_x=False\)",
            KMeans(n_clusters=2, n_init=1, random_state=0, copy_x=False),
            {"KMeans/own": 1},
        ),
    ],
    ids=["Ridge-copy_X", "Ridge-solver", "KMeans-copy_x"],
)
def test_a_parameter_that_lowers_own_copies_raises_and_works(
    folder, data, estimator, remedy, fixed, left
):
    X, y = data
    X_mm = skmemmap.memmap(X)
    with pytest.raises(CopyError, match=remedy):
        strict(estimator).fit(X_mm, y)
    with skmemmap.copy_report(warn=False) as report:
        strict(fixed).fit(X_mm, y)
    assert report.counts == left
    for key in left:  # what is left no parameter lowers: reported, not raised
        assert report.causes[key]["event"]["avoidable"] is False


@pytest.mark.parametrize(
    "estimator, order",
    [
        (Lasso(alpha=0.1), "C"),
        (Ridge(), "C"),
        (KMeans(n_clusters=2, n_init=1, random_state=0, copy_x=False), "C"),
    ],
    ids=["Lasso", "Ridge", "KMeans"],
)
def test_estimators_own_copies_are_reported_not_raised(folder, data, estimator, order):
    X, y = data
    X_mm = skmemmap.memmap(X, order=order)
    with skmemmap.copy_report(warn=False) as report:
        strict(estimator).fit(X_mm, y)
    name = type(estimator).__name__
    assert report.counts == {f"{name}/own": 1}
    assert report.causes[f"{name}/own"]["nbytes"] > 0
    assert not list(folder.glob("*/*.as-*"))  # a C map stays C: no conversion


def test_copy_error_text_names_the_remedy_not_a_warning_filter(folder, data):
    X, y = data
    with pytest.raises(CopyError) as exc:
        strict(Ridge(solver="svd")).fit(skmemmap.memmap(X), y)
    assert "filterwarnings" not in str(exc.value)
    assert len(str(exc.value).splitlines()[0]) <= 200


def test_a_halving_search_that_subsamples_rows_raises_before_any_file(folder, data):
    from sklearn.experimental import enable_halving_search_cv  # noqa: F401
    from sklearn.model_selection import HalvingGridSearchCV

    X, y = data
    X_mm = skmemmap.memmap(X)
    before = sorted(p.name for p in folder.rglob("*"))
    search = HalvingGridSearchCV(
        strict(LogisticRegression()),
        {"estimator__C": [0.1, 1.0, 10.0]},
        cv=ContiguousKFold(2),
        random_state=0,
    )
    with pytest.raises(CopyError, match=r"^HalvingGridSearchCV copies the rows it"):
        search.fit(X_mm, y)
    assert sorted(p.name for p in folder.rglob("*")) == before
