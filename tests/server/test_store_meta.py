"""The store's metadata: opening and migrating, users, devices (tokens, revocation), folders per owner,
rights, meta texts and lock leases."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import pytest

from syncline.core.errors import BusyError
from syncline.formats.wire.errors import WireError
from syncline.server.store import Store, open_store
from syncline.server.store.folder import FolderStore
from syncline.server.store.migrations import STEPS

from .storetree import fs_fixture, make_store, store_fixture  # noqa: F401 - fixtures
from .test_store_migrations import v1_store


def test_open_store_makes_the_layout_once_and_keeps_its_id(tmp_path: Path) -> None:
    data = tmp_path / "data"
    store = open_store(data, min_free=0)
    server_id = store.server_id
    (data / "tmp" / "left-by-a-killed-upload").mkdir()
    (data / "tmp" / "left-by-a-killed-upload" / "0").write_bytes(b"half")
    store.close()
    again = open_store(data, min_free=0)
    assert again.server_id == server_id
    assert list((data / "tmp").iterdir()) == [], "tmp/ is emptied at start"
    assert (data / "meta.db").stat().st_mode & 0o777 == 0o600
    assert data.stat().st_mode & 0o777 == 0o700
    again.close()
    db = sqlite3.connect(data / "meta.db")
    assert db.execute("select version from schema_version").fetchall() == [(len(STEPS),)]
    assert db.execute("pragma journal_mode").fetchone() == ("wal",)
    db.close()


def test_a_database_from_a_newer_release_is_refused(tmp_path: Path) -> None:
    data = tmp_path / "data"
    open_store(data, min_free=0).close()
    db = sqlite3.connect(data / "meta.db")
    db.execute("update schema_version set version = ?", (len(STEPS) + 1,))
    db.commit()
    db.close()
    with pytest.raises(RuntimeError, match="newer syncline"):
        open_store(data, min_free=0)


def test_users(tmp_path: Path) -> None:
    store, _ = make_store(tmp_path / "data")
    with pytest.raises(WireError) as taken:
        store.users.add("anna", "h2")
    assert taken.value.code == "exists"
    for bad in ("Anna", "", "a" * 33, "1abc", "an na", "../x"):
        with pytest.raises(WireError):
            store.users.add(bad, "h")
    bob = store.users.add("bob", "hb", admin=True)
    store.users.set_password("anna", "new-hash")
    user = store.users.get("anna")
    assert user is not None and user.password_hash == "new-hash" and not user.admin
    assert [u.name for u in store.users.list()] == ["anna", "bob"] and bob.admin
    with pytest.raises(WireError):
        store.users.set_password("nobody", "h")
    store.close()


def test_devices_tokens_and_revocation(tmp_path: Path) -> None:
    store, anna = make_store(tmp_path / "data")
    bob = store.users.add("bob", "h").id
    laptop = store.devices.add(anna, "anna-laptop", "t1")
    assert store.devices.by_token_hash("t1") == laptop
    again = store.devices.add(anna, "anna-laptop", "t2", replaces=laptop.id)
    assert store.devices.by_token_hash("t1") is None, "the replaced device's token is refused"
    assert store.devices.by_token_hash("t2") == again
    with pytest.raises(WireError):
        store.devices.add(bob, "bob-phone", "t3", replaces=again.id)  # another user's device
    assert store.devices.by_token_hash("t3") is None, "nothing was made"
    with pytest.raises(WireError):
        store.devices.revoke(again.id, user_id=bob)
    store.devices.revoke(again.id, user_id=anna)
    assert store.devices.by_token_hash("t2") is None
    listed = store.devices.list(anna)
    assert [d.name for d in listed] == ["anna-laptop", "anna-laptop"] and all(d.revoked_ns for d in listed)
    for bad in ("", "x" * 65, "tab\there"):
        with pytest.raises(WireError):
            store.devices.add(anna, bad, "t9")
    d = store.devices.add(anna, "desk", "t4")
    store.devices.seen(d.id, now=10**18)
    store.devices.seen(d.id, now=10**18 + 1)  # within a minute: not written again
    seen = store.devices.get(d.id)
    assert seen is not None and seen.last_seen_ns == 10**18
    store.close()


def test_folder_names_are_per_owner(tmp_path: Path) -> None:
    store, anna = make_store(tmp_path / "data")
    bob = store.users.add("bob", "h").id
    mine, made = store.folders.create(anna, "Photos")
    theirs, made_too = store.folders.create(bob, "Photos")
    assert made and made_too and mine.uid != theirs.uid and mine.chunk_ns != theirs.chunk_ns
    same, made_again = store.folders.create(anna, "Photos")
    assert not made_again and same.id == mine.id
    assert store.folders.get(anna, "Photos") == same and store.folders.get(bob, "Photos") == theirs
    assert store.folders.rights(mine.id, anna) == "rw" and store.folders.rights(mine.id, bob) is None
    store.shares.offer(mine.id, anna, "bob", "ro")
    assert store.folders.rights(mine.id, bob) is None, "an offer gives no right until it is accepted"
    assert store.shares.accept(bob, mine.uid).name == "Photos-anna", "bob's own Photos keeps its name"
    assert store.folders.rights(mine.id, bob) == "ro"
    assert [(f.name, f.uid, r) for f, r in store.folders.for_user(bob)] == \
        [("Photos", theirs.uid, "rw"), ("Photos-anna", mine.uid, "ro")]
    for bad in ("", "../x", ".hidden", "a/b", "x" * 65):
        with pytest.raises(WireError):
            store.folders.create(anna, bad)
    store.close()


def test_meta_texts_and_lock_leases(tmp_path: Path) -> None:
    store, anna = make_store(tmp_path / "data")
    fs = store.folder(store.folders.create(anna, "Docs")[0])
    assert fs.read_meta("folder-id") is None
    fs.write_meta("folder-id", "abc ü")
    assert fs.read_meta("folder-id") == "abc ü"
    for bad in ("_horizon", "Folder", "a/b", ""):
        with pytest.raises(WireError):
            fs.write_meta(bad, "x")
    with pytest.raises(WireError) as big:
        fs.write_meta("k", "x" * 4097)
    assert big.value.code == "too_large"

    first = fs.lock("D1", 60)
    with pytest.raises(WireError) as busy:
        fs.lock("D1", 60)
    assert busy.value.code == "locked"
    other = fs.lock("D2", 60)  # another device takes its own lease
    with pytest.raises(WireError):
        fs.lock("maintenance", 60, exclusive=True)
    fs.renew(first, 30)
    fs.release(first)
    fs.release(other)
    maintenance = fs.lock("maintenance", 60, exclusive=True)
    with pytest.raises(WireError):
        fs.lock("D1", 60)
    fs.release(maintenance)
    with pytest.raises(WireError):
        fs.renew(maintenance, 60)
    for ttl in (9, 301):
        with pytest.raises(WireError):
            fs.lock("D1", ttl)
    store.close()


def test_a_device_takes_over_its_own_lease_left_behind(tmp_path: Path) -> None:
    store, anna = make_store(tmp_path / "data")
    folder_id = store.folders.create(anna, "Docs")[0]
    left = store.folder(folder_id).lock("D1", 60)
    store.close()  # the server restarts: the lease is durable
    store = open_store(tmp_path / "data", min_free=0)
    fs = store.folder(folder_id)
    with pytest.raises(WireError) as busy:
        fs.lock("D1", 60)
    assert busy.value.code == "locked"
    taken = fs.lock("D1", 60, replaces=left)
    assert taken != left
    with pytest.raises(WireError) as gone:
        fs.renew(left, 60)  # the old lease ended with the takeover
    assert gone.value.code == "not_found"
    fs.renew(taken, 60)
    with pytest.raises(WireError) as twice:
        fs.lock("D1", 60, replaces=left)  # an id is taken over once: a second run racing for it waits
    assert twice.value.code == "locked"
    fs.release(taken)
    store.close()


def test_a_takeover_never_ends_another_holders_lease(tmp_path: Path) -> None:
    store, anna = make_store(tmp_path / "data")
    fs = store.folder(store.folders.create(anna, "Docs")[0])
    mine = fs.lock("D1", 60)
    others = fs.lock("D2", 60)
    with pytest.raises(WireError) as busy:
        fs.lock("D1", 60, replaces=others)  # another device's lease: ignored, D1 still holds its own
    assert busy.value.code == "locked"
    fs.renew(others, 60)
    fs.release(mine)
    third = fs.lock("D1", 60, replaces=others)  # D1 is free now: a lease, and D2's is untouched
    fs.renew(others, 60)
    fs.release(third)
    fs.release(others)
    maintenance = fs.lock("maintenance", 60, exclusive=True)
    for device, lease in (("maintenance", maintenance), ("D1", maintenance)):
        with pytest.raises(WireError) as locked:
            fs.lock(device, 60, replaces=lease)  # an exclusive lease is never taken over
        assert locked.value.code == "locked"
    fs.renew(maintenance, 60)
    fs.release(maintenance)
    assert fs.lock("D1", 60, replaces="Lunknown") != "Lunknown"  # an unknown id: the normal rules
    store.close()


def test_a_lapsed_lease_frees_the_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store, anna = make_store(tmp_path / "data")
    fs = store.folder(store.folders.create(anna, "Docs")[0])
    fs.lock("D1", 10)
    later = time.time_ns() + 11 * 10**9
    monkeypatch.setattr(time, "time_ns", lambda: later)
    fs.lock("D1", 10)  # the first lapsed: a killed client holds nothing for long
    store.close()


def test_a_failed_write_leaves_nothing_and_the_connection_usable(tmp_path: Path) -> None:
    store, _ = make_store(tmp_path / "data")
    with pytest.raises(RuntimeError), store.db.write() as conn:
        conn.exec_driver_sql("UPDATE users SET name = 'changed'")
        raise RuntimeError("a bug half way")
    assert [u.name for u in store.users.list()] == ["anna"]
    for n in range(20):  # every pooled connection is clean
        store.users.add(f"u{n}", "h")
    assert len(store.users.list()) == 21
    store.close()


def test_reads_and_bounds_refuse_bad_arguments(store: tuple[Store, int], fs: FolderStore) -> None:
    for call in (lambda: fs.entries(-1), lambda: fs.changes(-5), lambda: list(fs.read_chunks([b"x" * 32] * 4097)),
                 lambda: fs.stat_many([""] * 1001), lambda: fs.missing([b"x" * 32] * 10_001, "D1")):
        with pytest.raises(WireError):
            call()


def test_one_server_per_data_directory_and_the_cli_beside_it(tmp_path: Path) -> None:
    data = tmp_path / "data"
    server = open_store(data, min_free=0)
    with pytest.raises(BusyError):
        open_store(data, min_free=0)
    (data / "tmp" / "upload-in-flight").mkdir()
    cli = open_store(data, min_free=0, exclusive=False)
    cli.users.add("bob", "h")
    cli.close()
    assert (data / "tmp" / "upload-in-flight").is_dir(), "the CLI leaves the server's uploads alone"
    assert server.users.get("bob") is not None
    server.close()
    open_store(data, min_free=0).close()


def test_a_store_of_the_first_schema_gains_the_index_that_counts_files(tmp_path: Path) -> None:
    """A store that an earlier release made (schema 1, without the index) is migrated on opening, and a
    folder's file count then reads the index alone, not every row of the folder."""
    data = tmp_path / "data"
    v1_store(data)
    open_store(data, min_free=0).close()
    db = sqlite3.connect(data / "meta.db")
    assert db.execute("select version from schema_version").fetchall() == [(len(STEPS),)]
    plan = db.execute("explain query plan select count(*), sum(size) from entries "
                      "where folder_id = 1 and kind = 'file'").fetchall()
    db.close()
    assert "COVERING INDEX entries_kind_size" in str(plan)
