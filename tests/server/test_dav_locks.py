"""WebDAV locks in the store (schema step 9, ``store/filelocks.py``): exclusive and shared, depth 0 and
infinity, written through only by their user submitting the token; native and WebDAV locks respect each
other; a store of the release before keeps its locks."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from syncline.formats.wire.errors import WireError
from syncline.formats.wire.ops import Expect, ItemResult, Op, OpEntry, WirePolicy, new_op_id
from syncline.server.store import Store, open_store
from syncline.server.store.filelocks import FileLock
from syncline.server.store.folder import FolderStore

from .storetree import fs_fixture, make_store, put_bytes, store_fixture  # noqa: F401 - fixtures

T0 = 1_700_000_000_000_000_000
P = WirePolicy()


class Users:
    """anna (the owner) with two devices, bob (a rw member) with one; each as the folder store they use."""

    def __init__(self, store: Store, anna_id: int, fs: FolderStore) -> None:
        self.bob_id = store.users.add("bob", "hash").id
        store.shares.offer(fs.id, anna_id, "bob", "rw")
        store.shares.accept(self.bob_id, fs.folder.uid)
        self.dav = store.devices.add(anna_id, "webdav", "h1").id
        self.laptop = store.devices.add(anna_id, "laptop", "h2").id
        self.bob_dev = store.devices.add(self.bob_id, "bob's", "h3").id
        self.anna = FolderStore(store, fs.folder, anna_id)
        self.bob = FolderStore(store, fs.folder, self.bob_id)


@pytest.fixture(name="users")
def users_fixture(store: tuple[Store, int], fs: FolderStore) -> Users:
    return Users(store[0], store[1], fs)


def put(fs: FolderStore, path: str, data: bytes, device: str, tokens: frozenset[str] = frozenset()) -> ItemResult:
    digest, chunks = put_bytes(fs, data)
    found = fs.stat_many([path])[1][0]
    expect = Expect.of(found.entry()) if found is not None and not isinstance(found, WireError) else None
    _, [r] = fs.apply_ops([Op(new_op_id(), "put", path, expect, OpEntry(T0, 0o644, len(data), digest), chunks)], P,
                          device, tokens)
    return r


def mkdir(fs: FolderStore, path: str, device: str) -> None:
    _, [r] = fs.apply_ops([Op(new_op_id(), "mkdir", path, None, OpEntry(T0, 0o755))], P, device)
    assert r.done


def code(r: ItemResult) -> str:
    return "done" if r.done else (r.error.code if r.error is not None else r.code)


def dav_lock(fs: FolderStore, path: str, device: str, scope: str = "exclusive", deep: bool = False) -> FileLock:
    return fs.dav_lock(path, device, 60, scope, deep, "<D:href>mailto:anna@example.org</D:href>")


def test_an_exclusive_lock_lets_only_its_user_with_its_token_write(users: Users) -> None:
    a, b = users.anna, users.bob
    assert code(put(a, "f", b"one", users.dav)) == "done"
    lock = dav_lock(a, "f", users.dav)
    assert lock.token.startswith("opaquelocktoken:") and lock.dav and lock.owner_xml
    assert code(put(a, "f", b"no token", users.dav)) == "locked", "the same credentials without the token"
    assert code(put(a, "f", b"laptop", users.laptop)) == "locked", "a native device of the same user"
    assert code(put(b, "f", b"stolen token", users.bob_dev, frozenset({lock.token}))) == "locked", "another user"
    assert code(put(a, "f", b"two", users.laptop, frozenset({lock.token}))) == "done"
    assert b"".join(a.read("f")[1]) == b"two"
    with pytest.raises(WireError) as e:
        a.take_lock("f", users.laptop, 60, None)
    assert e.value.code == "locked", "a native lock conflicts with a WebDAV one"
    with pytest.raises(WireError) as e:
        dav_lock(b, "f", users.bob_dev, "shared")
    assert e.value.code == "locked"


def test_shared_locks_live_together_and_any_of_them_lets_its_holder_write(users: Users) -> None:
    a, b = users.anna, users.bob
    put(a, "f", b"one", users.dav)
    mine = dav_lock(a, "f", users.dav, "shared")
    theirs = dav_lock(b, "f", users.bob_dev, "shared")
    assert code(put(b, "f", b"bob", users.bob_dev, frozenset({theirs.token}))) == "done"
    assert code(put(a, "f", b"anna", users.dav, frozenset({mine.token}))) == "done"
    assert code(put(a, "f", b"none", users.dav)) == "locked"
    with pytest.raises(WireError):
        dav_lock(a, "f", users.dav, "exclusive")
    assert len(a.dav_locks()) == 2


def test_a_deep_folder_lock_guards_everything_below_and_conflicts_with_locks_there(users: Users) -> None:
    a, b = users.anna, users.bob
    mkdir(a, "d", users.dav)
    mkdir(a, "d/e", users.dav)
    put(a, "d/e/f", b"one", users.dav)
    inner = a.take_lock("d/e/f", users.laptop, 60, None)[0]
    with pytest.raises(WireError) as e:
        dav_lock(a, "d", users.dav, deep=True)
    assert e.value.code == "locked", "a lock below conflicts with a deep one"
    a.release_lock(inner.lock_id, False)
    lock = dav_lock(a, "d", users.dav, deep=True)
    assert code(put(b, "d/e/new", b"x", users.bob_dev)) == "locked", "a new file below a locked folder"
    assert code(put(a, "d/e/new", b"x", users.dav, frozenset({lock.token}))) == "done"
    assert code(put(a, "elsewhere", b"x", users.dav)) == "done", "outside the folder: no lock"
    with pytest.raises(WireError):
        b.take_lock("d/e/f", users.bob_dev, 60, None)
    seen = a.dav_list("d", 0)[0].tree_version
    _, [r] = a.apply_ops([Op(new_op_id(), "delete_tree", "d", tree_version=seen)], P, users.dav)
    assert code(r) == "locked"
    _, [r] = a.apply_ops([Op(new_op_id(), "delete_tree", "d", tree_version=seen)], P, users.dav,
                         frozenset({lock.token}))
    assert code(r) == "done" and a.dav_locks() == [], "the deleted folder's lock ends with it"


def test_a_native_lock_stops_webdav_writes_unless_its_token_comes_from_its_user(users: Users) -> None:
    a = users.anna
    put(a, "f", b"one", users.laptop)
    native = a.take_lock("f", users.laptop, 60, None)[0]
    assert code(put(a, "f", b"dav", users.dav)) == "locked"
    assert code(put(a, "f", b"dav", users.dav, frozenset({native.token}))) == "done"
    assert code(put(a, "f", b"laptop", users.laptop)) == "done", "the holding device, as before"


def test_refresh_and_unlock_go_by_token_and_user(users: Users) -> None:
    a, b = users.anna, users.bob
    put(a, "f", b"one", users.dav)
    lock = dav_lock(a, "f", users.dav)
    later = a.dav_refresh(lock.token, users.dav, 3600)
    assert later.lock_id == lock.lock_id and later.expires_ns > lock.expires_ns
    for refused in (lambda: b.dav_refresh(lock.token, users.bob_dev, 60), lambda: b.dav_unlock(lock.token)):
        with pytest.raises(WireError) as e:
            refused()
        assert e.value.code == "forbidden"
    for unknown in ("opaquelocktoken:nothing", "urn:x", lock.token + "x"):
        with pytest.raises(WireError) as e:
            a.dav_unlock(unknown)
        assert e.value.code == "not_found"
    a.dav_unlock(lock.token)
    assert a.dav_locks() == [] and code(put(b, "f", b"free", users.bob_dev)) == "done"


def test_a_moved_file_leaves_its_webdav_lock_behind(users: Users) -> None:
    a = users.anna
    put(a, "f", b"one", users.dav)
    lock = dav_lock(a, "f", users.dav)
    found = a.stat_many(["f"])[1][0]
    assert found is not None and not isinstance(found, WireError)
    _, [r] = a.apply_ops([Op(new_op_id(), "move", "f", Expect.of(found.entry()), to="g")], P, users.dav,
                         frozenset({lock.token}))
    assert code(r) == "done" and a.dav_locks() == [], "RFC 4918 7.7: the lock stays with its URL"


def test_a_lock_needs_a_resource_and_the_right_to_write(store: tuple[Store, int], users: Users) -> None:
    with pytest.raises(WireError) as e:
        dav_lock(users.anna, "nothing", users.dav)
    assert e.value.code == "not_found"
    carl = store[0].users.add("carl", "hash").id
    store[0].shares.offer(users.anna.id, store[1], "carl", "ro")
    store[0].shares.accept(carl, users.anna.folder.uid)
    with pytest.raises(WireError) as e:
        dav_lock(FolderStore(store[0], users.anna.folder, carl), "", "Dcarl")
    assert e.value.code == "read_only"
    root = dav_lock(users.anna, "", users.dav, deep=True)
    assert code(put(users.bob, "x", b"x", users.bob_dev)) == "locked", "the root's deep lock guards the folder"
    users.anna.dav_unlock(root.token)


def test_a_store_of_the_release_before_keeps_its_locks(tmp_path: Path) -> None:
    data = tmp_path / "data"
    store, uid = make_store(data)
    fs = FolderStore(store, store.folders.create(uid, "Docs")[0], uid)
    device = store.devices.add(uid, "laptop", "h").id
    assert code(put(fs, "f", b"one", device)) == "done"
    lock = fs.take_lock("f", device, 3600, "editing")[0]
    store.close()
    db = sqlite3.connect(data / "meta.db")  # back to schema 8: the table of issue 14 (and no step 10)
    db.executescript(
        "CREATE TABLE old (folder_id INTEGER NOT NULL, path TEXT NOT NULL, lock_id TEXT NOT NULL, user_id INTEGER"
        " NOT NULL, device_id TEXT NOT NULL, created_ns BIGINT NOT NULL, expires_ns BIGINT NOT NULL, note TEXT,"
        " PRIMARY KEY (folder_id, path), UNIQUE (lock_id));"
        "INSERT INTO old SELECT folder_id, path, lock_id, user_id, device_id, created_ns, expires_ns, note"
        " FROM file_locks; DROP TABLE file_locks; ALTER TABLE old RENAME TO file_locks;"
        "ALTER TABLE devices DROP COLUMN kind; ALTER TABLE devices DROP COLUMN expires_ns;"
        "UPDATE schema_version SET version = 8;")
    db.commit()
    db.close()
    store = open_store(data, min_free=0)
    try:
        fs = FolderStore(store, fs.folder, uid)
        [kept] = fs.dav_locks()
        assert (kept.lock_id, kept.path, kept.note, kept.scope, kept.deep, kept.dav) == (
            lock.lock_id, "f", "editing", "exclusive", False, False)
        assert code(put(fs, "f", b"other device", "Dother")) == "locked"
    finally:
        store.close()
