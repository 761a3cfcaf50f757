"""
cross_val_predict with ContiguousKFold
======================================

``cross_val_predict`` fits one model per fold and predicts the rows of its
test fold. With :class:`skmemmap.ContiguousKFold` (the indices of
``KFold(2)``) on a :class:`skmemmap.MemmapArray`, every training and test set
is a view of the file, and :class:`skmemmap.MemmapEstimator` gives the model X
in the layout it reads without a copy. The predictions are those of plain
scikit-learn.
"""

import os

import matplotlib.pyplot as plt
import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import ConfusionMatrixDisplay
from sklearn.model_selection import KFold, cross_val_predict

import skmemmap

QUICK = os.environ.get("SKMEMMAP_DOC_QUICK") == "1"
n_samples, n_features = (10_000, 20) if QUICK else (100_000, 50)

rng = np.random.RandomState(0)
X = rng.standard_normal((n_samples, n_features))
coef = rng.standard_normal(n_features)
y = np.digitize(X @ coef + rng.standard_normal(n_samples), [-2.0, 2.0])

# %%
# Plain scikit-learn, and skmemmap
# --------------------------------
# ``LogisticRegression`` reads float64 C-ordered X without copying it; X is
# mapped in that layout once.
model = LogisticRegression(max_iter=200)
print("LogisticRegression reads:", skmemmap.layout_for(model).describe())

plain = cross_val_predict(model, X, y, cv=KFold(2))

X_mm = skmemmap.memmap(X)
mapped = cross_val_predict(
    skmemmap.MemmapEstimator(model), X_mm, y, cv=skmemmap.ContiguousKFold()
)
print("Identical predictions:", np.array_equal(plain, mapped))

# %%
# The folds are views
# -------------------
# ``cross_val_predict`` needs index arrays (it checks that the test folds form
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
# Out-of-fold predictions
# -----------------------
ConfusionMatrixDisplay.from_predictions(y, mapped)
plt.title("cross_val_predict(MemmapEstimator(LogisticRegression()))")
plt.tight_layout()
