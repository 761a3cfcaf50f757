"""Disk that skmemmap's derived files (layout siblings, gathers) occupy.

A k-fold search over a MemmapArray adds files next to X's file: one layout
sibling if the estimator reads another dtype or order, and one gather per
middle training set (folds ``1 .. k-2``: the first and last training sets are
contiguous row ranges, so views). :func:`disk_usage` says what exists now;
:func:`kfold_disk_bound` what a k-fold search can add at most.

Why no layout needs less disk for the same rows in the same order: training
set ``i`` is ``B_0 .. B_{i-1} B_{i+1} .. B_{k-1}`` (``B_j`` the ``j``-th
block of rows). Every middle one starts with ``B_0`` and ends with
``B_{k-1}``, so no suffix of one is a prefix of another, nor of X itself
(``B_0 .. B_{k-1}``) and vice versa: a file holding each as one contiguous,
uniformly strided run has to hold each middle one in full. Hence X (or its
sibling) plus ``(k-2)`` gathers of ``(k-1)/k`` of X each. Only a different
row order (for example rotating training set ``i`` to start at ``B_{i+1}``
over a doubled file) would share rows, and that changes results.
"""

import os

import numpy as np

from skmemmap._array import is_memmap_view, order_of
from skmemmap._folds import check_n_splits, fold_sizes
from skmemmap._npy import header_bytes

__all__ = ["disk_usage", "family_files", "kfold_disk_bound"]


def family_files(X):
    """The sibling and gather files of X's family that exist now.

    Parameters
    ----------
    X : MemmapArray or array-like
        A view of a skmemmap file. Anything else has no such files.

    Returns
    -------
    files : dict of str to int
        Path of each sibling or gather file, to its size in bytes. Files
        still being written (under a temporary name) are not included.

    Examples
    --------
    >>> import numpy as np, skmemmap
    >>> from skmemmap._disk import family_files
    >>> X = skmemmap.memmap(np.ones((4, 3)))
    >>> family_files(X)
    {}
    """
    if not is_memmap_view(X):
        return {}
    mapped = X._skm_file
    if not mapped.cache_folder:
        return {}
    prefix = f"{mapped.family}."
    files = {}
    try:
        entries = list(os.scandir(mapped.cache_folder))
    except OSError:  # the folder was removed: nothing left on disk
        return {}
    for entry in entries:
        if not (entry.name.startswith(prefix) and entry.name.endswith(".npy")):
            continue
        try:
            if entry.is_file(follow_symlinks=False):
                files[entry.path] = entry.stat(follow_symlinks=False).st_size
        except OSError:  # removed while scanning
            continue
    return files


def disk_usage(X):
    """Bytes of the sibling and gather files of X's family that exist now.

    The root file X comes from is not counted: it is the data (X itself is
    counted when it is a sibling: ``load(path, dtype=np.float32)``). What is
    counted is what
    skmemmap made from it (in this process or any other using the same
    folder): layout siblings and gathered training sets. They are removed
    when the last array of the family is released by the process that
    created the folder.

    Parameters
    ----------
    X : MemmapArray or array-like
        A view of a skmemmap file (any view of the family: the original X,
        a fold, a sibling). Anything else: 0.

    Returns
    -------
    nbytes : int

    See Also
    --------
    kfold_disk_bound : The most a k-fold search can add.

    Examples
    --------
    >>> import numpy as np, skmemmap
    >>> from skmemmap._disk import disk_usage
    >>> X = skmemmap.memmap(np.ones((6, 2)))
    >>> disk_usage(X)
    0
    >>> X32 = skmemmap.memmap(X, dtype=np.float32)  # a float32 sibling
    >>> disk_usage(X) == 128 + 6 * 2 * 4  # header + data
    True
    """
    return sum(family_files(X).values())


def kfold_disk_bound(X, n_splits, dtype=None, order=None):
    """The most disk a k-fold search over X adds, in bytes.

    With :class:`~skmemmap.ContiguousKFold` (or ``KFold`` without shuffle),
    training sets ``1 .. k-2`` are not contiguous and are gathered once each
    into a file, in the layout the estimator reads; a conversion of X to that
    layout adds one sibling. That is about ``Xc * (k-2)(k-1)/k + Xc``, ``Xc``
    being X's size in the estimator's layout (and ``Xc`` less if X is
    already in that layout). This function gives the exact figure, headers
    included, for KFold's fold sizes.

    The bound holds when X is mapped in the estimator's layout, or fitted by
    a :class:`~skmemmap.MemmapEstimator` inside the search: its training sets
    are gathered straight into the layout it reads, and the sibling serves
    the folds that are views.

    Parameters
    ----------
    X : MemmapArray or array-like of shape (n_samples, ...)
        The data searched over.
    n_splits : int
        Number of folds, at least 2.
    dtype : dtype, default=None
        The dtype the estimator reads (e.g. ``layout_for(est).dtype``).
        ``None``: X's dtype.
    order : {"C", "F"}, default=None
        The memory order the estimator reads. ``None``: X's.

    Returns
    -------
    nbytes : int

    Examples
    --------
    >>> import numpy as np, skmemmap
    >>> from skmemmap._disk import kfold_disk_bound
    >>> X = skmemmap.memmap(np.ones((10, 2)))
    >>> kfold_disk_bound(X, 2)  # two folds: views only
    0
    >>> kfold_disk_bound(X, 5) == 3 * (128 + 8 * 2 * 8)  # 3 gathers of 8 rows
    True
    """
    n_splits = check_n_splits(n_splits, owner="kfold_disk_bound")
    shape = tuple(np.shape(X))
    if not shape:
        raise ValueError("X must have at least one dimension (rows).")
    x_dtype = np.dtype(getattr(X, "dtype", np.float64))
    dtype = x_dtype if dtype is None else np.dtype(dtype)
    x_order = order_of(X if hasattr(X, "flags") else np.asarray(X))
    order = x_order if order is None else order
    if order not in ("C", "F"):
        raise ValueError(f"order must be 'C', 'F' or None, got {order!r}.")
    n_samples = shape[0]
    if n_splits > n_samples:
        raise ValueError(
            f"Cannot have number of splits n_splits={n_splits} greater than the "
            f"number of samples: n_samples={n_samples}."
        )
    row_nbytes = int(np.prod(shape[1:], dtype=np.int64)) * dtype.itemsize

    def file_nbytes(n_rows):
        return len(header_bytes((n_rows, *shape[1:]), dtype, order)) + (
            n_rows * row_nbytes
        )

    sizes = fold_sizes(n_samples, n_splits)
    total = sum(file_nbytes(n_samples - int(s)) for s in sizes[1:-1])
    if dtype != x_dtype or (len(shape) > 1 and order != x_order):
        # The sibling converts X's whole file, not only these rows.
        root_rows = X._skm_file.shape[0] if is_memmap_view(X) else n_samples
        total += file_nbytes(root_rows)
    return total
