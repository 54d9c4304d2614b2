"""WebDAV writes on the in-process app: PUT (the etag it answers is the next PROPFIND's, checksums, mtimes,
conditions, versions kept), MKCOL, DELETE (a tree only as read), COPY and MOVE (ids follow a rename,
atomic overwrite, across folders), PROPPATCH, and every write refused without the right, through a lock,
or outside the caller's tree, with nothing written."""

from __future__ import annotations

import hashlib
from pathlib import Path

import httpx
import pytest

from syncline.formats.wire.errors import WireError

from ..server.apphelp import World, put_file, run
from .davhelp import DAV, DESKTOP_PROPFIND, FILES, OC, dav_client, docs_world, responses, share

OLD = "/remote.php/webdav"
NEW = "/remote.php/dav/files/anna"


@pytest.fixture
def w(tmp_path: Path) -> World:
    return docs_world(tmp_path)


def listed(c_response: httpx.Response) -> dict[str, dict[str, str | None]]:
    return {href: found for href, found, _ in responses(c_response.content)}


async def props_of(c: httpx.AsyncClient, url: str) -> dict[str, str | None]:
    r = await c.request("PROPFIND", url, content=DESKTOP_PROPFIND, headers={"Depth": "0"})
    assert r.status_code == 207, r.text
    return responses(r.content)[0][1]


def tree(w: World, folder: str = "Docs", user: str = "anna") -> dict[str, bytes]:
    """The folder's files as the store has them (read natively)."""
    owner = w.store.folders.get(w.device(user).user_id, folder)
    assert owner is not None
    fs = w.store.folder(owner)
    return {r.path: b"".join(fs.read(r.path)[1]) for r in fs.entries(0, limit=10_000).rows if r.kind == "file"}


def test_put_answers_the_etag_and_id_the_next_propfind_lists(w: World) -> None:
    async def go() -> None:
        async with dav_client(w) as c:
            data = b"new file \xe2\x9c\x93"
            sha1 = hashlib.sha1(data).hexdigest()
            r = await c.put(f"{OLD}/Docs/sub/new.txt", content=data,
                            headers={"X-OC-Mtime": "1700000123.5", "OC-Checksum": f"SHA1:{sha1}"})
            assert r.status_code == 201, r.text
            assert r.headers["X-OC-MTime"] == "accepted" and r.headers["ETag"] == r.headers["OC-ETag"]
            found = await props_of(c, f"{NEW}/Docs/sub/new.txt")
            assert found[f"{DAV}getetag"] == r.headers["ETag"], "the loop guard: PUT's etag is PROPFIND's"
            assert found[f"{OC}id"] == r.headers["OC-FileId"]
            assert found[f"{DAV}getlastmodified"] == "Tue, 14 Nov 2023 22:15:23 GMT"
            assert f"SHA1:{hashlib.sha1(data).hexdigest()}" in (found[f"{OC}checksums"] or "")
            again = await c.put(f"{OLD}/Docs/sub/new.txt", content=b"second", headers={"If-Match": r.headers["ETag"]})
            assert again.status_code == 204
            assert again.headers["OC-FileId"] == r.headers["OC-FileId"], "an edit keeps the id"
            stale = await c.put(f"{OLD}/Docs/sub/new.txt", content=b"third", headers={"If-Match": r.headers["ETag"]})
            assert stale.status_code == 412
            exists = await c.put(f"{OLD}/Docs/sub/new.txt", content=b"x", headers={"If-None-Match": "*"})
            assert exists.status_code == 412

    run(go())
    assert tree(w)["sub/new.txt"] == b"second"
    owner = w.store.folders.get(w.device("anna").user_id, "Docs")
    assert owner is not None
    kept = w.store.folder(owner).versions("sub/new.txt", 10)[1]
    assert [b"".join(w.store.folder(owner).read_trashed(v.version_id)[1]) for v in kept] == [
        "new file \u2713".encode()], "the replaced version is kept"


def test_a_body_that_is_not_its_checksum_commits_nothing(w: World) -> None:
    async def go() -> None:
        async with dav_client(w) as c:
            r = await c.put(f"{OLD}/Docs/a.txt", content=b"evil", headers={"OC-Checksum": "SHA1:" + "0" * 40})
            assert r.status_code == 400 and "upload it again" in r.text
            r = await c.put(f"{OLD}/Docs/b.txt", content=b"x", headers={"OC-Checksum": "MD5:" + "1" * 32})
            assert r.status_code == 400
            r = await c.put(f"{OLD}/Docs/c.txt", content=b"abc", headers={"OC-Checksum": "ADLER32:024d0127"})
            assert r.status_code == 201, r.text

    run(go())
    assert tree(w)["a.txt"] == FILES["a.txt"] and "b.txt" not in tree(w)


def test_put_refusals(w: World) -> None:
    share(w, "Docs", "bob", "ro")

    async def go() -> None:
        async with dav_client(w) as c:
            assert (await c.put(f"{OLD}/Docs/nowhere/x", content=b"x")).status_code == 409
            assert (await c.put(f"{OLD}/Docs/a.txt/x", content=b"x")).status_code == 409
            assert (await c.put(f"{OLD}/Docs/sub", content=b"x")).status_code == 409
            assert (await c.put(f"{OLD}/Docs", content=b"x")).status_code == 405
            assert (await c.put(f"{OLD}/x", content=b"x")).status_code in (403, 404)
            assert (await c.put(f"{OLD}/Docs/.syncline/x", content=b"x")).status_code in (400, 403)
            assert (await c.put(f"{OLD}/Docs/a%2F..%2F..%2Fetc", content=b"x")).status_code == 400
            assert (await c.put(f"{OLD}/Docs/x", content=b"x", headers={"X-OC-Mtime": "nan"})).status_code == 400
        async with dav_client(w, "bob") as c:
            assert (await c.put(f"{OLD}/Docs/bob.txt", content=b"x")).status_code == 403
            assert (await c.put("/remote.php/dav/files/anna/Docs/bob.txt", content=b"x")).status_code == 404

    run(go())
    assert set(tree(w)) == set(FILES)


def test_mkcol_and_delete(w: World) -> None:
    async def go() -> None:
        async with dav_client(w) as c:
            assert (await c.request("MKCOL", f"{OLD}/Docs/new")).status_code == 201
            assert (await c.request("MKCOL", f"{OLD}/Docs/new")).status_code == 405
            assert (await c.request("MKCOL", f"{OLD}/Docs/a/b")).status_code == 409
            assert (await c.request("MKCOL", f"{OLD}/Docs/body", content=b"<x/>")).status_code == 415
            assert (await c.request("MKCOL", f"{OLD}/Photos")).status_code == 201, "a new folder of anna's"
            assert (await c.request("MKCOL", f"{OLD}/Photos")).status_code == 405
            assert (await c.put(f"{OLD}/Photos/p.jpg", content=b"jpg")).status_code == 201
            assert (await c.delete(f"{OLD}/Docs/a.txt")).status_code == 204
            assert (await c.delete(f"{OLD}/Docs/a.txt")).status_code == 404
            tag = (await props_of(c, f"{OLD}/Docs/sub"))[f"{DAV}getetag"]
            assert (await c.put(f"{OLD}/Docs/sub/late.txt", content=b"added after the read")).status_code == 201
            stale = await c.delete(f"{OLD}/Docs/sub", headers={"If-Match": tag or ""})
            assert stale.status_code == 412, "a tree changed since it was read is not deleted"
            assert (await c.delete(f"{OLD}/Docs/sub")).status_code == 204
            assert (await c.delete(f"{OLD}/Docs")).status_code == 403
            assert (await c.delete(f"{OLD}/")).status_code == 403

    run(go())
    assert set(tree(w)) == {"caf\u00e9 #%&.txt"}
    owner = w.store.folders.get(w.device("anna").user_id, "Docs")
    assert owner is not None
    gone = {v.row.path for v in w.store.folder(owner).deleted(0, 100)}
    assert gone == {"a.txt", "sub/b.bin", "sub/deeper/c.txt", "sub/late.txt"}, "every deleted file is kept"


def test_move_keeps_the_id_and_overwrites_atomically(w: World) -> None:
    async def go() -> None:
        async with dav_client(w) as c:
            before = await props_of(c, f"{OLD}/Docs/sub")
            r = await c.request("MOVE", f"{OLD}/Docs/sub", headers={"Destination": f"{NEW}/Docs/moved"})
            assert r.status_code == 201, r.text
            after = await props_of(c, f"{OLD}/Docs/moved")
            assert after[f"{OC}fileid"] == before[f"{OC}fileid"], "a rename keeps oc:fileid"
            r = await c.request("MOVE", f"{OLD}/Docs/a.txt", headers={"Destination": f"{OLD}/Docs/moved/b.bin",
                                                                      "Overwrite": "F"})
            assert r.status_code == 412
            r = await c.request("MOVE", f"{OLD}/Docs/a.txt", headers={
                "Destination": f"http://testserver{OLD}/Docs/moved/b.bin"})
            assert r.status_code == 204, r.text
            for bad, status in ((f"{OLD}/Docs/moved/deeper/x", 403), (f"http://elsewhere{OLD}/Docs/x", 502),
                                ("/remote.php/dav/files/bob/Docs/x", 404), (f"{OLD}/Docs/..%2F..%2Fx", 400),
                                (f"{OLD}/Docs/.syncline/x", 400), (f"{OLD}/Docs/nowhere/x", 409)):
                r = await c.request("MOVE", f"{OLD}/Docs/moved", headers={"Destination": bad})
                assert r.status_code in (status, 403 if status == 400 else status), (bad, r.status_code, r.text)
            r = await c.request("MOVE", f"{OLD}/Docs/moved", headers={"Destination": f"{OLD}/Other/moved"})
            assert r.status_code == 409, "no folder Other: a missing parent"

    run(go())
    assert tree(w) == {"moved/b.bin": FILES["a.txt"], "moved/deeper/c.txt": FILES["sub/deeper/c.txt"],
                       "caf\u00e9 #%&.txt": FILES["caf\u00e9 #%&.txt"]}


def test_copy_and_move_across_folders_and_copies_get_new_ids(w: World) -> None:
    async def go() -> None:
        async with dav_client(w) as c:
            assert (await c.request("MKCOL", f"{OLD}/Photos")).status_code == 201
            r = await c.request("PROPPATCH", f"{OLD}/Docs/a.txt", content=b'<d:propertyupdate xmlns:d="DAV:"><d:set>'
                                b'<d:prop><x:tag xmlns:x="urn:t">red</x:tag></d:prop></d:set></d:propertyupdate>')
            assert r.status_code == 207 and " 200 " in r.text
            r = await c.request("COPY", f"{OLD}/Docs/a.txt", headers={"Destination": f"{OLD}/Docs/copy.txt"})
            assert r.status_code == 201
            a, b = await props_of(c, f"{OLD}/Docs/a.txt"), await props_of(c, f"{OLD}/Docs/copy.txt")
            assert a[f"{OC}fileid"] != b[f"{OC}fileid"], "a copy is another resource"
            asked = b'<d:propfind xmlns:d="DAV:"><d:prop><x:tag xmlns:x="urn:t"/></d:prop></d:propfind>'
            tag = await c.request("PROPFIND", f"{OLD}/Docs/copy.txt", headers={"Depth": "0"}, content=asked)
            assert "red" in tag.text, "dead properties go with a copy"
            r = await c.request("COPY", f"{OLD}/Docs/sub", headers={"Destination": f"{OLD}/Photos/sub", "Depth": "0"})
            assert r.status_code == 201
            r = await c.request("COPY", f"{OLD}/Docs/sub", headers={"Destination": f"{OLD}/Photos/sub2"})
            assert r.status_code == 201
            r = await c.request("MOVE", f"{OLD}/Docs/sub", headers={"Destination": f"{OLD}/Photos/sub3"})
            assert r.status_code == 201

    run(go())
    assert tree(w, "Photos") == {"sub2/b.bin": FILES["sub/b.bin"], "sub2/deeper/c.txt": FILES["sub/deeper/c.txt"],
                                 "sub3/b.bin": FILES["sub/b.bin"], "sub3/deeper/c.txt": FILES["sub/deeper/c.txt"]}
    assert set(tree(w)) == {"a.txt", "copy.txt", "caf\u00e9 #%&.txt"}


def test_proppatch_sets_mtime_and_refuses_live_properties(w: World) -> None:
    async def go() -> None:
        async with dav_client(w) as c:
            body = (b'<d:propertyupdate xmlns:d="DAV:"><d:set><d:prop><d:lastmodified>1600000000</d:lastmodified>'
                    b"</d:prop></d:set></d:propertyupdate>")
            before = await props_of(c, f"{OLD}/Docs/a.txt")
            r = await c.request("PROPPATCH", f"{OLD}/Docs/a.txt", content=body)
            assert r.status_code == 207 and " 200 " in r.text
            after = await props_of(c, f"{OLD}/Docs/a.txt")
            assert after[f"{DAV}getlastmodified"] == "Sun, 13 Sep 2020 12:26:40 GMT"
            assert after[f"{DAV}getetag"] != before[f"{DAV}getetag"], "a new mtime is a new version"
            body = (b'<d:propertyupdate xmlns:d="DAV:"><d:set><d:prop><d:getetag>"x"</d:getetag><x:y xmlns:x="urn:y">1'
                    b"</x:y></d:prop></d:set></d:propertyupdate>")
            r = await c.request("PROPPATCH", f"{OLD}/Docs/a.txt", content=body)
            assert r.status_code == 207 and " 403 " in r.text and " 424 " in r.text
            assert (await c.request("PROPPATCH", f"{OLD}/Docs/a.txt", content=b"<nope/>")).status_code == 400
            entity = b'<!DOCTYPE x [<!ENTITY e "boom">]><d:propertyupdate xmlns:d="DAV:">&e;</d:propertyupdate>'
            assert (await c.request("PROPPATCH", f"{OLD}/Docs/a.txt", content=entity)).status_code == 400

    run(go())


def test_native_and_webdav_locks_both_ways(w: World) -> None:
    lockinfo = (b'<d:lockinfo xmlns:d="DAV:"><d:lockscope><d:exclusive/></d:lockscope><d:locktype><d:write/>'
                b"</d:locktype><d:owner>anna</d:owner></d:lockinfo>")

    async def go() -> None:
        async with w.client("anna") as native:
            r = await native.post("/v1/folders/Docs/file-locks", json={"path": "a.txt", "ttl": 60})
            assert r.status_code == 201, r.text
            native_lock = r.json()["lock"]
        async with dav_client(w, "anna", "anna-password") as c:  # WebDAV as another device of anna's
            assert (await c.put(f"{OLD}/Docs/a.txt", content=b"dav")).status_code == 423
            assert (await c.request("LOCK", f"{OLD}/Docs/a.txt", content=lockinfo)).status_code == 423
        async with w.client("anna") as native:
            assert (await native.delete(f"/v1/folders/Docs/file-locks/{native_lock}")).status_code in (200, 204)
        async with dav_client(w, "anna", "anna-password") as c:
            r = await c.request("LOCK", f"{OLD}/Docs/a.txt", content=lockinfo, headers={"Timeout": "Second-600"})
            assert r.status_code == 200, r.text
            token = r.headers["Lock-Token"]
            asked = b'<d:propfind xmlns:d="DAV:"><d:prop><d:lockdiscovery/></d:prop></d:propfind>'
            found = await c.request("PROPFIND", f"{OLD}/Docs/a.txt", headers={"Depth": "0"}, content=asked)
            assert token.strip("<>") in found.text
            assert (await c.put(f"{OLD}/Docs/a.txt", content=b"dav", headers={"If": f"({token})"})).status_code == 204
        async with w.client("anna") as native:
            got = await put_file(native, "Docs", "a.txt", b"native")
            assert got["error"]["code"] == "locked", "a WebDAV lock stops native writes"
        async with dav_client(w, "anna", "anna-password") as c:
            assert (await c.request("UNLOCK", f"{OLD}/Docs/a.txt", headers={"Lock-Token": token})).status_code == 204

    run(go())
    assert tree(w)["a.txt"] == b"dav"


def test_store_errors_reach_the_client_as_dav_statuses() -> None:
    from syncline.server.dav.errors import dav_status

    assert dav_status(WireError("over_quota", "x", "y"))[0] == 507
    assert dav_status(WireError("locked", "x", "y"))[0] == 423


def test_a_file_of_more_than_4096_chunks_goes_in_by_put_copy_and_chunks(w: World) -> None:
    """Past 4,096 chunks a put names its manifest alone: a PUT, a COPY and a chunked upload of such a file
    (112 MiB of random bytes) each commit it whole (they were refused 413 once)."""
    import os

    data = os.urandom(112 * 1024 * 1024)

    async def go() -> None:
        async with dav_client(w) as c:
            r = await c.put(f"{NEW}/Docs/big.bin", content=data)
            assert r.status_code == 201, r.text
            r = await c.request("COPY", f"{NEW}/Docs/big.bin", headers={"Destination": f"{NEW}/Docs/copy.bin"})
            assert r.status_code == 201, r.text
            up = "/remote.php/dav/uploads/anna/big-1"
            assert (await c.request("MKCOL", up)).status_code == 201
            step = 32 * 1024 * 1024
            for offset in range(0, len(data), step):
                assert (await c.put(f"{up}/{offset:015d}", content=data[offset:offset + step])).status_code == 201
            r = await c.request("MOVE", f"{up}/.file", headers={"Destination": f"{NEW}/Docs/chunked.bin",
                                                                 "OC-Total-Length": str(len(data))})
            assert r.status_code == 201, r.text

    run(go())
    found = tree(w)
    assert found["big.bin"] == data and found["copy.bin"] == data and found["chunked.bin"] == data
