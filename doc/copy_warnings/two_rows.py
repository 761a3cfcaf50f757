import numpy as np

import skmemmap

X_mm = skmemmap.memmap(np.random.default_rng(0).standard_normal((1_000, 20)))
rows = X_mm[[3, 1]]  # a copy of 320 bytes: recorded, not worth a warning
