"""
Will it fit? The forecast against the measured peak
===================================================

:func:`skmemmap.forecast` says how much memory a fit will take before it
runs, from X's shape alone. Here it is checked against measurement:
configurations of the bench (plain scikit-learn on in-memory X and skmemmap
on a mapped X) run under a :class:`skmemmap.MemoryMonitor`, and each measured
peak is drawn against the forecast made for it.
``python benchmarks/forecast_accuracy.py`` does the same at 305 MB and fails
on a miss.
"""

import os
import tempfile
import warnings

import matplotlib.pyplot as plt
import numpy as np
from sklearn.ensemble import RandomForestClassifier
from sklearn.model_selection import GridSearchCV

import skmemmap
from skmemmap._audit import _honest_allocator, _settle
from skmemmap._bench import _write_dataset, run_bench, run_one
from skmemmap._forecast import (
    ABSOLUTE_TOLERANCE,
    RELATIVE_TOLERANCE,
    compare_with_bench,
)

# When the documentation is built (SKMEMMAP_DOC_QUICK=1): small data, and
# five ``n_jobs=1`` configurations (`GridSearchCV` over a forest and over
# `LogisticRegression`, `cross_val_predict` over extra-trees). Otherwise the
# bench's quick grid (the headline's forest search at ``n_jobs=2``, 2 and 5
# folds) at 40,000 x 200.
QUICK = os.environ.get("SKMEMMAP_DOC_QUICK") == "1"

# %%
# A forecast, before any data exists
# ----------------------------------
# The bench's forest search (5 trees of depth 8, 2 folds, ``n_jobs=2``), at
# the size of this example.
n_samples, n_features = (10_000, 100) if QUICK else (40_000, 200)
search = GridSearchCV(
    RandomForestClassifier(n_estimators=5, max_depth=8),
    {"max_features": ["sqrt", 0.2]},
    cv=2,
    n_jobs=2,
)
print(skmemmap.forecast(search, (n_samples, n_features)))

# %%
# Measure the bench's grid
# ------------------------
# Each configuration runs under the bench's runner (see ``python -m skmemmap
# bench``), which times and monitors one search. At full size each runs in a
# fresh process, twice (at full size and at 1,000 rows, so that what does not
# grow with X cancels out). When the documentation is built, the
# ``n_jobs=1`` configurations run in this process instead, with the
# allocator's mmap threshold fixed so that a freed copy is not reused unseen
# by the next run. The dataset goes to a temporary folder removed at the end.
if QUICK:
    with tempfile.TemporaryDirectory() as folder, _honest_allocator() as libc:
        x_path, y_path = _write_dataset(folder, n_samples, n_features)
        measured = []
        for workload, mode, folds in [
            ("rf", "plain", 2),
            ("rf", "skmemmap", 2),
            ("logreg", "plain", 5),
            ("logreg", "skmemmap", 5),
            ("cvp", "plain", 5),
        ]:
            _settle(libc)
            spec = dict(workload=workload, mode=mode, n_jobs=1, folds=folds)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # the runs report numbers
                measured.append(
                    run_one(
                        {**spec, "quick": True, "folder": folder, "x_path": x_path}
                        | {"y_path": y_path}
                    )
                )
    runs = {
        "shape": [n_samples, n_features],
        "x_nbytes": n_samples * n_features * 8,
        "quick": True,
        "baseline_rows": 0,
        "runs": measured,
    }
else:
    runs = run_bench(
        n_samples=n_samples,
        n_features=n_features,
        quick=True,
        folds=(2, 5),
        progress=lambda line: None,
    )
rows = compare_with_bench(runs)

# %%
# Forecast against measured
# -------------------------
# Peak extra committed memory (anonymous memory of the process tree plus
# ``/dev/shm``), in copies of X. The grey band is the tolerance of
# ``benchmarks/forecast_accuracy.py``: 25% of the measured peak or 0.15 x X,
# whichever is larger.
fig, ax = plt.subplots(figsize=(6, 5))
top = 1.15 * max(max(r["forecast_x"], r["measured_x"]) for r in rows)
line = np.linspace(0, top, 50)
band = np.maximum(RELATIVE_TOLERANCE * line, ABSOLUTE_TOLERANCE)
ax.fill_between(line, line - band, line + band, color="0.9", label="tolerance")
ax.plot(line, line, color="0.4", lw=0.8, ls="--", label="forecast = measured")
for mode, color, marker in (("plain", "#c0504d", "o"), ("skmemmap", "#4f81bd", "s")):
    chosen = [r for r in rows if r["mode"] == mode]
    ax.scatter(
        [r["forecast_x"] for r in chosen],
        [r["measured_x"] for r in chosen],
        color=color,
        marker=marker,
        label=mode,
        zorder=3,
    )
    for r in chosen:
        ax.annotate(
            f"{r['workload']} j={r['n_jobs']} k={r['folds']}",
            (r["forecast_x"], r["measured_x"]),
            fontsize=7,
            xytext=(4, -10),
            textcoords="offset points",
        )
ax.set_xlim(0, top)
ax.set_ylim(0, top)
ax.set_xlabel("forecast (copies of X)")
ax.set_ylabel("measured (copies of X)")
ax.set_title(
    f"Peak extra committed memory, X = {n_samples:,} x {n_features} float64",
    fontsize=10,
)
ax.legend(loc="upper left", frameon=False, fontsize=8)
fig.tight_layout()

# %%
# The table
# ---------
# The error is forecast minus measured, in copies of X.
for r in rows:
    print(
        f"{r['workload']:<6} {r['mode']:<8} n_jobs={r['n_jobs']} folds={r['folds']:>2}"
        f"  forecast {r['forecast_x']:5.2f}  measured {r['measured_x']:5.2f}"
        f"  error {r['forecast_x'] - r['measured_x']:+.2f}"
        f"  {'ok' if r['ok'] else 'MISS'}"
    )
