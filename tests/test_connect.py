"""``syncline connect``, ``device`` and ``folder add --create`` as a person runs them, against a real
server over TLS with its self-signed certificate: the fingerprint is checked, the token kept with mode
0600 and the password nowhere, errors are one line with what to do and a non-zero exit."""

from __future__ import annotations

import json
import os
import pty
import select
import stat
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from .daemonserver import DEADLINE, PASSWORD, SYNCLINE, USER, Server, serving, syncline


@dataclass
class Machine:
    """A device's directories: its state (the token) and its daemon config."""

    base: Path

    @property
    def state(self) -> Path:
        return self.base / "state"

    @property
    def config(self) -> Path:
        return self.base / "daemon.toml"

    def run(self, *args: str, stdin: str = "") -> tuple[int, str, str]:
        done = syncline(*args, stdin=stdin, env={"SYNCLINE_STATE_DIR": str(self.state),
                                                 "XDG_CONFIG_HOME": str(self.base / "xdg")})
        return done.returncode, done.stdout, done.stderr

    def connect(self, server: Server, *extra: str, password: str = PASSWORD, fingerprint: str | None = None
                ) -> tuple[int, str, str]:
        fp = ["--fingerprint", fingerprint if fingerprint is not None else server.fingerprint]
        return self.run("connect", server.url, "--user", USER, "--password-stdin", "--config", str(self.config),
                        *fp, *extra, stdin=password + "\n")

    def files(self) -> list[Path]:
        return [p for p in self.base.rglob("*") if p.is_file()]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with serving(tmp_path_factory.mktemp("server") / "data", tls=True) as s:
        yield s


def _one_line_error(code: int, err: str) -> None:
    assert code != 0
    assert err.count("\n") == 1 and err.startswith("syncline: error: "), err
    assert "Traceback" not in err


def test_connect_keeps_the_token_0600_and_the_password_nowhere(server: Server, tmp_path: Path) -> None:
    me = Machine(tmp_path)
    me.config.write_text("# my folders\n[defaults]\ncheck_every = \"1h\"  # hourly\n", encoding="utf-8")
    code, out, err = me.connect(server, "--device", "laptop")
    assert code == 0, err
    assert f"connected to {server.url} as {USER}" in out
    text = me.config.read_text(encoding="utf-8")
    assert f'[server]\nurl = "{server.url}"' in text and "# my folders" in text and "# hourly" in text
    tokens = list((me.state / "servers").iterdir())
    assert len(tokens) == 1 and stat.S_IMODE(tokens[0].stat().st_mode) == 0o600
    for path in me.files():
        assert PASSWORD.encode() not in path.read_bytes(), path
    code, out, err = me.run("device", "list", "--config", str(me.config))
    assert code == 0, err
    assert "laptop" in out and "(this device)" in out


def test_a_wrong_password_is_one_line_and_keeps_nothing(server: Server, tmp_path: Path) -> None:
    me = Machine(tmp_path)
    code, _, err = me.connect(server, password="not-the-password")
    _one_line_error(code, err)
    assert "wrong user name or password" in err
    assert not (me.state / "servers").exists() and not me.config.exists()


def test_a_wrong_fingerprint_is_refused_before_the_password_is_sent(server: Server, tmp_path: Path) -> None:
    me = Machine(tmp_path)
    code, _, err = me.connect(server, fingerprint="SHA256:" + ":".join(["AB"] * 32))
    _one_line_error(code, err)
    assert "not the one given" in err and server.fingerprint in err
    assert not (me.state / "servers").exists()
    # The fingerprint as a person may paste it: lower case, no colons, no prefix.
    code, _, err = me.connect(server, fingerprint=server.fingerprint[7:].replace(":", "").lower())
    assert code == 0, err


def test_no_terminal_and_no_fingerprint_is_refused_with_a_hint(server: Server, tmp_path: Path) -> None:
    me = Machine(tmp_path)
    code, _, err = me.run("connect", server.url, "--user", USER, "--password-stdin", stdin=PASSWORD + "\n")
    _one_line_error(code, err)
    assert "--fingerprint" in err and server.fingerprint in err
    assert not (me.state / "servers").exists()


def test_connecting_again_replaces_the_device_and_revoke_cuts_one_off(server: Server, tmp_path: Path) -> None:
    me, other = Machine(tmp_path / "me"), Machine(tmp_path / "other")
    assert me.connect(server, "--device", "first")[0] == 0
    code, out, err = me.connect(server, "--device", "second")
    assert code == 0 and "replacing device" in out, err
    assert other.connect(server, "--device", "phone")[0] == 0
    _, listed, _ = me.run("device", "list", "--json", "--config", str(me.config))
    devices = {d["name"]: d for d in json.loads(listed)}
    assert devices["first"]["revoked"] is not None and devices["second"]["revoked"] is None
    assert devices["second"]["current"] and not devices["phone"]["current"]
    code, out, err = me.run("device", "revoke", devices["phone"]["id"], "--config", str(me.config))
    assert code == 0, err
    code, _, err = other.run("device", "list", "--config", str(other.config))
    _one_line_error(code, err)
    assert "no longer works" in err and "syncline connect" in err
    code, _, err = me.run("device", "revoke", "NOSUCHDEVICE", "--config", str(me.config))
    _one_line_error(code, err)


def test_folder_add_checks_or_creates_the_server_folder(server: Server, tmp_path: Path) -> None:
    me = Machine(tmp_path)
    code, _, err = me.run("folder", "add", str(tmp_path / "x"), "--remote", "Photos", "--create",
                          "--config", str(me.config))
    _one_line_error(code, err)
    assert "syncline connect" in err
    assert me.connect(server)[0] == 0
    code, _, err = me.run("folder", "add", str(tmp_path / "docs"), "--remote", "Missing", "--config", str(me.config))
    _one_line_error(code, err)
    assert "--create" in err
    code, out, err = me.run("folder", "add", str(tmp_path / "docs"), "--remote", "Docs", "--create",
                            "--config", str(me.config))
    assert code == 0 and "made Docs" in out, err
    code, out, err = me.run("folder", "add", str(tmp_path / "docs2"), "--remote", "Docs", "--config", str(me.config))
    assert code == 0, err
    assert me.config.read_text(encoding="utf-8").count('remote = "Docs"') == 2


def test_plain_http_is_only_for_this_machine(tmp_path: Path) -> None:
    code, _, err = Machine(tmp_path).run("connect", "http://192.0.2.7:8765", "--user", USER, "--password-stdin",
                                         stdin=PASSWORD + "\n")
    _one_line_error(code, err)
    assert "refusing plain http://" in err


def test_another_server_at_a_known_address_stops_connect(tmp_path: Path) -> None:
    me = Machine(tmp_path / "me")
    with serving(tmp_path / "first", tls=True) as first:
        assert me.connect(first)[0] == 0
    with serving(tmp_path / "second", tls=True, port=first.port) as second:
        code, _, err = me.connect(second)
        _one_line_error(code, err)
        assert "not the one this device was connected to" in err and "--new-server" in err
        code, _, err = me.connect(second, "--new-server")
        assert code == 0, err


def _at_terminal(args: list[str], env: dict[str, str], answers: list[tuple[str, str]]) -> tuple[int, str]:
    """Run ``syncline ARGS`` on a pseudo-terminal, writing each answer once its prompt is seen; returns the
    exit code and everything it showed."""
    pid, fd = pty.fork()
    if pid == 0:  # the child: a terminal of its own, then syncline
        os.execve(SYNCLINE, [SYNCLINE, *args], {**os.environ, **env})
    shown = b""
    pending = list(answers)
    end = time.monotonic() + DEADLINE
    try:
        while time.monotonic() < end:
            ready, _, _ = select.select([fd], [], [], 0.5)
            if ready:
                try:
                    piece = os.read(fd, 4096)
                except OSError:  # the child ended: its side of the terminal is gone
                    break
                if not piece:
                    break
                shown += piece
            if pending and pending[0][0].encode() in shown:
                os.write(fd, pending.pop(0)[1].encode() + b"\n")
        _, status = os.waitpid(pid, 0)
    finally:
        os.close(fd)
    return os.waitstatus_to_exitcode(status), shown.decode("utf-8", "replace")


@pytest.mark.parametrize("answer", ["y", "n"])
def test_at_a_terminal_the_fingerprint_is_shown_and_asked(server: Server, tmp_path: Path, answer: str) -> None:
    me = Machine(tmp_path)
    env = {"SYNCLINE_STATE_DIR": str(me.state), "XDG_CONFIG_HOME": str(tmp_path / "xdg")}
    code, shown = _at_terminal(["connect", server.url, "--user", USER, "--config", str(me.config)], env,
                               [("syncline serve` printed on the server?", answer), ("password", PASSWORD)])
    assert server.fingerprint in shown
    if answer == "y":
        assert code == 0 and "connected to" in shown, shown
        assert PASSWORD not in shown  # the prompt does not echo it
    else:
        assert code != 0 and "not trusted" in shown, shown
        assert not (me.state / "servers").exists()
