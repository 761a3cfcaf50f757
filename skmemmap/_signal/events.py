"""The one event type of the copy signal, and the text of its warnings."""

import dataclasses
import os
import time

from skmemmap._utils import format_mb

# Where the longer explanation of every message lives (doc/copy_warnings.rst),
# named the way scikit-learn's ConvergenceWarning names its user guide.
DOCS_PAGE = "'Reading copy warnings' in the skmemmap docs"

# Kinds of event. "copy": skmemmap made, or an estimator makes, a copy of X.
# "layout": a LayoutWarning (what skmemmap could not decide), nothing copied.
# "notice": the splitter's announcement of the copies its folds force; it is
# merged with the copies it announces (see calls.group_events).
COPY, LAYOUT, NOTICE = "copy", "layout", "notice"


@dataclasses.dataclass(frozen=True)
class CopyEvent:
    """One copy of (part of) X, made by skmemmap or known to be made by an estimator.

    Parameters
    ----------
    cause : str
        The copy reason, e.g. ``"gather"``, ``"convert"``, ``"own"``. With
        ``estimator`` and ``family`` it names the cause warnings are grouped by.
    what : str
        What was copied, as the start of a warning's first line.
    nbytes : int
        Bytes copied (for a notice: the bytes it predicts, or 0).
    remedy : str
        The one change that avoids the copy; ``""`` when nothing does.
    why : str
        The longer explanation (the warning's second line, the report's "why").
    avoidable : bool
        Whether the user (or skmemmap) could avoid it: strict mode raises for
        these; the estimator's own copies are not avoidable.
    on_disk : bool
        The copy is a file (gather, sibling) rather than memory.
    estimator, family : str or None
        The estimator class name; the root file's family.
    shape : tuple or None
        The copy's shape.
    kind : {"copy", "layout", "notice"}
        A notice announces copies that are made elsewhere (the splitter's
        folds): the copies whose cause is in ``announces`` and whose family
        is the notice's are one cause with it, described by the notice. A
        notice with ``nbytes`` is a prediction, warned about as one copy when
        no copy it announces is seen.
    quiet : bool
        Recorded, never warned about (strict mode still raises if avoidable):
        a copy made because it saves memory, such as in-memory X written once
        to a file that every worker of a search maps.
    announces : tuple of str
        For a notice: the causes of the copies it announces.
    """

    cause: str
    what: str
    nbytes: int = 0
    remedy: str = ""
    why: str = ""
    avoidable: bool = True
    on_disk: bool = False
    estimator: str | None = None
    family: str | None = None
    shape: tuple | None = None
    kind: str = COPY
    quiet: bool = False
    announces: tuple = ()
    pid: int = dataclasses.field(default_factory=os.getpid)
    time: float = dataclasses.field(default_factory=time.time)

    @property
    def key(self):
        """The cause's stable name, e.g. ``"gather"`` or ``"Ridge/own"``."""
        return f"{self.estimator}/{self.cause}" if self.estimator else self.cause

    def to_dict(self):
        data = dataclasses.asdict(self)
        data["key"] = self.key
        data["shape"] = None if self.shape is None else [int(n) for n in self.shape]
        data["announces"] = list(self.announces)
        return data

    @classmethod
    def from_dict(cls, data):
        names = {f.name for f in dataclasses.fields(cls)}
        fields = {k: v for k, v in data.items() if k in names}
        for name in ("shape", "announces"):
            if fields.get(name) is not None:
                fields[name] = tuple(fields[name])
        return cls(**fields)

    def first_line(self, count=1, nbytes=None, disk_nbytes=None):
        """The first line of a warning about ``count`` such copies, of
        ``nbytes`` in all (``disk_nbytes`` of them files)."""
        nbytes = self.nbytes if nbytes is None else nbytes
        if disk_nbytes is None:
            disk_nbytes = nbytes if self.on_disk else 0
        if self.kind == LAYOUT:
            return f"{self.what}. {self.remedy}." if self.remedy else f"{self.what}."
        all_files = disk_nbytes >= nbytes > 0
        where = " on disk" if all_files else ""
        size = f"{format_mb(nbytes)}{where}"
        if count != 1:
            size = f"{_times(count, all_files)}{where}, {format_mb(nbytes)} in total"
        if 0 < disk_nbytes < nbytes:
            size += f", {format_mb(disk_nbytes)} of it on disk"
        remedy = f" {self.remedy}." if self.remedy else ""
        return f"{self.what} ({size}).{remedy}"

    def message(self, count=1, nbytes=None, disk_nbytes=None):
        """The whole warning text: first line, then why and where to read more."""
        head = self.first_line(count, nbytes, disk_nbytes)
        if self.kind == LAYOUT:
            return head
        why = f"Why: {self.why}. " if self.why else ""
        return f"{head}\n{why}Details: skmemmap.copy_report(), and {DOCS_PAGE}."


def _times(count, on_disk):
    if on_disk:
        return f"{count} file{'s' if count != 1 else ''}"
    return f"{count} cop{'ies' if count != 1 else 'y'}"
