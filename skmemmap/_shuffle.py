"""shuffle: permute the rows of X once on disk, so contiguous folds are random samples.

Shuffled cross-validation folds over a memory map are random row gathers,
several times slower than sequential reads and copied for every fold. One
permutation written once, sequentially, turns every later contiguous fold
into a random sample that is still a view of a file.
"""

import mmap

import numpy as np
from sklearn.utils import _safe_indexing, check_random_state
from sklearn.utils.validation import check_consistent_length

from skmemmap._array import MemmapArray, _row_taker, is_memmap_view
from skmemmap._chunked import is_chunked
from skmemmap._construct import memmap
from skmemmap._folder import session_folder
from skmemmap._folds import check_n_splits, fold_sizes
from skmemmap._mapped import _check_dtype, _check_shape, open_file
from skmemmap._npy import _write_new_npy
from skmemmap._split import num_samples

__all__ = ["shuffle"]


def shuffle(X, y=None, *, random_state=None, stratify=None, n_splits=2, folder=None):
    """Permute the rows of X once, into a new file, and y the same way.

    The permuted rows are written block by block (a few MB of RAM at most,
    whatever the size of X). Each block's rows are read in ascending file
    order, so the source file is read in sorted runs rather than by random
    jumps. The file X comes from is only read, never modified.

    Parameters
    ----------
    X : array-like of shape (n_samples,) or (n_samples, n_features)
        A :class:`~skmemmap.MemmapArray`, a :class:`~skmemmap.ChunkedArray`
        (its chunk files are read in place: no consolidated copy first), an
        ndarray (a :class:`numpy.memmap` included), or anything
        :func:`skmemmap.memmap` accepts (numeric pandas DataFrames, lists),
        which is first written to a file once.
    y : array-like of shape (n_samples,) or (n_samples, n_outputs), default=None
        Targets, permuted in memory like the rows of X. An ndarray stays an
        ndarray, a pandas Series stays a Series (its index permuted with its
        values), a list stays a list.
    random_state : int, RandomState instance or None, default=None
        Controls the permutation. Pass an int for reproducible output
        across multiple function calls.
    stratify : array-like of shape (n_samples,), default=None
        Class labels (usually ``y``). If given, rows are ordered so that each
        of the ``n_splits`` contiguous folds of
        :class:`~skmemmap.ContiguousKFold` holds every class in the same
        proportion as the whole, within one sample: in each fold, the count
        of each class differs from ``fold_size * class_fraction`` by at most
        one.
    n_splits : int, default=2
        The number of folds the stratified order is made for (ignored
        without ``stratify``).
    folder : str or path-like, default=None
        Base folder for the new file (see :func:`skmemmap.memmap`).

    Returns
    -------
    X_shuffled : MemmapArray of shape (n_samples,) or (n_samples, n_features)
        The rows of X in the new order, with X's dtype and memory order, in a
        new file owned by this process.
    y_shuffled : array-like of shape (n_samples,) or (n_samples, n_outputs)
        ``y`` in the same order. Only returned if ``y`` is not None.

    See Also
    --------
    ContiguousKFold : Contiguous folds, views of the file with 2 folds.
    sklearn.utils.shuffle : The in-memory equivalent.

    Notes
    -----
    ``X_shuffled[i]`` is ``X[perm[i]]`` and ``y_shuffled[i]`` is
    ``y[perm[i]]`` for one permutation ``perm``.

    Examples
    --------
    >>> import numpy as np, skmemmap
    >>> X = np.arange(8.0).reshape(4, 2)
    >>> y = np.array([0, 1, 2, 3])
    >>> X_s, y_s = skmemmap.shuffle(X, y, random_state=0)
    >>> type(X_s).__name__, X_s.dtype
    ('MemmapArray', dtype('float64'))
    >>> bool((X_s[:, 0] == 2 * y_s).all())
    True
    >>> labels = np.array([0, 0, 0, 0, 1, 1, 1, 1])
    >>> X_s, y_s = skmemmap.shuffle(np.eye(8), labels, stratify=labels,
    ...                             random_state=0)
    >>> int(y_s[:4].sum()), int(y_s[4:].sum())  # two of each class per fold
    (2, 2)
    """
    n_splits = check_n_splits(n_splits, owner="shuffle")
    if y is not None:
        check_consistent_length(X, y)
    n_samples = num_samples(X)
    rng = check_random_state(random_state)
    if stratify is None:
        perm = rng.permutation(n_samples)
    else:
        perm = _stratified_order(stratify, n_samples, n_splits, rng)
    if is_chunked(X):
        X_shuffled = _write_chunk_rows(X, perm, folder)
    else:
        if not isinstance(X, np.ndarray):
            X = memmap(X, folder=folder)  # DataFrames, lists: written once, by blocks
        _check_dtype(X.dtype)
        _check_shape(X.shape)
        X_shuffled = _write_rows(X, perm, folder)
    if y is None:
        return X_shuffled
    if isinstance(y, MemmapArray):
        y = y.view(np.ndarray)  # permuted in memory, not gathered into a file
    elif is_chunked(y):
        y = y._read()  # permuted in memory, as a MemmapArray y is
    return X_shuffled, _safe_indexing(y, perm)


def _order_of(X):
    """X's memory order, as the file it comes from has it where there is one."""
    if is_memmap_view(X):
        return X._skm_file.order
    if X.ndim > 1 and (
        np.isfortran(X) or (not X.flags.c_contiguous and X.strides[0] < X.strides[1])
    ):
        return "F"
    return "C"


def _file_backed(X):
    """Whether X's memory is a file mapping (reads then cost I/O, not just RAM)."""
    if is_memmap_view(X):
        return True
    base = X
    while base is not None:
        if isinstance(base, (np.memmap, mmap.mmap)):
            return True
        base = getattr(base, "base", None)
    return False


def _write_rows(X, perm, folder):
    """Write ``X[perm]`` block by block to a new file in X's dtype and order."""
    src = X.view(np.ndarray)  # plain numpy indexing: no gather files, no warnings
    order = _order_of(X)
    sorted_reads = _file_backed(X)

    if order == "F":
        get_block = _row_taker(src, perm, "F")  # column by column, in place
    else:

        def get_block(rows, cols):
            idx = perm[rows]
            take = (idx,) if cols is None else (idx, cols)
            if not sorted_reads:
                return src[take]
            # Read the block's rows in ascending file order (forward runs the
            # kernel's readahead serves), then put each where it belongs.
            ascending = np.argsort(idx, kind="stable")
            part = src[(idx[ascending], *take[1:])]
            block = np.empty_like(part)
            block[ascending] = part
            return block

    cache_folder = session_folder(folder)
    path = _write_new_npy(cache_folder, get_block, X.shape, X.dtype, order)
    return open_file(path, cache_folder=cache_folder, owned=True).full()


def _write_chunk_rows(X, perm, folder):
    """Write ``X[perm]`` of a chunk list block by block to a new C-order file.

    Each block's rows are read chunk by chunk, in ascending order within each
    chunk, then put in their places.
    """

    def get_block(rows, cols):
        idx = perm[rows]
        ascending = np.argsort(idx, kind="stable")
        part = X[idx[ascending]]
        rest = () if cols is None else (cols,)
        if is_chunked(part):
            part = part._read(rest)
        else:
            part = part.view(np.ndarray)[(slice(None), *rest)]
        block = np.empty_like(part)
        block[ascending] = part
        return block

    cache_folder = session_folder(folder)
    path = _write_new_npy(cache_folder, get_block, X.shape, X.dtype, "C")
    return open_file(path, cache_folder=cache_folder, owned=True).full()


def _stratified_order(stratify, n_samples, n_splits, rng):
    """A permutation whose contiguous KFold folds are stratified within one sample.

    Fold ``j`` (``s_j`` rows) should hold ``s_j * n_c / n`` rows of class
    ``c``. Each count is rounded down, then the rows left over are handed
    out one per (class, fold) cell: each class puts its leftovers in the
    folds with the most room left (Ryser's construction of a 0-1 matrix with
    given row and column sums, which exists here because the fractional parts
    already form one). Every count is thus the exact share rounded down or
    up by one.
    """
    labels = np.asarray(stratify)
    n_labels = labels.shape[0] if labels.ndim else 0
    if n_labels != n_samples:
        raise ValueError(
            f"stratify has {n_labels} samples but X "
            f"has {n_samples}: pass the class labels of X's rows, usually "
            f"stratify=y."
        )
    if n_splits > n_samples:
        raise ValueError(
            f"Cannot have number of splits n_splits={n_splits} greater than the "
            f"number of samples: n_samples={n_samples}."
        )
    if labels.ndim > 1:  # multilabel rows: each distinct row is a class
        _, codes = np.unique(labels.reshape(n_samples, -1), axis=0, return_inverse=True)
    else:
        _, codes = np.unique(labels, return_inverse=True)
    codes = codes.reshape(-1)
    counts = np.bincount(codes).astype(np.int64)
    sizes = fold_sizes(n_samples, n_splits).astype(np.int64)
    exact = counts[:, None] * sizes[None, :]  # n_samples times the ideal counts
    alloc = exact // n_samples
    room = sizes - alloc.sum(axis=0)
    for c in np.argsort(alloc.sum(axis=1) - counts, kind="stable"):
        left = int(counts[c] - alloc[c].sum())
        if not left:
            continue
        # Most room first; among equals, the larger fractional share, then chance.
        cols = np.lexsort((rng.random(n_splits), -(exact[c] % n_samples), -room))
        cols = cols[:left]
        alloc[c, cols] += 1
        room[cols] -= 1
    if room.any():  # cannot happen (see the docstring)
        raise RuntimeError("stratified fold allocation failed; please report it.")
    # Rows grouped by class, in random order within each class...
    by_class = np.lexsort((rng.random(n_samples), codes))
    # ...the first alloc[c, 0] of class c go to fold 0, the next to fold 1, ...
    fold_of = np.repeat(np.tile(np.arange(n_splits), len(counts)), alloc.reshape(-1))
    # ...and each fold's rows in random order.
    return by_class[np.lexsort((rng.random(n_samples), fold_of))]
