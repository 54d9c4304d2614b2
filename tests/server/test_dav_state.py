"""What WebDAV reads of a folder (schema step 8, ``store/davstate.py``): a folder's ETag changes exactly
when something at or below it changed, file ids are numbers that follow renames and edits, and a store of
the release before gets both from its rows."""

from __future__ import annotations

import sqlite3
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from syncline.formats.wire.errors import WireError
from syncline.formats.wire.ops import Expect, Op, OpEntry, WirePolicy, new_op_id
from syncline.server.store import Store, open_store
from syncline.server.store.davstate import DavRow
from syncline.server.store.folder import FolderStore

from .storetree import fs_fixture, make_store, put_bytes, store_fixture  # noqa: F401 - fixtures

T0 = 1_700_000_000_000_000_000
POLICY = WirePolicy()
DIRS = ("a", "a/b", "a/b/c", "d")
FILES = ("f", "a/f", "a/b/f", "a/b/c/f", "d/f")


def put(fs: FolderStore, path: str, data: bytes, expect: Expect | None = None) -> Op:
    digest, chunks = put_bytes(fs, data)
    return Op(new_op_id(), "put", path, expect, OpEntry(T0, 0o644, len(data), digest), chunks)


def mkdir(path: str) -> Op:
    return Op(new_op_id(), "mkdir", path, None, OpEntry(T0, 0o755))


def expect(fs: FolderStore, path: str) -> Expect | None:
    found = fs.stat_many([path])[1][0]
    return Expect.of(found.entry()) if found is not None and not isinstance(found, WireError) else None


def listing(fs: FolderStore, path: str = "", depth: int = 1) -> dict[str, DavRow]:
    return {d.row.path: d for d in fs.dav_list(path, depth)}


def subtree(fs: FolderStore, path: str) -> dict[str, tuple[object, ...]]:
    """Every live row at or below ``path``, as it is (versions included: any write changes one)."""
    rows = fs.entries(0, dir=path, limit=10_000).rows
    return {r.path: (r.kind, r.size, r.mtime_ns, r.mode, r.digest, r.target, r.file_id, r.version) for r in rows}


def etags(fs: FolderStore) -> dict[str, str]:
    """Every live folder's ETag, the root's under ``""``."""
    out = {"": fs.dav_list("", 0)[0].etag}
    for p in DIRS:
        try:
            [d] = fs.dav_list(p, 0)
        except WireError:
            continue
        if d.row.kind == "dir":
            out[p] = d.etag
    return out


def test_a_folder_etag_moves_with_what_is_below_it_and_only_then(fs: FolderStore) -> None:
    fs.apply_ops([mkdir("a"), mkdir("a/b"), mkdir("d"), put(fs, "a/b/f", b"one")], POLICY, "D1")
    before = etags(fs)
    fs.apply_ops([put(fs, "a/b/f", b"two", expect(fs, "a/b/f"))], POLICY, "D1")
    after = etags(fs)
    assert after["a"] != before["a"] and after["a/b"] != before["a/b"] and after[""] != before[""]
    assert after["d"] == before["d"], "nothing changed below d"
    fs.apply_ops([Op(new_op_id(), "move", "a/b/f", expect(fs, "a/b/f"), to="d/f")], POLICY, "D1")
    moved = etags(fs)
    assert all(moved[p] != after[p] for p in ("", "a", "a/b", "d")), "both ends of a move changed"
    # A refused item changes no ETag (its marks are taken back with it).
    _, [r] = fs.apply_ops([put(fs, "d/nowhere/x", b"x")], POLICY, "D1")
    assert r.error is not None and etags(fs) == moved


def test_file_ids_are_numbers_that_follow_renames_and_edits(fs: FolderStore) -> None:
    fs.apply_ops([mkdir("a"), put(fs, "a/f", b"one"), put(fs, "g", b"x")], POLICY, "D1")
    first = listing(fs, "a")
    fid = first["a/f"].fileid
    fs.apply_ops([put(fs, "a/f", b"edited", expect(fs, "a/f"))], POLICY, "D1")
    fs.apply_ops([Op(new_op_id(), "move", "a", expect(fs, "a"), to="b")], POLICY, "D1")
    now = listing(fs, "b")
    assert now["b/f"].fileid == fid and now["b"].fileid == first["a"].fileid
    root = listing(fs)
    assert root[""].fileid not in {d.fileid for p, d in root.items() if p}
    assert len({d.fileid for d in root.values()}) == len(root), "one number per resource"
    assert root[""].etag == f"t{fs.entries().seq}"
    assert now["b/f"].etag == f"v{now['b/f'].row.version}" and now["b/f"].sha1 is None


def test_a_listing_is_the_path_then_its_children_and_not_found_otherwise(fs: FolderStore) -> None:
    fs.apply_ops([mkdir("a"), put(fs, "a/z", b"z"), put(fs, "a/m", b"m"), mkdir("a/b")], POLICY, "D1")
    assert [d.row.path for d in fs.dav_list("a", 1)] == ["a", "a/b", "a/m", "a/z"]
    assert [d.row.path for d in fs.dav_list("a/m", 1)] == ["a/m"], "a file has no children"
    assert [d.row.path for d in fs.dav_list("a", 0)] == ["a"]
    fs.apply_ops([Op(new_op_id(), "delete", "a/z", expect(fs, "a/z"))], POLICY, "D1")
    assert [d.row.path for d in fs.dav_list("a", 1)] == ["a", "a/b", "a/m"], "tombstones are not listed"
    with pytest.raises(WireError) as e:
        fs.dav_list("a/z", 0)
    assert e.value.code == "not_found"
    with pytest.raises(WireError):
        fs.dav_list("../x", 0)


_STEP = st.one_of(
    st.tuples(st.just("put"), st.sampled_from(FILES), st.binary(max_size=4)),
    st.tuples(st.just("mkdir"), st.sampled_from(DIRS), st.just(b"")),
    st.tuples(st.just("delete"), st.sampled_from(DIRS + FILES), st.just(b"")),
    st.tuples(st.just("move"), st.sampled_from(DIRS + FILES), st.sampled_from(DIRS + FILES)),
    st.tuples(st.just("meta"), st.sampled_from(DIRS + FILES), st.just(b"")),
)


def _op(fs: FolderStore, step: tuple[str, str, object]) -> Op:
    kind, path, extra = step
    if kind == "put":
        assert isinstance(extra, bytes)
        return put(fs, path, extra, expect(fs, path))
    if kind == "mkdir":
        return mkdir(path)
    if kind == "move":
        assert isinstance(extra, str)
        return Op(new_op_id(), "move", path, expect(fs, path), to=extra)
    if kind == "meta":
        return Op(new_op_id(), "meta", path, expect(fs, path), OpEntry(T0 + 1, 0o700))
    return Op(new_op_id(), "delete", path, expect(fs, path))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.lists(_STEP, min_size=1, max_size=4), min_size=1, max_size=6))
def test_an_etag_changes_iff_the_subtree_did(batches: list[list[tuple[str, str, object]]]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        store, uid = make_store(Path(tmp) / "data")
        try:
            fs = store.folder(store.folders.create(uid, "Docs")[0])
            for batch in batches:
                before_tags = etags(fs)
                before = {p: subtree(fs, p) for p in before_tags}
                fs.apply_ops([_op(fs, s) for s in batch], POLICY, "D1")
                after_tags = etags(fs)
                for p, tag in after_tags.items():
                    if p not in before_tags:
                        continue
                    moved = subtree(fs, p) != before[p]
                    assert (tag != before_tags[p]) == moved, (p, batch)
                for p, tag in after_tags.items():  # and each is at least its subtree's newest version
                    versions = [v[-1] for v in subtree(fs, p).values()]
                    assert int(tag[1:]) >= max(versions, default=0)
        finally:
            store.close()


def test_a_store_of_the_release_before_gets_tree_versions_and_ids(tmp_path: Path) -> None:
    data = tmp_path / "data"
    store, uid = make_store(data)
    fs = store.folder(store.folders.create(uid, "Docs")[0])
    fs.apply_ops([mkdir("a"), mkdir("a/b"), put(fs, "a/b/f", b"1"), put(fs, "a/g", b"2"), mkdir("e")], POLICY, "D1")
    fs.apply_ops([Op(new_op_id(), "delete", "a/g", expect(fs, "a/g"))], POLICY, "D1")
    versions = {r.path: r.version for r in fs.entries(0, limit=100).rows}
    store.close()
    db = sqlite3.connect(data / "meta.db")  # back to schema 7: step 8's columns and tables gone (and step 10's)
    db.executescript("ALTER TABLE entries DROP COLUMN tree_version; DROP TABLE content_sums;"
                     "DROP TABLE dav_ids; DROP TABLE dav_props; ALTER TABLE devices DROP COLUMN kind;"
                     "ALTER TABLE devices DROP COLUMN expires_ns; UPDATE schema_version SET version = 7;")
    db.commit()
    db.close()
    store = open_store(data, min_free=0)
    try:
        fs = store.folder(store.folders.get(uid, "Docs"))  # type: ignore[arg-type]
        got = listing(fs, "a")
        deleted = max(r.version for r in fs.entries(0, limit=100).rows) + 1  # a/g's tombstone: the last change
        assert got["a"].etag == f"t{deleted}", "the tombstone below counts"
        assert got["a/b"].etag == f"t{versions['a/b/f']}"
        assert listing(fs, "e")["e"].etag == f"t{listing(fs, 'e')['e'].row.version}"
        assert len({d.fileid for d in listing(fs).values()}) == 3
        old = got["a"].etag
        fs.apply_ops([put(fs, "a/b/new", b"3")], POLICY, "D1")
        assert listing(fs, "a")["a"].etag != old and fs.dav_list("a/b/new", 0)[0].fileid > 0
    finally:
        store.close()


def tree_of(fs: FolderStore, path: str) -> int:
    return fs.dav_list(path, 0)[0].tree_version


def delete_tree(path: str, tree_version: int) -> Op:
    return Op(new_op_id(), "delete_tree", path, tree_version=tree_version)


def test_a_folder_tree_goes_whole_and_every_file_is_kept(fs: FolderStore) -> None:
    fs.apply_ops([mkdir("a"), mkdir("a/b"), put(fs, "a/b/f", b"one"), put(fs, "a/g", b"two"), put(fs, "h", b"3")],
                 POLICY, "D1")
    root = listing(fs)[""].etag
    _, [r] = fs.apply_ops([delete_tree("a", tree_of(fs, "a"))], POLICY, "D1")
    assert r.done, r
    assert set(listing(fs)) == {"", "h"} and listing(fs)[""].etag != root
    gone = {v.row.path for v in fs.deleted(0, 100)}
    assert gone == {"a/b/f", "a/g"}, "every file deleted is kept as a version"
    assert {c.path for c in fs.changes(0).changes if c.op == "delete"} == {"a"}


def test_a_tree_changed_since_it_was_read_is_not_deleted(fs: FolderStore) -> None:
    fs.apply_ops([mkdir("a"), mkdir("a/b"), put(fs, "a/b/f", b"one")], POLICY, "D1")
    seen = tree_of(fs, "a")
    fs.apply_ops([put(fs, "a/b/new", b"another device's")], POLICY, "D2")  # between the read and the delete
    _, [r] = fs.apply_ops([delete_tree("a", seen)], POLICY, "D1")
    assert not r.done and r.code == "changed"
    assert {"a", "a/b", "a/b/f"} <= set(subtree(fs, "a")) and b"".join(fs.read("a/b/new")[1]) == b"another device's"
    _, [gone] = fs.apply_ops([delete_tree("nothere", 1)], POLICY, "D1")
    assert not gone.done
    _, [bad] = fs.apply_ops([delete_tree("a/b/f", seen)], POLICY, "D1")
    assert bad.error is not None and bad.error.code == "bad_request"


def test_a_tree_with_a_file_locked_by_another_device_stays(store: tuple[Store, int], fs: FolderStore) -> None:
    fs.apply_ops([mkdir("a"), mkdir("a/b"), put(fs, "a/b/f", b"one")], POLICY, "D1")
    holder = store[0].devices.add(store[1], "phone", "hash-of-the-phone").id
    locked = FolderStore(fs.store, fs.folder, store[1])
    locked.take_lock("a/b/f", holder, 60, None)
    _, [r] = fs.apply_ops([delete_tree("a", tree_of(fs, "a"))], POLICY, "D1")
    assert r.error is not None and r.error.code == "locked"
    assert "a/b/f" in {x.row.path for x in fs.dav_list("a/b", 1)}
    _, [own] = locked.apply_ops([delete_tree("a", tree_of(fs, "a"))], POLICY, holder)
    assert own.done and locked.file_locks()[1] == [], "the holder's delete ends its lock"


def test_no_client_can_send_a_tree_delete() -> None:
    from syncline.formats.wire.opsjson import op_of_json

    with pytest.raises(WireError):
        op_of_json({"id": "x1", "op": "delete_tree", "path": "a"})
