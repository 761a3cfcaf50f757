"""X in the layout an estimator reads: the one entry point MemmapEstimator calls.

:func:`as_layout` decides, for any X (a :class:`~skmemmap.MemmapArray`, an
in-memory ndarray or DataFrame), how to give it in a dtype and memory order,
does it, and says what it cost, so that a copy is described by the code path
that made it.
"""

import dataclasses
import os

import numpy as np

from skmemmap._array import has_layout, is_memmap_view, order_of, row_range
from skmemmap._chunked import is_chunked
from skmemmap._construct import in_layout, memmap, sibling_path
from skmemmap._mapped import open_derived
from skmemmap._utils import layout_name

__all__ = ["Conversion", "as_layout", "describe_layout", "is_frame"]


@dataclasses.dataclass(frozen=True)
class Conversion:
    """A copy :func:`as_layout` made (or is about to make) of X.

    Attributes
    ----------
    kind : {"sibling", "to-file", "memory-to-file", "in-memory", "map", "gather"}
        ``"sibling"``: the whole file converted once into a file every later
        fit reuses; ``"to-file"``: the rows of a view that is not a row range
        of its file written to a new file; ``"memory-to-file"``: in-memory X
        converted into a file; ``"gather"``: rows of a chunk list that span
        several chunk files written into one file, in the target layout;
        ``"in-memory"``: converted in memory; ``"map"``: in-memory X written
        once to a file, in the target layout, for other processes to map.
    nbytes : int
        Bytes of the copy.
    src, dst : str
        The layouts, in words (``"float64 C"``, ``"a DataFrame"``).
    """

    kind: str
    nbytes: int
    src: str
    dst: str

    @property
    def on_disk(self):
        return self.kind != "in-memory"


def is_frame(X):
    """Whether X is a pandas DataFrame (or behaves as one)."""
    return hasattr(X, "iloc") and hasattr(X, "dtypes") and hasattr(X, "columns")


def describe_layout(X):
    """X's layout in words, e.g. ``'float64 C'``, ``'a DataFrame'``."""
    if is_frame(X):
        return "a DataFrame"
    if is_chunked(X):
        return f"a chunk list ({layout_name(X.dtype, X.order)})"
    strided = X.ndim > 1 and not (X.flags.c_contiguous or X.flags.f_contiguous)
    if strided and not (is_memmap_view(X) and row_range(X) is not None):
        return f"{X.dtype.name} (a non-contiguous view)"
    return layout_name(X.dtype, order_of(X))


def as_layout(
    X,
    dtype,
    order,
    *,
    folder=None,
    max_nbytes=None,
    share=False,
    writeable=False,
    check=None,
):
    """X as ``dtype``/``order``, a view of a file where that saves memory.

    Parameters
    ----------
    X : MemmapArray, ndarray or DataFrame (numeric, 2-D)
    dtype, order : dtype, {"C", "F"}
        The target layout.
    folder : str, default=None
        Base folder for files written.
    max_nbytes : int or None, default=None
        In-memory X (or rows of a file that are not a row range) larger than
        this is written to a file rather than converted in memory. ``None``:
        never written.
    share : bool, default=False
        Other processes will read X (a search, ``cross_*``, a process-parallel
        ensemble): in-memory X is then written once to a file (``"map"``) so
        that every fold in every worker is a view of it.
    writeable : bool, default=False
        The estimator writes into X: a file view is then mapped copy-on-write.
    check : callable, default=None
        Called with the :class:`Conversion` just before any copy is made; may
        raise (strict mode).

    Returns
    -------
    view : array-like
        X in the layout (X itself when nothing was needed).
    conversion : Conversion or None
        The copy made, or None if none was made.
    """
    dtype = np.dtype(dtype)
    dst = layout_name(dtype, order)

    def copy(kind, nbytes, make, written=lambda view: True):
        conv = Conversion(kind, int(nbytes), describe_layout(X), dst)
        if check is not None:
            check(conv)
        view = make()
        return view, conv if written(view) else None

    nbytes = (
        int(X.shape[0]) * int(np.prod(X.shape[1:], dtype=np.int64)) * dtype.itemsize
    )
    if is_chunked(X):
        single = X.single_view()
        if single is None:
            pair, conv = copy(
                "gather",
                nbytes,
                lambda: X._gather(dtype, order),
                written=lambda pair: pair[1],
            )
            return _writeable(pair[0], writeable), conv
        X = single  # rows of one chunk: a view of its file, as for one file
    if is_memmap_view(X):
        view, conv = X, None
        if not has_layout(X, dtype, order):
            if row_range(X) is not None:
                root = X._skm_file
                if os.path.exists(sibling_path(root, dtype, order)):
                    view = in_layout(X, dtype, order)[0]
                else:
                    # Another process may write it first (create_once makes
                    # one writer): only a sibling written here is a copy.
                    full = int(np.prod(root.shape, dtype=np.int64)) * dtype.itemsize
                    pair, conv = copy(
                        "sibling",
                        full,
                        lambda: in_layout(X, dtype, order),
                        written=lambda pair: pair[1],
                    )
                    view = pair[0]
            elif max_nbytes is not None and nbytes > max_nbytes:
                view, conv = copy(
                    "to-file",
                    nbytes,
                    lambda: memmap(X, dtype=dtype, order=order, folder=folder),
                )
            else:
                view, conv = copy(
                    "in-memory",
                    nbytes,
                    lambda: np.asarray(X.view(np.ndarray), dtype=dtype, order=order),
                )
        if writeable and is_memmap_view(view) and not view.flags.writeable:
            view = _copy_on_write(view)
        return view, conv
    if share:
        return copy(
            "map",
            nbytes,
            lambda: _writeable(
                memmap(X, dtype=dtype, order=order, folder=folder), writeable
            ),
        )
    if not is_frame(X) and has_layout(X, dtype, order):
        return X, None
    if max_nbytes is not None and nbytes > max_nbytes:
        return copy(
            "memory-to-file",
            nbytes,
            lambda: _writeable(
                memmap(X, dtype=dtype, order=order, folder=folder), writeable
            ),
        )
    if is_frame(X):
        return X, None  # the estimator converts it, and keeps its column names
    return copy("in-memory", nbytes, lambda: np.asarray(X, dtype=dtype, order=order))


def _writeable(view, writeable):
    return _copy_on_write(view) if writeable else view


def _copy_on_write(X):
    """The same view of X's file, mapped copy-on-write (writeable, file untouched)."""
    mapped = X._skm_file
    cow = open_derived(mapped, mapped.path, mode="c")
    offset = X.__array_interface__["data"][0] - mapped.start
    return cow.view(offset, X.shape, X.strides, X.dtype)
