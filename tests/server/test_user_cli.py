"""``syncline user add|passwd|set|remove|restore|list`` on a data directory: one-line errors, the password
never shown or stored, and the first start's admin."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from syncline.cli import cmd_user
from syncline.cli.main import cli
from syncline.formats.wire.errors import WireError
from syncline.server.auth import Authenticator
from syncline.server.datadir import default_data_dir
from syncline.server.passwords import HashGate, Passwords
from syncline.server.store import open_store
from syncline.server.users import add_user, ensure_admin, open_accounts, set_password

from ..cli_helpers import assert_one_line_error
from .conftest import cheap_hasher
from .storetree import random_files

SECRET = "Tr0ub4dor&3-secret"


def syncline(*args: str | os.PathLike[str], stdin: str = "") -> subprocess.CompletedProcess[str]:
    """``python -m syncline ARGS`` with ``stdin`` (not a terminal)."""
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    return subprocess.run([sys.executable, "-m", "syncline", *map(str, args)], input=stdin, capture_output=True,
                          text=True, timeout=60, env=env, check=False)


def everything_stored(data: Path) -> bytes:
    return b"".join(p.read_bytes() for p in sorted(data.rglob("*")) if p.is_file())


def test_add_passwd_list(tmp_path: Path) -> None:
    data = tmp_path / "data"
    added = syncline("user", "add", "anna", "--password-stdin", "--data", data, stdin=SECRET + "\n")
    assert (added.returncode, added.stdout, added.stderr) == (0, "user anna added\n", "")
    admin = syncline("user", "add", "root", "--admin", "--password-stdin", "--data", data, stdin=SECRET + "x\n")
    assert admin.returncode == 0 and admin.stdout == "user root added (admin)\n"
    listed = syncline("user", "list", "--data", data)
    assert listed.returncode == 0, listed.stderr
    lines = listed.stdout.splitlines()
    assert [line.split()[:4] for line in lines] == [["anna", "user", "0", "devices"], ["root", "admin", "0", "devices"]]
    old = _hash_of(data, "anna")
    changed = syncline("user", "passwd", "anna", "--password-stdin", "--data", data, stdin="another secret\r\n")
    assert (changed.returncode, changed.stdout) == (0, "password of anna changed\n")
    assert _hash_of(data, "anna") != old
    accounts = open_accounts(data)
    try:
        row = accounts.users.get("anna")
        assert row is not None
        assert Passwords(gate=HashGate()).verify(row.password_hash, "another secret").ok  # the \r\n is not in it
    finally:
        accounts.close()
    stored = everything_stored(data)
    for secret in (SECRET, SECRET + "x", "another secret"):
        assert secret.encode() not in stored
    for proc in (added, admin, listed, changed):
        assert SECRET not in proc.stdout + proc.stderr


def _hash_of(data: Path, name: str) -> str:
    db = sqlite3.connect(data / "meta.db")
    try:
        return str(db.execute("SELECT password_hash FROM users WHERE name = ?", (name,)).fetchone()[0])
    finally:
        db.close()


@pytest.mark.parametrize(("args", "stdin", "words"), [
    (("user", "add", "Anna!", "--password-stdin"), SECRET + "\n", ("invalid user name",)),
    (("user", "add", "anna", "--password-stdin"), "short\n", ("too short",)),
    (("user", "add", "anna", "--password-stdin"), "x" * 2000 + "\n", ("too long",)),
    (("user", "add", "anna", "--password-stdin"), "", ("no password on standard input",)),
    (("user", "add", "anna"), "", ("no terminal", "--password-stdin")),
    (("user", "passwd", "nobody", "--password-stdin"), SECRET + "\n", ("no user nobody",)),
    (("user", "add", "x" * 5000, "--password-stdin"), SECRET + "\n", ("invalid user name",)),
    (("user", "frobnicate"), "", ("no such command",)),
])
def test_wrong_input_is_one_line(tmp_path: Path, args: tuple[str, ...], stdin: str, words: tuple[str, ...]) -> None:
    data = tmp_path / "data"
    open_store(data, min_free=0).close()
    proc = syncline(*args, "--data", data, stdin=stdin) if args[1] != "frobnicate" else syncline(*args)
    assert_one_line_error(proc, *words)
    assert SECRET not in proc.stderr + proc.stdout
    assert len(proc.stderr) < 400  # a hostile name is not echoed back in full


def test_a_taken_name_is_refused_before_the_password_is_read(tmp_path: Path) -> None:
    data = tmp_path / "data"
    assert syncline("user", "add", "anna", "--password-stdin", "--data", data, stdin=SECRET + "\n").returncode == 0
    proc = syncline("user", "add", "anna", "--data", data)  # no stdin password, no terminal: not asked
    assert_one_line_error(proc, "already a user anna", "user passwd anna")


def test_list_and_passwd_need_an_existing_data_directory(tmp_path: Path) -> None:
    for args in (("user", "list"), ("user", "passwd", "anna", "--password-stdin")):
        proc = syncline(*args, "--data", tmp_path / "nothing", stdin=SECRET + "\n")
        assert_one_line_error(proc, "no server data in")
        assert not (tmp_path / "nothing").exists()


def test_a_data_directory_that_is_a_file(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    assert_one_line_error(syncline("user", "list", "--data", tmp_path / "file"))


def test_the_interactive_prompt_asks_twice_hidden(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cmd_user, "_interactive", lambda: True)
    data = tmp_path / "data"
    result = CliRunner().invoke(cli, ["user", "add", "anna", "--data", str(data)],
                                input=f"{SECRET}\nnot the same\n{SECRET}\n{SECRET}\n")
    assert result.exit_code == 0, result.output
    assert result.output.count("Password:") == 2 and result.output.count("Repeat the password:") == 2
    assert "do not match" in result.output
    assert SECRET not in result.output  # hidden: never echoed
    assert result.output.endswith("user anna added\n")


def test_default_data_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("SYNCLINE_SERVER_DATA", str(tmp_path / "explicit"))
    assert default_data_dir() == tmp_path / "explicit"
    monkeypatch.delenv("SYNCLINE_SERVER_DATA")
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    assert default_data_dir() == tmp_path / "xdg" / "syncline" / "server"
    monkeypatch.delenv("XDG_DATA_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert default_data_dir() == tmp_path / "home" / ".local" / "share" / "syncline" / "server"


def test_the_default_data_dir_is_used(tmp_path: Path) -> None:
    env_dir = tmp_path / "from-env"
    proc = subprocess.run([sys.executable, "-m", "syncline", "user", "add", "anna", "--password-stdin"],
                          input=SECRET + "\n", capture_output=True, text=True, timeout=60, check=False,
                          env={**os.environ, "SYNCLINE_SERVER_DATA": str(env_dir)})
    assert proc.returncode == 0, proc.stderr
    assert (env_dir / "meta.db").is_file()
    assert oct(env_dir.stat().st_mode & 0o777) == oct(0o700)
    assert oct((env_dir / "meta.db").stat().st_mode & 0o777) == oct(0o600)


def test_ensure_admin_once(tmp_path: Path) -> None:
    store = open_store(tmp_path / "data", min_free=0)
    passwords = Passwords(cheap_hasher(), HashGate())
    try:
        password = ensure_admin(store, passwords)
        assert password is not None and len(password) >= 20
        admin = store.users.get("admin")
        assert admin is not None and admin.admin
        assert passwords.verify(admin.password_hash, password).ok
        assert ensure_admin(store, passwords) is None
        assert [u.name for u in store.users.list()] == ["admin"]
    finally:
        store.close()
    assert password.encode() not in everything_stored(tmp_path / "data")


def test_ensure_admin_leaves_a_server_with_users_alone(tmp_path: Path) -> None:
    store = open_store(tmp_path / "data", min_free=0)
    passwords = Passwords(cheap_hasher(), HashGate())
    try:
        add_user(store, passwords, "anna", SECRET)
        assert ensure_admin(store, passwords) is None
        assert store.users.get("admin") is None
        set_password(store, passwords, "anna", "a new secret")
        anna = store.users.get("anna")
        assert anna is not None and passwords.verify(anna.password_hash, "a new secret").ok
    finally:
        store.close()


def test_accounts_leave_a_running_servers_uploads_alone(tmp_path: Path) -> None:
    data = tmp_path / "data"
    open_store(data, min_free=0).close()
    upload = data / "tmp" / "request-1"
    upload.mkdir(parents=True, exist_ok=True)
    (upload / "frame").write_bytes(b"in progress")
    open_accounts(data).close()
    assert (upload / "frame").read_bytes() == b"in progress"


def test_a_removed_user_is_disconnected_and_keeps_their_folders_and_name(tmp_path: Path,
                                                                       passwords: Passwords) -> None:
    """``user remove``: every device of the user refused from then on, no new login, their folders and
    files still on the server, their name not given to anyone else; ``user set`` makes and unmakes
    administrators; the last administrator is neither removed nor demoted."""
    data = tmp_path / "data"
    store = open_store(data, min_free=0)
    try:
        auth = Authenticator(store, passwords)
        add_user(store, passwords, "root", SECRET, admin=True)
        add_user(store, passwords, "anna", SECRET)
        token, _ = auth.login("anna", SECRET, "laptop")
        auth.login("anna", SECRET, "desk")
        folder_id, _ = store.folders.create(store.users.get("anna").id, "Photos")  # type: ignore[union-attr]
        random_files(store.folder(folder_id), 2)
    finally:
        store.close()

    removed = syncline("user", "remove", "anna", "--data", data)
    assert (removed.returncode, removed.stdout) == (
        0, "user anna removed: 2 devices disconnected; their folders are kept on the server\n"), removed.stderr
    store = open_store(data, min_free=0)
    try:
        auth = Authenticator(store, passwords)
        with pytest.raises(WireError) as refused:
            auth.device_of(token)
        assert refused.value.code == "unauthenticated"
        with pytest.raises(WireError) as no_login:
            auth.login("anna", SECRET, "phone")
        assert no_login.value.code == "bad_login"
        [(photos, _)] = store.folders.for_user(store.users.get("anna").id)  # type: ignore[union-attr]
        assert {r.path for r in store.folder(photos).entries().rows} == {"f0", "f1"}
    finally:
        store.close()
    assert "removed" in syncline("user", "list", "--data", data).stdout.splitlines()[0]
    assert_one_line_error(syncline("user", "add", "anna", "--password-stdin", "--data", data, stdin=SECRET + "\n"),
                          "anna was removed", "choose another name")
    for args in (("remove", "anna"), ("set", "anna", "--admin"), ("passwd", "anna", "--password-stdin")):
        assert_one_line_error(syncline("user", *args, "--data", data, stdin=SECRET + "\n"), "anna was removed")

    assert_one_line_error(syncline("user", "remove", "root", "--data", data), "last administrator",
                          "user set NAME --admin")
    assert_one_line_error(syncline("user", "set", "root", "--no-admin", "--data", data), "last administrator")
    assert_one_line_error(syncline("user", "set", "root", "--data", data), "nothing to change")
    assert syncline("user", "add", "bob", "--password-stdin", "--data", data, stdin=SECRET + "\n").returncode == 0
    made = syncline("user", "set", "bob", "--admin", "--data", data)
    assert (made.returncode, made.stdout) == (0, "bob: administrator\n")
    assert syncline("user", "remove", "root", "--data", data).returncode == 0, "bob is an administrator now"
    assert_one_line_error(syncline("user", "remove", "bob", "--data", data), "last administrator")


def test_a_removed_user_is_restored_with_their_password_not_their_devices(tmp_path: Path,
                                                                         passwords: Passwords) -> None:
    data = tmp_path / "data"
    store = open_store(data, min_free=0)
    try:
        add_user(store, passwords, "root", SECRET, admin=True)
        add_user(store, passwords, "anna", SECRET)
        token, _ = Authenticator(store, passwords).login("anna", SECRET, "laptop")
    finally:
        store.close()
    assert_one_line_error(syncline("user", "restore", "anna", "--data", data), "anna was not removed")
    assert syncline("user", "remove", "anna", "--data", data).returncode == 0
    restored = syncline("user", "restore", "anna", "--data", data)
    assert (restored.returncode, restored.stdout) == (
        0, "user anna restored: they can log in again; their devices connect again\n"), restored.stderr
    assert "removed" not in syncline("user", "list", "--data", data).stdout
    assert_one_line_error(syncline("user", "restore", "nobody", "--data", data), "no user nobody")
    store = open_store(data, min_free=0)
    try:
        auth = Authenticator(store, passwords)
        with pytest.raises(WireError) as refused:
            auth.device_of(token)
        assert refused.value.code == "unauthenticated"
        assert auth.login("anna", SECRET, "phone")[1].user.name == "anna"
    finally:
        store.close()


def test_quotas_are_set_shown_and_refused_in_one_line(tmp_path: Path) -> None:
    data = tmp_path / "data"
    added = syncline("user", "add", "anna", "--quota", "50GiB", "--password-stdin", "--data", data,
                     stdin=SECRET + "\n")
    assert (added.returncode, added.stdout) == (0, "user anna added (quota 50 GiB)\n"), added.stderr
    assert syncline("user", "add", "bob", "--password-stdin", "--data", data, stdin=SECRET + "\n").returncode == 0
    for value, said in (("1536M", "quota 1.5 GiB"), ("2T", "quota 2 TiB"), ("none", "no quota")):
        proc = syncline("user", "set", "bob", "--quota", value, "--data", data)
        assert (proc.returncode, proc.stdout) == (0, f"bob: {said}\n"), proc.stderr
    listed = syncline("user", "list", "--data", data).stdout.splitlines()
    assert "0 B of 50 GiB" in listed[0] and "0 B, no quota" in listed[1]
    accounts = open_accounts(data)
    try:
        anna, bob = accounts.users.get("anna"), accounts.users.get("bob")
        assert anna is not None and anna.quota_bytes == 50 << 30 and bob is not None and bob.quota_bytes is None
    finally:
        accounts.close()
    assert_one_line_error(syncline("user", "set", "bob", "--quota", "lots", "--data", data),
                          "'lots' is not a size", "500MiB, 50GiB or none")
    assert_one_line_error(syncline("user", "add", "carl", "--quota", "-5", "--password-stdin", "--data", data,
                                   stdin=SECRET + "\n"), "is not a size")
    assert_one_line_error(syncline("user", "set", "nobody", "--quota", "1G", "--data", data), "no user nobody")
    for huge in ("99999999999999T", str(1 << 63)):  # past the database's integers: refused before anything
        assert_one_line_error(syncline("user", "add", "dora", "--quota", huge, "--password-stdin", "--data", data,
                                       stdin=SECRET + "\n"), "more than any disk holds")
        assert_one_line_error(syncline("user", "set", "bob", "--quota", huge, "--data", data), "more than any disk")
    accounts = open_accounts(data)
    try:
        assert accounts.users.get("dora") is None, "a refused add made nobody"
        with pytest.raises(WireError):
            accounts.users.set_quota("bob", 1 << 63)
    finally:
        accounts.close()
