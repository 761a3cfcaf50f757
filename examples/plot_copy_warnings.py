"""
Reading copy warnings
=====================

Every copy of X that skmemmap makes, or knows an estimator will make, is
reported as a :class:`skmemmap.CopyWarning` (a scikit-learn
``EfficiencyWarning``), once per cause and place. Each message has the same
four parts: **what** was copied and **how many MB**, **why**, **what to do
instead**, and how to silence it. This example triggers the common ones,
takes them apart, and shows how to filter them or turn them into errors.
"""

import warnings

import matplotlib.pyplot as plt
import numpy as np
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import Ridge

import skmemmap

rng = np.random.RandomState(0)
X = rng.standard_normal((20_000, 20))
y = (X[:, 0] > 0).astype(int)
X_mm = skmemmap.memmap(X)


def show(caught):
    """Print each warning's parts: what and size, why, remedy."""
    for w in caught:
        text = str(w.message).split(" Silence this warning")[0]
        what, _, rest = text.partition(": ")
        why, _, remedy = rest.partition(". ")
        print(f"WHAT  {what}\nWHY   {why}\nDO    {remedy}\n")


def catch(action):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", skmemmap.CopyWarning)
        action()
    return [w for w in caught if issubclass(w.category, skmemmap.CopyWarning)]


# %%
# Folds that cannot be views
# --------------------------
# :class:`skmemmap.ContiguousKFold` warns in the calling process, before any fit
# starts, when a training set is two blocks of rows (k > 2) ...
show(catch(lambda: list(skmemmap.ContiguousKFold(4).split(X_mm, y))))

# %%
# ... and when X is not a :class:`skmemmap.MemmapArray`, so that
# scikit-learn's indexing copies every fold.
show(catch(lambda: list(skmemmap.ContiguousKFold(2).split(X, y))))

# %%
# A selection with gaps
# ---------------------
# Small selections are copied in memory; large ones (above the
# ``gather_nbytes`` setting, 1 MB by default) are gathered once into a file
# that every process reuses, and the warning says which it did.
show(catch(lambda: X_mm[np.array([0, 10, 20])]))
show(catch(lambda: X_mm[rng.permutation(len(X_mm))]))

# %%
# Layout conversions and an estimator's own copies
# ------------------------------------------------
# :class:`skmemmap.MemmapEstimator` reports the conversion it makes (once per
# file) and the copies the estimator makes by itself, which no layout avoids.
forest = RandomForestClassifier(n_estimators=2, random_state=0)
caught_forest = catch(lambda: skmemmap.MemmapEstimator(forest).fit(X_mm, y))
show(caught_forest)
caught_ridge = catch(lambda: skmemmap.MemmapEstimator(Ridge()).fit(X_mm, y))
show(caught_ridge)

# %%
# Filtering
# ---------
# The warnings are ordinary Python warnings. Ignore all of them, or only those
# whose message starts with a given text:
with warnings.catch_warnings():
    warnings.filterwarnings(
        "ignore", message="Ridge makes its own copies", category=skmemmap.CopyWarning
    )
    skmemmap.MemmapEstimator(Ridge(alpha=2.0)).fit(X_mm, y)  # silent

# %%
# Raising
# -------
# In a test suite, make every copy an error: ``on_copy="raise"`` raises
# :class:`skmemmap.CopyError` for the copies MemmapEstimator makes or knows
# about, and ``warnings.simplefilter("error", skmemmap.CopyWarning)`` turns
# every CopyWarning into an exception.
try:
    skmemmap.MemmapEstimator(Ridge(), on_copy="raise").fit(X_mm, y)
except skmemmap.CopyError as exc:
    print("CopyError:", str(exc)[:90], "...")

with warnings.catch_warnings():
    warnings.simplefilter("error", skmemmap.CopyWarning)
    try:
        X_mm[np.array([3, 1, 2])]
    except skmemmap.CopyWarning as exc:
        print("CopyWarning raised:", str(exc)[:90], "...")
    # the copy-free path stays silent
    list(skmemmap.ContiguousKFold(2).split(X_mm, y))
    print("ContiguousKFold(2) on a MemmapArray: no warning")

# %%
# Sizes at a glance
# -----------------
# Every message carries its size, so copies can be ranked. The sizes of the
# ones above, as a multiple of X:
labels = ["forest: float64 -> float32 F", "Ridge: own copies"]
sizes = [
    skmemmap.layout_for(forest).target_dtype(X.dtype).itemsize / X.itemsize,
    skmemmap.own_copies(Ridge())[0],
]
plt.barh(labels, sizes)
plt.xlabel("extra memory in fit (x X)")
plt.title("What the warnings above cost")
plt.tight_layout()
