"""The daemon page's JSON: what ``GET /api/status``, ``GET`` and ``PUT /api/config``, ``GET /api/dirs``
and the folders' ``pause`` / ``resume`` answer, apart from HTTP (``server.py`` routes and guards them).
The config file is read and saved through ``configedit`` (comments and order kept, compare-and-swap).

Each function returns ``(status, body)``; an error's body is ``{"error": {"code", "message", "hint"}}``,
the server's shape, so the page's ``api.js`` reads both alike.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ....core.errors import BusyError, SynclineError, UsageError
from ....engine.replicas.remote import load_credentials
from ...config import DaemonConfig, load_daemon_config
from ...watch.events import Event, EventLog
from ..configedit import SetFolderValue, edits_from_json, read_for_edit, save_edits
from ..configfile import ConfigChanged, sha256
from ..events import (
    ConfigLoaded,
    ConfigRefused,
    FolderEnded,
    FolderOffline,
    FolderStarted,
    FolderStopped,
    FolderSynced,
    FolderSyncing,
)
from ..status import DaemonStatus
from .dirs import OutsideHome, list_dirs

Reply = tuple[int, dict[str, Any]]
RECENT = 50  # events listed as the recent activity


def error(status: int, code: str, message: str, hint: str = "") -> Reply:
    return status, {"error": {"code": code, "message": message, "hint": hint}}


def event_json(event: Event) -> dict[str, Any]:
    """An event as the page gets it: its number (0 for a state event), kind, time, folder, the one-line
    message the terminal prints, whether it needs a person, and its fields (those the log shows; a run's
    ``changes`` too: ``[{"where", "what", "path"}]``; a config event's ``sha``: the SHA-256 of the file's
    bytes it read, the ``base_sha`` a save answered)."""
    out = {"seq": event.seq, "kind": event.kind, "time": event.time, "source": event.source,
           "message": event.message, "trouble": event.trouble, "details": event.details()}
    if isinstance(event, ConfigLoaded | ConfigRefused):
        out["sha"] = event.sha
    if isinstance(event, FolderSynced) and event.changes:
        out["changes"] = [{"where": where, "what": what, "path": path} for where, what, path in event.changes]
    return out


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
    """The config file for the settings (``configedit.read_for_edit``): ``text``, ``base_sha`` (the
    SHA-256 of its bytes: what a save says it was made from), ``document`` (the TOML as JSON), ``problem``
    (the daemon's one-line error when the file parses but does not load, else null) and ``settings`` (as
    the daemon reads it; null when it cannot). A file that is not TOML is ``409`` with what to fix."""
    try:
        loaded = read_for_edit(view.config_path)
    except UsageError as exc:
        return error(409, "config", exc.message, exc.hint)
    settings = None
    if loaded.problem is None:
        try:
            settings = settings_json(load_daemon_config(view.config_path) if loaded.text
                                     else DaemonConfig(str(view.config_path), None, ()))
        except UsageError:
            pass  # changed between the two reads: the page reads again at the ConfigLoaded event
    return 200, {"path": str(view.config_path), "text": loaded.text, "base_sha": loaded.base_sha,
                 "document": loaded.document, "problem": loaded.problem, "settings": settings}


def settings_json(config: DaemonConfig) -> dict[str, Any]:
    """The settings the daemon runs with, as JSON (each folder's ``local`` absolute, as the status names
    it; ``check_every`` in seconds). The other keys of the file are in ``config``'s ``document``."""
    return {"server_url": config.server_url, "lock_makes_readonly": config.lock_makes_readonly,
            "shares": {"accept": config.shares.accept, "dir": config.shares.dir},
            "ui": {"enabled": config.ui.enabled, "port": config.ui.port},
            "folders": [{"local": f.local, "remote": f.remote, "paused": f.paused, "check_every": f.check_every}
                        for f in config.folders]}


def save(view: DaemonView, body: Any) -> Reply:
    """``PUT /api/config {"base_sha", "edits"}`` (``configedit.edits_from_json``): the edits applied to
    that version of the file and saved, comments and order kept; ``{"base_sha", "text"}`` of the new
    version. ``409 changed`` when the file is not that version any more (a hand edit is never
    overwritten: load it again), ``409 busy`` when another save holds it, ``400`` for a bad edit or a
    result the daemon would refuse; in each case nothing is written. The daemon applies a saved file
    within 2 s (a ``config-loaded`` event)."""
    if not isinstance(body, dict) or set(body) != {"base_sha", "edits"} or not isinstance(body["base_sha"], str):
        return error(400, "bad_request", 'send {"base_sha": "...", "edits": [...]}')
    try:
        text = save_edits(view.config_path, body["base_sha"], edits_from_json(body["edits"]))
    except ConfigChanged as exc:
        return error(409, "changed", "the config file changed since the page read it", exc.hint)
    except BusyError as exc:
        return error(409, "busy", exc.message, exc.hint)
    except UsageError as exc:
        return error(400, "bad_edit", exc.message, exc.hint)
    return 200, {"base_sha": sha256(text.encode("utf-8")), "text": text}


SAVE_TRIES = 3  # another writer between reading the file and saving it: read again, at most this often


def pause(view: DaemonView, local: str, paused: bool) -> Reply:
    """Set the folder's ``paused`` key in the config file, on the version there now (one key: nothing
    else of the file is the page's to judge; the save still compares and swaps, so a write meanwhile is
    read again, never overwritten). The daemon follows within 2 s: the status's ``state`` goes
    ``paused``, or back to syncing. ``{"local", "paused", "changed"}``; ``404`` for a folder the config
    does not have."""
    for _ in range(SAVE_TRIES):
        try:
            raw = view.config_path.read_bytes()
            folders = load_daemon_config(view.config_path).folders
        except FileNotFoundError:
            folders = ()
        except OSError as exc:
            return error(409, "config", f"cannot read {view.config_path}: {exc.strerror}", "check the file")
        except UsageError as exc:
            return error(409, "config", exc.message, exc.hint)
        folder = next((f for f in folders if f.local == local), None)
        if folder is None:
            return error(404, "no_folder", f"the config has no folder {local}", "reload the page")
        if folder.paused == paused:
            return 200, {"local": local, "paused": paused, "changed": False}
        try:
            save_edits(view.config_path, sha256(raw), [SetFolderValue(local, "paused", paused)])
        except ConfigChanged:
            continue
        except BusyError as exc:
            return error(409, "busy", exc.message, exc.hint)
        except UsageError as exc:
            return error(409, "config", exc.message, exc.hint)
        return 200, {"local": local, "paused": paused, "changed": True}
    return error(409, "changed", "the config file keeps changing", "try again")


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
