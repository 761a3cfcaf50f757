"""scikit-learn's own estimator checks, for MemmapEstimator around common estimators.

Each estimator is checked twice: with the default ``max_nbytes`` (the checks'
small arrays stay in memory) and with ``max_nbytes=0``, where every numeric X
is written to a file and handed over as a MemmapArray in the target layout.
No check is expected to fail.
"""

import warnings

import pytest
from sklearn.decomposition import PCA
from sklearn.ensemble import ExtraTreesRegressor, RandomForestClassifier
from sklearn.linear_model import Lasso, LogisticRegression, Ridge, SGDClassifier
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import parametrize_with_checks

from skmemmap import CopyWarning, MemmapEstimator

WRAPPED = [
    RandomForestClassifier(n_estimators=5, random_state=0),
    ExtraTreesRegressor(n_estimators=5, random_state=0),
    LogisticRegression(),
    Ridge(),
    # check_regressors_train sets alpha=0.01 on estimators that have an
    # `alpha` attribute; the wrapper has none, so set it here.
    Lasso(alpha=0.01),
    SGDClassifier(random_state=0),
    KNeighborsClassifier(),
    StandardScaler(),
    PCA(),
    make_pipeline(StandardScaler(), LogisticRegression()),
]


@parametrize_with_checks(
    [MemmapEstimator(est) for est in WRAPPED]
    + [MemmapEstimator(est, max_nbytes=0) for est in WRAPPED]
)
def test_sklearn_compatible(estimator, check):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CopyWarning)
        check(estimator)


@pytest.mark.parametrize("est", WRAPPED, ids=lambda e: type(e).__name__)
def test_repr_and_clone_roundtrip(est):
    from sklearn.base import clone

    wrapped = MemmapEstimator(est, max_nbytes="4M", on_copy="ignore")
    copy = clone(wrapped)
    assert copy.get_params()["max_nbytes"] == "4M"
    assert "MemmapEstimator(" in repr(wrapped)
