"""The watch's typed events and the status folded from them: the one public place to import them.

``syncline.watch(..., on_event=fn)`` hands ``fn`` each event as one of these types (``Mirror`` publishes
them on an :class:`EventLog`). Every event has a ``kind``, a ``seq`` (1, 2, ...: increasing within the
process; 0 for a state event), a ``time``, the ``source`` and its own fields; ``message`` and
``details()`` are the wording and keys ``syncline watch --json`` prints, and ``trouble`` marks what needs
a person. :class:`SourceState` is a state event (``Event.state``): what the source has in hand, published
when it changes, never logged. A :class:`WatchStatus` passed as ``on_event`` keeps a live status of the
watch (``docs/cli.md``, "The watch's events", lists every kind).
"""

from .services.watch.events import (
    Event,
    EventLog,
    EventsLost,
    FullSynced,
    ItemFailed,
    MirrorFailed,
    Resuming,
    Rewatched,
    SourceGone,
    SourceReplaced,
    SourceState,
    Stopped,
    Synced,
    TargetBack,
    TargetRefused,
    TargetUnavailable,
    WatchesComplete,
    WatchesShort,
    Watching,
    WatchRefused,
)
from .services.watch.status import SourceStatus, TargetStatus, WatchStatus

__all__ = [
    "Event",
    "EventLog",
    "EventsLost",
    "FullSynced",
    "ItemFailed",
    "MirrorFailed",
    "Resuming",
    "Rewatched",
    "SourceGone",
    "SourceReplaced",
    "SourceState",
    "SourceStatus",
    "Stopped",
    "Synced",
    "TargetBack",
    "TargetRefused",
    "TargetStatus",
    "TargetUnavailable",
    "WatchRefused",
    "WatchStatus",
    "WatchesComplete",
    "WatchesShort",
    "Watching",
]
