"""The daemon: reads its config, runs one :class:`~.loop.FolderLoop` per folder, and follows edits of
the config while it runs.

Every ``Timing.config_every`` seconds the config file is looked at; when its bytes changed it is loaded
again. A file that loads starts the loops of new folders, ends those of removed ones, and starts anew
the loops of folders whose settings changed, and of every stopped (parked) folder: a person who edited
the config after a safety stop has had a look. Its bandwidth limits are set on the process's buckets
(no loop restarts): transfers under way go at the new rates from their next slice. A file that does not
load changes nothing: the folders go on as they were and the status shows why (``config_error``). A
missing file is a daemon with no folders yet (``syncline folder add`` makes it).

``syncline folder resume`` drops a request file into ``STATE/daemon/resume/``; the supervisor hands it to
the folder's loop at its next look. One daemon per state directory: a second is refused (a lock on
the state's ``daemon`` folder, taken as a run takes its destination's).
"""

from __future__ import annotations

import json
import os
import threading
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from ...core.errors import BusyError, UsageError
from ...engine.replicas.remote.ratelimit import LIMITS, RateLimits
from ...engine.state import root_lock
from ..config import DaemonConfig, FolderConfig, load_daemon_config
from ..watch.events import EventLog
from ..watch.sources import SourceFactory
from .configfile import sha256
from .events import ConfigLoaded, ConfigRefused, UiFailed, UiStarted
from .feed import FeedSource
from .loop import FolderLoop, Timing
from .positions import Positions
from .readonly import ReadOnlyFiles
from .requests import RESTART
from .runner import on_server, remote_address
from .sharekeeper import ShareKeeper
from .status import DaemonStatus, StatusWriter, status_path
from .ui import DaemonView, UiServer

if TYPE_CHECKING:
    from .serverfeed import ServerFeed


class Daemon:
    """Keep the folders of the config at ``config_path`` in sync until ``stop`` is set (:meth:`run`).

    ``state`` holds the daemon's files (``daemon/``: status, positions, device id, lock, requests); the
    two-way bases are where the engine keeps them (``SYNCLINE_STATE_DIR``: the CLI points it at ``state``).
    ``feed`` tells every folder's other side's changes (a test's fake feed); else ``feeds`` makes the
    feed of the config's server (called with its URL once per URL; None: no feed for it), which tells the
    changes of the folders bound by name on that server. Without either, the folders' periodic full runs
    catch the other sides' changes. ``limits`` are the bandwidth limits the config's rates are set on
    (the process's when not given), and lifted when the daemon ends.
    """

    def __init__(self, config_path: str | os.PathLike[str], state: str | os.PathLike[str], *,
                 events: EventLog | None = None, feed: FeedSource | None = None, timing: Timing | None = None,
                 changes: SourceFactory | None = None,
                 feeds: Callable[[str], ServerFeed | None] | None = None, limits: RateLimits | None = None) -> None:
        self.config_path = Path(os.path.abspath(config_path))
        self.home = Path(state) / "daemon"
        self.events = events or EventLog()
        self.feed = feed
        self.feeds = feeds
        self.limits = LIMITS if limits is None else limits
        self._server_feeds: dict[str, ServerFeed | None] = {}
        self.timing = timing or Timing()
        self.changes = changes
        self.status = DaemonStatus(str(self.config_path))
        self.events.subscribe(self.status, states=True)
        self.positions = Positions(self.home / "positions")
        self.loops: dict[str, FolderLoop] = {}
        self._read: bytes | None = None  # the config's bytes as last read
        self._keeper: ShareKeeper | None = None  # the shares of the config's server
        self._readonly: ReadOnlyFiles | None = None  # the files made read-only for locks (read at start)
        self._readonly_on = False  # the config's lock_makes_readonly, as the running loops were started
        self.device = ""  # this device's id, read (or made) when the daemon starts
        self._config: DaemonConfig | None = None  # the config as last loaded

    def run(self, stop: threading.Event) -> None:
        """Run until ``stop`` is set, then end every loop. Raises :class:`UsageError` when the config file
        exists but cannot be used at start, :class:`BusyError` when a daemon already uses this state."""
        self.home.mkdir(parents=True, exist_ok=True)
        try:
            with root_lock(self.home):
                self._run(stop)
        except BusyError:
            raise BusyError(f"a daemon already runs with the state directory {self.home.parent}",
                            "stop it first, or give another --state") from None

    def _run(self, stop: threading.Event) -> None:
        self.device = _device_id(self.home)
        self._readonly = ReadOnlyFiles(self.home)
        (self.home / RESTART).unlink(missing_ok=True)  # a request to a daemon that was not running: met by this start
        if self.config_path.exists():
            self._reload(first=True)
        writer = StatusWriter(self.status, status_path(self.home.parent))
        writer.start()
        ui = self._serve_ui()
        try:
            while not stop.wait(self.timing.config_every):
                self._restart_requested()
                self._reload()
                self._resume_requested()
        finally:
            if ui is not None:
                ui.close()
            self._end(list(self.loops))
            self._keep_shares(None)
            self._close_feeds()
            self.limits.set(0, 0)
            writer.close()

    def _serve_ui(self) -> UiServer | None:
        """The daemon's page, as the config's ``[ui]`` says at start (on by default): None when off or
        when its port cannot be had (told by an event: the folders sync all the same)."""
        (self.home / "ui.json").unlink(missing_ok=True)  # a killed daemon's: its token opens nothing now
        settings = self._config.ui if self._config is not None else None
        if settings is not None and not settings.enabled:
            return None
        ui = UiServer(DaemonView.of(self.events, self.status, self.config_path, self.home.parent), self.home,
                      settings.port if settings is not None else 0)
        try:
            address = ui.start()
        except OSError as exc:
            self.events.publish(UiFailed(f"127.0.0.1:{ui.port}: {exc.strerror or exc}"))
            return None
        self.events.publish(UiStarted(address.port))
        return ui

    def _close_feeds(self) -> None:
        for server_feed in self._server_feeds.values():
            if server_feed is not None:
                server_feed.close()
        self._server_feeds = {}

    # --------------------------------------------------------------------------------------- config

    def _reload(self, first: bool = False) -> None:
        try:
            raw = self.config_path.read_bytes()
        except FileNotFoundError:
            raw = b""
        except OSError as exc:
            if first:
                raise UsageError(f"cannot read {self.config_path}: {exc.strerror}", "check the file") from None
            self.events.publish(ConfigRefused(str(self.config_path), f"cannot read it: {exc.strerror}"))
            return
        if raw == self._read:
            return
        self._read = raw
        try:
            config = load_daemon_config(self.config_path) if raw else DaemonConfig(str(self.config_path), None, ())
            wanted = {f.local: (f, remote_address(f, config.server_url)) for f in config.folders}
        except UsageError as exc:
            if first:
                raise
            self.events.publish(ConfigRefused(str(self.config_path), str(exc), sha256(raw)))
            return
        self.limits.set(config.max_upload_rate, config.max_download_rate)
        self._config = config
        running = {local: (loop.folder, loop.address) for local, loop in self.loops.items()}
        readonly_changed = config.lock_makes_readonly != self._readonly_on
        self._readonly_on = config.lock_makes_readonly
        self._end([local for local, now in running.items()
                   if wanted.get(local) != now or self.status.folders.get(local, _NONE).state == "stopped"
                   or readonly_changed])
        if self._readonly is not None:
            # Files made read-only in folders no longer masked (the option turned off, the folder removed,
            # a daemon killed before either) get their modes back now: no loop will.
            # A paused folder's loop never looks at the locks: its files are put back too.
            self._readonly.put_back_all(but=[local for local, (folder, _) in wanted.items()
                                             if self._readonly_on and not folder.paused])
        for local, (folder, address) in wanted.items():
            if local not in self.loops:
                self._start(folder, address, self._feed_for(folder, config.server_url))
        self._keep_shares(config)
        self.events.publish(ConfigLoaded(str(self.config_path), len(config.folders), sha256(raw)))

    def _keep_shares(self, config: DaemonConfig | None) -> None:
        """One :class:`~.sharekeeper.ShareKeeper` for the config's server (with this device's credentials
        for it and a real server's feed), made anew when the server or the ``[shares]`` table changes."""
        url = config.server_url if config is not None else None
        keeper = self._keeper
        if keeper is not None and config is not None and (keeper.url, keeper.shares) == (url, config.shares):
            return
        self._keeper = None
        if keeper is not None:
            feed = self._server_feeds.get(keeper.url)
            if feed is not None:
                feed.watch_shares(None)
            keeper.close()
        if config is None or url is None or self.feed is not None or self.feeds is None:
            return
        if self._server_feeds.get(url) is None:
            self._server_feeds[url] = self.feeds(url)
        feed = self._server_feeds[url]
        if feed is None:  # no credentials for it: nothing to look at
            return
        self._keeper = ShareKeeper(url, self.config_path, self.home.parent, config.shares, self.events)
        self._keeper.start()
        feed.watch_shares(self._keeper.poke)

    def _feed_for(self, folder: FolderConfig, server_url: str | None) -> FeedSource | None:
        """The feed telling ``folder``'s other side's changes: the one given, else its server's (made
        once per server URL) when it is bound by name on a server."""
        if self.feed is not None or self.feeds is None or server_url is None or not on_server(folder):
            return self.feed
        if self._server_feeds.get(server_url) is None:  # none yet, or no credentials when last asked
            self._server_feeds[server_url] = self.feeds(server_url)
        return self._server_feeds[server_url]

    def _start(self, folder: FolderConfig, address: str, feed: FeedSource | None) -> None:
        readonly = self._readonly.folder(folder.local) if self._readonly is not None and self._readonly_on else None
        loop = FolderLoop(folder, address, self.events, feed=feed, positions=self.positions,
                          device=self.device, timing=self.timing, changes=self.changes, state=self.home.parent,
                          readonly=readonly)
        self.loops[folder.local] = loop
        loop.thread.start()

    def _end(self, locals_: list[str]) -> None:
        """End the loops of ``locals_``: all told first, then each waited for (a run in flight finishes:
        stopping mid-run would be safe too, but a finished run leaves less to do)."""
        ending = [self.loops.pop(local) for local in locals_]
        for loop in ending:
            loop.stop.set()
            loop.wake()
        for loop in ending:
            loop.thread.join()

    # -------------------------------------------------------------------------------------- resume

    def _restart_requested(self) -> None:
        """New credentials were saved (``syncline connect``): every loop and feed starts anew with them,
        at the next load of the config."""
        request = self.home / RESTART
        if not request.exists():
            return
        request.unlink(missing_ok=True)
        self._end(list(self.loops))
        self._keep_shares(None)
        self._close_feeds()
        self._read = None

    def _resume_requested(self) -> None:
        for loop in self._requested("resume"):
            loop.resume.set()
        for loop in self._requested("run"):
            loop.run_soon()

    def _requested(self, kind: str) -> list[FolderLoop]:
        """The loops named by the request files of ``STATE/daemon/KIND/`` (each read once, then removed)."""
        folder = self.home / kind
        try:
            requests = list(folder.glob("*.json"))  # not a request being written (its temp file, ".NAME.tmp")
        except FileNotFoundError:
            return []
        out = []
        for request in requests:
            try:
                local = json.loads(request.read_text(encoding="utf-8"))["local"]
            except (OSError, ValueError, KeyError, TypeError):
                local = None
            request.unlink(missing_ok=True)
            loop = self.loops.get(local) if isinstance(local, str) else None
            if loop is not None:
                out.append(loop)
        return out


class _Gone:
    state = ""


_NONE = _Gone()


def _device_id(home: Path) -> str:
    """This device's id, made once: the feed's changes carrying it are this device's own."""
    path = home / "device-id"
    try:
        return path.read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError):
        pass
    device = uuid.uuid4().hex
    tmp = home / "device-id.tmp"
    tmp.write_text(device + "\n", encoding="ascii")
    os.replace(tmp, path)
    return device

