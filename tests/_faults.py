"""Estimators and functions that misbehave on purpose, inside worker processes.

Kept in a module (not in a test file) so that loky, multiprocessing and dask
workers can import them by name: ``conftest.py`` puts this folder on
``sys.path`` and workers start with the parent's ``sys.path``.
"""

import os
import signal
import warnings

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.linear_model import LogisticRegression

import skmemmap
from skmemmap import _array, _construct


class KillOnSecondFit(ClassifierMixin, BaseEstimator):
    """LogisticRegression whose second fit, in any process, SIGKILLs that process.

    ``marker`` is a path: the first fit creates it, the second creates
    ``marker + ".killed"`` and kills its own process; later fits work. Both
    files are created with ``O_EXCL``, so exactly one fit dies even when
    fits run in several processes at once.
    """

    def __init__(self, marker=None, C=1.0):
        self.marker = marker
        self.C = C

    def fit(self, X, y):
        if (
            self.marker is not None
            and not _create(self.marker)
            and _create(self.marker + ".killed")
        ):
            os.kill(os.getpid(), signal.SIGKILL)
        self.model_ = LogisticRegression(C=self.C).fit(X, y)
        self.classes_ = self.model_.classes_
        return self

    def predict(self, X):
        return self.model_.predict(X)


class KillOnGatheredFit(KillOnSecondFit):
    """LogisticRegression that SIGKILLs its process at the first fit, in any
    process, whose X is a gathered training set (a middle fold of KFold(k>2)).

    The gather file is written before fit is called, so when the kill
    happens a worker has certainly written into the parent's folder.
    """

    def fit(self, X, y):
        gathered = ".gather-" in (getattr(X, "filename", None) or "")
        if self.marker is not None and gathered and _create(self.marker + ".killed"):
            os.kill(os.getpid(), signal.SIGKILL)
        self.model_ = LogisticRegression(C=self.C).fit(X, y)
        self.classes_ = self.model_.classes_
        return self


def _create(path):
    try:
        os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
    except FileExistsError:
        return False
    return True


def race(what, X, idx, barrier, results):
    """Create X's float32 Fortran sibling, or gather ``X[idx]``, after a barrier.

    Runs in a spawned process; puts ``(pid, written, filename, rows equal)``
    on the ``results`` queue, or ``(pid, "error", repr)`` on failure.
    """
    try:
        expected = (
            np.asarray(X, dtype=np.float32) if what == "sibling" else np.asarray(X)[idx]
        )
        barrier.wait(timeout=60)
        if what == "sibling":
            mapped, written = _construct.sibling(X._skm_file, np.float32, "F")
            out = mapped.full()
        else:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", skmemmap.CopyWarning)
                out, written = _array._gather(X, idx)
        equal = bool(np.array_equal(out, expected))
        results.put((os.getpid(), bool(written), out.filename, equal))
    except BaseException as exc:  # report everything: the parent asserts on it
        results.put((os.getpid(), "error", repr(exc), False))
