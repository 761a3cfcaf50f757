"""
Reading copy warnings
=====================

Every copy of X that skmemmap makes, or knows an estimator will make, is
recorded; the ones worth reading become one :class:`skmemmap.CopyWarning`
per cause per call, at your line, when the call ends. The first line of a
message says **what** was copied, **how much** in total, and **the one
remedy**; the second line says **why**. This example triggers the common
ones, follows their remedies, and ranks the causes of a search by the MB
its copies add up to.
"""

import warnings

import matplotlib.pyplot as plt
import numpy as np
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import Ridge
from sklearn.model_selection import GridSearchCV

import skmemmap

rng = np.random.RandomState(0)
X = rng.standard_normal((40_000, 20))  # 6.1 MB of float64
y = X @ rng.standard_normal(20)
X_mm = skmemmap.memmap(X)


def first_lines(action):
    """Run ``action``; print the first line of each CopyWarning it gave."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", skmemmap.CopyWarning)
        action()
    for w in caught:
        if issubclass(w.category, skmemmap.CopyWarning):
            print(str(w.message).splitlines()[0], "\n")


# %%
# A layout conversion
# -------------------
# A forest reads float32: a float64 map is converted once, into a file that
# every later fit on the same X reuses. The remedy maps X in that layout.
forest = skmemmap.MemmapEstimator(RandomForestClassifier(n_estimators=2, max_depth=3))
first_lines(lambda: forest.fit(X_mm, y > 0))
first_lines(lambda: forest.fit(X_mm, y > 0))  # the file is reused: nothing to say
X_32 = skmemmap.memmap(X, dtype="float32", order="F")  # the remedy
first_lines(lambda: forest.fit(X_32, y > 0))

# %%
# A five-fold search
# ------------------
# Two causes, two warnings, at the ``search.fit`` line: the middle folds'
# training sets gathered into files (the splitter's notice and the gathers
# are one cause), and `Ridge`'s own copies (it centers a copy of X), which no
# input and no parameter avoids.
search = GridSearchCV(
    skmemmap.MemmapEstimator(Ridge()),
    {"estimator__alpha": [0.1, 1.0, 10.0]},
    cv=skmemmap.ContiguousKFold(5),
)
with skmemmap.copy_report() as search_report:  # kept for the last figure
    first_lines(lambda: search.fit(X_mm, y))

# %%
# Small copies are recorded, not warned about
# -------------------------------------------
# Copies below the ``warn_nbytes`` setting (1 MB) stay silent;
# :func:`skmemmap.copy_report` still records them.
with skmemmap.copy_report() as report:
    first_lines(lambda: X_mm[[3, 1]])
print(report)

# %%
# Strict mode
# -----------
# ``on_copy="raise"`` refuses every avoidable copy, naming its remedy, and
# runs once the remedy is followed; a copy nothing avoids (Ridge centering
# its copy of X) is warned about, not refused.
try:
    skmemmap.MemmapEstimator(Ridge(solver="svd"), on_copy="raise").fit(X_mm, y)
except skmemmap.CopyError as exc:
    print("CopyError:", str(exc).splitlines()[0], "\n")
strict = skmemmap.MemmapEstimator(Ridge(solver="cholesky"), on_copy="raise")
first_lines(lambda: strict.fit(X_mm, y))

# %%
# The causes of a search, ranked
# ------------------------------
# The report of the five-fold search above, as MB per cause: what the first
# line of each of its warnings adds up to. (All of these copies are
# skmemmap's side of the comparison, hence one colour: skmemmap blue.)
causes = list(search_report.causes)
mb = [search_report.causes[c]["nbytes"] / 2**20 for c in causes]
fig, ax = plt.subplots(figsize=(6.4, 2.4))
ax.barh(causes, mb, color="#4f81bd")
ax.set_xlabel("MB copied in the search, all folds and candidates")
ax.set_title(f"GridSearchCV, 5 folds, 3 candidates, X = {X.nbytes / 2**20:.1f} MB")
fig.tight_layout()
# %%
# `Ridge`'s own copies dominate (its training set's size, for 16 fits); the
# gathered middle folds, written once on disk, are a fraction of that.
