"""Real-time mirroring: changes seen by a change source (inotify, or polling) pushed to
targets folder by folder, told as typed events."""

from .events import Event, EventLog
from .service import Mirror, WatchOptions

__all__ = ["Event", "EventLog", "Mirror", "WatchOptions"]
