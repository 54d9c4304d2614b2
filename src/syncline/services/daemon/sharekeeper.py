"""What a daemon does with the shares of its server (issue 14): :class:`ShareKeeper`.

It looks at the user's shares when the daemon starts, whenever the server's event stream says they changed
(``event: shares``), and every ``every`` seconds besides. What it finds goes into the status (offers
waiting for an answer, shares accepted but not synced on this device). With ``[shares] accept = "auto"``
it also accepts every offer (under the name the server picks) and binds every accepted share this device
has not handled yet to ``[shares] dir``/NAME, through the same config edit as ``syncline folder add``,
which the daemon then picks up like any edit.

A share is bound only to a **missing or empty** folder (``NAME``, else ``NAME-2``...): a first two-way run
over a full folder would upload its files into someone else's folder. A share handled once is never bound
again by itself (``STATE/daemon/shares.json``): a person who removed it from this device meant it.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from ...core.errors import SynclineError, UsageError
from ...formats.wire.shares import Share
from ..config import FolderConfig, SharesConfig, load_daemon_config
from ..watch.events import Event, EventLog
from .account import connected
from .requests import request_run
from .shares import Shares, accept, bind_share, free_place, list_shares

EVERY = 600.0  # seconds between looks when the event stream says nothing (it may be down)
_TRIES = 20  # NAME, NAME-2, ... NAME-20: the folders tried for a share before it is left for a person
_log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SharesSeen(Event):
    """The shares of ``server`` as last seen: ``offers`` waiting for an answer (``OWNER/FOLDER``, rights)
    and shares accepted but not synced on this device (their name, why)."""

    kind: ClassVar[str] = "shares-seen"
    state: ClassVar[bool] = True  # for the status, not for logs
    server: str
    offers: tuple[tuple[str, str], ...]
    unbound: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class ShareBound(Event):
    """The share ``share`` (``OWNER/FOLDER``), named ``name`` on the server, is synced in ``local`` now."""

    kind: ClassVar[str] = "share-bound"
    wording: ClassVar[str] = "shared folder added"
    shown: ClassVar[tuple[str, ...]] = ("share", "local")
    share: str
    name: str
    local: str


class ShareKeeper:
    """The shares of the server at ``url`` for the daemon whose config is ``config`` (see the module)."""

    def __init__(self, url: str, config: Path, state: Path, shares: SharesConfig, events: EventLog,
                 every: float = EVERY) -> None:
        self.url, self.config, self.state, self.shares, self.events = url, config, state, shares, events
        self.every = every
        self._poked = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"shares {url}", daemon=True)
        self.looks = 0  # looks done, for tests
        self._rights: dict[str, str] | None = None  # the rights of each accepted share at the last look

    def start(self) -> None:
        self._thread.start()

    def poke(self) -> None:
        """Look again soon (any thread): the server said the shares changed."""
        self._poked.set()

    def close(self) -> None:
        self._stop.set()
        self._poked.set()
        self._thread.join(30)

    def _run(self) -> None:
        while not self._stop.is_set():
            self._poked.clear()
            try:
                self.look()
            except UsageError as exc:  # not connected, a server without shares, unreachable: said in the log
                _log.info("shares of %s: %s", self.url, exc)
            except (SynclineError, OSError) as exc:
                _log.info("shares of %s: %s", self.url, exc)
            except Exception:  # a bug: logged, and the daemon goes on syncing
                _log.exception("the shares of %s failed", self.url)
            self._poked.wait(self.every)

    def look(self) -> None:
        """Look at the shares once: accept and bind as the config says, and tell what is left."""
        with connected(self.state, self.url) as client:
            shares = list_shares(client)
            if self.shares.accept == "auto":
                accepted = [accept(client, s, None) for s in shares.incoming if s.state == "offered"]
                if accepted:
                    shares = list_shares(client)
        self.looks += 1
        config = load_daemon_config(self.config) if self.config.exists() else None
        synced = {f.remote for f in config.folders} if config is not None else set()
        places = [Path(f.local) for f in config.folders] if config is not None else []
        handled = self._handled()
        unbound: list[tuple[str, str]] = []
        auto = self.shares.accept == "auto"
        for s in shares.incoming:
            if s.state != "accepted" or s.name is None:
                continue
            if s.name in synced:
                if auto and s.uid not in handled:  # bound by a person: handled, never bound again by itself
                    handled.add(s.uid)
                    self._save(handled)
                continue
            if auto and s.uid not in handled:
                unbound += self._bind(s, handled, places)
            else:
                unbound.append((s.name, "not synced on this device"))
        self._promoted(shares, config.folders if config is not None else ())
        offers = tuple((s.label, s.rights) for s in shares.incoming if s.state == "offered")
        self.events.publish(SharesSeen(server=self.url, offers=offers, unbound=tuple(unbound)))

    def _promoted(self, shares: Shares, folders: Sequence[FolderConfig]) -> None:
        """A share whose rights changed since the last look (read-only made read-write, or back) gets a
        full run of its folder on this device: what a read-only member kept here (held files, edits kept
        as conflict copies) is uploaded now, not when each is next touched."""
        rights = {s.name: s.rights for s in shares.incoming if s.state == "accepted" and s.name is not None}
        before, self._rights = self._rights, rights
        if before is None:
            return  # the first look: a folder loop starting now runs in full anyway
        for f in folders:
            if f.remote in rights and f.remote in before and rights[f.remote] != before[f.remote]:
                request_run(self.state, f.local)

    def _bind(self, share: Share, handled: set[str], synced: list[Path]) -> list[tuple[str, str]]:
        """Bind ``share`` to the first free folder of ``[shares] dir`` (missing or empty, and neither in nor
        around a folder this device syncs: it would be synced twice); what is left unbound, and why."""
        assert share.name is not None
        base = Path(self.shares.dir) / share.name
        target = free_place(base, synced, _TRIES)
        if target is None:
            return [(share.name, f"{base} and {_TRIES - 1} more folders beside it are not empty or are synced "
                                 f"already ([shares] dir)")]
        try:
            local = bind_share(self.config, target, share.name)
        except UsageError as exc:
            return [(share.name, f"not synced on this device: {exc}")]
        handled.add(share.uid)
        self._save(handled)
        self.events.publish(ShareBound(share=share.label, name=share.name, local=local))
        return []

    # -- the record of shares handled on this device ------------------------------------------------
    def _record(self) -> Path:
        return self.state / "daemon" / "shares.json"

    def _key(self) -> str:
        return hashlib.sha256(self.url.encode()).hexdigest()[:16]

    def _load(self) -> dict[str, Any]:
        try:
            data = json.loads(self._record().read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def _handled(self) -> set[str]:
        mine = self._load().get(self._key(), [])
        return {u for u in mine if isinstance(u, str)} if isinstance(mine, list) else set()

    def _save(self, handled: set[str]) -> None:
        data = self._load()
        data[self._key()] = sorted(handled)
        path = self._record()
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp")
        with open(tmp, "w", encoding="utf-8") as out:
            json.dump(data, out)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
        with contextlib.suppress(OSError):  # the rename made durable: a share is never bound twice
            fd = os.open(path.parent, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
