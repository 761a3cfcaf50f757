"""Estimators and functions that run inside joblib workers.

They live in a module (not in a test file) so that loky workers can unpickle
them by name: ``conftest.py`` puts this folder on ``sys.path`` and workers start
with the parent's ``sys.path``.
"""

import json
import os
import warnings

from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.linear_model import LogisticRegression

import skmemmap


def describe(x):
    """What a worker received: ``(is a view of a file, file name, sum)``."""
    return skmemmap.is_memmap_view(x), getattr(x, "filename", None), float(x.sum())


class ViewSpy(ClassifierMixin, BaseEstimator):
    """LogisticRegression that logs, as JSON lines, the X each fit/predict receives.

    Each record: method, pid, ``is_memmap_view(X)``, ``X.flags.owndata``, the
    file X is a view of (or None), and the number of rows.
    """

    def __init__(self, log=None, C=1.0):
        self.log = log
        self.C = C

    def _record(self, X, method):
        if self.log is None:
            return
        record = {
            "method": method,
            "pid": os.getpid(),
            "is_view": skmemmap.is_memmap_view(X),
            "owndata": bool(X.flags.owndata),
            "filename": getattr(X, "filename", None),
            "rows": len(X),
        }
        # One short write per record, in append mode: lines from concurrent
        # workers do not interleave.
        with open(self.log, "a") as f:
            f.write(json.dumps(record) + "\n")

    def fit(self, X, y):
        self._record(X, "fit")
        self.model_ = LogisticRegression(C=self.C).fit(X, y)
        self.classes_ = self.model_.classes_
        return self

    def predict(self, X):
        self._record(X, "predict")
        return self.model_.predict(X)


def read_log(path):
    with open(path) as f:
        return [json.loads(line) for line in f]


def take(x, rows):
    """``describe(x[rows])`` in a worker, with its copy warnings silenced."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", skmemmap.CopyWarning)
        return describe(x[rows])


class PieceSpy(ClassifierMixin, BaseEstimator):
    """Logs, as JSON lines, what each fit receives from a chunk list's folds
    (its type and number of chunk pieces), then fits LogisticRegression on it."""

    def __init__(self, log=None):
        self.log = log

    def fit(self, X, y):
        if self.log is not None:
            pieces = len(list(X.pieces())) if hasattr(X, "pieces") else 1
            record = {"type": type(X).__name__, "pieces": pieces, "rows": len(X)}
            with open(self.log, "a") as f:
                f.write(json.dumps(record) + "\n")
        self.model_ = LogisticRegression().fit(X, y)
        self.classes_ = self.model_.classes_
        return self

    def predict(self, X):
        return self.model_.predict(X)
