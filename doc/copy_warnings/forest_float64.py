import numpy as np
from sklearn.ensemble import RandomForestClassifier
from sklearn.model_selection import GridSearchCV

import skmemmap

rng = np.random.default_rng(0)
X = skmemmap.memmap(rng.standard_normal((50_000, 20)))  # float64 C
y = (X[:, 0] > 0).astype(int)

search = GridSearchCV(
    skmemmap.MemmapEstimator(RandomForestClassifier(n_estimators=10)),
    {"estimator__max_depth": [4, 8]},
    cv=skmemmap.ContiguousKFold(2),
    n_jobs=2,
)
search.fit(X, y)
