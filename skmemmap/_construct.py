"""The constructors: :func:`memmap` and :func:`load`, and layout siblings.

:func:`memmap` writes X once to a new ``.npy`` file; :func:`load` maps an
existing file or consolidates chunk files into one. :func:`sibling` converts
a mapped file to another dtype and order once per family, and
:func:`in_layout` gives a row range of X in that layout.
"""

import errno
import glob
import mmap
import os

import numpy as np
from scipy import sparse

from skmemmap._array import MemmapArray, row_range
from skmemmap._chunked import ChunkedArray, natural_order, open_chunks
from skmemmap._folder import session_folder
from skmemmap._input import describe_input
from skmemmap._mapped import (
    _check_dtype,
    _check_shape,
    _drop_pages,
    _file_key,
    _short_hash,
    open_derived,
    open_file,
)
from skmemmap._npy import (
    _write_new_npy,
    _write_npy_once,
    cast_block,
    may_change_values,
    read_header,
)
from skmemmap.exceptions import FileMismatchError

__all__ = ["load", "memmap"]


# -- layout siblings -------------------------------------------------------------
def sibling_path(mapped, dtype, order):
    """Where the ``dtype``/``order`` sibling of a file is (or would be) kept."""
    return os.path.join(
        mapped.cache_folder,
        f"{mapped.family}.as-{np.dtype(dtype).name}-{order}-"
        f"{_short_hash(mapped.key)}.npy",
    )


def sibling(mapped, dtype, order):
    """The whole file converted to ``dtype``/``order``, written once per family.

    Returns ``(sibling_mapped_file, written)``; the sibling file is shared by
    every process using the same cache folder.
    """
    dtype = np.dtype(dtype)
    if mapped.dtype == dtype and mapped.order == order:
        return mapped, False
    path = sibling_path(mapped, dtype, order)
    src = mapped.array.view(np.ndarray)

    def get_block(rows, cols):
        return src[rows] if cols is None else src[rows, cols]

    written = _write_npy_once(
        path, get_block, mapped.shape, dtype, order, src_itemsize=mapped.dtype.itemsize
    )
    if written:
        _drop_pages(mapped)
    return open_derived(mapped, path), written


def in_layout(X, dtype, order):
    """Rows of ``X`` (a row range of its file) in another layout, as a view.

    Returns ``(view, written)``, or ``(None, False)`` if X is not a row range.
    """
    rows = row_range(X)
    if rows is None:
        return None, False
    target, written = sibling(X._skm_file, dtype, order)
    return target.full()[rows[0] : rows[1]], written


# -- public constructors ---------------------------------------------------------
def _target_dtype(src_dtype, dtype):
    """The dtype to write: the requested one, else the source's; numeric."""
    return _check_dtype(src_dtype) if dtype is None else _check_dtype(dtype, None)


def _resolve_order(order, X):
    if order is None:
        return "F" if getattr(X, "ndim", 2) > 1 and np.isfortran(X) else "C"
    if order not in ("C", "F"):
        raise ValueError(f"order must be 'C', 'F' or None, got {order!r}.")
    return order


def _wrap_npy_memmap(X, dtype, order, cache_folder):
    """An np.memmap covering a whole ``.npy`` file in the right layout, wrapped."""
    if not isinstance(X, np.memmap) or X.base is None or not X.filename:
        return None
    if not isinstance(X.base, mmap.mmap) or not describe_input(X).has(dtype, order):
        return None
    try:
        shape, fortran, fdtype, offset = read_header(X.filename)
    except (OSError, ValueError):
        return None
    if (shape, fdtype, offset) != (X.shape, X.dtype, X.offset) or (
        X.ndim > 1 and fortran != (order == "F")
    ):
        return None
    return open_file(X.filename, cache_folder=cache_folder, cleanup_family=True).full()


def memmap(X, *, dtype=None, order=None, folder=None):
    """Write X once to a ``.npy`` file and return it as a read-only MemmapArray.

    Conversion and writing go block by block, so the extra memory used while
    converting stays bounded (about 64 MB, or one row or column block if that
    is larger) whatever the size of X.

    Parameters
    ----------
    X : array-like of shape (n_samples,) or (n_samples, n_features)
        ndarray, :class:`numpy.memmap`, :class:`MemmapArray`, numeric pandas
        DataFrame, or anything :func:`numpy.asarray` accepts. Numeric
        (boolean, integer or floating-point) dense data only: a sparse matrix
        raises TypeError (pass it to :class:`MemmapEstimator` as it is).
    dtype : dtype, default=None
        dtype of the file. ``None`` keeps X's dtype. A conversion must keep
        every value, as numpy's ``"same_kind"`` casting rule intends (see
        Notes); one that would change a value raises ValueError.
    order : {"C", "F"}, default=None
        Memory order of the file. ``None`` keeps an array's order ("F" if it
        is Fortran-contiguous, else "C"), and gives a DataFrame "C" (see
        Notes).
    folder : str or path-like, default=None
        Base folder for the file. ``None`` uses ``$SKMEMMAP_FOLDER``, else the
        system temporary directory. The file goes in a private subfolder
        (mode 0700, file 0600) that is removed when the process exits.

    Returns
    -------
    X_mm : MemmapArray
        A read-only view of the file. The file is deleted when the last
        MemmapArray using it is garbage collected.

    Raises
    ------
    ValueError
        If X is not numeric, not 1-D or 2-D, empty, or if converting it to
        ``dtype`` would change a value. The message names the first such
        value. Nothing is left on disk.
    TypeError
        If X is a scipy.sparse matrix or array.

    See Also
    --------
    load
        Open an existing ``.npy`` file (or chunk files) in place.
    MemmapArray
        The array it returns.
    MemmapEstimator
        Maps in-memory X in an estimator's layout for you.

    Notes
    -----
    No file is written when X already has the requested layout and is a
    MemmapArray, or an :class:`numpy.memmap` opening a whole ``.npy`` file.
    A MemmapArray in another layout is converted once per file: later calls
    for the same layout reuse the converted file.

    Conversions are checked block by block while the file is written, so X is
    never held twice in memory:

    * To an integer or boolean dtype, every value must be representable:
      a fraction (1.7), NaN, or a value outside the dtype's range (300 for
      int8, -1 for uint8) raises, where :meth:`numpy.ndarray.astype` would
      silently give 1, garbage, or a wrapped-around 44.
    * To a floating-point dtype, values are rounded to the nearest one the
      dtype holds, as ``astype`` does: float32 keeps about 7 significant
      digits, and integers above 2**24 (float32) or 2**53 (float64) lose
      their last digits. A finite value too large for the dtype, which would
      become inf (above about 3.4e38 for float32), raises. NaN and inf stay
      as they are.

    A DataFrame stores its columns apart, and ``DataFrame.to_numpy()`` of a
    single-dtype frame is Fortran-ordered for that reason. That says nothing
    about how the result is read: most estimators (LogisticRegression, SGD,
    linear SVMs, neighbors, k-means, ...) read C, and trees read C or F alike.
    So ``order=None`` gives a DataFrame a C file, which such estimators,
    inside a :class:`MemmapEstimator` too, read without converting it again.
    Pass ``order="F"`` for coordinate-descent models (Lasso, ElasticNet).

    Examples
    --------
    >>> import numpy as np, skmemmap
    >>> X = np.arange(6.0).reshape(3, 2)
    >>> X_mm = skmemmap.memmap(X, dtype=np.float32, order="F")
    >>> X_mm.dtype, X_mm.flags.f_contiguous, X_mm.flags.writeable
    (dtype('float32'), True, False)
    >>> bool((X_mm == X).all())
    True
    >>> try:
    ...     skmemmap.memmap(np.array([[1.0, 300.0]]), dtype=np.int8)
    ... except ValueError as exc:
    ...     print(str(exc)[:71])
    Cannot convert float64 to int8 without changing values: X[0, 1] = 300.0
    """
    if sparse.issparse(X):
        raise TypeError(_sparse_message(X))
    if isinstance(X, MemmapArray) and X._skm_file is not None:
        dtype = _target_dtype(X.dtype, dtype)
        order = _resolve_order(order, X)
        if describe_input(X).has(dtype, order):
            return X
        view, _ = in_layout(X, dtype, order)
        if view is not None:
            return view
    if hasattr(X, "iloc") and hasattr(X, "dtypes"):  # pandas DataFrame / Series
        return _memmap_frame(X, dtype=dtype, order=order, folder=folder)
    if not isinstance(X, np.ndarray):
        X = np.asarray(X)
    dtype = _target_dtype(X.dtype, dtype)
    _check_shape(X.shape)
    order = _resolve_order(order, X)
    cache_folder = session_folder(folder)
    wrapped = _wrap_npy_memmap(X, dtype, order, cache_folder)
    if wrapped is not None:
        return wrapped
    src = X.view(np.ndarray) if isinstance(X, MemmapArray) else X

    def get_block(rows, cols):
        return src[rows] if cols is None else src[rows, cols]

    path = _write_new_npy(
        cache_folder, get_block, X.shape, dtype, order, src_itemsize=X.dtype.itemsize
    )
    return open_file(
        path, cache_folder=cache_folder, owned=True, cleanup_family=True
    ).full()


def _sparse_message(X):
    kind = "array" if isinstance(X, sparse.sparray) else "matrix"
    return (
        f"skmemmap.memmap() maps dense data; X is a sparse {kind} "
        f"({type(X).__name__} of shape {X.shape}, {X.nnz} stored values). Pass it "
        f"straight to skmemmap.MemmapEstimator, which hands sparse X to the "
        f"estimator as it is. To map it dense instead, pass X.toarray() "
        f"({int(np.prod(X.shape, dtype=np.int64)) * X.dtype.itemsize} bytes)."
    )


def _memmap_frame(df, *, dtype, order, folder):
    shape = df.shape  # a Series stays 1-D, as np.asarray(series) is
    if df.ndim == 1:
        df = df.to_frame()
    bad = [
        str(name)
        for name, dt in df.dtypes.items()
        if getattr(dt, "kind", "O") not in "biuf"
    ]
    if bad:
        raise ValueError(
            f"skmemmap maps numeric data only; the DataFrame has non-numeric "
            f"column(s) {bad[:10]}{' ...' if len(bad) > 10 else ''}. Encode them "
            f"(e.g. with OneHotEncoder or OrdinalEncoder) or drop them first."
        )
    src_dtype = np.result_type(
        *(np.dtype(getattr(dt, "numpy_dtype", dt)) for dt in df.dtypes)
    )
    dtype = _target_dtype(src_dtype, dtype)
    # C, not the frame's own column-wise storage: see memmap()'s Notes.
    order = _resolve_order(order or "C", None)
    _check_shape(shape)
    cache_folder = session_folder(folder)
    # Read in the source dtype only when the conversion needs checking: pandas
    # converts directly otherwise (missing values of nullable columns to NaN).
    read_as = src_dtype if may_change_values(src_dtype, dtype) else dtype

    def get_block(rows, cols):
        cols = slice(None) if cols is None else cols
        block = df.iloc[rows, cols].to_numpy(dtype=read_as)
        block = block.reshape(-1) if len(shape) == 1 else block
        return cast_block(block, dtype, order, _in_frame(df, rows, cols))

    path = _write_new_npy(
        cache_folder, get_block, shape, dtype, order, src_itemsize=src_dtype.itemsize
    )
    return open_file(
        path, cache_folder=cache_folder, owned=True, cleanup_family=True
    ).full()


def _in_frame(df, rows, cols):
    """Name an element of the block ``df.iloc[rows, cols]`` by row and column."""

    def where(index):
        row = rows.indices(len(df))[0] + index[0]
        column = df.columns[cols][index[1] if len(index) > 1 else 0]
        return f"row {row}, column {column!r} of the DataFrame"

    return where


def load(path, *, dtype=None, order=None, folder=None, consolidate=False):
    """Open a ``.npy`` file, or chunk files, without reading them into memory.

    A single file is mapped read-only as a :class:`MemmapArray`. Chunk files
    (a dataset saved as ``train_x_0.npy ... train_x_40.npy``: a list of paths,
    a folder holding them, or a pattern such as ``"data/train_x_*.npy"``) are
    each mapped read-only as they are, and returned as one
    :class:`ChunkedArray`: nothing is copied or written. The files themselves
    are never modified nor deleted.

    Parameters
    ----------
    path : str, path-like, or list of them
        A ``.npy`` file; a list of chunk files in row order; a folder, whose
        ``.npy`` files are the chunks; or a pattern with ``*``, ``?`` or
        ``[...]`` matching the chunk files. A folder's or a pattern's files
        are taken in natural order: by the numbers in their names, so that
        ``train_x_2.npy`` comes before ``train_x_10.npy``.
    dtype : dtype, default=None
        If given and different from the file's dtype, the data is converted
        once into a new file; a conversion that would change a value raises
        ValueError (see :func:`memmap`). ``None`` keeps the file's dtype.
        Chunk files are converted only with ``consolidate=True``.
    order : {"C", "F"}, default=None
        If given and different from the file's order, converted likewise.
        ``None`` keeps the file's order.
    folder : str or path-like, default=None
        Base folder for files skmemmap writes: converted or consolidated
        files, rows gathered from several chunks (see :func:`memmap`).
    consolidate : bool, default=False
        Write chunk files into one new file (as large as all of them: the
        disk holds the data twice) and return it as a MemmapArray. Streaming
        with :class:`StreamingEstimator` and cross-validation with
        :class:`ContiguousKFold` need no consolidated file.

    Returns
    -------
    X : MemmapArray or ChunkedArray
        A MemmapArray for one file (or ``consolidate=True``), a ChunkedArray
        for several chunk files.

    Raises
    ------
    FileNotFoundError
        If a file does not exist, or a folder or pattern holds no ``.npy``
        file.
    ValueError
        If a file is not a ``.npy`` file, is damaged or truncated
        (:class:`~skmemmap.FileMismatchError` for data cut short), or holds
        non-numeric data; if chunks disagree on their columns or dtype; if
        the names of a folder's or pattern's files do not tell one row
        order (the message lists the order it would use). Every message
        names the file.

    See Also
    --------
    memmap : Write an in-memory array to a file once and map it.
    StreamingEstimator : Fit an incremental estimator on chunk files block by
        block, in order.

    Examples
    --------
    >>> import numpy as np, skmemmap, tempfile, os
    >>> d = tempfile.mkdtemp()
    >>> for i in (0, 1, 2, 10):
    ...     np.save(os.path.join(d, f"x_{i}.npy"), np.full((2, 3), i, dtype=np.float32))
    >>> X = skmemmap.load(d)  # or skmemmap.load(os.path.join(d, "x_*.npy"))
    >>> X.shape, X[:, 0].tolist()
    ((8, 3), [0.0, 0.0, 1.0, 1.0, 2.0, 2.0, 10.0, 10.0])
    >>> [os.path.basename(f) for f in X.filenames]
    ['x_0.npy', 'x_1.npy', 'x_2.npy', 'x_10.npy']
    >>> one = os.path.join(d, "x_1.npy")
    >>> skmemmap.load(one).filename == one  # one file: mapped as it is
    True
    >>> import shutil; shutil.rmtree(d)  # the example's files
    """
    if dtype is not None:
        dtype = _check_dtype(dtype, what=None)
    if order is not None:
        order = _resolve_order(order, None)
    paths = _chunk_paths(path)
    cache_folder = session_folder(folder)
    if len(paths) > 1:
        if consolidate:
            return _consolidate(
                paths, dtype=dtype, order=order, cache_folder=cache_folder
            )
        return _open_chunk_list(paths, dtype=dtype, order=order, folder=cache_folder)
    (path,) = paths
    X = open_file(path, cache_folder=cache_folder, cleanup_family=True).full()
    if dtype is None and order is None:
        return X
    try:
        return memmap(X, dtype=dtype, order=order, folder=folder)
    except FileMismatchError:
        raise  # already names the file
    except ValueError as exc:  # a conversion that would change values
        raise ValueError(f"{path!r}: {exc}") from None


_GLOB_CHARS = frozenset("*?[")


def _chunk_paths(path):
    """The ``.npy`` files ``path`` names, in row order (absolute paths)."""
    if isinstance(path, (list, tuple)):
        if not path:
            raise ValueError(
                "load() got an empty list of chunk files: pass at least one path."
            )
        return [_existing_npy(p) for p in path]
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(
            f"path must be a str, a path-like object or a list of them, got "
            f"{type(path).__name__}."
        )
    text = os.fspath(path)
    if os.path.isdir(text):
        found = glob.glob(os.path.join(glob.escape(text), "*.npy"))
        where = repr(text)
        if not found:
            raise _not_found(f"The folder {text!r} holds no .npy file")
    elif not os.path.exists(text) and _GLOB_CHARS & set(os.path.basename(text)):
        found = [p for p in glob.glob(text) if os.path.isfile(p)]
        where = f"the pattern {text!r}"
        if not found:
            raise _not_found(f"No .npy file matches the pattern {text!r}")
    else:
        return [_existing_npy(text)]
    folder = text if os.path.isdir(text) else os.path.dirname(text)
    return natural_order([os.path.abspath(p) for p in found], where, folder)


def _not_found(message):
    # The path is in the message: passed as the filename too, it would be
    # printed twice ("...: '/x.npy': '/x.npy'").
    return FileNotFoundError(errno.ENOENT, message)


def _existing_npy(path):
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(
            f"Each chunk path must be a str or a path-like object, got "
            f"{type(path).__name__}: {path!r}."
        )
    path = os.fspath(path)
    if os.path.isdir(path):
        raise IsADirectoryError(
            errno.EISDIR,
            f"{path!r} is a directory, not a .npy file. To open the chunk files "
            f"inside it, pass the folder alone: skmemmap.load({path!r})",
        )
    if not os.path.isfile(path):
        raise _not_found(f"No such .npy file: {path!r}")
    return os.path.abspath(path)


def _chunk_headers(paths, dtype):
    """Check the chunk files agree on columns and dtype; return their headers."""
    headers = [_chunk_header(p) for p in paths]
    shapes = [h[0] for h in headers]
    for p, s in zip(paths, shapes, strict=True):
        if s[1:] != shapes[0][1:]:
            raise ValueError(
                f"The chunk files disagree on their number of columns: {p!r} has "
                f"shape {s}, but {paths[0]!r} has shape {shapes[0]}. All chunks "
                f"must have the same shape apart from their number of rows."
            )
    dtypes = [h[2] for h in headers]
    for p, d in zip(paths, dtypes, strict=True):
        if dtype is None and d != dtypes[0]:
            raise ValueError(
                f"The chunk files disagree on dtype: {p!r} holds {d}, but "
                f"{paths[0]!r} holds {dtypes[0]}. Pass dtype= and consolidate=True "
                f"to convert them all into one file of one dtype."
            )
    return headers


def _open_chunk_list(paths, *, dtype, order, folder):
    """The chunks mapped as they are, as one ChunkedArray (nothing written)."""
    headers = _chunk_headers(paths, None)
    file_dtype = headers[0][2]
    orders = {"F" if h[1] else "C" for h in headers}
    wanted = []
    if dtype is not None and dtype != file_dtype:
        wanted.append(f"dtype={dtype.name!r}")
    if order is not None and len(headers[0][0]) > 1 and orders != {order}:
        wanted.append(f"order={order!r}")
    if wanted:
        raise ValueError(
            f"load() opens chunk files as they are ({file_dtype}, "
            f"{'/'.join(sorted(orders))} order) and writes nothing; "
            f"{' and '.join(wanted)} would convert all of them into a new file. "
            f"StreamingEstimator and MemmapEstimator convert what they read, block "
            f"by block or fold by fold. To write one converted file anyway, pass "
            f"consolidate=True."
        )
    shape = (sum(h[0][0] for h in headers), *headers[0][0][1:])
    _check_shape(shape)
    with_rows = [p for p, h in zip(paths, headers, strict=True) if h[0][0]]
    chunks = open_chunks(with_rows, str(folder))
    return ChunkedArray._from_runs(chunks, [0], [chunks.n_rows])


def _chunk_header(path):
    """``(shape, fortran, dtype)`` of a chunk file, checked like a mapped file."""
    shape, fortran, dtype, offset = read_header(path)
    _check_dtype(dtype, what=repr(path))
    size = os.stat(path).st_size
    nbytes = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if size != offset + nbytes:
        raise FileMismatchError(
            f"The chunk file {path!r} holds {size} bytes but its header describes "
            f"{offset + nbytes} (shape {shape}, dtype {dtype}): it is truncated or "
            f"was changed."
        )
    if len(shape) not in (1, 2):
        _check_shape(shape, what=repr(path))
    return shape, fortran and len(shape) > 1, dtype


def _consolidate(paths, *, dtype, order, cache_folder):
    """Chunk files written once into one new file (``load(consolidate=True)``)."""
    headers = _chunk_headers(paths, dtype)
    shapes = [h[0] for h in headers]
    dtypes = [h[2] for h in headers]
    dtype = dtypes[0] if dtype is None else dtype
    if order is None:
        order = "F" if all(h[1] for h in headers) else "C"
    bounds = np.cumsum([0] + [s[0] for s in shapes])
    shape = (int(bounds[-1]), *shapes[0][1:])
    _check_shape(shape)
    # Map the chunks that have rows (their size was checked above).
    chunks = [
        open_file(p, cache_folder=cache_folder).array.view(np.ndarray) if s[0] else None
        for p, s in zip(paths, shapes, strict=True)
    ]

    def get_block(rows, cols):
        start, stop, _ = rows.indices(shape[0])
        parts = []
        for path, chunk, lo, hi in zip(
            paths, chunks, bounds[:-1], bounds[1:], strict=True
        ):
            a, b = max(start, lo), min(stop, hi)
            if a < b:
                part = chunk[a - lo : b - lo]
                part = part if cols is None else part[:, cols]
                col0 = 0 if cols is None else cols.indices(shape[1])[0]
                where = _at_chunk(path, a - lo, col0)
                parts.append(cast_block(part, dtype, order, where))
        return parts[0] if len(parts) == 1 else np.concatenate(parts)

    stats = [os.stat(p) for p in paths]
    name = _short_hash(
        [_file_key(p, st) for p, st in zip(paths, stats, strict=True)], dtype.str, order
    )
    target = os.path.join(cache_folder, f"chunks-{name}.npy")
    _write_npy_once(
        target,
        get_block,
        shape,
        dtype,
        order,
        src_itemsize=max(d.itemsize for d in dtypes),
    )
    return open_file(
        target, cache_folder=cache_folder, owned=True, cleanup_family=True
    ).full()


def _at_chunk(path, row0, col0):
    """Name an element of a block read from a chunk file at ``[row0, col0]``."""

    def where(index):
        at = ", ".join(
            str(i + o) for i, o in zip(index, (row0, col0)[: len(index)], strict=True)
        )
        return f"{path!r}[{at}]"

    return where
