"""The mapped file: one ``.npy`` file mapped in this process, and its references.

:class:`_MappedFile` checks and maps a file, hands out :class:`MemmapArray`
views of it and removes the files it owns (and those derived from it) when no
array uses it any more. :func:`open_file` and :func:`open_derived` reuse one
mapping per file; :func:`_rebuild` maps it again where a pickled reference
arrives, and :func:`_missing_file_error` explains a reference whose file is
not there.

This is the bottom of the house: it imports no feature built on it. The array
type and the dask features register what they add (``register_*`` below).
"""

import contextlib
import errno
import hashlib
import mmap
import os
import socket
import weakref

import numpy as np
from numpy.lib.array_utils import byte_bounds
from numpy.lib.stride_tricks import as_strided

from skmemmap._config import get_config
from skmemmap._folder import ENV_VAR
from skmemmap._npy import read_header
from skmemmap.exceptions import FileMismatchError

# -- what the features above this layer plug in -------------------------------------
# The mapped file imports none of the features built on it. Those that need a
# say in how a reference is pickled or opened register it here when they are
# imported, as joblib's backends register their reducers with the pickler:
# skmemmap._distribute (a dask worker's own copy of a file; the joblib.dump
# check) and skmemmap._dask (where dask decodes a reference). With nothing
# registered, references open the file they name and nothing is checked.
_resolvers = []  # key -> (path, key, folder) of a local copy, or None
_pickle_checks = []  # (path, owner pid or None) -> None, when a reference is made
_decoder = None  # (context() -> None | "scheduler" | "message", placeholder)
# The array type views of a file are (MemmapArray, registered by skmemmap._array).
_array_type = np.ndarray


def register_array_type(cls):
    """Make :meth:`_MappedFile.view` and :meth:`_MappedFile.full` return ``cls``."""
    global _array_type
    _array_type = cls


def register_resolver(resolve):
    """Let ``resolve(key)`` name a local copy of the file ``key`` references.

    It returns ``(path, key of the copy, folder for derived files)``, or None
    to let the reference open its own path.
    """
    if resolve not in _resolvers:
        _resolvers.append(resolve)


def register_pickle_check(check):
    """Call ``check(path, owner)`` whenever a reference to a file is pickled.

    ``owner`` is the pid of the process whose private folder holds the file,
    or None for a user's file.
    """
    if check not in _pickle_checks:
        _pickle_checks.append(check)


def register_decoder(context, placeholder):
    """Let a transport decide how a reference is unpickled in its processes.

    ``context()`` returns None (open the file; raise if it can't be opened),
    ``"scheduler"`` (do not open it: return ``placeholder(_rebuild, args)``) or
    ``"message"`` (open it, but return ``placeholder(_rebuild, args, error)``
    instead of raising).
    """
    global _decoder
    _decoder = (context, placeholder)


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
        owner = _temporary_owner(self.path)
        for check in _pickle_checks:
            check(self.path, owner)
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
        ).view(_array_type)
        arr._skm_file = self
        return arr

    def full(self):
        """The whole file as a MemmapArray."""
        arr = self.array.view(_array_type)
        arr._skm_file = self
        return arr


# Called as hook(cache_folder, family) before a family's files are removed:
# the copy signal reads the family's copy log while a call or a copy report
# that may count its copies is open (skmemmap._signal.calls).
RELEASE_HOOKS = []


def _release(owned_path, cache_folder, family, pid):
    """Remove an owned file and, for a root, the files derived from it."""
    if os.getpid() != pid:  # a forked child never removes its parent's files
        return
    if owned_path is not None:
        with contextlib.suppress(OSError):
            os.unlink(owned_path)
    if family is not None and cache_folder and _owns_folder(cache_folder, pid):
        for hook in RELEASE_HOOKS:
            with contextlib.suppress(Exception):  # a finalizer must not raise
                hook(cache_folder, family)
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


def _rebuild(ref, byte_offset, shape, strides, dtype):
    """Unpickle a MemmapArray: map the same file here and take the same view.

    Where a registered decoder says so (dask decoding a message, see
    ``_dask.decoding_context``), this never raises: a dask scheduler gets an
    unopened reference that it passes on, and a process that cannot open the
    file gets a placeholder that raises the error at first use, inside the task.
    """
    args = (ref, byte_offset, shape, strides, dtype)
    context, placeholder = _decoder or (None, None)
    context = context() if context is not None else None
    if context == "scheduler":
        return placeholder(_rebuild, args)
    try:
        mapped = _open_ref(ref)
        if ref.get("pid") != os.getpid():  # in the sender, its own setting applies
            mapped.gather_nbytes = ref["gather_nbytes"]
        return mapped.view(byte_offset, tuple(shape), tuple(strides), dtype)
    except (OSError, ValueError) as exc:
        if context is None:
            raise
        return placeholder(_rebuild, args, exc)


def _open_ref(ref):
    """Map the file a reference names, or this machine's copy of it."""
    copy = next(filter(None, (resolve(ref["key"]) for resolve in _resolvers)), None)
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
