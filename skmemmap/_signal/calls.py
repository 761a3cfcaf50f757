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

Seeing the entry frame return needs a hook. On CPython 3.12 and later it is
``sys.monitoring`` (PEP 669): PY_RETURN and PY_YIELD events on the entry
frame's one code object, and PY_UNWIND (which only exists globally) while a
scope is open, under a tool id of its own; nothing else runs slower, and
debuggers and coverage keep their own tool ids. On 3.11 (or if no tool id
is free) it is a trace hook: the scope sets ``f_trace`` on that one frame
and, once the call has something to warn about, a global trace
function that returns ``None`` (no line events anywhere), chaining to a
tracer already installed (a debugger, coverage); it is removed when the last
traced scope of the thread ends. Either way a call that raises ends its
scope like one that returns.
"""

import contextlib
import dataclasses
import functools
import os
import sys
import sysconfig
import threading
import warnings

from skmemmap import _mapped
from skmemmap._config import get_config
from skmemmap._signal.events import COPY, LAYOUT, NOTICE
from skmemmap._signal.log import (
    append_event,
    folder_owner,
    log_path,
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
        # Only its id and code: a scope must not keep its frame, and X with
        # it, alive after the call. While the call runs, no other frame has
        # that id; once it has ended, a later call's frame may.
        self.entry_id = id(entry)
        self.code = entry.f_code
        self.entry = None  # the frame, while a trace hook watches it
        self.hook = None  # the hook that sees it end (_TRACER or _MONITOR)
        self.traced = False  # whether that hook is live (the call is watched)
        self.local_trace = None  # the trace hook's f_trace: marks its frame
        self.chained = None  # the f_trace it found there (a debugger's)
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
            self.watched = {}  # id(entry frame) -> _Scope seen ending by _MONITOR
            self.parent_channel = None  # set in a worker: its parent's folder
            # LayoutWarnings say what skmemmap cannot do for a class (sparse X,
            # an unknown layout): that does not change, so once per process.
            self.layouts_warned = set()


STATE = _State()


def reset():
    """Forget open reports, scopes and logged folders (for tests)."""
    with STATE.lock:
        for scopes in list(STATE.scopes.values()):
            for scope in scopes:
                scope.hook.unwatch(scope)
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
    the scope waits, unwatched, for a copy in this process (which watches it)
    or a dispatch to worker processes (see :func:`dispatching`). With
    ``sys.monitoring`` (Python 3.12+) watching costs nothing: every scope is
    watched from the start. Returns None outside any library call.
    """
    user, entry = user_frames(sys._getframe(1))
    if entry is None:
        return None
    ident = threading.get_ident()
    with STATE.lock:
        scopes = STATE.scopes.setdefault(ident, [])
        _drop_ended(scopes, _frames_by_id(entry))
        scope = next((s for s in scopes if s.entry_id == id(entry)), None)
        if scope is None:
            scope = _Scope(entry, user)
            scope.hook = _MONITOR if _MONITOR.claim() else _TRACER
            scopes.append(scope)
            scope.hook.mark(scope, entry)
        if (trace or scope.hook.cheap) and not scope.traced:
            scope.hook.watch(scope, entry)
    return scope


def _frames_by_id(frame):
    frames = {}
    while frame is not None:
        frames[id(frame)] = frame
        frame = frame.f_back
    return frames


def _drop_ended(scopes, on_stack):
    """Drop the unwatched scopes whose call has ended, unseen: their frame is
    off the stack, or its id now belongs to a later call's frame."""
    scopes[:] = [s for s in scopes if _open(s, on_stack)]


def _open(scope, on_stack):
    return scope.traced or scope.hook.owns(scope, on_stack.get(scope.entry_id))


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
    on_stack = _frames_by_id(sys._getframe(1))
    with STATE.lock:
        for thread, scopes in STATE.scopes.items():
            if thread != ident and scopes:
                return True
            if any(_open(s, on_stack) for s in scopes):
                return True
    return False


class _TraceHook:
    """Sees a call end through ``f_trace`` on its entry frame (CPython 3.10
    and 3.11, or 3.12+ when every ``sys.monitoring`` tool id is taken).

    The frame's local trace function is set when the scope opens: it marks
    the frame as the scope's, and ends the scope when the frame returns (or
    unwinds: an "exception" event, then "return" with ``None``) while the
    thread is traced. Tracing the thread (``watch``) is what costs, so it
    waits until the call has something to warn about.
    """

    cheap = False

    def mark(self, scope, entry):
        scope.chained = entry.f_trace  # a debugger's, called first
        failed = False

        def local(frame, event, arg):
            nonlocal failed
            if scope.chained is not None:
                scope.chained = scope.chained(frame, event, arg)
            if event == "exception":
                failed = True
            elif event == "return":
                # None after an exception: the frame unwinds (a frame that
                # caught it and returns None is taken for one too).
                end_call(scope, unwinding=failed and arg is None)
                return scope.chained
            return local

        if scope.chained is None:
            entry.f_trace_lines = False
        entry.f_trace = scope.local_trace = local

    def owns(self, scope, frame):
        return frame is not None and frame.f_trace is scope.local_trace

    def watch(self, scope, entry):
        ident = threading.get_ident()
        scope.entry, scope.traced = entry, True
        if ident not in STATE.prev_trace:
            STATE.prev_trace[ident] = sys.gettrace()
            sys.settrace(_chained_global(STATE.prev_trace[ident]))

    def unwatch(self, scope):
        entry, scope.entry, scope.traced = scope.entry, None, False
        if entry is not None and entry.f_trace is scope.local_trace:
            entry.f_trace = scope.chained

    def release(self, ident):
        """The thread's last watched scope has ended: stop tracing it."""
        if ident in STATE.prev_trace:
            sys.settrace(STATE.prev_trace.pop(ident))


class _MonitorHook:
    """Sees a call end through ``sys.monitoring`` (CPython 3.12+).

    PY_RETURN and PY_YIELD (a generator hands its first value back: the call
    the user made has returned) on the entry frame's code object, PY_UNWIND
    (global only) for a call that raises. The events fire for every frame
    of that code object; the callback ends the scope whose frame it is. The
    tool id is taken while a scope is open, and given back, with its events
    and callbacks cleared, when the last one ends.
    """

    cheap = True
    # Tool ids PEP 669 leaves unnamed (0, 1, 2 and 5 are the debugger's,
    # coverage's, the profiler's and the optimizer's).
    TOOL_IDS = (4, 3)
    NAME = "skmemmap copy signal"

    def __init__(self):
        self.tool = None
        self.codes = {}  # code object -> number of watched scopes running it

    def claim(self):
        """Whether a tool id is ours (taking a free one if needed)."""
        if self.tool is not None or sys.version_info < (3, 12):
            return self.tool is not None
        monitoring = sys.monitoring
        for tool in self.TOOL_IDS:
            try:
                monitoring.use_tool_id(tool, self.NAME)
            except ValueError:  # in use by another tool
                continue
            events = monitoring.events
            monitoring.register_callback(tool, events.PY_RETURN, self._returned)
            monitoring.register_callback(tool, events.PY_YIELD, self._returned)
            monitoring.register_callback(tool, events.PY_UNWIND, self._unwound)
            monitoring.set_events(tool, events.PY_UNWIND)
            self.tool = tool
            return True
        return False

    def mark(self, scope, entry):
        pass

    def owns(self, scope, frame):
        return scope.traced  # watched from the start, ended when it ends

    def watch(self, scope, entry):
        events = sys.monitoring.events
        STATE.watched[scope.entry_id] = scope
        count = self.codes.get(scope.code, 0)
        if count == 0:
            sys.monitoring.set_local_events(
                self.tool, scope.code, events.PY_RETURN | events.PY_YIELD
            )
        self.codes[scope.code] = count + 1
        scope.traced = True

    def unwatch(self, scope):
        if not scope.traced:
            return
        scope.traced = False
        STATE.watched.pop(scope.entry_id, None)
        count = self.codes.pop(scope.code) - 1
        if count:
            self.codes[scope.code] = count
        else:
            sys.monitoring.set_local_events(self.tool, scope.code, 0)
        if not self.codes:
            self._give_back()

    def _give_back(self):
        monitoring, tool = sys.monitoring, self.tool
        self.tool = None
        monitoring.set_events(tool, 0)
        for event in ("PY_RETURN", "PY_YIELD", "PY_UNWIND"):
            monitoring.register_callback(tool, getattr(monitoring.events, event), None)
        monitoring.free_tool_id(tool)

    def _returned(self, code, offset, value):
        scope = STATE.watched.get(id(sys._getframe(1)))
        if scope is not None and scope.code is code:
            end_call(scope)

    def _unwound(self, code, offset, exception):
        scope = STATE.watched.get(id(sys._getframe(1)))
        if scope is not None and scope.code is code:
            end_call(scope, unwinding=True)


_TRACER = _TraceHook()
_MONITOR = _MonitorHook()


def _chained_global(prev):
    # The global trace function is called for every new frame ("call" events
    # only) and returns its local trace function: None, no tracing there.
    # getattr(frame, "call", None) is that function in C: frames have no
    # attribute "call", so it returns its default, the event's arg, None.
    # It spares a Python call per frame. What tracing mode itself costs
    # CPython 3.11 (benchmarks/signal_overhead.py) is why a call is traced
    # only once it has a copy to report or dispatches to workers.
    return getattr if prev is None else prev


def end_call(scope, unwinding=False):
    """Close ``scope``: one warning per cause of its call, at the user's line.

    ``unwinding``: the call raised. Its copies are still warned about, but a
    warning filter that turns one into an error does not replace the
    exception the call raised.
    """
    ident = threading.get_ident()
    with STATE.lock:
        scopes = STATE.scopes.get(ident, [])
        if scope not in scopes:
            return
        scopes.remove(scope)
        scope.hook.unwatch(scope)
        # Unwatched scopes of calls that ended with this one end too.
        _drop_ended(scopes, _frames_by_id(sys._getframe(1)))
        if not any(s.traced and s.hook is _TRACER for s in scopes):
            _TRACER.release(ident)
        if not scopes:
            STATE.scopes.pop(ident, None)
    events = list(scope.local) + collect_logged(scope.start)
    for group in group_events(events):
        if unwinding:
            with contextlib.suppress(Warning):
                _warn_group(group, scope)
        else:
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


def read_before_release(folder, family):
    """Read a family's copy log into every open call and report, before the
    log goes with the family's files.

    Called by :mod:`skmemmap._mapped` when the root file of ``family`` is
    released, which can happen inside a call or a report: in
    ``search.fit(skmemmap.memmap(X), y)`` the array lives only as long as
    the call. Runs in a garbage collector's finalizer: takes no lock but
    ``STATE.lock`` (reentrant), raises nothing.
    """
    with STATE.lock:
        holders = [(s.start, s.local) for ss in STATE.scopes.values() for s in ss]
        holders += [(r._start, r._local) for r in STATE.reports]
    if not holders:
        return
    log = log_path(folder, family)
    for start, events in holders:
        logged, _ = read_events(log, start.get(log, 0))
        events.extend(logged)  # one call: atomic for the report's readers
        start[log] = 0  # a log of that name made later is a new one


_mapped.RELEASE_HOOKS.append(read_before_release)


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
