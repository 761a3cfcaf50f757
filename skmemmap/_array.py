"""MemmapArray: an ndarray that lives once in a read-only ``.npy`` file.

Three rules make it useful inside scikit-learn:

* Indexing rows with a consecutive integer array (what ``_safe_indexing``
  does for every contiguous CV fold) returns a *view* of the file, not a copy.
* Pickling sends a reference to the file (path, byte offset, shape, strides,
  dtype), never the data, so joblib workers map the same pages.
* Anything that is not a view of the file (a copy, an arithmetic result) is
  a plain :class:`numpy.ndarray`.
"""

import contextlib
import functools
import os

import numpy as np

from skmemmap._dask import send_by_reference
from skmemmap._mapped import (
    _drop_pages,
    _rebuild,
    _short_hash,
    open_derived,
    register_array_type,
)
from skmemmap._npy import _write_npy_once
from skmemmap._signal import CopyEvent, emit, in_cv_fold
from skmemmap._utils import layout_name

__all__ = ["MemmapArray", "is_memmap_view"]


def _demote(result):
    """Turn results that are not views of a file into plain ndarrays."""
    if type(result) is MemmapArray and result._skm_file is None:
        return result.view(np.ndarray)
    if isinstance(result, tuple):
        return tuple(_demote(r) for r in result)
    if isinstance(result, list):
        return [_demote(r) for r in result]
    return result


def _plain(x):
    return x.view(np.ndarray) if isinstance(x, MemmapArray) else x


def is_memmap_view(X):
    """Return True if ``X`` is a :class:`MemmapArray` backed by its file.

    Parameters
    ----------
    X : object
        Anything.

    Returns
    -------
    bool

    See Also
    --------
    MemmapArray
        The array whose row slices are views.
    ContiguousKFold
        Folds that are views of a MemmapArray.

    Examples
    --------
    >>> import numpy as np, skmemmap
    >>> X = skmemmap.memmap(np.ones((4, 2)))
    >>> skmemmap.is_memmap_view(X[1:3]), skmemmap.is_memmap_view(X + 1)
    (True, False)
    """
    return isinstance(X, MemmapArray) and X._skm_file is not None


def file_of(X):
    """The mapped file X is a view of, or None if X is not a view of a file."""
    return X._skm_file if is_memmap_view(X) else None


class MemmapArray(np.ndarray):
    """A read-only ndarray backed by a ``.npy`` file, that stays a view through CV.

    Create one with :func:`skmemmap.memmap` (write an array to a file once) or
    :func:`skmemmap.load` (open an existing ``.npy`` file). It behaves like a
    read-only :class:`numpy.ndarray`, with three differences:

    * ``X[a:b]``, ``X[idx]`` and ``X[idx, ...]`` where ``idx`` is an integer
      array of consecutive ascending values, or a boolean mask selecting one
      contiguous run of rows, return views of the file. scikit-learn slices
      every cross-validation fold this way, so contiguous folds are not copied.
    * Any other row selection returns the rows numpy would return. Small
      selections are copied in memory; selections larger than the
      ``gather_nbytes`` setting are gathered once into a file that every
      process reuses. Both are recorded in :func:`~skmemmap.copy_report`,
      and warned about (:class:`~skmemmap.CopyWarning`) from the
      ``warn_nbytes`` setting (1 MB) up.
    * Pickling sends a reference to the file, never the data: joblib, loky,
      multiprocessing and dask workers get a view of the same file.

    Results computed from the data (arithmetic, ufuncs, ``astype``, ``copy``,
    reductions) are plain :class:`numpy.ndarray` objects.

    See Also
    --------
    memmap : Write an array to a file once and map it.
    load : Map an existing ``.npy`` file, or open chunk files in place.

    Examples
    --------
    >>> import numpy as np, skmemmap
    >>> X = skmemmap.memmap(np.arange(12.0).reshape(6, 2))
    >>> fold = X[np.arange(2, 5)]
    >>> type(fold).__name__, np.shares_memory(fold, X)
    ('MemmapArray', True)
    >>> type(X * 2).__name__
    'ndarray'
    """

    _skm_file = None

    def __new__(cls, *args, **kwargs):
        raise TypeError(
            "MemmapArray cannot be created directly; use skmemmap.memmap(X) or "
            "skmemmap.load(path)."
        )

    def __array_finalize__(self, obj):
        mapped = getattr(obj, "_skm_file", None)
        inside = mapped is not None and mapped.contains(self)
        self._skm_file = mapped if inside else None

    def __array_ufunc__(self, ufunc, method, *inputs, out=None, **kwargs):
        inputs = tuple(_plain(x) for x in inputs)
        if out is not None:
            kwargs["out"] = tuple(_plain(o) for o in out)
        return getattr(ufunc, method)(*inputs, **kwargs)

    def __array_function__(self, func, types, args, kwargs):
        return _demote(super().__array_function__(func, types, args, kwargs))

    def __reduce__(self):
        mapped = self._skm_file
        if mapped is None:
            return self.view(np.ndarray).__reduce__()
        byte_offset = self.__array_interface__["data"][0] - mapped.start
        return (
            _rebuild,
            (mapped.ref(), byte_offset, self.shape, self.strides, self.dtype.str),
        )

    def __reduce_ex__(self, protocol):
        return self.__reduce__()

    def __repr__(self):
        text = repr(self.view(np.ndarray))
        mapped = self._skm_file
        where = f", file={os.path.basename(mapped.path)!r}" if mapped else ""
        return text.replace("array(", "MemmapArray(", 1)[:-1] + where + ")"

    @property
    def filename(self):
        """Path of the ``.npy`` file this array is a view of (None if detached)."""
        return None if self._skm_file is None else self._skm_file.path

    # -- indexing --------------------------------------------------------------
    def __getitem__(self, key):
        mapped = self._skm_file
        rows, rest = _split_row_key(key) if mapped is not None else (None, None)
        if rows is None or self.ndim == 0:
            return _demote(super().__getitem__(key))
        n = self.shape[0]
        if rows.dtype == bool:
            if rows.ndim != 1 or rows.shape[0] != n:
                return _demote(super().__getitem__(key))  # numpy's own error
            idx = np.flatnonzero(rows)
        else:
            idx = rows
            if idx.ndim != 1:
                return _demote(super().__getitem__(key))
            if idx.size and (idx.min() < -n or idx.max() >= n):
                return _demote(super().__getitem__(key))  # numpy's IndexError
            if idx.size and idx.min() < 0:
                idx = np.where(idx < 0, idx + n, idx)
        if idx.size == 0:
            return _demote(super().__getitem__((slice(0, 0), *rest)))
        if is_row_run(idx):
            start = int(idx[0])
            result = super().__getitem__((slice(start, start + idx.size), *rest))
        else:
            result = self._take_rows(idx, rest)
        if _FOLD_ROWS_HOOKS and _marked(mapped):
            for hook in _FOLD_ROWS_HOOKS:
                hook(result)
        return result

    def _take_rows(self, idx, rest):
        """Non-contiguous rows: gather into a shared file, or copy in memory."""
        mapped = self._skm_file
        shape = (idx.size, *self.shape[1:])
        n_values = int(np.prod(shape, dtype=np.int64))
        why = f"the selection {_describe_selection(idx)}, so it is not a view"
        threshold = mapped.gather_nbytes
        # In a CV fold, the rows come from the splitter: the remedy is its
        # folds, not a selection the user makes.
        remedy = (
            "Contiguous rows are views: ContiguousKFold(2), or shuffle=False after "
            "skmemmap.shuffle"
        )
        if (
            mapped.cache_folder
            and threshold is not None
            and n_values * self.itemsize > threshold
        ):
            # The training rows of a fold for a MemmapEstimator are gathered
            # straight into the layout it reads (no gather, then a conversion)
            target = _fold_layout_hook[0](self) if _fold_layout_hook else None
            dtype, order = target or (None, None)
            result, written = _gather(self, idx, dtype, order)
            into = "" if target is None else f" as {layout_name(result.dtype, order)}"
            if written:
                emit(
                    CopyEvent(
                        "rows",
                        "Non-contiguous rows of X copied",
                        result.nbytes,
                        remedy,
                        f"{why}; {shape[0]} rows were gathered{into} into a file "
                        f"that every process reuses",
                        on_disk=True,
                        family=mapped.family,
                        shape=shape,
                    ),
                    folder=mapped.cache_folder,
                )
            return result[(slice(None), *rest)] if rest else result
        result = super().__getitem__((idx, *rest))
        emit(
            CopyEvent(
                "rows",
                "Non-contiguous rows of X copied",
                n_values * self.itemsize,
                remedy
                if in_cv_fold()
                else "Select one contiguous, ascending run of rows to get a view",
                f"{why}; {shape[0]} rows were copied in memory",
                family=mapped.family,
                shape=shape,
            ),
            folder=mapped.cache_folder,
        )
        return _demote(result)


def _demoting(name):
    method = getattr(np.ndarray, name)

    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        return _demote(method(self, *args, **kwargs))

    return wrapper


# ndarray methods that can return new memory: their results are demoted to a
# plain ndarray unless they are still views of the file (reshape, ravel,
# transpose of a contiguous array, for example, stay MemmapArray).
for _name in (
    "__copy__",
    "__deepcopy__",
    "all",
    "any",
    "argmax",
    "argmin",
    "argpartition",
    "argsort",
    "astype",
    "byteswap",
    "choose",
    "clip",
    "compress",
    "conj",
    "conjugate",
    "copy",
    "cumprod",
    "cumsum",
    "diagonal",
    "dot",
    "flatten",
    "max",
    "mean",
    "min",
    "nonzero",
    "prod",
    "ravel",
    "repeat",
    "reshape",
    "round",
    "searchsorted",
    "squeeze",
    "std",
    "sum",
    "swapaxes",
    "take",
    "trace",
    "transpose",
    "var",
):
    setattr(MemmapArray, _name, _demoting(_name))

# dask would otherwise serialize MemmapArrays by value, as plain ndarrays.
send_by_reference(MemmapArray)
register_array_type(MemmapArray)  # what the mapped-file layer hands out


# -- the rows of a fold, for a search a MemmapEstimator runs -------------------------
# Called with the rows taken by index from a file whose family is marked (see
# mark_fold_fits): skmemmap._estimator registers the reporting of the fold
# fit's own copies (the array layer does not import the estimator layer).
_FOLD_ROWS_HOOKS = []
# "<family>.fold-fits" in the family's folder: removed with the family's
# files, seen by every process that maps them.
_FOLD_FITS_SUFFIX = ".fold-fits"


def on_fold_rows(hook):
    """Register ``hook(rows)``, called with rows of a marked file taken by index."""
    _FOLD_ROWS_HOOKS.append(hook)


# ``hook(view) -> (dtype, order) or None``: the layout to gather a fold's
# rows of ``view`` into (registered by skmemmap._estimator: the layout of the
# MemmapEstimator about to fit them).
_fold_layout_hook = []


def set_fold_layout(hook):
    """Register the one function that names the layout of a gathered fold."""
    _fold_layout_hook[:] = [hook]


def _marker(mapped):
    return os.path.join(mapped.cache_folder, f"{mapped.family}{_FOLD_FITS_SUFFIX}")


def _marked(mapped):
    return bool(mapped.cache_folder) and os.path.exists(_marker(mapped))


@contextlib.contextmanager
def mark_fold_fits(mapped):
    """Mark ``mapped``'s family while the block runs: rows taken from it by
    index (the folds of a search, in any process) go to the hooks."""
    path = _marker(mapped)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW, 0o600)
    os.close(fd)
    try:
        yield
    finally:
        with contextlib.suppress(OSError):
            os.unlink(path)


def is_row_run(idx):
    """Whether integer indices ``idx`` are one ascending run of rows (a view)."""
    if idx.size == 0:
        return True
    start = int(idx[0])
    return int(idx[-1]) - start == idx.size - 1 and (
        idx.size == 1 or bool(np.all(np.diff(idx) == 1))
    )


def _describe_selection(idx):
    d = np.diff(idx)
    if np.any(d == 0):
        return "repeats rows"
    if np.any(d < 0):
        return "is not in ascending order"
    gaps = int(np.count_nonzero(d > 1))
    return f"has {gaps} gap{'s' if gaps != 1 else ''}"


_ROW_KEY_REST = (Ellipsis, slice(None))


def _split_row_key(key):
    """``(rows, rest)`` if ``key`` selects rows by index array, else ``(None, None)``.

    ``rest`` holds the trailing ``...`` or ``:`` of keys such as ``X[idx, ...]``.
    """
    rest = ()
    if isinstance(key, tuple):
        if not key or not all(
            k is Ellipsis or (isinstance(k, slice) and k == slice(None))
            for k in key[1:]
        ):
            return None, None
        key, rest = key[0], key[1:]
    if isinstance(key, (list, np.ndarray)):
        rows = np.asarray(key)
        if rows.dtype == bool or (rows.dtype.kind in "iu"):
            if rows.dtype != bool:
                rows = rows.astype(np.intp, copy=False)
            return rows, rest
        if rows.size == 0:
            return np.empty(0, dtype=np.intp), rest
    return None, None


# Gathered rows go to "<family>.gather-<hash>.npy": the tag tells a training
# set gathered from X's rows (strict mode refuses it) from X's own files.
_GATHER_TAG = ".gather-"


def _gather(view, idx, dtype=None, order=None):
    """Write ``view[idx]`` to a file keyed by the view and selection; map it.

    The file is in ``dtype`` and ``order`` if given, else in the view's own.
    The rows are written in blocks of at most ``BLOCK_BYTES``, so the memory
    a gather uses does not grow with X. Afterwards the pages it read are
    dropped from this process's page tables (see :func:`_drop_pages`).
    """
    mapped = view._skm_file
    if order is None:
        # Keep the view's own memory order (as numpy's "K"): the rows of a
        # Fortran file, whole or sliced, gather into a Fortran file.
        fortran = view.ndim > 1 and abs(view.strides[0]) < abs(view.strides[1])
        order = "F" if fortran else "C"
    dtype = view.dtype if dtype is None else np.dtype(dtype)
    byte_offset = view.__array_interface__["data"][0] - mapped.start
    idx = np.ascontiguousarray(idx, dtype=np.intp)
    name = _short_hash(
        mapped.key,
        byte_offset,
        view.shape,
        view.strides,
        view.dtype.str,
        order,
        *([] if dtype == view.dtype else [dtype.str]),
        memoryview(idx).cast("B"),  # hashed in place, not copied to bytes
    )
    path = os.path.join(mapped.cache_folder, f"{mapped.family}{_GATHER_TAG}{name}.npy")
    shape = (idx.size, *view.shape[1:])
    written = _write_npy_once(
        path,
        _row_taker(view.view(np.ndarray), idx, order),
        shape,
        dtype,
        order,
        view.itemsize if dtype != view.dtype else 0,
    )
    if written:
        _drop_pages(mapped)
    return open_derived(mapped, path).full(), written


def is_gathered(X):
    """Whether X is a view of a file that :func:`_gather` wrote its rows into."""
    mapped = file_of(X)
    return mapped is not None and _GATHER_TAG in os.path.basename(mapped.path)


def _row_taker(src, idx, order):
    """``get_block`` for :func:`write_blocks` writing ``src[idx]`` in ``order``.

    A Fortran block is filled column by column with ``np.take`` (each column
    of a Fortran file is one contiguous run), into the block itself: no
    C-ordered intermediate as large as the block.
    """
    if src.ndim == 1:
        return lambda rows, cols: src[idx[rows]]
    if order == "C":
        return lambda rows, cols: src[idx[rows], cols]

    def get_block(rows, cols):
        take = idx[rows]
        columns = src[:, cols]
        block = np.empty((take.size, columns.shape[1]), src.dtype, order="F")
        for j in range(columns.shape[1]):
            # mode="clip": idx is already checked; "raise" would buffer ``out``.
            np.take(columns[:, j], take, out=block[:, j], mode="clip")
        return block

    return get_block


# -- layout ----------------------------------------------------------------------
def row_range(X):
    """``(start, stop)`` if ``X`` is ``root[start:stop]`` of its file, else None."""
    mapped = X._skm_file
    root = mapped.array
    if (
        X.dtype != root.dtype
        or X.shape[1:] != root.shape[1:]
        or X.strides != root.strides
    ):
        return None
    byte_offset = X.__array_interface__["data"][0] - mapped.start
    step = root.strides[0]
    if step <= 0 or byte_offset % step:
        return None
    start = byte_offset // step
    return start, start + X.shape[0]


def order_of(X):
    """The memory order of X: its file's, for a row range of a MemmapArray.

    Rows ``a:b`` of a Fortran file (every fold of an F-mapped X) are neither
    C- nor F-contiguous, yet they are read as the file's columns.
    """
    if X.ndim < 2:
        return "C"
    if is_memmap_view(X) and row_range(X) is not None:
        return X._skm_file.order
    return "F" if np.isfortran(X) else "C"
