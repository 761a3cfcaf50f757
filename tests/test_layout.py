"""The layout registry: entries, MRO inheritance, meta-estimators, unknowns."""

import warnings

import numpy as np
import pytest
from sklearn.base import BaseEstimator
from sklearn.cluster import KMeans, MiniBatchKMeans
from sklearn.decomposition import PCA
from sklearn.ensemble import (
    BaggingClassifier,
    ExtraTreesClassifier,
    ExtraTreesRegressor,
    GradientBoostingClassifier,
    GradientBoostingRegressor,
    HistGradientBoostingClassifier,
    RandomForestClassifier,
    RandomForestRegressor,
)
from sklearn.experimental import enable_halving_search_cv  # noqa: F401
from sklearn.linear_model import (
    ElasticNet,
    ElasticNetCV,
    Lasso,
    LassoCV,
    LinearRegression,
    LogisticRegression,
    MultiTaskElasticNet,
    MultiTaskLasso,
    MultiTaskLassoCV,
    Ridge,
    RidgeClassifier,
    RidgeCV,
    SGDClassifier,
    SGDRegressor,
)
from sklearn.model_selection import (
    GridSearchCV,
    HalvingGridSearchCV,
    RandomizedSearchCV,
)
from sklearn.neighbors import KNeighborsClassifier, KNeighborsRegressor
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import MinMaxScaler, StandardScaler
from sklearn.svm import SVC, SVR, LinearSVC
from sklearn.tree import DecisionTreeClassifier

import skmemmap
from skmemmap import Layout, LayoutWarning, MemmapEstimator, layout_for
from skmemmap._layout import own_copy_info

F32_F = Layout(np.float32, ("F", "C"))
CD = Layout((np.float64, np.float32), ("F", "C"), writeable=True)
CD_F = Layout((np.float64, np.float32), "F", writeable=True)
C = Layout((np.float64, np.float32), "C")
C_W = Layout((np.float64, np.float32), "C", writeable=True)
C64 = Layout(np.float64, "C")

EXPECTED = [
    (DecisionTreeClassifier, F32_F),
    (RandomForestClassifier, F32_F),
    (RandomForestRegressor, F32_F),
    (ExtraTreesClassifier, F32_F),
    (ExtraTreesRegressor, F32_F),
    (GradientBoostingClassifier, F32_F),
    (GradientBoostingRegressor, F32_F),
    (HistGradientBoostingClassifier, Layout()),
    (Lasso, CD),
    (ElasticNet, CD),
    (MultiTaskLasso, CD),
    (MultiTaskElasticNet, CD),
    (LassoCV, CD),
    (ElasticNetCV, CD),
    (MultiTaskLassoCV, CD),
    (LogisticRegression, C),
    (SGDClassifier, C),
    (SGDRegressor, C),
    (LinearSVC, C64),
    (SVC, C64),
    (SVR, C64),
    (KNeighborsClassifier, C),
    (KNeighborsRegressor, C),
    (KMeans, C_W),
    (MiniBatchKMeans, C_W),
    (Ridge, C_W),
    (RidgeCV, Layout(np.float64, "C", writeable=True)),  # leave-one-out: float64
    (RidgeClassifier, C_W),
    (LinearRegression, C_W),
    (PCA, C_W),
    (StandardScaler, C_W),
    (MinMaxScaler, C_W),
]


@pytest.mark.parametrize(
    "cls, expected", EXPECTED, ids=[c.__name__ for c, _ in EXPECTED]
)
def test_registry_entries(cls, expected):
    assert layout_for(cls()) == expected
    assert layout_for(cls) == expected


def test_subclass_inherits_through_mro():
    class MyForest(RandomForestClassifier):
        pass

    assert layout_for(MyForest()) == F32_F


@pytest.mark.parametrize(
    "meta",
    [
        make_pipeline(StandardScaler(), RandomForestClassifier()),
        make_pipeline("passthrough", StandardScaler(), RandomForestClassifier()),
        GridSearchCV(StandardScaler(), {}),
        RandomizedSearchCV(StandardScaler(), {}),
        HalvingGridSearchCV(make_pipeline(StandardScaler(), LogisticRegression()), {}),
        MemmapEstimator(StandardScaler()),
        MemmapEstimator(GridSearchCV(make_pipeline(StandardScaler(), Lasso()), {})),
    ],
    ids=["pipeline", "passthrough", "grid", "random", "halving", "memmap", "nested"],
)
def test_meta_estimators_use_the_estimator_reading_x(meta):
    assert layout_for(meta) == C_W


def test_meta_estimator_with_estimator_param():
    assert layout_for(BaggingClassifier(estimator=RandomForestClassifier())) == F32_F


def test_explicit_layout_of_nested_memmap_estimator_wins():
    inner = MemmapEstimator(RandomForestClassifier(), layout=C64)
    assert layout_for(make_pipeline(inner)) == C64


def test_unknown_estimator_keeps_layout_and_says_so_once():
    class Mystery(BaseEstimator):
        def fit(self, X, y=None):
            return self

    with pytest.warns(LayoutWarning, match="does not know which layout Mystery"):
        assert layout_for(Mystery()) == Layout()
    with warnings.catch_warnings():
        warnings.simplefilter("error", LayoutWarning)
        assert layout_for(Mystery()).keeps_input


def test_register_layout_for_third_party_class():
    class ThirdParty(BaseEstimator):
        pass

    class Child(ThirdParty):
        pass

    skmemmap.register_layout(ThirdParty, C64)
    try:
        assert layout_for(Child()) == C64
        assert layout_for(make_pipeline(ThirdParty())) == C64
    finally:
        skmemmap.register_layout(ThirdParty, None)
    with pytest.raises(TypeError, match=r"must be a class"):
        skmemmap.register_layout(ThirdParty(), C64)
    with pytest.raises(TypeError, match=r"skmemmap\.Layout"):
        skmemmap.register_layout(ThirdParty, ("float32", "F"))


def test_layout_validation_and_resolution():
    with pytest.raises(ValueError, match="numeric dtype"):
        Layout(object)
    with pytest.raises(ValueError, match="order must be"):
        Layout(np.float32, "K")
    X64 = np.ones((3, 2))
    X32F = np.ones((3, 2), dtype=np.float32, order="F")
    assert C.resolve(X64) == (np.float64, "C")
    assert C.resolve(X32F) == (np.float32, "C")  # float32 accepted as is
    assert C64.resolve(X32F) == (np.float64, "C")
    assert Layout().resolve(X32F) == (np.float32, "F")
    assert C.describe() == "float64 or float32 C"
    trees = Layout(np.float32, ("F", "C"))
    assert trees.describe() == "float32 Fortran or C"
    assert trees.resolve(np.ones((3, 2), dtype=np.float32)) == (np.float32, "C")
    assert trees.resolve(X32F) == (np.float32, "F")
    assert trees.resolve(X64) == (np.float32, "F")  # converted: preferred order
    with pytest.raises(ValueError, match="order must be"):
        Layout(np.float32, ("F", "K"))


def test_own_copies_known_for_copying_estimators():
    assert skmemmap.own_copies(Ridge())[0] == 1.0
    assert skmemmap.own_copies(make_pipeline(PCA(), Ridge()))[0] == 0.0
    assert skmemmap.own_copies(RandomForestClassifier()) == (0.0, "")


def test_coordinate_descent_reads_c_unless_it_works_in_place():
    """Lasso centers X whatever its order (1x X measured on C and Fortran): a
    C map stays C. Without the intercept, C order costs a conversion to
    Fortran on top of copy_X's copy (2x X measured), and copy_X=False reads a
    Fortran X in place."""
    assert layout_for(Lasso()) == CD
    assert layout_for(Lasso(copy_X=False)) == CD
    assert layout_for(Lasso(fit_intercept=False)) == CD_F
    assert layout_for(ElasticNet(fit_intercept=False, copy_X=False)) == CD_F
    assert CD.resolve(np.ones((3, 2))) == (np.float64, "C")


@pytest.mark.parametrize(
    "estimator, shape, dtype, factor, remedy",
    [
        (Ridge(), (10**5, 100), "float64", 1.0, None),
        (Ridge(copy_X=False), (10**5, 100), "float64", 1.0, None),
        (Ridge(solver="svd"), (10**5, 100), "float64", 4.0, ("solver", "cholesky")),
        (Ridge(fit_intercept=False), (10**5, 100), "float64", 1.0, ("copy_X", False)),
        (Ridge(fit_intercept=False, copy_X=False), (10**5, 100), "float64", 0.0, None),
        # 'auto' picks covariance_eigh for tall and narrow X: no copy
        (PCA(10), (10**5, 100), "float64", 0.0, None),
        (PCA(10), (2000, 1000), "float64", 1.06, None),  # "auto" is randomized
        (
            PCA(10, svd_solver="full"),
            (10**5, 100),
            "float64",
            3.0,
            ("svd_solver", "covariance_eigh"),
        ),
        (PCA(10, svd_solver="full"), (2000, 1000), "float64", 5.5, ("copy", False)),
        (Lasso(), (10**5, 100), "float64", 1.0, None),
        (KMeans(), (10**5, 100), "float64", 2.0, ("copy_x", False)),
        (HistGradientBoostingClassifier(), (10**5, 100), "float64", 1.125, None),
        (HistGradientBoostingClassifier(), (5000, 100), "float64", 0.125, None),
        (HistGradientBoostingClassifier(), (10**5, 100), "float32", 4.25, None),
        (LogisticRegression(), (10**5, 100), "float64", 0.0, None),
        (LogisticRegression(solver="liblinear"), (10**5, 100), "float32", 4.0, None),
    ],
    ids=lambda v: repr(v) if not isinstance(v, (tuple, str, float)) else None,
)
def test_own_copies_follow_parameters_shape_and_dtype(
    estimator, shape, dtype, factor, remedy
):
    info = own_copy_info(estimator, *shape, dtype)
    assert info.factor == pytest.approx(factor, abs=0.01)
    assert (info.remedy and info.remedy[:2]) == remedy
    assert skmemmap.own_copies(estimator, np.empty((2, 2)))[0] >= 0
    if remedy is not None:  # a remedy is named only when it lowers the amount
        assert info.remedy[2] <= factor - 0.25
