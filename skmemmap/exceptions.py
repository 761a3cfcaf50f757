"""Warning and error classes raised by skmemmap.

Every error subclasses the builtin exception it refines, so existing
``except OSError`` or ``except ValueError`` clauses keep working.
"""

from sklearn.exceptions import EfficiencyWarning

__all__ = [
    "CopyError",
    "CopyWarning",
    "FileMismatchError",
    "LayoutWarning",
    "NotEnoughDiskSpaceError",
]


class CopyWarning(EfficiencyWarning):
    """A copy of (part of) X was made, or is known to be made by an estimator.

    The message says what was copied, how many MB, why, and how to avoid it.
    Silence it with ``warnings.filterwarnings("ignore", category=CopyWarning)``
    or turn it into an error with ``warnings.simplefilter("error", CopyWarning)``.
    """


class CopyError(RuntimeError):
    """A copy was about to be made while ``on_copy="raise"`` forbids copies."""


class LayoutWarning(UserWarning):
    """skmemmap does not know which memory layout an estimator reads without a copy.

    X is then passed in the layout it already has. Register the class with
    :func:`skmemmap.register_layout` to silence it.
    """


class NotEnoughDiskSpaceError(OSError):
    """The folder has too little free space to write a file."""


class FileMismatchError(ValueError):
    """A mapped file no longer matches the dtype, shape or size recorded for it."""
