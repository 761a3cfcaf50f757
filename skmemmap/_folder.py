"""Where skmemmap keeps its files, and how it writes them safely.

Each process that creates files gets one private folder (mode 0700) named
``skmemmap-<pid>-<random>`` under the base folder (``folder=``, else
``$SKMEMMAP_FOLDER``, else the system temporary directory). The process holds
an exclusive ``flock`` on the folder's ``.owner`` file for as long as it lives;
the kernel drops that lock when the process dies, even by SIGKILL, so the next
process that starts can tell an orphaned folder from a live one and remove it.
The folders are removed at exit, and on SIGTERM or SIGINT (see
:mod:`skmemmap._shutdown`, installed with the first folder).

Files are written under an unpredictable temporary name (``mkstemp``, 0600)
and published by an atomic rename, so no reader ever maps a partial file, and
published files are never written again.
"""

import atexit
import contextlib
import errno
import fcntl
import os
import resource
import shutil
import stat
import tempfile
import time
import weakref
from pathlib import Path

from skmemmap import _shutdown
from skmemmap._utils import format_mb
from skmemmap.exceptions import NotEnoughDiskSpaceError

__all__ = ["ENV_VAR", "base_folder", "session_folder"]

ENV_VAR = "SKMEMMAP_FOLDER"
_PREFIX = "skmemmap-"
_INIT_PREFIX = ".skmemmap-init-"
_OWNER = ".owner"
# A folder still being initialised has no locked owner file for a few
# microseconds; one that stays in that state this long belongs to a process
# that died between mkdtemp and rename.
_INIT_GRACE_SECONDS = 60
# Errors that mean "the disk (or quota, or file-size limit) is full".
_FULL_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG}

_sessions = {}


def base_folder(folder=None):
    """Return the resolved base folder, checking it exists and is writable."""
    if folder is None:
        folder = os.environ.get(ENV_VAR) or tempfile.gettempdir()
    path = Path(folder).expanduser()
    if not path.is_dir():
        raise FileNotFoundError(
            errno.ENOENT,
            f"The skmemmap folder {str(path)!r} does not exist. Create it, or pass "
            f"an existing directory as folder= or in ${ENV_VAR}",
            str(path),
        )
    if not os.access(path, os.W_OK | os.X_OK):
        raise PermissionError(
            errno.EACCES,
            f"The skmemmap folder {str(path)!r} is not writable. Pass a writable "
            f"directory as folder= or in ${ENV_VAR}",
            str(path),
        )
    return path.resolve()


class _SessionFolder:
    """The private folder of this process under one base folder."""

    def __init__(self, base):
        sweep(base)
        tmp = tempfile.mkdtemp(prefix=_INIT_PREFIX, dir=base)
        fd = os.open(
            os.path.join(tmp, _OWNER), os.O_CREAT | os.O_RDWR | os.O_CLOEXEC, 0o600
        )
        fcntl.flock(fd, fcntl.LOCK_EX)
        os.write(fd, f"{os.getpid()}\n".encode())
        final = os.path.join(
            base, f"{_PREFIX}{os.getpid()}-{os.path.basename(tmp)[len(_INIT_PREFIX) :]}"
        )
        os.rename(tmp, final)
        self.path = Path(final)
        self.pid = os.getpid()
        self._finalizer = weakref.finalize(self, _remove_session, final, fd, self.pid)

    def remove(self):
        self._finalizer()


def _remove_session(path, fd, pid):
    # A process forked from the owner inherits this finalizer: only the owner
    # removes its folder.
    if os.getpid() != pid:
        return
    shutil.rmtree(path, ignore_errors=True)
    with contextlib.suppress(OSError):
        os.close(fd)


def session_folder(folder=None):
    """Return this process's private folder under ``folder`` (created on demand)."""
    base = base_folder(folder)
    # Before the folder exists, so that no signal finds it without a cleanup;
    # on every call, since a first call from another thread could not install.
    _shutdown.install(remove_sessions)
    session = _sessions.get(base)
    if session is None or not session.path.is_dir():
        session = _sessions[base] = _SessionFolder(base)
    return session.path


def _forget_sessions_after_fork():
    # A forked child must not reuse (nor later delete) its parent's folders.
    _sessions.clear()


os.register_at_fork(after_in_child=_forget_sessions_after_fork)


@atexit.register
def remove_sessions():
    """Remove this process's folders, and the orphans beside them.

    The orphans include the folders of this process's workers once they have
    ended (a worker that mapped an array of its own), as at a signal.
    """
    for base, session in list(_sessions.items()):
        session.remove()
        sweep(base)


def sweep(base):
    """Remove the folders under ``base`` whose owner process has died.

    Returns the list of removed paths.
    """
    removed = []
    try:
        entries = list(os.scandir(base))
    except OSError:
        return removed
    uid = os.getuid()
    for entry in entries:
        is_init = entry.name.startswith(_INIT_PREFIX)
        if not (entry.name.startswith(_PREFIX) or is_init):
            continue
        try:
            st = entry.stat(follow_symlinks=False)
        except OSError:
            continue
        if not entry.is_dir(follow_symlinks=False) or st.st_uid != uid:
            continue
        try:
            fd = os.open(
                os.path.join(entry.path, _OWNER),
                os.O_RDWR | os.O_CLOEXEC | os.O_NOFOLLOW,
            )
        except FileNotFoundError:
            if is_init and time.time() - st.st_mtime > _INIT_GRACE_SECONDS:
                shutil.rmtree(entry.path, ignore_errors=True)
                removed.append(entry.path)
            continue
        except OSError:
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            pass  # its owner is alive
        else:
            shutil.rmtree(entry.path, ignore_errors=True)
            removed.append(entry.path)
        finally:
            os.close(fd)
    return removed


def check_free_space(folder, nbytes):
    """Raise NotEnoughDiskSpaceError if ``folder`` has less than ``nbytes`` free."""
    free = shutil.disk_usage(folder).free
    if free < nbytes:
        raise _disk_full_error(folder, nbytes, free)


def _disk_full_error(folder, nbytes, free=None, cause=None):
    if cause is not None and cause.errno == errno.EFBIG:
        # EFBIG is the per-process file-size limit, not the disk: reporting the
        # disk's free bytes would send the user looking for space they have.
        limit = resource.getrlimit(resource.RLIMIT_FSIZE)[0]
        limit = "unlimited" if limit == resource.RLIM_INFINITY else f"{limit} bytes"
        return NotEnoughDiskSpaceError(
            errno.EFBIG,
            f"Cannot write {format_mb(nbytes)} in {str(folder)!r}: the file-size "
            f"limit of this process (RLIMIT_FSIZE, `ulimit -f`: {limit}) was hit "
            f"({nbytes} bytes needed). Raise the limit (`ulimit -f unlimited`), or "
            f"map a smaller X",
            str(folder),
        )
    if free is None:
        free = shutil.disk_usage(folder).free
    return NotEnoughDiskSpaceError(
        errno.ENOSPC,
        f"Not enough free space in {str(folder)!r} to write {format_mb(nbytes)} "
        f"({nbytes} bytes needed, {free} bytes free). Free some space, or point "
        f"folder= or ${ENV_VAR} to a larger disk",
        str(folder),
    )


@contextlib.contextmanager
def atomic_write(final_path, nbytes):
    """Yield a binary file under a temporary name; publish it as ``final_path``.

    ``nbytes`` is the size the file will have: it is checked against the free
    space and reserved up front where the filesystem supports it. On any
    error the temporary file is removed and nothing is published.
    """
    folder = os.path.dirname(final_path)
    check_free_space(folder, nbytes)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".tmp-", suffix=".npy")
    try:
        with os.fdopen(fd, "wb") as f:
            try:
                _reserve(f.fileno(), nbytes)
                yield f
                f.flush()
            except OSError as exc:
                if exc.errno in _FULL_ERRNOS:
                    raise _disk_full_error(folder, nbytes, cause=exc) from exc
                raise
        os.replace(tmp, final_path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _reserve(fd, nbytes):
    # posix_fallocate turns "disk full" into an immediate error instead of a
    # failure half-way through the write; filesystems without it just skip it.
    if nbytes and hasattr(os, "posix_fallocate"):
        try:
            os.posix_fallocate(fd, 0, nbytes)
        except OSError as exc:
            if exc.errno in _FULL_ERRNOS:
                raise
        # fallocate extends the file; writing starts again at offset 0.


@contextlib.contextmanager
def file_lock(path):
    """Hold an exclusive lock on ``path + '.lock'`` (blocking)."""
    lock = f"{path}.lock"
    flags = os.O_CREAT | os.O_RDWR | os.O_CLOEXEC | os.O_NOFOLLOW
    try:
        fd = os.open(lock, flags, 0o600)
    except OSError as exc:
        # O_NOFOLLOW: a symlink planted at the lock's name (only possible for
        # our own user: the folder is 0700) is removed, never followed into
        # creating or locking its target.
        if exc.errno != errno.ELOOP:
            raise
        os.unlink(lock)
        fd = os.open(lock, flags, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def create_once(final_path, nbytes, write):
    """Create ``final_path`` with ``write(f)`` unless it exists; safe across processes.

    One process writes; the others wait on the lock and then reuse the file.
    Only a regular file is reused: anything else at that name (a symlink
    planted where a sibling or gather is expected) is replaced by the atomic
    rename, which never follows a symlink, so its target is neither read nor
    written. Returns True if this call wrote the file.
    """
    if _is_regular_file(final_path):
        return False
    with file_lock(final_path):
        if _is_regular_file(final_path):
            return False
        try:
            with atomic_write(final_path, nbytes) as f:
                write(f)
        except BaseException:
            # Nothing was published: leave no lock file behind either. A
            # process already waiting on this lock still takes it and writes
            # the file itself; publication by rename stays atomic.
            with contextlib.suppress(OSError):
                os.unlink(f"{final_path}.lock")
            raise
    return True


def _is_regular_file(path):
    """Whether ``path`` itself (not a symlink's target) is a regular file."""
    try:
        return stat.S_ISREG(os.lstat(path).st_mode)
    except FileNotFoundError:
        return False
