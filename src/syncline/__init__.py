"""syncline: keep directory trees in sync.

The public API is this module's ``__all__``; everything else is private and may change.
"""

from .api import diff, load_index, scan, sync
from .core.diff import Change, DiffResult
from .core.entry import Compare, CompareMode, Entry
from .core.errors import BusyError, IndexFormatError, Problem, SafetyStop, SynclineError, UsageError
from .core.index import Index, IndexHeader
from .core.plan import Action, Plan
from .engine.report import Report
from .version import __version__

__all__ = [
    "Action",
    "BusyError",
    "Change",
    "Compare",
    "CompareMode",
    "DiffResult",
    "Entry",
    "Index",
    "IndexFormatError",
    "IndexHeader",
    "Plan",
    "Problem",
    "Report",
    "SafetyStop",
    "SynclineError",
    "UsageError",
    "__version__",
    "diff",
    "load_index",
    "scan",
    "sync",
]
