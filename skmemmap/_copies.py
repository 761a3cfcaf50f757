"""One place that reports copies: formats the CopyWarning message and emits it."""

import warnings

from skmemmap._utils import format_mb
from skmemmap.exceptions import CopyError, CopyWarning

_SILENCE = (
    "Silence this warning with warnings.filterwarnings('ignore', "
    "category=skmemmap.CopyWarning)."
)


def copy_message(what, nbytes, cause, remedy):
    """The text of every copy warning: what, how big, why, what to do, how to silence."""
    return f"{what} ({format_mb(nbytes)}): {cause}. {remedy}. {_SILENCE}"


def report_copy(what, nbytes, cause, remedy, *, on_copy="warn", stacklevel=2):
    """Warn (or raise, or stay silent, per ``on_copy``) about a copy of ``nbytes``."""
    if on_copy == "ignore":
        return
    message = copy_message(what, nbytes, cause, remedy)
    if on_copy == "raise":
        raise CopyError(message)
    warnings.warn(message, CopyWarning, stacklevel=stacklevel + 1)
