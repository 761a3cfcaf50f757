"""The chunk list: ``.npy`` chunk files opened in place as one array-like.

A dataset bigger than memory is usually saved as chunks (``train_x_0.npy ...
train_x_40.npy``). :class:`ChunkedArray` maps each chunk read-only and
describes a selection of the dataset's rows as *runs*: ascending ranges of
global row numbers, in the selection's order. Nothing is read or written
when it is made or indexed:

* rows inside one chunk are a :class:`~skmemmap.MemmapArray` view of that
  chunk's file;
* rows across chunks (a contiguous cross-validation fold, the two blocks of a
  middle fold) stay a ChunkedArray: a list of chunk pieces, which
  :class:`~skmemmap.StreamingEstimator` reads block by block in order;
* only something that needs one ndarray (``np.asarray(X)``, an estimator's
  ``check_array``, :meth:`ChunkedArray.gather`) gathers the rows, into a file
  that every process reuses or, below ``gather_nbytes``, in memory, with the
  copy reported as for one file.

Pickling sends the chunk files' references and the runs, never data.
"""

import os
import re
import weakref

import numpy as np

from skmemmap._config import get_config
from skmemmap._mapped import _short_hash, open_file
from skmemmap._npy import _write_npy_once, cast_block
from skmemmap._signal import CopyEvent, emit
from skmemmap._utils import format_mb

__all__ = ["ChunkedArray", "is_chunked"]

# The chunk sets mapped in this process, by family: unpickling the same chunk
# list for every task of a search reuses one set (its files are mapped once).
_open_sets = weakref.WeakValueDictionary()
# Up to this many runs, a selection is read piece by piece (one slice copy
# each); beyond, rows are scattered and read chunk by chunk with one fancy
# index each, which avoids a Python step per row.
_FEW_RUNS = 1024


def is_chunked(X):
    """Whether X is a :class:`ChunkedArray`."""
    return isinstance(X, ChunkedArray)


class _ChunkSet:
    """The chunk files of one ``load([...])``, mapped in this process.

    ``bounds[i]:bounds[i + 1]`` are chunk ``i``'s global rows. The set's
    ``family`` names the files gathered from it (``<family>.gather-*.npy`` in
    ``cache_folder``), removed when the process that owns the cache folder
    releases the set.
    """

    def __init__(self, files, cache_folder, *, owner_pid=None):
        self.files = tuple(files)
        self.paths = tuple(f.path for f in self.files)
        self.bounds = np.cumsum([0] + [f.shape[0] for f in self.files], dtype=np.int64)
        self.row_shape = tuple(self.files[0].shape[1:])
        self.dtype = self.files[0].dtype
        two_d = len(self.row_shape) == 1
        self.order = "F" if two_d and all(f.fortran for f in self.files) else "C"
        self.cache_folder = cache_folder
        self.family = _family(self.files)
        self.row_nbytes = int(np.prod(self.row_shape, dtype=np.int64)) * (
            self.dtype.itemsize
        )
        # None: follow this process's gather_nbytes setting; set where a
        # pickled chunk list arrives, to the sender's.
        self.gather_override = None
        pid = os.getpid() if owner_pid is None else owner_pid
        weakref.finalize(self, _release_family, cache_folder, self.family, pid)

    @property
    def n_rows(self):
        return int(self.bounds[-1])

    @property
    def gather_nbytes(self):
        if self.gather_override is not None:
            return self.gather_override
        return get_config()["gather_nbytes"]

    def ref(self):
        return {
            "chunks": [f.ref() for f in self.files],
            "cache_folder": self.cache_folder,
            "family": self.family,
            "gather_nbytes": self.gather_nbytes,
            "pid": os.getpid(),
        }

    def chunk_of(self, rows):
        """Chunk index of each global row in ``rows``."""
        return np.searchsorted(self.bounds, rows, side="right") - 1


def _release_family(cache_folder, family, pid):
    """Remove the files gathered from a chunk set (in the folder's owner only)."""
    from skmemmap._mapped import _release

    _release(None, cache_folder, family, pid)


def open_chunks(paths, cache_folder):
    """The :class:`_ChunkSet` of these (checked, non-empty) chunk files."""
    files = [
        open_file(p, cache_folder=cache_folder, cleanup_family=True) for p in paths
    ]
    key = (_family(files), cache_folder)
    chunks = _open_sets.get(key)
    if chunks is None:
        chunks = _open_sets[key] = _ChunkSet(files, cache_folder)
    return chunks


def _family(files):
    return "chunks-" + _short_hash(*(f.key for f in files))


def _rebuild_chunked(ref, starts, stops):
    """Unpickle a ChunkedArray: map the same chunk files here, same runs."""
    from skmemmap._mapped import _open_ref

    key = (ref["family"], ref["cache_folder"])
    chunks = _open_sets.get(key)
    if chunks is None:
        files = [_open_ref(r) for r in ref["chunks"]]
        chunks = _ChunkSet(files, ref["cache_folder"], owner_pid=ref["pid"])
        _open_sets[key] = chunks
    if ref["pid"] != os.getpid():
        chunks.gather_override = ref["gather_nbytes"]
    return ChunkedArray._from_runs(chunks, starts, stops)


class ChunkedArray:
    """Rows of several ``.npy`` chunk files, opened in place, as one array.

    Returned by :func:`skmemmap.load` for a list (or folder, or pattern) of
    chunk files. Nothing is read, copied or written when it is made, indexed
    or pickled: it knows each chunk's file and which rows of them it holds.

    * ``X[a:b]``, ``X[idx]`` and ``X[idx, ...]`` select rows. Rows inside one
      chunk are a :class:`~skmemmap.MemmapArray` view of that chunk's file;
      rows across chunks, or scattered rows, are a ChunkedArray again. A
      cross-validation fold is thus a list of chunk pieces, not a copy.
    * :class:`~skmemmap.StreamingEstimator` fits on it block by block, reading
      each chunk in order (:meth:`iter_blocks`).
    * Anything that needs one ndarray (``np.asarray``, most estimators'
      ``fit``, :class:`~skmemmap.MemmapEstimator`) gathers the rows of a
      selection across chunks: into a file that every process reuses when
      they are larger than the ``gather_nbytes`` setting, else in memory.
      Either is a copy, reported as for one file (a
      :class:`~skmemmap.CopyWarning` from ``warn_nbytes`` up). The whole
      chunk list is never gathered implicitly: that raises a ``ValueError``
      naming ``load(..., consolidate=True)``.
    * Pickling sends the chunk files' paths and the selected row ranges,
      never the data: joblib, loky and dask workers map the same files.

    Create one with :func:`skmemmap.load`; it cannot be created directly.

    Attributes
    ----------
    shape : tuple of int
        ``(n_rows, *chunk_shape[1:])``.
    dtype : numpy.dtype
        The chunks' dtype.
    ndim : int
        1 or 2.
    filenames : tuple of str
        The chunk files, in row order.

    See Also
    --------
    load : Open chunk files as a ChunkedArray.
    StreamingEstimator : Fit an incremental estimator block by block.
    MemmapArray : One file's rows; what a selection inside one chunk is.

    Examples
    --------
    >>> import numpy as np, skmemmap, tempfile, os
    >>> d = tempfile.mkdtemp()
    >>> for i in range(3):
    ...     np.save(os.path.join(d, f"x_{i}.npy"), np.full((4, 2), i, dtype=float))
    >>> X = skmemmap.load(d)
    >>> X.shape, len(X.filenames)
    ((12, 2), 3)
    >>> type(X[4:8]).__name__, type(X[2:10]).__name__
    ('MemmapArray', 'ChunkedArray')
    >>> [len(piece) for piece in X[2:10].pieces()]
    [2, 4, 2]
    >>> np.asarray(X[2:10])[:, 0].tolist()
    [0.0, 0.0, 1.0, 1.0, 1.0, 1.0, 2.0, 2.0]
    >>> import shutil; shutil.rmtree(d)  # the example's files
    """

    def __init__(self, *args, **kwargs):
        raise TypeError(
            "ChunkedArray cannot be created directly; use skmemmap.load(paths)."
        )

    @classmethod
    def _from_runs(cls, chunks, starts, stops):
        self = object.__new__(cls)
        self._chunks = chunks
        self._starts = np.asarray(starts, dtype=np.int64)
        self._stops = np.asarray(stops, dtype=np.int64)
        lengths = self._stops - self._starts
        self._offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
        return self

    # -- what it is ------------------------------------------------------------
    @property
    def shape(self):
        """``(n_rows, *chunk_shape[1:])``: the selection's rows, the chunks' columns."""
        return (int(self._offsets[-1]), *self._chunks.row_shape)

    @property
    def dtype(self):
        """The chunk files' dtype."""
        return self._chunks.dtype

    @property
    def ndim(self):
        """1 for a chunk list of 1-D files (y), 2 for 2-D files (X)."""
        return 1 + len(self._chunks.row_shape)

    @property
    def size(self):
        """Number of values in the selection."""
        return int(np.prod(self.shape, dtype=np.int64))

    @property
    def itemsize(self):
        """Bytes of one value."""
        return self.dtype.itemsize

    @property
    def nbytes(self):
        """Bytes the selection's values take (in the chunk files, not in memory)."""
        return self.size * self.itemsize

    @property
    def order(self):
        """``"F"`` if every chunk is a Fortran-ordered 2-D array, else ``"C"``."""
        return self._chunks.order

    @property
    def filenames(self):
        """The chunk files, in row order (all of them, not only this selection's)."""
        return self._chunks.paths

    def __len__(self):
        return self.shape[0]

    def __repr__(self):
        chunks = self._chunks
        names = [os.path.basename(p) for p in chunks.paths]
        files = names[0] if len(names) == 1 else f"{names[0]} ... {names[-1]}"
        folder = os.path.dirname(chunks.paths[0])
        if len(self._starts) == 1 and self.shape[0] == chunks.n_rows:
            rows = "all rows"
        else:
            n_pieces = self._n_pieces()[0]
            rows = f"{self.shape[0]} of {chunks.n_rows} rows, in {n_pieces} pieces"
        return (
            f"ChunkedArray(shape={self.shape}, dtype={self.dtype}, {rows} of "
            f"{len(names)} chunk files {files} in {folder!r})"
        )

    # -- pickling --------------------------------------------------------------
    def __reduce__(self):
        return (_rebuild_chunked, (self._chunks.ref(), self._starts, self._stops))

    # -- pieces and blocks -----------------------------------------------------
    def _piece_bounds(self):
        """``(chunk, a, b)`` per piece: global rows ``a:b`` inside ``chunk``."""
        bounds = self._chunks.bounds
        for start, stop in zip(
            self._starts.tolist(), self._stops.tolist(), strict=True
        ):
            chunk = int(np.searchsorted(bounds, start, side="right")) - 1
            while start < stop:
                end = min(stop, int(bounds[chunk + 1]))
                yield chunk, start, end
                start, chunk = end, chunk + 1

    def _view(self, chunk, a, b):
        lo = int(self._chunks.bounds[chunk])
        return self._chunks.files[chunk].full()[a - lo : b - lo]

    def pieces(self):
        """The selection's rows as views of the chunk files, in row order.

        Yields
        ------
        piece : MemmapArray
            Consecutive rows of one chunk file (a view, nothing is read).
            Together the pieces are the selection, in order.
        """
        for chunk, a, b in self._piece_bounds():
            yield self._view(chunk, a, b)

    def iter_blocks(self, block_rows=None, max_nbytes=None):
        """The selection's rows, block by block, in order.

        Parameters
        ----------
        block_rows : int, default=None
            Rows per block (the last one may be shorter). ``None``: each chunk,
            or the part of it inside the selection, is one block.
        max_nbytes : int, default=None
            With ``block_rows=None``, a chunk's part larger than this is cut
            into blocks of at most this many bytes.

        Yields
        ------
        start, stop : int
            The block's rows in this selection: ``X[start:stop]``.
        block : ndarray
            Those rows: a view of a chunk file when they are consecutive rows
            of one chunk, else gathered in memory (a block, not X).
        """
        if block_rows is not None:
            yield from self._fixed_blocks(int(block_rows))
            return
        step = None
        if max_nbytes is not None:
            step = max(1, int(max_nbytes) // max(1, self._chunks.row_nbytes))
        # Consecutive pieces of one chunk (scattered rows inside it) form a block.
        group, group_chunk, position = [], None, 0
        for chunk, a, b in self._piece_bounds():
            if group and chunk != group_chunk:
                yield from self._cut(group, position, step)
                position += sum(e - s for _, s, e in group)
                group = []
            group.append((chunk, a, b))
            group_chunk = chunk
        if group:
            yield from self._cut(group, position, step)

    def _cut(self, group, position, step):
        n = sum(b - a for _, a, b in group)
        step = n if step is None else step
        for start in range(0, n, step):
            stop = min(n, start + step)
            yield (
                position + start,
                position + stop,
                self._block(position + start, position + stop),
            )

    def _fixed_blocks(self, block_rows):
        if block_rows < 1:
            raise ValueError(f"block_rows must be a positive int, got {block_rows}.")
        n = self.shape[0]
        for start in range(0, n, block_rows):
            stop = min(n, start + block_rows)
            yield start, stop, self._block(start, stop)

    def _block(self, start, stop):
        """Rows ``start:stop`` of the selection: a view if one piece, else read."""
        selection = self._positions(start, stop)
        if is_chunked(selection):
            return selection._read()
        return selection.view(np.ndarray)

    def _read(self, rest=()):
        """The selection's rows (``[:, *rest]`` of each) read into one array.

        Few pieces are copied slice by slice (sequential reads); many (rows
        scattered by a shuffled selection) chunk by chunk with ``np.take``.
        """
        if len(self._starts) <= _FEW_RUNS:
            parts = [
                self._view(c, a, b).view(np.ndarray)[(slice(None), *rest)]
                for c, a, b in self._piece_bounds()
            ]
            return np.concatenate(parts)
        rows = self._global_rows(np.arange(len(self), dtype=np.int64))
        chunk = self._chunks.chunk_of(rows)
        out = None
        for c in np.unique(chunk).tolist():
            where = np.flatnonzero(chunk == c)
            source = self._chunks.files[c].array.view(np.ndarray)
            part = source[rows[where] - self._chunks.bounds[c]][(slice(None), *rest)]
            if out is None:
                out = np.empty((len(self), *part.shape[1:]), dtype=part.dtype)
            out[where] = part
        return out

    def _n_pieces(self):
        """``(pieces, chunk files)`` the selection's rows lie in."""
        first = self._chunks.chunk_of(self._starts)
        last = self._chunks.chunk_of(self._stops - 1)
        # Chunks first..last of each run are touched: count them once each.
        edges = np.zeros(len(self._chunks.files) + 1, dtype=np.int64)
        np.add.at(edges, first, 1)
        np.add.at(edges, last + 1, -1)
        n_files = int(np.count_nonzero(np.cumsum(edges)[:-1]))
        return int(np.sum(last - first + 1)), n_files

    # -- indexing --------------------------------------------------------------
    def _global_rows(self, positions):
        """Global row numbers of the selection's rows at ``positions``."""
        run = np.searchsorted(self._offsets, positions, side="right") - 1
        return self._starts[run] + (positions - self._offsets[run])

    def _positions(self, start, stop):
        """Rows ``start:stop`` of the selection: a MemmapArray view when they lie
        in one chunk, else a ChunkedArray (no data read)."""
        first = int(np.searchsorted(self._offsets, start, side="right")) - 1
        last = int(np.searchsorted(self._offsets, stop, side="left"))
        starts = self._starts[first:last].copy()
        stops = self._stops[first:last].copy()
        starts[0] += start - self._offsets[first]
        stops[-1] -= self._offsets[last] - stop
        return self._select(starts, stops)

    def _select(self, starts, stops):
        if len(starts) == 1:
            chunk = int(self._chunks.chunk_of(starts[0]))
            if stops[0] <= self._chunks.bounds[chunk + 1]:
                return self._view(chunk, int(starts[0]), int(stops[0]))
        return ChunkedArray._from_runs(self._chunks, starts, stops)

    def __getitem__(self, key):
        rows, rest = key, ()
        if isinstance(key, tuple):
            if not key:
                return self
            rows, rest = key[0], key[1:]
        if rows is Ellipsis:
            rows, rest = slice(None), (Ellipsis, *rest)
        trivial = all(
            k is Ellipsis or (isinstance(k, slice) and k == slice(None)) for k in rest
        )
        n = self.shape[0]
        if isinstance(rows, (int, np.integer)) and not isinstance(rows, bool):
            row = int(rows)
            if not -n <= row < n:
                raise IndexError(
                    f"index {row} is out of bounds for axis 0 with size {n}"
                )
            row %= n
            view = self._positions(row, row + 1).view(np.ndarray)[0]
            return view[rest] if rest else view
        if isinstance(rows, slice):
            start, stop, step = rows.indices(n)
            if step == 1:
                selection = (
                    self._positions(start, stop) if stop > start else self._empty()
                )
                return selection if trivial else self._apply(selection, rest)
            rows = np.arange(start, stop, step)
        positions = self._row_positions(rows)
        if positions is None:
            raise IndexError(
                f"only integers, slices, integer or boolean arrays select rows of a "
                f"ChunkedArray; got {type(rows).__name__} {rows!r}"
            )
        if positions.size == 0:
            selection = self._empty()
        else:
            starts, stops = _runs(self._global_rows(positions))
            selection = self._select(starts, stops)
        return selection if trivial else self._apply(selection, rest)

    def _row_positions(self, rows):
        """``rows`` (index array, list or mask) as positions, checked as numpy does."""
        if not isinstance(rows, (list, np.ndarray)):
            return None
        rows = np.asarray(rows)
        n = self.shape[0]
        if rows.dtype == bool:
            if rows.shape != (n,):
                raise IndexError(
                    f"boolean index did not match indexed array along axis 0; size "
                    f"of axis is {n} but size of corresponding boolean axis is "
                    f"{rows.shape[0] if rows.ndim else 0}"
                )
            return np.flatnonzero(rows)
        if rows.size == 0:
            return np.empty(0, dtype=np.int64)
        if rows.dtype.kind not in "iu" or rows.ndim != 1:
            return None
        rows = rows.astype(np.int64, copy=False)
        bad = (rows < -n) | (rows >= n)
        if bad.any():
            raise IndexError(
                f"index {int(rows[np.argmax(bad)])} is out of bounds for axis 0 "
                f"with size {n}"
            )
        return np.where(rows < 0, rows + n, rows)

    def _empty(self):
        return np.empty((0, *self._chunks.row_shape), dtype=self.dtype)

    def _apply(self, selection, rest):
        """``selection[:, *rest]``: a view of one piece, else read into memory."""
        if not is_chunked(selection):
            return selection[(slice(None), *rest)]
        out = selection._read(rest)
        _report_read(selection, out.nbytes, "the columns asked for were read")
        return out

    # -- one array ---------------------------------------------------------------
    def gather(self, dtype=None, order=None):
        """The selection as one array: a view if it lies in one chunk, else a file.

        The rows are written once, block by block, into a file in the private
        folder that every process reuses (named after the chunk files and the
        rows), converted to ``dtype`` and ``order`` on the way: no second
        conversion. Writing it is reported as a copy.

        Parameters
        ----------
        dtype : dtype, default=None
            dtype of the result; ``None`` keeps the chunks'. A conversion that
            would change a value raises ValueError (see :func:`skmemmap.memmap`).
        order : {"C", "F"}, default=None
            Memory order of the file; ``None`` keeps the chunks' order.

        Returns
        -------
        X : MemmapArray
        """
        out, written = self._gather(dtype, order)
        if written:
            _report_read(
                self,
                out.nbytes,
                "they were gathered into a file that every process reuses",
                on_disk=True,
            )
        return out

    def single_view(self):
        """The selection as a MemmapArray view if it lies in one chunk, else None."""
        part = self._positions(0, len(self))
        return None if is_chunked(part) else part

    def is_whole(self):
        """Whether the selection is every row of its chunk files, in order."""
        return (
            len(self._starts) == 1
            and self._starts[0] == 0
            and self._stops[0] == self._chunks.n_rows
        )

    def refuse_consolidation(self, who):
        """Raise ValueError if ``who`` would gather every row of a 2-D chunk list.

        Gathering all rows is a consolidated copy of the dataset (the disk
        holds it twice): skmemmap makes one only when asked to.
        """
        if self.ndim < 2 or not self.is_whole() or len(self._chunks.files) < 2:
            return
        pattern = _pattern(self._chunks.paths)
        raise ValueError(
            f"{who} needs X as one array, and X is the whole chunk list "
            f"({format_mb(self.nbytes)} in {len(self._chunks.files)} files): that "
            f"would write a consolidated copy of it. skmemmap makes one only when "
            f"asked: skmemmap.load({pattern!r}, consolidate=True). Or fit an "
            f"incremental estimator block by block, skmemmap.StreamingEstimator("
            f"SGDClassifier()), or a subset of the rows (X[:n_rows]). A search "
            f"refits its best estimator on all rows: GridSearchCV(refit=False) "
            f"keeps the cross-validation only."
        )

    def _gather(self, dtype=None, order=None):
        """``(MemmapArray, written)``: the rows in one file, written here or not."""
        from skmemmap._construct import memmap  # _construct imports this module

        dtype = self.dtype if dtype is None else np.dtype(dtype)
        order = order or self.order
        single = self.single_view()
        if single is not None:
            return memmap(single, dtype=dtype, order=order), False
        chunks = self._chunks
        name = _short_hash(
            chunks.family,
            memoryview(self._starts).cast("B"),
            memoryview(self._stops).cast("B"),
            dtype.str,
            order,
        )
        path = os.path.join(chunks.cache_folder, f"{chunks.family}.gather-{name}.npy")

        def get_block(rows, cols):
            rest = () if cols is None else (cols,)
            start, stop, _ = rows.indices(len(self))
            part = self._positions(start, stop)
            if is_chunked(part):
                return part._read(rest)
            return part.view(np.ndarray)[(slice(None), *rest)]

        written = _write_npy_once(
            path, get_block, self.shape, dtype, order, src_itemsize=self.itemsize
        )
        mapped = open_file(path, cache_folder=chunks.cache_folder, family=chunks.family)
        mapped.parent = chunks  # keeps the chunk set (and its cleanup) alive
        return mapped.full(), written

    def __array__(self, dtype=None, copy=None):
        self.refuse_consolidation("Converting a ChunkedArray to a numpy array")
        if copy is False:
            raise ValueError(
                "A ChunkedArray's rows lie in several files: they cannot be one "
                "array without a copy (np.asarray(X, copy=False) was asked)."
            )
        nbytes = self.size * (np.dtype(dtype).itemsize if dtype else self.itemsize)
        threshold = self._chunks.gather_nbytes
        if threshold is not None and nbytes > threshold:
            out = self.gather(dtype=dtype).view(np.ndarray)
        else:
            out = self._read()
            if dtype is not None:
                out = cast_block(out, dtype, "C", lambda index: f"X[{index}]")
            _report_read(self, out.nbytes, "they were copied in memory")
        return out


def _report_read(selection, nbytes, how, on_disk=False):
    """Report a copy of a chunk list's rows as one array."""
    pieces, n_files = selection._n_pieces()
    chunks = selection._chunks
    if selection.ndim == 1:
        # Targets and weights: scikit-learn's metrics and checks need them
        # whole. Kept in one file, contiguous folds of them are views.
        what = "Values of a 1-D chunk list (y) copied into one array"
        pattern = _pattern(chunks.paths)
        remedy = (
            f"Keep y in one file: skmemmap.load({pattern!r}, consolidate=True) "
            f"writes it once"
        )
    else:
        what = "Rows of a chunk list copied into one array"
        remedy = "StreamingEstimator reads the pieces block by block without a copy"
    emit(
        CopyEvent(
            "rows",
            what,
            int(nbytes),
            remedy,
            f"the {selection.shape[0]} rows lie in {pieces} pieces of {n_files} "
            f"chunk files, and something needed them as one array; {how} "
            f"({format_mb(nbytes)})",
            on_disk=on_disk,
            family=chunks.family,
            shape=selection.shape,
        ),
        folder=chunks.cache_folder,
    )


def _pattern(paths):
    """A glob pattern for chunk files, e.g. ``/data/train_y_*.npy``."""
    names = [os.path.basename(p) for p in paths]
    template = {tuple(_DIGITS.split(n)[0::2]) for n in names}
    folder = os.path.dirname(paths[0])
    if len(template) == 1:
        return os.path.join(folder, "*".join(next(iter(template))))
    return os.path.join(folder, "*.npy")


def _runs(rows):
    """``(starts, stops)`` of the ascending runs of consecutive values in ``rows``."""
    breaks = np.flatnonzero(np.diff(rows) != 1) + 1
    starts = rows[np.concatenate([[0], breaks])]
    ends = rows[np.concatenate([breaks - 1, [rows.size - 1]])] + 1
    return starts.astype(np.int64), ends.astype(np.int64)


# -- the order of chunk files --------------------------------------------------
_DIGITS = re.compile(r"(\d+)")


def natural_order(paths, where, folder):
    """``paths`` sorted by the numbers in their names (``x_2`` before ``x_10``).

    Raises ValueError, listing the order it would use, when the names do not
    tell one order: they differ in more than their numbers (``train_x_*`` and
    ``train_y_*`` in one folder) or two names have the same numbers
    (``x_1.npy`` and ``x_01.npy``).
    """
    parsed = {}
    for path in paths:
        parts = _DIGITS.split(os.path.basename(path))
        parsed[path] = (tuple(parts[0::2]), tuple(int(n) for n in parts[1::2]))
    ordered = sorted(paths, key=lambda p: (parsed[p][0], parsed[p][1], p))
    templates = {t for t, _ in parsed.values()}
    numbers = [n for _, n in parsed.values()]
    if len(paths) > 1 and (len(templates) > 1 or len(set(numbers)) < len(numbers)):
        listed = ", ".join(os.path.basename(p) for p in ordered[:6])
        more = f", ... ({len(ordered)} files)" if len(ordered) > 6 else ""
        why = (
            "their names differ in more than their numbers"
            if len(templates) > 1
            else "two of them have the same numbers"
        )
        raise ValueError(
            f"Cannot tell the row order of the .npy files in {where}: {why}. In "
            f"natural order they would be {listed}{more}. Pass the chunk files "
            f"of one array in row order as a list, or a pattern that matches "
            f"only them, e.g. skmemmap.load({os.path.join(folder, 'train_x_*.npy')!r})."
        )
    return ordered


def check_aligned(X, y):
    """Raise ValueError if X and y are chunk lists whose chunks differ in length.

    Both lists of the same length but chunked differently usually means the
    files were listed in different orders (``train_x_10`` before ``train_x_2``
    in one of them): rows of X would no longer match rows of y.
    """
    if not (is_chunked(X) and is_chunked(y)):
        return
    x_sizes = np.diff(X._chunks.bounds)
    y_sizes = np.diff(y._chunks.bounds)
    if len(x_sizes) == len(y_sizes) and np.array_equal(x_sizes, y_sizes):
        return
    n = min(len(x_sizes), len(y_sizes))
    differ = np.flatnonzero(x_sizes[:n] != y_sizes[:n])
    i = int(differ[0]) if differ.size else n
    x_name = os.path.basename(X.filenames[i]) if i < len(x_sizes) else "none"
    y_name = os.path.basename(y.filenames[i]) if i < len(y_sizes) else "none"
    x_rows = int(x_sizes[i]) if i < len(x_sizes) else 0
    y_rows = int(y_sizes[i]) if i < len(y_sizes) else 0
    raise ValueError(
        f"X and y are chunk lists whose chunks do not match: chunk {i} of X "
        f"({x_name}) has {x_rows} rows, chunk {i} of y ({y_name}) has {y_rows}. "
        f"Rows of X would not match rows of y. Open both in the same order, e.g. "
        f"skmemmap.load('train_x_*.npy') and skmemmap.load('train_y_*.npy'), "
        f"which sort the files by the numbers in their names."
    )
