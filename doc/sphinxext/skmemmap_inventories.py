"""Offline intersphinx inventories, written from the installed packages.

intersphinx downloads each project's ``objects.inv``; CI (and many build
machines) cannot reach the network. Every project in ``intersphinx_mapping``
therefore gets a second location: an inventory written here, at build time,
from the *installed* package, with each name's documentation page built by
the rule that project's own documentation uses for it:

* scikit-learn: every name in ``sklearn.<module>.__all__`` is documented at
  ``modules/generated/<module>.<name>.html``;
* numpy: its top-level functions and ``ndarray``, ``memmap``, ``dtype`` at
  ``reference/generated/numpy.<name>.html`` (scalar types live elsewhere and
  are left out);
* joblib: every name in ``joblib.__all__`` at ``generated/joblib.<name>.html``;
* Python: standard-library modules at ``library/<module>.html``, builtin
  functions at ``library/functions.html``, builtin exceptions at
  ``library/exceptions.html``.

intersphinx tries the downloaded inventory first and uses one of these only
when that fails, so a build with network links exactly as upstream says. A
name outside these rules (a method, a numpy scalar type) stays plain text
offline.
"""

import builtins
import importlib
import inspect
import os
import pkgutil
import sys
import zlib

URLS = {
    "python": "https://docs.python.org/3",
    "numpy": "https://numpy.org/doc/stable",
    "sklearn": "https://scikit-learn.org/stable",
    "joblib": "https://joblib.readthedocs.io/en/stable",
}


def _public(module, name):
    """``module.name`` if it exists and is callable, else None."""
    try:  # experimental names raise ImportError until enabled
        obj = getattr(module, name)
    except (AttributeError, ImportError):
        return None
    return obj if callable(obj) else None


def _role(obj):
    if inspect.isclass(obj):
        if issubclass(obj, BaseException):
            return "py:exception"
        return "py:class"
    return "py:function"


def _module_entries(module, uri):
    """One entry per callable in ``module.__all__``; ``uri`` takes the full name."""
    entries = []
    for name in getattr(module, "__all__", ()):
        obj = _public(module, name)
        if obj is not None:
            full = f"{module.__name__}.{name}"
            entries.append((full, _role(obj), uri.format(full)))
    return entries


def _sklearn():
    import sklearn

    entries = []
    for info in pkgutil.iter_modules(sklearn.__path__):
        if info.name.startswith("_") or info.name in ("tests", "externals"):
            continue
        module_name = f"sklearn.{info.name}"
        try:
            module = importlib.import_module(module_name)
        except ImportError:  # optional dependencies of experimental modules
            continue
        entries += _module_entries(module, "modules/generated/{}.html#$")
    return "scikit-learn", sklearn.__version__, entries


def _numpy():
    import numpy as np

    entries = []
    for name in ("ndarray", "memmap", "dtype"):
        entries.append(
            (f"numpy.{name}", "py:class", f"reference/generated/numpy.{name}.html#$")
        )
    for name in getattr(np, "__all__", dir(np)):
        obj = _public(np, name)
        if name.startswith("_") or obj is None or inspect.isclass(obj):
            continue
        full = f"numpy.{name}"
        entries.append((full, "py:function", f"reference/generated/{full}.html#$"))
    return "NumPy", np.__version__, entries


def _joblib():
    import joblib

    entries = _module_entries(joblib, "generated/{}.html#$")
    return "joblib", joblib.__version__, entries


def _python():
    entries = []
    for name in sorted(sys.stdlib_module_names):
        if not name.startswith("_"):
            entries.append((name, "py:module", f"library/{name}.html#module-$"))
    for name, obj in vars(builtins).items():
        if name.startswith("_") or not callable(obj):
            continue
        if inspect.isclass(obj) and issubclass(obj, BaseException):
            entries.append((name, "py:exception", "library/exceptions.html#$"))
        else:
            entries.append((name, _role(obj), "library/functions.html#$"))
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    return "Python", version, entries


BUILDERS = {"python": _python, "numpy": _numpy, "sklearn": _sklearn, "joblib": _joblib}


def write_inventory(path, project, version, entries):
    """Write a Sphinx inventory (format version 2) of ``entries``."""
    header = (
        "# Sphinx inventory version 2\n"
        f"# Project: {project}\n"
        f"# Version: {version}\n"
        "# The remainder of this file is compressed using zlib.\n"
    )
    body = "".join(
        f"{name} {role} 1 {uri} -\n" for name, role, uri in sorted(set(entries))
    )
    with open(path, "wb") as f:
        f.write(header.encode())
        f.write(zlib.compress(body.encode()))


def intersphinx_mapping(folder):
    """``intersphinx_mapping``: each project's site, then a local fallback.

    Writes the fallback inventories into ``folder``. ``SKMEMMAP_DOC_OFFLINE=1``
    skips the download and uses only the fallbacks.
    """
    os.makedirs(folder, exist_ok=True)
    offline = os.environ.get("SKMEMMAP_DOC_OFFLINE") == "1"
    mapping = {}
    for key, url in URLS.items():
        path = os.path.join(folder, f"{key}-objects.inv")
        write_inventory(path, *BUILDERS[key]())
        mapping[key] = (url, (path,) if offline else (None, path))
    return mapping
