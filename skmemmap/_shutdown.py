"""Nothing left behind when a scheduler stops the process with a signal.

``timeout``, SLURM and Kubernetes stop a job with SIGTERM, whose default
action ends the process at once: no ``atexit`` hook and no finalizer runs, so
skmemmap's private folder (a consolidated X, layout siblings, gathered folds)
stays on disk until the next skmemmap process sweeps it, and joblib's loky
workers keep computing their current task (minutes of a fit) with X's deleted
file still mapped, so its disk space is not freed either.

When this process creates its first private folder, :mod:`skmemmap._folder`
calls :func:`install` with its cleanup, which puts a handler on each of
SIGTERM and SIGINT whose disposition is the default (``SIG_DFL``). The
handler ends the loky workers, runs the cleanup (this process's folders, and
the folders its workers left), then restores the default action and sends the
signal again: the
process ends as it would have, killed by the signal (exit status 128 + 15 in
a shell for SIGTERM).

Handlers someone else installed are left in place, so their outcome stands:
Python's own SIGINT handler raises KeyboardInterrupt, joblib ends its workers
as the exception passes through ``Parallel``, and the folders are removed at
exit (or kept, if the program catches it and goes on, as a notebook does). A
handler that exits the same way (``sys.exit``) gets the same cleanup. An
ignored signal stays ignored.

Limits: Python runs a signal handler in the main thread between bytecodes,
so during one long C call (one SGD epoch over a big X) the cleanup waits for
that call to return; SIGKILL cannot be caught at all. The folder of a process
that died without cleanup is removed by the next skmemmap process to create
one (see :func:`skmemmap._folder.sweep`).
"""

import contextlib
import multiprocessing
import os
import signal
import sys
import threading

__all__ = ["install"]

_SIGNALS = (signal.SIGTERM, signal.SIGINT)
# The loky workers are SIGKILLed (what loky itself does when it terminates an
# executor); a worker in uninterruptible I/O may take a moment to go.
_WORKER_EXIT_SECONDS = 5.0
# The process whose handlers these are: a child forked from it inherits them,
# and must neither end its parent's workers nor remove its parent's folders.
_installed_in = None
# What the handler runs once the workers have ended (registered by the layer
# that owns the files, so that this module imports none of it).
_cleanups = []


def install(cleanup):
    """Run ``cleanup()`` at SIGTERM/SIGINT, after ending the loky workers.

    The handlers are installed once, if this is a main process's main thread.

    Not in a worker process (loky, multiprocessing, a dask nanny's worker):
    its pool ends it, and a Python handler there would only delay that.
    Called again later from the main thread, it installs what it could not.
    """
    global _installed_in
    if cleanup not in _cleanups:
        _cleanups.append(cleanup)
    if _installed_in == os.getpid():
        return
    if threading.current_thread() is not threading.main_thread():
        return
    if multiprocessing.parent_process() is not None:
        return
    for signum in _SIGNALS:
        # _on_signal itself: inherited by a child forked with os.fork, which
        # makes folders of its own.
        if signal.getsignal(signum) in (signal.SIG_DFL, _on_signal):
            signal.signal(signum, _on_signal)
    _installed_in = os.getpid()


def _on_signal(signum, frame):
    if os.getpid() == _installed_in:
        with contextlib.suppress(Exception):  # the signal's outcome comes first
            _clean_up()
    signal.signal(signum, signal.SIG_DFL)
    os.kill(os.getpid(), signum)
    os._exit(128 + signum)  # only if the signal is blocked in this thread


def _clean_up():
    _end_loky_workers()
    # After the workers: a folder a worker made is swept once its owner is dead.
    for cleanup in _cleanups:
        cleanup()


def _loky_executors():
    # Private: loky keeps its reusable executor (the one joblib's loky backend
    # uses) in a module global and offers no call that ends its workers
    # without taking the executor's locks, which the interrupted main thread
    # may hold. Both joblib's vendored copy and a standalone loky are looked at.
    for name in ("joblib.externals.loky.reusable_executor", "loky.reusable_executor"):
        module = sys.modules.get(name)
        executor = getattr(module, "_executor", None)
        if executor is not None:
            yield executor


def _end_loky_workers():
    """SIGKILL the loky workers (and their children) and wait until they are gone."""
    processes = [
        process
        for executor in _loky_executors()
        for process in list((getattr(executor, "_processes", None) or {}).values())
    ]
    if not processes:
        return
    try:
        from joblib.externals.loky.backend.utils import kill_process_tree
    except ImportError:  # pragma: no cover - joblib without loky
        kill_process_tree = None
    for process in processes:
        with contextlib.suppress(Exception):
            if kill_process_tree is not None:
                kill_process_tree(process)
            else:  # pragma: no cover
                os.kill(process.pid, signal.SIGKILL)
    for process in processes:
        with contextlib.suppress(Exception):
            process.join(_WORKER_EXIT_SECONDS)
