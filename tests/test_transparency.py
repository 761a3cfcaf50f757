"""MemmapEstimator is transparent: searches and meta-estimator features behave
as they do for the bare estimator.

Each search test runs the same search twice on the same data and folds: once
with plain scikit-learn (``KFold``) and once through skmemmap
(``MemmapEstimator`` and ``ContiguousKFold``), and compares every numeric
column of ``cv_results_`` except timings.
"""

import warnings

import numpy as np
import pytest
import sklearn
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.decomposition import PCA
from sklearn.ensemble import RandomForestRegressor
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, KFold, cross_validate
from sklearn.pipeline import Pipeline

import skmemmap
from skmemmap import ContiguousKFold, CopyWarning, LayoutWarning, MemmapEstimator

# Copy and layout warnings are skmemmap's own and are tested elsewhere; here
# only scikit-learn's behaviour (scores, warnings) is compared.
pytestmark = [
    pytest.mark.filterwarnings("ignore::skmemmap.CopyWarning"),
    pytest.mark.filterwarnings("ignore::skmemmap.LayoutWarning"),
]

N_SPLITS = 3


def _data(kind, n=240, p=5, seed=0):
    rng = np.random.RandomState(seed)
    X = rng.standard_normal((n, p))
    noise = rng.standard_normal(n)
    if kind == "classifier":
        y = (X[:, 0] + 0.8 * X[:, 1] + 0.7 * noise > 0).astype(int)
    else:
        y = X @ rng.standard_normal(p) + 0.5 * noise
    # Weights far from uniform, so weighted and unweighted scores differ in
    # every fold.
    sample_weight = rng.uniform(0.05, 3.0, n)
    return X, y, sample_weight


def _estimator(kind):
    if kind == "classifier":
        return LogisticRegression(), {"C": [0.05, 1.0]}
    return RandomForestRegressor(n_estimators=4, random_state=0), {"max_depth": [2, 4]}


def _as(X, x_kind):
    return skmemmap.memmap(X) if x_kind == "memmap" else X


def _request(est, weighted, routing):
    if routing and weighted:
        est.set_fit_request(sample_weight=True).set_score_request(sample_weight=True)
    return est


def _run_search(est, grid, X, y, cv, fit_params):
    return (
        GridSearchCV(est, grid, cv=cv, return_train_score=True)
        .fit(X, y, **fit_params)
        .cv_results_
    )


def _run_cross_validate(est, grid, X, y, cv, fit_params):
    return cross_validate(est, X, y, cv=cv, params=fit_params, return_train_score=True)


def _sklearn_warnings(record):
    """The recorded warnings that are not skmemmap's own copy/layout notes."""
    return [
        f"{w.category.__name__}: {w.message}"
        for w in record
        if not issubclass(w.category, (CopyWarning, LayoutWarning))
    ]


def _both(run, kind, weighted, routing, x_kind):
    """(plain scikit-learn results, skmemmap results) for one configuration."""
    X, y, sample_weight = _data(kind)
    fit_params = {"sample_weight": sample_weight} if weighted else {}
    with sklearn.config_context(enable_metadata_routing=routing):
        est, grid = _estimator(kind)
        with warnings.catch_warnings(record=True) as record:
            warnings.simplefilter("always")
            plain = run(
                _request(est, weighted, routing),
                grid,
                X,
                y,
                KFold(N_SPLITS),
                fit_params,
            )
        assert _sklearn_warnings(record) == []

        est, grid = _estimator(kind)
        wrapped = MemmapEstimator(_request(est, weighted, routing))
        grid = {f"estimator__{name}": values for name, values in grid.items()}
        with warnings.catch_warnings(record=True) as record:
            warnings.simplefilter("always")
            ours = run(
                wrapped, grid, _as(X, x_kind), y, ContiguousKFold(N_SPLITS), fit_params
            )
        assert _sklearn_warnings(record) == []
    return plain, ours


def _assert_same_results(plain, ours):
    ours = {key.replace("estimator__", ""): value for key, value in ours.items()}
    compared = sorted(key for key in plain if "time" not in key)
    assert compared == sorted(key for key in ours if "time" not in key)
    for key in compared:
        if key == "params":
            assert [
                {name.replace("estimator__", ""): v for name, v in params.items()}
                for params in ours[key]
            ] == plain[key]
        elif key.startswith("param_"):
            assert_array_equal(np.asarray(ours[key]), np.asarray(plain[key]))
        elif key.startswith("rank_"):
            assert_array_equal(ours[key], plain[key])
        else:
            assert_allclose(ours[key], plain[key], rtol=1e-12, atol=0, err_msg=key)


CASES = pytest.mark.parametrize(
    "kind, weighted, routing, x_kind",
    [
        (kind, weighted, routing, x_kind)
        for kind in ("classifier", "regressor")
        for weighted in (False, True)
        for routing in (False, True)
        for x_kind in ("memmap", "ndarray")
    ],
)


@CASES
def test_grid_search_cv_results_match_plain_sklearn(
    folder, kind, weighted, routing, x_kind
):
    plain, ours = _both(_run_search, kind, weighted, routing, x_kind)
    _assert_same_results(plain, ours)


@CASES
def test_cross_validate_matches_plain_sklearn(folder, kind, weighted, routing, x_kind):
    plain, ours = _both(_run_cross_validate, kind, weighted, routing, x_kind)
    _assert_same_results(plain, ours)


@pytest.mark.parametrize("kind", ["classifier", "regressor"])
def test_weighted_search_scores_are_weighted(folder, kind):
    # The weights change the scores: the equality above cannot hold by
    # accident of sample_weight being ignored on both sides.
    X, y, sample_weight = _data(kind)
    est, grid = _estimator(kind)
    grid = {f"estimator__{name}": values for name, values in grid.items()}
    wrapped = MemmapEstimator(est)
    X_mm = skmemmap.memmap(X)
    weighted = _run_search(
        wrapped,
        grid,
        X_mm,
        y,
        ContiguousKFold(N_SPLITS),
        {"sample_weight": sample_weight},
    )
    unweighted_scoring = _run_search(
        wrapped,
        grid,
        X_mm,
        y,
        ContiguousKFold(N_SPLITS),
        {"sample_weight": np.ones_like(sample_weight)},
    )
    assert np.all(
        weighted["split0_test_score"] != unweighted_scoring["split0_test_score"]
    )


def test_score_forwards_sample_weight():
    X, y, sample_weight = _data("classifier")
    bare = LogisticRegression().fit(X, y)
    wrapped = MemmapEstimator(LogisticRegression()).fit(X, y)
    expected = bare.score(X, y, sample_weight=sample_weight)
    assert expected != bare.score(X, y)
    assert wrapped.score(X, y, sample_weight=sample_weight) == expected
    assert wrapped.score(X, y, sample_weight) == expected  # positional, as sklearn's
    assert wrapped.score(X, y) == bare.score(X, y)


def test_score_without_sample_weight_in_the_wrapped_signature():
    # PCA.score(X, y=None) has no sample_weight: the wrapper must not pass one.
    X, _, _ = _data("regressor")
    bare = PCA(n_components=2).fit(X)
    wrapped = MemmapEstimator(PCA(n_components=2)).fit(X)
    assert wrapped.score(X) == bare.score(X)
    results = GridSearchCV(
        MemmapEstimator(PCA()), {"estimator__n_components": [1, 2]}, cv=KFold(2)
    ).fit(X)
    plain = GridSearchCV(PCA(), {"n_components": [1, 2]}, cv=KFold(2)).fit(X)
    assert_allclose(
        results.cv_results_["mean_test_score"], plain.cv_results_["mean_test_score"]
    )


def test_score_forwards_other_parameters_unrouted():
    class ScoresWithOffset(LogisticRegression):
        def score(self, X, y, sample_weight=None, offset=0.0):
            return super().score(X, y, sample_weight=sample_weight) + offset

    X, y, sample_weight = _data("classifier")
    wrapped = MemmapEstimator(ScoresWithOffset()).fit(X, y)
    bare = ScoresWithOffset().fit(X, y)
    assert wrapped.score(X, y, sample_weight=sample_weight, offset=10.0) == bare.score(
        X, y, sample_weight=sample_weight, offset=10.0
    )


def _outcome(call):
    try:
        return call()
    except (TypeError, ValueError) as exc:
        return type(exc)


@pytest.mark.parametrize("request_value", [True, False, None])
def test_routed_score_sample_weight_as_pipeline(request_value):
    # With routing on, the wrapper routes score's sample_weight exactly as
    # scikit-learn's own router Pipeline does: weighted when requested, an
    # error when declined (not routed anywhere) or left unset.
    X, y, sample_weight = _data("classifier")
    with sklearn.config_context(enable_metadata_routing=True):

        def inner():
            est = LogisticRegression()
            if request_value is not None:
                est.set_score_request(sample_weight=request_value)
            return est

        wrapped = MemmapEstimator(inner()).fit(X, y)
        pipe = Pipeline([("est", inner())]).fit(X, y)
        expected = _outcome(lambda: pipe.score(X, y, sample_weight=sample_weight))
        got = _outcome(lambda: wrapped.score(X, y, sample_weight=sample_weight))
        assert got == expected
        if request_value:
            bare = LogisticRegression().fit(X, y)
            assert got == bare.score(X, y, sample_weight=sample_weight)
        else:
            assert isinstance(got, type) and issubclass(got, Exception)
        # Without weights the score is unweighted whatever the request (where
        # Pipeline, which routes sample_weight=None, raises when declined).
        assert wrapped.score(X, y) == LogisticRegression().fit(X, y).score(X, y)


def test_wrapper_is_a_router_not_a_consumer_of_score_metadata():
    # Requests are set on the wrapped estimator, as for Pipeline's steps; the
    # wrapper has no set_score_request of its own to get wrong.
    assert not hasattr(MemmapEstimator(LogisticRegression()), "set_score_request")
    with sklearn.config_context(enable_metadata_routing=True):
        inner = LogisticRegression().set_score_request(sample_weight=True)
        routing = MemmapEstimator(inner).get_metadata_routing()
        assert routing.consumes("score", ["sample_weight"]) == {"sample_weight"}
