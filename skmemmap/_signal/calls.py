"""One warning per cause per call, at the user's line; workers never print.

A *call* is one user-level call into the libraries: a search's ``fit``,
``cross_val_predict``, a ``fit``, ``X[idx]``. It is found on the stack: the
user's frame is the first one outside skmemmap, scikit-learn, joblib, numpy,
scipy and pandas, and the call is the library frame it called (the *entry*
frame). The first copy event (or skmemmap hook: a MemmapEstimator being
cloned or fit, a ContiguousKFold splitting) during a call opens a scope for
it; when the entry frame returns, the scope collects every event of the call,
from this process and from the workers' logs, and emits one warning per cause
with the count and total MB, at the user's line.

Seeing the entry frame return needs a trace hook: the scope sets ``f_trace``
on that one frame and a global trace function that returns ``None`` (no line
events anywhere), chaining to a tracer already installed (a debugger,
coverage). The hook is removed when the last scope of the thread ends.
"""

import contextlib
import dataclasses
import functools
import os
import sys
import sysconfig
import threading
import warnings

from skmemmap._config import get_config
from skmemmap._signal.events import COPY, LAYOUT, NOTICE
from skmemmap._signal.log import (
    append_event,
    folder_owner,
    log_size,
    logs_in,
    read_events,
)
from skmemmap.exceptions import CopyError, CopyWarning, LayoutWarning

# A warning points at the first frame outside these packages: the user's line.
LIBRARIES = ("skmemmap", "sklearn", "joblib", "numpy", "scipy", "pandas")
# The standard library's frames are skipped too: they sit between a user's
# line and the library it calls (decorators, context managers), or run a
# library's own threads (joblib's result callbacks run in a
# concurrent.futures thread: no user line started them).
_STDLIB = tuple(
    os.path.join(sysconfig.get_paths()[name], "") for name in ("stdlib", "platstdlib")
)
# scikit-learn's functions that fit one cross-validation fold: a fit under one
# of them got its X from scikit-learn's fold indexing.
_FOLD_FUNCTIONS = frozenset(
    {"_fit_and_score", "_fit_and_predict", "_incremental_fit_estimator"}
)


class _Scope:
    """One user-level call: where it started, and what it has seen so far."""

    def __init__(self, entry, user):
        # Only its id until the scope is traced: a scope that is never traced
        # (a call that copies nothing) must not keep its frame, and X with it,
        # alive after the call.
        self.entry_id = id(entry)
        self.entry = None
        self.filename = user.f_code.co_filename
        self.lineno = user.f_lineno
        self.module = user.f_globals.get("__name__", "__main__")
        self.globals = user.f_globals
        self.start = {log: log_size(log) for log in own_logs()}
        self.local = []


class _State:
    """Everything the copy signal keeps in a process; ``reset()`` clears it."""

    def __init__(self):
        self.lock = threading.RLock()
        self.reset()

    def reset(self):
        with self.lock:
            self.reports = []  # open CopyReports
            self.logged_folders = set()  # folders this process logged events in
            self.scopes = {}  # thread ident -> list of open _Scope
            self.prev_trace = {}  # thread ident -> tracer found when installing
            self.parent_channel = None  # set in a worker: its parent's folder
            # LayoutWarnings say what skmemmap cannot do for a class (sparse X,
            # an unknown layout): that does not change, so once per process.
            self.layouts_warned = set()


STATE = _State()


def reset():
    """Forget open reports, scopes and logged folders (for tests)."""
    for scopes in list(STATE.scopes.values()):
        for scope in scopes:
            if scope.entry is not None:
                scope.entry.f_trace = None
    ident = threading.get_ident()
    if ident in STATE.prev_trace:
        sys.settrace(STATE.prev_trace.get(ident))
    STATE.reset()


# -- the stack ---------------------------------------------------------------------
@functools.cache
def _package_dir(name):
    module = sys.modules.get(name)
    path = getattr(module, "__file__", None)
    return os.path.dirname(path) + os.sep if path else None


def _library_prefixes():
    return tuple(d for d in map(_package_dir_or_none, LIBRARIES) if d)


def _package_dir_or_none(name):
    if name not in sys.modules:
        return None  # not imported yet: not cached, so found once it is
    return _package_dir(name)


def _is_library(frame, prefixes):
    filename = frame.f_code.co_filename
    if filename.startswith(prefixes) or filename.startswith("<frozen "):
        return True
    return filename.startswith(_STDLIB) and "-packages" + os.sep not in filename


def user_frames(start=None):
    """``(user_frame, entry_frame)``: the first frame outside the libraries, and
    the library frame it called (``(None, None)`` if every frame is library)."""
    prefixes = _library_prefixes()
    frame = start or sys._getframe(1)
    entry = None
    while frame is not None:
        if not _is_library(frame, prefixes):
            return frame, entry
        entry, frame = frame, frame.f_back
    return None, None


def _called_from(package, names):
    """Whether a function of ``package`` named one of ``names`` is up the stack."""
    prefix = _package_dir_or_none(package)
    frame = sys._getframe(2)
    while frame is not None and prefix:
        code = frame.f_code
        if code.co_name in names and code.co_filename.startswith(prefix):
            return True
        frame = frame.f_back
    return False


def in_cv_fold():
    """Whether the caller runs inside scikit-learn's fit of one CV fold."""
    return _called_from("sklearn", _FOLD_FUNCTIONS)


def sklearn_frame(names):
    """The local variables of the nearest scikit-learn function up the stack
    named one of ``names``, or None."""
    prefix = _package_dir_or_none("sklearn")
    frame = sys._getframe(1)
    while frame is not None and prefix:
        code = frame.f_code
        if code.co_name in names and code.co_filename.startswith(prefix):
            return frame.f_locals
        frame = frame.f_back
    return None


def cv_fold_inputs():
    """``(X, X_train)`` of scikit-learn's fit of one CV fold up the stack: the
    X the fold was taken from and the fold itself (None outside a fold)."""
    local = sklearn_frame(_FOLD_FUNCTIONS)
    if local is None:
        return None
    return local.get("X"), local.get("X_train", local.get("X_partial_train"))


def warn_at_user(message, category):
    """``warnings.warn`` pointing at the user's line (the outermost if none)."""
    user, _ = user_frames(sys._getframe(1))
    if user is None:
        warnings.warn(message, category, stacklevel=2)
        return
    _warn_at(message, category, user.f_code.co_filename, user.f_lineno, user.f_globals)


def _warn_at(message, category, filename, lineno, module_globals):
    registry = module_globals.setdefault("__warningregistry__", {})
    warnings.warn_explicit(
        message,
        category,
        filename,
        lineno,
        module=module_globals.get("__name__", "__main__"),
        registry=registry,
    )


# -- scopes ------------------------------------------------------------------------
def begin_call(trace=True):
    """Open the scope of the user-level call running now (or return it).

    The scope remembers where the copy logs ended when the call started.
    ``trace`` also hooks the call's return, where the scope warns; without it
    the scope waits, untraced, for a copy in this process (which traces it)
    or a dispatch to worker processes (see :func:`dispatching`). Returns None
    outside any library call.
    """
    user, entry = user_frames(sys._getframe(1))
    if entry is None:
        return None
    ident = threading.get_ident()
    with STATE.lock:
        scopes = STATE.scopes.setdefault(ident, [])
        on_stack = _frame_ids(entry)
        # A scope never traced ends unseen: drop those whose call returned.
        scopes[:] = [s for s in scopes if s.entry is not None or s.entry_id in on_stack]
        scope = next((s for s in scopes if s.entry_id == id(entry)), None)
        if scope is None:
            scope = _Scope(entry, user)
            scopes.append(scope)
        if not trace or scope.entry is not None:
            return scope
        scope.entry = entry
        first = not any(s.entry is not None and s is not scope for s in scopes)
        if first:
            STATE.prev_trace[ident] = sys.gettrace()
    _hook_return(scope)
    if first:
        sys.settrace(_chained_global(STATE.prev_trace[ident]))
    return scope


def _frame_ids(frame):
    ids = set()
    while frame is not None:
        ids.add(id(frame))
        frame = frame.f_back
    return ids


# joblib's functions that hand tasks to other processes (not its sequential
# path, _get_sequential_output, which runs them here).
_DISPATCH = frozenset({"dispatch_one_batch", "_get_outputs"})


def dispatching():
    """Whether joblib is dispatching tasks to workers up the stack: a call whose
    workers may log copies, so its return must be hooked now."""
    return _called_from("joblib", _DISPATCH)


def any_scope_open():
    """Whether a call (or a copy report) is open: in this thread, one still
    on the stack; in another (joblib pickles tasks in a feeder thread), any."""
    if STATE.reports:
        return True
    ident = threading.get_ident()
    on_stack = _frame_ids(sys._getframe(1))
    with STATE.lock:
        for thread, scopes in STATE.scopes.items():
            if thread != ident and scopes:
                return True
            if any(s.entry is not None or s.entry_id in on_stack for s in scopes):
                return True
    return False


def _chained_global(prev):
    # The global trace function is called for every new frame ("call" events
    # only) and returns its local trace function: None, no tracing there.
    # getattr(frame, "call", None) is that function in C: frames have no
    # attribute "call", so it returns its default, the event's arg, None.
    # It spares a Python call per frame. What tracing mode itself costs
    # CPython 3.11 (benchmarks/signal_overhead.py) is why a call is traced
    # only once it has a copy to report or dispatches to workers.
    return getattr if prev is None else prev


def _hook_return(scope):
    entry = scope.entry
    prev = entry.f_trace

    def local(frame, event, arg):
        nonlocal prev
        if prev is not None:
            prev = prev(frame, event, arg)
        if event == "return":
            end_call(scope)
            return prev
        return local

    if prev is None:
        entry.f_trace_lines = False
    entry.f_trace = local


def end_call(scope):
    """Close ``scope``: one warning per cause of its call, at the user's line."""
    ident = threading.get_ident()
    with STATE.lock:
        scopes = STATE.scopes.get(ident, [])
        if scope not in scopes:
            return
        scopes.remove(scope)
        # Untraced scopes inside this call ended with it.
        scopes[:] = [s for s in scopes if s.entry is not None]
        last = not scopes
        if last:
            STATE.scopes.pop(ident, None)
            prev = STATE.prev_trace.pop(ident, None)
    scope.entry.f_trace = None
    scope.entry = None
    if last:
        sys.settrace(prev)
    events = list(scope.local) + collect_logged(scope.start)
    for group in group_events(events):
        _warn_group(group, scope)


def _warn_group(group, scope):
    event = group["event"]
    if event.quiet or (
        event.kind == COPY and group["nbytes"] < get_config()["warn_nbytes"]
    ):
        return
    category = LayoutWarning if event.kind == LAYOUT else CopyWarning
    with STATE.lock:
        if event.kind == LAYOUT:
            if group["key"] in STATE.layouts_warned:
                return
            STATE.layouts_warned.add(group["key"])
        for report in STATE.reports:
            report._emitted.add(group["key"])
    _warn_at(
        event.message(group["count"], group["nbytes"], group["disk_nbytes"]),
        category,
        scope.filename,
        scope.lineno,
        scope.globals,
    )


# -- collecting --------------------------------------------------------------------
def own_folders():
    """Folders whose logs this process reads: its sessions, and where it logged."""
    from skmemmap._folder import _sessions

    folders = {str(s.path) for s in list(_sessions.values())}
    folders.update(STATE.logged_folders)
    return {f for f in folders if folder_owner(f) == os.getpid()}


def own_logs():
    return {log for folder in own_folders() for log in logs_in(folder)}


def collect_logged(start):
    """Events appended to this process's logs after the offsets in ``start``."""
    events = []
    for log in sorted(own_logs() | set(start)):
        logged, _ = read_events(log, start.get(log, 0))
        events += logged
    events.sort(key=lambda e: e.time)
    return events


def group_events(events):
    """One group per cause: ``key``, ``event`` (the one that describes it),
    ``count``, ``nbytes``, ``pids``, in the order causes first appeared.

    A notice (the splitter's) and the copies it announces are one cause,
    described by the notice and sized by the copies actually made; a notice
    of predicted copies (``nbytes > 0``) whose copies are never seen here
    counts as one copy of its predicted size; one that predicts nothing and
    whose copies were all made in an earlier call counts none.
    """
    notices = [e for e in events if e.kind == NOTICE]
    groups = {}
    for e in events:
        template = e
        if e.kind != NOTICE:
            for notice in notices:
                if e.cause in notice.announces and e.family == notice.family:
                    template = notice
                    break
        key = (template.key, template.family, template.kind)
        group = groups.setdefault(
            key,
            {
                "key": template.key,
                "event": template,
                "count": 0,
                "nbytes": 0,
                "pids": set(),
                "on_disk": template.on_disk,
                "disk_nbytes": 0,
            },
        )
        if e.kind == NOTICE:
            continue
        group["count"] += 1
        group["nbytes"] += e.nbytes
        group["pids"].add(e.pid)
        group["on_disk"] |= e.on_disk
        group["disk_nbytes"] += e.nbytes if e.on_disk else 0
    out = []
    for group in groups.values():
        event = group["event"]
        if event.kind == NOTICE:
            if group["count"] == 0:
                if not event.nbytes:
                    continue
                group["count"], group["nbytes"] = 1, event.nbytes
                group["pids"].add(event.pid)
                group["disk_nbytes"] = event.nbytes if event.on_disk else 0
            group["event"] = dataclasses.replace(
                event, kind=COPY, on_disk=group["on_disk"]
            )
        if group["event"].quiet:
            group["quiet"] = True
        out.append(group)
    return out


# -- the one entry point -----------------------------------------------------------
def is_worker(folder=None, channel=None):
    """Whether a copy here belongs to another process's call (we are its worker).

    ``channel`` (or the one the last MemmapEstimator unpickled here carried)
    names the parent's folder; else the folder of the file the copy was made
    from tells, as it belongs to the process that made the file.
    """
    for place in (channel, STATE.parent_channel, folder):
        owner = folder_owner(place) if place else None
        if owner is not None:
            return owner != os.getpid()
    return False


def set_parent_channel(channel):
    """Remember that this process works for the owner of ``channel`` (if alive)."""
    owner = folder_owner(channel) if channel else None
    if owner is None or owner == os.getpid():
        return
    try:
        os.kill(owner, 0)
    except ProcessLookupError:
        return  # a pickle from a process that has exited: we work for no one
    except PermissionError:
        pass
    STATE.parent_channel = channel


def emit(event, *, folder=None, channel=None, on_copy="warn"):
    """Report a copy (or a layout notice) made in this process.

    Parameters
    ----------
    event : CopyEvent
    folder : str, default=None
        The folder of the file the copy was made from, where it is logged.
    channel : str, default=None
        Where a worker logs copies that belong to no file (the folder the
        parent's MemmapEstimator carried here).
    on_copy : {"warn", "raise", "ignore"}, default="warn"
        ``"raise"`` raises CopyError for an avoidable copy, before it is made;
        ``"ignore"`` neither records nor warns.
    """
    if on_copy == "ignore":
        return
    if on_copy == "raise" and event.avoidable and event.kind == COPY:
        raise CopyError(event.message())
    if is_worker(folder, channel):
        target = folder if folder and event.family else channel or STATE.parent_channel
        with contextlib.suppress(OSError):  # a log never stops a fit
            if target:
                append_event(target, event)
        # Nothing is printed in a worker; a warning filter set to "error" (which
        # scikit-learn forwards to its workers) still fails the fit, for a
        # copy large enough to be warned about by itself.
        if event.quiet or (event.kind == COPY and event.nbytes < _warn_nbytes()):
            return
        category = LayoutWarning if event.kind == LAYOUT else CopyWarning
        with warnings.catch_warnings(record=True):
            warnings.warn(event.message(), category, stacklevel=2)
        return
    scope = begin_call()
    logged = False
    if folder and event.family:
        try:
            append_event(folder, event)
        except OSError:
            pass
        else:
            STATE.logged_folders.add(folder)
            logged = True
    if not logged:
        if scope is not None:
            scope.local.append(event)
        with STATE.lock:
            reports = list(STATE.reports)
        for report in reports:
            report._add_local(event)
    big = event.kind != COPY or event.nbytes >= get_config()["warn_nbytes"]
    if scope is None and big and not event.quiet:  # outside any library call
        if event.kind == LAYOUT:
            if event.key in STATE.layouts_warned:
                return
            STATE.layouts_warned.add(event.key)
        category = LayoutWarning if event.kind == LAYOUT else CopyWarning
        warn_at_user(event.message(), category)


def _warn_nbytes():
    return get_config()["warn_nbytes"]


def channel_folder():
    """The folder a MemmapEstimator pickled now carries to workers, or None.

    Only during a call (or an open copy report): a model pickled to disk by
    the user must not carry a folder that means nothing to a later process.
    """
    if not any_scope_open():
        return None
    from skmemmap._folder import session_folder

    try:
        return str(session_folder())
    except OSError:
        return None
