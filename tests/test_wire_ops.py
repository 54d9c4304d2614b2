"""Ops and results as values (protocol.md section 7)."""

from __future__ import annotations

import pytest

from syncline.core.entry import Entry
from syncline.formats.wire import Expect, ItemResult, WireError, new_op_id
from syncline.formats.wire.limits import OP_ID_RE


def test_expect_is_what_unchanged_since_compares() -> None:
    now = Entry("file", 10, 5, 0o644, b"d" * 32, None, "F1", 1200)
    assert now.unchanged_since(Expect("file", 10, 5, None, "F1", 1200).entry())
    assert now.unchanged_since(Expect("file", 10, 5).entry())  # id and version unknown: not compared
    assert not now.unchanged_since(Expect("file", 10, 5, None, "F1", 1199).entry())
    assert not now.unchanged_since(Expect("file", 10, 5, None, "F2", 1200).entry())
    assert not now.unchanged_since(Expect("file", 11, 5).entry())
    assert not now.unchanged_since(Expect("dir", 10, 5).entry())


def test_expect_of_a_server_entry() -> None:
    e = Entry("symlink", 1, 7, 0o777, None, "t", "F9", 42, etag="v42")
    assert Expect.of(e) == Expect("symlink", 1, 7, "t", "F9", 42)
    assert Expect.of(Entry("file", 1, 7, 0)) == Expect("file", 1, 7, None, None, None)


def test_result_cannot_be_done_and_failed() -> None:
    with pytest.raises(ValueError):
        ItemResult(True, error=WireError("changed", "x"))
    assert ItemResult.failed(WireError("not_found", "x")).done is False


def test_op_ids_are_fresh_and_valid() -> None:
    ids = {new_op_id() for _ in range(100)}
    assert len(ids) == 100
    assert all(OP_ID_RE.fullmatch(i) and len(i) == 22 for i in ids)
