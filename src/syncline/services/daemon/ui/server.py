"""The daemon's page: a stdlib HTTP server on 127.0.0.1, a thread of the daemon (``[ui]`` in its config).

Starlette and uvicorn stay in the server (an import-linter contract); the daemon is threads, so this is
:class:`http.server.ThreadingHTTPServer`, bounded: at most :data:`MAX_CONNECTIONS` connections at once (one
more is answered ``503`` and closed), at most :data:`MAX_STREAMS` event streams (``429``), request bodies
of at most :data:`MAX_BODY` bytes with a ``Content-Length`` (``413``/``411``), and every socket read or
write times out after :data:`TIMEOUT` seconds, so a slow or silent client holds one thread for that long,
never the daemon. :meth:`UiServer.close` ends every connection and joins every thread.

Who may use it (docs/webui.md, "The device's page"):

- every request: ``Host`` must be ``127.0.0.1:PORT`` or ``localhost:PORT`` (a DNS-rebinding page has its
  own name there): else ``403``;
- ``GET /`` and ``/ui/assets/...`` (the page and its files) need nothing more;
- ``POST /session {"token"}`` trades the start token (``token.py``) for a session: an ``HttpOnly;
  SameSite=Strict`` cookie holding a session id, and the session's CSRF value in the answer; a wrong
  token is ``403`` and sets nothing;
- ``/api/...`` needs the cookie (``401`` without); a write (``POST``, ``PUT``) also needs
  ``X-Syncline-CSRF`` equal to the session's value and ``Sec-Fetch-Site: same-origin`` (or, without it,
  an ``Origin`` equal to the host): else ``403``, nothing done. ``POST /session`` needs the same origin too.

Every answer carries :data:`syncline.webui.SECURITY_HEADERS` (the server's).
"""

from __future__ import annotations

import contextlib
import hmac
import json
import logging
import os
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from ....webui import SECURITY_HEADERS, Asset, load_assets
from . import api, conflicts_api, settings_api
from .session import Sessions
from .stream import serve_events
from .token import UiAddress, new_token, ui_file, write_ui_file

MAX_CONNECTIONS = 32
MAX_STREAMS = 4
MAX_BODY = 64 * 1024
TIMEOUT = 15.0
PAGE = "device.html"
_log = logging.getLogger(__name__)


class _Server(ThreadingHTTPServer):
    """Counts its connections (a slot each) and can cut them all (:meth:`cut_all`)."""

    daemon_threads = False  # server_close joins them: no thread outlives the daemon
    block_on_close = True
    request_queue_size = 16

    def __init__(self, port: int, ui: UiServer) -> None:
        self.ui = ui
        self._slots = threading.BoundedSemaphore(MAX_CONNECTIONS)
        self._open: set[socket.socket] = set()
        self._open_lock = threading.Lock()
        super().__init__(("127.0.0.1", port), _Handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        if not self._slots.acquire(blocking=False):
            with contextlib.suppress(OSError):
                request.settimeout(1.0)
                request.sendall(b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
            super().shutdown_request(request)
            return
        with self._open_lock:
            self._open.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._open_lock:
            held = request in self._open
            self._open.discard(request)
        if held:
            self._slots.release()
        super().shutdown_request(request)

    def cut_all(self) -> None:
        """Shut every open connection down: a thread blocked reading or writing one returns at once."""
        with self._open_lock:
            sockets = list(self._open)
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)


class UiServer:
    """The page of a daemon whose view is ``view`` (``api.DaemonView``), on 127.0.0.1:``port`` (0: any
    free port), with ``home`` (``STATE/daemon``) holding ``ui.json``. :meth:`start`, then :meth:`close`."""

    def __init__(self, view: api.DaemonView, home: Path, port: int = 0) -> None:
        self.view = view
        self.home = home
        self.port = port
        self.sessions = Sessions(new_token())
        self.assets: dict[str, Asset] = load_assets()
        self.closing = threading.Event()
        self.streams = threading.BoundedSemaphore(MAX_STREAMS)
        self.hosts: frozenset[str] = frozenset()
        self._httpd: _Server | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> UiAddress:
        """Listen, write ``ui.json``, serve in a thread. :class:`OSError` when the port cannot be had."""
        self._httpd = _Server(self.port, self)
        self.port = self._httpd.server_address[1]
        self.hosts = frozenset({f"127.0.0.1:{self.port}", f"localhost:{self.port}"})
        address = UiAddress(self.port, self.sessions.token, os.getpid())
        try:
            write_ui_file(self.home, address)
        except BaseException:
            self._httpd.server_close()
            raise
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.5},
                                        name="daemon page", daemon=True)
        self._thread.start()
        return address

    def close(self) -> None:
        """Stop serving: ``ui.json`` removed, every connection cut, every thread joined."""
        ui_file(self.home).unlink(missing_ok=True)
        self.closing.set()
        if self._httpd is None:
            return
        self._httpd.shutdown()
        self._httpd.cut_all()
        self._httpd.server_close()
        if self._thread is not None:
            self._thread.join()


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"
    timeout = TIMEOUT
    server_version = "syncline-daemon"
    sys_version = ""

    def log_message(self, format: str, *args: Any) -> None:
        pass  # no access log on the daemon's output: its lines are its events

    def do_GET(self) -> None:
        self._guarded("GET")

    def do_POST(self) -> None:
        self._guarded("POST")

    def do_PUT(self) -> None:
        self._guarded("PUT")

    def _guarded(self, method: str) -> None:
        try:
            self._handle(method)
        except OSError:
            self.close_connection = True  # the browser went, or the daemon is closing
        except Exception:  # a bug: one 500 for this request, logged; the page and the daemon go on
            _log.exception("the daemon's page failed on %s %s", method, self.path)
            with contextlib.suppress(OSError):
                self._error(500, "internal", "the daemon could not answer", "please report it")

    def _not_allowed(self) -> None:
        self._error(405, "method_not_allowed", f"{self.command} is not answered here")

    do_HEAD = do_DELETE = do_PATCH = do_OPTIONS = _not_allowed

    # ------------------------------------------------------------------------------------ routing

    def _handle(self, method: str) -> None:
        ui = self.server.ui
        host = self.headers.get("Host", "")
        if host not in ui.hosts:
            self._error(403, "bad_host", "this page answers to 127.0.0.1 and localhost only",
                        "open it with `syncline ui`")
            return
        split = urlsplit(self.path)
        path = split.path
        if method == "GET" and path == "/":
            self._asset(PAGE)
        elif method == "GET" and path.startswith("/ui/assets/"):
            self._asset(path[len("/ui/assets/"):])
        elif path == "/session":
            self._session() if method == "POST" else self._not_allowed()
        elif not path.startswith("/api/"):
            self._error(404, "not_found", "no such page")
        else:
            self._api(method, path, split.query)

    def _api(self, method: str, path: str, query: str) -> None:
        ui = self.server.ui
        csrf = ui.sessions.csrf_of(self._cookie())
        if csrf is None:
            self._error(401, "no_session", "this page is not logged in", "open it with `syncline ui`")
            return
        body = b""
        if method != "GET":
            sent = self.headers.get("X-Syncline-CSRF", "")
            if not hmac.compare_digest(sent.encode(), csrf.encode()) or not self._same_origin():
                self._error(403, "forbidden", "this request did not come from the daemon's page",
                            "reload the page")
                return
            read = self._body()
            if read is None:
                return
            body = read
        parts = path.split("/")  # "", "api", ...
        route = (method, *parts[2:3])
        if route == ("GET", "session"):
            self._json(200, {"csrf": csrf, "port": ui.port})
        elif route == ("GET", "status"):
            self._json(*api.status(ui.view))
        elif route == ("GET", "config"):
            self._json(*api.config(ui.view))
        elif route == ("PUT", "config") and len(parts) == 3:
            try:
                sent_json = json.loads(body)
            except ValueError:
                self._error(400, "bad_request", "the body is not JSON")
                return
            self._json(*api.save(ui.view, sent_json))
        elif route == ("GET", "dirs"):
            asked = parse_qs(query, max_num_fields=8).get("path", [None])[0]
            self._json(*api.dirs(asked))
        elif route == ("GET", "events"):
            self._events()
        elif parts[2] in conflicts_api.ROUTES:
            self._answer(conflicts_api.answer(ui.view, method, parts[2:], query, body))
        elif route == ("POST", "folders") and len(parts) == 5 and parts[4] in ("pause", "resume"):
            try:
                local = unquote(parts[3], errors="strict")
            except UnicodeDecodeError:
                self._error(404, "no_folder", "no such folder")
                return
            self._json(*api.pause(ui.view, local, parts[4] == "pause"))
        elif parts[2] in settings_api.ROUTES:
            self._json(*settings_api.handle(ui.view, method, parts, _parsed(body)))
        else:
            self._error(404, "not_found", "no such call")

    # ------------------------------------------------------------------------------------ guards

    def _cookie(self) -> str | None:
        name = cookie_name(self.server.ui.port)
        for part in self.headers.get("Cookie", "").split(";"):
            key, _, value = part.strip().partition("=")
            if key == name:
                return value
        return None

    def _same_origin(self) -> bool:
        site = self.headers.get("Sec-Fetch-Site")
        if site is not None:
            return site == "same-origin"
        return self.headers.get("Origin") == f"http://{self.headers.get('Host', '')}"

    def _body(self) -> bytes | None:
        """The request's body (at most MAX_BODY bytes), or None after answering why not."""
        if self.headers.get("Transfer-Encoding"):
            self._error(411, "length_required", "send the body with a Content-Length")
            return None
        raw = self.headers.get("Content-Length", "0")
        if not raw.isascii() or not raw.isdigit():
            self._error(400, "bad_request", "a bad Content-Length")
            return None
        size = int(raw)
        if size > MAX_BODY:
            self._error(413, "too_large", f"a request body over {MAX_BODY} bytes")
            return None
        return self.rfile.read(size)

    def _session(self) -> None:
        if not self._same_origin():
            self._error(403, "forbidden", "this request did not come from the daemon's page", "reload the page")
            return
        body = self._body()
        if body is None:
            return
        try:
            token = json.loads(body)["token"]
            if not isinstance(token, str):
                raise TypeError
        except (ValueError, KeyError, TypeError):
            self._error(400, "bad_request", 'send {"token": "..."}')
            return
        opened = self.server.ui.sessions.open(token)
        if opened is None:
            self._error(403, "bad_token", "this link is not the running daemon's",
                        "open the page again with `syncline ui`")
            return
        sid, csrf = opened
        cookie = f"{cookie_name(self.server.ui.port)}={sid}; HttpOnly; SameSite=Strict; Path=/"
        self._json(200, {"csrf": csrf, "port": self.server.ui.port}, {"Set-Cookie": cookie})

    # ------------------------------------------------------------------------------------ answers

    def _asset(self, name: str) -> None:
        asset = self.server.ui.assets.get(name)
        if asset is None or (name.endswith(".html") and name != PAGE):
            self._error(404, "not_found", "no such file")
            return
        if self.headers.get("If-None-Match") == asset.etag:
            self._send(304, b"", None, {"ETag": asset.etag, "Cache-Control": "no-cache"})
            return
        body, extra = asset.body, {"ETag": asset.etag, "Cache-Control": "no-cache", "Vary": "Accept-Encoding"}
        if asset.gzipped is not None and "gzip" in self.headers.get("Accept-Encoding", ""):
            body, extra["Content-Encoding"] = asset.gzipped, "gzip"
        self._send(200, body, asset.content_type, extra)

    def _events(self) -> None:
        ui = self.server.ui
        if not ui.streams.acquire(blocking=False):
            self._error(429, "too_many_streams", f"more than {MAX_STREAMS} pages follow this daemon",
                        "close a tab of the page")
            return
        try:
            raw = self.headers.get("Last-Event-ID", "").strip()
            last = int(raw) if raw.isascii() and raw.isdigit() and len(raw) < 19 else None
            self.close_connection = True
            self.send_response(200)
            for key, value in {**SECURITY_HEADERS, "Content-Type": "text/event-stream; charset=utf-8",
                               "Cache-Control": "no-store", "Connection": "close"}.items():
                self.send_header(key, value)
            self.end_headers()
            try:
                serve_events(self.wfile.write, ui.view.events, last, ui.closing)
            except OSError:
                pass  # the browser went, or the daemon is closing
            except Exception:  # a bug: the stream ends (the browser reconnects); no error answer mid-stream
                _log.exception("the daemon's event stream failed")
        finally:
            ui.streams.release()

    def _answer(self, answer: api.Reply | conflicts_api.Download) -> None:
        """A JSON reply (an error closes the connection, as :meth:`_error`), or a file streamed."""
        if not isinstance(answer, conflicts_api.Download):
            status, body = answer
            if status >= 400:
                self.close_connection = True
            self._json(status, body, {"Connection": "close"} if status >= 400 else None)
            return
        try:
            self.send_response(200)
            for key, value in {**SECURITY_HEADERS, **answer.headers, "Content-Length": str(answer.size)}.items():
                self.send_header(key, value)
            self.end_headers()
            if not answer.send(self.wfile.write):
                self.close_connection = True  # the file shrank while sent: the answer ends short, cut
        finally:
            answer.close()

    def _json(self, status: int, body: dict[str, Any], extra: dict[str, str] | None = None) -> None:
        data = json.dumps(body, default=str).encode()  # ASCII: a name that is not UTF-8 travels escaped
        self._send(status, data, "application/json", {"Cache-Control": "no-store", **(extra or {})})

    def _error(self, status: int, code: str, message: str, hint: str = "") -> None:
        self.close_connection = True  # a body not read stays unread: the connection is not reused
        self._json(*api.error(status, code, message, hint), {"Connection": "close"})

    def _send(self, status: int, body: bytes, content_type: str | None, extra: dict[str, str]) -> None:
        self.send_response(status)
        for key, value in SECURITY_HEADERS.items():
            self.send_header(key, value)
        if content_type is not None:
            self.send_header("Content-Type", content_type)
        for key, value in extra.items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if body and self.command != "HEAD":
            self.wfile.write(body)


def _parsed(body: bytes) -> object:
    """A request's JSON body (None when empty or not JSON: the call answers what it lacks)."""
    try:
        return json.loads(body) if body else None
    except ValueError:
        return None


def cookie_name(port: int) -> str:
    """The session cookie's name: cookies are not kept apart by port, so each page's has its port in it
    (a second daemon's page, or the server's on the same host, never overwrites it)."""
    return f"syncline_device_{port}"
