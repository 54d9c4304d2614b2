"""The OC dialect (ownCloud, Nextcloud, our server) against a small fake in process (httpx's
MockTransport): the probe finds it through ``status.php``, and with its recursive folder etags a scan
after no change is one PROPFIND of the root, a deep change costs only the folders on its way."""

from __future__ import annotations

import hashlib
import json
import re
from email.utils import formatdate
from pathlib import Path

import httpx
import pytest

from syncline.core.ignore import Rules
from syncline.engine.replicas.webdav import DavCredentials, WebdavReplica, parse_dav

pytestmark = pytest.mark.timeout(30)

DAV = "/remote.php/dav/files/anna/F/"
T = 1_700_000_000


class FakeOC:
    """A tree of files (path -> bytes) served as an OC server would list it: a folder's etag is a hash of
    everything below it, files carry ``oc:fileid``."""

    def __init__(self, files: dict[str, bytes], oc: bool = True, root_permissions: str = "RDNVCK",
                 product: str = "Nextcloud") -> None:
        self.files = files
        self.oc = oc
        self.ids: dict[str, int] = {}
        self.mtimes: dict[str, int] = {}
        self.root_permissions = root_permissions
        self.product = product
        self.propfinds: list[str] = []

    def folders(self) -> set[str]:
        out = {""}
        for p in self.files:
            parts = p.split("/")
            out.update("/".join(parts[:i]) for i in range(1, len(parts)))
        return out

    def etag(self, path: str) -> str:
        if path in self.files:
            return '"' + hashlib.sha1(self.files[path]).hexdigest()[:12] + '"'
        below = sorted((p, d) for p, d in self.files.items() if path == "" or p.startswith(path + "/"))
        return '"' + hashlib.sha1(repr(below).encode()).hexdigest()[:12] + '"'

    def response(self, path: str) -> str:
        folder = path in self.folders()
        href = DAV + path + ("/" if folder and path else "")
        kind = "<d:collection/>" if folder else ""
        size = "" if folder else f"<d:getcontentlength>{len(self.files[path])}</d:getcontentlength>"
        fileid = self.ids.setdefault(path, 1000 + len(self.ids))
        perms = self.root_permissions if path == "" else ("RDNVCK" if folder else "RDNVW")
        return (f"<d:response><d:href>{href}</d:href><d:propstat><d:prop><d:resourcetype>{kind}</d:resourcetype>"
                f"{size}<d:getlastmodified>{formatdate(self.mtimes.get(path, T), usegmt=True)}</d:getlastmodified>"
                f"<d:getetag>{self.etag(path)}</d:getetag><oc:fileid>{fileid}</oc:fileid>"
                f"<oc:permissions>{perms}</oc:permissions></d:prop>"
                "<d:status>HTTP/1.1 200 OK</d:status></d:propstat></d:response>")

    def __call__(self, request: httpx.Request) -> httpx.Response:
        url = request.url.path
        if request.method == "OPTIONS":
            return httpx.Response(200, headers={"DAV": "1, 2, 3"})
        if url == "/status.php" and self.oc:
            return httpx.Response(200, json={"installed": True, "version": "10.11.0.0", "productname": self.product})
        if url == "/ocs/v1.php/cloud/capabilities":
            return httpx.Response(200, content=json.dumps(
                {"ocs": {"data": {"capabilities": {"dav": {"chunking": "1.0"}}}}}))
        if request.method == "PROPPATCH" and url.startswith(DAV):
            path = url[len(DAV):].strip("/")
            if request.headers.get("If-Match", self.etag(path)) != self.etag(path):
                return httpx.Response(412)
            seconds = re.search(rb"<d:lastmodified>(\d+)</d:lastmodified>", request.content)
            assert seconds is not None
            self.mtimes[path] = int(seconds.group(1))
            return httpx.Response(207, content=(
                f'<?xml version="1.0"?><d:multistatus xmlns:d="DAV:"><d:response><d:href>{url}</d:href>'
                "<d:propstat><d:prop><d:lastmodified/></d:prop><d:status>HTTP/1.1 200 OK</d:status></d:propstat>"
                "</d:response></d:multistatus>").encode())
        if request.method == "GET" and url.startswith(DAV) and url[len(DAV):] in self.files:
            return httpx.Response(200, content=self.files[url[len(DAV):]])
        if request.method == "PROPFIND" and url.startswith(DAV[:-1]):
            path = url[len(DAV):].strip("/") if url != DAV[:-1] else ""
            self.propfinds.append(path)
            if path not in self.folders() and path not in self.files:
                return httpx.Response(404)
            kids = [] if request.headers["Depth"] == "0" or path in self.files else sorted(
                {(p[len(path) + 1:] if path else p).split("/")[0] for p in self.files
                 if path == "" or p.startswith(path + "/")})
            body = self.response(path) + "".join(self.response(f"{path}/{k}" if path else k) for k in kids)
            return httpx.Response(207, content=('<?xml version="1.0"?><d:multistatus xmlns:d="DAV:" '
                                                f'xmlns:oc="http://owncloud.org/ns">{body}</d:multistatus>').encode(),
                                  headers={"Content-Type": "application/xml; charset=utf-8"})
        return httpx.Response(404)


def replica(fake: FakeOC, state: Path) -> WebdavReplica:
    http = httpx.Client(transport=httpx.MockTransport(fake))
    return WebdavReplica(parse_dav("http://h:80" + DAV), DavCredentials("http://h:80", "anna", "pw"),
                         state_dir=state, http=http)


def test_unchanged_subtrees_are_taken_from_the_cache(tmp_path: Path) -> None:
    fake = FakeOC({f"d{i}/sub/f{j}": f"{i}-{j}".encode() for i in range(5) for j in range(3)} | {"top": b"t"})
    first = replica(fake, tmp_path)
    assert first.dialect().oc and first.dialect().chunking
    index = first.scan(Rules(), False, "source")
    assert len(fake.propfinds) == 11 and len(index) == 1 + 5 * 5, (fake.propfinds, list(index))
    assert index["d0/sub/f0"].file_id and index["d0/sub/f0"].etag
    first.close()

    fake.propfinds.clear()
    again = replica(fake, tmp_path)
    assert dict(again.scan(Rules(), False, "source").items()) == dict(index.items())
    assert fake.propfinds == [""], "a run after no change: one PROPFIND of the root"

    fake.propfinds.clear()
    fake.files["d3/sub/f1"] = b"edited"
    changed = again.scan(Rules(), False, "source")
    assert sorted(fake.propfinds) == ["", "d3", "d3/sub"], "only the folders on the way of the change"
    assert changed["d3/sub/f1"].size == 6 and changed["d0/sub/f0"] == index["d0/sub/f0"]
    again.close()


def test_a_plain_server_is_listed_whole_every_run(tmp_path: Path) -> None:
    fake = FakeOC({"a/b": b"x", "c/d": b"y"}, oc=False)  # folder etags, but no status.php: not trusted
    plain = replica(fake, tmp_path)
    assert not plain.dialect().oc
    for _ in range(2):
        fake.propfinds.clear()
        plain.scan(Rules(), False, "source")
        assert sorted(fake.propfinds) == ["", "a", "c"]
    plain.close()


def test_file_ids_are_found_on_an_oc_server_only(tmp_path: Path) -> None:
    fake = FakeOC({"a/b": b"x", "c/d": b"y"})
    oc = replica(fake, tmp_path / "oc")
    index = oc.scan(Rules(), False, "source")
    b, d = index["a/b"].file_id, index["c/d"].file_id
    fake.files["moved/b"] = fake.files.pop("a/b")
    fake.ids["moved/b"] = fake.ids.pop("a/b")  # a rename keeps the file id
    assert oc.find_file_ids([b, d, "999"]) == {b: ["moved/b"], d: ["c/d"]}
    oc.close()
    plain = replica(FakeOC({"a/b": b"x"}, oc=False), tmp_path / "plain")
    assert plain.find_file_ids([b]) is None
    plain.close()


def test_a_scoped_scan_on_a_plain_server_lists_only_what_it_needs(tmp_path: Path) -> None:
    fake = FakeOC({f"d{i}/sub/f": b"x" for i in range(20)} | {"d3/deep/er/g": b"y", "d3/.synclineignore": b"*.tmp"},
                  oc=False)
    plain = replica(fake, tmp_path)
    whole = plain.scan(Rules(), False, "source")
    fake.propfinds.clear()
    part = plain.scan_dirs([("d3/deep", True), ("d5", False)], Rules(), "source")
    assert sorted(fake.propfinds) == ["", "d3", "d3/deep", "d3/deep/er", "d5"], fake.propfinds
    assert list(part) == ["d3/deep", "d3/deep/er", "d3/deep/er/g", "d5", "d5/sub"], list(part)
    assert all(part[p] == whole[p] for p in part), "as the full scan records them"
    assert not part.problems and not whole.problems
    plain.close()


def test_an_mtime_is_set_on_an_oc_server_itself(tmp_path: Path) -> None:
    fake = FakeOC({"a/b": b"x"})
    oc = replica(fake, tmp_path)
    seen = oc.stat("a/b")
    assert seen is not None and seen.mtime_ns == T * 10**9
    assert oc.set_meta("a/b", seen._replace(mtime_ns=(T + 60) * 10**9 + 5), seen).done
    assert fake.mtimes == {"a/b": T + 60}, "PROPPATCH {DAV:}lastmodified, in seconds"
    oc.close()
    fresh = replica(fake, tmp_path / "elsewhere")  # another device: no shadow, the server's own mtime
    now = fresh.stat("a/b")
    assert now is not None and now.mtime_ns == (T + 60) * 10**9
    fresh.close()


@pytest.mark.parametrize(("permissions", "writable"), [("RDNVCK", True), ("SRDNVCK", True), ("S", False),
                                                        ("SR", False), ("RGDNV", False)])
def test_a_read_only_share_is_not_writable(tmp_path: Path, permissions: str, writable: bool) -> None:
    share = replica(FakeOC({"a": b"x"}, root_permissions=permissions), tmp_path)
    assert share.features().writable, "writable until the server says otherwise"
    share.scan(Rules(), False, "source")
    assert share.features().writable is writable
    share.close()


def test_a_syncline_server_is_an_oc_server(tmp_path: Path) -> None:
    """Our server over WebDAV is taken as any OC server (tests/test_webdav_ours.py runs it for real)."""
    ours = replica(FakeOC({"a": b"x"}, product="syncline"), tmp_path)
    assert list(ours.scan(Rules(), False, "source")) == ["a"]
    assert ours.dialect().oc and ours.features().keeps_versions
    ours.close()
