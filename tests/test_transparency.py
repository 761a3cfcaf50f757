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
from sklearn.base import clone
from sklearn.decomposition import PCA
from sklearn.ensemble import RandomForestRegressor
from sklearn.exceptions import NotFittedError, SkipTestWarning
from sklearn.frozen import FrozenEstimator
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, KFold, cross_validate
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC
from sklearn.utils import get_tags
from sklearn.utils.estimator_checks import check_estimator

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


def test_score_forwards_sample_weight(folder):
    X, y, sample_weight = _data("classifier")
    bare = LogisticRegression().fit(X, y)
    wrapped = MemmapEstimator(LogisticRegression()).fit(X, y)
    expected = bare.score(X, y, sample_weight=sample_weight)
    assert expected != bare.score(X, y)
    assert wrapped.score(X, y, sample_weight=sample_weight) == expected
    assert wrapped.score(X, y, sample_weight) == expected  # positional, as sklearn's
    assert wrapped.score(X, y) == bare.score(X, y)


def test_score_without_sample_weight_in_the_wrapped_signature(folder):
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


def test_score_forwards_other_parameters_unrouted(folder):
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
def test_routed_score_sample_weight_as_pipeline(folder, request_value):
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


# -- set_output, get_feature_names_out, tags ---------------------------------


def _frame(n=60):
    pd = pytest.importorskip("pandas")
    rng = np.random.RandomState(0)
    return pd.DataFrame(
        rng.standard_normal((n, 3)) * [1.0, 5.0, 20.0],
        columns=["height", "weight", "age"],
        index=np.arange(1000, 1000 + n),  # not a RangeIndex: it must survive
    )


# max_nbytes=0: the frame reaches the wrapped estimator as a file, without
# its column names or index; "1M": it reaches it as the frame itself.
MAX_NBYTES = pytest.mark.parametrize("max_nbytes", ["1M", 0])


@MAX_NBYTES
def test_set_output_pandas_as_bare_transformer(folder, max_nbytes):
    from pandas.testing import assert_frame_equal

    df = _frame()
    bare = StandardScaler().set_output(transform="pandas")
    wrapped = MemmapEstimator(StandardScaler(), max_nbytes=max_nbytes)
    assert wrapped.set_output(transform="pandas") is wrapped
    assert_frame_equal(wrapped.fit_transform(df), bare.fit_transform(df))
    assert_frame_equal(wrapped.transform(df), bare.transform(df))
    assert_frame_equal(wrapped.transform(df.iloc[7:19]), bare.transform(df.iloc[7:19]))
    # Converted for the wrapped estimator in row blocks of a few rows each:
    # the blocks come back as one frame with X's index.
    with sklearn.config_context(working_memory=1e-4):
        assert_frame_equal(wrapped.transform(df), bare.transform(df))
    # The configuration survives clone, as for any scikit-learn transformer.
    assert_frame_equal(clone(wrapped).fit_transform(df), bare.fit_transform(df))


@MAX_NBYTES
def test_set_output_default_and_global_config(folder, max_nbytes):
    from pandas.testing import assert_frame_equal

    df = _frame()
    wrapped = MemmapEstimator(StandardScaler(), max_nbytes=max_nbytes).fit(df)
    expected = StandardScaler().fit(df)
    out = wrapped.transform(df)
    assert type(out) is np.ndarray
    assert_allclose(out, expected.transform(df))
    with sklearn.config_context(transform_output="pandas"):
        assert_frame_equal(wrapped.transform(df), expected.transform(df))
        # The wrapper's own setting wins over the global one, as for sklearn's.
        wrapped.set_output(transform="default")
        assert type(wrapped.transform(df)) is np.ndarray


@MAX_NBYTES
def test_set_output_inside_pipeline(folder, max_nbytes):
    from pandas.testing import assert_frame_equal

    df = _frame()
    bare = make_pipeline(StandardScaler(), PCA(n_components=2))
    ours = make_pipeline(
        MemmapEstimator(StandardScaler(), max_nbytes=max_nbytes),
        MemmapEstimator(PCA(n_components=2), max_nbytes=max_nbytes),
    )
    bare.set_output(transform="pandas")
    ours.set_output(transform="pandas")
    got = ours.fit_transform(df)
    assert list(got.columns) == ["pca0", "pca1"]
    assert_frame_equal(got, bare.fit_transform(df))
    assert_frame_equal(ours.transform(df), bare.transform(df))
    assert_array_equal(ours.get_feature_names_out(), bare.get_feature_names_out())


def test_set_output_and_feature_names_only_where_the_estimator_has_them():
    for method in ("set_output", "get_feature_names_out", "transform"):
        assert not hasattr(MemmapEstimator(LogisticRegression()), method)
        assert hasattr(MemmapEstimator(StandardScaler()), method)
    with pytest.raises(AttributeError, match="get_feature_names_out"):
        MemmapEstimator(LogisticRegression()).get_feature_names_out()


@MAX_NBYTES
@pytest.mark.parametrize("make", [StandardScaler, lambda: PCA(n_components=2)])
def test_get_feature_names_out_as_bare(folder, max_nbytes, make):
    df = _frame()
    wrapped = MemmapEstimator(make(), max_nbytes=max_nbytes)
    with pytest.raises(NotFittedError):
        wrapped.get_feature_names_out()
    wrapped.fit(df)
    bare = make().fit(df)
    assert_array_equal(wrapped.get_feature_names_out(), bare.get_feature_names_out())
    names = list(df.columns)
    assert_array_equal(
        wrapped.get_feature_names_out(names), bare.get_feature_names_out(names)
    )
    with pytest.raises(ValueError, match="input_features is not equal to"):
        bare.get_feature_names_out(["a", "b", "c"])
    with pytest.raises(ValueError, match="input_features is not equal to"):
        wrapped.get_feature_names_out(["a", "b", "c"])
    # Without names at fit, the wrapped estimator's own defaults.
    X = df.to_numpy()
    wrapped = MemmapEstimator(make(), max_nbytes=max_nbytes).fit(X)
    bare = make().fit(X)
    assert_array_equal(wrapped.get_feature_names_out(), bare.get_feature_names_out())
    assert_array_equal(
        wrapped.get_feature_names_out(names), bare.get_feature_names_out(names)
    )


@pytest.mark.parametrize(
    "inner",
    [SVC(), SVC(kernel="precomputed"), PCA(n_components=2), LogisticRegression()],
    ids=repr,
)
def test_tags_are_the_wrapped_estimators(inner):
    ours, bare = get_tags(MemmapEstimator(inner)), get_tags(inner)
    for field in (
        "estimator_type",
        "input_tags",
        "target_tags",
        "classifier_tags",
        "regressor_tags",
        "transformer_tags",
        "non_deterministic",
        "no_validation",
        "_skip_test",
    ):
        assert getattr(ours, field) == getattr(bare, field), field
    # Copies: changing the wrapper's tags leaves the estimator's alone.
    assert ours.input_tags is not get_tags(inner).input_tags


def test_an_estimator_sklearn_skips_is_skipped_through_the_wrapper():
    frozen = FrozenEstimator(LogisticRegression().fit(*_data("classifier")[:2]))
    assert get_tags(MemmapEstimator(frozen))._skip_test
    with pytest.warns(SkipTestWarning, match="_skip_test"):
        check_estimator(MemmapEstimator(frozen))


def test_fit_declares_sample_weight_as_the_wrapped_estimator_does():
    from sklearn.ensemble import AdaBoostClassifier
    from sklearn.neighbors import KNeighborsClassifier
    from sklearn.tree import DecisionTreeClassifier
    from sklearn.utils.validation import has_fit_parameter

    weighted = MemmapEstimator(DecisionTreeClassifier(max_depth=1))
    assert has_fit_parameter(weighted, "sample_weight")
    assert not has_fit_parameter(
        MemmapEstimator(KNeighborsClassifier()), "sample_weight"
    )
    # AdaBoost needs sample weights: it refused the wrapper before.
    rng = np.random.default_rng(0)
    X = rng.standard_normal((300, 4))
    y = (X[:, 0] + 0.5 * rng.standard_normal(300) > 0).astype(int)
    got = AdaBoostClassifier(weighted, n_estimators=5, random_state=0).fit(X, y)
    want = AdaBoostClassifier(
        DecisionTreeClassifier(max_depth=1), n_estimators=5, random_state=0
    ).fit(X, y)
    np.testing.assert_array_equal(got.predict(X), want.predict(X))
    np.testing.assert_allclose(got.estimator_weights_, want.estimator_weights_)
