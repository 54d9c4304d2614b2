"""A hostile or broken WebDAV server (httpx's MockTransport, no network): every answer that breaks the
rules is refused cleanly (one ``ReplicaError``, not retryable, nothing taken as deleted), and no path a
plan gives can make a request land outside the collection."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from syncline.core.entry import DIR, FILE, Entry
from syncline.core.ignore import Rules
from syncline.engine.replicas.errors import ReplicaError
from syncline.engine.replicas.replica import WritePolicy
from syncline.engine.replicas.webdav import DavCredentials, WebdavReplica, parse_dav

pytestmark = pytest.mark.timeout(30)

BASE = "/share/"


def multistatus(*responses: str) -> bytes:
    return ('<?xml version="1.0" encoding="utf-8"?><d:multistatus xmlns:d="DAV:">'
            + "".join(responses) + "</d:multistatus>").encode()


def response(href: str, folder: bool = False, size: int = 1) -> str:
    kind = "<d:collection/>" if folder else ""
    length = "" if folder else f"<d:getcontentlength>{size}</d:getcontentlength>"
    return (f"<d:response><d:href>{href}</d:href><d:propstat><d:prop><d:resourcetype>{kind}</d:resourcetype>"
            f"{length}<d:getlastmodified>Tue, 14 Nov 2023 22:13:20 GMT</d:getlastmodified>"
            f'<d:getetag>"e-{href}"</d:getetag></d:prop><d:status>HTTP/1.1 200 OK</d:status></d:propstat>'
            "</d:response>")


ROOT = response(BASE, folder=True)
Handler = Callable[[httpx.Request], httpx.Response]


def replica_for(handler: Handler, tmp: Path, seen: list[httpx.Request] | None = None) -> WebdavReplica:
    def recorded(request: httpx.Request) -> httpx.Response:
        if seen is not None:
            seen.append(request)
        if request.method == "OPTIONS":
            return httpx.Response(200, headers={"DAV": "1, 2"})
        return handler(request)

    http = httpx.Client(transport=httpx.MockTransport(recorded))
    return WebdavReplica(parse_dav("webdav://h:80/share"), DavCredentials("http://h:80", "anna", "pw"),
                         state_dir=tmp, http=http)


@pytest.fixture
def tmp(tmp_path: Path) -> Iterator[Path]:
    yield tmp_path


def answering(body: bytes | Iterator[bytes], status: int = 207, headers: dict[str, str] | None = None) -> Handler:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.method == "PROPFIND":
            return httpx.Response(status, content=body, headers=headers or {})
        return httpx.Response(404)

    return handler


BOMB = b"""<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;">]><d:multistatus xmlns:d="DAV:"><d:response>
<d:href>/share/&lol3;</d:href></d:response></d:multistatus>"""
XXE = b"""<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>
<d:multistatus xmlns:d="DAV:"><d:response><d:href>/share/&e;</d:href></d:response></d:multistatus>"""


@pytest.mark.parametrize(("body", "words"), [
    (b"<not xml", "not safe, well-formed XML"),
    (BOMB, "not safe, well-formed XML"),
    (XXE, "not safe, well-formed XML"),
    (b'<?xml version="1.0"?><html/>', "not a multistatus"),
    (multistatus(ROOT, response("/other/secret.txt")), "outside the folder"),
    (multistatus(ROOT, response("/share/../etc/passwd")), "outside the folder"),
    (multistatus(ROOT, response("/share/a%2F..%2F..%2Fetc")), "outside the folder"),
    (multistatus(ROOT, response("http://evil.example/share/x")), "outside the folder"),
    (multistatus(ROOT, response("/share/a/deeper")), "not a child"),
    (multistatus(ROOT, response("/share/x"), response("/share/x")), "listed twice"),
    (multistatus(response("/share/x")), "does not name the folder"),
    (multistatus(ROOT, response("/share/x", size=-1).replace("-1", "-1")), "not a number"),
    (multistatus(ROOT, "<d:response><d:propstat/></d:response>"), "without an href"),
])
def test_a_broken_or_hostile_listing_is_refused_whole(body: bytes, words: str, tmp: Path) -> None:
    replica = replica_for(answering(body), tmp)
    with pytest.raises(ReplicaError, match=words) as refused:
        replica.scan(Rules(), False, "source")
    assert not refused.value.retryable and "\n" not in str(refused.value)
    replica.close()


def test_a_huge_answer_is_refused_without_reading_it_all(tmp: Path) -> None:
    sent = []

    def endless() -> Iterator[bytes]:
        yield multistatus(ROOT)[:-len(b"</d:multistatus>")]
        for _ in range(10_000):
            sent.append(1)
            yield b"<d:response><d:href>/share/x</d:href></d:response>" * 100

    replica = replica_for(answering(endless()), tmp)
    replica.client.max_answer = 1 << 20
    with pytest.raises(ReplicaError, match="over 1048576 bytes"):
        replica.scan(Rules(), False, "source")
    assert len(sent) < 400, "stopped reading soon after the bound"
    replica = replica_for(answering(b"", headers={"Content-Length": str(1 << 40)}), tmp)
    with pytest.raises(ReplicaError, match="an answer of"):
        replica.scan(Rules(), False, "source")


def test_a_folder_that_cannot_be_listed_is_unreadable_not_empty(tmp: Path) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == BASE:
            return httpx.Response(207, content=multistatus(ROOT, response("/share/sub/", folder=True)))
        return httpx.Response(403)

    replica = replica_for(handler, tmp)
    index = replica.scan(Rules(), False, "source")
    assert list(index) == ["sub"] and "sub" in index.unreadable and index.problems


@pytest.mark.parametrize("path", ["../x", "a/../../x", "/etc/passwd", "a//b", ".syncline/meta/x", "a/.syncline"])
def test_no_write_lands_outside_the_tree(path: str, tmp: Path) -> None:
    seen: list[httpx.Request] = []
    replica = replica_for(lambda request: httpx.Response(201), tmp, seen)
    f = Entry(FILE, 1, 0, 0o644)
    for call in (lambda: replica.make_dir(path, Entry(DIR, 0, 0, 0o755), None),
                 lambda: replica.delete(path, f), lambda: replica.set_meta(path, f, f),
                 lambda: replica.stat(path)):
        with pytest.raises(OSError):
            call()
    with pytest.raises(ValueError):
        replica.write_meta("../../escape", "x")
    assert not [r for r in seen if r.method != "OPTIONS"], [f"{r.method} {r.url}" for r in seen]


def test_writes_never_overwrite_without_a_condition(tmp: Path) -> None:
    """Every MOVE says ``Overwrite: F``; every MOVE or DELETE of a file the replica saw carries its etag."""
    seen: list[httpx.Request] = []
    etag = '"v1"'

    def handler(request: httpx.Request) -> httpx.Response:
        if request.method == "PROPFIND" and request.url.path == "/share/f":
            return httpx.Response(207, content=multistatus(response("/share/f").replace('"e-/share/f"', etag)))
        if request.method == "PROPFIND":
            return httpx.Response(404)
        return httpx.Response(201)

    replica = replica_for(handler, tmp, seen)
    seen_f = replica.stat("f")
    assert seen_f is not None
    assert replica.delete("f", seen_f).done
    replica = replica_for(handler, tmp, seen)
    replica.policy = WritePolicy(trash=False)
    assert replica.delete("f", seen_f).done
    moves = [r for r in seen if r.method == "MOVE"]
    deletes = [r for r in seen if r.method == "DELETE"]
    assert moves and all(r.headers["Overwrite"] == "F" and r.headers["If-Match"] == etag for r in moves)
    assert deletes and all(r.headers["If-Match"] == etag for r in deletes)


def test_an_upload_the_server_kept_short_is_never_committed(tmp: Path) -> None:
    """A server (or a proxy) that answers 201 to a PUT but keeps fewer bytes: the staging fails
    (retryable), nothing is moved into place."""
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        if request.method == "PROPFIND" and "/.syncline/tmp/" in request.url.path:
            return httpx.Response(207, content=multistatus(response(request.url.path, size=3)))
        if request.method == "PROPFIND":
            return httpx.Response(404)
        return httpx.Response(201)

    replica = replica_for(handler, tmp, seen)

    class Source:
        def __init__(self) -> None:
            self.entry = Entry(FILE, 10, 0, 0o644)
            self.data = [b"0123456789"]

        def readinto(self, buffer: memoryview) -> int:
            if not self.data:
                return 0
            piece = self.data.pop()
            buffer[:len(piece)] = piece
            return len(piece)

        def changed(self) -> bool:
            return False

    with pytest.raises(ReplicaError, match="kept 3 of the 10 bytes") as short:
        replica.stage_file("f", Source())
    assert short.value.retryable
    assert not [r for r in seen if r.method == "MOVE"]
    assert [r.method for r in seen if "/.syncline/tmp/" in r.url.path][-1] == "DELETE", "the short copy removed"
