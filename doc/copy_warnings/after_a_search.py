import numpy as np
from sklearn.linear_model import Ridge
from sklearn.model_selection import GridSearchCV, learning_curve

import skmemmap

rng = np.random.default_rng(0)
X = skmemmap.memmap(rng.standard_normal((100_000, 20)))
y = X @ rng.standard_normal(20)

search = GridSearchCV(
    skmemmap.MemmapEstimator(Ridge()),
    {"estimator__alpha": [0.1, 1.0]},
    cv=skmemmap.ContiguousKFold(5),
    n_jobs=2,
)
search.fit(X, y)
# A later call warns about its own copies only, at its own line.
model = skmemmap.MemmapEstimator(Ridge(copy_X=False))
learning_curve(model, X, y, cv=skmemmap.ContiguousKFold(2), n_jobs=2)
