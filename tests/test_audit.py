"""skmemmap.audit: the registry is checked by measurement, not by assertion."""

import json

import numpy as np
import pytest
from sklearn.cluster import KMeans, MiniBatchKMeans
from sklearn.decomposition import PCA
from sklearn.ensemble import (
    ExtraTreesClassifier,
    GradientBoostingRegressor,
    HistGradientBoostingClassifier,
    RandomForestClassifier,
)
from sklearn.linear_model import (
    ElasticNet,
    Lasso,
    LinearRegression,
    LogisticRegression,
    Ridge,
    SGDClassifier,
)
from sklearn.naive_bayes import GaussianNB
from sklearn.neighbors import KNeighborsClassifier
from sklearn.preprocessing import MinMaxScaler, StandardScaler
from sklearn.svm import SVC, LinearSVC
from sklearn.tree import DecisionTreeRegressor

from skmemmap import audit, layout_for, own_copies

# One fast instance per registry entry (trees, coordinate descent, C-order
# linear models, libsvm/liblinear, neighbours, clustering, decompositions and
# scalers). Sizes keep a copy of X (2-4 MB) far above measurement noise.
REGISTRY_SAMPLE = [
    RandomForestClassifier(n_estimators=3, max_depth=4, random_state=0),
    ExtraTreesClassifier(n_estimators=3, max_depth=4, random_state=0),
    DecisionTreeRegressor(max_depth=4, random_state=0),
    GradientBoostingRegressor(n_estimators=3, max_depth=2, random_state=0),
    Lasso(alpha=0.1, max_iter=20),
    ElasticNet(alpha=0.1, max_iter=20),
    LogisticRegression(max_iter=10),
    SGDClassifier(max_iter=3, tol=None, random_state=0),
    LinearSVC(max_iter=10),
    SVC(max_iter=20),
    KNeighborsClassifier(),
    KMeans(n_clusters=3, n_init=1, max_iter=3, random_state=0),
    MiniBatchKMeans(n_clusters=3, n_init=1, max_iter=3, random_state=0),
    Ridge(),
    LinearRegression(),
    PCA(n_components=3),
    StandardScaler(),
    MinMaxScaler(),
    GaussianNB(),
]


# Own copies the audit measures (x X, float64 C) that the registry does not
# claim: SVC keeps its support vectors, a copy of the rows that are support
# vectors (here all rows, the labels being random), which depends on the data,
# so no fixed factor is true. The test pins the measurement.
MEASURED_NOT_IN_REGISTRY = {"SVC": 1.0}


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize("estimator", REGISTRY_SAMPLE, ids=lambda e: type(e).__name__)
def test_audit_agrees_with_registry(estimator):
    # KMeans' OpenMP threads keep fixed-size buffers (~1-2 MB) that would blur
    # a 2 MB X: measure the clustering estimators on 9 MB.
    clustering = isinstance(estimator, (KMeans, MiniBatchKMeans))
    result = audit(estimator, n_samples=20_000 if clustering else 4000, n_features=60)
    if not result.measurable:
        # On a loaded machine (a CI runner) the noise floor of a 1.8 MB X can
        # pass 0.25x X (seen: LinearSVC 0.32x, PCA 0.25x). Do what the audit
        # says: its suggested size puts the floor near a tenth of X.
        assert "Audit a larger X" in str(result), str(result)
        result = audit(estimator, n_samples=result.suggested_n_samples, n_features=60)
    assert result.measurable, str(result)  # else nothing would be checked
    assert result.agrees is True, str(result)
    assert result.registry_layout == layout_for(estimator).describe()
    # Own copies: the float64 C row against own_copies(), within 0.35x or 25%.
    assert result.registry_own_copy_x == own_copies(estimator)[0]
    name = type(estimator).__name__
    if name in MEASURED_NOT_IN_REGISTRY:
        (row,) = [r for r in result.rows if r["layout"] == "float64 C"]
        assert row["fit_x"] == pytest.approx(MEASURED_NOT_IN_REGISTRY[name], abs=0.35)
        assert result.own_copies_agree is False, str(result)
    else:
        assert result.own_copies_agree is True, str(result)


def test_small_audit_says_no_measurable_copy():
    """The forest's trees are many times X at 5000 x 20: not a copy of X."""
    # Three readings per call, the smallest kept: on a loaded runner one of two
    # readings of a 0.76 MB X can carry a few hundred kB of other allocations.
    result = audit(
        RandomForestClassifier(n_estimators=20),
        n_samples=5000,
        n_features=20,
        repeats=3,
    )
    text = str(result)
    assert result.model_kept_mb["fit"] > 2 * result.x_nbytes / 2**20, text
    assert result.own_copy_x is None, text
    assert "Own copies no layout avoids: no measurable copy" in text
    assert result.agrees in (True, None) and "DISAGREES" not in text
    # The forest reads float32 in either order without a copy: at least one of
    # them reads as "~0", and neither as a copy of X (a float32 copy is 0.5x
    # of this float64 X). CI saw 0.42x for float32 C once, under load.
    by_layout = {r["layout"]: r for r in result.rows}
    float32 = [by_layout[name] for name in ("float32 C", "float32 Fortran")]
    assert any(r["fit_measurable"] is False for r in float32), text
    assert all(r["fit_measurable"] is False or r["fit_x"] < 0.5 for r in float32), text
    quiet = [r["layout"] for r in float32 if r["fit_measurable"] is False]
    assert all(
        "~0" in next(line for line in text.splitlines() if name in line)
        for name in quiet
    ), text
    as_dict = json.loads(json.dumps(result.to_dict()))
    assert as_dict["own_copy_x"] is None
    assert [r["fit_measurable"] for r in as_dict["rows"]] == [
        r["fit_measurable"] for r in result.rows
    ]


def test_audit_of_tiny_x_says_nothing_is_measurable():
    result = audit(Ridge(), n_samples=100, n_features=10, layouts=[("float64", "C")])
    assert not result.measurable
    assert result.agrees is None and result.own_copies_agree is None
    assert result.suggested_n_samples > 100
    text = str(result)
    assert "X is too small" in text and "nothing to check" in text
    assert f"--n-samples {result.suggested_n_samples}" in text


def test_audit_of_layout_keeping_estimator_has_nothing_to_check():
    result = audit(
        HistGradientBoostingClassifier(max_iter=3), n_samples=3000, n_features=20
    )
    assert result.agrees is None
    assert "nothing to check" in str(result)


def test_audit_sees_copies_in_c_that_tracemalloc_misses():
    """liblinear copies X in C++: only the anonymous-memory reading sees it."""
    result = audit(
        LinearSVC(max_iter=5),
        n_samples=5000,
        n_features=60,
        layouts=[(np.float64, "C")],
    )
    (row,) = result.rows
    if row["fit_anon_x"] is None:
        pytest.skip("no RssAnon on this platform")
    assert row["fit_tracemalloc_x"] < 0.5
    assert row["fit_anon_x"] > 1.5
    assert row["fit_x"] == row["fit_anon_x"]


def test_audit_measures_conversion_copies():
    result = audit(LogisticRegression(max_iter=5), n_samples=10_000, n_features=60)
    by_layout = {r["layout"]: r for r in result.rows}
    assert by_layout["float64 C"]["fit_x"] < 0.25
    assert by_layout["float64 Fortran"]["fit_x"] > 0.9  # converted to C
    assert by_layout["float64 Fortran"]["fit_measurable"] is True
    assert result.no_copy_layouts == ["float64 C", "float32 C"]


def test_audit_result_table_and_dict():
    # 6.4 MB: a loaded CI runner's noise floor (seen up to 0.6 MB) stays well
    # under 0.25x X
    result = audit(Ridge(), n_samples=20_000, n_features=40)
    text = str(result)
    for needle in ("float64 C", "float32 Fortran", "Own copies", "layout_for"):
        assert needle in text
    as_dict = json.loads(json.dumps(result.to_dict()))
    assert as_dict["x_shape"] == [20_000, 40]
    assert len(as_dict["rows"]) == 4
    assert as_dict["measurable"] is True
    # Ridge centers and copies: ~2x of a float64 X, ~1.7x of a float32 one
    (row,) = [r for r in as_dict["rows"] if r["layout"] == "float64 C"]
    assert 1.7 < row["fit_x"] < 2.5
    assert 1.5 < as_dict["own_copy_x"] < 2.5
    assert as_dict["noise_floor_mb"]["fit"] < 0.25 * result.x_nbytes / 2**20


def test_audit_on_user_data_with_progress(capsys):
    X = np.random.RandomState(0).standard_normal((1500, 10))
    y = X[:, 0] > 0
    result = audit(LogisticRegression(), X, y, layouts=[(np.float32, "C")], verbose=1)
    assert [r["layout"] for r in result.rows] == ["float32 C"]
    lines = capsys.readouterr().err.splitlines()
    assert lines[0].startswith("audit: LogisticRegression baseline on X[:, :2]... ")
    assert lines[1].startswith("audit: LogisticRegression float32 C fit and predict")
    assert all(line.endswith(" s") for line in lines) and len(lines) == 2
    audit(LogisticRegression(), X, y, layouts=[(np.float32, "C")])
    assert capsys.readouterr().err == ""  # verbose=0 is silent
    with pytest.raises(ValueError, match="2-D"):
        audit(LogisticRegression(), X[:, 0])


def test_audit_reraises_the_estimators_error():
    with pytest.raises(ValueError, match="'alpha' parameter of Ridge"):
        audit(Ridge(alpha=-1), n_samples=200, n_features=5)
