"""Run a Python snippet in a fresh process inside a fresh memory cgroup (v1).

    from cgroup import cgroup_unavailable, run_limited
    run = run_limited("import numpy as np; x = np.ones(2**27)", limit=400 * 2**20)
    run.completed, run.oom_killed, run.peak_anon

Used by ``benchmarks/bigger_than_memory.py`` and by the suite's small
memory-cgroup test. Needs root and cgroup v1's memory controller at
``/sys/fs/cgroup/memory`` (:func:`cgroup_unavailable` says why not, else
None).

What a run measures (:class:`LimitedRun`):

* the exit status, and whether the kernel's OOM killer killed a process of
  the cgroup (``oom_kill`` in ``memory.oom_control``: the main process shows
  -9, a killed worker shows as the main process's error);
* the wall time from start to exit (interpreter start-up included; a snippet
  times its own part and prints it, see :meth:`LimitedRun.result`);
* the peak anonymous memory of the whole process tree: the cgroup's
  ``memory.stat`` ``total_rss``, sampled every 20 ms. It counts the anonymous
  pages of every process in the cgroup (the interpreter, loky workers,
  joblib's resource trackers), each physical page once, and it needs no list
  of processes, so a worker that starts and ends between two samples is not
  missed while alive. The sum of each process's ``RssAnon`` (also sampled,
  as ``peak_anon_sum``) counts a page shared copy-on-write after a fork once
  per process, and races processes starting and exiting. Page cache (X's
  mapped file pages) is left out of both: the kernel reclaims it under the
  limit. ``/dev/shm`` files, which it cannot, are ``peak_shmem``;
* the bytes written by skmemmap: the disk blocks of the files under the run's
  ``$SKMEMMAP_FOLDER``, sampled (``peak_written``; ``peak_data_written``
  counts only ``.npy`` files, the copies of data, without the folder's owner
  file and copy logs), and what is left there after the process tree has
  exited (``left``).

Samples are taken every 20 ms: a peak shorter than that may be missed. The
cgroup's ``memory.max_usage_in_bytes`` is exact but counts page cache, which
is the point of the limit, so it is reported (``max_usage``) and not used.
"""

import contextlib
import dataclasses
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:  # skmemmap from this checkout, for _read_statm
    sys.path.insert(0, ROOT)

from skmemmap._monitor import _read_statm  # noqa: E402

MEMORY_ROOT = "/sys/fs/cgroup/memory"
# 20 ms: short enough to catch a chunk being loaded (72 MB read from page
# cache takes ~30 ms), long enough that sampling costs well under 1% of a core.
SAMPLE_SECONDS = 0.02
# Workers and resource trackers leave the cgroup within a second or two of
# their parent; past this they are killed so that the cgroup can be removed.
_LEAVE_SECONDS = 15


@dataclasses.dataclass
class LimitedRun:
    """What :func:`run_limited` measured (bytes, seconds)."""

    limit: int
    returncode: int | None  # None: killed at the timeout
    oom_killed: bool
    seconds: float
    peak_anon: int
    peak_anon_sum: int
    peak_shmem: int
    max_usage: int
    peak_written: int
    peak_data_written: int
    left: list
    stdout: str
    stderr: str

    @property
    def completed(self):
        """Exited with status 0 and nothing in its cgroup was OOM-killed."""
        return self.returncode == 0 and not self.oom_killed

    @property
    def status(self):
        """``"ok"``, ``"OOM-killed"``, ``"timeout"`` or ``"exit N"``."""
        if self.completed:
            return "ok"
        if self.oom_killed:
            return "OOM-killed"
        return "timeout" if self.returncode is None else f"exit {self.returncode}"

    def result(self):
        """The JSON object the snippet printed as its last line, or None."""
        lines = self.stdout.strip().splitlines()
        with contextlib.suppress(ValueError, IndexError):
            return json.loads(lines[-1])
        return None

    def to_dict(self):
        data = dataclasses.asdict(self)
        data.update(status=self.status, result=self.result())
        data["stderr"] = self.stderr[-2000:]
        data.pop("stdout")
        return data


def cgroup_unavailable():
    """Why a memory cgroup cannot be made here, or None if it can."""
    if not sys.platform.startswith("linux"):
        return "memory cgroups are a Linux feature"
    if not os.path.isfile(os.path.join(MEMORY_ROOT, "memory.limit_in_bytes")):
        return f"no cgroup v1 memory controller at {MEMORY_ROOT}"
    if not os.access(MEMORY_ROOT, os.W_OK):
        return f"{MEMORY_ROOT} is not writable (run as root)"
    return None


def drop_caches():
    """Write dirty pages, then drop the page cache: the run reads from disk."""
    os.sync()
    with open("/proc/sys/vm/drop_caches", "w") as f:
        f.write("3\n")


def run_limited(
    code, *, limit, drop_cache=True, env=None, timeout=3600, folder=None, cwd=None
):
    """Run ``python -c code`` in a new memory cgroup limited to ``limit`` bytes.

    Parameters
    ----------
    code : str
        The snippet. It imports this checkout's skmemmap (PYTHONPATH).
    limit : int
        ``memory.limit_in_bytes`` (and the memory+swap limit, where swap
        accounting exists, so that the run cannot swap instead).
    drop_cache : bool, default=True
        Drop the page cache first, so that nothing the snippet reads is cached.
    env : dict, default=None
        Added to the environment.
    timeout : float, default=3600
        Seconds; the cgroup's processes are killed after it.
    folder : str, default=None
        ``$SKMEMMAP_FOLDER`` for the run; a new temporary folder by default
        (removed afterwards).

    Returns
    -------
    run : LimitedRun
    """
    reason = cgroup_unavailable()
    if reason is not None:
        raise RuntimeError(f"Cannot make a memory cgroup: {reason}.")
    own_folder = folder is None
    folder = folder or tempfile.mkdtemp(prefix="skmemmap-bench-folder-")
    cg = tempfile.mkdtemp(prefix="skmemmap-bench-", dir=MEMORY_ROOT)
    try:
        _write(cg, "memory.limit_in_bytes", limit)
        if os.path.exists(os.path.join(cg, "memory.memsw.limit_in_bytes")):
            _write(cg, "memory.memsw.limit_in_bytes", limit)
        if drop_cache:
            drop_caches()
        full_env = dict(os.environ, **(env or {}), SKMEMMAP_FOLDER=folder)
        full_env["PYTHONPATH"] = os.pathsep.join(
            p for p in (ROOT, full_env.get("PYTHONPATH")) if p
        )
        return _run(code, cg, limit, folder, full_env, timeout, cwd)
    finally:
        _remove_cgroup(cg)
        if own_folder:
            shutil.rmtree(folder, ignore_errors=True)


def _run(code, cg, limit, folder, env, timeout, cwd):
    # The shell joins the cgroup, then becomes Python: every process the
    # snippet starts is born in the cgroup (no preexec_fn, which is unsafe
    # with the sampling thread running).
    argv = [
        "sh",
        "-c",
        'echo $$ > "$1/cgroup.procs" && exec "$2" -c "$3"',
        "sh",
        cg,
        sys.executable,
        code,
    ]
    sampler = _Sampler(cg, folder)
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        start = time.monotonic()
        proc = subprocess.Popen(argv, stdout=out, stderr=err, env=env, cwd=cwd)
        sampler.start()
        try:
            returncode = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            _kill_all(cg)
            proc.wait()
            returncode = None
        seconds = time.monotonic() - start
        _leave(cg)
        sampler.stop()
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read(), err.read()
    oom = _field(_read(cg, "memory.oom_control"), "oom_kill") or 0
    return LimitedRun(
        limit=limit,
        returncode=returncode,
        oom_killed=oom > 0 or returncode == -signal.SIGKILL,
        seconds=seconds,
        peak_anon=sampler.peak_anon,
        peak_anon_sum=sampler.peak_anon_sum,
        peak_shmem=sampler.peak_shmem,
        max_usage=int(_read(cg, "memory.max_usage_in_bytes") or 0),
        peak_written=sampler.peak_written,
        peak_data_written=sampler.peak_data_written,
        left=_left(folder),
        stdout=stdout,
        stderr=stderr,
    )


class _Sampler(threading.Thread):
    """Peak anonymous memory of the cgroup and bytes under the folder."""

    def __init__(self, cg, folder):
        super().__init__(daemon=True)
        self.cg, self.folder = cg, folder
        self.peak_anon = self.peak_anon_sum = self.peak_shmem = 0
        self.peak_written = self.peak_data_written = 0
        self._done = threading.Event()

    def run(self):
        while True:
            self.sample()
            if self._done.wait(SAMPLE_SECONDS):
                return

    def sample(self):
        stat = _read(self.cg, "memory.stat") or ""
        self.peak_anon = max(self.peak_anon, _field(stat, "total_rss") or 0)
        self.peak_shmem = max(self.peak_shmem, _field(stat, "total_shmem") or 0)
        anon = 0
        for pid in _pids(self.cg):
            statm = _read_statm(pid)
            anon += statm[1] if statm else 0
        self.peak_anon_sum = max(self.peak_anon_sum, anon)
        written, data = _folder_bytes(self.folder)
        self.peak_written = max(self.peak_written, written)
        self.peak_data_written = max(self.peak_data_written, data)

    def stop(self):
        self._done.set()
        self.join()
        self.sample()


def _write(cg, name, value):
    with open(os.path.join(cg, name), "w") as f:
        f.write(f"{value}\n")


def _read(cg, name):
    with contextlib.suppress(OSError), open(os.path.join(cg, name)) as f:
        return f.read()
    return None


def _field(text, name):
    for line in (text or "").splitlines():
        key, _, value = line.partition(" ")
        if key == name:
            return int(value)
    return None


def _pids(cg):
    return [int(p) for p in (_read(cg, "cgroup.procs") or "").split()]


def _folder_bytes(folder):
    """Disk blocks of the files under ``folder``: all of them, and ``.npy``."""
    total = data = 0
    for dirpath, _, files in os.walk(folder):
        for name in files:
            with contextlib.suppress(OSError):
                nbytes = os.lstat(os.path.join(dirpath, name)).st_blocks * 512
                total += nbytes
                data += nbytes if name.endswith(".npy") else 0
    return total, data


def _left(folder):
    """Paths under ``folder`` after the run (relative), folders included."""
    left = []
    for dirpath, dirs, files in os.walk(folder):
        for name in dirs + files:
            left.append(os.path.relpath(os.path.join(dirpath, name), folder))
    return sorted(left)


def _leave(cg):
    """Wait for the cgroup's processes (workers, resource trackers) to exit."""
    deadline = time.monotonic() + _LEAVE_SECONDS
    while _pids(cg) and time.monotonic() < deadline:
        time.sleep(0.05)
    _kill_all(cg)


def _kill_all(cg):
    # Every process in this cgroup was started by this run.
    for pid in _pids(cg):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def _remove_cgroup(cg):
    _kill_all(cg)
    deadline = time.monotonic() + _LEAVE_SECONDS
    while True:
        try:
            os.rmdir(cg)
            return
        except FileNotFoundError:
            return
        except OSError:  # EBUSY until the last killed process is reaped
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)
