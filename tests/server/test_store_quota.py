"""Per-user quotas in the store: a put that would take the owner of the folder past their quota (the live
bytes of every folder they own; trash does not count) is refused as its own item (``over_quota``), nothing
of it written, the other items of the batch applied; a file that does not grow always fits."""

from __future__ import annotations

import pytest

from syncline.formats.wire.errors import CODES, WireError
from syncline.formats.wire.ops import Expect, ItemResult, Op, OpEntry, WirePolicy, new_op_id
from syncline.server.store import Store
from syncline.server.store.folder import FolderStore

from .storetree import fs_fixture, put_bytes, store_fixture  # noqa: F401 - fixtures

T0 = 1_700_000_000_000_000_000
POLICY = WirePolicy()


def _put_op(fs: FolderStore, path: str, size: int) -> Op:
    data = bytes([size % 251]) * size
    found = fs.stat_many([path])[1][0]
    assert not isinstance(found, WireError)
    digest, chunks = put_bytes(fs, data)
    return Op(new_op_id(), "put", path, Expect.of(found.entry()) if found else None,
              OpEntry(T0, 0o644, size, digest), chunks)


def _put(fs: FolderStore, path: str, size: int, policy: WirePolicy = POLICY) -> ItemResult:
    _, [r] = fs.apply_ops([_put_op(fs, path, size)], policy, "D1")
    return r


def _live(fs: FolderStore) -> dict[str, int]:
    return {r.path: r.size for r in fs.entries().rows if r.kind == "file"}


def test_a_put_past_the_quota_is_refused_and_one_that_does_not_grow_fits(store: tuple[Store, int],
                                                                        fs: FolderStore) -> None:
    s, anna = store
    s.users.set_quota("anna", 1000)
    assert _put(fs, "a", 600).done
    refused = _put(fs, "b", 500)
    assert refused.error is not None and refused.error.code == "over_quota", refused
    assert refused.error.details["used"] == 600 and refused.error.details["limit"] == 1000
    assert CODES["over_quota"].status == 507 and refused.error.retryable
    assert _live(fs) == {"a": 600}, "nothing of the refused put is there"
    assert _put(fs, "a", 300).done, "a file that shrinks fits (the old version goes to the trash, not counted)"
    assert _put(fs, "b", 500).done and _live(fs) == {"a": 300, "b": 500}
    assert s.users.used_bytes(anna) == 800

    s.users.set_quota("anna", 100)  # lowered under what is in use: nothing is taken away
    assert _live(fs) == {"a": 300, "b": 500}
    assert _put(fs, "b", 500).done, "the same size again fits"
    assert _put(fs, "c", 1).error is not None
    s.users.set_quota("anna", None)
    assert _put(fs, "c", 5000).done


def test_a_batch_applies_what_fits_and_refuses_the_rest(store: tuple[Store, int], fs: FolderStore) -> None:
    s, _ = store
    s.users.set_quota("anna", 1000)
    ops = [_put_op(fs, f"f{i}", 300) for i in range(4)]
    _, results = fs.apply_ops(ops, POLICY, "D1")
    assert [r.done for r in results] == [True, True, True, False]
    assert results[3].error is not None and results[3].error.code == "over_quota"
    # A delete in the same batch makes room for what follows it.
    found = fs.stat_many(["f0"])[1][0]
    assert found is not None and not isinstance(found, WireError)
    _, results = fs.apply_ops([Op(new_op_id(), "delete", "f0", Expect.of(found.entry())), _put_op(fs, "f3", 300)],
                              POLICY, "D1")
    assert all(r.done for r in results) and set(_live(fs)) == {"f1", "f2", "f3"}


def test_the_quota_counts_every_folder_the_owner_has(store: tuple[Store, int], fs: FolderStore) -> None:
    s, anna = store
    other = s.folder(s.folders.create(anna, "Other")[0])
    bob = s.users.add("bob", "hash").id
    bobs = s.folder(s.folders.create(bob, "Docs")[0])
    s.users.set_quota("anna", 1000)
    assert _put(other, "x", 700).done
    assert _put(bobs, "big", 5000).done, "another user's files count for them"
    assert _put(fs, "y", 400).error is not None
    assert _put(fs, "y", 300).done


def test_set_quota_of_an_unknown_user(store: tuple[Store, int]) -> None:
    with pytest.raises(WireError) as err:
        store[0].users.set_quota("nobody", 5)
    assert err.value.code == "not_found"
