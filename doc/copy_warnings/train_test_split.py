import numpy as np
from sklearn.model_selection import train_test_split

import skmemmap

rng = np.random.default_rng(0)
X = skmemmap.memmap(rng.standard_normal((100_000, 20)))
y = rng.integers(0, 2, 100_000)

X_train, X_test, y_train, y_test = train_test_split(X, y, random_state=0)
