"""syncline: keep directory trees in sync.

The public API is this module's ``__all__``; everything else is private and may change. Names are
imported on first use, so ``import syncline`` and the command line start fast.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from .version import __version__

if TYPE_CHECKING:
    from .api import (
        apply,
        archive,
        diff,
        index,
        load_index,
        log,
        save_index,
        scan,
        snapshot,
        sync,
        sync_since,
        sync_two_way_replicas,
        watch,
    )
    from .core.diff import Change, DiffResult
    from .core.entry import Compare, CompareMode, Entry
    from .core.errors import (
        ArchiveFormatError,
        BusyError,
        IndexFormatError,
        Problem,
        SafetyStop,
        StateError,
        SynclineError,
        UsageError,
    )
    from .core.index import Index, IndexHeader
    from .core.plan import Action, Plan
    from .engine.offline.apply import ApplyReport
    from .engine.offline.archiving import ArchiveResult
    from .engine.report import Report
    from .engine.timeline import Snapshot
    from .engine.twoway.run import TwoWayReport

_WHERE = {
    "Action": ".core.plan",
    "ApplyReport": ".engine.offline.apply",
    "ArchiveFormatError": ".core.errors",
    "ArchiveResult": ".engine.offline.archiving",
    "BusyError": ".core.errors",
    "Change": ".core.diff",
    "Compare": ".core.entry",
    "CompareMode": ".core.entry",
    "DiffResult": ".core.diff",
    "Entry": ".core.entry",
    "Index": ".core.index",
    "IndexFormatError": ".core.errors",
    "IndexHeader": ".core.index",
    "Plan": ".core.plan",
    "Problem": ".core.errors",
    "Report": ".engine.report",
    "SafetyStop": ".core.errors",
    "Snapshot": ".engine.timeline",
    "StateError": ".core.errors",
    "SynclineError": ".core.errors",
    "TwoWayReport": ".engine.twoway.run",
    "UsageError": ".core.errors",
    "apply": ".api",
    "archive": ".api",
    "diff": ".api",
    "index": ".api",
    "load_index": ".api",
    "save_index": ".api",
    "log": ".api",
    "scan": ".api",
    "snapshot": ".api",
    "sync": ".api",
    "sync_since": ".api",
    "sync_two_way_replicas": ".api",
    "watch": ".api",
}

__all__ = [
    "Action",
    "ApplyReport",
    "ArchiveFormatError",
    "ArchiveResult",
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
    "Snapshot",
    "StateError",
    "SynclineError",
    "TwoWayReport",
    "UsageError",
    "__version__",
    "apply",
    "archive",
    "diff",
    "index",
    "load_index",
    "log",
    "save_index",
    "scan",
    "snapshot",
    "sync",
    "sync_since",
    "sync_two_way_replicas",
    "watch",
]


def __getattr__(name: str) -> Any:
    where = _WHERE.get(name)
    if where is None:
        raise AttributeError(f"module 'syncline' has no attribute {name!r}")
    value = getattr(importlib.import_module(where, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
