"""
Time vs peak memory: n_jobs x folds x {plain, skmemmap}
=======================================================

One grid search over a random forest, run for every combination of
``n_jobs`` in (1, 2), 2 or 5 folds, and plain scikit-learn (in-memory X,
``KFold``) or skmemmap (X mapped in the forest's layout,
:class:`skmemmap.ContiguousKFold`), each under a
:class:`skmemmap.MemoryMonitor`. Each point is one run: its wall time and the
peak memory it added to the process tree.

This is a small in-process version of ``python -m skmemmap bench``, which
runs each measurement in a fresh process, on more data and more workloads
(see the Performance page).
"""

import ctypes
import ctypes.util
import os
import time
import warnings

import matplotlib.pyplot as plt
import numpy as np
from sklearn.ensemble import RandomForestClassifier
from sklearn.model_selection import GridSearchCV, KFold

import skmemmap

QUICK = os.environ.get("SKMEMMAP_DOC_QUICK") == "1"
# Enough rows that a copy stands out; few, shallow trees to keep it quick.
n_samples, n_features = (20_000, 40) if QUICK else (60_000, 60)
n_trees, depth = (2, 3) if QUICK else (4, 6)

rng = np.random.RandomState(0)
X = rng.standard_normal((n_samples, n_features))
y = (X[:, 0] - X[:, 1] + 0.5 * rng.standard_normal(n_samples) > 0).astype(int)
X_mm = skmemmap.memmap(X, dtype=np.float32, order="F")
forest = RandomForestClassifier(n_estimators=n_trees, max_depth=depth, random_state=0)
grid = {"max_features": ["sqrt", 0.2]}
print(f"X: {X.shape} float64, {X.nbytes / 2**20:.0f} MB")

# %%
# Measuring a run
# ---------------
# The memory of a run is the PSS summed over this process and its workers, in
# which ``/dev/shm`` files that a worker maps are replaced by the space used in
# ``/dev/shm``: joblib's automatic memmapping may put the plain X there, and
# that RAM must count once, mapped or not.


# glibc raises its mmap threshold after a large block is freed, so a later
# copy of the same size comes from the heap, which this process already holds:
# the second run in one process would then show no growth for a copy. Fixing
# the threshold at its default (128 KiB) and trimming the heap before each run
# makes every run's copies visible (as skmemmap.audit does).
try:
    libc = ctypes.CDLL(ctypes.util.find_library("c"))
    libc.mallopt(-3, 128 * 1024)  # M_MMAP_THRESHOLD
except (OSError, AttributeError, TypeError):  # not glibc
    libc = None


def ram(sample):
    return sample.pss - (sample.pss_shmem or 0) + (sample.shm_used or 0)


def run(mode, n_jobs, folds):
    if mode == "plain":
        data, cv = X, KFold(folds)
    else:
        data, cv = X_mm, skmemmap.ContiguousKFold(folds)
    search = GridSearchCV(forest, grid, cv=cv, n_jobs=n_jobs)
    if libc is not None:
        libc.malloc_trim(0)
    with skmemmap.MemoryMonitor(interval=0.02) as monitor:
        start = time.perf_counter()
        search.fit(data, y)
        seconds = time.perf_counter() - start
    peak = max(ram(s) for s in monitor.samples_) - ram(monitor.baseline_)
    return seconds, peak


# Start loky's workers once, so that no run pays for them.
_ = GridSearchCV(forest, grid, cv=KFold(2), n_jobs=2).fit(X[:200], y[:200])

# The warnings skmemmap raises for 5 folds are the subject of another example.
warnings.simplefilter("ignore", skmemmap.CopyWarning)

results = []
for n_jobs in (1, 2):
    for folds in (2, 5):
        for mode in ("plain", "skmemmap"):
            seconds, peak = run(mode, n_jobs, folds)
            results.append((mode, n_jobs, folds, seconds, peak))
            print(
                f"{mode:<9} n_jobs={n_jobs} folds={folds}: {seconds:5.1f} s, "
                f"peak +{peak / 2**20:6.1f} MB ({peak / X.nbytes:.1f}x X)"
            )

# %%
# The figure
# ----------
# Plain scikit-learn's peak grows with the number of workers (each holds its
# own copy of a training set) and with the folds' size; skmemmap's stays near
# the cost of the forest itself. skmemmap's numbers include the pages of its
# files that the run maps (page cache, which the kernel can reclaim, unlike a
# copy): with 5 folds, the three middle training sets gathered once into files
# that both candidates and both workers reuse.
fig, ax = plt.subplots(figsize=(7, 4.5))
for mode, marker in (("plain", "o"), ("skmemmap", "s")):
    rows = [r for r in results if r[0] == mode]
    ax.scatter(
        [r[3] for r in rows],
        [r[4] / 2**20 for r in rows],
        marker=marker,
        s=60,
        label=mode,
    )
    for _, n_jobs, folds, seconds, peak in rows:
        ax.annotate(
            f"{n_jobs} job{'s' if n_jobs > 1 else ''}, {folds} folds",
            (seconds, peak / 2**20),
            xytext=(5, 5 if mode == "plain" else -12),
            textcoords="offset points",
            fontsize=8,
        )
ax.axhline(X.nbytes / 2**20, color="grey", linestyle=":", label="size of X")
ax.set_xlabel("wall time (s)")
ax.set_ylabel("peak memory above the start (MB)")
ax.set_title("GridSearchCV(RandomForestClassifier), 2 candidates")
ax.legend()
fig.tight_layout()
