"""
GridSearchCV memory over time: plain X vs skmemmap
==================================================

The same ``GridSearchCV(RandomForestClassifier, 2 candidates, 2 folds,
n_jobs=2)`` runs twice under a :class:`skmemmap.MemoryMonitor`, which samples
the memory of this process *and* its worker processes:

* on an in-memory float64 X with ``KFold(2)``: every fold is a fancy-indexed
  copy inside a worker, and the forest converts each copy to float32 again;
* on ``skmemmap.memmap(X, dtype="float32", order="F")`` with
  :class:`skmemmap.ContiguousKFold`: every fold in every worker is a view of
  one file, already in the forest's layout.
"""

import os
import time

import matplotlib.pyplot as plt
import numpy as np
from sklearn.ensemble import RandomForestClassifier
from sklearn.model_selection import GridSearchCV, KFold

import skmemmap

# Small data when the documentation is built (SKMEMMAP_DOC_QUICK=1).
QUICK = os.environ.get("SKMEMMAP_DOC_QUICK") == "1"
n_samples, n_features = (20_000, 50) if QUICK else (40_000, 80)

rng = np.random.RandomState(0)
X = rng.standard_normal((n_samples, n_features))
y = (X[:, 0] + 0.5 * rng.standard_normal(n_samples) > 0).astype(int)
print(f"X: {X.shape}, float64, {X.nbytes / 2**20:.0f} MB")

forest = RandomForestClassifier(n_estimators=5, max_depth=8, random_state=0)
grid = {"max_features": ["sqrt", 0.2]}

# %%
# Warm up the workers
# -------------------
# loky starts its worker processes at the first parallel call and reuses them
# afterwards. One tiny search starts them before either measurement, so that
# neither run pays for the workers' interpreters.
_ = GridSearchCV(forest, grid, cv=KFold(2), n_jobs=2).fit(X[:200], y[:200])

# %%
# Plain scikit-learn
# ------------------


def measure(X, y, cv):
    search = GridSearchCV(forest, grid, cv=cv, n_jobs=2)
    with skmemmap.MemoryMonitor(interval=0.02) as monitor:
        start = time.perf_counter()
        search.fit(X, y)
        seconds = time.perf_counter() - start
    return monitor, search, seconds


plain, plain_search, plain_s = measure(X, y, KFold(2))

# %%
# skmemmap
# --------
# X is written once, in the forest's layout (float32, Fortran order), to a
# file in a private folder. :func:`skmemmap.layout_for` tells which layout an
# estimator reads without a copy.
print("Forest reads:", skmemmap.layout_for(forest).describe())
X_mm = skmemmap.memmap(X, dtype=np.float32, order="F")
mapped, mapped_search, mapped_s = measure(X_mm, y, skmemmap.ContiguousKFold(2))

# %%
# Memory over time
# ----------------
# The process tree's PSS (proportional set size: a page of the file mapped by
# both workers counts once) above the start of each search, as a multiple of
# the float64 X. The memory the two runs started from is taken away, so what
# is drawn is what each search added.
fig, ax = plt.subplots(figsize=(8, 4))
for monitor, label, color in (
    (plain, "in-memory X, KFold(2)", "#c0504d"),
    (mapped, "skmemmap.memmap(X), ContiguousKFold(2)", "#4f81bd"),
):
    start = monitor.baseline_.pss
    ax.plot(
        [s.time for s in monitor.samples_],
        [(s.pss - start) / X.nbytes for s in monitor.samples_],
        label=label,
        color=color,
    )
ax.axhline(1.0, color="0.3", linestyle="--", linewidth=1, label="1 x X")
ax.set_xlabel("time since the search started (s)")
ax.set_ylabel("PSS above the start (copies of X)")
ax.set_title("GridSearchCV(RandomForest), 2 candidates, 2 folds, n_jobs=2", fontsize=10)
ax.legend(loc="center right", frameon=False)
ax.spines[["top", "right"]].set_visible(False)
fig.tight_layout()

# %%
# The plain search climbs by several copies of X while its workers hold their
# training-set copies (and the float32 copies the forest makes of them). The
# mapped search adds a quarter to a half of that, much of it the pages of its
# float32 file that the workers read (page cache, which the kernel can
# reclaim). Its anonymous memory, printed below, does not grow with X: under
# 10 MB both on the full-size X (24 MB) and on the small X of a quick
# documentation build (8 MB).

# %%
# Peaks above the start
# ---------------------
# ``shm_used`` is the space used in ``/dev/shm``, where joblib's automatic
# memmapping may put the plain X to share it with the workers (RAM that shows
# in no process until it maps it).
for name, monitor, seconds in (
    ("plain", plain, plain_s),
    ("skmemmap", mapped, mapped_s),
):
    peaks = {
        kind: monitor.peak_above_baseline(kind) / 2**20
        for kind in ("pss", "anon", "shm_used")
    }
    print(
        f"{name:<9} PSS +{peaks['pss']:6.1f} MB "
        f"({peaks['pss'] * 2**20 / X.nbytes:.1f}x X)"
        f"  anon +{peaks['anon']:6.1f} MB  /dev/shm +{peaks['shm_used']:5.1f} MB"
        f"  {seconds:5.1f} s"
    )

# The forest converts float64 X to float32 itself, so both searches fit the
# same trees on the same numbers.
same = np.array_equal(
    plain_search.cv_results_["mean_test_score"],
    mapped_search.cv_results_["mean_test_score"],
)
print("Same scores:", same)
