"""What X is, asked once: the description MemmapEstimator decides from.

scikit-learn's estimators call ``validate_data`` once and then work with what
it returns. :func:`describe_input` does the same for the questions skmemmap
asks of X before it lays it out (a view of which file, which rows, in what
layout, gathered or not, a chunk list or not, in memory or not), and returns
them as an :class:`Input`. :func:`skmemmap._convert.lay_out` then gives X in
a layout from that description.
"""

import dataclasses

import numpy as np
from scipy import sparse

from skmemmap._array import file_of, is_gathered, row_range
from skmemmap._chunked import is_chunked
from skmemmap._utils import layout_name

__all__ = [
    "CHUNKS",
    "FILE",
    "MEMORY",
    "OTHER",
    "SPARSE",
    "Input",
    "describe_input",
    "is_frame",
]

# Input.kind: where X's values are and what skmemmap may do with them.
FILE = "file"  # a MemmapArray view of its file
CHUNKS = "chunks"  # a ChunkedArray: rows in several chunk files
MEMORY = "memory"  # a non-empty 2-D ndarray or DataFrame of numbers, in memory
SPARSE = "sparse"  # a scipy.sparse matrix or array
OTHER = "other"  # anything else: the estimator validates it itself


def is_frame(X):
    """Whether X is a pandas DataFrame (or behaves as one)."""
    return hasattr(X, "iloc") and hasattr(X, "dtypes") and hasattr(X, "columns")


@dataclasses.dataclass(frozen=True)
class Input:
    """X, and what it is: the answers :func:`describe_input` found.

    Attributes
    ----------
    X : object
        The input itself.
    kind : {"file", "chunks", "memory", "sparse", "other"}
        ``"file"``: a :class:`~skmemmap.MemmapArray` view of its file;
        ``"chunks"``: a :class:`~skmemmap.ChunkedArray`; ``"memory"``: a
        non-empty 2-D ndarray or DataFrame of numbers (what skmemmap may
        write to a file or convert); ``"sparse"``; ``"other"``.
    frame : bool
        X is a DataFrame.
    numeric : bool
        X is a non-empty 2-D ndarray (a view of a file included) or DataFrame
        of numbers; a chunk list is not.
    shape : tuple or None
    dtype : numpy.dtype or None
        A DataFrame's: the common dtype of its columns, when all are numeric.
    order : {"C", "F"}
        The order X is read in: its file's for a row range of a file, a chunk
        list's, ``"F"`` for a DataFrame (its columns convert so), else
        ``"F"`` for a Fortran-contiguous array and ``"C"`` otherwise.
    file : MappedFile or None
        The file X is a view of.
    rows : tuple or None
        ``(start, stop)`` when X is rows ``start:stop`` of its file.
    contiguous : tuple of str
        The orders X is contiguous in, as an ndarray.
    gathered : bool
        X is a file that rows of another X were gathered into.
    """

    X: object = dataclasses.field(repr=False)
    kind: str
    frame: bool = False
    numeric: bool = False
    shape: tuple = None
    dtype: np.dtype = None
    order: str = "C"
    file: object = None
    rows: tuple = None
    contiguous: tuple = ()
    gathered: bool = False

    @property
    def two_d(self):
        """X has two dimensions (what ``validate_data`` checks features of)."""
        return self.frame or len(self.shape or ()) == 2

    @property
    def nbytes(self):
        """Bytes of X's values in its own dtype."""
        return int(np.prod(self.shape, dtype=np.int64)) * self.dtype.itemsize

    def has(self, dtype, order):
        """Whether X already has this dtype and order (contiguous, or rows of
        a file in that layout), as an array (a DataFrame never has)."""
        return self.dtype == dtype and (
            order in self.contiguous or (self.rows is not None and self.order == order)
        )

    def target(self, layout):
        """``(dtype, order)`` X is given in for ``layout``.

        X keeps its dtype if the layout accepts it, and its order if the
        layout accepts it and its dtype is kept (the rule of
        :meth:`Layout.resolve <skmemmap.Layout.resolve>`). A chunk list or a
        DataFrame is copied whatever happens: into the layout's first order.
        """
        if self.kind == CHUNKS or self.frame:
            return layout.target_dtype(self.dtype), (layout.orders or (self.order,))[0]
        return layout._target(self.dtype, self.order)

    def describe(self):
        """X's layout in words, e.g. ``'float64 C'``, ``'a DataFrame'``."""
        if self.frame:
            return "a DataFrame"
        if self.kind == CHUNKS:
            return f"a chunk list ({layout_name(self.dtype, self.order)})"
        if len(self.shape) > 1 and not self.contiguous and self.rows is None:
            return f"{self.dtype.name} (a non-contiguous view)"
        return layout_name(self.dtype, self.order)


def describe_input(X):
    """Describe X once: an :class:`Input` of its kind, file, rows and layout.

    Nothing of X is read or copied. Never raises: what skmemmap does not map
    is ``"other"``, for the estimator to validate.
    """
    if is_chunked(X):
        return Input(X, CHUNKS, shape=X.shape, dtype=np.dtype(X.dtype), order=X.order)
    if is_frame(X):
        return _describe_frame(X)
    if sparse.issparse(X):
        return Input(X, SPARSE, shape=X.shape, dtype=X.dtype)
    if not isinstance(X, np.ndarray):
        return _describe_other(X)
    mapped = file_of(X)
    rows = row_range(X) if mapped is not None else None
    flags = X.flags
    contiguous = tuple(
        order
        for order, yes in (("C", flags.c_contiguous), ("F", flags.f_contiguous))
        if yes
    )
    numeric = X.ndim == 2 and X.size > 0 and X.dtype.kind in "biuf"
    return Input(
        X,
        FILE if mapped is not None else MEMORY if numeric else OTHER,
        numeric=numeric,
        shape=X.shape,
        dtype=X.dtype,
        # as order_of: a row range of a file is read in its file's order
        order=mapped.order if rows is not None else "F" if np.isfortran(X) else "C",
        file=mapped,
        rows=rows,
        contiguous=contiguous,
        gathered=mapped is not None and is_gathered(X),
    )


def _describe_frame(X):
    kinds = [getattr(dt, "kind", "O") for dt in X.dtypes]
    if not kinds or any(kind not in "biuf" for kind in kinds):
        return Input(X, OTHER, frame=True, shape=X.shape, order="F")
    dtype = np.result_type(
        *(np.dtype(getattr(dt, "numpy_dtype", dt)) for dt in X.dtypes)
    )
    numeric = X.size > 0
    return Input(
        X,
        MEMORY if numeric else OTHER,
        frame=True,
        numeric=numeric,
        shape=X.shape,
        dtype=dtype,
        order="F",
    )


def _describe_other(X):
    """A list, a scalar, or an array-like that is not an ndarray."""
    shape = getattr(X, "shape", None)
    try:
        shape = tuple(shape) if shape is not None else None
    except TypeError:
        shape = None
    return Input(X, OTHER, shape=shape)
