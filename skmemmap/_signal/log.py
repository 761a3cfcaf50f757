"""Copy events written to a file that the process owning X reads back.

A copy made in a worker process is appended, as one JSON line, to a log in
the folder of the file it was made from (that folder belongs to the process
that created or loaded the file: the parent of a search; loky and dask
workers receive it with every pickled :class:`~skmemmap.MemmapArray`).
Copies of in-memory X made in a worker are appended to the parent's
*channel*: its own private folder, which a :class:`~skmemmap.MemmapEstimator`
carries to the workers it is pickled to during a call.

Each root file's family has its own log, ``<family>.copies.jsonl``, removed
with the root file like the layout siblings and gathers.
"""

import contextlib
import fcntl
import json
import os
import tempfile

from skmemmap._signal.events import CopyEvent

LOG_SUFFIX = ".copies.jsonl"
# Per-cause totals ({key: {"count", "nbytes", "pids", "last"}}), rewritten
# whole under the log's lock: they keep counting after the log stops growing.
COUNTS_SUFFIX = ".copies-counts.json"
# The log of copies that belong to no file family (in-memory X in a worker).
CHANNEL_FAMILY = "channel"
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


def folder_owner(folder):
    """Pid of the process owning an skmemmap folder, or None if not one."""
    name = os.path.basename(os.fspath(folder))
    if not name.startswith(_FOLDER_PREFIX):
        return None
    pid = name[len(_FOLDER_PREFIX) :].partition("-")[0]
    return int(pid) if pid.isdigit() else None


def _line(data):
    line = json.dumps(data, separators=(",", ":")) + "\n"
    if len(line.encode()) > _MAX_LINE:
        data = dict(data)
        for field in ("what", "why", "remedy"):
            data[field] = str(data.get(field, ""))[:1000]
        line = json.dumps(data, separators=(",", ":")) + "\n"
    return line.encode()


def log_path(folder, family):
    """The copy log of a family of files (a root and the files derived from it)."""
    return os.path.join(folder, f"{family or CHANNEL_FAMILY}{LOG_SUFFIX}")


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
    """Append ``event`` (a CopyEvent) to its family's log in ``folder``, and count it.

    Safe across processes: the log's ``flock`` serialises the counts update
    (read, add, atomic replace); the line itself is one ``write`` on an
    ``O_APPEND`` descriptor. Returns True if the event was logged in detail,
    False if only counted (the log or the cause reached its bound).
    """
    path = log_path(folder, event.family)
    data = event.to_dict()
    line = _line(data)
    flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW
    fd = os.open(path, flags, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        counts = read_counts(path)
        entry = counts.setdefault(
            event.key, {"count": 0, "nbytes": 0, "pids": [], "last": None}
        )
        entry["count"] += 1
        entry["nbytes"] += int(event.nbytes)
        if event.pid not in entry["pids"] and len(entry["pids"]) < 64:
            entry["pids"].append(event.pid)
        entry["last"] = data
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
    """CopyEvents in ``log`` from byte ``offset``, and the offset after them.

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
        with contextlib.suppress(ValueError, TypeError):
            events.append(CopyEvent.from_dict(json.loads(raw)))
    return events, offset + end
