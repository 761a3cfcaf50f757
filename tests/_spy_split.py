"""A ridge regressor that logs, in whatever process it runs, the X it receives.

Kept in its own module so loky workers can import it by name.
"""

import json
import os

import numpy as np
from sklearn.base import BaseEstimator, RegressorMixin

import skmemmap


class SpySplitRidge(RegressorMixin, BaseEstimator):
    """Ridge regression without intercept (normal equations); logs X to ``log``."""

    def __init__(self, alpha=1.0, log=None):
        self.alpha = alpha
        self.log = log

    def _record(self, X, method):
        if self.log is None:
            return
        view = skmemmap.is_memmap_view(X)
        record = {
            "pid": os.getpid(),
            "method": method,
            "type": type(X).__name__,
            "view": view,
            "file": X.filename if view else None,
            "rows": int(X.shape[0]),
        }
        # One short write in append mode: lines from several processes do not mix.
        with open(self.log, "a") as f:
            f.write(json.dumps(record) + "\n")

    def fit(self, X, y):
        self._record(X, "fit")
        A = np.asarray(X, dtype=np.float64)
        gram = A.T @ A + self.alpha * np.eye(A.shape[1])
        self.coef_ = np.linalg.solve(gram, A.T @ np.asarray(y, dtype=np.float64))
        return self

    def predict(self, X):
        self._record(X, "predict")
        return np.asarray(X, dtype=np.float64) @ self.coef_


def read_log(path):
    """The records written by every process, in order of writing."""
    with open(path) as f:
        return [json.loads(line) for line in f]
