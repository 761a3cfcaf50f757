"""Global settings, in the style of :func:`sklearn.set_config`.

The settings that matter in worker processes (``gather_nbytes``) travel with
every pickled :class:`~skmemmap.MemmapArray`, so a value set in the parent
process applies to the folds sliced inside loky or dask workers too.

Unlike scikit-learn's, these settings are process-wide, not per thread:
joblib pickles tasks in a background thread (loky's queue feeder), which must
see the value the user set in the main thread.
"""

import contextlib
import threading

from skmemmap._utils import parse_nbytes

# 1 MB: below this an in-memory copy of a non-contiguous selection costs less
# than creating, writing and mapping a file (about a millisecond of syscalls).
_DEFAULT_GATHER_NBYTES = 2**20

# 1 MB: a copy smaller than this is recorded (skmemmap.copy_report shows it)
# but not warned about. Copies that small never decide whether a fit fits in
# memory, and warning about them (X[[3, 1]] on a small X) teaches people to
# silence the warnings that matter (scikit-learn removed its warn_on_dtype
# for that reason, scikit-learn#13306).
_DEFAULT_WARN_NBYTES = 2**20

_global_config = {
    "gather_nbytes": _DEFAULT_GATHER_NBYTES,
    "warn_nbytes": _DEFAULT_WARN_NBYTES,
}
_lock = threading.Lock()


def get_config():
    """Return the current skmemmap settings as a dict.

    Returns
    -------
    config : dict
        ``gather_nbytes``: non-contiguous row selections of a
        :class:`~skmemmap.MemmapArray` larger than this many bytes are
        gathered into a file that every process reuses; smaller ones are
        copied in memory.
        ``warn_nbytes``: a cause whose copies in one call add up to fewer
        bytes than this is recorded (see :func:`skmemmap.copy_report`) but
        not warned about.

    See Also
    --------
    set_config
        Set skmemmap's settings for the whole process.
    config_context
        Set them within a ``with`` block.

    Examples
    --------
    >>> import skmemmap
    >>> skmemmap.get_config()["gather_nbytes"]
    1048576
    """
    with _lock:
        return _global_config.copy()


def set_config(gather_nbytes=None, warn_nbytes=None):
    """Set skmemmap settings (for the whole process).

    Parameters
    ----------
    gather_nbytes : int or str, default=None
        Threshold above which non-contiguous row selections are gathered into
        a reusable file, e.g. ``"1M"`` or ``10_000_000``. ``None`` leaves the
        setting unchanged.
    warn_nbytes : int or str, default=None
        Threshold below which the copies of one cause in one call are not
        warned about (they are still recorded), e.g. ``"1M"``; ``0`` warns
        about every copy. ``None`` leaves the setting unchanged.

    See Also
    --------
    get_config
        The current settings.
    config_context
        Set them within a ``with`` block.

    Examples
    --------
    >>> import skmemmap
    >>> skmemmap.set_config(gather_nbytes="4M")
    >>> skmemmap.get_config()["gather_nbytes"]
    4194304
    >>> skmemmap.set_config(gather_nbytes="1M")
    """
    for name, value in (("gather_nbytes", gather_nbytes), ("warn_nbytes", warn_nbytes)):
        if value is not None:
            nbytes = parse_nbytes(value, name)
            with _lock:
                _global_config[name] = nbytes


@contextlib.contextmanager
def config_context(*, gather_nbytes=None, warn_nbytes=None):
    """Temporarily change skmemmap settings (see :func:`set_config`).

    Parameters
    ----------
    gather_nbytes, warn_nbytes : int or str, default=None
        See :func:`set_config`.

    See Also
    --------
    get_config
        The current settings.
    set_config
        Set them for the whole process.

    Examples
    --------
    >>> import skmemmap
    >>> with skmemmap.config_context(gather_nbytes=0):
    ...     skmemmap.get_config()["gather_nbytes"]
    0
    """
    old = get_config()
    set_config(gather_nbytes=gather_nbytes, warn_nbytes=warn_nbytes)
    try:
        yield
    finally:
        with _lock:
            _global_config.update(old)
