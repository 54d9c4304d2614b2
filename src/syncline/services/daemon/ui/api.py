"""The daemon page's JSON: what ``GET /api/status``, ``GET /api/config``, ``GET /api/dirs`` and the
folders' ``pause`` / ``resume`` answer, apart from HTTP (``server.py`` routes and guards them).

Each function returns ``(status, body)``; an error's body is ``{"error": {"code", "message", "hint"}}``,
the server's shape, so the page's ``api.js`` reads both alike.
"""

from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ....core.errors import SynclineError, UsageError
from ....engine.replicas.remote import load_credentials
from ...config import DaemonConfig, load_daemon_config
from ...watch.events import Event, EventLog
from ..configfile import set_paused
from ..events import FolderEnded, FolderOffline, FolderStarted, FolderStopped, FolderSynced, FolderSyncing
from ..status import DaemonStatus
from .dirs import OutsideHome, list_dirs

Reply = tuple[int, dict[str, Any]]
RECENT = 50  # events listed as the recent activity
MAX_CONFIG = 1 << 20  # a config file bigger than this is not shown (the daemon's own loader reads any)


def error(status: int, code: str, message: str, hint: str = "") -> Reply:
    return status, {"error": {"code": code, "message": message, "hint": hint}}


def event_json(event: Event) -> dict[str, Any]:
    """An event as the page gets it: its number (0 for a state event), kind, time, folder, the one-line
    message the terminal prints, whether it needs a person, and its fields."""
    return {"seq": event.seq, "kind": event.kind, "time": event.time, "source": event.source,
            "message": event.message, "trouble": event.trouble, "details": event.details()}


_RUN_OVER = (FolderSynced, FolderOffline, FolderStopped, FolderStarted, FolderEnded)


class Progress:
    """A subscriber (with state events) keeping each folder's last :class:`FolderSyncing`: the run's
    totals, for a progress bar. Thread-safe; a folder's entry goes when it leaves ``syncing``."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._last: dict[str, FolderSyncing] = {}

    def __call__(self, event: Event) -> None:
        with self._lock:
            if isinstance(event, FolderSyncing):
                self._last[event.source] = event
            elif isinstance(event, _RUN_OVER):
                self._last.pop(event.source, None)

    def of(self, local: str) -> dict[str, Any] | None:
        with self._lock:
            last = self._last.get(local)
        if last is None:
            return None
        return {"files_total": last.files_total, "bytes_total": last.bytes_total,
                "files_done": max(0, last.files_total - last.files),
                "bytes_done": max(0, last.bytes_total - last.bytes), "full": last.full}


@dataclass
class DaemonView:
    """What the page reads of the daemon: its event stream, its status, its config file, its state."""

    events: EventLog
    status: DaemonStatus
    config_path: Path
    state: Path
    progress: Progress

    @classmethod
    def of(cls, events: EventLog, status: DaemonStatus, config_path: Path, state: Path) -> DaemonView:
        progress = Progress()
        events.subscribe(progress, states=True)
        return cls(events, status, config_path, state, progress)


def status(view: DaemonView) -> Reply:
    """The status snapshot (``status.py``'s schema), each syncing folder with its ``progress``, the
    server and whether this device is connected to it, and the recent numbered events (``recent``,
    newest last; ``seq``: the last event's number, from which ``/api/events`` goes on)."""
    snap = view.status.snapshot()
    for folder in snap["folders"]:
        folder["progress"] = view.progress.of(folder["local"]) if folder["state"] == "syncing" else None
    seq = view.events.last_seq
    recent = [event_json(e) for e in view.events.since(max(0, seq - RECENT)) if e.seq <= seq]
    return 200, {**snap, "server": _server(view), "recent": recent, "seq": seq}


def _server(view: DaemonView) -> dict[str, Any]:
    try:
        url = load_daemon_config(view.config_path).server_url if view.config_path.exists() else None
    except UsageError:
        return {"url": None, "connected": False, "why": "the config file cannot be used (see the settings)"}
    if url is None:
        return {"url": None, "connected": False, "why": "no server yet: run `syncline connect URL`"}
    try:
        credentials = load_credentials(view.state, url)
    except SynclineError as exc:
        return {"url": url, "connected": False, "why": str(exc)}
    if credentials is None:
        return {"url": url, "connected": False, "why": f"this device is not logged in: run `syncline connect {url}`"}
    return {"url": url, "connected": True, "pinned": credentials.cert_pem is not None, "why": None}


def config(view: DaemonView) -> Reply:
    """The config file: ``text``, ``base_sha`` (the SHA-256 of its bytes: what a save says it was made
    from), ``settings`` (as the daemon reads it; None when it cannot) and ``error`` (why not)."""
    path = view.config_path
    try:
        with path.open("rb") as fh:
            raw = fh.read(MAX_CONFIG + 1)
    except FileNotFoundError:
        raw = b""
    except OSError as exc:
        return error(500, "unreadable", f"cannot read {path}: {exc.strerror}", "check the file's permissions")
    if len(raw) > MAX_CONFIG:
        return error(413, "too_large", f"{path} is over {MAX_CONFIG} bytes", "edit it by hand")
    text = raw.decode("utf-8", "replace")
    out: dict[str, Any] = {"path": str(path), "exists": bool(raw) or path.exists(), "text": text,
                           "base_sha": hashlib.sha256(raw).hexdigest(), "settings": None, "error": None}
    if raw:
        try:
            out["settings"] = settings_json(load_daemon_config(path))
        except UsageError as exc:
            out["error"] = {"message": exc.message, "hint": exc.hint}
    else:
        out["settings"] = settings_json(DaemonConfig(str(path), None, ()))
    return 200, out


def settings_json(config: DaemonConfig) -> dict[str, Any]:
    """The settings the daemon runs with, as JSON (each folder's ``local`` absolute, as the status names
    it; ``check_every`` in seconds). The other keys of the file are in ``config``'s ``text``."""
    return {"server_url": config.server_url, "lock_makes_readonly": config.lock_makes_readonly,
            "shares": {"accept": config.shares.accept, "dir": config.shares.dir},
            "ui": {"enabled": config.ui.enabled, "port": config.ui.port},
            "folders": [{"local": f.local, "remote": f.remote, "paused": f.paused, "check_every": f.check_every}
                        for f in config.folders]}


def pause(view: DaemonView, local: str, paused: bool) -> Reply:
    """Set the folder's ``paused`` key in the config file; the daemon follows at its next look at the
    file (within 2 s): the status's ``state`` goes ``paused``, or back to syncing."""
    try:
        changed = set_paused(view.config_path, local, paused)
    except LookupError:
        return error(404, "no_folder", f"the config has no folder {local}", "reload the page")
    except UsageError as exc:
        return error(409, "config", exc.message, exc.hint)
    return 200, {"local": local, "paused": paused, "changed": changed}


def dirs(asked: str | None) -> Reply:
    """The folders in ``asked`` (see ``dirs.py``)."""
    try:
        listing = list_dirs(asked)
    except OutsideHome:
        return error(403, "outside_home", "only folders in your home folder can be picked",
                     "pick a folder under your home")
    except (FileNotFoundError, NotADirectoryError):
        return error(404, "not_found", f"no such folder: {asked}", "pick another folder")
    except PermissionError:
        return error(403, "denied", f"this folder cannot be read: {asked}", "check its permissions")
    except OSError as exc:
        return error(409, "unreadable", f"cannot list {asked}: {exc.strerror}", "pick another folder")
    return 200, {"path": listing.path, "parent": listing.parent, "dirs": listing.dirs, "more": listing.more,
                 "unnamed": listing.unnamed}
