"""
The automatic path: MemmapEstimator(GridSearchCV(...)) on in-memory X
=====================================================================

Wrapping the *search* is the shortest way to use skmemmap:
``MemmapEstimator(GridSearchCV(...)).fit(X, y)`` on an ordinary in-memory X
writes X once to a file, in the layout the searched estimator reads without a
copy (float32 for a forest), and runs the search on that file, so every fold
in every worker is a view of it. This example measures it next to plain
scikit-learn and next to mapping X yourself with :func:`skmemmap.memmap`, the
same ``GridSearchCV(RandomForestClassifier, 2 candidates, 2 folds,
n_jobs=2)`` each time.
"""

import os
import warnings

import matplotlib.pyplot as plt
import numpy as np
from joblib.externals.loky import get_reusable_executor
from matplotlib.patches import Patch
from sklearn.ensemble import RandomForestClassifier
from sklearn.model_selection import GridSearchCV, KFold

import skmemmap

QUICK = os.environ.get("SKMEMMAP_DOC_QUICK") == "1"
n_samples, n_features = (20_000, 50) if QUICK else (50_000, 80)

rng = np.random.RandomState(0)
X = rng.standard_normal((n_samples, n_features))
y = (X[:, 0] + 0.5 * rng.standard_normal(n_samples) > 0).astype(int)
forest = RandomForestClassifier(n_estimators=5, max_depth=8, random_state=0)
grid = {"max_features": ["sqrt", 0.2]}
print(f"X: {X.shape} float64 in memory, {X.nbytes / 2**20:.0f} MB")

# %%
# Three ways to run the same search
# ---------------------------------
# Each run gets fresh worker processes, started (and their interpreters
# loaded) before the measurement, so that no run inherits memory another run
# freed, and the interpreters are not counted.


def fresh_workers():
    get_reusable_executor().shutdown(wait=True)
    GridSearchCV(forest, grid, cv=KFold(2), n_jobs=2).fit(X[:200], y[:200])


def plain():
    return GridSearchCV(forest, grid, cv=KFold(2), n_jobs=2).fit(X, y)


def automatic():
    search = GridSearchCV(forest, grid, cv=skmemmap.ContiguousKFold(2), n_jobs=2)
    return skmemmap.MemmapEstimator(search).fit(X, y).estimator_


def yourself():
    X_mm = skmemmap.memmap(X, dtype=np.float32, order="F")  # the forest's layout
    search = GridSearchCV(forest, grid, cv=skmemmap.ContiguousKFold(2), n_jobs=2)
    return search.fit(X_mm, y)


peaks, scores = {}, {}
for name, run in (
    ("plain scikit-learn", plain),
    ("MemmapEstimator(search)", automatic),
    ("skmemmap.memmap(X) yourself", yourself),
):
    fresh_workers()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", skmemmap.CopyWarning)
        with skmemmap.MemoryMonitor(interval=0.02) as monitor:
            search = run()
    peaks[name] = [monitor.peak_above_baseline(k) / X.nbytes for k in ("pss", "anon")]
    scores[name] = search.cv_results_["mean_test_score"]
    print(
        f"{name:<28} peak PSS +{peaks[name][0]:.2f} x X, anon +{peaks[name][1]:.2f} x X"
    )
    for w in caught:
        print("   warned:", str(w.message).split(". ")[0])

# %%
# None of the three runs warns. The automatic path's one copy, X written
# block by block to a float32 file on disk, not in RAM, is what saves the
# memory: :func:`skmemmap.copy_report` records it (as
# ``GridSearchCV/in-memory``), and no warning is given for it. All three
# searches fit the same trees on the same numbers (the forest converts float64
# to float32 itself):
print("Same scores:", all(np.array_equal(s, scores[name]) for s in scores.values()))

# %%
# Peak memory
# -----------
# Two readings of the process tree, as peaks above the start in copies of X.
# PSS counts every page the processes hold, a page of a file that both workers
# map once; skmemmap's includes the pages of its float32 file (up to 0.5 x X),
# which are page cache the kernel can drop and read again. Anonymous memory is
# where copies of X live.
# Plain scikit-learn is red, skmemmap blue; PSS is hatched, anonymous memory
# solid.
fig, ax = plt.subplots(figsize=(7.5, 3.8))
names = list(peaks)
pos = np.arange(len(names))
colors = ["#c0504d", "#4f81bd", "#4f81bd"]
for shift, k, style in (
    (-0.2, 0, {"color": "white", "edgecolor": colors, "hatch": "///"}),
    (0.2, 1, {"color": colors}),
):
    bars = ax.barh(pos + shift, [peaks[n][k] for n in names], 0.4, **style)
    ax.bar_label(bars, fmt="%.2f", padding=3, fontsize=9)
ax.axvline(1.0, color="0.3", linestyle="--", linewidth=1)
ax.set_yticks(pos, names)
ax.invert_yaxis()
ax.set_xlabel("peak memory above the start (copies of X; dashed: 1 x X)")
ax.set_xlim(0, 1.25 * max(max(v) for v in peaks.values()))
fig.suptitle(
    f"GridSearchCV(RandomForest), 2 folds, n_jobs=2, X {X.nbytes / 2**20:.0f} MB",
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
# Plain scikit-learn copies a training set in each worker (and the forest
# converts each copy to float32 again): its anonymous memory grows by several
# copies of X. Both skmemmap paths add a fraction of that, about the same
# for both; their PSS also counts the pages of the float32 file the workers
# read, page cache the kernel can drop and read again. Mapping X yourself
# is still the way when several searches use the same X: the file is written
# once, not once per ``fit``.
