"""Do the own-copy warnings tell the truth? Every registry entry, measured.

For each estimator of the layout registry (``skmemmap._layout``), with the
parameter variants whose amounts differ (Ridge's solver and copy_X, PCA's
solver and the one "auto" picks from X's shape, HistGradientBoosting's early
stopping and float32 input, Lasso/ElasticNet, KMeans, LogisticRegression's
solvers...), X is mapped, handed to the estimator's ``fit`` as
:class:`~skmemmap.MemmapEstimator` hands it (in the layout the wrapper gives
it, as a copy-on-write map where the registry says the estimator writes into
X), and measured by :func:`skmemmap.audit`: the larger of tracemalloc's peak
and the sampled anonymous-memory peak, minus the fitted model and the
buffers a fit on X's first columns uses. That must agree with the amount the
copy warning states (``own_copy_info``: a multiple of X, plus working
buffers that do not grow with the rows) within the audit's tolerance (0.35x
X or 25%; below the bound for an "up to"), and every remedy the warning
names must lower it by at least 0.25x X. Exits 1 on any disagreement.

    python benchmarks/own_copies.py [--quick] [--only NAME] [--json FILE]

First, one estimator per registry entry is audited in the four layouts
(float64/float32 x C/Fortran, 20,000 x 100): the registry's layout must be
among the measured no-copy ones and its own copies must agree in every
layout the estimator is handed (no DISAGREES, no INCONSISTENT).

``--quick`` runs one case per amount that moves with a parameter, and no
registry audit (the test suite checks those, and one estimator per registry
entry, in tests/test_audit.py).
"""

import argparse
import json
import sys
import time

from sklearn.cluster import KMeans, MiniBatchKMeans
from sklearn.decomposition import PCA
from sklearn.ensemble import (
    ExtraTreesClassifier,
    GradientBoostingRegressor,
    HistGradientBoostingClassifier,
    HistGradientBoostingRegressor,
    IsolationForest,
    RandomForestClassifier,
)
from sklearn.linear_model import (
    ARDRegression,
    BayesianRidge,
    ElasticNet,
    Lasso,
    LassoCV,
    LinearRegression,
    LogisticRegression,
    LogisticRegressionCV,
    Ridge,
    RidgeClassifier,
    RidgeCV,
    SGDClassifier,
)
from sklearn.naive_bayes import GaussianNB
from sklearn.neighbors import KNeighborsClassifier
from sklearn.preprocessing import (
    MaxAbsScaler,
    MinMaxScaler,
    RobustScaler,
    StandardScaler,
)
from sklearn.svm import SVC, LinearSVC, LinearSVR
from sklearn.tree import DecisionTreeRegressor

from skmemmap import audit
from skmemmap._audit import check_own_copies

# 50,000 x 100 float64 is 38 MB: a copy of X stands far above the meters'
# noise (under 1 MB), and HistGradientBoosting's histograms (15 MB whatever
# the rows) are a small part of what it measures.
N, P = 50_000, 100
_CD = dict(alpha=0.1, max_iter=20)
_HGB = dict(max_iter=10, random_state=0)

# (estimator, dtype of the mapped X, its order, (n_samples, n_features))
CASES = [
    (Ridge(), "float64", "C", None),
    (Ridge(), "float32", "C", None),
    (Ridge(copy_X=False), "float64", "C", None),
    (Ridge(solver="svd"), "float64", "C", None),
    (Ridge(solver="lsqr"), "float64", "C", None),
    (Ridge(fit_intercept=False), "float64", "C", None),
    (RidgeClassifier(), "float64", "C", None),
    (RidgeCV(), "float64", "C", None),
    (LinearRegression(), "float64", "C", None),
    (LinearRegression(fit_intercept=False), "float64", "C", None),
    (BayesianRidge(max_iter=5), "float64", "C", None),
    (PCA(10), "float64", "C", None),  # "auto": covariance_eigh
    (PCA(10), "float64", "C", (3_000, 600)),  # "auto": randomized
    (PCA(10, svd_solver="full"), "float64", "C", None),
    (PCA(10, svd_solver="full"), "float64", "C", (3_000, 600)),
    (PCA(10, svd_solver="full", copy=False), "float64", "C", None),
    (PCA(10, svd_solver="randomized"), "float64", "C", None),
    (PCA(10, svd_solver="arpack"), "float64", "C", None),
    (Lasso(**_CD), "float64", "C", None),
    (Lasso(**_CD), "float64", "F", None),
    (Lasso(fit_intercept=False, **_CD), "float64", "C", None),
    (ElasticNet(**_CD), "float64", "C", None),
    (ElasticNet(**_CD), "float32", "C", None),
    (LassoCV(cv=3, alphas=3, max_iter=20), "float64", "C", None),
    (HistGradientBoostingClassifier(**_HGB), "float64", "C", None),
    (HistGradientBoostingClassifier(**_HGB), "float32", "C", None),
    (
        HistGradientBoostingClassifier(early_stopping=False, **_HGB),
        "float64",
        "C",
        None,
    ),
    (HistGradientBoostingRegressor(**_HGB), "float64", "F", None),
    (KMeans(3, n_init=1, max_iter=5, random_state=0), "float64", "C", None),
    (KMeans(3, n_init=1, max_iter=5, random_state=0), "float32", "C", None),
    (MiniBatchKMeans(3, n_init=1, max_iter=5, random_state=0), "float64", "C", None),
    (LogisticRegression(max_iter=5), "float64", "C", None),
    (LogisticRegression(max_iter=5, solver="saga"), "float64", "C", None),
    (LogisticRegression(max_iter=5, solver="liblinear"), "float64", "C", None),
    (LogisticRegression(max_iter=5, solver="liblinear"), "float32", "C", None),
    (LogisticRegression(max_iter=5, solver="newton-cg"), "float64", "C", None),
    (LogisticRegression(max_iter=5, solver="newton-cholesky"), "float64", "C", None),
    (LinearSVC(max_iter=5), "float64", "C", None),
    (SGDClassifier(max_iter=3, tol=None, random_state=0), "float64", "C", None),
    (StandardScaler(), "float64", "C", None),
    (StandardScaler(), "float32", "C", None),
    (MinMaxScaler(), "float64", "C", None),
    (MaxAbsScaler(), "float64", "C", None),
    (GaussianNB(), "float64", "C", None),
    (KNeighborsClassifier(), "float64", "C", None),
    (
        RandomForestClassifier(n_estimators=3, max_depth=4, random_state=0),
        "float64",
        "C",
        None,
    ),
    (
        ExtraTreesClassifier(n_estimators=3, max_depth=4, random_state=0),
        "float64",
        "C",
        None,
    ),
    (DecisionTreeRegressor(max_depth=4, random_state=0), "float64", "C", None),
    (
        GradientBoostingRegressor(n_estimators=3, max_depth=2, random_state=0),
        "float64",
        "C",
        None,
    ),
]
# One estimator per entry of the layout registry (skmemmap._layout._BUILTIN),
# audited in the four layouts at the audit's default size (20,000 x 100): the
# registry's layout must be among the measured no-copy ones (else DISAGREES)
# and its own copies must agree in every layout the estimator is handed
# (else INCONSISTENT).
REGISTRY = [
    DecisionTreeRegressor(max_depth=4, random_state=0),
    RandomForestClassifier(n_estimators=3, max_depth=4, random_state=0),
    GradientBoostingRegressor(n_estimators=3, max_depth=2, random_state=0),
    IsolationForest(n_estimators=3, random_state=0),
    HistGradientBoostingClassifier(**_HGB),
    Lasso(**_CD),
    LassoCV(cv=3, alphas=3, max_iter=20),
    LogisticRegression(max_iter=5),
    LogisticRegressionCV(Cs=2, cv=2, max_iter=5),
    SGDClassifier(max_iter=3, tol=None, random_state=0),
    LinearSVC(max_iter=5),
    LinearSVR(max_iter=5),
    SVC(max_iter=20),
    KNeighborsClassifier(),
    KMeans(3, n_init=1, max_iter=5, random_state=0),
    GaussianNB(),
    Ridge(),
    RidgeCV(),
    LinearRegression(),
    BayesianRidge(max_iter=5),
    ARDRegression(max_iter=3),
    PCA(10),
    StandardScaler(),
    MinMaxScaler(),
    MaxAbsScaler(),
    RobustScaler(),
]
# One case per amount that moves with a parameter, X or dtype.
QUICK = [
    (Ridge(), "float64", "C", (20_000, 100)),
    (Ridge(solver="svd"), "float64", "C", (20_000, 100)),
    (PCA(10), "float64", "C", (20_000, 100)),
    (PCA(10, svd_solver="full"), "float64", "C", (20_000, 100)),
    (Lasso(**_CD), "float64", "C", (20_000, 100)),
    (HistGradientBoostingClassifier(**_HGB), "float32", "C", (20_000, 100)),
]


def _row(r):
    bound = "up to " if r["up_to"] else ""
    buffers = f" + {r['buffers_mb']:.0f} MB" if r["buffers_mb"] >= 0.5 else ""
    remedy = "-"
    if r["remedy"]:
        m = r["remedy"]
        remedy = (
            f"{m['param']}: {m['registry_x']:.2g}x, measured {m['measured_x']:.2f}x"
            f"{'' if m['lowers'] else ' (DOES NOT LOWER)'}"
        )
    name = " ".join(r["estimator"].split())  # one line
    warned = f"{bound}{r['registry_x']:.3g}x{buffers}"
    return (
        f"{name:<58} {r['x']:<28} {r['read_as']:<16} {warned:<15} "
        f"{r['measured_x']:>6.2f}x  {'ok' if r['agrees'] else 'DISAGREES'}  {remedy}"
    )


def _registry_row(estimator):
    """The full audit of one registry estimator: its verdicts, one line."""
    result = audit(estimator)
    if not result.measurable:  # what the audit says to do
        result = audit(estimator, n_samples=result.suggested_n_samples)
    layout = {True: "agrees", False: "DISAGREES", None: "nothing to check"}
    own = {True: "consistent", False: "INCONSISTENT", None: "not checked"}
    checks = ", ".join(
        f"{c['layout']} {c['measured_x']:.2f}x" for c in result.own_copy_checks
    )
    ok = result.measurable and result.agrees is not False
    ok = ok and result.own_copies_agree is True
    name = " ".join(result.estimator.split())
    line = (
        f"{name:<58} {result.registry_layout:<28} {layout[result.agrees]:<16} "
        f"{own[result.own_copies_agree]:<13} {checks}"
    )
    return ok, line


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a subset (a minute)")
    parser.add_argument("--only", help="only estimators whose repr contains this")
    parser.add_argument("--json", metavar="FILE", help="write the results here")
    args = parser.parse_args()
    cases = QUICK if args.quick else CASES
    registry = [] if args.quick else REGISTRY
    if args.only:
        cases = [c for c in cases if args.only in repr(c[0])]
        registry = [e for e in registry if args.only in repr(e)]
    start = time.perf_counter()
    bad = 0
    if registry:
        print(
            f"{'registry estimator (audit, 4 layouts)':<58} {'layout_for':<28} "
            f"{'layout':<16} {'own copies':<13} measured where handed"
        )
        for estimator in registry:
            ok, line = _registry_row(estimator)
            bad += not ok
            print(line, flush=True)
        print()
    print(
        f"{'estimator':<58} {'X (mapped)':<28} {'read as':<16} {'warned':<15} "
        f"{'measured':>7}  verdict  remedy: warned, measured"
    )
    results = []
    for estimator, dtype, order, shape in cases:
        n, p = shape or (N, P)
        result = check_own_copies(estimator, dtype, order, n, p)
        results.append(result)
        bad += not result["agrees"]
        print(_row(result), flush=True)
    total = len(results) + len(registry)
    print(f"{total - bad} of {total} agree ({time.perf_counter() - start:.0f} s)")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
