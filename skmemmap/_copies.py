"""One place that reports copies: the CopyWarning text, the copy log, the warning.

Every copy skmemmap detects or makes goes through :func:`report_copy`, in
whatever process it happens. Besides warning, it records the copy as an event
(one JSON line) in ``copies.jsonl`` in the folder of the file the copy was
made from. That folder belongs to the process that created or loaded the
file (the parent of a search); loky workers receive it with every pickled
:class:`~skmemmap.MemmapArray`, so the parent and all its workers append to
the same log, and the parent reads back what happened in its workers
(:func:`skmemmap.copy_report`, and :class:`~skmemmap.MemmapEstimator` fits in
the parent).

Each root file's family has its own log, ``<family>.copies.jsonl``: like
the layout siblings and gathers, it is removed with the root file.

While a copy report is open in the owner of the folder, a marker file there
tells worker processes to record their copies without printing a warning:
the owner re-emits one warning per cause when the report closes.
"""

import contextlib
import fcntl
import json
import os
import sys
import tempfile
import threading
import time
import warnings

from skmemmap._utils import format_mb
from skmemmap.exceptions import CopyError, CopyWarning

_SILENCE = (
    "Silence this warning with warnings.filterwarnings('ignore', "
    "category=skmemmap.CopyWarning)."
)

LOG_SUFFIX = ".copies.jsonl"
# Per-cause totals ({key: {"count", "nbytes", "pids", "last"}}), rewritten
# whole under the log's lock: they keep counting after the log stops growing.
COUNTS_SUFFIX = ".copies-counts.json"
MARKER_NAME = ".copy-report"
# A search with many candidates repeats the same copy in every fit: the first
# events of a cause say all there is to say, the counts file keeps the rest.
MAX_EVENTS_PER_CAUSE = 100
# About 2,000 events of ~1 KB: enough for any report anyone reads, small next
# to the data files in the same folder.
MAX_LOG_BYTES = 2 * 2**20
# Lines are kept below PIPE_BUF (4096 on Linux), so that even without the
# lock one write() of a line is never interleaved with another process's.
_MAX_LINE = 4000
# Folder names are skmemmap-<pid>-<random> (see skmemmap._folder).
_FOLDER_PREFIX = "skmemmap-"


def copy_message(what, nbytes, cause, remedy):
    """The text of every copy warning: what, size, why, remedy, how to silence."""
    return f"{what} ({format_mb(nbytes)}): {cause}. {remedy}. {_SILENCE}"


# -- the log ------------------------------------------------------------------------
def folder_owner(folder):
    """Pid of the process owning an skmemmap folder, or None if not one."""
    name = os.path.basename(os.fspath(folder))
    if not name.startswith(_FOLDER_PREFIX):
        return None
    pid = name[len(_FOLDER_PREFIX) :].partition("-")[0]
    return int(pid) if pid.isdigit() else None


def _line(event):
    line = json.dumps(event, separators=(",", ":")) + "\n"
    if len(line.encode()) > _MAX_LINE:
        event = dict(event)
        for field in ("what", "cause", "remedy"):
            event[field] = str(event.get(field, ""))[:1000]
        line = json.dumps(event, separators=(",", ":")) + "\n"
    return line.encode()


def log_path(folder, family):
    """The copy log of a family of files (a root and the files derived from it)."""
    return os.path.join(folder, f"{family}{LOG_SUFFIX}")


def logs_in(folder):
    """The copy logs in ``folder``."""
    try:
        names = os.listdir(folder)
    except OSError:
        return []
    return [os.path.join(folder, n) for n in names if n.endswith(LOG_SUFFIX)]


def _counts_path(log):
    return log[: -len(LOG_SUFFIX)] + COUNTS_SUFFIX


def read_counts(log):
    """The per-cause totals of a log ({} if there are none)."""
    try:
        with open(_counts_path(log), encoding="utf-8") as f:
            return json.load(f)
    except (OSError, ValueError):
        return {}


def append_event(folder, event):
    """Append ``event`` to its family's log in ``folder``, and count it.

    Safe across processes.
    The log's ``flock`` serialises the counts update (read, add, atomic
    replace) between processes; the line itself is one ``write`` on an
    ``O_APPEND`` descriptor. Returns True if the event was logged in detail,
    False if only counted (the log or the cause reached its bound).
    """
    path = log_path(folder, event["family"])
    line = _line(event)
    flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW
    fd = os.open(path, flags, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        counts = read_counts(path)
        entry = counts.setdefault(
            event["key"], {"count": 0, "nbytes": 0, "pids": [], "last": None}
        )
        entry["count"] += 1
        entry["nbytes"] += int(event["nbytes"])
        if event["pid"] not in entry["pids"] and len(entry["pids"]) < 64:
            entry["pids"].append(event["pid"])
        entry["last"] = event
        detailed = (
            entry["count"] <= MAX_EVENTS_PER_CAUSE
            and os.fstat(fd).st_size + len(line) <= MAX_LOG_BYTES
        )
        if detailed:
            os.write(fd, line)
        tmp_fd, tmp = tempfile.mkstemp(dir=folder, prefix=".tmp-counts-")
        try:
            with os.fdopen(tmp_fd, "w", encoding="utf-8") as f:
                json.dump(counts, f, separators=(",", ":"))
            os.replace(tmp, _counts_path(path))
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
    finally:
        os.close(fd)  # also releases the lock
    return detailed


def log_size(log):
    try:
        return os.path.getsize(log)
    except OSError:
        return 0


def read_events(log, offset=0):
    """Events in ``log`` from byte ``offset``, and the offset after them.

    Only complete lines are read: a line being written is left for next time.
    """
    try:
        with open(log, "rb") as f:
            f.seek(offset)
            data = f.read()
    except OSError:
        return [], offset
    end = data.rfind(b"\n") + 1
    events = []
    for raw in data[:end].splitlines():
        with contextlib.suppress(ValueError):
            events.append(json.loads(raw))
    return events, offset + end


# -- open reports (in this process) -------------------------------------------------
# CopyReport objects open in this process. Process-wide, not per thread: joblib
# pickles tasks (and so MemmapArray references) in a background thread.
_open_reports = []
_lock = threading.Lock()
# Folders where this process put the marker, while reports are open.
_marked = set()
# Folders this process logged events in (the reports read them back).
_logged_folders = set()


def reports_open():
    with _lock:
        return list(_open_reports)


def mark_folder(folder):
    """Tell workers using ``folder`` that a report is open here (no-op if none is).

    Called when a MemmapArray reference is pickled, so folders created inside
    the ``with`` block are marked before any worker uses them.
    """
    if not folder or folder in _marked or not _open_reports:
        return
    if folder_owner(folder) != os.getpid():
        return
    with _lock:
        if not _open_reports or folder in _marked:
            return
        with contextlib.suppress(OSError):
            fd = os.open(
                os.path.join(folder, MARKER_NAME),
                os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW,
                0o600,
            )
            os.close(fd)
            _marked.add(folder)


def unmark_all():
    with _lock:
        for folder in _marked:
            with contextlib.suppress(OSError):
                os.unlink(os.path.join(folder, MARKER_NAME))
        _marked.clear()


def _deferred_here(folder):
    """Whether this process is a worker whose parent has a copy report open."""
    if not folder:
        return False
    owner = folder_owner(folder)
    return (
        owner is not None
        and owner != os.getpid()
        and os.path.exists(os.path.join(folder, MARKER_NAME))
    )


# -- reporting ------------------------------------------------------------------------
# Top-level packages whose frames a warning skips by default: it points at
# the first line outside skmemmap, where the copy was asked for.
OWN_PACKAGES = frozenset({"skmemmap"})


def _external_stacklevel(skip=OWN_PACKAGES):
    """``stacklevel``, for a ``warnings.warn`` in the function calling this one,
    of the first frame up the stack whose top-level package is not in ``skip``
    (the outermost frame if all are)."""
    frame, level = sys._getframe(2), 2
    while frame.f_back is not None and (
        frame.f_globals.get("__name__", "").partition(".")[0] in skip
    ):
        frame, level = frame.f_back, level + 1
    return level


def make_event(what, nbytes, cause, remedy, *, key, shape, estimator, family):
    return {
        "key": key,
        "what": what,
        "nbytes": int(nbytes),
        "shape": None if shape is None else [int(n) for n in shape],
        "cause": cause,
        "remedy": remedy,
        "estimator": estimator,
        "family": family,
        "pid": os.getpid(),
        "time": time.time(),
    }


def record(event, folder):
    """Log ``event`` in ``folder`` if there is one, else hand it to open reports."""
    if folder and event["family"]:
        try:
            append_event(folder, event)
        except OSError:
            pass  # a log that cannot be written never stops a fit
        else:
            _logged_folders.add(folder)
            return
    for report in reports_open():
        report._add_local(event)


def report_copy(
    what,
    nbytes,
    cause,
    remedy,
    *,
    on_copy="warn",
    key=None,
    folder=None,
    shape=None,
    estimator=None,
    family=None,
    warn=True,
    skip=OWN_PACKAGES,
):
    """Record a copy of ``nbytes`` and warn (or raise, or stay silent, per ``on_copy``).

    Parameters
    ----------
    what, nbytes, cause, remedy : str, int, str, str
        The parts of the message (see :func:`copy_message`).
    on_copy : {"warn", "raise", "ignore"}, default="warn"
        ``"ignore"`` neither records nor warns.
    key : str, default=None
        The cause's stable name (e.g. ``"gather"``, ``"Ridge/own"``): events
        with the same key are one cause, re-emitted once. ``None`` only warns.
    folder : str, default=None
        The folder of the file the copy was made from: where the event is
        logged, for the process owning it to read.
    shape, estimator, family : default=None
        Recorded with the event: the copy's shape, the estimator class name,
        the root file's family.
    warn : bool, default=True
        False records the event without warning (a cause already reported in
        this process).
    skip : frozenset of str, default=frozenset({"skmemmap"})
        The warning points at the first frame whose top-level package is not
        one of these.
    """
    if on_copy == "ignore":
        return
    message = copy_message(what, nbytes, cause, remedy)
    if key is not None:
        event = make_event(
            what,
            nbytes,
            cause,
            remedy,
            key=key,
            shape=shape,
            estimator=estimator,
            family=family,
        )
        record(event, folder)
    if on_copy == "raise":
        raise CopyError(message)
    if not warn:
        return
    level = _external_stacklevel(skip)
    if key is not None and _deferred_here(folder):
        # A worker: the parent re-emits this when its report closes. Warning
        # filters still apply ("error" still fails the fit, as scikit-learn
        # forwards the parent's filters to its workers); nothing is printed.
        with warnings.catch_warnings(record=True):
            warnings.warn(message, CopyWarning, stacklevel=level)
        return
    if key is not None:
        for report in reports_open():
            report._emitted.add(key)
    warnings.warn(message, CopyWarning, stacklevel=level)
