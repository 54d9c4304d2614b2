"""The WebDAV server under a hostile client: each test is an attack that once got through (a 5xx for a
client's mistake, a deleted source, a lost symlink, a spool past the quota), answered now with a one-line
client error and nothing lost; and the attacks that held, kept held."""

from __future__ import annotations

import hashlib
import signal
import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest
import sqlalchemy as sa

from syncline.formats.wire.ops import EMPTY_DIGEST, Op, OpEntry, WirePolicy, new_op_id

from ..daemonserver import DEADLINE, PASSWORD, USER, Server
from ..server.apphelp import World, ops_body, run
from .davhelp import basic, dav_client, docs_world, server_tree, share
from .test_write import tree

OLD = "/remote.php/webdav"
NEW = "/remote.php/dav/files/anna"
UP = "/remote.php/dav/uploads/anna"
LOCKINFO = (b'<?xml version="1.0"?><d:lockinfo xmlns:d="DAV:"><d:lockscope><d:exclusive/></d:lockscope>'
            b"<d:locktype><d:write/></d:locktype></d:lockinfo>")


@pytest.fixture
def w(tmp_path: Path) -> World:
    return docs_world(tmp_path)


def _rows(w: World, folder: str, user: str = "anna") -> dict[str, str]:
    """The folder's live rows (path: kind), read natively."""
    owner = w.store.folders.get(w.device(user).user_id, folder)
    assert owner is not None
    return {r.path: r.kind for r in w.store.folder(owner).entries(0, limit=10_000).rows}


@pytest.mark.parametrize("method", ["PROPFIND", "PROPPATCH", "LOCK"])
def test_an_xml_body_in_an_unknown_encoding_is_400(w: World, method: str) -> None:
    async def go() -> None:
        async with dav_client(w) as c:
            r = await c.request(method, f"{OLD}/Docs/a.txt", headers={"Depth": "0"},
                                content=b'<?xml version="1.0" encoding="x-no-such"?><d:propfind xmlns:d="DAV:"/>')
            assert r.status_code == 400, r.text
            assert "well-formed" in r.text

    run(go())


def test_digits_that_are_not_ascii_in_numeric_headers_are_client_errors(w: World) -> None:
    """``"²".isdigit()`` is true and ``int("²")`` fails: a superscript in a count was a 500."""
    async def go() -> None:
        async with dav_client(w) as c:
            r = await c.request("LOCK", f"{OLD}/Docs/a.txt", content=LOCKINFO, headers={"Timeout": b"Second-\xb2"})
            assert r.status_code == 200, r.text  # an unreadable timeout is the longest, as an absent one
            assert (await c.request("MKCOL", f"{UP}/t1")).status_code == 201
            assert (await c.put(f"{UP}/t1/1", content=b"abc")).status_code == 201
            for total in (b"\xb2", b"9" * 5000):  # int() refuses more than 4,300 digits
                r = await c.request("MOVE", f"{UP}/t1/.file", headers={"Destination": f"{NEW}/Docs/t.bin",
                                                                       "OC-Total-Length": total})
                assert r.status_code == 400, r.text

    run(go())
    assert "t.bin" not in tree(w)


def test_a_copy_onto_its_own_ancestor_is_refused_and_deletes_nothing(w: World) -> None:
    """COPY ``sub/deeper`` onto ``sub`` with ``Overwrite: T`` deleted ``sub`` (the source with it) and made
    an empty ``sub``: a 204 for a copy that lost every file below."""
    async def go() -> None:
        async with dav_client(w) as c:
            for method in ("COPY", "MOVE"):
                r = await c.request(method, f"{OLD}/Docs/sub/deeper",
                                    headers={"Destination": f"{OLD}/Docs/sub", "Overwrite": "T"})
                assert r.status_code == 403, (method, r.status_code, r.text)

    run(go())
    assert set(tree(w)) == {"a.txt", "sub/b.bin", "sub/deeper/c.txt", "caf\u00e9 #%&.txt"}


def test_delete_of_a_collection_with_depth_other_than_infinity_is_400(w: World) -> None:
    """RFC 4918 9.6.1: a DELETE of a collection acts at infinite depth; a client asking ``Depth: 0`` meant
    something else, and got its whole tree deleted."""
    async def go() -> None:
        async with dav_client(w) as c:
            for depth in ("0", "1"):
                r = await c.request("DELETE", f"{OLD}/Docs/sub", headers={"Depth": depth})
                assert r.status_code == 400, r.text
            assert (await c.request("DELETE", f"{OLD}/Docs/a.txt", headers={"Depth": "0"})).status_code == 204
            assert (await c.request("DELETE", f"{OLD}/Docs/sub", headers={"Depth": "infinity"})).status_code == 204

    run(go())
    assert set(tree(w)) == {"caf\u00e9 #%&.txt"}


def test_a_move_between_folders_keeps_the_symlinks_below(w: World) -> None:
    """Symlinks are no WebDAV resources, but a native device's symlink in a folder moved to another folder
    was deleted with the source and never made at the destination: gone from both trees."""
    async def go() -> None:
        async with w.client("anna") as c:
            item = {"id": new_op_id(), "op": "symlink", "path": "sub/l", "expect": None,
                    "entry": {"target": "b.bin", "mode": 0o777, "mtime_ns": 6}}
            assert "error" not in (await c.post("/v1/folders/Docs/ops", json=ops_body(item))).text
        async with dav_client(w) as c:
            assert (await c.request("MKCOL", f"{OLD}/Photos")).status_code == 201
            r = await c.request("COPY", f"{OLD}/Docs/sub", headers={"Destination": f"{OLD}/Photos/copied"})
            assert r.status_code == 201, r.text
            r = await c.request("MOVE", f"{OLD}/Docs/sub", headers={"Destination": f"{OLD}/Photos/sub"})
            assert r.status_code == 201, r.text

    run(go())
    photos = _rows(w, "Photos")
    assert photos["sub/l"] == "symlink" and photos["copied/l"] == "symlink"
    assert "sub" not in _rows(w, "Docs")


def test_chunks_past_the_callers_quota_room_are_507(w: World) -> None:
    """A user with a small quota could spool 10,000 chunks of 1 GiB each (the disk's free space the only
    bound): chunks count against the room the caller's quota leaves."""
    w.store.users.set_quota("anna", 300_000)

    async def go() -> None:
        async with dav_client(w) as c:
            assert (await c.request("MKCOL", f"{UP}/q1")).status_code == 201
            assert (await c.put(f"{UP}/q1/1", content=b"x" * 200_000)).status_code == 201
            r = await c.put(f"{UP}/q1/2", content=b"x" * 200_000)
            assert r.status_code == 507, r.text
            assert (await c.request("MKCOL", f"{UP}/q2")).status_code == 201
            r = await c.put(f"{UP}/q2/1", content=b"x" * 200_000)
            assert r.status_code == 507, "the room counts every upload of the caller's"
            assert (await c.put(f"{UP}/q1/1", content=b"y" * 250_000)).status_code == 201, "a chunk sent again"
            listed = await c.request("PROPFIND", f"{UP}/q1", headers={"Depth": "1"})
            assert "/q1/2<" not in listed.text, "a refused chunk is no chunk"

    run(go())


def _with_owner(owner: bytes) -> bytes:
    return LOCKINFO.replace(b"</d:lockinfo>", owner + b"</d:lockinfo>")


def test_a_lock_owner_is_bounded(w: World) -> None:
    """A LOCK's ``<owner>`` was kept whatever its size (a MiB, the body's bound), 10,000 locks a folder:
    gigabytes in the database, and in every ``lockdiscovery`` after. Bounded as a native lock's note is."""
    big = b"<d:owner>" + b"x" * 100_000 + b"</d:owner>"

    async def go() -> None:
        async with dav_client(w) as c:
            r = await c.request("LOCK", f"{OLD}/Docs/a.txt", content=_with_owner(big))
            assert r.status_code == 413, r.text
            r = await c.put(f"{OLD}/Docs/a.txt", content=b"not locked")
            assert r.status_code == 204, "nothing was locked"
            small = b"<d:owner><d:href>mailto:anna@example.org</d:href></d:owner>"
            r = await c.request("LOCK", f"{OLD}/Docs/a.txt", content=_with_owner(small))
            assert r.status_code == 200 and "mailto:anna@example.org" in r.text

    run(go())


@pytest.mark.parametrize("point", ["server-commit:1", "server-commit:2", "server-commit:3"])
def test_a_kill_during_a_move_between_folders_leaves_both_never_neither(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, point: str) -> None:
    """``kill -9`` of a real ``syncline serve`` at each commit of a MOVE of a folder to another folder (its
    folders, its files, then the source's delete): the source stays whole until the copy is whole, and
    goes only then."""
    files = {"sub/a.txt": b"a" * 1000, "sub/deeper/b.bin": bytes(range(256)) * 100}
    server = Server(tmp_path / "data")
    server.add_user()
    server.start()
    try:
        with httpx.Client(base_url=server.url, auth=(USER, PASSWORD), timeout=DEADLINE) as web:
            for url in ("Docs", "Photos", "Docs/sub", "Docs/sub/deeper"):
                assert web.request("MKCOL", f"{OLD}/{url}").status_code == 201
            for path, data in files.items():
                assert web.put(f"{OLD}/Docs/{path}", content=data).status_code == 201
        server.stop()
        monkeypatch.setenv("SYNCLINE_CRASH_AT", point)
        server.start()
        assert server.proc is not None
        with httpx.Client(base_url=server.url, auth=(USER, PASSWORD), timeout=DEADLINE) as web, \
                pytest.raises(httpx.TransportError):
            web.request("MOVE", f"{OLD}/Docs/sub", headers={"Destination": f"{OLD}/Photos/sub"})
        assert server.proc.wait(DEADLINE) == -signal.SIGKILL
        server.stop()
        monkeypatch.delenv("SYNCLINE_CRASH_AT")
        server.start()
        with httpx.Client(base_url=server.url, auth=(USER, PASSWORD), timeout=DEADLINE) as web:
            docs, photos = server_tree(web, f"{OLD}/Docs/"), server_tree(web, f"{OLD}/Photos/")
    finally:
        server.stop()
    whole = {p: hashlib.sha256(d).hexdigest() for p, d in files.items()}
    at = int(point.rpartition(":")[2])  # 1: the copy's folders committed, 2: its files, 3: the source's delete
    assert (docs, photos) == ({} if at == 3 else whole, {} if at == 1 else whole), "both, or one whole: never neither"


def _lockinfo(scope: str) -> bytes:
    return LOCKINFO.replace(b"exclusive", scope.encode())


def test_another_users_lock_token_opens_nothing(w: World) -> None:
    share(w, "Docs", "bob", "rw")

    async def go() -> None:
        async with dav_client(w) as anna, dav_client(w, "bob") as bob:
            r = await anna.request("LOCK", f"{OLD}/Docs/a.txt", content=LOCKINFO, headers={"Depth": "0"})
            assert r.status_code == 200, r.text
            token = r.headers["Lock-Token"]
            assert (await bob.put(f"{OLD}/Docs/a.txt", content=b"bob", headers={"If": f"({token})"})).status_code == 423
            tagged = {"If": f"<http://testserver{OLD}/Docs/a.txt> ({token})"}
            assert (await bob.put(f"{OLD}/Docs/a.txt", content=b"bob", headers=tagged)).status_code == 423
            assert (await bob.delete(f"{OLD}/Docs/a.txt", headers={"If": f"({token})"})).status_code == 423
            r = await bob.request("MOVE", f"{OLD}/Docs/a.txt", headers={"If": f"({token})",
                                                                        "Destination": f"{OLD}/Docs/b.txt"})
            assert r.status_code == 423
            assert (await bob.request("UNLOCK", f"{OLD}/Docs/a.txt", headers={"Lock-Token": token})).status_code == 403
            assert (await bob.request("LOCK", f"{OLD}/Docs/a.txt", headers={"If": f"({token})"})).status_code == 403
            assert (await bob.request("LOCK", f"{OLD}/Docs/a.txt", content=_lockinfo("shared"))).status_code == 423
            assert (await bob.request("LOCK", f"{OLD}/Docs/", content=LOCKINFO)).status_code == 423, "depth infinity"
            assert (await anna.request("UNLOCK", f"{OLD}/Docs/a.txt", headers={"Lock-Token": token})).status_code == 204
            r = await bob.request("LOCK", f"{OLD}/Docs/sub", content=_lockinfo("shared"))
            assert r.status_code == 200, r.text
            assert (await anna.request("LOCK", f"{OLD}/Docs/sub/b.bin", content=LOCKINFO)).status_code == 423
            assert (await anna.put(f"{OLD}/Docs/sub/b.bin", content=b"anna")).status_code == 423
            assert (await anna.request("LOCK", f"{OLD}/Docs/sub/b.bin", content=_lockinfo("shared"))).status_code == 200

    run(go())
    assert tree(w)["a.txt"] == b"hello world" and tree(w)["sub/b.bin"] == bytes(range(256)) * 4


def test_a_revoked_share_device_or_password_writes_nothing(w: World) -> None:
    share(w, "Docs", "bob", "rw")

    async def go() -> None:
        async with dav_client(w, "bob") as bob, dav_client(w, "bob", "bob-password") as by_password:
            assert (await bob.put(f"{OLD}/Docs/bob.txt", content=b"bob")).status_code == 201
            assert (await by_password.put(f"{OLD}/Docs/bob2.txt", content=b"bob")).status_code == 201
            async with w.client("anna") as native:
                assert (await native.delete("/v1/folders/Docs/members/bob")).status_code == 204
            for c in (bob, by_password):
                assert (await c.put(f"{OLD}/Docs/bob.txt", content=b"late")).status_code in (403, 404)
                r = await c.request("MOVE", f"{OLD}/Docs/a.txt", headers={"Destination": f"{OLD}/Docs/b.txt"})
                assert r.status_code in (403, 404)
            w.store.users.set_password("bob", w.auth.passwords.hash("bob-new-password"))
            assert (await by_password.request("PROPFIND", f"{OLD}/", headers={"Depth": "0"})).status_code == 401
            w.store.devices.revoke(w.device("bob").id)
            assert (await bob.request("PROPFIND", f"{OLD}/", headers={"Depth": "0"})).status_code == 401

    run(go())
    assert tree(w)["bob.txt"] == b"bob" and "a.txt" in tree(w) and "b.txt" not in tree(w)


def test_a_move_between_folders_of_a_locked_source_copies_nothing(w: World) -> None:
    """The copy was committed, then the source's delete refused (423): a MOVE answered "locked" had made a
    second file in the other folder."""
    share(w, "Docs", "bob", "rw")

    async def go() -> None:
        async with dav_client(w) as anna, dav_client(w, "bob") as bob:
            r = await anna.request("LOCK", f"{OLD}/Docs/sub/deeper/c.txt", content=LOCKINFO)
            assert r.status_code == 200, r.text
            assert (await bob.request("MKCOL", f"{OLD}/Bobs")).status_code == 201
            for source in ("sub/deeper/c.txt", "sub"):
                r = await bob.request("MOVE", f"{OLD}/Docs/{source}", headers={"Destination": f"{OLD}/Bobs/x"})
                assert r.status_code == 423, (source, r.status_code, r.text)

    run(go())
    assert _rows(w, "Bobs", "bob") == {}
    assert "sub/deeper/c.txt" in tree(w)


def test_a_lock_on_a_folders_root_guards_its_dead_properties_too(w: World) -> None:
    """A PROPPATCH of the folder's root skipped the lock check: another member wrote through a depth-infinity
    lock of the whole folder (RFC 4918 7: a write lock guards properties as well as content)."""
    share(w, "Docs", "bob", "rw")
    patch = (b'<d:propertyupdate xmlns:d="DAV:"><d:set><d:prop><x:tag xmlns:x="urn:t">bob</x:tag></d:prop>'
             b"</d:set></d:propertyupdate>")

    async def go() -> None:
        async with dav_client(w) as anna, dav_client(w, "bob") as bob:
            r = await anna.request("LOCK", f"{OLD}/Docs/", content=LOCKINFO)
            assert r.status_code == 200, r.text
            token = r.headers["Lock-Token"]
            assert (await bob.request("PROPPATCH", f"{OLD}/Docs/sub", content=patch)).status_code == 423
            assert (await bob.request("PROPPATCH", f"{OLD}/Docs/", content=patch)).status_code == 423
            r = await anna.request("PROPPATCH", f"{OLD}/Docs/", content=patch, headers={"If": f"({token})"})
            assert r.status_code == 207 and " 200 " in r.text, r.text

    run(go())


def test_a_put_or_move_file_past_the_owners_quota_is_507_and_writes_nothing(w: World) -> None:
    share(w, "Docs", "bob", "rw")

    async def go() -> None:
        async with dav_client(w, "bob") as bob:
            assert (await bob.request("MKCOL", "/remote.php/dav/uploads/bob/q")).status_code == 201
            assert (await bob.put("/remote.php/dav/uploads/bob/q/1", content=b"z" * 50_000)).status_code == 201
            w.store.users.set_quota("anna", 10_000)  # the folder's owner's quota counts, not bob's
            r = await bob.put(f"{OLD}/Docs/big.bin", content=b"y" * 50_000)
            assert r.status_code == 507, r.text
            r = await bob.put(f"{OLD}/Docs/a.txt", content=b"y" * 50_000)
            assert r.status_code == 507, r.text
            r = await bob.request("MOVE", "/remote.php/dav/uploads/bob/q/.file",
                                  headers={"Destination": "/remote.php/dav/files/bob/Docs/up.bin"})
            assert r.status_code == 507, r.text
            listed = await bob.request("PROPFIND", "/remote.php/dav/uploads/bob/q", headers={"Depth": "1"})
            assert listed.status_code == 207 and "/q/1<" in listed.text, "the upload stays for a retry"

    run(go())
    assert "big.bin" not in tree(w) and "up.bin" not in tree(w) and tree(w)["a.txt"] == b"hello world"


RACES = [("DELETE", "Docs/sub", {}), ("MOVE", "Docs/deeper", {"Destination": f"{OLD}/Docs/sub"}),
         ("COPY", "Docs/deeper", {"Destination": f"{OLD}/Docs/sub"}),
         ("MOVE", "Photos/deeper", {"Destination": f"{OLD}/Docs/sub"})]


@pytest.mark.parametrize(("method", "url", "headers"), RACES, ids=["delete", "move", "copy", "move-across"])
def test_a_file_another_device_adds_between_the_read_and_the_write_is_never_deleted(
        w: World, monkeypatch: pytest.MonkeyPatch, method: str, url: str, headers: dict[str, str]) -> None:
    """Another device adds ``sub/late.txt`` just after the request read ``sub`` (as its conditions are
    checked): the DELETE, or the ``Overwrite: T`` onto ``sub``, is ``412`` and the file stays."""
    from syncline.server.dav import conditions  # after the app (apphelp): the dav package imports it

    real = conditions.check

    def with_a_late_add(*args: object) -> frozenset[str]:
        owner = w.store.folders.get(w.device("anna").user_id, "Docs")
        assert owner is not None
        late = Op(new_op_id(), "put", "sub/late.txt", None, OpEntry(1, 0o644, 0, EMPTY_DIGEST))
        w.store.folder(owner).apply_ops([late], WirePolicy(trash=True), w.device("anna").id)
        monkeypatch.setattr(conditions, "check", real)
        return real(*args)  # type: ignore[arg-type]

    async def go() -> None:
        async with dav_client(w) as c:
            for folder in ("Docs", "Photos"):
                if folder == "Photos":
                    assert (await c.request("MKCOL", f"{OLD}/Photos")).status_code == 201
                assert (await c.request("MKCOL", f"{OLD}/{folder}/deeper")).status_code == 201
                assert (await c.put(f"{OLD}/{folder}/deeper/d.txt", content=b"d")).status_code == 201
            monkeypatch.setattr(conditions, "check", with_a_late_add)
            r = await c.request(method, f"{OLD}/{url}", headers={**headers, "Overwrite": "T"})
            assert r.status_code == 412, r.text

    run(go())
    assert {"sub/late.txt", "sub/b.bin", "sub/deeper/c.txt", "deeper/d.txt"} <= set(tree(w))
    assert "deeper/d.txt" in tree(w, "Photos")


def test_a_proppatch_that_fails_changes_no_modification_time(w: World) -> None:
    """RFC 4918 9.2: a PROPPATCH is all or nothing. The mtime was committed first (a new version, so a
    new ETag every client downloads again), then a property over its bound failed the rest: ``507`` for
    everything, and the mtime changed all the same."""
    big = b"x" * 70_000
    body = (b'<d:propertyupdate xmlns:d="DAV:"><d:set><d:prop><d:lastmodified>1600000000</d:lastmodified>'
            b'<x:big xmlns:x="urn:t">' + big + b"</x:big></d:prop></d:set></d:propertyupdate>")
    asked = b'<d:propfind xmlns:d="DAV:"><d:prop><d:getetag/><d:getlastmodified/></d:prop></d:propfind>'

    async def go() -> None:
        async with dav_client(w) as c:
            before = await c.request("PROPFIND", f"{OLD}/Docs/a.txt", headers={"Depth": "0"}, content=asked)
            r = await c.request("PROPPATCH", f"{OLD}/Docs/a.txt", content=body)
            assert r.status_code == 207 and " 507 " in r.text and " 200 " not in r.text, r.text
            after = await c.request("PROPFIND", f"{OLD}/Docs/a.txt", headers={"Depth": "0"}, content=asked)
            assert after.text == before.text, "nothing changed"

    run(go())


def test_guessing_passwords_over_many_names_is_limited_by_address_with_the_native_login(w: World) -> None:
    async def go() -> None:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=w.app), base_url="http://testserver") as c:
            seen = set()
            for i in range(40):
                r = await c.request("PROPFIND", f"{OLD}/", headers={**basic(f"user{i}", "wrong-password"),
                                                                    "Depth": "0"})
                seen.add(r.status_code)
            assert seen == {401, 429}
            r = await c.post("/v1/login", json={"user": "anna", "password": w.password("anna"), "device": "x"})
            assert r.status_code == 429, "the native login counts the same failures"

    run(go())


def test_a_property_in_the_xml_namespace_keeps_every_listing_well_formed(w: World) -> None:
    """A dead property named ``xml:lang``-like (the XML namespace, whose prefix is fixed) was listed as
    ``<x:foo xmlns:x="http://www.w3.org/XML/1998/namespace"/>``, which no XML parser reads: one PROPPATCH
    by any member broke ``propname`` listings of the folder for everyone."""
    patch = (b'<d:propertyupdate xmlns:d="DAV:"><d:set><d:prop><xml:foo>bar</xml:foo></d:prop></d:set>'
             b"</d:propertyupdate>")
    asked = b'<d:propfind xmlns:d="DAV:"><d:prop><xml:other/></d:prop></d:propfind>'

    async def go() -> None:
        async with dav_client(w) as c:
            r = await c.request("PROPPATCH", f"{OLD}/Docs/a.txt", content=patch)
            assert r.status_code == 207 and " 200 " in r.text, r.text
            ET.fromstring(r.content)
            for body in (b'<d:propfind xmlns:d="DAV:"><d:propname/></d:propfind>', b"", asked):
                r = await c.request("PROPFIND", f"{OLD}/Docs/", headers={"Depth": "1"}, content=body)
                assert r.status_code == 207
                ET.fromstring(r.content)  # well-formed, namespaces included

    run(go())


def test_an_expired_lock_is_no_lock_and_its_token_opens_and_refreshes_nothing(w: World) -> None:
    share(w, "Docs", "bob", "rw")

    async def go() -> None:
        async with dav_client(w) as anna, dav_client(w, "bob") as bob:
            r = await anna.request("LOCK", f"{OLD}/Docs/a.txt", content=LOCKINFO, headers={"Timeout": "Second-60"})
            assert r.status_code == 200
            token = r.headers["Lock-Token"]
            assert (await bob.put(f"{OLD}/Docs/a.txt", content=b"bob")).status_code == 423
            with w.store.db.write() as conn:
                conn.execute(sa.text("UPDATE file_locks SET expires_ns = 1"))
            assert (await anna.request("LOCK", f"{OLD}/Docs/a.txt", headers={"If": f"({token})"})).status_code == 412
            assert (await anna.request("UNLOCK", f"{OLD}/Docs/a.txt", headers={"Lock-Token": token})).status_code == 409
            assert (await bob.put(f"{OLD}/Docs/a.txt", content=b"bob")).status_code == 204
            r = await bob.request("LOCK", f"{OLD}/Docs/a.txt", content=LOCKINFO)
            assert r.status_code == 200, "an expired lock is replaced by the next taker"
            assert (await anna.put(f"{OLD}/Docs/a.txt", content=b"anna", headers={"If": f"({token})"})).status_code \
                == 412, "the old token names no lock of the resource"

    run(go())
    assert tree(w)["a.txt"] == b"bob"


def test_a_put_announcing_more_than_the_quota_leaves_is_507_before_its_body_is_read(w: World) -> None:
    """The body was read whole (up to 1 TiB) into the chunk store, and only the commit said ``507``: a
    desktop client uploaded gigabytes to learn what its ``Content-Length`` said at once."""
    w.store.users.set_quota("anna", 100_000)
    sent: list[int] = []

    async def body() -> AsyncIterator[bytes]:
        for _ in range(100):
            sent.append(10_000)
            yield b"z" * 10_000

    async def go() -> None:
        async with dav_client(w) as c:
            r = await c.put(f"{OLD}/Docs/big.bin", content=body(), headers={"Content-Length": "1000000"})
            assert r.status_code == 507, r.text
            assert sum(sent) <= 100_000, "the body is not read past the first pieces"
            r = await c.put(f"{OLD}/Docs/a.txt", content=b"y" * 90_000)
            assert r.status_code == 204, "what fits is written: the file it replaces counts as freed"

    run(go())
    assert "big.bin" not in tree(w)


def test_a_name_in_the_other_unicode_form_of_an_existing_one_is_409(w: World) -> None:
    nfd = quote("cafe\u0301 #%&.txt")

    async def go() -> None:
        async with dav_client(w) as c:
            assert (await c.put(f"{OLD}/Docs/{nfd}", content=b"twin")).status_code == 409
            assert (await c.request("MKCOL", f"{OLD}/Docs/{nfd}")).status_code == 409
            for method in ("COPY", "MOVE"):
                r = await c.request(method, f"{OLD}/Docs/a.txt", headers={"Destination": f"{OLD}/Docs/{nfd}"})
                assert r.status_code in (207, 409), (method, r.status_code, r.text)

    run(go())
    assert set(tree(w)) == {"a.txt", "sub/b.bin", "sub/deeper/c.txt", "caf\u00e9 #%&.txt"}
