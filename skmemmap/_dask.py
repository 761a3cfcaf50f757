"""Make dask send MemmapArrays as file references, as pickle and joblib do.

dask.distributed serializes an ndarray by value with its own serializer,
which it finds by walking the type's MRO, so a MemmapArray (an ndarray
subclass) would be copied whole into every worker. joblib's dask backend does
this to every argument larger than 1 kB (``client.scatter``), so the X of a
search would reach each worker as a copy. Registering MemmapArray with dask
makes dask fall back to pickle, whose ``__reduce__`` sends (file, offset,
shape, strides, dtype), and the worker maps the same file.

Two places where dask decodes a MemmapArray must neither map its file nor
raise (see :func:`decoding_context`): the scheduler, which unpickles task
graphs only to route them and is a long-lived service that must never hold
users' data, and any process decoding a message, where an exception while
unpickling ends the connection (a worker decoding the scheduler's stream
shuts down). There the reference stays an :class:`Unresolved` placeholder.

The mapped-file layer (:mod:`skmemmap._mapped`) knows nothing of dask: this
module registers :func:`decoding_context` and :class:`Unresolved` with it.

dask is optional: nothing here imports it. If ``distributed`` is already
imported, the registration happens at once; otherwise an import hook does it
right after ``distributed`` is first imported (``import distributed``,
``joblib.parallel_config(backend="dask")``), in whichever order users import
things.
"""

import contextlib
import importlib.abc
import importlib.util
import os
import pickle
import sys

from skmemmap._mapped import register_decoder

__all__ = ["Unresolved", "decoding_context", "send_by_reference"]


def send_by_reference(cls):
    """Register ``cls`` with dask now, or as soon as ``distributed`` is imported."""
    if "distributed" in sys.modules:
        _register(cls)
    elif not any(isinstance(f, _AfterImport) for f in sys.meta_path):
        sys.meta_path.insert(0, _AfterImport(cls))


def _register(cls):
    # A half-initialised or broken dask must not break the user's import:
    # without the registration MemmapArrays still work, only copied.
    with contextlib.suppress(ImportError, AttributeError):
        from dask.sizeof import sizeof
        from distributed.protocol import dask_serialize

        dask_serialize.register(cls)(_use_pickle)
        # The memory a MemmapArray holds is the page cache of its file, which
        # the kernel reclaims, not worker memory: count its reference, so
        # that dask neither spills nor pauses workers for mapped data.
        sizeof.register(cls)(_reference_size)


def _use_pickle(x):
    # distributed tries its "dask" serializers first and falls back to
    # "pickle" on NotImplementedError; pickle calls MemmapArray.__reduce__.
    raise NotImplementedError(type(x).__name__)


def _reference_size(x):
    return len(pickle.dumps(x, protocol=pickle.HIGHEST_PROTOCOL))


class _AfterImport(importlib.abc.MetaPathFinder):
    """Run the registration right after the ``distributed`` package is executed."""

    def __init__(self, cls):
        self.cls = cls

    def find_spec(self, fullname, path, target=None):
        if fullname != "distributed":
            return None
        sys.meta_path.remove(self)  # once: let the normal finders find it
        spec = importlib.util.find_spec(fullname)
        loader = getattr(spec, "loader", None)
        if loader is None or not hasattr(loader, "exec_module"):
            return spec
        exec_module = loader.exec_module
        cls = self.cls

        def exec_then_register(module):
            exec_module(module)
            _register(cls)

        loader.exec_module = exec_then_register
        return spec


def _distributed_paths():
    module = sys.modules.get("distributed")
    folder = os.path.dirname(getattr(module, "__file__", None) or "")
    if not folder:
        return None, None
    return (
        os.path.join(folder, "scheduler.py"),
        os.path.join(folder, "protocol") + os.sep,
    )


def _hosts_workers():
    worker = sys.modules.get("distributed.worker")
    return bool(getattr(getattr(worker, "Worker", None), "_instances", None))


def decoding_context():
    """Who is unpickling a MemmapArray reference, as far as dask is concerned.

    Returns ``"scheduler"`` when dask's scheduler code is on the stack (it
    unpickles a client's task graph in ``update_graph`` and pickles it again
    for a worker: it must not map the file; unless workers run in the same
    process), ``"message"`` when
    ``distributed.protocol`` is decoding a message in any other process (an
    exception there closes the connection, and a worker whose stream from the
    scheduler fails shuts down), and ``None`` otherwise: plain pickle, joblib,
    loky, and code running inside a dask task, where an exception is the
    right answer. Walking the stack costs a few microseconds per reference.
    """
    if "distributed" not in sys.modules:
        return None
    scheduler, protocol = _distributed_paths()
    if scheduler is None:
        return None
    found = None
    frame = sys._getframe(1)
    while frame is not None:
        filename = frame.f_code.co_filename
        if filename == scheduler:
            # A scheduler sharing its process with workers (a LocalCluster
            # with processes=False) hands them the objects it decoded,
            # without pickling them again: there they must be arrays.
            return "message" if _hosts_workers() else "scheduler"
        if filename.startswith(protocol):
            found = "message"
        frame = frame.f_back
    return found


# Attributes an Unresolved answers without raising: what pickle, dask's
# sizeof and tokenize, and error reports ask of every object they handle.
_HARMLESS = frozenset(
    {
        "__class__",
        "__reduce__",
        "__reduce_ex__",
        "__repr__",
        "__sizeof__",
        "__dask_tokenize__",
        "_skm_rebuild",
        "_skm_error",
        "__dict__",
        "__getstate__",
    }
)


class Unresolved:
    """A MemmapArray reference that was not opened where dask decoded it.

    In the scheduler (``error=None``) it only travels on: pickled again, it is
    the same reference, and the worker opens the file. In a process that
    could not open the file, it carries the error and raises it at first use,
    inside the task, so that dask reports a task error to the client instead
    of losing the worker.
    """

    def __init__(self, rebuild, args, error=None):
        self._skm_rebuild = (rebuild, args)
        self._skm_error = error

    def __reduce__(self):
        return self._skm_rebuild

    def __reduce_ex__(self, protocol):
        return self._skm_rebuild

    def __sizeof__(self):
        return 256

    def __dask_tokenize__(self):
        return ("skmemmap-reference", repr(self._skm_rebuild[1]))

    def __repr__(self):
        ref = self._skm_rebuild[1][0]
        state = "not opened" if self._skm_error is None else "could not be opened"
        return f"<skmemmap reference to {ref['path']!r}, {state} in this process>"

    def _skm_raise(self):
        error = object.__getattribute__(self, "_skm_error")
        if error is None:
            ref = object.__getattribute__(self, "_skm_rebuild")[1][0]
            raise RuntimeError(
                f"A reference to the skmemmap file {ref['path']!r} was used in the "
                f"process that decoded it without opening it (a dask scheduler). "
                f"Only workers open skmemmap files."
            )
        raise error

    def __getattribute__(self, name):
        if name in _HARMLESS or name == "_skm_raise":
            return object.__getattribute__(self, name)
        if name.startswith("__") and name.endswith("__"):
            if name in Unresolved.__dict__:  # __array__, __len__...: they raise
                return object.__getattribute__(self, name)
            # Protocol probes (``__dask_graph__``, ``__array_interface__``...)
            # made by frameworks while routing data: "not supported".
            raise AttributeError(name)
        object.__getattribute__(self, "_skm_raise")()

    def __array__(self, *args, **kwargs):
        self._skm_raise()

    def __len__(self):
        self._skm_raise()

    def __iter__(self):
        self._skm_raise()

    def __getitem__(self, key):
        self._skm_raise()

    def __bool__(self):
        self._skm_raise()


register_decoder(decoding_context, Unresolved)
