"""
GridSearchCV on a memory-mapped X: views, not copies
=====================================================

Runs the same ``GridSearchCV(..., cv=KFold(2), n_jobs=2)`` twice, once on an
in-memory X and once on ``skmemmap.memmap(X)``, with a small estimator that
records, inside the worker processes, whether each X it receives in ``fit``
and ``predict`` is a view of the file or a copy.
"""

import json
import os
import tempfile

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, KFold

import skmemmap


class ViewSpy(ClassifierMixin, BaseEstimator):
    """LogisticRegression that logs what kind of X each call receives."""

    def __init__(self, log=None, C=1.0):
        self.log = log
        self.C = C

    def _record(self, X, method):
        with open(self.log, "a") as f:
            kind = (
                "view of " + os.path.basename(X.filename)
                if (skmemmap.is_memmap_view(X))
                else f"in-memory array ({X.nbytes / 2**20:.1f} MB)"
            )
            f.write(
                json.dumps(
                    {"pid": os.getpid(), "method": method, "rows": len(X), "kind": kind}
                )
                + "\n"
            )

    def fit(self, X, y):
        self._record(X, "fit")
        self.model_ = LogisticRegression(C=self.C).fit(X, y)
        self.classes_ = self.model_.classes_
        return self

    def predict(self, X):
        self._record(X, "predict")
        return self.model_.predict(X)


def run(X, y, label):
    fd, log = tempfile.mkstemp(suffix=".jsonl")
    os.close(fd)
    search = GridSearchCV(ViewSpy(log=log), {"C": [0.1, 1.0]}, cv=KFold(2), n_jobs=2)
    search.fit(X, y)
    print(f"\n{label}: mean test scores {search.cv_results_['mean_test_score']}")
    with open(log) as f:
        records = [json.loads(line) for line in f]
    os.unlink(log)
    for r in records:
        print(
            f"  process {r['pid']:>7}  {r['method']:<8} {r['rows']:>6} rows: "
            f"{r['kind']}"
        )
    return search


if __name__ == "__main__":
    rng = np.random.RandomState(0)
    X = rng.standard_normal((20_000, 50))
    y = (X[:, 0] + 0.5 * rng.standard_normal(20_000) > 0).astype(int)
    plain = run(X, y, "In-memory X: every fold is a fancy-indexed copy")
    mapped = run(skmemmap.memmap(X), y, "skmemmap.memmap(X)")
    same = np.allclose(
        plain.cv_results_["mean_test_score"], mapped.cv_results_["mean_test_score"]
    )
    print(f"\nSame scores with and without skmemmap: {same}")
