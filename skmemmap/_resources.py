"""The memory this process may use, and a warning before a fit outgrows it.

:func:`available_memory` answers "how much more memory can this process
use?" as a container sees it: the smallest of the host's ``MemAvailable`` and,
for each memory cgroup from this process's own up to the root, its limit
minus what the cgroup holds that the kernel cannot reclaim. A parent's limit
counts: a job step's cgroup may be unlimited inside a limited job.

Why "limit minus what cannot be reclaimed" and not "limit minus usage": a
cgroup's usage counts the page cache of every file its processes read,
X's own pages included, and the kernel evicts those pages to stay under the
limit. After one pass over a big X, usage sits at the limit while nearly all
of it is reclaimable, and "limit minus usage" would say there is no memory at
all. What cannot be reclaimed is everything but the file LRU lists: anonymous
memory, tmpfs and ``/dev/shm`` files, unevictable pages. That is
``usage - active_file - inactive_file`` of the cgroup's ``memory.stat`` (the
``total_`` hierarchical fields on cgroup v1), the same "working set" that
kubelet subtracts from a container's limit, except that active file pages
count as reclaimable here too: a fit that needs the room evicts them.

:func:`warn_if_bigger_than_memory` is called by
:class:`~skmemmap.MemmapEstimator` before the wrapped estimator's fit. An
estimator that visits the rows of X in random order (a forest, SGD with
``shuffle=True``...) on a memory-mapped X larger than that memory turns every
row it reads into a disk read: a fit that takes seconds in memory did not end
in 20 minutes (issue 18). The LayoutWarning says so before the fit starts,
with both sizes and the remedies.
"""

import contextlib
import dataclasses
import os
import threading
import weakref

from sklearn.base import is_classifier, is_clusterer, is_regressor

from skmemmap._array import file_of
from skmemmap._layout import _inner_estimator, _x_reader
from skmemmap._signal import LAYOUT, CopyEvent, begin_call, warn_at_user
from skmemmap._utils import format_mb
from skmemmap.exceptions import LayoutWarning

__all__ = ["Memory", "available_memory", "warn_if_bigger_than_memory"]

# cgroup v1 reports "no limit" as the largest page-aligned signed 64-bit value
# (9223372036854771712 with 4 KiB pages); anything from 2**62 up is that.
_V1_UNLIMITED = 2**62


@dataclasses.dataclass(frozen=True)
class Memory:
    """How many bytes this process may still use, and where that came from.

    ``source`` is a phrase for messages, e.g. ``"MemAvailable in
    /proc/meminfo"``.
    """

    nbytes: int
    source: str


def available_memory(root="/"):
    """The memory this process may use: the smallest of ``MemAvailable`` and
    each limited memory cgroup's headroom, from this process's cgroup up.

    Parameters
    ----------
    root : str, default="/"
        Where ``/proc`` and the cgroup mounts are read from (tests point it at
        a fake tree).

    Returns
    -------
    memory : Memory or None
        None where nothing can be read (not Linux).
    """
    found = [_mem_available(root), *_cgroup_headrooms(root)]
    found = [m for m in found if m is not None]
    return min(found, key=lambda m: m.nbytes) if found else None


def _read(path):
    with contextlib.suppress(OSError, UnicodeDecodeError), open(path) as f:
        return f.read()
    return None


def _mem_available(root):
    text = _read(os.path.join(root, "proc/meminfo"))
    for line in (text or "").splitlines():
        name, _, value = line.partition(":")
        if name == "MemAvailable":
            return Memory(int(value.split()[0]) * 1024, "MemAvailable in /proc/meminfo")
    return None


def _cgroup_headrooms(root):
    """One Memory per limited memory cgroup from this process's up to the root."""
    out = []
    for version, mount, path in _memory_cgroups(root):
        limit_file = "memory.limit_in_bytes" if version == 1 else "memory.max"
        usage_file = "memory.usage_in_bytes" if version == 1 else "memory.current"
        prefix = "total_" if version == 1 else ""
        folder = os.path.join(mount, path.lstrip("/"))
        while True:
            limit = _number(_read(os.path.join(folder, limit_file)))
            if limit is not None and limit < _V1_UNLIMITED:
                usage = _number(_read(os.path.join(folder, usage_file))) or 0
                stat = _stat(_read(os.path.join(folder, "memory.stat")))
                file_pages = stat.get(f"{prefix}active_file", 0) + stat.get(
                    f"{prefix}inactive_file", 0
                )
                pinned = max(usage - file_pages, 0)
                rel = os.path.relpath(folder, mount)
                name = "/" if rel == "." else f"/{rel}"
                out.append(
                    Memory(
                        max(limit - pinned, 0),
                        f"the limit of the memory cgroup {name} "
                        f"({limit_file}: {format_mb(limit)}) minus the "
                        f"{format_mb(pinned)} it holds that cannot be reclaimed",
                    )
                )
            if os.path.normpath(folder) == os.path.normpath(mount):
                break
            folder = os.path.dirname(folder)
    return out


def _number(text):
    text = (text or "").strip()
    return int(text) if text.isdigit() else None  # "max", or unreadable


def _stat(text):
    stat = {}
    for line in (text or "").splitlines():
        name, _, value = line.partition(" ")
        if value.strip().isdigit():
            stat[name] = int(value)
    return stat


def _memory_cgroups(root):
    """``(version, mount folder, path under the mount)`` of this process's
    memory cgroup, for each hierarchy that has the memory controller."""
    mounts = {}  # version -> (mount point, root of the mount)
    for line in (_read(os.path.join(root, "proc/self/mountinfo")) or "").splitlines():
        fields = line.split()
        if "-" not in fields:
            continue
        sep = fields.index("-")
        if len(fields) < sep + 4 or len(fields) < 5:
            continue
        fstype, options = fields[sep + 1], fields[sep + 3].split(",")
        if fstype == "cgroup" and "memory" in options:
            mounts.setdefault(1, (_unescape(fields[4]), _unescape(fields[3])))
        elif fstype == "cgroup2":
            mounts.setdefault(2, (_unescape(fields[4]), _unescape(fields[3])))
    out = []
    for line in (_read(os.path.join(root, "proc/self/cgroup")) or "").splitlines():
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        _, controllers, path = parts
        version = 2 if parts[0] == "0" and controllers == "" else 1
        if version == 1 and "memory" not in controllers.split(","):
            continue
        if version not in mounts:
            continue
        point, mount_root = mounts[version]
        # In a container the mount's root is the container's own cgroup, and
        # /proc/self/cgroup may name the path from the host's root.
        if mount_root != "/" and (path + "/").startswith(mount_root.rstrip("/") + "/"):
            path = path[len(mount_root.rstrip("/")) :] or "/"
        mount = os.path.join(root, point.lstrip("/"))
        if not os.path.isdir(os.path.join(mount, path.lstrip("/"))):
            path = "/"  # a path from another cgroup namespace: the mount is ours
        out.append((version, mount, path))
    return out


def _unescape(field):
    # mountinfo escapes space, tab, newline and backslash as \ooo octal.
    return field.encode().decode("unicode_escape") if "\\" in field else field


# -- the warning ---------------------------------------------------------------------
# Estimators whose fit visits the rows of X in random order (matched by class
# name along the MRO, as scikit-learn's private bases are not public API):
# trees and forests follow bootstrap samples and per-node sample index lists;
# bagging draws random rows; SGD shuffles the rows every epoch (shuffle=True,
# its default); MiniBatchKMeans draws random mini-batches; libsvm fetches
# kernel rows in its working-set order. Estimators that read X in passes from
# first row to last (linear models' solvers, KMeans, PCA, SGD with
# shuffle=False) read a file bigger than memory at disk speed, pass by pass,
# and are not warned about.
_RANDOM_READERS = (
    "BaseDecisionTree",
    "BaseForest",
    "BaseGradientBoosting",
    "BaseBagging",
    "BaseSGD",
    "MiniBatchKMeans",
    "BaseLibSVM",
)

# For an estimator without partial_fit: the incremental one suited to its task.
_INCREMENTAL = (
    (is_classifier, "SGDClassifier"),
    (is_regressor, "SGDRegressor"),
    (is_clusterer, "MiniBatchKMeans"),
)

# Calls (copy-signal scopes) that warned already, per reader and file: once
# per cause per call, as the copy signal does, but now rather than at the end.
_warned = weakref.WeakKeyDictionary()
_lock = threading.Lock()


def _streams(estimator):
    """Whether ``estimator``, or a meta-estimator inside it, is a
    StreamingEstimator (by name: it lives in a module above this one), which
    reads X in contiguous blocks whatever the estimator it wraps."""
    for _ in range(50):  # guards against a cycle in a malformed estimator
        if estimator is None:
            return False
        if type(estimator).__name__ == "StreamingEstimator":
            return True
        estimator = _inner_estimator(estimator)
    return False


def reads_at_random(estimator):
    """Whether ``estimator``'s fit visits the rows of X in random order."""
    names = {cls.__name__ for cls in type(estimator).__mro__}
    if not names.intersection(_RANDOM_READERS):
        return False
    params = estimator.get_params(deep=False)
    return params.get("shuffle", True) is not False


def warn_if_bigger_than_memory(wrapper, X):
    """Warn (a LayoutWarning) if ``wrapper`` (a MemmapEstimator) is about to
    fit an estimator that reads at random the mapped ``X``, a file bigger than
    the memory this process may use.

    The estimator that reads X is looked for inside the wrapped estimator
    (a Pipeline, a search), as :func:`skmemmap.layout_for` does: a Pipeline's
    later steps read the output of the first.

    In the calling process the warning is shown at once, at the user's line,
    once per call: the copy signal would show it when the call returns, which
    a fit reading a file bigger than memory at random may not do for hours.
    In a worker it goes to the copy signal through ``wrapper._emit``, which
    logs it for the calling process, to warn when its call ends: a worker
    never prints, and the parent reads the workers' logs only then.
    """
    if wrapper.on_copy == "ignore":
        return
    reader = _x_reader(wrapper.estimator)
    if not reads_at_random(reader) or _streams(wrapper.estimator):
        return
    memory = available_memory()
    if memory is None or X.nbytes <= memory.nbytes:
        return
    event = _event(reader, X, memory)
    if wrapper._in_worker():
        wrapper._emit(event, X)
        return
    scope = begin_call(trace=False)
    key = (event.key, getattr(file_of(X), "family", None))
    if scope is not None:
        with _lock:
            keys = _warned.setdefault(scope, set())
            if key in keys:
                return
            keys.add(key)
    warn_at_user(event.message(), LayoutWarning)


def _event(estimator, X, memory):
    name = type(estimator).__name__
    if hasattr(estimator, "partial_fit"):
        incremental = name
    else:
        incremental = next(
            (inc for check, inc in _INCREMENTAL if check(estimator)), "SGDClassifier"
        )
    return CopyEvent(
        "bigger-than-memory",
        f"{name} reads the rows of X in random order, and X ({format_mb(X.nbytes)}, "
        f"a memory-mapped file) is larger than the memory this process may use "
        f"({format_mb(memory.nbytes)}: {memory.source}): most rows it reads will "
        f"be read from disk, which can make the fit many times slower",
        remedy=f"Fit in contiguous blocks with skmemmap.StreamingEstimator("
        f"{incremental}()), fit on a subsample (X[:n] is a view of the file), or "
        f"give the process more memory",
        estimator=name,
        kind=LAYOUT,
        avoidable=False,
        shape=X.shape,
    )
