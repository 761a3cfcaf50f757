"""copy_report: every copy made during a block, in this process and its workers."""

import os
import threading

from skmemmap._config import get_config
from skmemmap._signal.calls import (
    STATE,
    _warn_at,
    collect_logged,
    group_events,
    own_logs,
    user_frames,
)
from skmemmap._signal.events import COPY
from skmemmap._signal.log import log_size
from skmemmap._utils import format_mb
from skmemmap.exceptions import CopyWarning

__all__ = ["CopyReport", "copy_report"]


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


class CopyReport:
    """The copies made in this process and its worker processes during a block.

    Returned by :func:`copy_report`; filled in when the ``with`` block ends.

    Attributes
    ----------
    events : list of dict
        One dict per copy logged in detail, oldest first: ``key`` (the cause's
        name), ``cause``, ``what``, ``nbytes``, ``shape``, ``why``, ``remedy``,
        ``avoidable``, ``on_disk``, ``estimator``, ``family``, ``pid``,
        ``time``. A cause repeated more than 100 times in a folder is counted,
        not logged in detail again.
    causes : dict
        For each cause key: ``count``, ``nbytes``, ``pids`` and the ``event``
        (a dict) that describes it. The splitter's notice about middle folds
        and the gathers it announces are one cause.

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
    def disk_nbytes(self):
        """Bytes of the copies that are files (gathers, layout siblings)."""
        return sum(c["disk_nbytes"] for c in self.causes.values())

    @property
    def counts(self):
        """Number of copies per cause key."""
        return {key: c["count"] for key, c in self.causes.items()}

    def to_dict(self):
        """The report as plain dicts and lists (JSON-serialisable).

        Returns
        -------
        report : dict
            ``n_copies``, ``nbytes``, ``mb``, ``disk_nbytes``, ``causes`` (per
            cause key: ``count``, ``nbytes``, ``mb``, ``pids``, ``estimator``,
            ``what``, ``why``, ``remedy``, ``avoidable``, ``on_disk``) and
            ``events``.
        """
        return {
            "n_copies": self.n_copies,
            "nbytes": self.nbytes,
            "mb": self.total_mb,
            "disk_nbytes": self.disk_nbytes,
            "causes": {
                key: {
                    "count": c["count"],
                    "nbytes": c["nbytes"],
                    "mb": c["nbytes"] / 2**20,
                    "pids": sorted(c["pids"]),
                    **{
                        field: c["event"].get(field)
                        for field in (
                            "estimator",
                            "what",
                            "why",
                            "remedy",
                            "avoidable",
                            "on_disk",
                        )
                    },
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
        rows = [head, "", f"{'cause':<{width}}  {'copies':>6}  {'MB':>8}  where"]
        for key, c in self.causes.items():
            mb = format_mb(c["nbytes"]).removesuffix(" MB")
            disk = (
                f" ({format_mb(c['disk_nbytes'])} on disk)" if c["disk_nbytes"] else ""
            )
            rows.append(
                f"{key:<{width}}  {c['count']:>6}  {mb:>8}  {_where(c['pids'])}{disk}"
            )
        for key, c in self.causes.items():
            event = c["event"]
            rows += ["", f"{key}: {event['what']}."]
            if event.get("why"):
                rows.append(f"  why: {event['why']}.")
            rows.append(f"  fix: {event['remedy'] or 'none: the estimator makes it'}.")
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
        self._start = {log: log_size(log) for log in own_logs()}
        with STATE.lock:
            STATE.reports.append(self)
        return self

    def __exit__(self, exc_type, exc, tb):
        with STATE.lock:
            STATE.reports.remove(self)
        with self._lock:
            local = list(self._local)
        events = sorted(local + collect_logged(self._start), key=lambda e: e.time)
        groups = group_events(events)
        self.events = [e.to_dict() for e in events if e.kind == COPY or e.nbytes]
        self.causes = {
            g["key"]: {
                "count": g["count"],
                "nbytes": g["nbytes"],
                "pids": g["pids"],
                "disk_nbytes": g["disk_nbytes"],
                "event": g["event"].to_dict(),
            }
            for g in groups
            if g["event"].kind == COPY
        }
        if self.warn and exc_type is None:
            self._warn_the_rest(groups)
        return False

    def _warn_the_rest(self, groups):
        """Warn about causes no call in the block warned about (copies made
        only in workers, during calls this process ran no skmemmap code in)."""
        user, _ = user_frames()
        if user is None:
            return
        for g in groups:
            if g["key"] in self._emitted or g["event"].kind != COPY:
                continue
            if g["event"].quiet:
                continue
            if g["nbytes"] < get_config()["warn_nbytes"]:
                continue
            _warn_at(
                g["event"].message(g["count"], g["nbytes"], g["disk_nbytes"]),
                CopyWarning,
                user.f_code.co_filename,
                user.f_lineno,
                user.f_globals,
            )


def copy_report(*, warn=True):
    """Collect the copies made in a block of code, in this process and its workers.

    Every copy skmemmap makes or knows of is recorded, whatever its size, in
    whatever process it happens: worker processes log theirs where this
    process reads them back. Warnings are emitted by each call in the block
    (one per cause, at its end); when the block ends, the causes that no call
    warned about (copies made only in workers during a call in which this
    process ran no skmemmap code, such as a plain estimator searched with a
    plain splitter) are warned about here.

    Parameters
    ----------
    warn : bool, default=True
        Warn, when the block ends, about the causes not already warned about.
        ``False`` adds no warning of the report's own; the calls in the block
        still warn as usual (silence those with :mod:`warnings` filters).

    Returns
    -------
    report : CopyReport
        A context manager; after the block it holds the events, the count and
        MB per cause, ``print(report)`` shows them as a table, and
        ``report.to_dict()`` as plain data.

    See Also
    --------
    CopyReport
        What the block gives you.
    CopyWarning
        The warnings given at the end of each call.
    set_config
        ``warn_nbytes``, the size below which copies are not warned about.

    Notes
    -----
    Copies are logged next to the :class:`~skmemmap.MemmapArray` they were
    made from, in the folder of the process that created it. The log is
    removed with the array's file; an open report reads it first, so the
    copies of an array that lives only inside the block
    (``search.fit(skmemmap.memmap(X), y)``) are in the report.

    Examples
    --------
    >>> import numpy as np, skmemmap
    >>> X = skmemmap.memmap(np.arange(20.0).reshape(10, 2))
    >>> with skmemmap.copy_report() as report:
    ...     rows = X[[0, 2, 4]]  # 48 bytes: recorded, below the warning threshold
    >>> report.counts
    {'rows': 1}
    >>> print(report)  # doctest: +NORMALIZE_WHITESPACE
    skmemmap copy report: 1 copy, 5e-05 MB in total, in 1 process
    <BLANKLINE>
    cause  copies        MB  where
    rows        1     5e-05  this process
    <BLANKLINE>
    rows: Non-contiguous rows of X copied.
      why: the selection has 2 gaps, so it is not a view; 3 rows were copied
      in memory.
      fix: Select one contiguous, ascending run of rows to get a view.
    """
    return CopyReport(warn=warn)
