"""The daemon's status: each folder's state folded from the events alone, written to
``STATE/daemon/status.json`` for ``syncline status`` (and, later, the settings UI) to read.

The file is replaced atomically (a temp file beside it, renamed), at most ``WRITES_PER_S`` times a
second, and at least every ``HEARTBEAT`` seconds (its ``heartbeat_ns``), so a reader tells a daemon that
died (its pid is gone, or the heartbeat is older than ``STALE``) from one that is idle. Schema::

    {"pid": 1234, "heartbeat_ns": ..., "config": "/home/me/.config/syncline/daemon.toml",
     "config_error": null,
     "folders": [{"local", "remote", "state", "files", "bytes", "eta_s", "since_ns", "why", "conflicts",
                  "not_synced": [{"path", "why", "retried"}]}]}

``state`` is one of ``starting``, ``paused``, ``syncing`` (``files`` and ``bytes`` still to copy,
``eta_s``), ``in sync``, ``offline`` (``why``), ``stopped`` (a safety check: ``why``); ``since_ns`` is
when the folder entered it; ``conflicts`` counts the conflict copies the daemon made for the folder since
it started. ``not_synced``: the items the runs could not sync and why (over the owner's quota, a name the
disk refuses): kept locally, never lost. An item ``retried`` is run over again after a back-off, so the
next run that ends without it took it; the others stay listed until a full run ends without them.
``config_error``: the last edit of the config that could not be used (the folders run as before it),
else null. ``shares`` (once the server's shares were looked at): ``offers``, other users' folders offered
to this user (``[{"share": "OWNER/FOLDER", "rights"}]``), and ``unbound``, shares accepted but not synced
on this device (``[{"name", "why"}]``).
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
import threading
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from ..watch.events import Event
from .events import (
    ConfigLoaded,
    ConfigRefused,
    FolderEnded,
    FolderItemFailed,
    FolderOffline,
    FolderResumed,
    FolderStarted,
    FolderStopped,
    FolderSynced,
    FolderSyncing,
)
from .sharekeeper import SharesSeen

WRITES_PER_S = 4
HEARTBEAT = 1.0
STALE = 10.0  # seconds without a heartbeat after which a daemon counts as not running


@dataclass(frozen=True)
class FolderStatus:
    """One folder's line of the status file (see the module for the fields)."""

    local: str
    remote: str
    state: str = "starting"
    files: int = 0
    bytes: int = 0
    eta_s: float | None = None
    since_ns: int = 0
    why: str | None = None
    conflicts: int = 0
    not_synced: tuple[NotSynced, ...] = ()


@dataclass(frozen=True)
class NotSynced:
    """An item a run could not sync (``FolderItemFailed``)."""

    path: str
    why: str
    retried: bool


class DaemonStatus:
    """An :class:`~syncline.services.watch.events.EventLog` subscriber that keeps the status; thread-safe.
    ``changed`` is set whenever it changed."""

    def __init__(self, config: str) -> None:
        self.config = config
        self.config_error: str | None = None
        self.folders: dict[str, FolderStatus] = {}
        self.shares: dict[str, Any] | None = None
        self._failed: dict[str, list[NotSynced]] = {}  # a folder -> the items its run under way failed
        self.changed = threading.Event()
        self._lock = threading.Lock()

    def __call__(self, event: Event) -> None:
        with self._lock:
            self._fold(event)
        self.changed.set()

    def _fold(self, event: Event) -> None:
        now = int(event.time * 1e9) or time.time_ns()
        if isinstance(event, ConfigLoaded):
            self.config_error = None
            return
        if isinstance(event, ConfigRefused):
            self.config_error = event.why
            return
        if isinstance(event, SharesSeen):
            self.shares = {"offers": [{"share": share, "rights": rights} for share, rights in event.offers],
                           "unbound": [{"name": name, "why": why} for name, why in event.unbound]}
            return
        if isinstance(event, FolderStarted):
            state = "paused" if event.paused else "starting"
            self.folders[event.source] = FolderStatus(event.source, event.remote, state, since_ns=now)
            return
        old = self.folders.get(event.source)
        if old is None:
            return
        if isinstance(event, FolderEnded):
            del self.folders[event.source]
            self._failed.pop(event.source, None)
            return
        new = old
        if isinstance(event, FolderSyncing):
            new = replace(old, state="syncing", files=event.files, bytes=event.bytes, eta_s=event.eta_s, why=None)
        elif isinstance(event, FolderItemFailed):
            self._failed.setdefault(event.source, []).append(NotSynced(event.path, event.why, event.retried))
        elif isinstance(event, FolderSynced):
            failed = self._failed.pop(event.source, [])
            paths = {f.path for f in failed}
            # A retried item is in the next run's folders: that run says whether it is still not synced. One
            # not retried waits for a change of it or a full run, and stays listed until a run that looked
            # at it ends without it failing again.
            kept = [f for f in old.not_synced if not f.retried and f.path not in paths and not event.covers(f.path)]
            new = replace(old, state="in sync", files=0, bytes=0, eta_s=None, why=None, conflicts=event.conflicts,
                          not_synced=(*failed, *kept))
        elif isinstance(event, FolderOffline):
            self._failed.pop(event.source, None)  # the run failed as a whole: it is run again
            new = replace(old, state="offline", why=event.why)
        elif isinstance(event, FolderStopped):
            new = replace(old, state="stopped", files=0, bytes=0, eta_s=None, why=event.why)
        elif isinstance(event, FolderResumed):
            new = replace(old, state="starting", why=None)
        if new.state != old.state:
            new = replace(new, since_ns=now)
        self.folders[event.source] = new

    def snapshot(self) -> dict[str, Any]:
        """The status file's content (but ``pid`` and ``heartbeat_ns``, which the writer stamps)."""
        with self._lock:
            out: dict[str, Any] = {"config": self.config, "config_error": self.config_error,
                                   "folders": [vars_of(f) for f in sorted(self.folders.values(),
                                                                          key=lambda f: f.local)]}
            if self.shares is not None:
                out["shares"] = self.shares
            return out


def vars_of(folder: FolderStatus) -> dict[str, Any]:
    out = {k: getattr(folder, k) for k in FolderStatus.__dataclass_fields__}
    out["not_synced"] = [{"path": f.path, "why": f.why, "retried": f.retried} for f in folder.not_synced]
    return out


def status_path(state: Path) -> Path:
    return state / "daemon" / "status.json"


class StatusWriter:
    """Writes ``status`` to ``path`` in a thread of its own until :meth:`close`: when it changed (at most
    ``WRITES_PER_S`` a second) and every ``HEARTBEAT`` seconds."""

    def __init__(self, status: DaemonStatus, path: Path) -> None:
        self.status = status
        self.path = path
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="daemon status", daemon=True)

    def start(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.write()
        self._thread.start()

    def close(self) -> None:
        self._stop.set()
        self.status.changed.set()
        self._thread.join(10)
        self.write()

    def _run(self) -> None:
        while not self._stop.is_set():
            self.status.changed.wait(HEARTBEAT)
            if self._stop.is_set():
                return
            self.status.changed.clear()
            self.write()
            self._stop.wait(1 / WRITES_PER_S)  # changes meanwhile go in the next write

    def write(self) -> None:
        """Replace the file with the status now (a failure is left for the next write: the status is a
        view, never a reason to stop syncing)."""
        data = {"pid": os.getpid(), "heartbeat_ns": time.time_ns(), **self.status.snapshot()}
        body = json.dumps(data, ensure_ascii=False, indent=1).encode("utf-8", "surrogateescape")
        try:
            fd, tmp = tempfile.mkstemp(prefix=".status.", dir=self.path.parent)
        except OSError:
            return
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(body)
            os.replace(tmp, self.path)  # no fsync: a status lost in a crash is rewritten within a second
        except OSError:
            with contextlib.suppress(OSError):
                os.unlink(tmp)


def read_status(state: Path) -> dict[str, Any] | None:
    """The status file of the daemon using ``state``; None when there is none or it cannot be read."""
    try:
        data = json.loads(status_path(state).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def is_running(status: dict[str, Any] | None, now_ns: int | None = None) -> bool:
    """Whether the daemon that wrote ``status`` is alive: its pid exists and its heartbeat is recent."""
    if status is None:
        return False
    pid, beat = status.get("pid"), status.get("heartbeat_ns")
    if not isinstance(pid, int) or not isinstance(beat, int) or pid <= 0:
        return False
    if (now_ns if now_ns is not None else time.time_ns()) - beat > STALE * 1e9:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's process: alive
    return True
