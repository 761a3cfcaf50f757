"""Helpers for the copy-report tests that must be importable in other processes."""

import json
import os
import sys

import numpy as np
from sklearn.linear_model import Ridge

from skmemmap._copies import append_event, make_event


class ReportRidge(Ridge):
    """Ridge under a name no other test uses: its once-per-process copy warning
    has not been given yet in any reused loky worker."""


def append_many(folder, n, tag):
    """Append ``n`` events of cause ``tag`` to ``folder``'s log (one process)."""
    for i in range(n):
        event = make_event(
            f"copy {i} of {tag}",
            1000 + i,
            "a test",
            "none",
            key=tag,
            shape=(i, 2),
            estimator=None,
            family="fam",
        )
        event["i"] = i
        append_event(folder, event)
    return os.getpid()


def five_fold_search():
    """The issue's search, in this process; print what the parent saw as JSON.

    Run in a fresh interpreter by the test, which reads its stderr (where
    loky workers, started here, write) and its stdout.
    """
    import pytest
    from sklearn.model_selection import GridSearchCV

    import skmemmap

    rng = np.random.default_rng(0)
    X = rng.standard_normal((2000, 20))
    y = X @ rng.standard_normal(20)
    with skmemmap.config_context(gather_nbytes="100K"):
        X_mm = skmemmap.memmap(X)
        search = GridSearchCV(
            skmemmap.MemmapEstimator(Ridge()),
            {"estimator__alpha": [0.1, 1.0, 10.0]},
            cv=skmemmap.ContiguousKFold(5),
            n_jobs=2,
        )
        with (
            pytest.warns(skmemmap.CopyWarning) as record,
            skmemmap.copy_report() as report,
        ):
            search.fit(X_mm, y)
    json.dump(
        {
            "parent": os.getpid(),
            "warnings": [str(w.message) for w in record],
            "report": report.to_dict(),
            "text": str(report),
        },
        sys.stdout,
    )
