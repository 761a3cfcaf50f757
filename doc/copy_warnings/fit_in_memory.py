import numpy as np
from sklearn.linear_model import LogisticRegression

import skmemmap

rng = np.random.default_rng(0)
X = rng.standard_normal((50_000, 20))  # float64 C: what LogisticRegression reads
y = (X[:, 0] > 0).astype(int)

skmemmap.MemmapEstimator(LogisticRegression()).fit(X, y)
