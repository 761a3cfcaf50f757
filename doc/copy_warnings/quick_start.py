import numpy as np
from sklearn.ensemble import RandomForestClassifier
from sklearn.model_selection import GridSearchCV

import skmemmap

rng = np.random.default_rng(0)
X = rng.standard_normal((50_000, 20))
y = (X[:, 0] + rng.standard_normal(50_000) > 0).astype(int)

X_mm = skmemmap.memmap(X, dtype="float32", order="F")  # forests read float32
search = GridSearchCV(
    skmemmap.MemmapEstimator(RandomForestClassifier(n_estimators=10)),
    {"estimator__max_depth": [4, 8]},
    cv=skmemmap.ContiguousKFold(2),
    n_jobs=2,
)
search.fit(X_mm, y)  # every fold, in every worker, is a view of one file
