"""
cross_val_predict with ContiguousKFold
======================================

`cross_val_predict` fits one model per fold and predicts the rows of its
test fold. With :class:`skmemmap.ContiguousKFold` (the indices of
``KFold(2)``) on a :class:`skmemmap.MemmapArray`, every training and test set
is a view of the file, and :class:`skmemmap.MemmapEstimator` gives the model X
in the layout it reads without a copy. The predictions are those of plain
scikit-learn; the memory is not.
"""

import os

import matplotlib.pyplot as plt
import numpy as np
from joblib.externals.loky import get_reusable_executor
from matplotlib.patches import Patch
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import KFold, cross_val_predict

import skmemmap

QUICK = os.environ.get("SKMEMMAP_DOC_QUICK") == "1"
n_samples, n_features = (20_000, 50) if QUICK else (150_000, 50)

rng = np.random.RandomState(0)
X = rng.standard_normal((n_samples, n_features))
coef = rng.standard_normal(n_features)
y = np.digitize(X @ coef + rng.standard_normal(n_samples), [-2.0, 2.0])

# %%
# Plain scikit-learn, and skmemmap
# --------------------------------
# `LogisticRegression` reads float64 C-ordered X without copying it; X is
# mapped in that layout once.
model = LogisticRegression(max_iter=200)
print("LogisticRegression reads:", skmemmap.layout_for(model).describe())


def fresh_workers():
    """New, warmed-up workers: no run inherits memory another one freed."""
    get_reusable_executor().shutdown(wait=True)
    cross_val_predict(model, X[:500], y[:500], cv=KFold(2), n_jobs=2)


fresh_workers()
with skmemmap.MemoryMonitor(interval=0.02) as plain_monitor:
    plain = cross_val_predict(model, X, y, cv=KFold(2), n_jobs=2)

X_mm = skmemmap.memmap(X)  # before the measurement: X starts resident in both
fresh_workers()
with skmemmap.MemoryMonitor(interval=0.02) as mapped_monitor:
    mapped = cross_val_predict(
        skmemmap.MemmapEstimator(model),
        X_mm,
        y,
        cv=skmemmap.ContiguousKFold(),
        n_jobs=2,
    )
print("Identical predictions:", np.array_equal(plain, mapped))

# %%
# The folds are views
# -------------------
# `cross_val_predict` needs index arrays (it checks that the test folds form
# a permutation of the rows), so the splitter yields them; the
# :class:`~skmemmap.MemmapArray` turns each consecutive index array into a
# slice of its file.
for i, (train, test) in enumerate(skmemmap.ContiguousKFold().split(X_mm, y)):
    print(
        f"Fold {i}: train rows {train[0]}..{train[-1]} "
        f"view={skmemmap.is_memmap_view(X_mm[train])}, "
        f"test rows {test[0]}..{test[-1]} view={skmemmap.is_memmap_view(X_mm[test])}"
    )

# %%
# Peak memory
# -----------
# Peaks of the process tree above the start, in copies of X: PSS (a page of
# the file that both workers map counts once; skmemmap's includes the pages of
# X's file that the workers read) and anonymous memory (copies).
peaks = {
    name: [m.peak_above_baseline(k) / X.nbytes for k in ("pss", "anon")]
    for name, m in (("plain scikit-learn", plain_monitor), ("skmemmap", mapped_monitor))
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
ax.set_xlabel("peak memory above the start (copies of X)")
ax.set_xlim(0, 1.3 * max(max(v) for v in peaks.values()))
fig.suptitle("cross_val_predict(LogisticRegression), 2 folds, n_jobs=2", fontsize=10)
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
# Plain scikit-learn copies each fold's training and test rows inside the
# workers; with skmemmap the workers read views of the file and copy no fold.
# On the full-size X (150,000 rows) most of what the skmemmap run adds is the
# pages of the file the workers read (PSS +1.4 x X, anonymous memory
# +0.4 x X, against plain's +3.6 and +2.6 x X); on the small X of a quick
# documentation build (``SKMEMMAP_DOC_QUICK=1``), the solver's own working
# memory in each worker weighs as much as X itself.
