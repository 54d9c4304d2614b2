"""Shares in the store (issue 14): offers, accepting under a name of one's own, revoking and leaving, and
the rights they give, checked again inside every write transaction."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import blake3
import pytest
import sqlalchemy as sa

from syncline.formats.wire.errors import WireError
from syncline.formats.wire.ops import ChunkRef, Op, OpEntry, WirePolicy, new_op_id
from syncline.server.store import Store, open_store
from syncline.server.store import schema as t
from syncline.server.store.shares import REVOKED_ANSWERED_NS

T0 = 1_700_000_000_000_000_000


def _store(tmp_path: Path) -> tuple[Store, dict[str, int]]:
    store = open_store(tmp_path / "data", min_free=0)
    return store, {name: store.users.add(name, "h").id for name in ("anna", "bob", "carol")}


def _code(call: object) -> str:
    with pytest.raises(WireError) as err:
        call()  # type: ignore[operator]
    return err.value.code


def test_an_offer_gives_no_right_until_accepted_and_only_the_owner_offers(tmp_path: Path) -> None:
    store, u = _store(tmp_path)
    photos, _ = store.folders.create(u["anna"], "Photos")
    assert _code(lambda: store.shares.offer(photos.id, u["bob"], "carol", "ro")) == "forbidden"
    assert _code(lambda: store.shares.offer(photos.id, u["anna"], "anna", "ro")) == "bad_request"
    assert _code(lambda: store.shares.offer(photos.id, u["anna"], "nobody", "ro")) == "not_found"
    assert _code(lambda: store.shares.offer(photos.id, u["anna"], "bob", "admin")) == "bad_request"
    share, made = store.shares.offer(photos.id, u["anna"], "bob", "ro")
    assert made and (share.state, share.name, share.rights) == ("offered", None, "ro")
    assert store.folders.rights(photos.id, u["bob"]) is None and store.folders.resolve(u["bob"], "Photos") is None
    again, made = store.shares.offer(photos.id, u["anna"], "bob", "rw")
    assert not made and again.rights == "rw" and again.state == "offered"
    assert _code(lambda: store.shares.accept(u["carol"], photos.uid)) == "not_found", "not offered to carol"
    assert _code(lambda: store.shares.accept(u["anna"], photos.uid)) == "not_found", "the owner's own folder"
    accepted = store.shares.accept(u["bob"], photos.uid)
    assert (accepted.state, accepted.name) == ("accepted", "Photos")
    assert store.shares.accept(u["bob"], photos.uid) == accepted, "accepting twice is answered as once"
    assert _code(lambda: store.shares.accept(u["bob"], photos.uid, "Other")) == "exists"
    folder, rights = store.folders.resolve(u["bob"], "Photos")  # type: ignore[misc]
    assert (folder.id, folder.name, rights) == (photos.id, "Photos", "rw")
    assert [(m.user, m.state) for m in store.shares.members(photos.id)] == [("anna", "owner"), ("bob", "accepted")]


def test_names_never_clash_and_a_revoked_share_gives_its_name_up(tmp_path: Path) -> None:
    store, u = _store(tmp_path)
    photos, _ = store.folders.create(u["anna"], "Photos")
    store.folders.create(u["bob"], "Photos")
    store.folders.create(u["bob"], "Photos-anna")
    store.shares.offer(photos.id, u["anna"], "bob", "ro")
    assert _code(lambda: store.shares.accept(u["bob"], photos.uid, "Photos")) == "exists"
    assert _code(lambda: store.shares.accept(u["bob"], photos.uid, "../x")) == "bad_request"
    assert store.shares.accept(u["bob"], photos.uid).name == "Photos-anna-2"
    assert _code(lambda: store.folders.create(u["bob"], "Photos-anna-2")) == "exists", "a share is no new folder"

    assert store.shares.end(photos.id, u["anna"], "bob") == u["bob"]
    assert _code(lambda: store.folders.resolve(u["bob"], "Photos-anna-2")) == "share_revoked"
    assert store.shares.of_user(u["bob"])[0].state == "revoked"
    mine, made = store.folders.create(u["bob"], "Photos-anna-2")  # bob takes the name over
    assert made and mine.owner_id == u["bob"] and store.folders.resolve(u["bob"], "Photos-anna-2") == (mine, "rw")

    store.shares.offer(photos.id, u["anna"], "bob", "rw")  # offered anew: accepted anew, under a new name
    assert store.shares.of_user(u["bob"])[0].state == "offered"
    assert store.shares.accept(u["bob"], photos.uid).name == "Photos-anna-3"


def test_a_name_the_server_picks_is_never_a_revoked_share_s(tmp_path: Path) -> None:
    """bob's devices still name anna's revoked Photos so: carol's Photos, accepted without a name, must not
    take it (they would sync carol's folder into anna's copy); bob may take it by choosing it."""
    store, u = _store(tmp_path)
    annas, _ = store.folders.create(u["anna"], "Photos")
    carols, _ = store.folders.create(u["carol"], "Photos")
    store.shares.offer(annas.id, u["anna"], "bob", "rw")
    store.shares.accept(u["bob"], annas.uid)
    store.shares.end(annas.id, u["anna"], "bob")
    store.shares.offer(carols.id, u["carol"], "bob", "rw")
    assert store.shares.accept(u["bob"], carols.uid).name == "Photos-carol"
    assert _code(lambda: store.folders.resolve(u["bob"], "Photos")) == "share_revoked"


def test_a_revoked_name_answers_for_thirty_days_then_is_gone(tmp_path: Path) -> None:
    store, u = _store(tmp_path)
    photos, _ = store.folders.create(u["anna"], "Photos")
    store.shares.offer(photos.id, u["anna"], "bob", "ro")
    store.shares.accept(u["bob"], photos.uid)
    store.shares.end(photos.id, u["anna"], "bob")
    with store.db.write() as conn:
        a = t.folder_access.c
        conn.execute(t.folder_access.update().where(a.user_id == u["bob"])
                     .values(revoked_ns=time.time_ns() - REVOKED_ANSWERED_NS - 1))
    assert store.folders.resolve(u["bob"], "Photos") is None
    assert store.shares.of_user(u["bob"]) == []


def test_leaving_declining_and_who_may_end_a_share(tmp_path: Path) -> None:
    store, u = _store(tmp_path)
    photos, _ = store.folders.create(u["anna"], "Photos")
    for user in ("bob", "carol"):
        store.shares.offer(photos.id, u["anna"], user, "rw")
    store.shares.accept(u["bob"], photos.uid)
    assert _code(lambda: store.shares.end(photos.id, u["bob"], "carol")) == "forbidden"
    assert _code(lambda: store.shares.end(photos.id, u["anna"], "anna")) == "forbidden"
    assert store.shares.decline(u["carol"], photos.uid) == photos.id  # an offer declined: gone
    assert [m.user for m in store.shares.members(photos.id)] == ["anna", "bob"]
    assert store.shares.end(photos.id, u["bob"], "bob") == u["bob"]  # bob leaves
    assert _code(lambda: store.folders.resolve(u["bob"], "Photos")) == "share_revoked"
    assert _code(lambda: store.shares.end(photos.id, u["anna"], "bob")) == "not_found", "ended already"
    assert store.folders.resolve(u["anna"], "Photos") is not None, "the owner's folder is untouched"


def test_a_share_revoked_while_a_write_is_on_its_way_refuses_it_whole(tmp_path: Path) -> None:
    store, u = _store(tmp_path)
    photos, _ = store.folders.create(u["anna"], "Photos")
    store.shares.offer(photos.id, u["anna"], "bob", "rw")
    store.shares.accept(u["bob"], photos.uid)
    folder, _ = store.folders.resolve(u["bob"], "Photos")  # type: ignore[misc]
    bobs = store.folder(folder, u["bob"])  # what bob's request resolved
    data = b"bob's upload"
    chunk = blake3.blake3(data).digest()
    bobs.put_chunks([(chunk, data)], "D1")
    store.shares.end(photos.id, u["anna"], "bob")
    put = Op(new_op_id(), "put", "x", None, OpEntry(T0, 0o644, len(data), chunk), (ChunkRef(chunk, len(data)),))
    assert _code(lambda: bobs.apply_ops([put], WirePolicy(), "D1")) == "share_revoked"
    assert _code(lambda: bobs.lock("D1", 60)) == "share_revoked"
    assert all(r.path != "x" for r in store.folder(photos).entries().rows)


def _race(store: Store, u: dict[str, int], n: int) -> list[str]:
    """bob accepts anna's share F{n} as N{n} while making his own folder N{n}: what each got."""
    shared, _ = store.folders.create(u["anna"], f"F{n}")
    store.shares.offer(shared.id, u["anna"], "bob", "ro")
    outcomes: list[str] = []
    go = threading.Barrier(2)

    def accept() -> None:
        go.wait()
        try:
            store.shares.accept(u["bob"], shared.uid, f"N{n}")
            outcomes.append("accepted")
        except WireError as e:
            outcomes.append(e.code)

    def create() -> None:
        go.wait()
        try:
            outcomes.append("made" if store.folders.create(u["bob"], f"N{n}")[1] else "there")
        except WireError as e:
            outcomes.append(e.code)

    threads = [threading.Thread(target=accept), threading.Thread(target=create)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(60)
    return sorted(outcomes)


def test_a_share_accepted_and_a_folder_made_under_one_name_at_once_never_share_it(tmp_path: Path) -> None:
    store, u = _store(tmp_path)
    for n in range(20):
        assert _race(store, u, n) in (["exists", "made"], ["accepted", "exists"])
    with store.db.read() as conn:
        a = t.folder_access.c
        names = [r.name for r in conn.execute(sa.select(a.name).where(a.user_id == u["bob"], a.name.is_not(None)))]
    assert len(names) == len(set(names)) == 20
