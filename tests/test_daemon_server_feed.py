"""The daemon's feed of a real server (``ServerFeed``) and its event-stream parser: ``seq`` events reach
the followed folder's callback, the stream is asked anew when the set of folders changes, a folder the
server lacks is followed once it exists, a silent connection is dropped and made again, the changes are
read with this device's own left out, and hostile answers are refused, not followed."""

from __future__ import annotations

import json
import secrets
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from syncline.engine.replicas.remote import Credentials
from syncline.services.daemon import connect as c
from syncline.services.daemon.serverfeed import FeedTiming, ServerFeed
from syncline.services.daemon.sse import MAX_LINE, SseEvent, SseParser

from .daemonserver import PASSWORD, USER, Server, serving, wait_for

FAST = FeedTiming(read_timeout=5.0, first_delay=0.1, max_delay=0.5)


# ------------------------------------------------------------------------------------------ the parser

def test_the_parser_reads_events_cut_anywhere_with_every_line_end() -> None:
    stream = (b"retry: 2000\r\n\r\n: keep-alive\r\n\r\nevent: seq\r\ndata: {\"a\": 1}\r\n\r\n"
              b"event: seq\rdata:x\rdata: y\r\rdata: plain\n\nevent: nodata\n\n")
    for cut in range(1, len(stream)):
        parser = SseParser()
        got = parser.feed(stream[:cut]) + parser.feed(stream[cut:])
        assert got == [SseEvent("seq", '{"a": 1}'), SseEvent("seq", "x\ny"), SseEvent("message", "plain")], cut
        assert parser.retry_ms == 2000


def test_the_parser_ignores_a_bad_retry_and_unknown_fields() -> None:
    parser = SseParser()
    assert parser.feed(b"retry: soon\nid: 7\nfoo\ndata: a\n\n") == [SseEvent("message", "a")]
    assert parser.retry_ms is None


def test_the_parser_refuses_an_endless_line_or_event() -> None:
    with pytest.raises(ValueError):
        SseParser().feed(b"data: " + b"x" * (MAX_LINE + 1))
    parser = SseParser()
    with pytest.raises(ValueError):
        for _ in range(MAX_LINE // 1000 + 2):
            parser.feed(b"data: " + b"x" * 1000 + b"\n")


# --------------------------------------------------------------------------------- a real server

@pytest.fixture(params=[False, True], ids=["http", "tls"])
def server(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Server]:
    with serving(tmp_path / "data", tls=request.param) as s:
        yield s


def _device(server: Server, state: Path, name: str) -> Credentials:
    login = c.log_in(c.meet(server.url), USER, PASSWORD, name, None)
    c.save(state, login)
    return login.credentials


def _put(http: httpx.Client, folder: str, path: str) -> None:
    """One change in ``folder``: a folder made at ``path``."""
    item = {"id": secrets.token_urlsafe(16), "op": "mkdir", "path": path, "expect": None,
            "entry": {"mode": 0o755, "mtime_ns": 1_700_000_000_000_000_000}}
    r = http.post(f"/v1/folders/{folder}/ops", json={"policy": {"trash": True, "keep_changed": True}, "items": [item]})
    assert r.status_code == 200, r.text


@pytest.fixture
def other(server: Server, tmp_path: Path) -> Iterator[httpx.Client]:
    """Another device's HTTP client, to change folders under the feed."""
    creds = _device(server, tmp_path / "other", "other")
    with httpx.Client(base_url=server.url, timeout=30, verify=False,
                      headers={"Authorization": f"Bearer {creds.token}"}) as http:
        for name in ("One", "Two"):
            assert http.put(f"/v1/folders/{name}").status_code == 201
        yield http


class Told:
    def __init__(self) -> None:
        self.seqs: list[int] = []

    def __call__(self, seq: int) -> None:
        self.seqs.append(seq)


def test_seq_events_reach_their_folder_and_a_new_folder_is_asked_for(
        server: Server, other: httpx.Client, tmp_path: Path) -> None:
    feed = ServerFeed(_device(server, tmp_path / "me", "me"), timing=FAST)
    try:
        one, two = Told(), Told()
        feed.follow("One", 0, one)
        wait_for(lambda: feed.connects >= 1)
        _put(other, "One", "a")
        wait_for(lambda: one.seqs == [1])
        connects = feed.connects
        feed.follow("Two", 0, two)
        wait_for(lambda: feed.connects > connects)
        _put(other, "Two", "b")
        _put(other, "One", "c")
        wait_for(lambda: two.seqs == [1] and one.seqs == [1, 2])
        feed.unfollow("One")
        _put(other, "One", "d")
        _put(other, "Two", "e")
        wait_for(lambda: two.seqs == [1, 2])
        assert one.seqs == [1, 2]
    finally:
        feed.close()


def test_a_folder_the_server_lacks_is_followed_once_it_is_made(
        server: Server, other: httpx.Client, tmp_path: Path) -> None:
    feed = ServerFeed(_device(server, tmp_path / "me", "me"), timing=FAST)
    try:
        one, later = Told(), Told()
        feed.follow("One", 0, one)
        feed.follow("Later", 0, later)
        _put(other, "One", "a")
        wait_for(lambda: one.seqs == [1])  # the missing folder does not break the stream of the others
        assert feed.missing == {"Later"}
        assert other.put("/v1/folders/Later").status_code == 201
        _put(other, "Later", "x")
        wait_for(lambda: later.seqs == [1])
    finally:
        feed.close()


def test_changes_leave_out_this_devices_own(server: Server, other: httpx.Client, tmp_path: Path) -> None:
    mine = _device(server, tmp_path / "me", "me")
    feed = ServerFeed(mine, timing=FAST)
    try:
        _put(other, "One", "theirs")
        with httpx.Client(base_url=server.url, verify=False, headers={"Authorization": f"Bearer {mine.token}"}) as http:
            _put(http, "One", "mine")
        _put(other, "One", "theirs-too")
        batch = feed.changes("One", 0)
        assert batch.seq == 3 and not batch.gone
        assert [(ch.seq, ch.op, ch.path) for ch in batch.changes] == [(1, "mkdir", "theirs"),
                                                                      (3, "mkdir", "theirs-too")]
        assert feed.changes("One", 3).changes == ()
    finally:
        feed.close()


# -------------------------------------------------------------------- hostile and silent servers

def _mock_feed(handler: Any) -> ServerFeed:
    creds = Credentials("http://127.0.0.1:9", "slt_x", None, "S1")
    return ServerFeed(creds, timing=FAST, http=httpx.Client(transport=httpx.MockTransport(handler)))


INFO = {"server_id": "S1", "features": [], "chunker": {}}


def test_history_gone_is_a_gone_batch_at_the_folders_seq() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/v1/whoami":
            return httpx.Response(200, json={"device_id": "D1"})
        if request.url.path.endswith("/changes"):
            return httpx.Response(410, json={"error": {"code": "history_gone", "message": "gone", "hint": "",
                                                       "retryable": True, "details": {"horizon": 50}}})
        return httpx.Response(200, json={"name": "One", "seq": 77})

    feed = _mock_feed(handler)
    batch = feed.changes("One", 3)
    assert batch.gone and batch.seq == 77 and batch.changes == ()


@pytest.mark.parametrize("rows", [
    [[1, "put", "../escape", None, "D2"]],
    [[1, "put", "/abs", None, "D2"]],
    [[2, "put", "a", None, "D2"], [1, "put", "b", None, "D2"]],  # seq going back
    [[9, "put", "a", None, "D2"]],  # past the folder's seq
    [[1, "put", "a", None]],
    ["not a row"],
])
def test_a_hostile_change_row_is_refused(rows: list[Any]) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/v1/whoami":
            return httpx.Response(200, json={"device_id": "D1"})
        return httpx.Response(200, json={"seq": 5, "changes": rows, "next": 5, "more": False})

    with pytest.raises(OSError, match="refused"):
        _mock_feed(handler).changes("One", 0)


def test_a_hostile_event_drops_the_stream_and_a_good_one_is_told() -> None:
    bodies = [b"event: seq\ndata: {not json\n\n", b"event: seq\ndata: {\"folder\": \"Other\", \"seq\": 9}\n\n"
              b"event: seq\ndata: {\"folder\": \"One\", \"seq\": -1}\n\n",
              b"event: seq\ndata: {\"folder\": \"One\", \"seq\": 4}\n\n"]
    served = []

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/v1/info":
            return httpx.Response(200, json=INFO)
        if request.url.path == "/v1/folders":
            return httpx.Response(200, json=[{"name": "One"}])
        body = bodies[min(len(served), len(bodies) - 1)]
        served.append(body)
        return httpx.Response(200, content=body, headers={"Content-Type": "text/event-stream"})

    feed = _mock_feed(handler)
    told = Told()
    try:
        feed.follow("One", 0, told)
        wait_for(lambda: told.seqs == [4])
        assert len(served) >= 3
    finally:
        feed.close()


class _Silent(BaseHTTPRequestHandler):
    """A server that answers the stream's headers, then nothing."""

    protocol_version = "HTTP/1.1"
    streams = 0
    release = threading.Event()

    def do_GET(self) -> None:
        if self.path.startswith("/v1/events"):
            type(self).streams += 1
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            self.wfile.flush()
            self.release.wait(10)
            return
        body = json.dumps(INFO if self.path == "/v1/info" else [{"name": "One"}]).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


def test_a_silent_stream_is_dropped_after_the_read_timeout_and_made_again() -> None:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Silent)
    httpd.daemon_threads = True
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    creds = Credentials(f"http://127.0.0.1:{httpd.server_address[1]}", "slt_x", None, "S1")
    feed = ServerFeed(creds, timing=FeedTiming(read_timeout=0.3, first_delay=0.05, max_delay=0.1))
    try:
        feed.follow("One", 0, Told())
        wait_for(lambda: _Silent.streams >= 3)
    finally:
        feed.close()
        _Silent.release.set()
        httpd.shutdown()
        httpd.server_close()
