"""The copy signal: one event type, one state, one way to warn.

* :mod:`.events`: :class:`CopyEvent`, and the text of every copy warning;
* :mod:`.log`: events that worker processes append to a file the parent reads;
* :mod:`.calls`: one warning per cause per user-level call, at the user's
  line (:func:`emit` is the one entry point the rest of skmemmap reports to);
* :mod:`.report`: :func:`copy_report`, every copy made during a block.
"""

from skmemmap._signal.calls import (
    STATE,
    begin_call,
    channel_folder,
    cv_fold_inputs,
    dispatching,
    emit,
    in_cv_fold,
    is_worker,
    reset,
    set_parent_channel,
    sklearn_frame,
    warn_at_user,
)
from skmemmap._signal.events import COPY, LAYOUT, NOTICE, CopyEvent
from skmemmap._signal.report import CopyReport, copy_report

__all__ = [
    "COPY",
    "LAYOUT",
    "NOTICE",
    "STATE",
    "CopyEvent",
    "CopyReport",
    "begin_call",
    "channel_folder",
    "copy_report",
    "cv_fold_inputs",
    "dispatching",
    "emit",
    "in_cv_fold",
    "is_worker",
    "reset",
    "set_parent_channel",
    "sklearn_frame",
    "warn_at_user",
]
