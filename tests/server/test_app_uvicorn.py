"""``syncline serve`` as a real process on 127.0.0.1 and a random port: login, upload, commit, a pushed
event, a download, HTTPS with the self-signed certificate, and a graceful stop. Every wait is bounded."""

from __future__ import annotations

import os
import queue
import re
import signal
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from .apphelp import PACK_HEADERS, cid, ops_body, pack, put_item

DEADLINE = 60.0
SYNCLINE = str(Path(sys.executable).parent / "syncline")


@dataclass
class Server:
    proc: subprocess.Popen[str]
    url: str
    password: str
    lines: list[str]


@contextmanager
def running(data: Path, *extra: str) -> Iterator[Server]:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen([SYNCLINE, "serve", "--data", str(data), "--listen", "127.0.0.1:0", *extra],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    lines: queue.Queue[str] = queue.Queue()
    seen: list[str] = []
    reader = threading.Thread(target=lambda: [lines.put(line) for line in proc.stdout or ()], daemon=True)
    reader.start()
    try:
        url = password = ""
        while not (url and password):
            line = lines.get(timeout=DEADLINE)
            seen.append(line)
            if m := re.search(r"server on (\S+) ", line):
                url = m[1]
            if m := re.search(r"user admin, password (\S+)", line):
                password = m[1]
        yield Server(proc, url, password, seen)
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=DEADLINE)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=DEADLINE)
        reader.join(timeout=DEADLINE)
        if proc.stdout is not None:
            proc.stdout.close()


def test_a_real_server_serves_a_device_and_pushes_its_commit(tmp_path: Path) -> None:
    with running(tmp_path / "data") as server:
        assert server.url.startswith("http://127.0.0.1:")
        with httpx.Client(base_url=server.url, timeout=DEADLINE) as c:
            r = c.post("/v1/login", json={"user": "admin", "password": server.password, "device": "test"})
            assert r.status_code == 200, r.text
            c.headers["Authorization"] = f"Bearer {r.json()['token']}"
            assert c.put("/v1/folders/Docs").status_code == 201
            with httpx.Client(base_url=server.url, timeout=DEADLINE, headers=c.headers) as feed, \
                    feed.stream("GET", "/v1/events", params={"folder": "Docs:0"}) as stream:
                assert stream.status_code == 200
                lines = stream.iter_lines()
                assert next(lines) == "retry: 2000"
                data = b"hello over a socket"
                assert c.post("/v1/folders/Docs/chunks", content=pack(data), headers=PACK_HEADERS).status_code == 200
                done = c.post("/v1/folders/Docs/ops", json=ops_body(put_item("hello.txt", data))).json()
                assert done["results"][0]["done"] is True
                while next(lines) != "event: seq":
                    pass
                assert next(lines) == 'data: {"folder":"Docs","seq":1}'
            r = c.get("/v1/folders/Docs/file", params={"path": "hello.txt"})
            assert r.content == data and r.headers["etag"] == '"v1"'
            r = c.post("/v1/folders/Docs/chunks/read", json={"ids": [cid(data).hex()]})
            assert r.status_code == 200 and data in r.content
        server.proc.send_signal(signal.SIGTERM)
        assert server.proc.wait(timeout=DEADLINE) == 0


def test_a_stop_ends_open_event_streams(tmp_path: Path) -> None:
    with running(tmp_path / "data") as server, httpx.Client(base_url=server.url, timeout=DEADLINE) as c:
        token = c.post("/v1/login", json={"user": "admin", "password": server.password, "device": "t"}).json()
        c.headers["Authorization"] = f"Bearer {token['token']}"
        c.put("/v1/folders/Docs")
        with c.stream("GET", "/v1/events", params={"folder": "Docs:0"}) as stream:
            lines = stream.iter_lines()
            assert next(lines) == "retry: 2000"
            server.proc.send_signal(signal.SIGTERM)
            rest = list(lines)  # the server ends the stream: iteration stops
        assert all(not line or line.startswith(":") for line in rest)
        assert server.proc.wait(timeout=DEADLINE) == 0


def test_https_with_the_self_signed_certificate(tmp_path: Path) -> None:
    data = tmp_path / "data"
    with running(data, "--tls", "self-signed") as server:
        assert server.url.startswith("https://127.0.0.1:")
        assert any("fingerprint" in line for line in server.lines)
        trust = ssl.create_default_context(cafile=str(data / "tls" / "cert.pem"))
        with httpx.Client(base_url=server.url, timeout=DEADLINE, verify=trust) as c:
            assert c.get("/v1/info").status_code == 200
        with httpx.Client(base_url=server.url, timeout=DEADLINE) as untrusting:
            try:
                untrusting.get("/v1/info")
                raise AssertionError("a client trusting only the system's authorities connected")
            except httpx.ConnectError:
                pass


def test_plain_http_on_every_address_is_refused(tmp_path: Path) -> None:
    done = subprocess.run([SYNCLINE, "serve", "--data", str(tmp_path / "d"), "--listen", "0.0.0.0:0"],
                          capture_output=True, text=True, timeout=DEADLINE)
    assert done.returncode == 2
    assert "refusing to serve plain HTTP" in done.stderr and "--tls self-signed" in done.stderr
    assert not (tmp_path / "d").exists()


def test_streams_a_client_left_are_freed(tmp_path: Path) -> None:
    """A device that drops its streams can open new ones: twelve in turn, each left by the client, never
    more than four at once were they kept (the server notices a disconnect; a 429 may only be a moment's
    lag, never for good)."""
    with running(tmp_path / "data") as server, httpx.Client(base_url=server.url, timeout=DEADLINE) as c:
        token = c.post("/v1/login", json={"user": "admin", "password": server.password, "device": "t"}).json()
        c.headers["Authorization"] = f"Bearer {token['token']}"
        c.put("/v1/folders/Docs")
        for _ in range(12):
            deadline = time.monotonic() + DEADLINE
            while True:
                with httpx.Client(base_url=server.url, timeout=DEADLINE, headers=c.headers) as client, \
                        client.stream("GET", "/v1/events", params={"folder": "Docs:0"}) as stream:
                    if stream.status_code == 200:
                        assert next(stream.iter_lines()) == "retry: 2000"
                        break
                    assert stream.status_code == 429 and time.monotonic() < deadline, "streams never freed"
                time.sleep(0.1)
