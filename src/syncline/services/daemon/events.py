"""What the daemon tells: typed events on the watch's :class:`~syncline.services.watch.events.EventLog`.

A folder's events carry its local path as ``source`` (as a watched source's do), so a folder's loop, the
inotify source it reuses and the status (``status.py``) all speak of it the same way. The status file is
folded from these events alone.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from ..watch.events import Event


@dataclass(frozen=True)
class ConfigLoaded(Event):
    """The config file was read: the daemon now runs ``folders`` folders. ``sha``: the SHA-256 of the
    bytes read (the settings page waits for the version it saved; not shown in the log)."""

    kind: ClassVar[str] = "config-loaded"
    wording: ClassVar[str] = "config loaded"
    shown: ClassVar[tuple[str, ...] | None] = ("path", "folders")
    path: str
    folders: int
    sha: str = ""


@dataclass(frozen=True)
class ConfigRefused(Event):
    """An edit of the config file cannot be used: the folders go on as they were. ``sha``: as
    :class:`ConfigLoaded`'s ("" when the file could not be read)."""

    kind: ClassVar[str] = "config-refused"
    wording: ClassVar[str] = "config not used, folders unchanged"
    trouble: ClassVar[bool] = True
    shown: ClassVar[tuple[str, ...] | None] = ("path", "why")
    path: str
    why: str
    sha: str = ""


@dataclass(frozen=True)
class FolderStarted(Event):
    """A folder's loop started, bound to ``remote``."""

    kind: ClassVar[str] = "folder-started"
    remote: str
    paused: bool = False


@dataclass(frozen=True)
class FolderEnded(Event):
    """A folder's loop ended (removed from the config, changed, or the daemon stops)."""

    kind: ClassVar[str] = "folder-ended"


@dataclass(frozen=True)
class FolderSyncing(Event):
    """A run is under way: ``files`` and ``bytes`` are still to copy, done in about ``eta_s`` seconds
    (None: not known yet), out of ``files_total`` and ``bytes_total`` the run copies (0: not known yet).
    ``full``: a full run rather than the changed folders only."""

    kind: ClassVar[str] = "folder-syncing"
    state: ClassVar[bool] = True  # as often as a run's progress moves: for the status, not for logs
    full: bool
    files: int = 0
    bytes: int = 0
    eta_s: float | None = None
    files_total: int = 0
    bytes_total: int = 0


@dataclass(frozen=True)
class FolderSynced(Event):
    """A run ended with both sides equal (but for ``errors`` items, retried next time)."""

    kind: ClassVar[str] = "folder-synced"
    shown: ClassVar[tuple[str, ...]] = ("copied", "conflicts", "errors", "seconds")
    full: bool
    copied: int
    conflicts: int
    errors: int
    seconds: float
    # A partial run's ground: (folder, deep, the children it looked at: None for all), so that an item it
    # covered and did not fail again leaves the list of items not synced. Empty for a full run.
    scope: tuple[tuple[str, bool, tuple[str, ...] | None], ...] = ()
    # The first of the run's changes (``runner.changes_of``: where, what, path), for a status page; not logged.
    changes: tuple[tuple[str, str, str], ...] = ()

    def covers(self, path: str) -> bool:
        """Whether this run looked at ``path`` (every path for a full run)."""
        if self.full:
            return True
        up, _, name = path.rpartition("/")
        for folder, deep, children in self.scope:
            if path == folder or (deep and (not folder or path.startswith(folder + "/"))):
                return True
            if up == folder and (children is None or name in children):
                return True
        return False


@dataclass(frozen=True)
class FolderItemFailed(Event):
    """One item of a run failed (``why``); ``retried``: the reason may pass, and the loop runs over it again
    after a back-off, else it waits for the next change of the item (or the periodic check)."""

    kind: ClassVar[str] = "folder-item-failed"
    wording: ClassVar[str] = "item not synced"
    trouble: ClassVar[bool] = True
    path: str
    why: str
    retried: bool


@dataclass(frozen=True)
class FolderOffline(Event):
    """A run could not reach a side (a server down, a disk busy): tried again in ``retry_in`` seconds."""

    kind: ClassVar[str] = "folder-offline"
    trouble: ClassVar[bool] = True
    why: str
    retry_in: float


@dataclass(frozen=True)
class FolderStopped(Event):
    """A safety check stopped the folder (``why``): nothing more is done for it until the config changes
    or ``syncline folder resume``."""

    kind: ClassVar[str] = "folder-stopped"
    wording: ClassVar[str] = "folder stopped by a safety check"
    trouble: ClassVar[bool] = True
    why: str


@dataclass(frozen=True)
class FolderResumed(Event):
    """A stopped folder was told to go on (``syncline folder resume``)."""

    kind: ClassVar[str] = "folder-resumed"


@dataclass(frozen=True)
class UiStarted(Event):
    """The daemon's page is served on 127.0.0.1:``port`` (``syncline ui`` opens it, logged in)."""

    kind: ClassVar[str] = "ui-started"
    wording: ClassVar[str] = "settings page on http://127.0.0.1:{port}/ (`syncline ui` opens it)"
    shown: ClassVar[tuple[str, ...]] = ()
    port: int


@dataclass(frozen=True)
class UiFailed(Event):
    """The daemon's page cannot be served (``why``); the folders sync all the same."""

    kind: ClassVar[str] = "ui-failed"
    wording: ClassVar[str] = "the settings page cannot be served: {why}"
    trouble: ClassVar[bool] = True
    shown: ClassVar[tuple[str, ...]] = ()
    why: str
