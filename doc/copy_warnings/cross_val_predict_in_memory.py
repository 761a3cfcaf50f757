import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import cross_val_predict

import skmemmap

rng = np.random.default_rng(0)
X = rng.standard_normal((50_000, 20))  # in memory, not mapped
y = (X[:, 0] > 0).astype(int)

model = skmemmap.MemmapEstimator(LogisticRegression())
pred = cross_val_predict(model, X, y, cv=skmemmap.ContiguousKFold(2), n_jobs=2)
