"""syncline.testing.NetProxy against a tiny echo server and a real http.server: exact counts, cuts, refusals,
half-closes, and nothing left behind (thread, sockets) after stop."""

from __future__ import annotations

import http.client
import os
import socket
import socketserver
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from syncline.testing import NetProxy

pytestmark = pytest.mark.timeout(60)
WAIT = 10.0  # every blocking call in these tests gives up after this


class _Echo(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        try:
            while data := self.request.recv(65536):
                self.request.sendall(data)
        except ConnectionError:
            pass  # the proxy cut the connection: what the tests do on purpose


class _EchoServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


@pytest.fixture
def echo() -> Iterator[int]:
    server = _EchoServer(("127.0.0.1", 0), _Echo)
    t = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    t.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()
    t.join(WAIT)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _HTTPServer

    def do_GET(self) -> None:
        body = b"g" * int(self.path.strip("/"))
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_PUT(self) -> None:
        want = int(self.headers["Content-Length"])
        got = 0
        try:
            while got < want and (chunk := self.rfile.read(min(65536, want - got))):
                got += len(chunk)
        except OSError:  # the proxy cut the upload with a reset
            pass
        self.server.received.append(got)
        if got < want:
            self.close_connection = True
            return
        self.send_response(204)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.received: list[int] = []


@pytest.fixture
def web() -> Iterator[_HTTPServer]:
    server = _HTTPServer()
    t = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    t.start()
    yield server
    server.shutdown()
    server.server_close()
    t.join(WAIT)


def connect(proxy: NetProxy) -> socket.socket:
    s = socket.create_connection(proxy.address, timeout=WAIT)
    s.settimeout(WAIT)
    return s


def answers(proxy: NetProxy) -> bool:
    """A new connection to ``proxy`` echoes a byte; False when it is closed or reset first (the reset may
    even reach ``connect``)."""
    try:
        with connect(proxy) as s:
            s.sendall(b"?")
            return s.recv(1) == b"?"
    except (ConnectionResetError, BrokenPipeError):
        return False


def read_until_closed(s: socket.socket) -> tuple[bytes, str]:
    """Everything ``s`` receives, and how it ended: "eof" or "reset"."""
    out = bytearray()
    while True:
        try:
            data = s.recv(65536)
        except ConnectionResetError:
            return bytes(out), "reset"
        if not data:
            return bytes(out), "eof"
        out += data


def recv_exactly(s: socket.socket, n: int) -> bytes:
    out = bytearray()
    while len(out) < n:
        data = s.recv(n - len(out))
        assert data, f"closed after {len(out)} of {n} bytes"
        out += data
    return bytes(out)


def eventually(check: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + WAIT
    while not check():
        assert time.monotonic() < deadline, f"not {what} after {WAIT} s"
        time.sleep(0.01)


def test_counts_each_way_exactly_per_connection_and_in_total(echo: int) -> None:
    with NetProxy("127.0.0.1", echo) as proxy:
        sizes = [1, 70_000, 3 << 20]
        for n in sizes:
            payload = os.urandom(n)
            with connect(proxy) as s:
                sender = threading.Thread(target=s.sendall, args=(payload,))
                sender.start()  # the echo comes back while sending: the proxy must not stall either way
                assert recv_exactly(s, n) == payload
                sender.join(WAIT)
        assert proxy.wait_quiet(WAIT)
        conns = proxy.connections()
        assert [(c.up, c.down) for c in conns] == [(n, n) for n in sizes]
        assert all(not c.open and c.cut is None for c in conns)
        assert proxy.bytes_up == proxy.bytes_down == sum(sizes)


def test_half_close_is_passed_on(echo: int) -> None:
    with NetProxy("127.0.0.1", echo) as proxy, connect(proxy) as s:
        s.sendall(b"last words")
        s.shutdown(socket.SHUT_WR)  # the echo server sees EOF, echoes what it had, and closes
        assert read_until_closed(s) == (b"last words", "eof")
        assert proxy.wait_quiet(WAIT)
        assert proxy.connections()[0].cut is None


@pytest.mark.parametrize("reset", [False, True])
def test_cut_after_n_bytes_down_lets_exactly_n_through(echo: int, reset: bool) -> None:
    with NetProxy("127.0.0.1", echo) as proxy:
        with connect(proxy) as s:
            s.sendall(b"a" * 1000)
            assert recv_exactly(s, 1000) == b"a" * 1000
            rule = proxy.cut_after(3000, "down", reset=reset)
            s.sendall(b"b" * 10_000)
            got, how = read_until_closed(s)
        assert rule.done.wait(WAIT) and rule.fired == 1
        conn = proxy.connections()[0]
        assert (conn.down, conn.cut, conn.open) == (4000, "rule", False)
        if reset:
            assert how == "reset" or got == b"b" * 3000  # data before a RST may be dropped by the kernel
        else:
            assert (got, how) == (b"b" * 3000, "eof")
        assert proxy.bytes_down == 4000
        with connect(proxy) as s2:  # the rule fired once: the next connection goes through
            s2.sendall(b"c" * 5000)
            assert recv_exactly(s2, 5000) == b"c" * 5000


def test_http_upload_cut_midway_then_the_retry_goes_through(web: _HTTPServer) -> None:
    body = os.urandom(1 << 20)
    with NetProxy("127.0.0.1", web.server_address[1]) as proxy:
        rule = proxy.cut_after(100_000, "up")
        conn = http.client.HTTPConnection(*proxy.address, timeout=WAIT)
        with pytest.raises(OSError):  # reset or broken pipe while sending, or no answer
            conn.request("PUT", "/up", body=body)
            conn.getresponse().read()
        conn.close()
        assert rule.fired == 1
        first = proxy.connections()[0]
        assert (first.up, first.cut) == (100_000, "rule")
        eventually(lambda: len(web.received) == 1, "the server saw the cut upload")
        assert web.received[0] < len(body)

        conn = http.client.HTTPConnection(*proxy.address, timeout=WAIT)
        conn.request("PUT", "/up", body=body)
        assert conn.getresponse().status == 204
        conn.close()
        assert web.received[1] == len(body)
        assert proxy.wait_quiet(WAIT)
        assert proxy.connections()[1].up > len(body)  # the body plus the request line and headers


def test_http_bytes_match_what_the_client_sent_and_received(web: _HTTPServer) -> None:
    request = b"GET /123456 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    with NetProxy("127.0.0.1", web.server_address[1]) as proxy:
        with connect(proxy) as s:
            s.sendall(request)
            answer, how = read_until_closed(s)
        assert how == "eof" and answer.startswith(b"HTTP/1.1 200 ")
        assert answer.endswith(b"\r\n\r\n" + b"g" * 123456)
        assert proxy.wait_quiet(WAIT)
        assert (proxy.bytes_up, proxy.bytes_down) == (len(request), len(answer))


def test_cut_all_closes_every_open_connection_and_new_ones_still_work(echo: int) -> None:
    with NetProxy("127.0.0.1", echo) as proxy:
        socks = [connect(proxy) for _ in range(3)]
        for s in socks:
            s.sendall(b"hi")
            assert recv_exactly(s, 2) == b"hi"
        proxy.cut_all()
        assert proxy.active == 0
        for s in socks:
            _, how = read_until_closed(s)
            assert how in ("reset", "eof")
            s.close()
        assert [c.cut for c in proxy.connections()] == ["cut_all"] * 3
        with connect(proxy) as s:
            s.sendall(b"again")
            assert recv_exactly(s, 5) == b"again"


def test_refuse_resets_new_connections_until_accepted_again(echo: int) -> None:
    with NetProxy("127.0.0.1", echo) as proxy:
        with connect(proxy) as old:
            old.sendall(b"!")  # a round trip: the proxy has taken it from the listen backlog
            assert recv_exactly(old, 1) == b"!"
            proxy.refuse()
            assert not answers(proxy)
            old.sendall(b"still here")  # open connections carry on
            assert recv_exactly(old, 10) == b"still here"
        proxy.accept()
        with connect(proxy) as s:
            s.sendall(b"ok")
            assert recv_exactly(s, 2) == b"ok"
        assert [c.cut for c in proxy.connections()] == [None, "refused", None]


def test_refuse_for_a_while_ends_by_itself(echo: int) -> None:
    with NetProxy("127.0.0.1", echo) as proxy:
        proxy.refuse(0.2)

        eventually(lambda: answers(proxy), "accepting again")
        cuts = [c.cut for c in proxy.connections()]
        assert cuts[-1] is None and set(cuts[:-1]) <= {"refused"}


def test_a_target_that_refuses_closes_the_client(echo: int) -> None:
    with socket.socket() as free:
        free.bind(("127.0.0.1", 0))
        port = free.getsockname()[1]  # bound, not listening: connections to it are refused
        with NetProxy("127.0.0.1", port) as proxy:
            assert not answers(proxy)
            eventually(lambda: proxy.connections()[0].cut == "target", "marked as refused by the target")


def _fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def test_stop_frees_the_thread_and_every_socket(echo: int) -> None:
    before = _fds()
    proxy = NetProxy("127.0.0.1", echo).start()
    port = proxy.port
    clients = [connect(proxy) for _ in range(4)]
    for s in clients:
        s.sendall(b"x")
        assert recv_exactly(s, 1) == b"x"
    proxy.stop()
    proxy.stop()  # idempotent
    assert not [t for t in threading.enumerate() if t.name.startswith("netproxy:")]
    for s in clients:
        assert read_until_closed(s)[1] in ("reset", "eof")
        s.close()
    assert [c.cut for c in proxy.connections()] == ["stop"] * 4
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=WAIT).close()
    eventually(lambda: _fds() <= before, "back to the file descriptors before the proxy")
    with pytest.raises(RuntimeError):
        proxy.start()


def test_stop_without_start_closes_the_listener(echo: int) -> None:
    before = _fds()
    proxy = NetProxy("127.0.0.1", echo)
    proxy.stop()
    assert _fds() == before
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(proxy.address, timeout=WAIT).close()


def test_bad_rules_are_refused(echo: int) -> None:
    with NetProxy("127.0.0.1", echo) as proxy:
        with pytest.raises(ValueError):
            proxy.cut_after(0)
        with pytest.raises(ValueError):
            proxy.cut_after(10, times=0)


def test_a_repeating_rule_cuts_every_nth_byte_until_cleared(echo: int) -> None:
    with NetProxy("127.0.0.1", echo) as proxy:
        rule = proxy.cut_after(500, "up", times=None)
        for _ in range(3):
            with connect(proxy) as s:
                s.sendall(b"z" * 800)
                got, _ = read_until_closed(s)
                assert len(got) <= 500
        assert rule.fired == 3 and not rule.done.is_set()
        assert [c.up for c in proxy.connections()] == [500, 500, 500]
        proxy.clear_rules()
        assert rule.done.is_set()
        with connect(proxy) as s:
            s.sendall(b"z" * 800)
            assert recv_exactly(s, 800) == b"z" * 800
