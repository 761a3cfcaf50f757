"""skmemmap: scikit-learn on big arrays without hidden copies.

X lives once in a file (:class:`MemmapArray`); cross-validation folds stay
views of that file in every worker process.
"""

from skmemmap._array import MemmapArray, is_memmap_view
from skmemmap._audit import AuditResult, audit
from skmemmap._chunked import ChunkedArray
from skmemmap._config import config_context, get_config, set_config
from skmemmap._construct import load, memmap
from skmemmap._distribute import distribute
from skmemmap._estimator import MemmapEstimator
from skmemmap._forecast import Forecast, forecast
from skmemmap._layout import Layout, layout_for, own_copies, register_layout
from skmemmap._monitor import MemoryMonitor
from skmemmap._shuffle import shuffle
from skmemmap._signal import CopyReport, copy_report
from skmemmap._split import ContiguousKFold
from skmemmap._streaming import StreamingEstimator
from skmemmap.exceptions import (
    CopyError,
    CopyWarning,
    FileMismatchError,
    LayoutWarning,
    MemoryBudgetError,
    NotEnoughDiskSpaceError,
    TemporaryFileWarning,
)

__version__ = "0.1.0.dev0"

__all__ = [
    "AuditResult",
    "ChunkedArray",
    "ContiguousKFold",
    "CopyError",
    "CopyReport",
    "CopyWarning",
    "FileMismatchError",
    "Forecast",
    "Layout",
    "LayoutWarning",
    "MemmapArray",
    "MemmapEstimator",
    "MemoryBudgetError",
    "MemoryMonitor",
    "NotEnoughDiskSpaceError",
    "StreamingEstimator",
    "TemporaryFileWarning",
    "__version__",
    "audit",
    "config_context",
    "copy_report",
    "distribute",
    "forecast",
    "get_config",
    "is_memmap_view",
    "layout_for",
    "load",
    "memmap",
    "own_copies",
    "register_layout",
    "set_config",
    "shuffle",
]
