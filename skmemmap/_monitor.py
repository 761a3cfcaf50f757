"""Memory of a process tree over time: PSS, anonymous memory and ``/dev/shm``.

A process's RSS counts every shared file page it maps in full, so summing RSS
over a parent and its workers counts a memory-mapped X once per process, and
reading only the parent's RSS misses the workers altogether. PSS (proportional
set size) divides each shared page among the processes that map it, so the
PSS summed over the process tree counts X once. Copies of X are anonymous
memory: they show in ``RssAnon`` while file-backed map pages do not. Files
in ``/dev/shm`` (joblib's automatic memmapping folder) are RAM that appears in
nobody's RSS until a process maps them, so the monitor also records the space
used there.

On Linux everything is read from ``/proc`` directly (``smaps_rollup`` for PSS,
``statm`` for RSS and anonymous memory, ``stat`` for the process tree), which
needs nothing installed. Elsewhere PSS does not exist; the monitor falls back to RSS and
USS from psutil, and says so in :attr:`MemoryMonitor.metric`.
"""

import contextlib
import dataclasses
import math
import numbers
import os
import sys
import threading
import time

__all__ = ["MemoryMonitor", "MemorySample"]

_PROC = "/proc"
_SHM = "/dev/shm"
# /proc/<pid>/stat and smaps_rollup are under 1 kB; 16 kB leaves room for any
# field a future kernel adds while keeping them one read each.
_PROC_READ_SIZE = 16384
# smaps_rollup fields (in kB) -> sample field. Pss_Anon, Pss_File and
# Pss_Shmem exist since Linux 5.7; older kernels leave those fields at None.
_ROLLUP_FIELDS = {
    b"Rss:": "rss",
    b"Anonymous:": "anon",
    b"Pss:": "pss",
    b"Pss_Anon:": "pss_anon",
    b"Pss_File:": "pss_file",
    b"Pss_Shmem:": "pss_shmem",
}
_PAGE_SIZE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096
# Reading smaps_rollup makes the kernel walk the page tables of every mapping:
# ~50 ns per resident 4 kB page, so ~3 ms for a process that imported
# scikit-learn (160 MB of shared libraries) and ~4 ms more per GB of mapped
# file. Five such workers read every 50 ms would take 30% of a core. The
# full PSS read is therefore done at most as often as keeps it under this
# share of one core; samples in between add each process's change in
# anonymous memory (/proc/<pid>/statm, ~10 us) to its last PSS.
_PSS_CPU_SHARE = 0.04
# Processes are read one after the other. If one maps more of a file shared
# with a process read before it, that earlier reading still holds the larger
# share: the sum over-counts by up to half of what was mapped in between. When
# a process's file-backed memory moved by more than this during a full read,
# the read is repeated in reverse order and each process keeps its smaller
# PSS of the two, which errs low by what changes during the reads instead.
_RACE_BYTES = 8 * 2**20
# Quantities in bytes that a sample carries, in the order they are reported.
_MEMORY_KINDS = ("pss", "anon", "rss", "shm_used", "pss_anon", "pss_file", "pss_shmem")
_PSUTIL_MESSAGE = (
    "MemoryMonitor reads /proc/<pid>/smaps_rollup, which this platform "
    "({platform}) does not provide; its RSS fallback needs psutil. Install it "
    "with `pip install psutil`."
)


@dataclasses.dataclass(frozen=True)
class MemorySample:
    """Memory of the monitored process tree at one instant.

    All memory quantities are in bytes, summed over the processes measured;
    a quantity the platform does not provide is ``None``.

    Attributes
    ----------
    time : float
        Seconds since the monitor started.
    pss : int or None
        Proportional set size: each shared page is divided among the
        processes that map it, so a file mapped by several processes counts
        once. ``None`` where PSS is unavailable (then ``metric`` is ``"rss"``).
    anon : int or None
        Resident anonymous memory (``RssAnon``: heap, stacks, copies of
        arrays, pages written through copy-on-write maps); pages of a file
        mapping that were only read are not included. Counted in full in each
        process (pages shared after a ``fork`` count twice). In the RSS
        fallback, the USS (private memory) reported by psutil.
    rss : int
        Resident set size; a page mapped by several processes counts once per
        process.
    shm_used : int or None
        Bytes used in ``/dev/shm`` by everyone (not only the monitored
        processes), ``None`` where there is no ``/dev/shm``.
    n_processes : int
        Number of processes measured.
    pss_anon, pss_file, pss_shmem : int or None
        The anonymous, file-backed and shared-memory parts of ``pss``
        (Linux 5.7 and later).
    exact : bool
        True if ``pss`` was read from every process's ``smaps_rollup`` for
        this sample. False if it is the last read PSS of each process plus
        its change in anonymous memory since (see
        :class:`MemoryMonitor`'s Notes); ``rss`` and ``anon`` are always read.

    See Also
    --------
    MemoryMonitor
        Takes these samples.

    """

    time: float
    pss: int | None
    anon: int | None
    rss: int
    shm_used: int | None
    n_processes: int
    pss_anon: int | None = None
    pss_file: int | None = None
    pss_shmem: int | None = None
    exact: bool = True


# --------------------------------------------------------------------------
# Linux: /proc
# --------------------------------------------------------------------------


def _read_proc_file(path):
    """Contents of a small /proc file (stat, smaps_rollup: under 1 kB).

    The kernel formats each of these files in one go, so a single read with a
    buffer larger than the file returns all of it; a second read would only
    confirm the end of file. os.read skips open()'s buffering layers.
    """
    fd = os.open(path, os.O_RDONLY)
    try:
        return os.read(fd, _PROC_READ_SIZE)
    finally:
        os.close(fd)


def _read_rollup(pid):
    """smaps_rollup fields of one process in bytes, None if gone or a zombie."""
    try:
        data = _read_proc_file(f"{_PROC}/{pid}/smaps_rollup")
    except OSError:  # exited since it was listed, or not ours to read
        return None
    values = {}
    for line in data.splitlines():
        key, _, rest = line.partition(b" ")
        field = _ROLLUP_FIELDS.get(key)
        if field is not None:
            values[field] = int(rest.split()[0]) * 1024
    # A zombie, or a process exiting while we read, has no mappings left.
    return values if "pss" in values else None


def _read_statm(pid):
    """(rss, anonymous rss) of one process in bytes, or None if it is gone."""
    try:
        fields = _read_proc_file(f"{_PROC}/{pid}/statm").split()
        resident, shared = int(fields[1]), int(fields[2])
    except (OSError, ValueError, IndexError):
        return None
    if resident == 0:  # a zombie: its memory is already freed
        return None
    # "shared" is RssFile + RssShmem, so the rest is RssAnon.
    return resident * _PAGE_SIZE, (resident - shared) * _PAGE_SIZE


def _proc_available():
    """Whether this system reports PSS through /proc/<pid>/smaps_rollup."""
    return _read_rollup(os.getpid()) is not None


def _read_ppid(pid):
    """Parent pid of `pid` from /proc/<pid>/stat, or None if it is gone."""
    try:
        stat = _read_proc_file(f"{_PROC}/{pid}/stat")
    except OSError:  # exited between listdir and open
        return None
    # The command name (2nd field) may hold spaces and parentheses: the
    # fields we want come after its last ')': state, then ppid.
    try:
        return int(stat[stat.rindex(b")") + 2 :].split(None, 2)[1])
    except (ValueError, IndexError):
        return None


class _ProcessTree:
    """Find a process's live descendants by scanning the parent pid in /proc.

    /proc/<pid>/task/<tid>/children would avoid the scan, but it needs a kernel
    built with CONFIG_PROC_CHILDREN, it must be read for every thread (loky
    starts workers from a management thread) and the kernel documents it as
    unreliable while children start and exit. Scanning every /proc/<pid>/stat
    costs ~10 us per process on the machine, so parent pids are cached: a
    process's parent only changes when the parent exits (the orphan moves to
    init or a subreaper), so a cached entry is re-read only when its pid is
    new or its parent is gone. A pid that exits and is reused by a new process
    between two samples would keep a stale parent; pids are allocated
    cyclically, so that needs the whole pid space to wrap within one interval.
    """

    def __init__(self, root):
        self.root = root
        self._ppid = {}

    def pids(self):
        """`root` and the pids of all its live descendants, root first."""
        try:
            live = {int(name) for name in os.listdir(_PROC) if name.isdigit()}
        except OSError:
            return [self.root]
        ppid = {
            pid: parent
            for pid, parent in self._ppid.items()
            if pid in live and parent in live
        }
        for pid in live.difference(ppid):
            parent = _read_ppid(pid)
            if parent is not None:
                ppid[pid] = parent
        self._ppid = ppid
        children = {}
        for pid, parent in ppid.items():
            children.setdefault(parent, []).append(pid)
        pids, stack = [], [self.root]
        while stack:
            pid = stack.pop()
            pids.append(pid)
            stack.extend(children.get(pid, ()))
        return pids


def _shm_used():
    """Bytes used in /dev/shm, or None where it does not exist."""
    try:
        st = os.statvfs(_SHM)
    except OSError:
        return None
    return (st.f_blocks - st.f_bfree) * st.f_frsize


def _total(records, field):
    """Sum of one field over the processes, None if any of them lacks it."""
    values = [r.get(field) for r in records]
    if any(v is None for v in values):
        return None
    return sum(values)


class _ProcSampler:
    """Memory of a process tree from /proc (Linux).

    Every sample reads each process's statm (rss, anonymous rss). PSS comes
    from smaps_rollup, which is costly (see _PSS_CPU_SHARE): it is read for
    every process when the CPU budget allows and whenever a process starts or
    exits; in between, a process's PSS is its last read value plus the change in its
    anonymous memory since. That tracks copies (anonymous) exactly; what it
    misses until the next full read is a change in how file pages are shared,
    e.g. a worker starting to read a memory map the parent already holds.
    """

    def __init__(self, include_children):
        self.tree = _ProcessTree(os.getpid())
        self.include_children = include_children
        self._pss = {}  # pid -> its last smaps_rollup record
        # Descendants whose smaps_rollup we may not read (another user's,
        # e.g. a setuid helper): not measured, and not retried every sample.
        self._unreadable = set()
        self._next_full = 0.0

    def sample(self, force_full=False):
        pids = self.tree.pids() if self.include_children else [self.tree.root]
        statm = {}
        for pid in pids:
            counters = _read_statm(pid) if pid not in self._unreadable else None
            if counters is not None:
                statm[pid] = counters
        self._unreadable.intersection_update(pids)
        now = time.perf_counter()
        # A process starting or exiting changes how shared pages are divided
        # among the others (a forked child halves its parent's share at
        # once), so a change in the tree forces a full read too.
        full = force_full or now >= self._next_full or statm.keys() != self._pss.keys()
        if full:
            cpu_start = time.thread_time()
            self._pss = self._read_all(list(statm))
            if self._raced(statm):
                for pid, rollup in self._read_all(list(statm)[::-1]).items():
                    if pid in self._pss:
                        self._pss[pid] = min(self._pss[pid], rollup, key=_pss_of)
            cost = time.thread_time() - cpu_start
            self._next_full = now + cost / _PSS_CPU_SHARE
        records = []
        for pid, rollup in self._pss.items():
            rss, anon = statm[pid]
            delta = anon - rollup["anon"]
            record = {"rss": rss, "anon": anon}
            if rollup.get("pss_anon") is None:
                record["pss"] = max(rollup["pss"] + delta, 0)
            else:
                record["pss_anon"] = max(rollup["pss_anon"] + delta, 0)
                record["pss_file"] = rollup["pss_file"]
                record["pss_shmem"] = rollup["pss_shmem"]
                record["pss"] = rollup["pss"] - rollup["pss_anon"] + record["pss_anon"]
            records.append(record)
        return records, full

    def _read_all(self, pids):
        """smaps_rollup of each process, in this order, skipping the gone."""
        rollups = {}
        for pid in pids:
            rollup = _read_rollup(pid)
            if rollup is not None:
                rollups[pid] = rollup
            elif _read_statm(pid) is not None:  # alive, but not ours to read
                self._unreadable.add(pid)
        return rollups

    def _raced(self, statm):
        """Whether file-backed memory moved between statm and smaps_rollup."""
        for pid, rollup in self._pss.items():
            rss, anon = statm[pid]
            moved = (rollup["rss"] - rollup["anon"]) - (rss - anon)
            if abs(moved) > _RACE_BYTES:
                return True
        return False


def _pss_of(rollup):
    return rollup["pss"]


class _PsutilSampler:
    """RSS and USS of a process tree through psutil (where /proc is missing)."""

    def __init__(self, include_children):
        self.psutil = _import_psutil()
        self.include_children = include_children

    def sample(self, force_full=False):
        psutil = self.psutil
        root = psutil.Process()
        procs = [root]
        if self.include_children:
            # The root cannot vanish; a child exiting mid-listing can.
            with contextlib.suppress(psutil.Error):
                procs += root.children(recursive=True)
        records = (_psutil_record(psutil, p) for p in procs)
        return [r for r in records if r is not None], True


# --------------------------------------------------------------------------
# Elsewhere: psutil, RSS and USS
# --------------------------------------------------------------------------


def _import_psutil():
    try:
        import psutil
    except ImportError as exc:
        raise ImportError(_PSUTIL_MESSAGE.format(platform=sys.platform)) from exc
    return psutil


def _psutil_record(psutil, proc):
    """RSS and USS of one psutil.Process, or None if it is gone."""
    try:
        try:
            info = proc.memory_full_info()
            return {"rss": info.rss, "anon": getattr(info, "uss", None)}
        except psutil.AccessDenied:
            return {"rss": proc.memory_info().rss, "anon": None}
    except (psutil.NoSuchProcess, psutil.ZombieProcess, psutil.AccessDenied):
        return None


# --------------------------------------------------------------------------
# The monitor
# --------------------------------------------------------------------------


class MemoryMonitor:
    """Sample the memory of this process and its workers in a background thread.

    Every `interval` seconds a daemon thread measures the current process and,
    by default, all its descendants (joblib/loky and multiprocessing workers
    are found as they start and stop) and records a :class:`MemorySample`:
    the PSS summed over the processes (a page of a file mapped by several
    workers counts once), their anonymous memory (where copies show up), their
    RSS, and the space used in ``/dev/shm``. One sample is taken when the
    monitor starts (the baseline) and one when it stops, so even a very short
    run has data.

    Use it as a context manager, or call :meth:`start` and :meth:`stop`.
    Starting it again begins a new run and discards the previous samples.

    Parameters
    ----------
    interval : float, default=0.05
        Seconds between two samples. A sample of a handful of processes
        costs a fraction of a millisecond of CPU on Linux; the costlier full
        PSS reads are spaced to stay under 4% of a core (see Notes).
    include_children : bool, default=True
        Whether to measure the descendant processes too. With ``False`` only
        the current process is measured, as monitors reading the parent's
        RSS do: workers' memory is then invisible.

    Attributes
    ----------
    metric : {"pss", "rss"}
        What the main quantity is: ``"pss"`` on Linux (read from
        ``/proc/<pid>/smaps_rollup``), ``"rss"`` where PSS is unavailable and
        psutil is used instead. Set by :meth:`start`; label reports with it.
    samples_ : list of MemorySample
        The samples of the current or last run, in time order. It grows while
        the monitor runs.
    baseline_ : MemorySample
        The first sample, taken by :meth:`start`.
    peak_ : MemorySample
        The sample-wise maximum of each quantity; its ``time`` is the time of
        the highest ``metric`` value.

    See Also
    --------
    MemorySample : What one sample holds.

    Notes
    -----
    ``pss`` and ``shm_used`` overlap when a process maps a ``/dev/shm`` file:
    its mapped pages are in ``pss_shmem`` as well. ``shm_used`` is a
    system-wide figure; other programs writing to ``/dev/shm`` during the run
    show up in it.

    Reading a process's PSS makes the kernel walk its page tables, which costs
    ~3 ms for a process that imported scikit-learn and ~4 ms more per GB of
    mapped file. So PSS is read from every process at start, at stop, and in
    between as often as keeps these reads under 4% of a core: every sample
    for a few small processes, every few hundred milliseconds for several
    large workers. The samples in between (``exact=False``) add each
    process's change in anonymous memory, read at every sample, to its last
    PSS: copies are tracked at full rate, while a change in how file pages are
    shared (a worker starting to read a map) shows at the next full read.
    ``rss`` and ``anon`` are read at every sample.

    A process that exits between being listed and being read is skipped.
    Processes whose parent died are re-parented outside the tree and are no
    longer measured.

    Examples
    --------
    >>> import numpy as np
    >>> from skmemmap import MemoryMonitor
    >>> with MemoryMonitor(interval=0.01) as monitor:
    ...     x = np.ones(10_000_000)  # 80 MB, every page written
    >>> monitor.metric in ("pss", "rss")
    True
    >>> len(monitor.samples_) >= 2
    True
    >>> monitor.peak_above_baseline("anon") > 70 * 2**20
    True
    """

    def __init__(self, interval=0.05, *, include_children=True):
        if (
            not isinstance(interval, numbers.Real)
            or isinstance(interval, bool)
            or not math.isfinite(interval)
            or interval <= 0
        ):
            raise ValueError(
                f"interval must be a positive number of seconds, got {interval!r}."
            )
        self.interval = float(interval)
        self.include_children = bool(include_children)
        self.metric = "pss" if _proc_available() else "rss"
        self.samples_ = []
        self._thread = None
        self._stop_event = threading.Event()
        self._error = None
        self._t0 = None
        self._sampler = None

    def __repr__(self):
        return (
            f"{type(self).__name__}(interval={self.interval!r}, "
            f"include_children={self.include_children!r})"
        )

    # ---------------------------------------------------------------- running

    def start(self):
        """Take the baseline sample and start sampling in a background thread.

        Returns
        -------
        self : MemoryMonitor
            The running monitor.

        Raises
        ------
        RuntimeError
            If the monitor is already running.
        ImportError
            If PSS is unavailable on this platform and psutil, needed for the
            RSS fallback, is not installed.
        """
        if self.running:
            raise RuntimeError("This MemoryMonitor is already running.")
        self.metric = "pss" if _proc_available() else "rss"
        sampler = _ProcSampler if self.metric == "pss" else _PsutilSampler
        self._sampler = sampler(self.include_children)
        self.samples_ = []
        self._error = None
        self._stop_event.clear()
        self._t0 = time.perf_counter()
        self.samples_.append(self._sample(force_full=True))
        self._thread = threading.Thread(
            target=self._run, name="skmemmap-MemoryMonitor", daemon=True
        )
        self._thread.start()
        return self

    def stop(self):
        """Stop the sampling thread and take a last sample.

        Returns
        -------
        self : MemoryMonitor
            The stopped monitor, with its samples.

        Raises
        ------
        RuntimeError
            If the monitor is not running.
        """
        if not self.running:
            raise RuntimeError(
                "This MemoryMonitor is not running; call start() first or use "
                "it as a context manager."
            )
        self._stop_event.set()
        self._thread.join()
        self._thread = None
        if self._error is not None:
            error, self._error = self._error, None
            raise RuntimeError("The memory sampling thread failed.") from error
        self.samples_.append(self._sample(force_full=True))
        return self

    @property
    def running(self):
        """Whether the sampling thread is running."""
        return self._thread is not None

    def __enter__(self):
        return self.start()

    def __exit__(self, exc_type, exc_value, traceback):
        self.stop()

    def _run(self):
        next_time = time.perf_counter()
        try:
            while True:
                next_time += self.interval
                # Sampling late (a busy machine) must not make samples pile up.
                next_time = max(next_time, time.perf_counter())
                if self._stop_event.wait(next_time - time.perf_counter()):
                    return
                self.samples_.append(self._sample())
        except BaseException as exc:  # reported by stop()
            self._error = exc

    # --------------------------------------------------------------- sampling

    def _sample(self, force_full=False):
        records, exact = self._sampler.sample(force_full)
        return MemorySample(
            time=time.perf_counter() - self._t0,
            pss=_total(records, "pss"),
            anon=_total(records, "anon"),
            rss=sum(r["rss"] for r in records),
            shm_used=_shm_used(),
            n_processes=len(records),
            pss_anon=_total(records, "pss_anon"),
            pss_file=_total(records, "pss_file"),
            pss_shmem=_total(records, "pss_shmem"),
            exact=exact,
        )

    # ---------------------------------------------------------------- results

    def _check_kind(self, kind):
        if kind is None:
            return self.metric
        if kind not in _MEMORY_KINDS:
            raise ValueError(
                f"kind must be one of {', '.join(map(repr, _MEMORY_KINDS))}, "
                f"got {kind!r}."
            )
        if self.samples_ and getattr(self.samples_[0], kind) is None:
            raise ValueError(
                f"{kind!r} was not measured on this platform (metric="
                f"{self.metric!r}); ask for kind={self.metric!r} instead, or "
                "kind=None for the monitor's metric."
            )
        return kind

    def _require_samples(self, what):
        if not self.samples_:
            raise RuntimeError(
                f"No memory sample yet: start the MemoryMonitor (or use it as a "
                f"context manager) before calling {what}."
            )

    @property
    def baseline_(self):
        """The first sample of the run (a :class:`MemorySample`)."""
        if not self.samples_:
            raise AttributeError(
                "baseline_ is set when the MemoryMonitor starts; start it first."
            )
        return self.samples_[0]

    @property
    def peak_(self):
        """The sample-wise maximum of each quantity (a :class:`MemorySample`)."""
        samples = list(self.samples_)
        if not samples:
            raise AttributeError(
                "peak_ is set when the MemoryMonitor starts; start it first."
            )
        peaks = {}
        for field in (*_MEMORY_KINDS, "n_processes"):
            values = [getattr(s, field) for s in samples]
            peaks[field] = None if None in values else max(values)
        at_peak = max(samples, key=lambda s: getattr(s, self.metric))
        return MemorySample(time=at_peak.time, **peaks)

    def peak_above_baseline(self, kind=None):
        """Highest value of one quantity during the run, minus its baseline.

        Parameters
        ----------
        kind : {"pss", "anon", "rss", "shm_used", "pss_anon", "pss_file", \
"pss_shmem"} or None, default=None
            The quantity; ``None`` means :attr:`metric` (``"pss"`` on Linux,
            ``"rss"`` where PSS is unavailable).

        Returns
        -------
        nbytes : int
            Bytes above the first sample; 0 if it never rose.

        Raises
        ------
        RuntimeError
            If the monitor has no sample yet.
        ValueError
            If `kind` is unknown or was not measured on this platform.
        """
        self._require_samples("peak_above_baseline()")
        kind = self._check_kind(kind)
        samples = list(self.samples_)
        return int(max(getattr(s, kind) for s in samples) - getattr(samples[0], kind))

    def to_dict(self):
        """The run as plain, JSON-serialisable Python objects.

        Returns
        -------
        result : dict
            ``metric``, ``interval``, ``include_children``; ``baseline`` and
            ``peak`` (dicts of numbers, ``None`` for quantities not measured,
            empty before the first sample); ``peak_above_baseline`` (bytes per
            quantity measured); and ``samples``, a dict of equal-length lists,
            one per :class:`MemorySample` field.

        Examples
        --------
        >>> import json
        >>> from skmemmap import MemoryMonitor
        >>> with MemoryMonitor() as monitor:
        ...     pass
        >>> result = monitor.to_dict()
        >>> sorted(result["samples"])
        ['anon', 'exact', 'n_processes', 'pss', 'pss_anon', 'pss_file',
         'pss_shmem', 'rss', 'shm_used', 'time']
        >>> len(result["samples"]["time"]) >= 2
        True
        >>> text = json.dumps(result)
        """
        samples = list(self.samples_)
        fields = [f.name for f in dataclasses.fields(MemorySample)]
        result = {
            "metric": self.metric,
            "interval": self.interval,
            "include_children": self.include_children,
            "baseline": dataclasses.asdict(samples[0]) if samples else {},
            "peak": dataclasses.asdict(self.peak_) if samples else {},
            "peak_above_baseline": {},
            "samples": {name: [getattr(s, name) for s in samples] for name in fields},
        }
        if samples:
            for kind in _MEMORY_KINDS:
                if getattr(samples[0], kind) is not None:
                    result["peak_above_baseline"][kind] = self.peak_above_baseline(kind)
        return result

    def plot(self, ax=None, *, kinds=None, label=None):
        """Draw memory (MB) over time (s) with matplotlib.

        Parameters
        ----------
        ax : matplotlib Axes, default=None
            Where to draw; a new figure's Axes if None.
        kinds : tuple of str, default=None
            Quantities to draw, among those of :meth:`peak_above_baseline`;
            ``None`` means ``(metric, "anon")``, i.e. ``("pss", "anon")`` on
            Linux.
        label : str, default=None
            Prefix of the legend entries, e.g. the name of the run when
            several runs share one Axes.

        Returns
        -------
        ax : matplotlib Axes
            The Axes drawn on.

        Raises
        ------
        ImportError
            If matplotlib is not installed.
        RuntimeError
            If the monitor has no sample yet.

        Examples
        --------
        >>> import matplotlib
        >>> matplotlib.use("Agg")
        >>> from skmemmap import MemoryMonitor
        >>> with MemoryMonitor() as monitor:
        ...     pass
        >>> ax = monitor.plot(label="idle")
        >>> ax.get_ylabel()
        'memory (MB)'
        """
        self._require_samples("plot()")
        if kinds is None:
            kinds = (self.metric, "anon")
        elif isinstance(kinds, str):
            kinds = (kinds,)
        kinds = [self._check_kind(kind) for kind in kinds]
        if ax is None:
            try:
                import matplotlib.pyplot as plt
            except ImportError as exc:
                raise ImportError(
                    "MemoryMonitor.plot needs matplotlib. Install it with "
                    "`pip install matplotlib`."
                ) from exc
            _, ax = plt.subplots()
        samples = list(self.samples_)
        times = [s.time for s in samples]
        for kind in kinds:
            values = [getattr(s, kind) for s in samples]
            mb = [float("nan") if v is None else v / 2**20 for v in values]
            ax.plot(times, mb, label=kind if label is None else f"{label} {kind}")
        ax.set_xlabel("time (s)")
        ax.set_ylabel("memory (MB)")
        ax.legend()
        return ax
