"""The conflicts view's calls of the daemon's page (``services/daemon/ui/conflicts_api.py``) against a real
``syncline daemon`` process on 127.0.0.1: the listing with what to send back, each choice settled, a stale
``seen`` refused with nothing changed, hostile paths refused with nothing read outside the folder, and
``/api/file`` confined to the folder (a symlink out included), with the write guards of the page."""

from __future__ import annotations

import calendar
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import blake3
import pytest

from syncline.core.conflicts import conflict_name

from .test_daemon_ui import SAME, Running, call, log_in, start, with_page

T = calendar.timegm((2026, 11, 17, 9, 46, 40)) * 10**9
SECRET = b"the secret outside the folder\n"


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Running, str, str]]:
    """One daemon for the module (each test uses files of its own); its cookie and CSRF value."""
    running = with_page(start(tmp_path_factory.mktemp("conflicts")))
    (running.base / "secret.txt").write_bytes(SECRET)
    cookie, csrf = log_in(running)
    yield running, cookie, csrf
    running.stop()


def _pair(root: Path, original: str, mine: bytes | None = b"mine\n", theirs: bytes = b"theirs\n") -> str:
    """Writes ``original`` (``mine``; None: none) and its conflict copy (``theirs``); the copy's path."""
    copy = conflict_name(original, T, "laptop")
    (root / copy).parent.mkdir(parents=True, exist_ok=True)
    (root / copy).write_bytes(theirs)
    os.utime(root / copy, ns=(T, T))
    if mine is not None:
        (root / original).write_bytes(mine)
    return copy


def _get(d: tuple[Running, str, str], url: str, **params: str) -> tuple[int, dict[str, str], bytes]:
    running, cookie, _ = d
    return call(running.port, "GET", url + ("?" + urlencode(params) if params else ""), {"Cookie": cookie})


def _listed(d: tuple[Running, str, str], copy: str) -> dict[str, Any]:
    status, _, body = _get(d, "/api/conflicts")
    assert status == 200, body
    (folder,) = json.loads(body)["folders"]
    return next(c for c in folder["conflicts"] if c["path"] == copy)


def _resolve(d: tuple[Running, str, str], sent: Any, headers: dict[str, str] | None = None) -> tuple[int, Any]:
    running, cookie, csrf = d
    sent_headers = {**SAME, "Cookie": cookie, "X-Syncline-CSRF": csrf} if headers is None else headers
    status, _, body = call(running.port, "POST", "/api/conflicts/resolve", sent_headers, json.dumps(sent).encode())
    return status, json.loads(body)


def _files(root: Path, under: str) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted((root / under).rglob("*")) if p.is_file()}


def test_the_listing_gives_both_versions_and_what_to_send_back(daemon: tuple[Running, str, str]) -> None:
    root = daemon[0].local
    copy = _pair(root, "list/report.txt", b"one\ntwo\n", b"one\nthree\n")
    c = _listed(daemon, copy)
    assert c["original_path"] == "list/report.txt" and c["device"] == "laptop" and c["original_kind"] == "file"
    assert c["when"].startswith("2026-11-17T09:46:40")
    assert c["copy"] == {"size": 10, "mtime_ns": T, "digest": blake3.blake3(b"one\nthree\n").hexdigest()}
    assert c["original"]["digest"] == blake3.blake3(b"one\ntwo\n").hexdigest()
    status, _, body = _get(daemon, "/api/conflicts/diff", folder=str(root), path=copy)
    assert status == 200 and json.loads(body)["diff"][2:6] == ["@@ -1,3 +1,3 @@", " one", "-two", "+three"]
    picture = _pair(root, "list/photo.png", b"\x89PNG\r\n\x1a\n\0\0", b"\x89PNG\r\n\x1a\n\1\1")
    status, _, body = _get(daemon, "/api/conflicts/diff", folder=str(root), path=picture)
    assert status == 200 and json.loads(body) == {"diff": None}  # not text


CHOICES = {
    "keep_original": ({"report.txt": b"mine\n"}, b"theirs\n"),
    "keep_copy": ({"report.txt": b"theirs\n"}, b"mine\n"),
    "keep_both": ({"report.txt": b"mine\n", "report (conflict 2026-11-17 0946).txt": b"theirs\n"}, None),
}


@pytest.mark.parametrize("choice", list(CHOICES))
def test_each_choice_settles_the_conflict(daemon: tuple[Running, str, str], choice: str) -> None:
    root = daemon[0].local
    under = f"settle-{choice}"
    copy = _pair(root, f"{under}/report.txt")
    c = _listed(daemon, copy)
    status, done = _resolve(daemon, {"folder": str(root), "path": copy, "choice": choice,
                                     "seen": {"copy": c["copy"], "original": c["original"]}})
    assert status == 200, done
    kept, trashed = CHOICES[choice]
    assert _files(root, under) == {f"{under}/{name}": data for name, data in kept.items()}
    assert done["choice"] == choice
    if trashed is None:
        assert done["trashed"] is None
    else:
        assert done["trashed"].startswith(".syncline/trash/") and (root / done["trashed"]).read_bytes() == trashed


def test_a_stale_seen_is_refused_and_nothing_changes(daemon: tuple[Running, str, str]) -> None:
    root = daemon[0].local
    copy = _pair(root, "stale/report.txt")
    c = _listed(daemon, copy)
    (root / copy).write_bytes(b"edited since\n")
    before = _files(root, "stale")
    for choice in CHOICES:
        status, body = _resolve(daemon, {"folder": str(root), "path": copy, "choice": choice,
                                         "seen": {"copy": c["copy"], "original": c["original"]}})
        assert status == 409 and body["error"]["code"] == "changed", body
        assert "\n" not in body["error"]["message"]
    assert _files(root, "stale") == before


def test_a_write_without_the_csrf_header_or_cookie_is_refused(daemon: tuple[Running, str, str]) -> None:
    running, cookie, _ = daemon
    root = running.local
    copy = _pair(root, "csrf/report.txt")
    c = _listed(daemon, copy)
    sent = {"folder": str(root), "path": copy, "choice": "keep_copy",
            "seen": {"copy": c["copy"], "original": c["original"]}}
    before = _files(root, "csrf")
    assert _resolve(daemon, sent, {**SAME, "Cookie": cookie})[0] == 403
    assert _resolve(daemon, sent, {**SAME})[0] == 401
    for path in ("/api/conflicts", f"/api/file?folder={root}&path={copy}"):
        assert call(running.port, "GET", path)[0] == 401
    assert _files(root, "csrf") == before


@pytest.mark.parametrize("path", ["../secret.txt", "/etc/passwd", "a/../../secret.txt", ".syncline/x.sync-conflict-"
                                  "20261117-094640-laptop.txt", "plain.txt", "", 7, None])
def test_a_hostile_path_is_refused(daemon: tuple[Running, str, str], path: object) -> None:
    root = daemon[0].local
    seen = {"copy": {"size": 1, "mtime_ns": 1, "digest": "0" * 64}, "original": None}
    for choice in CHOICES:
        status, body = _resolve(daemon, {"folder": str(root), "path": path, "choice": choice, "seen": seen})
        assert status == 400 and "Traceback" not in json.dumps(body), body
    if isinstance(path, str):
        status, _, body = _get(daemon, "/api/conflicts/diff", folder=str(root), path=path)
        assert status == 400 and SECRET not in body


def test_a_folder_not_in_the_config_or_a_bad_request_is_refused(daemon: tuple[Running, str, str]) -> None:
    running = daemon[0]
    seen = {"copy": {"size": 1, "mtime_ns": 1, "digest": "0" * 64}, "original": None}
    copy = conflict_name("secret.txt", T, "laptop")
    status, body = _resolve(daemon, {"folder": str(running.base), "path": copy, "choice": "keep_copy", "seen": seen})
    assert status == 404 and body["error"]["code"] == "no_folder"
    assert _get(daemon, "/api/file", folder=str(running.base), path="secret.txt")[0] == 404
    assert _get(daemon, "/api/conflicts/diff", folder="/", path=copy)[0] == 404
    assert _resolve(daemon, {"folder": str(running.local)})[0] == 400
    assert _resolve(daemon, {"folder": str(running.local), "path": copy, "choice": "eat_it", "seen": seen})[0] == 400
    assert _resolve(daemon, {"folder": str(running.local), "path": copy, "choice": "keep_copy", "seen": {}})[0] == 400
    status, _, body = call(running.port, "POST", "/api/conflicts/resolve",
                           {**SAME, "Cookie": daemon[1], "X-Syncline-CSRF": daemon[2]}, b"{not json")
    assert status == 400 and json.loads(body)["error"]["message"] == "the body is not JSON"


def test_a_file_is_sent_as_an_attachment_and_a_picture_inline(daemon: tuple[Running, str, str]) -> None:
    root = daemon[0].local
    (root / "open").mkdir()
    (root / "open" / "page.html").write_bytes(b"<script>alert(1)</script>")
    big = os.urandom(300_000)  # several reads
    (root / "open" / "photo.png").write_bytes(big)
    status, headers, body = _get(daemon, "/api/file", folder=str(root), path="open/page.html", inline="1")
    assert status == 200 and body == b"<script>alert(1)</script>"
    assert headers["content-type"] == "application/octet-stream"
    assert headers["content-disposition"] == "attachment; filename*=UTF-8''page.html"
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["content-security-policy"].startswith("sandbox;")
    status, headers, body = _get(daemon, "/api/file", folder=str(root), path="open/photo.png")
    assert status == 200 and body == big and headers["content-disposition"].startswith("attachment;")
    status, headers, body = _get(daemon, "/api/file", folder=str(root), path="open/photo.png", inline="1")
    assert status == 200 and body == big and headers["content-type"] == "image/png"
    assert headers["content-disposition"].startswith("inline;") and headers["content-length"] == str(len(big))


def test_a_file_outside_the_folder_is_never_read(daemon: tuple[Running, str, str]) -> None:
    running = daemon[0]
    root = running.local
    (root / "out").mkdir()
    (root / "out" / "link.txt").symlink_to(running.base / "secret.txt")
    (root / "out" / "dir").symlink_to(running.base, target_is_directory=True)
    (root / ".syncline").mkdir(exist_ok=True)
    (root / ".syncline" / "mine.txt").write_bytes(SECRET)
    cases = {"out/link.txt": 404, "out/dir/secret.txt": 404, "out": 404, "out/none.txt": 404,
             "../secret.txt": 400, "out/../../secret.txt": 400, str(running.base / "secret.txt"): 400,
             ".syncline/mine.txt": 400, "out/./link.txt": 400, "": 400}
    for path, expected in cases.items():
        status, _, body = _get(daemon, "/api/file", folder=str(root), path=path)
        assert (path, status) == (path, expected) and SECRET not in body
        assert json.loads(body)["error"]["message"].count("\n") == 0


def test_too_many_query_fields_is_400(daemon: tuple[Running, str, str]) -> None:
    query = "&".join(f"f{i}=x" for i in range(20))
    for url in ("/api/file", "/api/conflicts/diff"):
        status, _, body = call(daemon[0].port, "GET", f"{url}?{query}", {"Cookie": daemon[1]})
        assert status == 400 and json.loads(body)["error"]["code"] == "bad_request"
