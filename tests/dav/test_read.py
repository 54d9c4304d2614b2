"""WebDAV reads on the in-process app (httpx ASGITransport): OPTIONS, PROPFIND shapes the desktop clients
require, GET and HEAD with conditions and ranges, and who sees what (owner, rw and ro shares, others)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from syncline.formats.wire.ops import new_op_id
from syncline.server.checksummer import fill_sha1
from syncline.server.store.davprops import DeadProp

from ..server.apphelp import World, ops_body, put_file, run
from .davhelp import DAV, DESKTOP_PROPFIND, FILES, OC, dav_client, docs_world, responses, share

OLD = "/remote.php/webdav"


@pytest.fixture
def w(tmp_path: Path) -> World:
    return docs_world(tmp_path)


def _propfind(w: World, url: str, body: bytes = DESKTOP_PROPFIND, depth: str = "1", user: str = "anna"):  # type: ignore[no-untyped-def]
    async def go():  # type: ignore[no-untyped-def]
        async with dav_client(w, user) as c:
            return await c.request("PROPFIND", url, content=body, headers={"Depth": depth})

    return run(go())


def test_options_needs_no_auth_and_says_dav_1_2(w: World) -> None:
    async def go() -> None:
        async with dav_client(w) as c:
            c.headers.pop("Authorization")
            r = await c.options(f"{OLD}/Docs/")
            assert r.status_code == 200 and r.headers["DAV"] == "1, 2"
            assert {"PROPFIND", "GET", "HEAD", "OPTIONS"} <= {m.strip() for m in r.headers["Allow"].split(",")}

    run(go())


def test_propfind_of_a_folder_answers_what_the_desktop_client_needs(w: World) -> None:
    r = _propfind(w, f"{OLD}/Docs/")
    assert r.status_code == 207
    assert "application/xml; charset=utf-8" in r.headers["content-type"]
    got = responses(r.content)
    hrefs = [h for h, _, _ in got]
    assert hrefs == [f"{OLD}/Docs/", f"{OLD}/Docs/a.txt", f"{OLD}/Docs/caf\u00e9 #%&.txt", f"{OLD}/Docs/sub/"]
    root = got[0][1]
    assert root[f"{DAV}getetag"].startswith('"t') and "collection" in (root[f"{DAV}resourcetype"] or "")
    assert root[f"{OC}permissions"] == "CK"
    ids = set()
    for href, found, _ in got[1:]:
        assert found[f"{DAV}getetag"] and found[f"{OC}id"] and found[f"{OC}permissions"] is not None
        ids.add(found[f"{OC}id"])
        assert found[f"{OC}id"].startswith(f"{int(found[f'{OC}fileid'] or ''):08d}oc")
        if href.endswith("/"):
            assert found[f"{DAV}getetag"].startswith('"t') and found[f"{OC}permissions"] == "WDNVCK"
        else:
            name = href.rpartition("/Docs/")[2]
            assert found[f"{DAV}getcontentlength"] == str(len(FILES[name]))
            assert found[f"{DAV}getetag"].startswith('"v') and found[f"{OC}permissions"] == "WDNV"
            assert found[f"{DAV}getlastmodified"].endswith(" GMT")
    assert len(ids) == 3


def test_propfind_variants(w: World) -> None:
    one = _propfind(w, f"{OLD}/Docs/sub/b.bin", depth="0")
    assert [h for h, _, _ in responses(one.content)] == [f"{OLD}/Docs/sub/b.bin"]
    everything = responses(_propfind(w, f"{OLD}/Docs/sub", body=b"", depth="1").content)
    assert [h for h, _, _ in everything] == [f"{OLD}/Docs/sub/", f"{OLD}/Docs/sub/b.bin", f"{OLD}/Docs/sub/deeper/"]
    assert f"{DAV}displayname" in everything[1][1] and not everything[1][2]
    names = responses(_propfind(w, f"{OLD}/Docs/a.txt", b'<propfind xmlns="DAV:"><propname/></propfind>', "0").content)
    assert f"{DAV}getetag" in names[0][1] and names[0][1][f"{DAV}getetag"] is None
    odd = b'<propfind xmlns="DAV:"><prop><getetag/><x:nothing xmlns:x="urn:x"/></prop></propfind>'
    _, found, missing = responses(_propfind(w, f"{OLD}/Docs/a.txt", odd, "0").content)[0]
    assert list(found) == [f"{DAV}getetag"] and missing == ["{urn:x}nothing"]
    quota = b'<propfind xmlns="DAV:"><prop><quota-used-bytes/><quota-available-bytes/></prop></propfind>'
    q = responses(_propfind(w, f"{OLD}/Docs/", quota, "0").content)[0][1]
    assert q[f"{DAV}quota-used-bytes"] == str(sum(len(v) for v in FILES.values()))
    assert q[f"{DAV}quota-available-bytes"] == "-3"
    deep = _propfind(w, f"{OLD}/Docs/", depth="infinity")
    assert deep.status_code == 403 and b"propfind-finite-depth" in deep.content
    assert _propfind(w, f"{OLD}/Docs/", depth="2").status_code == 400
    assert _propfind(w, f"{OLD}/Docs/", body=b"<!DOCTYPE x><x/>").status_code == 400
    assert _propfind(w, f"{OLD}/Docs/", body=b"<a>" + b" " * (2 << 20) + b"</a>").status_code == 413
    assert _propfind(w, f"{OLD}/Docs/nothing").status_code == 404
    assert _propfind(w, f"{OLD}/Docs/a.txt/under").status_code == 404
    assert _propfind(w, f"{OLD}/Docs/a%2Fb").status_code == 400
    assert _propfind(w, f"{OLD}/Docs/.syncline").status_code == 400


def test_the_new_dav_path_serves_the_same_tree_and_other_users_are_404(w: World) -> None:
    old = responses(_propfind(w, f"{OLD}/Docs/").content)
    new = responses(_propfind(w, "/remote.php/dav/files/anna/Docs/").content)
    assert [(h.replace("/remote.php/dav/files/anna", OLD), f) for h, f, _ in new] == [(h, f) for h, f, _ in old]
    assert _propfind(w, "/remote.php/dav/files/bob/Docs/").status_code == 404
    assert _propfind(w, "/dav/Docs/", depth="0").status_code == 207


def test_the_namespace_root_lists_own_folders_and_accepted_shares(w: World) -> None:
    share(w, "Docs", "bob", "ro")

    async def bob_folder() -> None:
        async with w.client("bob") as c:
            assert (await c.put("/v1/folders/Mine")).status_code == 201

    run(bob_folder())
    got = responses(_propfind(w, f"{OLD}/", user="bob").content)
    assert [h for h, _, _ in got] == [f"{OLD}/", f"{OLD}/Docs/", f"{OLD}/Mine/"]
    assert got[0][1][f"{OC}permissions"] == "K"
    assert got[1][1][f"{OC}permissions"] == "S" and got[2][1][f"{OC}permissions"] == "CK"
    assert responses(_propfind(w, f"{OLD}/", user="root").content)[1:] == []


def test_rights_a_non_member_sees_nothing_and_a_read_only_share_may_do_nothing(w: World) -> None:
    assert _propfind(w, f"{OLD}/Docs/", user="bob").status_code == 404
    share(w, "Docs", "bob", "ro")
    for _, found, _ in responses(_propfind(w, f"{OLD}/Docs/", user="bob").content):
        assert not set(found[f"{OC}permissions"] or "") & set("WDNVCK")
    share(w, "Docs", "root", "rw")
    perms = [f[f"{OC}permissions"] for _, f, _ in responses(_propfind(w, f"{OLD}/Docs/", user="root").content)]
    assert perms == ["SCK", "SWDNV", "SWDNV", "SWDNVCK"]


def test_a_folder_etag_moves_when_something_below_changes(w: World) -> None:
    def etags() -> dict[str, str | None]:
        return {h: f[f"{DAV}getetag"] for h, f, _ in responses(_propfind(w, f"{OLD}/Docs/").content)}

    before = etags()

    async def edit() -> None:
        async with w.client("anna") as c:
            await put_file(c, "Docs", "sub/deeper/new.txt", b"new")

    run(edit())
    after = etags()
    assert after[f"{OLD}/Docs/"] != before[f"{OLD}/Docs/"] and after[f"{OLD}/Docs/sub/"] != before[f"{OLD}/Docs/sub/"]
    assert after[f"{OLD}/Docs/a.txt"] == before[f"{OLD}/Docs/a.txt"]


def test_get_and_head_with_conditions_and_ranges(w: World) -> None:
    url = f"{OLD}/Docs/sub/b.bin"
    data = FILES["sub/b.bin"]

    async def go() -> None:
        async with dav_client(w) as c:
            r = await c.get(url)
            assert r.status_code == 200 and r.content == data
            etag = r.headers["ETag"]
            assert etag.startswith('"v') and r.headers["OC-ETag"] == etag and r.headers["Accept-Ranges"] == "bytes"
            assert r.headers["Content-Length"] == str(len(data)) and r.headers["Last-Modified"].endswith("GMT")
            listed = responses((await c.request("PROPFIND", url, content=DESKTOP_PROPFIND,
                                                headers={"Depth": "0"})).content)[0][1]
            assert listed[f"{OC}id"] == r.headers["OC-FileId"] and listed[f"{DAV}getetag"] == etag
            head = await c.head(url)
            assert head.status_code == 200 and head.content == b"" and head.headers["Content-Length"] == str(len(data))
            part = await c.get(url, headers={"Range": "bytes=10-19"})
            assert part.status_code == 206 and part.content == data[10:20]
            assert part.headers["Content-Range"] == f"bytes 10-19/{len(data)}"
            tail = await c.get(url, headers={"Range": "bytes=1000-"})
            assert tail.status_code == 206 and tail.content == data[1000:]
            several = await c.get(url, headers={"Range": "bytes=0-1,5-6"})
            assert several.status_code == 200 and several.content == data
            past = await c.get(url, headers={"Range": f"bytes={len(data)}-"})
            assert past.status_code == 416 and past.headers["Content-Range"] == f"bytes */{len(data)}"
            assert (await c.get(url, headers={"Range": "bogus"})).content == data
            stale = await c.get(url, headers={"Range": "bytes=0-1", "If-Range": '"v1"'})
            assert stale.status_code == 200 and stale.content == data
            fresh = await c.get(url, headers={"Range": "bytes=0-1", "If-Range": etag})
            assert fresh.status_code == 206 and fresh.content == data[:2]
            assert (await c.get(url, headers={"If-None-Match": etag})).status_code == 304
            assert (await c.get(url, headers={"If-Match": etag})).status_code == 200
            assert (await c.get(url, headers={"If-Match": '"v999"'})).status_code == 412
            assert (await c.get(f"{OLD}/Docs/sub/")).status_code == 405
            assert (await c.get(f"{OLD}/Docs/none")).status_code == 404
            assert (await c.get(f"{OLD}/Docs/a.txt/x")).status_code == 404
            assert (await c.get(f"{OLD}/Docs/a%2F..%2Fb")).status_code == 400

    run(go())


def test_symlinks_are_not_webdav_resources(w: World) -> None:
    async def link() -> None:
        async with w.client("anna") as c:
            item = {"id": new_op_id(), "op": "symlink", "path": "l", "expect": None,
                    "entry": {"target": "a.txt", "mode": 0o777, "mtime_ns": 6}}
            assert "error" not in (await c.post("/v1/folders/Docs/ops", json=ops_body(item))).text

    run(link())
    assert f"{OLD}/Docs/l" not in [h for h, _, _ in responses(_propfind(w, f"{OLD}/Docs/").content)]
    assert _propfind(w, f"{OLD}/Docs/l", depth="0").status_code == 404

    async def get() -> None:
        async with dav_client(w) as c:
            assert (await c.get(f"{OLD}/Docs/l")).status_code == 404

    run(get())


HOSTILE_HEADERS: list[dict[str, str]] = [
    {}, {"Depth": "x" * 100}, {"Range": "bytes=" + "9" * 40 + "-"}, {"Range": "bytes=-0"}, {"If-Match": ""},
    {"If-None-Match": ","}, {"If-Range": "x"}, {"Depth": "0", "Content-Type": "text/xml"},
    {"Destination": "http://evil/x"}, {"Overwrite": "Q"}, {"Content-Length": "5"},
]


def test_hostile_requests_are_never_a_server_error(w: World) -> None:
    urls = ["/remote.php", "/remote.php/", f"{OLD}", f"{OLD}/Docs/a.txt", f"{OLD}/Docs/%FF", f"{OLD}/Docs/..%2F..",
            "/remote.php/dav/", "/remote.php/dav/files/anna/", "/remote.php/dav/files/%00/", "/dav",
            f"{OLD}/Nope/x", f"{OLD}/Docs/a.txt/", "/ocs/v2.php/cloud/user", "/ocs/v9.php/x", "/status.php/x"]
    methods = ["GET", "HEAD", "PROPFIND", "OPTIONS", "PUT", "DELETE", "MKCOL", "LOCK", "BREW", "POST", "PROPPATCH"]

    async def go() -> None:
        async with dav_client(w) as c:
            for i, url in enumerate(urls):
                for j, method in enumerate(methods):
                    headers = HOSTILE_HEADERS[(i + j) % len(HOSTILE_HEADERS)]
                    body = b"<x/>" if headers.get("Content-Length") else b""
                    r = await c.request(method, url, headers=headers, content=body)
                    assert r.status_code < 500, (method, url, headers, r.status_code, r.text)
                    assert b"Traceback" not in r.content

    run(go())


def test_a_known_sha1_is_announced_in_propfind_and_on_get(w: World) -> None:
    fill_sha1(w.store)
    sha1 = hashlib.sha1(FILES["a.txt"]).hexdigest()
    found = responses(_propfind(w, f"{OLD}/Docs/a.txt", depth="0").content)[0][1]
    assert f"SHA1:{sha1}" in (found[f"{OC}checksums"] or "")

    async def get() -> None:
        async with dav_client(w) as c:
            assert (await c.get(f"{OLD}/Docs/a.txt")).headers["OC-Checksum"] == f"SHA1:{sha1}"

    run(get())


def test_dead_properties_are_answered_by_name_allprop_and_propname(w: World) -> None:
    owner = w.store.folders.get(w.device("anna").user_id, "Docs")
    assert owner is not None
    fs = w.store.folder(owner)
    value = '<x:v xmlns:x="urn:x">caf\u00e9 \U0001f600 <b>bold</b></x:v>'
    fs.dav_proppatch("a.txt", [DeadProp("urn:x", "v", value), DeadProp("", "plain", "<plain xmlns=\"\">t</plain>")],
                     w.device("anna").id)
    asked = b'<propfind xmlns="DAV:"><prop><getetag/><x:v xmlns:x="urn:x"/><x:none xmlns:x="urn:x"/></prop></propfind>'
    _, found, missing = responses(_propfind(w, f"{OLD}/Docs/a.txt", asked, "0").content)[0]
    assert "bold" in (found["{urn:x}v"] or "") and f"{DAV}getetag" in found and missing == ["{urn:x}none"]
    listed = responses(_propfind(w, f"{OLD}/Docs/", b"", "1").content)
    a = next(f for h, f, _ in listed if h.endswith("/a.txt"))
    assert "{urn:x}v" in a and "plain" in a and f"{DAV}getetag" in a
    names = responses(_propfind(w, f"{OLD}/Docs/a.txt", b'<propfind xmlns="DAV:"><propname/></propfind>', "0").content)
    assert names[0][1]["{urn:x}v"] is None
    raw = _propfind(w, f"{OLD}/Docs/a.txt", asked, "0").content.decode()
    assert value in raw, "kept as written"
