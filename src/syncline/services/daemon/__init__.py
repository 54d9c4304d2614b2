"""``syncline daemon``: a device's folders kept in sync with their other sides (a server's folders), one
loop per folder, reloading its config as it changes, its status in a file. See ``docs/design.md``, "The
daemon"."""

from .feed import Change, ChangeBatch, FeedSource
from .loop import FolderLoop, Timing
from .requests import request_restart, request_resume, request_run
from .status import is_running, read_status
from .supervisor import Daemon

__all__ = ["Change", "ChangeBatch", "Daemon", "FeedSource", "FolderLoop", "Timing", "is_running", "read_status",
           "request_restart", "request_resume", "request_run"]
