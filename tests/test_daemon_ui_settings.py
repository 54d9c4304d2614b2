"""The settings' calls beyond the config file (``services/daemon/ui/settings_api.py``) against a real
``syncline serve`` on 127.0.0.1: the server's folders listed and made, and connecting a device (the
fingerprint shown, then confirmed; a wrong password, an unreachable server, a changed certificate), each
refusal one line and nothing kept; the password and the token never in an answer."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from syncline.engine.replicas.remote import Credentials, load_credentials, save_credentials
from syncline.services.config import load_daemon_config
from syncline.services.daemon.account import connected
from syncline.services.daemon.status import DaemonStatus
from syncline.services.daemon.ui import DaemonView
from syncline.services.daemon.ui import settings_api as s
from syncline.services.watch.events import EventLog

from .daemonserver import PASSWORD, USER, Server, serving


@pytest.fixture(scope="module")
def tls_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with serving(tmp_path_factory.mktemp("tls"), tls=True) as server:
        yield server


def view_of(base: Path, text: str = "# mine\n") -> DaemonView:
    config = base / "daemon.toml"
    config.write_text(text, encoding="utf-8")
    return DaemonView.of(EventLog(), DaemonStatus(str(config)), config, base / "state")


def one_line(body: dict[str, object]) -> str:
    error = body["error"]
    assert isinstance(error, dict)
    assert "\n" not in error["message"] and "Traceback" not in json.dumps(body)
    return str(error["message"])


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_connect_shows_the_fingerprint_then_logs_in_and_keeps_no_password(tmp_path: Path,
                                                                          tls_server: Server) -> None:
    view = view_of(tmp_path)
    status, met = s.handle(view, "POST", ["", "api", "connect", "meet"], {"url": tls_server.url})
    assert status == 200 and met["fingerprint"] == tls_server.fingerprint and met["url"] == tls_server.url

    # Not confirmed, or another fingerprint: nothing sent, nothing kept.
    for confirmed in (None, "SHA256:" + ":".join(["AB"] * 32)):
        status, body = s.handle(view, "POST", ["", "api", "connect", "login"],
                                {"url": tls_server.url, "fingerprint": confirmed, "user": USER, "password": PASSWORD})
        assert status == 409 and body["error"]["code"] == "fingerprint_changed", body
        assert "nothing was sent" in body["error"]["hint"]
    assert load_credentials(view.state, tls_server.url) is None

    status, body = s.handle(view, "POST", ["", "api", "connect", "login"],
                            {"url": tls_server.url, "fingerprint": met["fingerprint"], "user": USER,
                             "password": "wrong password"})
    assert status == 401 and one_line(body) == "wrong user name or password"
    assert load_credentials(view.state, tls_server.url) is None

    status, body = s.handle(view, "POST", ["", "api", "connect", "login"],
                            {"url": tls_server.url, "fingerprint": met["fingerprint"], "user": USER,
                             "password": PASSWORD, "device": "laptop"})
    assert status == 200 and body["user"] == USER, body
    body_id = body["device_id"]
    kept = load_credentials(view.state, tls_server.url)
    assert kept is not None and kept.cert_pem is not None
    assert PASSWORD not in json.dumps(body) and kept.token not in json.dumps(body)
    text = view.config_path.read_text(encoding="utf-8")
    assert text.startswith("# mine\n") and load_daemon_config(view.config_path).server_url == tls_server.url
    assert (view.state / "daemon").is_dir()  # the running daemon is asked to open its folders anew

    # Now the server's folders: made once, then there.
    path = ["", "api", "server", "folders"]
    assert s.handle(view, "POST", path, {"name": "Photos"}) == (200, {"name": "Photos", "made": True})
    assert s.handle(view, "POST", path, {"name": "Photos"}) == (200, {"name": "Photos", "made": False})
    status, listed = s.handle(view, "GET", path, None)
    assert status == 200 and "Photos" in listed["folders"]
    status, body = s.handle(view, "POST", path, {"name": "../etc"})
    assert status == 400 and "folder name" in one_line(body)

    # Whom the device is logged in as, asked now; a revoked token says to connect again.
    who = ["", "api", "server", "whoami"]
    status, me = s.handle(view, "GET", who, None)
    assert status == 200 and (me["user"], me["device"], me["device_id"]) == (USER, "laptop", body_id), me
    assert me["url"] == tls_server.url and isinstance(me["admin"], bool) and kept.token not in json.dumps(me)
    with connected(view.state, tls_server.url) as client:
        client.request("DELETE", f"devices/{body_id}", ok=(204,))
    status, body = s.handle(view, "GET", who, None)
    assert status == 409 and body["error"]["code"] == "not_connected" and "revoked" in one_line(body), body
    assert "syncline connect" in body["error"]["hint"]


def test_an_unreachable_server_or_a_bad_request_is_one_line(tmp_path: Path) -> None:
    view = view_of(tmp_path)
    port = free_port()
    status, body = s.handle(view, "POST", ["", "api", "connect", "meet"], {"url": f"https://127.0.0.1:{port}"})
    assert status == 502 and one_line(body).startswith("cannot reach")
    status, body = s.handle(view, "POST", ["", "api", "connect", "meet"], {"url": "http://192.0.2.1:8765"})
    assert status == 400 and "plain http" in one_line(body)
    for bad in (None, [], {"url": 5}, {"url": ""}, {"url": "x" * 5000}):
        status, body = s.handle(view, "POST", ["", "api", "connect", "meet"], bad)
        assert status == 400, bad
        one_line(body)
    status, body = s.handle(view, "POST", ["", "api", "connect", "login"], {"url": "https://h:1", "user": "anna"})
    assert status == 400 and "password" in one_line(body)
    assert s.handle(view, "GET", ["", "api", "connect", "meet"], None)[0] == 404


def test_the_server_folders_need_a_server_and_a_login(tmp_path: Path) -> None:
    view = view_of(tmp_path)
    status, body = s.handle(view, "POST", ["", "api", "server", "folders"], {"name": "Docs"})
    assert status == 409 and body["error"]["code"] == "no_server" and "syncline connect" in body["error"]["hint"]
    view = view_of(tmp_path, '[server]\nurl = "https://127.0.0.1:1"\n')
    status, body = s.handle(view, "POST", ["", "api", "server", "folders"], {"name": "Docs"})
    assert status == 409 and body["error"]["code"] == "not_connected", body
    for call in ("folders", "whoami"):
        status, body = s.handle(view, "GET", ["", "api", "server", call], None)
        assert status == 409 and body["error"]["code"] == "not_connected", body
        one_line(body)
    # Logged in to a server that is down: 502, one line that says so.
    url = f"https://127.0.0.1:{free_port()}"
    save_credentials(view.state, Credentials(url, "slt_" + "a" * 40, None, "srv"))
    view.config_path.write_text(f'[server]\nurl = "{url}"\n', encoding="utf-8")
    status, body = s.handle(view, "GET", ["", "api", "server", "whoami"], None)
    assert status == 502 and body["error"]["code"] == "unreachable" and one_line(body).startswith("cannot reach")
