"""The change feed of a real server (``protocol.md`` section 9): :class:`ServerFeed`, the
:class:`~.feed.FeedSource` of every folder a daemon binds on one server.

One Server-Sent Events stream per server carries all its followed folders (``GET /v1/events?folder=
NAME:SEQ&...``); each ``seq`` event is handed to that folder's ``on_seq``, and a ``revoked`` one (protocol
1.1: the folder's share was taken back) to its ``on_lost``, so that its loop runs and hears why. The
stream is read by one thread, which reconnects whenever the stream ends, fails, or is silent for
``read_timeout`` (45 s: the server comments every 15 s), after a back-off of 1 s doubling to 60 s with
jitter (so twenty devices do not come back together), reset by a stream that delivered something. It
asks from the highest ``seq`` it was told for each folder, so what moved while it was away is told at
once by the server. When the set of followed folders changes, the current stream is cut (its socket shut
down) and a new one asks for the new set.

A followed folder the server does not have (yet: a daemon's first run makes it) would make the whole
stream ``404``: the folders are listed first and the missing ones left out, and looked for again on every
keep-alive after the back-off delay, so a folder made later is followed within seconds of that.

:meth:`ServerFeed.changes` reads ``changes?since=`` page by page and leaves out the rows this device
made (its token's device id, from ``/v1/whoami``: what the server journals as ``device``); a ``410
history_gone`` is a batch that is ``gone``, at the folder's present ``seq``. Every answer is checked:
a row that is not ``[seq, op, path, from, device]`` with a valid path and increasing ``seq`` is a
``bad_response`` error, not a change.

HTTP is the remote replica's client (``engine/replicas/remote/client.py``): the same pinned TLS context,
token, headers and the one error map; nothing here looks at a status code.
"""

from __future__ import annotations

import json
import logging
import random
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from ...core.errors import SynclineError, UsageError
from ...engine.replicas.remote import RESP, Client, Credentials, code_of, load_credentials
from ...formats.wire import WireError
from ...formats.wire.fields import integer, lst, obj, text
from ...formats.wire.limits import MAX_PAGE, MAX_STREAM_FOLDERS
from ...formats.wire.paths import check_folder_name, check_wire_path
from .connect import whoami
from .feed import Change, ChangeBatch
from .sse import SseParser

MAX_SEQ = (1 << 63) - 1
MAX_PAGES = 10  # pages read by one changes() call; past it the batch ends early and the loop reads on
_log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FeedTiming:
    """How the stream waits: ``read_timeout`` of silence means a dead connection; reconnects after
    ``first_delay`` doubling to ``max_delay`` (each wait drawn within ``jitter`` of it)."""

    read_timeout: float = 45.0
    first_delay: float = 1.0
    max_delay: float = 60.0
    jitter: float = 0.25


@dataclass
class _Follow:
    seq: int
    on_seq: Callable[[int], None]
    on_lost: Callable[[str], None] | None
    on_locks: Callable[[], None] | None = None


class ServerFeed:
    """The feed of the server ``credentials`` name, for folders followed by name. Thread-safe;
    :meth:`close` ends the stream thread (started by the first :meth:`follow`)."""

    def __init__(self, credentials: Credentials, *, timing: FeedTiming | None = None,
                 http: httpx.Client | None = None) -> None:
        self.timing = timing or FeedTiming()
        self.client = Client(credentials, http=http, max_connections=4, timeout=self.timing.read_timeout)
        self._lock = threading.Lock()
        self._follows: dict[str, _Follow] = {}
        self._changed = threading.Event()  # the set of folders changed, or close()
        self._closed = False
        self._thread: threading.Thread | None = None
        self._response: httpx.Response | None = None  # the stream being read, cut by _interrupt
        self._device: str | None = None
        self._down = False  # the server was lost and the followers told; a stream made clears it
        self.connects = 0  # streams opened, for tests and the log
        self.missing: frozenset[str] = frozenset()  # followed folders the server did not list at the last connect
        self._on_shares: Callable[[], None] | None = None

    # ----------------------------------------------------------------------------- FeedSource

    def follow(self, remote: str, since: int, on_seq: Callable[[int], None],
               on_lost: Callable[[str], None] | None = None, on_locks: Callable[[], None] | None = None) -> None:
        check_folder_name(remote)
        with self._lock:
            if self._closed:
                return
            known = self._follows.get(remote)
            self._follows[remote] = _Follow(max(since, known.seq if known else 0), on_seq, on_lost, on_locks)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name=f"feed {self.client.base}", daemon=True)
                self._thread.start()
        self._changed.set()
        self._interrupt()

    def watch_shares(self, on_shares: Callable[[], None] | None) -> None:
        """Call ``on_shares`` (from the stream's thread) at each connect and whenever the server says the
        user's shares changed (protocol 1.1 ``shares=1``; a server without the feature never says so). The
        stream is held open for it even when no folder is followed. None: stop."""
        with self._lock:
            if self._closed:
                return
            self._on_shares = on_shares
            if self._thread is None and on_shares is not None:
                self._thread = threading.Thread(target=self._run, name=f"feed {self.client.base}", daemon=True)
                self._thread.start()
        self._changed.set()
        self._interrupt()

    def unfollow(self, remote: str) -> None:
        with self._lock:
            if self._follows.pop(remote, None) is None:
                return
        self._changed.set()
        self._interrupt()

    def changes(self, remote: str, since: int) -> ChangeBatch:
        try:
            name = check_folder_name(remote)
        except WireError as err:
            raise UsageError(err.message, err.hint) from None
        own = self._own_device()
        rows: list[Change] = []
        position = since
        for _ in range(MAX_PAGES):
            try:
                value = self.client.call("GET", f"folders/{name}/changes",
                                         params={"since": position, "limit": MAX_PAGE})
            except OSError as exc:  # the replica errors are OSErrors
                if code_of(exc) != "history_gone":
                    raise
                return ChangeBatch(self._seq_of(name), gone=True)
            seq, page, next_, more = self._page(value, position)
            rows += [c for c in page if c.device != own]
            if not more:
                return ChangeBatch(max(seq, position), tuple(rows))
            position = next_
        return ChangeBatch(position, tuple(rows))

    def close(self) -> None:
        """End the stream and its thread, and the connections."""
        with self._lock:
            self._closed = True
            thread = self._thread
        self._changed.set()
        self._interrupt()
        if thread is not None:
            thread.join(timeout=10)
        self.client.close()

    # --------------------------------------------------------------------------------- answers

    def _own_device(self) -> str:
        if self._device is None:
            self._device = whoami(self.client)
        return self._device

    def _seq_of(self, name: str) -> int:
        value = self.client.call("GET", f"folders/{name}")
        try:
            return integer(obj(value, "folder", RESP).get("seq"), "seq", RESP, 0, MAX_SEQ)
        except WireError as err:
            raise self.client.bad(err.message) from None

    def _page(self, value: Any, since: int) -> tuple[int, list[Change], int, bool]:
        """(seq, changes, next, more) of one ``changes`` answer, every value checked."""
        try:
            o = obj(value, "changes", RESP)
            seq = integer(o.get("seq"), "seq", RESP, 0, MAX_SEQ)
            more = o.get("more") is True
            out: list[Change] = []
            last = since
            for raw in lst(o.get("changes"), "changes", RESP, MAX_PAGE):
                row = lst(raw, "change", RESP, 5)
                if len(row) != 5:
                    raise WireError(RESP, "a change row that is not [seq, op, path, from, device]")
                n = integer(row[0], "change seq", RESP, last + 1, seq)
                op = text(row[1], "op", RESP, 32)
                path = check_wire_path(row[2], root_ok=True)
                from_path = None if row[3] is None else check_wire_path(row[3], root_ok=True)
                out.append(Change(n, op, path, from_path, text(row[4], "device", RESP, 128)))
                last = n
            next_ = integer(o.get("next", last), "next", RESP, last, seq) if more else last
            if more and next_ <= since:
                raise WireError(RESP, "a page of changes that does not move on")
        except WireError as err:
            raise self.client.bad(f"a change feed answer refused: {err.message}") from None
        return seq, out, next_, more

    # ---------------------------------------------------------------------------------- stream

    def _run(self) -> None:
        delay = self.timing.first_delay
        while True:
            with self._lock:
                if self._closed:
                    return
                wanted = {name: f.seq for name, f in self._follows.items()}
                on_shares = self._on_shares
                self._changed.clear()
            if not wanted and on_shares is None:
                self._changed.wait()
                continue
            delivered = False
            try:
                delivered = self._connect(wanted, time.monotonic() + delay, on_shares)
            except (SynclineError, OSError, ValueError) as exc:
                _log.info("the change feed of %s: %s", self.client.base, exc)
                if not self._changed.is_set():
                    self._lost(str(exc.strerror if isinstance(exc, OSError) and exc.strerror else exc))
            except Exception:  # a bug: logged, and the feed goes on (the folders' full runs still catch up)
                _log.exception("the change feed of %s failed", self.client.base)
            if delivered:
                delay = self.timing.first_delay
            if self._changed.is_set():
                continue  # a new set of folders: ask for it at once
            wait = delay * random.uniform(1 - self.timing.jitter, 1 + self.timing.jitter)
            delay = min(self.timing.max_delay, delay * 2)
            self._changed.wait(wait)

    def _connect(self, wanted: dict[str, int], recheck_at: float, on_shares: Callable[[], None] | None) -> bool:
        """Read one stream of the ``wanted`` folders that the server has (and its shares, for ``on_shares``),
        until it ends; True when it delivered anything (the back-off starts again)."""
        info = self.client.info()  # another server at this address: Denied, never followed
        if "shares" not in info.features:
            on_shares = None
        value = self.client.call("GET", "folders")
        try:
            have = {text(obj(f, "folder", RESP).get("name"), "name", RESP, 64)
                    for f in lst(value, "folders", RESP, 1 << 20)}
        except WireError as err:
            raise self.client.bad(err.message) from None
        asked = {name: seq for name, seq in wanted.items() if name in have}
        self.missing = frozenset(wanted) - frozenset(asked)
        if not asked and on_shares is None:
            return False
        params: dict[str, Any] = {"folder": [f"{name}:{seq}" for name, seq in sorted(asked.items())][
            :MAX_STREAM_FOLDERS]}
        if on_shares is not None:
            params["shares"] = "1"
        parser = SseParser()
        with self.client.stream("GET", "events", params=params, headers={"Accept": "text/event-stream"},
                                paced=False) as response:
            with self._lock:
                if self._changed.is_set() or self._closed:
                    return False
                self._response = response
                self.connects += 1
                self._down = False
            if on_shares is not None:
                on_shares()  # what changed while no stream was open
            try:
                for piece in response.iter_bytes():
                    for event in parser.feed(piece):
                        if event.event == "seq":
                            self._told(event.data, asked)
                        elif event.event == "revoked":
                            self._revoked(event.data, asked)
                        elif event.event == "locks":
                            self._locks(event.data, asked)
                        elif event.event == "shares" and on_shares is not None:
                            on_shares()
                    if self._changed.is_set() or (self.missing and time.monotonic() >= recheck_at):
                        break
            finally:
                with self._lock:
                    self._response = None
        return parser.seen > 0

    def _lost(self, why: str) -> None:
        """Tell the followers, once per outage, that the server is lost."""
        with self._lock:
            if self._down:
                return
            self._down = True
            told = [f.on_lost for f in self._follows.values() if f.on_lost is not None]
        for tell in told:
            tell(why)

    def _told(self, data: str, asked: dict[str, int]) -> None:
        """One ``seq`` event: the folder's follower is told when the seq moved past what it holds."""
        try:
            o = obj(json.loads(data), "event", RESP)
            name = text(o.get("folder"), "folder", RESP, 64)
            seq = integer(o.get("seq"), "seq", RESP, 0, MAX_SEQ)
        except (ValueError, WireError) as exc:
            raise ValueError(f"an event the feed cannot read: {exc}") from None
        if name not in asked:
            return  # not a folder of this stream: a hostile or confused server is not followed
        with self._lock:
            follow = self._follows.get(name)
            if follow is None or seq <= follow.seq:
                return
            follow.seq = seq
        follow.on_seq(seq)

    def _follower(self, data: str, asked: dict[str, int]) -> _Follow | None:
        """The follower of the folder an event's ``{"folder": NAME}`` names (None: not one of this stream's)."""
        try:
            name = text(obj(json.loads(data), "event", RESP).get("folder"), "folder", RESP, 64)
        except (ValueError, WireError) as exc:
            raise ValueError(f"an event the feed cannot read: {exc}") from None
        with self._lock:
            return self._follows.get(name) if name in asked else None

    def _revoked(self, data: str, asked: dict[str, int]) -> None:
        """One ``revoked`` event (protocol 1.1): the folder's share was taken back. Its follower is told as
        of a lost feed, so that it runs now and hears ``share_revoked`` from the server itself (an event
        alone never stops a folder: a hostile server could not stop one by saying so)."""
        follow = self._follower(data, asked)
        if follow is not None and follow.on_lost is not None:
            follow.on_lost("the server says this folder is no longer shared with you")

    def _locks(self, data: str, asked: dict[str, int]) -> None:
        """One ``locks`` event (protocol 1.1): the folder's file locks changed; its follower is told."""
        follow = self._follower(data, asked)
        if follow is not None and follow.on_locks is not None:
            follow.on_locks()

    def _interrupt(self) -> None:
        """Cut the stream being read, so its thread reconnects with the new set of folders. The socket is
        shut down (which wakes a thread blocked reading it, as closing would not)."""
        with self._lock:
            response = self._response
        if response is None:
            return
        stream = response.extensions.get("network_stream")
        sock = stream.get_extra_info("socket") if stream is not None else None
        try:
            if sock is not None:
                sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


def server_feeds(state: Path, timing: FeedTiming | None = None) -> Callable[[str], ServerFeed | None]:
    """The ``feeds`` of a :class:`~.supervisor.Daemon`: the feed of a server with the credentials saved in
    ``state`` (None when there are none or they cannot be read: the folders' runs then say why)."""

    def feed_of(url: str) -> ServerFeed | None:
        try:
            credentials = load_credentials(state, url)
        except UsageError:
            return None
        return ServerFeed(credentials, timing=timing) if credentials is not None else None

    return feed_of
