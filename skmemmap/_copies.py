"""One place that reports copies: formats the CopyWarning message and emits it."""

import os
import sys
import warnings

from skmemmap._utils import format_mb
from skmemmap.exceptions import CopyError, CopyWarning

_SILENCE = (
    "Silence this warning with warnings.filterwarnings('ignore', "
    "category=skmemmap.CopyWarning)."
)


def copy_message(what, nbytes, cause, remedy):
    """The text of every copy warning: what, size, why, remedy, how to silence."""
    return f"{what} ({format_mb(nbytes)}): {cause}. {remedy}. {_SILENCE}"


_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))


def _external_stacklevel():
    """Stack level of the first caller outside skmemmap (the user's line, or
    scikit-learn's), so a warning points where the copy was asked for."""
    frame, level = sys._getframe(2), 2
    while (
        frame is not None
        and os.path.dirname(os.path.abspath(frame.f_code.co_filename)) == _PACKAGE_DIR
    ):
        frame, level = frame.f_back, level + 1
    return level


def report_copy(what, nbytes, cause, remedy, *, on_copy="warn"):
    """Warn (or raise, or stay silent, per ``on_copy``) about a copy of ``nbytes``."""
    if on_copy == "ignore":
        return
    message = copy_message(what, nbytes, cause, remedy)
    if on_copy == "raise":
        raise CopyError(message)
    warnings.warn(message, CopyWarning, stacklevel=_external_stacklevel())
