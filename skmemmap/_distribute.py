"""Send X's file to dask workers that cannot see it: :func:`distribute`.

A MemmapArray travels as a reference to its file. Workers on machines without
the client's filesystem get a local copy of the file once, written in bounded
chunks sent straight from the client to each worker (not through the
scheduler). Each worker records ``file key -> local copy`` in this module's
registry, and references to the client's file resolve to the copy there:
this module registers that lookup, and the check that warns when
``joblib.dump`` saves a reference to a temporary file, with the mapped-file
layer below (:mod:`skmemmap._mapped`), which imports nothing of dask.

The copy lives as long as a small holder object that the worker keeps as the
result of a dask future owned by the client: when the client releases its
array, or closes, dask forgets the future, the holder is dropped and the copy
is removed.
"""

import contextlib
import os
import secrets
import sys
import threading
import warnings
import weakref

from skmemmap._array import is_memmap_view
from skmemmap._folder import session_folder
from skmemmap._mapped import _file_key, register_pickle_check, register_resolver
from skmemmap._npy import read_header
from skmemmap.exceptions import TemporaryFileWarning

__all__ = ["distribute", "local_copy", "warn_if_persisted"]

# 16 MiB per message: large enough that per-message overhead is negligible
# (about 1 ms of a ~20 ms transfer on a 1 GB/s link), small enough that neither
# the client nor a worker ever holds more than a few chunks of X in memory.
CHUNK_BYTES = 16 * 2**20

# In a worker: key of the client's file -> (copy path, copy key, folder).
_copies = {}
_lock = threading.Lock()
# In a worker: bytes received per copy (what the tests check against X's size).
_received = {}


def local_copy(key):
    """``(path, key, folder)`` of this process's copy of the file ``key``, or None."""
    return _copies.get(key)


class _Holder:
    """Kept by a worker as a future's result; removes the copy when dropped."""

    def __init__(self, key, path):
        self.key, self.path = key, path
        weakref.finalize(self, _remove_copy, key, path, os.getpid())

    def __reduce__(self):  # a holder never leaves its worker as data
        return (_Gone, (self.key,))

    def __sizeof__(self):
        return 64


class _Gone:
    def __init__(self, key):
        self.key = key


def _remove_copy(key, path, pid):
    if os.getpid() != pid:
        return
    with _lock:
        if _copies.get(key, (None,))[0] == path:
            del _copies[key]
    with contextlib.suppress(OSError):
        os.unlink(path)


# The joblib picklers (one per joblib.dump call) that warned already: each
# dump that saves a reference to a temporary file warns once, whether it holds
# one array, several views of it, or a dict of them. Weak: a pickler is
# dropped when its dump returns.
_warned_dumps = weakref.WeakSet()


def warn_if_persisted(path, owner):
    """Warn when a reference to a temporary file is saved by ``joblib.dump``.

    joblib.dump (and joblib.Memory, which uses it) is how scikit-learn users
    keep models and data: such a pickle outlives the process, and with it
    the temporary file. Worker transports (loky, multiprocessing, dask, Ray)
    and plain ``pickle.dumps`` are not warned about: they pickle for a live
    process far more often than for storage, and a warning there would fire
    on every parallel call. Loading a dangling reference explains itself.
    """
    if owner is None:
        return
    module = sys.modules.get("joblib.numpy_pickle")
    source = getattr(module, "__file__", None)
    if source is None:
        return
    joblib_dir = os.path.dirname(source) + os.sep
    frame, level, pickler, caller = sys._getframe(1), 2, None, None
    while frame is not None:
        filename = frame.f_code.co_filename
        if pickler is None and filename == source:
            pickler = frame.f_locals.get("self")
        if filename.startswith(joblib_dir):
            caller = level + 1  # the frame that called into joblib
        frame, level = frame.f_back, level + 1
    if not isinstance(pickler, module.NumpyPickler) or pickler in _warned_dumps:
        return
    _warned_dumps.add(pickler)
    warnings.warn(
        f"joblib.dump is saving a reference to the temporary file {path!r}, not "
        f"its data: a MemmapArray pickles as a reference to its file. The file is "
        f"removed when process {owner} exits, and loading this pickle afterwards "
        f"fails. To keep the data, save it to a path you choose, "
        f"np.save('X.npy', X), and open it with skmemmap.load('X.npy') before "
        f"dumping; references to that file keep working. Silence this warning "
        f"with warnings.filterwarnings('ignore', "
        f"category=skmemmap.TemporaryFileWarning).",
        TemporaryFileWarning,
        stacklevel=caller,
    )


# What the mapped-file layer asks of this feature (see skmemmap._mapped).
register_resolver(local_copy)
register_pickle_check(warn_if_persisted)


# -- functions run in the workers ----------------------------------------------
def _probe(ref):
    """``"shared"`` if this worker opens the client's file itself, ``"copied"``
    if it holds a copy already, else ``"missing"``."""
    if ref["key"] in _copies and os.path.exists(_copies[ref["key"]][0]):
        return "copied"
    with contextlib.suppress(OSError):
        st = os.stat(ref["path"])
        if _file_key(ref["path"], st) == ref["key"]:
            return "shared"
    return "missing"


def _open_copy(ref, nbytes, folder):
    """Create an empty file of ``nbytes`` for the copy; return its path."""
    target = session_folder(folder)
    path = os.path.join(target, f"{ref['family']}.copy-{secrets.token_hex(4)}.npy")
    fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY | os.O_CLOEXEC, 0o600)
    try:
        os.ftruncate(fd, nbytes)
    finally:
        os.close(fd)
    return path


def _write_chunk(path, offset, data):
    _received[path] = _received.get(path, 0) + len(data)
    fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC)
    try:
        view = memoryview(data)
        while view:
            written = os.pwrite(fd, view, offset)
            offset += written
            view = view[written:]
    finally:
        os.close(fd)
    return len(data)


def _publish(ref, path):
    """Check the copy and register it; runs as a task, whose result holds it."""
    shape, fortran, dtype, offset = read_header(path)
    if (tuple(shape), dtype.str, fortran, offset) != (
        tuple(ref["shape"]),
        ref["dtype"],
        ref["fortran"],
        ref["offset"],
    ):
        os.unlink(path)
        raise ValueError(f"The copy of {ref['path']!r} at {path!r} is incomplete.")
    key = _file_key(path, os.stat(path))
    holder = _Holder(ref["key"], path)
    with _lock:
        _copies[ref["key"]] = (path, key, os.path.dirname(path))
    return holder


def _discard(path):
    with contextlib.suppress(OSError):
        os.unlink(path)


# -- the client side -------------------------------------------------------------
def _default_client(client):
    if client is not None:
        return client
    try:
        from distributed import get_client
    except ImportError as exc:
        raise ImportError(
            "skmemmap.distribute needs dask.distributed: pip install distributed"
        ) from exc
    try:
        return get_client()
    except ValueError as exc:
        raise ValueError(
            "skmemmap.distribute(X) found no dask client. Create one first "
            "(distributed.Client(...)) or pass client=."
        ) from exc


def _run_on(client, address, function, *args):
    """Run ``function(*args)`` in one worker, talking to it directly."""
    from distributed.core import clean_exception
    from distributed.protocol import pickle

    async def call():
        response = await client.rpc(address).run(
            function=pickle.dumps(function), args=pickle.dumps(args)
        )
        if response["status"] != "OK":
            _, exc, tb = clean_exception(**response)
            raise exc.with_traceback(tb)
        return response["result"]

    return client.sync(call)


def distribute(X, client=None, *, folder=None):
    """Give every worker of a dask client its own copy of X's file, once.

    Use it when the workers cannot open X's file at the same path (workers on
    other machines, or in containers, without a shared filesystem). The file
    is copied in chunks of 16 MiB, sent from this process straight to each
    worker, so neither side ever holds X in memory. Afterwards, every
    reference to X's file that reaches such a worker (X, its folds, a search's
    tasks) opens the worker's copy: folds are views there too. Workers that
    already open the file itself (a shared filesystem) get nothing.

    Parameters
    ----------
    X : MemmapArray
        An array returned by :func:`skmemmap.memmap` or :func:`skmemmap.load`,
        or a view of one: the whole file it is a view of is sent.
    client : distributed.Client, default=None
        The client whose current workers get the file. ``None`` uses the
        default client (:func:`distributed.get_client`).
    folder : str or path-like, default=None
        Base folder for the copy in each worker. ``None`` uses the worker's
        ``$SKMEMMAP_FOLDER``, else its system temporary directory.

    Returns
    -------
    X : MemmapArray
        X itself, so that ``search.fit(skmemmap.distribute(X), y)`` reads
        naturally.

    See Also
    --------
    MemmapArray
        Pickles as a reference to its file.
    FileMismatchError
        Raised when a worker's copy differs from the file.

    Notes
    -----
    A worker's copy lives until X's file is released in this process (the
    last MemmapArray using it is garbage collected) or the client closes.
    Workers that join later do not have it: a task that reaches one fails
    with a :class:`FileNotFoundError` that names :func:`distribute`; call it
    again to send the file to the new workers. Files that a worker derives
    from its copy (a layout sibling, a gathered fold) stay on its machine.

    Examples
    --------
    >>> import numpy as np, skmemmap
    >>> from distributed import Client, LocalCluster  # doctest: +SKIP
    >>> X = skmemmap.memmap(np.ones((1000, 4)))
    >>> with LocalCluster(n_workers=2) as cluster, Client(cluster) as client:
    ...     X is skmemmap.distribute(X, client)  # doctest: +SKIP
    True
    """
    if not is_memmap_view(X):
        raise TypeError(
            f"skmemmap.distribute expects a MemmapArray (from skmemmap.memmap or "
            f"skmemmap.load), got {type(X).__name__}. Map it first: "
            f"X = skmemmap.distribute(skmemmap.memmap(X), client)."
        )
    client = _default_client(client)
    mapped = X._skm_file
    ref = mapped.ref()
    workers = list(client.scheduler_info(n_workers=-1)["workers"])
    states = {w: _run_on(client, w, _probe, ref) for w in workers}
    missing = [w for w, state in states.items() if state == "missing"]
    total = mapped.offset + mapped.nbytes
    sent = {}
    for worker in missing:
        sent[worker] = _send(client, worker, mapped, ref, total, folder)
    _keep_alive(mapped, sent)
    return X


def _send(client, worker, mapped, ref, total, folder):
    path = _run_on(client, worker, _open_copy, ref, total, folder)
    try:
        with open(mapped.path, "rb") as f:
            offset = 0
            while offset < total:
                data = f.read(min(CHUNK_BYTES, total - offset))
                if not data:
                    raise OSError(f"{mapped.path!r} ended early while being sent.")
                _run_on(client, worker, _write_chunk, path, offset, data)
                offset += len(data)
                del data
        future = client.submit(
            _publish,
            ref,
            path,
            workers=[worker],
            allow_other_workers=False,
            pure=False,
            key=f"skmemmap-copy-{ref['key']}-{secrets.token_hex(4)}",
        )
        future.result()
    except BaseException:
        with contextlib.suppress(Exception):
            _run_on(client, worker, _discard, path)
        raise
    return total, future


def _keep_alive(mapped, sent):
    # The futures keep the copies: they are released with the client, or when
    # this process releases the file (the mapping's lifetime).
    futures = [future for _, future in sent.values()]
    if not futures:
        return
    mapped.copies.extend(futures)
