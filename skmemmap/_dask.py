"""Make dask send MemmapArrays as file references, as pickle and joblib do.

dask.distributed serializes an ndarray by value with its own serializer,
which it finds by walking the type's MRO, so a MemmapArray (an ndarray
subclass) would be copied whole into every worker. joblib's dask backend does
this to every argument larger than 1 kB (``client.scatter``), so the X of a
search would reach each worker as a copy. Registering MemmapArray with dask
makes dask fall back to pickle, whose ``__reduce__`` sends (file, offset,
shape, strides, dtype), and the worker maps the same file.

dask is optional: nothing here imports it. If ``distributed`` is already
imported, the registration happens at once; otherwise an import hook does it
right after ``distributed`` is first imported (``import distributed``,
``joblib.parallel_config(backend="dask")``), in whichever order users import
things.
"""

import contextlib
import importlib.abc
import importlib.util
import pickle
import sys

__all__ = ["send_by_reference"]


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
