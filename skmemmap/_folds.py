"""KFold's fold sizes and its n_splits check: shared by the splitter, shuffle
and the disk accounting (one definition, and no import circle between them)."""

import numbers

import numpy as np

__all__ = ["check_n_splits", "fold_sizes"]


def check_n_splits(n_splits, owner="ContiguousKFold"):
    """Return ``n_splits`` as an int, or raise the error scikit-learn users expect."""
    if isinstance(n_splits, bool) or not isinstance(n_splits, numbers.Integral):
        raise ValueError(
            f"The number of folds must be of Integral type. {n_splits!r} of type "
            f"{type(n_splits).__name__} was passed. Pass an int, e.g. "
            f"{owner}(n_splits=2)."
        )
    n_splits = int(n_splits)
    if n_splits <= 1:
        raise ValueError(
            f"k-fold cross-validation requires at least one train/test split by "
            f"setting n_splits=2 or more, got n_splits={n_splits}."
        )
    return n_splits


def fold_sizes(n_samples, n_splits):
    """KFold's fold sizes: the first ``n_samples % n_splits`` folds get one more row."""
    sizes = np.full(n_splits, n_samples // n_splits, dtype=np.intp)
    sizes[: n_samples % n_splits] += 1
    return sizes
