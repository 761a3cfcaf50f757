"""copy_report: every copy made during a block of code, in this process and its workers.

Worker processes log their copies in the folder of the file they were made
from (see :mod:`skmemmap._copies`); that folder belongs to this process, so
reading back the logs of this process's own folders finds them all.
"""

import os
import threading
import time
import warnings

from skmemmap._copies import (
    _external_stacklevel,
    _lock,
    _logged_folders,
    _open_reports,
    copy_message,
    folder_owner,
    log_size,
    logs_in,
    mark_folder,
    read_counts,
    read_events,
    unmark_all,
)
from skmemmap._folder import _sessions
from skmemmap._utils import format_mb
from skmemmap.exceptions import CopyWarning

__all__ = ["CopyReport", "copy_report"]


def _own_folders():
    """Folders whose logs this process reads: its sessions, and where it logged."""
    folders = {str(s.path) for s in list(_sessions.values())}
    folders.update(_logged_folders)
    return {f for f in folders if folder_owner(f) == os.getpid()}


def _own_logs():
    return {log for folder in _own_folders() for log in logs_in(folder)}


def _where(pids):
    here = os.getpid()
    workers = sorted(p for p in pids if p != here)
    parts = ["this process"] if here in pids else []
    if workers:
        parts.append(
            f"worker process{'es' if len(workers) > 1 else ''} "
            + ", ".join(str(p) for p in workers)
        )
    return " and ".join(parts)


def _reemit(event, count, nbytes, pids, stacklevel):
    """One CopyWarning for a cause, saying where and how often it happened."""
    message = copy_message(
        event["what"], event["nbytes"], event["cause"], event["remedy"]
    )
    times = f"{count} time{'s' if count != 1 else ''}"
    warnings.warn(
        f"In {_where(pids)} ({times}, {format_mb(nbytes)} in total): {message}",
        CopyWarning,
        stacklevel=stacklevel + 1,
    )


class CopyReport:
    """The copies made in this process and its worker processes during a block.

    Returned by :func:`copy_report`; filled in when the ``with`` block ends.

    Attributes
    ----------
    events : list of dict
        One dict per copy logged in detail, oldest first: ``key`` (the cause's
        name), ``what``, ``nbytes``, ``shape``, ``cause``, ``remedy``,
        ``estimator``, ``family``, ``pid``, ``time``. A cause repeated more
        than 100 times in a folder is counted, not logged in detail again.
    causes : dict
        For each cause key: ``count``, ``nbytes``, ``pids`` and the ``event``
        that describes it, including copies counted but not logged in detail.

    See Also
    --------
    copy_report : Open a report around a block of code.
    """

    def __init__(self, *, warn=True):
        self.warn = warn
        self.events = []
        self.causes = {}
        self._local = []
        self._emitted = set()
        self._start = {}
        self._lock = threading.Lock()

    # -- totals ---------------------------------------------------------------------
    @property
    def n_copies(self):
        """Number of copies, all causes together."""
        return sum(c["count"] for c in self.causes.values())

    @property
    def nbytes(self):
        """Bytes copied, all causes together."""
        return sum(c["nbytes"] for c in self.causes.values())

    @property
    def total_mb(self):
        """MB (2**20 bytes) copied, all causes together."""
        return self.nbytes / 2**20

    @property
    def counts(self):
        """Number of copies per cause key."""
        return {key: c["count"] for key, c in self.causes.items()}

    def to_dict(self):
        """The report as plain dicts and lists (JSON-serialisable).

        Returns
        -------
        report : dict
            ``n_copies``, ``nbytes``, ``mb``, ``causes`` (per cause key:
            ``count``, ``nbytes``, ``mb``, ``pids``, ``estimator``, ``what``,
            ``cause``, ``remedy``) and ``events``.
        """
        return {
            "n_copies": self.n_copies,
            "nbytes": self.nbytes,
            "mb": self.total_mb,
            "causes": {
                key: {
                    "count": c["count"],
                    "nbytes": c["nbytes"],
                    "mb": c["nbytes"] / 2**20,
                    "pids": sorted(c["pids"]),
                    "estimator": c["event"].get("estimator"),
                    "what": c["event"]["what"],
                    "cause": c["event"]["cause"],
                    "remedy": c["event"]["remedy"],
                }
                for key, c in self.causes.items()
            },
            "events": [dict(e) for e in self.events],
        }

    def __str__(self):
        pids = {p for c in self.causes.values() for p in c["pids"]}
        n_proc = f"{len(pids)} process{'es' if len(pids) != 1 else ''}"
        head = (
            f"skmemmap copy report: {self.n_copies} cop"
            f"{'ies' if self.n_copies != 1 else 'y'}, {format_mb(self.nbytes)} "
            f"in total, in {n_proc}"
        )
        if not self.causes:
            return head
        width = max(len("cause"), *(len(k) for k in self.causes))
        rows = [
            head,
            "",
            f"{'cause':<{width}}  {'copies':>6}  {'MB':>8}  where",
        ]
        for key, c in self.causes.items():
            rows.append(
                f"{key:<{width}}  {c['count']:>6}  "
                f"{format_mb(c['nbytes']).removesuffix(' MB'):>8}  {_where(c['pids'])}"
            )
        for key, c in self.causes.items():
            event = c["event"]
            rows += [
                "",
                f"{key}: {event['what']} ({format_mb(event['nbytes'])}).",
                f"  why: {event['cause']}.",
                f"  fix: {event['remedy']}.",
            ]
        return "\n".join(rows)

    def __repr__(self):
        return (
            f"<CopyReport: {self.n_copies} copies, {format_mb(self.nbytes)}, "
            f"{len(self.causes)} cause{'s' if len(self.causes) != 1 else ''}>"
        )

    # -- collecting -------------------------------------------------------------------
    def _add_local(self, event):
        with self._lock:
            self._local.append(event)

    def __enter__(self):
        self._time = time.time()
        for log in _own_logs():
            self._start[log] = (log_size(log), read_counts(log))
        with _lock:
            _open_reports.append(self)
        for folder in _own_folders():
            mark_folder(folder)
        return self

    def __exit__(self, exc_type, exc, tb):
        with _lock:
            _open_reports.remove(self)
            last = not _open_reports
        if last:
            unmark_all()
        self._collect()
        if self.warn and exc_type is None:
            level = _external_stacklevel()
            for key, c in self.causes.items():
                if key not in self._emitted:
                    _reemitted.update((family, key) for family in c["families"])
                    _reemit(c["event"], c["count"], c["nbytes"], c["pids"], level)
        return False

    def _collect(self):
        causes = {}
        events = []
        for log in sorted(_own_logs() | set(self._start)):
            offset, before = self._start.get(log, (0, {}))
            logged, end = read_events(log, offset)
            _consumed[log] = max(_consumed.get(log, 0), end)
            logged = [e for e in logged if e.get("time", 0) >= self._time]
            events += logged
            for key, entry in read_counts(log).items():
                old = before.get(key, {"count": 0, "nbytes": 0, "pids": []})
                count = entry["count"] - old["count"]
                if count <= 0:
                    continue
                mine = [e for e in logged if e["key"] == key]
                cause = causes.setdefault(
                    key,
                    {
                        "count": 0,
                        "nbytes": 0,
                        "pids": set(),
                        "families": set(),
                        "event": None,
                    },
                )
                cause["families"].update(e.get("family") for e in mine)
                cause["count"] += count
                cause["nbytes"] += entry["nbytes"] - old["nbytes"]
                cause["pids"].update(e["pid"] for e in mine)
                if len(entry["pids"]) < 64:  # complete: pids counted but not logged
                    cause["pids"].update(set(entry["pids"]) - set(old["pids"]))
                cause["event"] = cause["event"] or (mine[0] if mine else entry["last"])
        with self._lock:
            local = list(self._local)
        events += local
        for event in local:
            cause = causes.setdefault(
                event["key"],
                {
                    "count": 0,
                    "nbytes": 0,
                    "pids": set(),
                    "families": set(),
                    "event": event,
                },
            )
            cause["families"].add(event.get("family"))
            cause["count"] += 1
            cause["nbytes"] += event["nbytes"]
            cause["pids"].add(event["pid"])
        events.sort(key=lambda e: e.get("time", 0))
        first = {}
        for i, e in enumerate(events):
            first.setdefault(e["key"], i)
        self.events = events
        self.causes = dict(
            sorted(causes.items(), key=lambda kv: first.get(kv[0], len(events)))
        )


def copy_report(*, warn=True):
    """Collect the copies made in a block of code, in this process and its workers.

    With ``n_jobs > 1``, scikit-learn fits in worker processes, whose warnings
    never reach this process's :mod:`warnings` machinery. Inside the block,
    workers record their copies instead of printing warnings; when the block
    ends, one :class:`~skmemmap.CopyWarning` per cause is emitted here (so
    :func:`pytest.warns` and ``warnings.catch_warnings(record=True)`` see
    them), saying in which processes the copy happened, how often, and how
    many MB it cost in total. Copies warned about in this process during the
    block are not warned again.

    Parameters
    ----------
    warn : bool, default=True
        Emit the warnings when the block ends. ``False`` only fills the report.

    Returns
    -------
    report : CopyReport
        A context manager; after the block it holds the events, the count and
        MB per cause, ``print(report)`` shows them as a table, and
        ``report.to_dict()`` as plain data.

    Notes
    -----
    Copies are logged next to the :class:`~skmemmap.MemmapArray` they were
    made from, in the folder of the process that created it, and the log is
    removed with the array's file: keep the array alive until the block ends.
    Copies of in-memory X made in a worker have no such folder: the worker
    still warns about them on its own standard error.

    Examples
    --------
    >>> import warnings, numpy as np, skmemmap
    >>> X = skmemmap.memmap(np.arange(20.0).reshape(10, 2))
    >>> with warnings.catch_warnings():
    ...     warnings.simplefilter("ignore", skmemmap.CopyWarning)
    ...     with skmemmap.copy_report() as report:
    ...         rows = X[[0, 2, 4]]
    >>> report.counts
    {'copy-rows': 1}
    >>> print(report)  # doctest: +NORMALIZE_WHITESPACE
    skmemmap copy report: 1 copy, 5e-05 MB in total, in 1 process
    <BLANKLINE>
    cause      copies        MB  where
    copy-rows       1     5e-05  this process
    <BLANKLINE>
    copy-rows: Copied 3 of 10 rows (shape (3, 2)) in memory (5e-05 MB).
      why: the selection has 2 gap(s), so it cannot be a view.
      fix: Select one contiguous, ascending run of rows to get a view (for CV:
      skmemmap.ContiguousKFold(2)).
    """
    return CopyReport(warn=warn)


# -- without a report: MemmapEstimator fits in the parent re-emit worker copies ------
# Offset up to which this process has read each of its logs.
_consumed = {}
# Worker events read but not yet re-emitted, per family of files.
_pending = {}
# (family, key) pairs re-emitted in this process: each once.
_reemitted = set()


def was_reemitted(key):
    """Whether copies of this cause made in workers were warned about here."""
    return any(k == key for _, k in _reemitted)


def reemit_worker_copies(family):
    """Warn here, once each, about copies workers made from ``family``'s files.

    Called by :class:`~skmemmap.MemmapEstimator` when it is fit in the process
    owning the files (for example GridSearchCV's final refit on the same X),
    unless a copy report is open (it warns when it closes).
    """
    if family is None or _open_reports:
        return
    here = os.getpid()
    for log in _own_logs():
        offset = _consumed.get(log, 0)
        if log_size(log) <= offset:
            continue
        events, _consumed[log] = read_events(log, offset)
        for event in events:
            if event["pid"] != here and event.get("family") is not None:
                _pending.setdefault(event["family"], []).append(event)
    found = {}
    for event in _pending.pop(family, []):
        key = (family, event["key"])
        if key in _reemitted:
            continue
        cause = found.setdefault(
            key, {"count": 0, "nbytes": 0, "pids": set(), "event": event}
        )
        cause["count"] += 1
        cause["nbytes"] += event["nbytes"]
        cause["pids"].add(event["pid"])
    level = _external_stacklevel()
    for key, c in found.items():
        _reemitted.add(key)
        _reemit(c["event"], c["count"], c["nbytes"], c["pids"], level)
