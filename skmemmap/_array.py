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
import errno
import functools
import hashlib
import mmap
import os
import secrets
import socket
import weakref

import numpy as np
from numpy.lib.array_utils import byte_bounds
from numpy.lib.stride_tricks import as_strided
from scipy import sparse

from skmemmap._config import get_config
from skmemmap._dask import Unresolved, decoding_context, send_by_reference
from skmemmap._distribute import local_copy, warn_if_persisted
from skmemmap._folder import ENV_VAR, atomic_write, create_once, session_folder
from skmemmap._npy import (
    cast_block,
    header_bytes,
    may_change_values,
    read_header,
    write_blocks,
)
from skmemmap._signal import CopyEvent, emit
from skmemmap.exceptions import FileMismatchError

__all__ = ["MemmapArray", "is_memmap_view", "load", "memmap"]

# Files opened in this process, keyed by (file key, mode). Weak values: a file
# is unmapped when no array uses it any more.
_open_files = weakref.WeakValueDictionary()


def _file_key(path, st):
    """An identity for a file that every process on the machine computes alike."""
    text = f"{os.path.realpath(path)}|{st.st_ino}|{st.st_size}|{st.st_mtime_ns}"
    return hashlib.sha1(text.encode()).hexdigest()[:16]


def _short_hash(*parts):
    h = hashlib.sha1()
    for part in parts:
        h.update(part if isinstance(part, (bytes, memoryview)) else repr(part).encode())
        h.update(b"\0")
    return h.hexdigest()[:16]


def _check_dtype(dtype, what="X"):
    """``dtype`` if numeric; ``what`` names its owner (None: the dtype= argument)."""
    dtype = np.dtype(dtype)
    if dtype.kind not in "biuf":
        if what is None:
            fix = (
                f"dtype={dtype} was requested. Pass a numeric dtype, such as "
                f"np.float64 or np.float32"
            )
        else:
            fix = (
                f"{what} has dtype {dtype}. Convert it with X.astype(np.float64) "
                f"or encode non-numeric columns first"
            )
        raise ValueError(
            f"skmemmap maps numeric data only (boolean, integer or floating "
            f"point); {fix}."
        )
    return dtype


def _target_dtype(src_dtype, dtype):
    """The dtype to write: the requested one, else the source's; numeric."""
    return _check_dtype(src_dtype) if dtype is None else _check_dtype(dtype, None)


def _check_shape(shape, what="X"):
    if len(shape) not in (1, 2):
        raise ValueError(
            f"Expected a 1-D or 2-D array, got {what} with shape {shape} "
            f"({len(shape)} dimensions). Reshape it, e.g. X.reshape(len(X), -1)."
        )
    if shape[0] == 0:
        raise ValueError(
            f"Found array with 0 sample(s) (shape={shape}) while a minimum of 1 "
            f"is required."
        )
    if len(shape) == 2 and shape[1] == 0:
        raise ValueError(
            f"Found array with 0 feature(s) (shape={shape}) while a minimum of 1 "
            f"is required."
        )


class _MappedFile:
    """One ``.npy`` file mapped in this process, and what to do when it is unused.

    ``family`` names the root file that derived files (layout siblings,
    gathers) were made from; all files of a family live in ``cache_folder``
    and are removed together when the root is released by the process that
    owns the cache folder.
    """

    def __init__(
        self,
        path,
        *,
        mode="r",
        cache_folder,
        family=None,
        owned=False,
        cleanup_family=False,
        expect=None,
    ):
        path = os.fspath(path)
        try:
            st = os.stat(path)
        except FileNotFoundError:
            raise _missing_file_error(path, expect) from None
        shape, fortran, dtype, offset = read_header(path)
        _check_dtype(dtype, what=repr(path))
        nbytes = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
        if st.st_size != offset + nbytes:
            raise FileMismatchError(
                f"{path!r} holds {st.st_size} bytes but its header describes "
                f"{offset + nbytes} (shape {shape}, dtype {dtype}): the file is "
                f"truncated or was changed."
            )
        self.path = path
        self.key = _file_key(path, st)
        if expect is not None and (
            expect["key"] != self.key
            or tuple(expect["shape"]) != tuple(shape)
            or np.dtype(expect["dtype"]) != dtype
            or expect["fortran"] != fortran
            or expect["offset"] != offset
        ):
            raise FileMismatchError(
                f"{path!r} no longer matches the array that was sent: expected shape "
                f"{tuple(expect['shape'])}, dtype {np.dtype(expect['dtype'])}, "
                f"{'Fortran' if expect['fortran'] else 'C'} order, found shape "
                f"{shape}, dtype {dtype}, {'Fortran' if fortran else 'C'} order "
                f"(or the file was modified since). Refusing to read the wrong bytes."
            )
        _check_shape(shape, what=repr(path))
        self.shape, self.dtype = shape, dtype
        self.fortran, self.offset = fortran, offset
        self.mode = mode
        self.cache_folder = os.fspath(cache_folder) if cache_folder else None
        self.family = family or self.key
        self.array = np.memmap(
            path,
            dtype=dtype,
            mode=mode,
            offset=offset,
            shape=shape,
            order="F" if fortran else "C",
        )
        self._bytes = self.array.reshape(-1, order="A").view(np.uint8)
        self.start = self.array.__array_interface__["data"][0]
        self.nbytes = nbytes
        # None: follow this process's gather_nbytes setting at indexing time.
        # Set when unpickled in another process, to the sender's setting.
        self._gather_override = None
        self.parent = None  # the file this one was derived from (kept alive)
        # dask futures whose results keep workers' copies of this file
        # (skmemmap.distribute): released with this mapping.
        self.copies = []
        weakref.finalize(
            self,
            _release,
            path if owned else None,
            self.cache_folder,
            self.family if cleanup_family else None,
            os.getpid(),
        )

    # The mapping belongs to the arrays that use it, not to this object:
    # views, whose base chain holds the np.memmap, keep it alive; this object
    # keeps only a weak reference. A file that only serves as the parent of
    # a sibling or a gather (the float64 source once its float32 sibling is
    # made) thus stays open for its lifetime and cleanup, but not mapped:
    # its pages leave this process's page tables with its last view, and it
    # is mapped again on demand. While any view lives, ``array`` is that same
    # mapping, so byte offsets against ``start`` stay valid.
    _array_ref = None

    @property
    def array(self):
        """The whole file as an :class:`numpy.memmap` (mapped now if unmapped)."""
        arr = None if self._array_ref is None else self._array_ref()
        if arr is None:
            arr = np.memmap(
                self.path,
                dtype=self.dtype,
                mode=self.mode,
                offset=self.offset,
                shape=self.shape,
                order="F" if self.fortran else "C",
            )
            self._array_ref = weakref.ref(arr)
        return arr

    @array.setter
    def array(self, value):
        self._array_ref = weakref.ref(value)

    @property
    def _bytes(self):
        return self.array.reshape(-1, order="A").view(np.uint8)

    @_bytes.setter
    def _bytes(self, value):
        pass  # derived from ``array`` whenever needed

    @property
    def start(self):
        """Address of the first data byte in the current mapping."""
        return self.array.__array_interface__["data"][0]

    @start.setter
    def start(self, value):
        pass  # derived from ``array`` whenever needed

    @property
    def is_mapped(self):
        """Whether some array in this process still maps the file."""
        return self._array_ref is not None and self._array_ref() is not None

    @property
    def gather_nbytes(self):
        """Gather threshold for this file: the sender's if set, else the setting."""
        if self._gather_override is not None:
            return self._gather_override
        return get_config()["gather_nbytes"]

    @gather_nbytes.setter
    def gather_nbytes(self, value):
        self._gather_override = value

    @property
    def order(self):
        return "F" if self.fortran and len(self.shape) > 1 else "C"

    def contains(self, arr):
        """Whether ``arr``'s memory lies inside this file's mapping."""
        if arr.size == 0:
            return False
        lo, hi = byte_bounds(arr)
        return self.start <= lo and hi <= self.start + self.nbytes

    def ref(self):
        """What a pickle of a view of this file carries, instead of its data."""
        warn_if_persisted(self.path, _temporary_owner(self.path))
        return {
            "path": self.path,
            "key": self.key,
            "shape": self.shape,
            "dtype": self.dtype.str,
            "fortran": self.fortran,
            "offset": self.offset,
            "mode": self.mode,
            "cache_folder": self.cache_folder,
            "family": self.family,
            "gather_nbytes": self.gather_nbytes,
            "pid": os.getpid(),
            "host": _HOST,
            "temporary": _temporary_owner(self.path),
        }

    def view(self, byte_offset, shape, strides, dtype):
        """A MemmapArray over this file's bytes with the given geometry."""
        dtype = np.dtype(dtype)
        extents = [(n - 1) * s for n, s in zip(shape, strides, strict=True)]
        lo = byte_offset + sum(e for e in extents if e < 0)
        hi = byte_offset + dtype.itemsize + sum(e for e in extents if e > 0)
        if lo < 0 or hi > self.nbytes or 0 in shape:
            raise FileMismatchError(
                f"A view of {self.path!r} (byte offset {byte_offset}, shape {shape}) "
                f"reaches outside the file's {self.nbytes} data bytes."
            )
        first = self._bytes[byte_offset : byte_offset + dtype.itemsize].view(dtype)
        arr = as_strided(
            first, shape=shape, strides=strides, writeable=self.mode == "c"
        ).view(MemmapArray)
        arr._skm_file = self
        return arr

    def full(self):
        """The whole file as a MemmapArray."""
        arr = self.array.view(MemmapArray)
        arr._skm_file = self
        return arr


def _release(owned_path, cache_folder, family, pid):
    """Remove an owned file and, for a root, the files derived from it."""
    if os.getpid() != pid:  # a forked child never removes its parent's files
        return
    if owned_path is not None:
        with contextlib.suppress(OSError):
            os.unlink(owned_path)
    if family is not None and cache_folder and _owns_folder(cache_folder, pid):
        try:
            entries = list(os.scandir(cache_folder))
        except OSError:
            return
        for entry in entries:
            if entry.name.startswith(f"{family}."):
                with contextlib.suppress(OSError):
                    os.unlink(entry.path)


def _owns_folder(folder, pid):
    return os.path.basename(folder).startswith(f"skmemmap-{pid}-")


def open_file(
    path,
    *,
    mode="r",
    cache_folder,
    family=None,
    owned=False,
    cleanup_family=False,
    expect=None,
):
    """Open (or reuse) the mapping of a ``.npy`` file in this process.

    ``owned``: delete the file when the mapping is released. ``cleanup_family``:
    this is a root opened by memmap()/load(): its release also deletes the
    files derived from it (siblings, gathers), in the process owning the folder.
    """
    key = None
    if expect is not None:
        key = expect["key"]
    else:
        # A missing file: _MappedFile raises the explanatory error.
        with contextlib.suppress(FileNotFoundError):
            key = _file_key(path, os.stat(path))
    cached = _open_files.get((key, mode)) if key else None
    if cached is not None and cached.path == os.fspath(path):
        return cached
    mapped = _MappedFile(
        path,
        mode=mode,
        cache_folder=cache_folder,
        family=family,
        owned=owned,
        cleanup_family=cleanup_family,
        expect=expect,
    )
    _open_files[(mapped.key, mode)] = mapped
    return mapped


def open_derived(mapped, path, mode="r"):
    """Map a file made from ``mapped`` (a gather, a sibling), or ``mapped``'s own
    file copy-on-write (``mode="c"``), as part of its family.

    The derived mapping follows ``mapped``'s gather setting and keeps it alive:
    releasing the root deletes its family's files, and an owned root's own file.
    """
    out = open_file(
        path, mode=mode, cache_folder=mapped.cache_folder, family=mapped.family
    )
    out._gather_override = mapped._gather_override
    out.parent = mapped
    return out


def _rebuild(ref, byte_offset, shape, strides, dtype):
    """Unpickle a MemmapArray: map the same file here and take the same view.

    Where dask decodes a message (see ``_dask.decoding_context``), this never
    raises: a dask scheduler gets an unopened reference that it passes on,
    and a process that cannot open the file gets a placeholder that raises
    the error at first use, inside the task.
    """
    args = (ref, byte_offset, shape, strides, dtype)
    context = decoding_context()
    if context == "scheduler":
        return Unresolved(_rebuild, args)
    try:
        mapped = _open_ref(ref)
        if ref.get("pid") != os.getpid():  # in the sender, its own setting applies
            mapped.gather_nbytes = ref["gather_nbytes"]
        return mapped.view(byte_offset, tuple(shape), tuple(strides), dtype)
    except (OSError, ValueError) as exc:
        if context is None:
            raise
        return Unresolved(_rebuild, args, exc)


def _open_ref(ref):
    """Map the file a reference names, or this machine's copy of it."""
    copy = local_copy(ref["key"])
    if copy is not None and os.path.exists(copy[0]):
        path, key, folder = copy
        # The copy is another file (its own inode and time): check it by its
        # key, and keep the files derived from it in the worker's own folder.
        return open_file(
            path,
            mode=ref["mode"],
            cache_folder=folder,
            family=ref["family"],
            expect=dict(ref, key=key),
        )
    return open_file(
        ref["path"],
        mode=ref["mode"],
        cache_folder=ref["cache_folder"],
        family=ref["family"],
        expect=ref,
    )


# Sent with every reference: a missing temporary file is explained differently
# on the machine that made it (its process has exited) and on another one.
_HOST = socket.gethostname()


def _temporary_owner(path):
    """The pid owning the private folder ``path`` lives in, or None (a user's file)."""
    name = os.path.basename(os.path.dirname(path))
    prefix, _, rest = name.partition("-")
    pid = rest.partition("-")[0]
    if prefix != "skmemmap" or not pid.isdigit():
        return None
    return int(pid)


def _alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # exists, owned by someone else
        return True
    return True


def _missing_file_error(path, ref):
    """The FileNotFoundError for a reference whose file is not here."""
    ref = ref or {}
    owner = ref.get("temporary")
    if owner is not None and ref.get("host") == _HOST and not _alive(owner):
        why = (
            f"it was a temporary file of process {owner}, which has exited, and "
            f"its data went with it: a pickled MemmapArray is a reference to its "
            f"file, not a copy of the data. To keep data beyond the process that "
            f"maps it, save it to a path you choose, np.save('X.npy', X) (it is "
            f"written from the file, block by block), and open it with "
            f"skmemmap.load('X.npy'): references to that file keep working"
        )
    else:
        other = ref.get("host") not in (None, _HOST)
        where = f"on this machine ({_HOST})" if other else "here"
        why = (
            f"it does not exist {where}. Workers on other machines need "
            f"either the folder on a shared filesystem mounted at the same path "
            f"(point folder= or ${ENV_VAR} there), or, on dask, their own copy "
            f"of the file: call skmemmap.distribute(X, client) before the search"
        )
    return FileNotFoundError(
        errno.ENOENT, f"Cannot open the skmemmap file {path!r}: {why}", path
    )


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

    Examples
    --------
    >>> import numpy as np, skmemmap
    >>> X = skmemmap.memmap(np.ones((4, 2)))
    >>> skmemmap.is_memmap_view(X[1:3]), skmemmap.is_memmap_view(X + 1)
    (True, False)
    """
    return isinstance(X, MemmapArray) and X._skm_file is not None


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
      process reuses. Both emit a :class:`~skmemmap.CopyWarning`.
    * Pickling sends a reference to the file, never the data: joblib, loky,
      multiprocessing and dask workers get a view of the same file.

    Results computed from the data (arithmetic, ufuncs, ``astype``, ``copy``,
    reductions) are plain :class:`numpy.ndarray` objects.

    See Also
    --------
    memmap : Write an array to a file once and map it.
    load : Map an existing ``.npy`` file, or consolidate chunk files.

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
        start = int(idx[0])
        if int(idx[-1]) - start == idx.size - 1 and (
            idx.size == 1 or bool(np.all(np.diff(idx) == 1))
        ):
            return super().__getitem__((slice(start, start + idx.size), *rest))
        return self._take_rows(idx, rest)

    def _take_rows(self, idx, rest):
        """Non-contiguous rows: gather into a shared file, or copy in memory."""
        mapped = self._skm_file
        row_nbytes = int(np.prod(self.shape[1:], dtype=np.int64)) * self.itemsize
        nbytes = row_nbytes * idx.size
        shape = (idx.size, *self.shape[1:])
        why = f"the selection {_describe_selection(idx)}, so it is not a view"
        threshold = mapped.gather_nbytes
        if mapped.cache_folder and threshold is not None and nbytes > threshold:
            result, written = _gather(self, idx)
            if written:
                emit(
                    CopyEvent(
                        "rows",
                        "Non-contiguous rows of X copied",
                        nbytes,
                        "Contiguous rows are views: ContiguousKFold(2), or "
                        "shuffle=False after skmemmap.shuffle",
                        f"{why}; {shape[0]} rows were gathered into a file that "
                        f"every process reuses",
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
                nbytes,
                "Select one contiguous, ascending run of rows to get a view",
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


def _gather(view, idx):
    """Write ``view[idx]`` to a file keyed by the view and selection; map it.

    The rows are written in blocks of at most ``BLOCK_BYTES``, so the memory
    a gather uses does not grow with X. Afterwards the pages it read are
    dropped from this process's page tables (see :func:`_drop_pages`).
    """
    mapped = view._skm_file
    # Keep the view's own memory order (as numpy's "K"): the rows of a Fortran
    # file, whole or sliced, gather into a Fortran file.
    fortran = view.ndim > 1 and abs(view.strides[0]) < abs(view.strides[1])
    order = "F" if fortran else "C"
    byte_offset = view.__array_interface__["data"][0] - mapped.start
    idx = np.ascontiguousarray(idx, dtype=np.intp)
    name = _short_hash(
        mapped.key,
        byte_offset,
        view.shape,
        view.strides,
        view.dtype.str,
        order,
        memoryview(idx).cast("B"),  # hashed in place, not copied to bytes
    )
    path = os.path.join(mapped.cache_folder, f"{mapped.family}.gather-{name}.npy")
    shape = (idx.size, *view.shape[1:])
    written = _write_npy_once(
        path, _row_taker(view.view(np.ndarray), idx, order), shape, view.dtype, order
    )
    if written:
        _drop_pages(mapped)
    return open_derived(mapped, path).full(), written


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


def _write_npy_once(path, get_block, shape, dtype, order, src_itemsize=0):
    header = header_bytes(shape, dtype, order)
    n_items = int(np.prod(shape, dtype=np.int64))
    nbytes = len(header) + n_items * np.dtype(dtype).itemsize

    def write(f):
        f.write(header)
        write_blocks(f, get_block, shape, dtype, order, src_itemsize)

    return create_once(path, nbytes, write)


def _write_new_npy(folder, get_block, shape, dtype, order, src_itemsize=0):
    """Write a new file in ``folder`` under an unpredictable name; return its path."""
    header = header_bytes(shape, dtype, order)
    n_items = int(np.prod(shape, dtype=np.int64))
    nbytes = len(header) + n_items * np.dtype(dtype).itemsize
    path = os.path.join(folder, f"{secrets.token_hex(8)}.npy")
    with atomic_write(path, nbytes) as f:
        f.write(header)
        write_blocks(f, get_block, shape, dtype, order, src_itemsize)
    return path


# -- layout siblings -------------------------------------------------------------
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


def has_layout(X, dtype, order):
    """Whether ``X`` already has this dtype and order (contiguous, or rows of a
    file in that layout)."""
    if X.dtype != dtype:
        return False
    if X.ndim < 2:
        return X.flags.c_contiguous
    if X.flags.f_contiguous if order == "F" else X.flags.c_contiguous:
        return True
    return is_memmap_view(X) and order_of(X) == order and row_range(X) is not None


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


def _drop_pages(mapped):
    """Unmap the pages a conversion read from a read-only file mapping.

    Converting reads the whole source once; without this its pages stay in
    this process's page tables (and PSS) for as long as the source is mapped,
    although the estimator reads only the converted file. MADV_DONTNEED on a
    shared read-only file mapping only drops the page-table entries: the data
    stays in the page cache and is faulted back in from it if read again.
    Private (copy-on-write) mappings are left alone: there it would discard
    written pages.
    """
    mm = getattr(mapped.array, "_mmap", None)
    advice = getattr(mmap, "MADV_DONTNEED", None)
    if mapped.mode != "r" or mm is None or advice is None:
        return
    with contextlib.suppress(OSError, ValueError):  # an optimisation only
        mm.madvise(advice)


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
    if not isinstance(X.base, mmap.mmap) or not has_layout(X, dtype, order):
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
        if has_layout(X, dtype, order):
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


def load(path, *, dtype=None, order=None, folder=None):
    """Open a ``.npy`` file (or a list of chunk files) as a MemmapArray.

    A single file is mapped read-only without reading it into memory; the
    file itself is never modified nor deleted. A list of ``.npy`` files with
    the same number of columns and dtype (a dataset saved as
    ``train_x_0.npy ... train_x_40.npy``) is consolidated once into one new
    file, streaming chunk by chunk; the chunks are left untouched. A list of
    one file is that file, mapped as it is.

    Parameters
    ----------
    path : str, path-like, or list of them
        A ``.npy`` file, or the chunk files in row order.
    dtype : dtype, default=None
        If given and different from the file's dtype, the data is converted
        once into a new file; a conversion that would change a value raises
        ValueError (see :func:`memmap`). ``None`` keeps the file's dtype.
    order : {"C", "F"}, default=None
        If given and different from the file's order, converted likewise.
        ``None`` keeps the file's order; chunks are consolidated in Fortran
        order if they all are 2-D Fortran arrays, else in C order.
    folder : str or path-like, default=None
        Base folder for converted or consolidated files (see :func:`memmap`).

    Returns
    -------
    X_mm : MemmapArray

    Raises
    ------
    FileNotFoundError
        If a file does not exist.
    ValueError
        If a file is not a ``.npy`` file, is damaged or truncated
        (:class:`~skmemmap.FileMismatchError` for data cut short), holds
        non-numeric data, or if chunks disagree on their columns or dtype.
        Every message names the file.

    Examples
    --------
    >>> import numpy as np, skmemmap, tempfile, os
    >>> d = tempfile.mkdtemp()
    >>> for i in range(3):
    ...     np.save(os.path.join(d, f"x_{i}.npy"), np.full((2, 3), i, dtype=np.float32))
    >>> X = skmemmap.load([os.path.join(d, f"x_{i}.npy") for i in range(3)])
    >>> X.shape, X[:, 0].tolist()
    ((6, 3), [0.0, 0.0, 1.0, 1.0, 2.0, 2.0])
    >>> one = os.path.join(d, "x_1.npy")
    >>> skmemmap.load([one]).filename == one  # mapped as it is, like load(one)
    True
    """
    if dtype is not None:
        dtype = _check_dtype(dtype, what=None)
    if order is not None:
        order = _resolve_order(order, None)
    cache_folder = session_folder(folder)
    if isinstance(path, (list, tuple)) and len(path) != 1:
        return _load_chunks(
            list(path), dtype=dtype, order=order, cache_folder=cache_folder
        )
    if isinstance(path, (list, tuple)):
        (path,) = path
    path = _existing_npy(path)
    X = open_file(path, cache_folder=cache_folder, cleanup_family=True).full()
    if dtype is None and order is None:
        return X
    try:
        return memmap(X, dtype=dtype, order=order, folder=folder)
    except FileMismatchError:
        raise  # already names the file
    except ValueError as exc:  # a conversion that would change values
        raise ValueError(f"{path!r}: {exc}") from None


def _existing_npy(path):
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(
            f"path must be a str, a path-like object or a list of them, got "
            f"{type(path).__name__}."
        )
    path = os.fspath(path)
    if os.path.isdir(path):
        raise IsADirectoryError(
            errno.EISDIR,
            f"{path!r} is a directory, not a .npy file. To load the chunk files "
            f"inside it, pass their paths as a list in row order, e.g. "
            f"sorted(glob.glob(os.path.join(folder, '*.npy')))",
            path,
        )
    if not os.path.isfile(path):
        raise FileNotFoundError(errno.ENOENT, f"No such .npy file: {path!r}", path)
    return os.path.abspath(path)


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


def _load_chunks(paths, *, dtype, order, cache_folder):
    if not paths:
        raise ValueError("load() got an empty list of chunk files.")
    paths = [_existing_npy(p) for p in paths]
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
                f"{paths[0]!r} holds {dtypes[0]}. Pass dtype= to convert them all "
                f"to one dtype."
            )
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
