"""Helpers of the WebDAV tests: Basic headers, a world with files in it, PROPFIND bodies and their parsing."""

from __future__ import annotations

import base64
import hashlib
import os
import shutil
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path
from urllib.parse import unquote, urlsplit

import httpx
import pytest

from syncline.formats.wire.ops import new_op_id

from ..daemonserver import DEADLINE, PASSWORD, USER, Server, syncline
from ..server.apphelp import World, make_world, ops_body, put_file, run

DAV = "{DAV:}"
OC = "{http://owncloud.org/ns}"
# What owncloudcmd 2.11 asks on every folder (discoveryphase.cpp; data-fingerprint on the root only).
DESKTOP_PROPFIND = b"""<?xml version="1.0" encoding="utf-8"?>
<d:propfind xmlns:d="DAV:"><d:prop xmlns:oc="http://owncloud.org/ns" xmlns:nc="http://nextcloud.org/ns">
<d:resourcetype/><d:getlastmodified/><d:getcontentlength/><d:getetag/><oc:size/><oc:id/><oc:fileid/>
<oc:downloadURL/><oc:dDC/><oc:permissions/><oc:checksums/><oc:data-fingerprint/><oc:share-types/>
<nc:is-encrypted/></d:prop></d:propfind>"""
FILES = {"a.txt": b"hello world", "sub/b.bin": bytes(range(256)) * 4, "sub/deeper/c.txt": b"c",
         "caf\u00e9 #%&.txt": b"odd name"}


def basic(user: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


def dav_client(w: World, user: str = "anna", password: str | None = None) -> httpx.AsyncClient:
    """A client of the in-process app that authenticates with Basic (the user's device token by default)."""
    secret = w.tokens[user] if password is None else password
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=w.app), base_url="http://testserver",
                             headers=basic(user, secret))


def docs_world(tmp_path: Path) -> World:
    """anna's folder Docs holding :data:`FILES`; bob has nothing of it."""
    w = make_world(tmp_path)

    async def setup() -> None:
        async with w.client("anna") as c:
            assert (await c.put("/v1/folders/Docs")).status_code == 201
            dirs = [{"id": new_op_id(), "op": "mkdir", "path": d, "expect": None,
                     "entry": {"mode": 0o755, "mtime_ns": 1_700_000_000_000_000_000}} for d in ("sub", "sub/deeper")]
            r = await c.post("/v1/folders/Docs/ops", json=ops_body(*dirs))
            assert "error" not in r.text, r.text
            for path, data in FILES.items():
                assert "error" not in await put_file(c, "Docs", path, data)

    run(setup())
    return w


def share(w: World, folder: str, member: str, rights: str) -> None:
    """Share anna's ``folder`` with ``member`` (accepted under the same name)."""
    async def go() -> None:
        async with w.client("anna") as c:
            r = await c.put(f"/v1/folders/{folder}/members/{member}", json={"rights": rights})
            assert r.status_code == 201, r.text
        uid = w.store.folders.get(w.device("anna").user_id, folder).uid  # type: ignore[union-attr]
        async with w.client(member) as c:
            assert (await c.post(f"/v1/shares/{uid}/accept", json={})).status_code == 200

    run(go())


def responses(body: bytes) -> list[tuple[str, dict[str, str | None], list[str]]]:
    """A multistatus as (decoded href, {prop tag: text} of the 200 propstat, [tags of the 404 one])."""
    out = []
    for response in ET.fromstring(body).iter(f"{DAV}response"):
        href = unquote(response.findtext(f"{DAV}href") or "")
        found: dict[str, str | None] = {}
        missing: list[str] = []
        for propstat in response.iter(f"{DAV}propstat"):
            status = propstat.findtext(f"{DAV}status") or ""
            for prop in propstat.iter(f"{DAV}prop"):
                for child in prop:
                    if " 200 " in status:
                        inner = "".join(ET.tostring(c, encoding="unicode") for c in child)
                        found[child.tag] = inner or child.text
                    else:
                        missing.append(child.tag)
        out.append((href, found, missing))
    return out


def program(name: str, *needs: Path) -> str:
    """The installed program ``name`` (and the files it ``needs``): skipped when missing, failed under
    ``CI=true`` (CI installs every peer, so a missing one must never pass as green)."""
    found = shutil.which(name)
    if found is None or not all(p.exists() for p in needs):
        if os.environ.get("CI") == "true":
            pytest.fail(f"{name} is not installed")
        pytest.skip(f"{name} is not installed")
    return found


def app_password(server: Server, base: Path, name: str = "clients") -> str:
    """An app password of the default user, made as a person would: ``syncline app-password add``."""
    made = syncline("app-password", "add", name, "--user", USER, "--password-stdin", "--server", server.url,
                    stdin=PASSWORD + "\n",
                    env={"SYNCLINE_STATE_DIR": str(base / "state"), "XDG_CONFIG_HOME": str(base / "xdg")})
    assert made.returncode == 0, made.stderr
    token = made.stdout.strip()
    assert token.startswith("slt_") and "\n" not in token and token not in made.stderr
    return token


EXCLUDES = Path("/etc/Nextcloud/sync-exclude.lst")  # both desktop clients stop without a system exclude list
CLIENT_FILES = (".sync_", "._sync_", ".owncloudsync", ".nextcloudsync")


class Client:
    """One desktop client syncing ``local`` with the server folder Shared."""

    def __init__(self, name: str, local: Path, home: Path, url: str, token: str) -> None:
        self.local, self.home = local, home
        local.mkdir()
        home.mkdir()
        common = [program(name, EXCLUDES), "--non-interactive", "--trust", "-u", USER, "-p", token, "--exclude",
                  str(EXCLUDES), "--max-sync-retries", "3", "--logdebug"]
        self.args = [*common, "--path", "/Shared", str(local), url] if name == "nextcloudcmd" else \
            [*common, str(local), f"{url}/remote.php/webdav/Shared"]

    def run(self) -> str:
        env = {**os.environ, "HOME": str(self.home), "XDG_CONFIG_HOME": str(self.home / ".config"),
               "XDG_DATA_HOME": str(self.home / ".local"), "QT_QPA_PLATFORM": "offscreen"}
        done = subprocess.run(self.args, capture_output=True, text=True, timeout=DEADLINE * 5, env=env)
        log = done.stdout + done.stderr
        assert done.returncode == 0, log[-4000:]
        return log

    def tree(self) -> dict[str, str]:
        return {p.relative_to(self.local).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
                for p in self.local.rglob("*") if p.is_file() and not p.name.startswith(CLIENT_FILES)}


def server_tree(web: httpx.Client, under: str = "/remote.php/webdav/Shared/") -> dict[str, str]:
    """The server folder's files (PROPFIND Depth 1 walked, then GET), by path: SHA-256."""
    out: dict[str, str] = {}
    todo = [under]
    root = unquote(under)
    while todo:
        url = todo.pop()
        r = web.request("PROPFIND", url, headers={"Depth": "1"})
        assert r.status_code == 207, r.text
        for response in ET.fromstring(r.content).iter("{DAV:}response"):
            href = response.findtext("{DAV:}href") or ""
            if unquote(href) == unquote(url):
                continue
            if response.find(".//{DAV:}collection") is not None:
                todo.append(urlsplit(href).path)
            else:
                got = web.get(href)
                assert got.status_code == 200
                out[unquote(href)[len(root):]] = hashlib.sha256(got.content).hexdigest()
    return out


def write(root: Path, path: str, data: bytes) -> None:
    (root / path).parent.mkdir(parents=True, exist_ok=True)
    (root / path).write_bytes(data)
