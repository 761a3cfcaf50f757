"""
A Pipeline in a grid search: what the layout conversion costs
=============================================================

A `Pipeline` reads X in its first step, so that step decides the layout.
:func:`skmemmap.layout_for` looks inside pipelines, searches and
meta-estimators to find it, and :class:`skmemmap.MemmapEstimator` converts the
file once into that layout and hands every fit a view of the converted file.

Here X arrives in float32 Fortran order (a column store, say), and the
pipeline (`StandardScaler` then `SGDClassifier`) reads C order. Plain
scikit-learn converts X in every fit of every candidate and fold, inside the
workers; skmemmap converts the file once. The grid addresses the pipeline's
steps through ``estimator__``. The measurement also shows where the layout
stops helping: the scaler's own copies.
"""

import os

import matplotlib.pyplot as plt
import numpy as np
from joblib.externals.loky import get_reusable_executor
from matplotlib.patches import Patch
from sklearn.linear_model import SGDClassifier
from sklearn.model_selection import GridSearchCV, KFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import skmemmap

QUICK = os.environ.get("SKMEMMAP_DOC_QUICK") == "1"
n_samples, n_features = (20_000, 50) if QUICK else (200_000, 50)

rng = np.random.RandomState(0)
X = rng.standard_normal((n_samples, n_features)) * rng.uniform(1, 100, n_features)
X = np.asfortranarray(X, dtype=np.float32)  # the layout it arrived in
y = (X[:, :3].sum(axis=1) > 0).astype(int)

pipe = make_pipeline(StandardScaler(), SGDClassifier(random_state=0))
alphas = [1e-5, 1e-4, 1e-3, 1e-2]
print(f"X: {X.shape} float32 Fortran, {X.nbytes / 2**20:.0f} MB")
print("The pipeline reads X as:", skmemmap.layout_for(pipe).describe())


def fresh_workers():
    """New, warmed-up workers: no run inherits memory another one freed."""
    get_reusable_executor().shutdown(wait=True)
    GridSearchCV(pipe, {"sgdclassifier__alpha": alphas[:2]}, cv=KFold(2), n_jobs=2).fit(
        X[:500], y[:500]
    )


# %%
# Plain scikit-learn
# ------------------
fresh_workers()
with skmemmap.MemoryMonitor(interval=0.02) as plain:
    plain_search = GridSearchCV(
        pipe, {"sgdclassifier__alpha": alphas}, cv=KFold(2), n_jobs=2
    ).fit(X, y)

# %%
# skmemmap
# --------
# The search runs in worker processes, whose warnings would only reach their
# own stderr. :func:`skmemmap.copy_report` brings the copies made there back
# into this process, as one warning per cause, and as a table.
fresh_workers()
with skmemmap.copy_report() as report, skmemmap.MemoryMonitor(interval=0.02) as mapped:
    X_mm = skmemmap.memmap(X, dtype=np.float32, order="F")  # as it arrived
    search = GridSearchCV(
        skmemmap.MemmapEstimator(pipe),
        {"estimator__sgdclassifier__alpha": alphas},
        cv=skmemmap.ContiguousKFold(2),
        n_jobs=2,
    ).fit(X_mm, y)
print(report)
print("Layout given to the pipeline:", search.best_estimator_.layout_.describe())
print(
    "Same scores as plain:",
    np.allclose(
        plain_search.cv_results_["mean_test_score"],
        search.cv_results_["mean_test_score"],
    ),
)

# %%
# The scaler makes its own copies of the rows it standardises whatever layout
# it gets (:func:`skmemmap.own_copies` gives the registry's note); those
# remain in both runs.
print("StandardScaler's own copies:", skmemmap.own_copies(StandardScaler()))

# %%
# Peak memory
# -----------
# Peaks of the process tree above the start, as multiples of the float32 X:
# PSS (a page of a file that both workers map counts once; skmemmap's includes
# its files' pages, page cache the kernel can reclaim) and anonymous memory
# (copies).
peaks = {
    name: [m.peak_above_baseline(k) / X.nbytes for k in ("pss", "anon")]
    for name, m in (("plain scikit-learn", plain), ("skmemmap", mapped))
}
for name, (pss, anon) in peaks.items():
    print(f"{name:<19} PSS +{pss:.2f} x X, anon +{anon:.2f} x X")

fig, ax = plt.subplots(figsize=(7, 3.2))
pos = np.arange(len(peaks))
colors = ["#c0504d", "#4f81bd"]  # plain scikit-learn red, skmemmap blue
for shift, k, style in (
    (-0.2, 0, {"color": "white", "edgecolor": colors, "hatch": "///"}),  # PSS
    (0.2, 1, {"color": colors}),  # anonymous memory
):
    bars = ax.barh(pos + shift, [v[k] for v in peaks.values()], 0.4, **style)
    ax.bar_label(bars, fmt="%.2f", padding=3, fontsize=9)
ax.set_yticks(pos, list(peaks))
ax.invert_yaxis()
ax.set_xlabel("peak memory above the start (copies of the float32 X)")
ax.set_xlim(0, 1.3 * max(max(v) for v in peaks.values()))
fig.suptitle(
    "GridSearchCV(StandardScaler + SGDClassifier), 4 candidates, 2 folds, n_jobs=2",
    fontsize=10,
)
ax.legend(
    handles=[
        Patch(fc="white", ec="0.3", hatch="///", label="PSS (file pages included)"),
        Patch(color="0.3", label="anonymous memory (copies)"),
    ],
    loc="lower right",
    frameon=False,
)
ax.spines[["top", "right"]].set_visible(False)
fig.tight_layout()

# %%
# skmemmap saves the per-fit conversions and the fold copies, but most of
# what remains is the scaler's own float64 working copies, which no layout
# avoids: for this pipeline, the estimator, not the layout, is where the
# memory goes (the audit heatmap in the user guide shows the same for
# `StandardScaler`).
