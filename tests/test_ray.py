"""Ray as an engine: joblib's "ray" backend gives the same results, views in workers."""

import os
import warnings
from pathlib import Path

import joblib
import numpy as np
import pytest

ray = pytest.importorskip(
    "ray", reason="Ray is not installed (pip install '.[ray]' in the checkout)"
)

from _engines import check_worker_views, classification  # noqa: E402
from _spy import ViewSpy  # noqa: E402
from ray.util.joblib import register_ray  # noqa: E402
from sklearn.model_selection import (  # noqa: E402
    GridSearchCV,
    KFold,
    cross_val_predict,
)

import skmemmap  # noqa: E402

pytestmark = pytest.mark.cluster

TESTS = str(Path(__file__).resolve().parent)
ROOT = str(Path(skmemmap.__file__).resolve().parent.parent)


@pytest.fixture(scope="module")
def ray_session():
    """One local Ray instance for the module: 2 CPUs, no dashboard."""
    # Ray's worker processes inherit this environment: they must import the
    # test helpers (``_spy``) and this skmemmap by name.
    saved = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (TESTS, ROOT, saved) if p)
    try:
        ray.init(
            num_cpus=2,
            include_dashboard=False,
            log_to_driver=False,
            configure_logging=False,
        )
        register_ray()
        yield
    finally:
        ray.shutdown()
        if saved is None:
            del os.environ["PYTHONPATH"]
        else:
            os.environ["PYTHONPATH"] = saved


@pytest.fixture
def data(tmp_path):
    return classification(tmp_path)


def test_grid_search_on_ray_equals_scikit_learn(ray_session, data, tmp_path):
    X, y, X_mm = data
    log = tmp_path / "spy.jsonl"
    grid = {"C": [0.1, 1.0]}
    with warnings.catch_warnings(), joblib.parallel_config(backend="ray", n_jobs=2):
        warnings.simplefilter("error", skmemmap.CopyWarning)
        search = GridSearchCV(ViewSpy(log=str(log)), grid, cv=KFold(2)).fit(X_mm, y)
    plain = GridSearchCV(ViewSpy(), grid, cv=KFold(2)).fit(X, y)

    check_worker_views(log, X_mm)
    for key in ("mean_test_score", "split0_test_score", "split1_test_score"):
        np.testing.assert_array_equal(search.cv_results_[key], plain.cv_results_[key])
    assert search.best_params_ == plain.best_params_


def test_cross_val_predict_on_ray_equals_scikit_learn(ray_session, data, tmp_path):
    X, y, X_mm = data
    log = tmp_path / "spy.jsonl"
    with warnings.catch_warnings(), joblib.parallel_config(backend="ray", n_jobs=2):
        warnings.simplefilter("error", skmemmap.CopyWarning)
        pred = cross_val_predict(ViewSpy(log=str(log)), X_mm, y, cv=KFold(2))

    check_worker_views(log, X_mm)
    np.testing.assert_array_equal(pred, cross_val_predict(ViewSpy(), X, y, cv=KFold(2)))
