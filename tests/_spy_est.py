"""An estimator that records, in whatever process it runs, what X it received.

Kept in its own module so loky workers can import it by name.
"""

import json
import os

import numpy as np
import threadpoolctl
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.linear_model import LogisticRegression

import skmemmap


def describe_x(X):
    """What a test wants to know about an X received in fit or predict."""
    record = {
        "pid": os.getpid(),
        "type": type(X).__name__,
        "view": skmemmap.is_memmap_view(X),
        "dtype": str(X.dtype),
        "f_contiguous": bool(X.flags.f_contiguous),
        "c_contiguous": bool(X.flags.c_contiguous),
        "writeable": bool(X.flags.writeable),
        "owndata": bool(X.flags.owndata),
        "rows": int(X.shape[0]),
        "nbytes": int(X.nbytes),
        "file": None,
        "inode": None,
    }
    if record["view"]:
        st = os.stat(X.filename)
        record.update(file=X.filename, inode=st.st_ino, mtime=st.st_mtime_ns)
    return record


class SpyRegressor(RegressorMixin, BaseEstimator):
    """Least squares on the first column; logs every X it sees to ``log``."""

    def __init__(self, log=None, alpha=1.0, write_x=False):
        self.log = log
        self.alpha = alpha
        self.write_x = write_x

    def _record(self, X, method):
        if self.log is None:
            return
        record = describe_x(X)
        record["method"] = method
        record["blas_threads"] = [
            p["num_threads"] for p in threadpoolctl.threadpool_info()
        ]
        with open(self.log, "a") as f:
            f.write(json.dumps(record) + "\n")

    def fit(self, X, y=None):
        self._record(X, "fit")
        if self.write_x:
            X[:, 0] *= 2.0  # an estimator that scribbles on its input
            X[:, 0] /= 2.0
        x0 = np.asarray(X[:, 0], dtype=np.float64)
        self.coef_ = float(x0 @ np.asarray(y, dtype=float)) / (
            float(x0 @ x0) + self.alpha
        )
        self.n_features_in_ = X.shape[1]
        return self

    def predict(self, X):
        self._record(X, "predict")
        return np.asarray(X[:, 0], dtype=np.float64) * self.coef_


def read_log(path):
    with open(path) as f:
        return [json.loads(line) for line in f]


class ListFolderLogReg(LogisticRegression):
    """LogisticRegression that records, during fit, the files under ``folder``
    and the X it was given (to check nothing is written while it runs)."""

    def __init__(self, folder=None, **params):
        super().__init__(**params)
        self.folder = folder

    def fit(self, X, y, sample_weight=None):
        self.seen_files_ = sorted(
            os.path.join(d, f) for d, _, fs in os.walk(self.folder) for f in fs
        )
        self.seen_X_ = X
        return super().fit(X, y, sample_weight=sample_weight)
