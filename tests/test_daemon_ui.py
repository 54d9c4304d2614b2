"""The daemon's page (``[ui]``, ``syncline ui``) against a real ``syncline daemon`` process on 127.0.0.1:
the token file, the session and its guards (Host, cookie, CSRF, same origin), pause and resume through
the config file, the folder picker confined to $HOME, the event stream's resume from Last-Event-ID, and
the page ending with the daemon."""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import re
import socket
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from syncline.core.errors import UsageError
from syncline.engine.replicas.remote import Credentials, save_credentials
from syncline.services.config import load_daemon_config
from syncline.services.daemon import Daemon, read_status
from syncline.services.daemon.status import DaemonStatus
from syncline.services.daemon.ui import DaemonView, UiServer, api
from syncline.services.daemon.ui.server import MAX_BODY, MAX_CONNECTIONS
from syncline.services.watch.events import EventLog
from syncline.webui import SECURITY_HEADERS, load_assets

from .test_daemon_run import DEADLINE, wait_for

CONFIG = """\
# my device
[[folder]]  # the documents
local = "{local}"
remote = "{remote}"
{extra}"""


@dataclass
class Running:
    """A ``syncline daemon`` process: its folders, state, HOME, and the page's port and token."""

    base: Path
    proc: subprocess.Popen[bytes]
    port: int = 0
    token: str = ""
    state: Path = field(init=False)
    config: Path = field(init=False)
    local: Path = field(init=False)

    def __post_init__(self) -> None:
        self.state, self.config = self.base / "state", self.base / "daemon.toml"
        self.local = self.base / "home" / "docs"

    def env(self) -> dict[str, str]:
        return {**os.environ, "SYNCLINE_STATE_DIR": str(self.state), "HOME": str(self.base / "home")}

    def folder_state(self, cookie: str) -> str:
        status, _, body = call(self.port, "GET", "/api/status", {"Cookie": cookie})
        assert status == 200
        return str(json.loads(body)["folders"][0]["state"])

    def stop(self) -> int:
        self.proc.terminate()
        return self.proc.wait(DEADLINE)


def start(base: Path, extra: str = "") -> Running:
    (base / "home" / "docs").mkdir(parents=True)
    (base / "remote").mkdir()
    (base / "daemon.toml").write_text(CONFIG.format(local=base / "home" / "docs", remote=base / "remote",
                                                    extra=extra), encoding="utf-8")
    running = Running(base, None)  # type: ignore[arg-type]
    with (base / "daemon.log").open("ab") as log:
        running.proc = subprocess.Popen([sys.executable, "-m", "syncline", "daemon", "--json", "--config",
                                         str(running.config), "--state", str(running.state)],
                                        stdout=log, stderr=log, env=running.env())
    return running


def with_page(running: Running) -> Running:
    ui = running.state / "daemon" / "ui.json"
    data = wait_for(lambda: ui.exists() and json.loads(ui.read_text() or "null"))
    running.port, running.token = data["port"], data["token"]
    return running


@pytest.fixture
def daemon(tmp_path: Path) -> Iterator[Running]:
    running = with_page(start(tmp_path))
    yield running
    if running.proc.poll() is None:
        running.stop()


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    """One daemon for the tests that change nothing."""
    running = with_page(start(tmp_path_factory.mktemp("shared")))
    yield running
    running.stop()


def call(port: int, method: str, path: str, headers: dict[str, str] | None = None, body: bytes | None = None,
         host: str | None = None) -> tuple[int, dict[str, str], bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=DEADLINE)
    try:
        conn.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
        conn.putheader("Host", host if host is not None else f"127.0.0.1:{port}")
        for key, value in (headers or {}).items():
            conn.putheader(key, value)
        if body is not None:
            conn.putheader("Content-Length", str(len(body)))
        conn.endheaders(body)
        answer = conn.getresponse()
        return answer.status, {k.lower(): v for k, v in answer.getheaders()}, answer.read()
    finally:
        conn.close()


SAME = {"Sec-Fetch-Site": "same-origin", "Content-Type": "application/json"}


def log_in(running: Running) -> tuple[str, str]:
    """The session: the Cookie header to send, and the CSRF value."""
    status, headers, body = call(running.port, "POST", "/session", SAME,
                                 json.dumps({"token": running.token}).encode())
    assert status == 200, body
    return headers["set-cookie"].split(";")[0], json.loads(body)["csrf"]


def pause_path(running: Running, what: str = "pause") -> str:
    return f"/api/folders/{quote(str(running.local), safe='')}/{what}"


# ------------------------------------------------------------------------------------ the token and the URL


def test_the_token_file_is_private_and_names_the_live_page(shared: Running) -> None:
    ui = shared.state / "daemon" / "ui.json"
    assert stat.S_IMODE(ui.stat().st_mode) == 0o600
    data = json.loads(ui.read_text())
    assert data["pid"] == shared.proc.pid and len(data["token"]) >= 43  # 32 bytes, base64
    status, headers, body = call(shared.port, "GET", "/")
    assert status == 200 and body == load_assets()["device.html"].body
    for name, value in SECURITY_HEADERS.items():
        assert headers[name.lower()] == value


def test_the_device_page_runs_no_inline_script_or_style() -> None:
    html = load_assets()["device.html"].body.decode()
    tags = re.findall(r"<script\b[^>]*>", html)
    assert tags and all('src="/ui/assets/' in tag for tag in tags)
    assert not any(body.strip() for body in re.findall(r"<script\b[^>]*>(.*?)</script>", html, re.S))
    assert not re.search(r"\son[a-z]+\s*=", html) and "<style" not in html and " style=" not in html


def test_syncline_ui_print_gives_a_url_that_logs_in(shared: Running) -> None:
    done = subprocess.run([sys.executable, "-m", "syncline", "ui", "--print", "--state", str(shared.state)],
                          capture_output=True, text=True, timeout=DEADLINE, env=shared.env())
    assert done.returncode == 0, done.stderr
    m = re.fullmatch(r"http://127\.0\.0\.1:(\d+)/#([A-Za-z0-9_-]+)\n", done.stdout)
    assert m and int(m[1]) == shared.port
    status, headers, body = call(shared.port, "POST", "/session", SAME, json.dumps({"token": m[2]}).encode())
    assert status == 200
    cookie = headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Path=/" in cookie
    assert m[2] not in cookie  # the cookie is a session of its own, not the token
    status, _, body = call(shared.port, "GET", "/api/status", {"Cookie": cookie.split(";")[0]})
    assert status == 200
    assert json.loads(body)["folders"][0]["local"] == str(shared.local)


def test_syncline_ui_without_a_daemon_says_to_start_one(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "syncline", "ui", "--print", "--state", str(tmp_path)],
                          capture_output=True, text=True, timeout=DEADLINE)
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.count("\n") == 1 and "`syncline daemon`" in done.stderr and "Traceback" not in done.stderr


# ------------------------------------------------------------------------------------ the guards


@pytest.mark.parametrize("path", ["/api/status", "/api/config", "/api/events", "/api/dirs", "/api/session"])
def test_no_cookie_is_401(shared: Running, path: str) -> None:
    status, _, body = call(shared.port, "GET", path)
    assert status == 401 and json.loads(body)["error"]["code"] == "no_session"
    status, _, _ = call(shared.port, "GET", path, {"Cookie": f"syncline_device_{shared.port}={shared.token}"})
    assert status == 401  # the token is not a session


def test_a_wrong_token_or_another_site_opens_no_session(shared: Running) -> None:
    for headers, token in [(SAME, shared.token[:-1] + ("A" if shared.token[-1] != "A" else "B")),
                           (SAME, ""), ({"Sec-Fetch-Site": "cross-site"}, shared.token),
                           ({"Origin": "http://evil.example"}, shared.token), ({}, shared.token)]:
        status, answer, _ = call(shared.port, "POST", "/session", headers, json.dumps({"token": token}).encode())
        assert status == 403 and "set-cookie" not in answer, headers


@pytest.mark.parametrize("host", ["evil.example:{port}", "127.0.0.1:1", "127.0.0.1", "", "localhost.evil:{port}"])
def test_another_host_name_is_403_even_logged_in(shared: Running, host: str) -> None:
    cookie, _ = log_in(shared)
    for path in ["/", "/api/status", "/ui/assets/app.css"]:
        status, _, body = call(shared.port, "GET", path, {"Cookie": cookie}, host=host.format(port=shared.port))
        assert status == 403 and json.loads(body)["error"]["code"] == "bad_host"
    status, _, _ = call(shared.port, "GET", "/api/status", {"Cookie": cookie}, host=f"localhost:{shared.port}")
    assert status == 200


def test_a_write_needs_the_csrf_header_and_the_same_origin(daemon: Running) -> None:
    cookie, csrf = log_in(daemon)
    before = daemon.config.read_bytes()
    refused = [{"Cookie": cookie, "Sec-Fetch-Site": "same-origin"},
               {"Cookie": cookie, "Sec-Fetch-Site": "same-origin", "X-Syncline-CSRF": csrf[:-2]},
               {"Cookie": cookie, "Sec-Fetch-Site": "cross-site", "X-Syncline-CSRF": csrf},
               {"Cookie": cookie, "Sec-Fetch-Site": "same-site", "X-Syncline-CSRF": csrf},
               {"Cookie": cookie, "Origin": "http://evil.example", "X-Syncline-CSRF": csrf},
               {"Cookie": cookie, "X-Syncline-CSRF": csrf}]
    put = json.dumps({"base_sha": hashlib.sha256(before).hexdigest(),
                      "edits": [{"op": "set", "table": "", "key": "lock_makes_readonly", "value": True}]}).encode()
    for headers in refused:
        status, _, body = call(daemon.port, "POST", pause_path(daemon), headers, b"{}")
        assert status == 403 and json.loads(body)["error"]["code"] == "forbidden", headers
        status, _, body = call(daemon.port, "PUT", "/api/config", headers, put)
        assert status == 403 and json.loads(body)["error"]["code"] == "forbidden", headers
    assert daemon.config.read_bytes() == before
    status, _, _ = call(daemon.port, "POST", pause_path(daemon),
                        {"Cookie": cookie, "Origin": f"http://127.0.0.1:{daemon.port}", "X-Syncline-CSRF": csrf}, b"{}")
    assert status == 200 and daemon.config.read_bytes() != before


def test_bounds_a_big_body_and_too_many_connections(daemon: Running) -> None:
    cookie, csrf = log_in(daemon)
    status, _, _ = call(daemon.port, "POST", pause_path(daemon),
                        {"Cookie": cookie, "Sec-Fetch-Site": "same-origin", "X-Syncline-CSRF": csrf},
                        b"x" * (MAX_BODY + 1))
    assert status == 413
    idle = [socket.create_connection(("127.0.0.1", daemon.port), timeout=DEADLINE) for _ in range(MAX_CONNECTIONS)]
    try:
        # The idle ones hold every slot once the server took them: one more is turned away, not queued.
        def refused() -> bool:
            try:
                status, _, _ = call(daemon.port, "GET", "/")
            except (ConnectionError, http.client.RemoteDisconnected):
                return False
            return status == 503
        wait_for(refused)
    finally:
        for sock in idle:
            sock.close()
    wait_for(lambda: call(daemon.port, "GET", "/")[0] == 200)


# ------------------------------------------------------------------------------------ what the page does


def test_pause_and_resume_edit_the_config_and_the_daemon_follows(daemon: Running) -> None:
    cookie, csrf = log_in(daemon)
    wait_for(lambda: daemon.folder_state(cookie) == "in sync")
    writes = {"Cookie": cookie, "Sec-Fetch-Site": "same-origin", "X-Syncline-CSRF": csrf}
    status, _, body = call(daemon.port, "POST", pause_path(daemon), writes, b"{}")
    assert status == 200 and json.loads(body) == {"local": str(daemon.local), "paused": True, "changed": True}
    text = daemon.config.read_text()
    assert text.startswith("# my device\n[[folder]]  # the documents\n") and "paused = true\n" in text
    assert load_daemon_config(daemon.config).folders[0].paused
    wait_for(lambda: daemon.folder_state(cookie) == "paused")
    (daemon.local / "new.txt").write_text("made while paused")
    status, _, body = call(daemon.port, "POST", pause_path(daemon, "resume"), writes, b"{}")
    assert status == 200 and not load_daemon_config(daemon.config).folders[0].paused
    assert "paused = false\n" in daemon.config.read_text()
    wait_for(lambda: (daemon.base / "remote" / "new.txt").exists())  # synced again
    wait_for(lambda: daemon.folder_state(cookie) == "in sync")

    def told() -> list[Any]:
        """the run's changes are in the recent events"""
        recent = json.loads(call(daemon.port, "GET", "/api/status", {"Cookie": cookie})[2])["recent"]
        return [c for e in recent for c in e.get("changes", [])]
    assert wait_for(told) == [{"where": "there", "what": "copied", "path": "new.txt"}]
    status, _, body = call(daemon.port, "POST", f"/api/folders/{quote('/not/a/folder', safe='')}/pause", writes, b"{}")
    assert status == 404
    status, _, body = call(daemon.port, "GET", "/api/config", {"Cookie": cookie})
    config = json.loads(body)
    assert config["text"] == daemon.config.read_text() and config["problem"] is None
    assert config["base_sha"] == hashlib.sha256(daemon.config.read_bytes()).hexdigest()
    assert config["document"]["folder"][0]["paused"] is False
    assert config["settings"]["folders"][0] == {"local": str(daemon.local), "remote": str(daemon.base / "remote"),
                                               "paused": False, "check_every": 3600.0}


def test_a_settings_save_keeps_comments_and_never_overwrites_a_change(daemon: Running) -> None:
    cookie, csrf = log_in(daemon)
    writes = {"Cookie": cookie, "Sec-Fetch-Site": "same-origin", "X-Syncline-CSRF": csrf}
    config = json.loads(call(daemon.port, "GET", "/api/config", {"Cookie": cookie})[2])
    edits = [{"op": "set", "table": "defaults", "key": "check_every", "value": "30m"},
             {"op": "set", "folder": str(daemon.local), "key": "exclude", "value": ["*.tmp"]}]
    before = daemon.config.read_bytes()
    for wrong in [{"base_sha": config["base_sha"], "edits": [{"op": "set", "table": "defaults", "key": "check_every",
                                                               "value": "soon"}]},
                  {"base_sha": config["base_sha"], "edits": [{"op": "set", "folder": str(daemon.local),
                                                              "key": "local", "value": "/elsewhere"}]},
                  {"base_sha": config["base_sha"]}, {"base_sha": "0" * 64, "edits": edits}]:
        status, _, body = call(daemon.port, "PUT", "/api/config", writes, json.dumps(wrong).encode())
        assert status in (400, 409) and daemon.config.read_bytes() == before, body
    assert json.loads(body)["error"]["code"] == "changed"
    status, _, _ = call(daemon.port, "PUT", "/api/config", {"Cookie": cookie, "Sec-Fetch-Site": "same-origin"},
                        json.dumps({"base_sha": config["base_sha"], "edits": edits}).encode())
    assert status == 403 and daemon.config.read_bytes() == before
    status, _, body = call(daemon.port, "PUT", "/api/config", writes,
                           json.dumps({"base_sha": config["base_sha"], "edits": edits}).encode())
    assert status == 200, body
    saved = json.loads(body)
    assert saved["base_sha"] == hashlib.sha256(daemon.config.read_bytes()).hexdigest()
    text = daemon.config.read_text()
    assert text == saved["text"] and "# my device\n[[folder]]  # the documents\n" in text
    loaded = load_daemon_config(daemon.config)
    assert loaded.folders[0].check_every == 1800.0
    wait_for(lambda: "config-loaded" in [e["kind"] for e in json.loads(
        call(daemon.port, "GET", "/api/status", {"Cookie": cookie})[2])["recent"][-3:]])
    # The page's old version is stale now: a second save made from it is refused.
    status, _, _ = call(daemon.port, "PUT", "/api/config", writes,
                        json.dumps({"base_sha": config["base_sha"], "edits": edits[:1]}).encode())
    assert status == 409 and daemon.config.read_text() == text


def test_a_name_that_is_not_utf8_travels_escaped(daemon: Running) -> None:
    cookie, _ = log_in(daemon)
    wait_for(lambda: daemon.folder_state(cookie) == "in sync")
    last = json.loads(call(daemon.port, "GET", "/api/status", {"Cookie": cookie})[2])["seq"]
    with open(os.path.join(os.fsencode(daemon.local), b"caf\xe9.txt"), "wb") as out:
        out.write(b"latin-1 name")

    def told() -> list[Any]:
        """the run's changes name the file"""
        status, _, body = call(daemon.port, "GET", "/api/status", {"Cookie": cookie})
        assert status == 200 and body.isascii()
        return [c["path"] for e in json.loads(body)["recent"] for c in e.get("changes", [])]
    assert wait_for(told) == ["caf\udce9.txt"]
    now = json.loads(call(daemon.port, "GET", "/api/status", {"Cookie": cookie})[2])["seq"]
    streamed = read_events(daemon.port, cookie, last, now - last)
    assert any(c["path"] == "caf\udce9.txt" for _, _, e in streamed for c in e.get("changes", []))


def test_the_folder_picker_stays_in_home(daemon: Running) -> None:
    cookie, _ = log_in(daemon)
    home, outside = daemon.base / "home", daemon.base / "outside"
    (home / "Photos" / "2026").mkdir(parents=True)
    (home / "file.txt").write_text("not a folder")
    outside.mkdir()
    (outside / "secret").mkdir()
    (home / "escape").symlink_to(outside)
    (home / "pics").symlink_to(home / "Photos")

    def dirs(path: str) -> tuple[int, Any]:
        status, _, body = call(daemon.port, "GET", "/api/dirs?path=" + quote(path, safe=""), {"Cookie": cookie})
        return status, json.loads(body)

    status, listing = dirs("")
    assert status == 200 and listing["path"] == str(home.resolve()) and listing["parent"] is None
    assert [d["name"] for d in listing["dirs"]] == ["docs", "Photos", "pics"]
    assert dirs("pics")[1]["dirs"] == [{"name": "2026", "path": str(home.resolve() / "Photos" / "2026")}]
    assert dirs(str(home / "Photos"))[1]["parent"] == str(home.resolve())
    for escape in ["..", "../outside", "/", "/etc", "escape", "escape/secret", "Photos/../..", str(outside),
                   "~/../outside", "\x00"]:
        status, body = dirs(escape)
        assert status == 403 and body["error"]["code"] == "outside_home", escape
    assert dirs("nothing-here")[0] == 404 and dirs("file.txt")[0] == 404


def read_events(port: int, cookie: str, last: int | None, want: int) -> list[tuple[int, str, dict[str, Any]]]:
    """The first ``want`` numbered events of a stream opened after ``last`` (Last-Event-ID)."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=DEADLINE)
    extra = f"Last-Event-ID: {last}\r\n" if last is not None else ""
    sock.sendall(f"GET /api/events HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nCookie: {cookie}\r\n{extra}\r\n".encode())
    got: list[tuple[int, str, dict[str, Any]]] = []
    buffer = b""
    end = time.monotonic() + DEADLINE  # keep-alive comments would keep a recv timeout from ever firing
    with sock:
        while len(got) < want:
            assert time.monotonic() < end, f"only {len(got)} of {want} events came"
            piece = sock.recv(65536)
            assert piece, "the stream ended"
            buffer += piece
            *frames, buffer = buffer.split(b"\n\n")
            for frame in frames:
                fields = dict(line.split(": ", 1) for line in frame.decode().split("\n")
                              if ": " in line and not line.startswith(":"))
                if "id" in fields:
                    got.append((int(fields["id"]), fields["event"], json.loads(fields["data"])))
    return got[:want]


def test_the_event_stream_resumes_after_the_last_event_id(daemon: Running) -> None:
    cookie, csrf = log_in(daemon)
    wait_for(lambda: daemon.folder_state(cookie) == "in sync")
    body = call(daemon.port, "GET", "/api/status", {"Cookie": cookie})[2]
    seq = json.loads(body)["seq"]
    assert seq >= 4
    got = read_events(daemon.port, cookie, 1, seq - 1)
    assert [g[0] for g in got] == list(range(2, seq + 1)) and {g[1] for g in got} == {"daemon"}
    assert any(g[2]["kind"] == "ui-started" for g in got)
    # A live event (pausing restarts the folder's loop) reaches a stream that started at the last one.
    result: list[Any] = []
    reader = threading.Thread(target=lambda: result.extend(read_events(daemon.port, cookie, seq, 1)))
    reader.start()
    call(daemon.port, "POST", pause_path(daemon), {"Cookie": cookie, "Sec-Fetch-Site": "same-origin",
                                                   "X-Syncline-CSRF": csrf}, b"{}")
    reader.join(DEADLINE)
    assert result and result[0][0] == seq + 1 and result[0][2]["source"] in ("", str(daemon.local))


# ------------------------------------------------------------------------------------ on and off


def test_the_page_ends_with_the_daemon(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """In process, to see the threads: an open event stream and an idle connection do not hold the stop."""
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    (tmp_path / "home" / "docs").mkdir(parents=True)
    (tmp_path / "remote").mkdir()
    config = tmp_path / "daemon.toml"
    config.write_text(CONFIG.format(local=tmp_path / "home" / "docs", remote=tmp_path / "remote", extra=""))
    stop = threading.Event()
    runner = threading.Thread(target=Daemon(config, tmp_path / "state").run, args=(stop,))
    runner.start()
    try:
        running = with_page(Running(tmp_path, None))  # type: ignore[arg-type]
        cookie, _ = log_in(running)
        stream = socket.create_connection(("127.0.0.1", running.port), timeout=DEADLINE)
        stream.sendall(f"GET /api/events HTTP/1.1\r\nHost: 127.0.0.1:{running.port}\r\nCookie: {cookie}\r\n\r\n"
                       .encode())
        assert stream.recv(100).startswith(b"HTTP/1.1 200")
        idle = socket.create_connection(("127.0.0.1", running.port), timeout=DEADLINE)
    finally:
        stop.set()
        runner.join(DEADLINE)
    assert not runner.is_alive()
    names = [t.name for t in threading.enumerate()]
    assert not [n for n in names if "process_request" in n or n == "daemon page"], names
    assert not (tmp_path / "state" / "daemon" / "ui.json").exists()
    while stream.recv(65536):  # what was sent, then the end: the daemon cut the stream
        pass
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", running.port), timeout=5).close()
    stream.close()
    idle.close()


def test_closing_the_page_joins_every_thread_at_once(tmp_path: Path) -> None:
    """``UiServer.close`` returns with no thread of the page left, though a stream and an idle connection
    were open (each would otherwise hold its thread up to the socket timeout)."""
    events = EventLog()
    view = DaemonView.of(events, DaemonStatus(str(tmp_path / "daemon.toml")), tmp_path / "daemon.toml", tmp_path)
    (tmp_path / "daemon").mkdir()
    ui = UiServer(view, tmp_path / "daemon")
    address = ui.start()
    running = Running(tmp_path, None, address.port, address.token)  # type: ignore[arg-type]
    cookie, _ = log_in(running)
    stream = socket.create_connection(("127.0.0.1", address.port), timeout=DEADLINE)
    stream.sendall(f"GET /api/events HTTP/1.1\r\nHost: 127.0.0.1:{address.port}\r\nCookie: {cookie}\r\n\r\n".encode())
    assert stream.recv(100).startswith(b"HTTP/1.1 200")
    idle = socket.create_connection(("127.0.0.1", address.port), timeout=DEADLINE)
    wait_for(lambda: len([t for t in threading.enumerate() if "process_request" in t.name]) >= 2)
    ui.close()
    left = [t.name for t in threading.enumerate() if "process_request" in t.name or t.name == "daemon page"]
    assert left == []
    assert not (tmp_path / "daemon" / "ui.json").exists()
    stream.close()
    idle.close()


def test_the_status_names_the_server_and_the_login_never_the_token(tmp_path: Path) -> None:
    config = tmp_path / "daemon.toml"
    config.write_text('[server]\nurl = "https://nas.example:8765"\n')
    view = DaemonView.of(EventLog(), DaemonStatus(str(config)), config, tmp_path)
    server = api.status(view)[1]["server"]
    assert server == {"url": "https://nas.example:8765", "connected": False,
                      "why": "this device is not logged in: run `syncline connect https://nas.example:8765`"}
    save_credentials(tmp_path, Credentials("https://nas.example:8765", "slt_secret", "PEM", "server-1"))
    status, body = api.status(view)
    assert status == 200 and body["server"] == {"url": "https://nas.example:8765", "connected": True,
                                                "pinned": True, "why": None}
    assert "slt_secret" not in json.dumps(body)


def test_ui_enabled_false_serves_no_page(tmp_path: Path) -> None:
    running = start(tmp_path, "\n[ui]\nenabled = false\n")
    try:
        wait_for(lambda: read_status(running.state) and read_status(running.state)["folders"])  # type: ignore[index]
        assert not (running.state / "daemon" / "ui.json").exists()
        done = subprocess.run([sys.executable, "-m", "syncline", "ui", "--print", "--state", str(running.state)],
                              capture_output=True, text=True, timeout=DEADLINE, env=running.env())
        assert done.returncode == 2 and "enabled = false" in done.stderr
    finally:
        assert running.stop() == 0
    assert "settings page" not in (tmp_path / "daemon.log").read_text()


@pytest.mark.parametrize("table, wrong", [("[ui]\nport = 70000\n", "port in ui"),
                                          ("[ui]\nenabled = 1\n", "enabled in ui"),
                                          ("[ui]\nhost = \"0.0.0.0\"\n", "unknown option 'host' in ui")])
def test_bad_ui_settings_are_one_line(tmp_path: Path, table: str, wrong: str) -> None:
    path = tmp_path / "daemon.toml"
    path.write_text(table)
    with pytest.raises(UsageError, match=wrong):
        load_daemon_config(path)
    path.write_text("[ui]\nport = 8384\nenabled = false\n")
    ui = load_daemon_config(path).ui
    assert (ui.enabled, ui.port) == (False, 8384)
