"""WebDAV dead properties in the store (``store/davprops.py``): kept as written, following their resource
across moves and edits, bounded, all-or-nothing, refused without the right to write or through another
device's lock, copied by COPY, dropped by the collector once their resource is gone for good."""

from __future__ import annotations

import pytest

from syncline.formats.wire.errors import WireError
from syncline.formats.wire.ops import Expect, Op, OpEntry, WirePolicy, new_op_id
from syncline.server.store import Store
from syncline.server.store.davprops import MAX_PROPS, MAX_VALUE, DeadProp, drop_orphans
from syncline.server.store.folder import FolderStore

from .storetree import fs_fixture, put_bytes, store_fixture  # noqa: F401 - fixtures

T0 = 1_700_000_000_000_000_000
P = WirePolicy()
VALUE = '<x:v xmlns:x="urn:x">caf\u00e9 \U0001f600 <b>bold</b></x:v>'


def put(fs: FolderStore, path: str, data: bytes, device: str = "D1") -> None:
    digest, chunks = put_bytes(fs, data)
    found = fs.stat_many([path])[1][0]
    expect = Expect.of(found.entry()) if found is not None and not isinstance(found, WireError) else None
    _, [r] = fs.apply_ops([Op(new_op_id(), "put", path, expect, OpEntry(T0, 0o644, len(data), digest), chunks)], P,
                          device)
    assert r.done, r


def expect(fs: FolderStore, path: str) -> Expect:
    found = fs.stat_many([path])[1][0]
    assert found is not None and not isinstance(found, WireError)
    return Expect.of(found.entry())


def test_properties_are_kept_as_written_and_follow_moves_and_edits(fs: FolderStore) -> None:
    put(fs, "a", b"one")
    fs.dav_proppatch("a", [DeadProp("urn:x", "v", VALUE), DeadProp("", "plain", "text")], "D1")
    fs.dav_proppatch("", [DeadProp("urn:x", "root", "r")], "D1")
    put(fs, "a", b"edited")
    fs.apply_ops([Op(new_op_id(), "move", "a", expect(fs, "a"), to="b")], P, "D1")
    assert fs.dav_props("b") == [DeadProp("", "plain", "text"), DeadProp("urn:x", "v", VALUE)]
    assert fs.dav_props("") == [DeadProp("urn:x", "root", "r")]
    fs.dav_proppatch("b", [DeadProp("", "plain", "new"), ("urn:x", "v"), ("urn:x", "never-there")], "D1")
    assert fs.dav_props("b") == [DeadProp("", "plain", "new")]
    fs.dav_proppatch("b", [DeadProp("", "gone", "x"), ("", "gone")], "D1")  # in the order given
    assert fs.dav_props("b") == [DeadProp("", "plain", "new")]
    with pytest.raises(WireError) as e:
        fs.dav_props("a")
    assert e.value.code == "not_found"


def test_a_patch_past_a_bound_changes_nothing(fs: FolderStore) -> None:
    put(fs, "a", b"one")
    fs.dav_proppatch("a", [DeadProp("", "keep", "k")], "D1")
    for sets in ([DeadProp("", "big", "x" * (MAX_VALUE + 1))],
                 [DeadProp("", f"p{i}", "v") for i in range(MAX_PROPS + 1)],
                 [DeadProp("", f"q{i}", "y" * (MAX_VALUE - 10)) for i in range(20)]):
        with pytest.raises(WireError) as e:
            fs.dav_proppatch("a", [*sets, ("", "keep")], "D1")
        assert e.value.code == "too_large"
        assert fs.dav_props("a") == [DeadProp("", "keep", "k")], "all or nothing"


def test_no_right_to_write_or_another_devices_lock_refuses_a_patch(store: tuple[Store, int],
                                                                   fs: FolderStore) -> None:
    put(fs, "a", b"one")
    bob = store[0].users.add("bob", "hash").id
    store[0].shares.offer(fs.id, store[1], "bob", "ro")
    store[0].shares.accept(bob, fs.folder.uid)
    holder = store[0].devices.add(store[1], "phone", "hash-of-the-phone").id
    FolderStore(fs.store, fs.folder, store[1]).take_lock("a", holder, 60, None)
    with pytest.raises(WireError) as e:
        fs.dav_proppatch("a", [DeadProp("", "p", "v")], "D1")
    assert e.value.code == "locked"
    fs.dav_proppatch("a", [DeadProp("", "p", "v")], holder)
    reader = FolderStore(fs.store, fs.folder, bob)
    with pytest.raises(WireError) as e:
        reader.dav_proppatch("", [DeadProp("", "p", "v")], "Dbob")
    assert e.value.code == "read_only"
    assert fs.dav_props("a") == [DeadProp("", "p", "v")]


def test_copy_gives_the_new_resource_the_properties(store: tuple[Store, int], fs: FolderStore) -> None:
    put(fs, "a", b"one")
    fs.dav_proppatch("a", [DeadProp("urn:x", "v", VALUE)], "D1")
    other = store[0].folder(store[0].folders.create(store[1], "Other")[0])
    put(other, "b", b"one")
    src = fs.dav_list("a", 0)[0].row.file_id
    dst = other.dav_list("b", 0)[0].row.file_id
    other.dav_copy_props(fs, src, dst)
    assert other.dav_props("b") == fs.dav_props("a")


def test_the_collector_drops_properties_of_resources_gone_for_good(store: tuple[Store, int],
                                                                   fs: FolderStore) -> None:
    put(fs, "a", b"one")
    put(fs, "b", b"two")
    for path in ("a", "b"):
        fs.dav_proppatch(path, [DeadProp("", "p", path)], "D1")
    gone = fs.dav_list("a", 0)[0].row.file_id
    fs.apply_ops([Op(new_op_id(), "delete", "a", expect(fs, "a"))], P, "D1")
    with store[0].db.write() as conn:
        assert drop_orphans(conn, fs.id) == 0, "the tombstone still holds the id"
        conn.exec_driver_sql("DELETE FROM entries WHERE kind = 'deleted'")  # the history window passed
        assert drop_orphans(conn, fs.id) == 1
        left = conn.exec_driver_sql("SELECT file_id FROM dav_props").fetchall()
    assert gone not in {r[0] for r in left} and fs.dav_props("b") == [DeadProp("", "p", "b")]
