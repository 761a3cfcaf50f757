"""
A Pipeline in a grid search
===========================

A ``Pipeline`` reads X in its first step, so that step decides the layout.
:func:`skmemmap.layout_for` looks inside pipelines, searches and
meta-estimators to find it, and :class:`skmemmap.MemmapEstimator` converts the
file once into that layout and hands every fit a view of the converted file.
The grid addresses the pipeline's steps through ``estimator__``.
"""

import os
import warnings

import matplotlib.pyplot as plt
import numpy as np
from sklearn.linear_model import SGDClassifier
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import skmemmap

QUICK = os.environ.get("SKMEMMAP_DOC_QUICK") == "1"
n_samples, n_features = (10_000, 20) if QUICK else (100_000, 50)

rng = np.random.RandomState(0)
X = rng.standard_normal((n_samples, n_features)) * rng.uniform(1, 100, n_features)
y = (X[:, :3].sum(axis=1) > 0).astype(int)

pipe = make_pipeline(StandardScaler(), SGDClassifier(random_state=0))
print("The pipeline reads X as:", skmemmap.layout_for(pipe).describe())

# %%
# X, stored the way it arrived
# ----------------------------
# Suppose X arrives in float32 Fortran order (a column store, say). It is
# mapped as it is; MemmapEstimator converts the *file* once to the layout the
# scaler reads, and every candidate and fold reuses the converted file.
X_mm = skmemmap.memmap(X, dtype=np.float32, order="F")

search = GridSearchCV(
    skmemmap.MemmapEstimator(pipe),
    {"estimator__sgdclassifier__alpha": [1e-5, 1e-4, 1e-3, 1e-2]},
    cv=skmemmap.ContiguousKFold(2),
    n_jobs=2,
)
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always", skmemmap.CopyWarning)
    search.fit(X_mm, y)

print("Best:", search.best_params_, f"score {search.best_score_:.3f}")
print("Layout given to the pipeline:", search.best_estimator_.layout_.describe())

# %%
# What was copied
# ---------------
# The scaler's fit makes its own copies of the rows it standardises whatever
# layout it gets (:func:`skmemmap.own_copies` lists them), and the search's
# final refit on all of X runs in this process. Each cause is reported once per
# process: the copies made in the workers were reported there.
for w in caught:
    print("-", str(w.message).split(". Silence")[0])
print("StandardScaler's own copies:", skmemmap.own_copies(StandardScaler()))

# %%
# Scores
# ------
alphas = search.cv_results_["param_estimator__sgdclassifier__alpha"].data
plt.semilogx(alphas.astype(float), search.cv_results_["mean_test_score"], "o-")
plt.xlabel("SGDClassifier alpha")
plt.ylabel("mean test accuracy (2 contiguous folds)")
plt.title("GridSearchCV(MemmapEstimator(StandardScaler + SGDClassifier))")
plt.tight_layout()
