"""Ops and results as values (protocol.md section 7)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from syncline.core.entry import Entry
from syncline.formats.wire import (
    CODES,
    ChunkRef,
    Expect,
    ItemResult,
    Op,
    OpEntry,
    WireError,
    WirePolicy,
    check_wire_path,
    new_op_id,
)
from syncline.formats.wire.fields import dump_json, parse_json
from syncline.formats.wire.limits import OP_ID_RE
from syncline.formats.wire.opsjson import (
    ids_of_json,
    ids_to_json,
    op_of_json,
    ops_of_json,
    ops_to_json,
    paths_of_json,
    results_of_json,
    results_to_json,
)


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


# ---- JSON: golden bodies, round trips, hostile bodies -------------------------------------------------------

GOLDEN = Path(__file__).parent / "golden"
D = bytes.fromhex("af13" * 16)


def _golden(name: str) -> Any:
    return json.loads((GOLDEN / name).read_text())


def test_golden_ops_read() -> None:
    policy, ops = ops_of_json(_golden("wire-ops-v1.json"))
    assert policy == WirePolicy(trash=True, keep_changed=True)
    assert [o.op for o in ops] == ["put", "mkdir", "symlink", "delete", "move", "meta"]
    put, mkdir, link, delete, move, meta = ops
    assert put == Op("k3J9aaaaaaaaaaaaaaaaaa", "put", "docs/a.txt",
                     Expect("file", 10, 1700000000000000000, None, "F8X2AAAAAAAAAAAAAAAA", 1200),
                     OpEntry(1700000001000000000, 0o644, 12, D), (ChunkRef(D, 12),))
    assert mkdir.expect is None and mkdir.entry == OpEntry(1700000002000000000, 0o755)
    assert link.entry == OpEntry(1700000003000000000, 0o777, target="docs/a.txt")
    assert delete.entry is None and delete.expect == Expect("file", 0, 5)
    assert move.to == "papers" and move.expect == Expect("dir", 0, 6, None, "F1", 7)
    assert meta.entry == OpEntry(1700000004000000000, 0o600)


def test_golden_ops_written_back_exactly() -> None:
    golden = _golden("wire-ops-v1.json")
    policy, ops = ops_of_json(golden)
    assert ops_to_json(policy, ops) == golden


def test_golden_results() -> None:
    golden = _golden("wire-results-v1.json")
    seq, results = results_of_json(golden, 5)
    assert seq == 1214
    assert results[0] == ItemResult(True, 1211, "F8X2AAAAAAAAAAAAAAAA", trashed=True)
    assert results[1] == ItemResult(False, note="kept: docs/new changed since the scan", code="changed")
    assert results[2].error == WireError("missing_chunks", "a chunk is gone", "upload it again",
                                         {"missing": ["9b0e" * 16]})
    assert results[2].error.family == "Changed" and results[2].error.retryable
    assert results[3] == ItemResult(True, 1213, "", notice="mode not kept", replayed=True)
    assert results[4].replayed and results[4].error is not None and results[4].error.code == "name_clash"
    assert results_to_json(seq, results) == golden


def test_result_count_must_match() -> None:
    with pytest.raises(WireError) as info:
        results_of_json(_golden("wire-results-v1.json"), 4)
    assert info.value.code == "bad_response"


def _item(**over: Any) -> dict[str, Any]:
    item = _golden("wire-ops-v1.json")["items"][0]
    item.update(over)
    return {k: v for k, v in item.items() if v is not _DROP}


_DROP = object()


@pytest.mark.parametrize(("over", "code"), [
    ({"path": "../x"}, "bad_path"),
    ({"path": "a/.SyncLine/b"}, "bad_path"),
    ({"path": 3}, "bad_path"),
    ({"path": ""}, "bad_path"),  # only meta may name the folder itself
    ({"id": ""}, "bad_request"),
    ({"id": "a b"}, "bad_request"),
    ({"id": "x" * 65}, "bad_request"),
    ({"op": "chmod"}, "bad_request"),
    ({"expect": _DROP}, "bad_request"),
    ({"expect": {"kind": "deleted", "size": 0, "mtime_ns": 0}}, "bad_request"),
    ({"expect": {"kind": "file", "size": -1, "mtime_ns": 0}}, "bad_request"),
    ({"expect": {"kind": "file", "size": True, "mtime_ns": 0}}, "bad_request"),
    ({"expect": {"kind": "file", "size": 1, "mtime_ns": 1 << 63}}, "bad_request"),
    ({"expect": {"kind": "file", "size": 1, "mtime_ns": 1, "version": "7"}}, "bad_request"),
    ({"entry": None}, "bad_request"),
    ({"entry": {"size": 12, "mtime_ns": 1, "mode": 0o10000, "digest": "af13" * 16}}, "bad_request"),
    ({"entry": {"size": 12, "mtime_ns": 1, "mode": 420, "digest": "AF13" * 16}}, "bad_request"),
    ({"entry": {"size": 12, "mtime_ns": 1, "mode": 420, "digest": "af13"}}, "bad_request"),
    ({"entry": {"size": (1 << 40) + 1, "mtime_ns": 1, "mode": 420, "digest": "af13" * 16}}, "bad_request"),
    ({"entry": {"size": 12, "mtime_ns": 1.5, "mode": 420, "digest": "af13" * 16}}, "bad_request"),
    ({"chunks": [["af13" * 16, 0]]}, "bad_request"),
    ({"chunks": [["af13" * 16, (1 << 20) + 1]]}, "bad_request"),
    ({"chunks": [["af13" * 16]]}, "bad_request"),
    ({"chunks": {"a": 1}}, "bad_request"),
    ({"chunks": _DROP}, "bad_request"),
])
def test_hostile_items(over: dict[str, Any], code: str) -> None:
    with pytest.raises(WireError) as info:
        op_of_json(_item(**over))
    assert info.value.code == code


@pytest.mark.parametrize(("to", "code"), [(None, "bad_path"), ("docs", "bad_request"), ("docs/in", "bad_request"),
                                          ("/x", "bad_path"), ("docsx", None)])
def test_move_targets(to: str | None, code: str | None) -> None:
    item = {"id": "m", "op": "move", "path": "docs", "to": to, "expect": None}
    if code is None:
        assert op_of_json(item).to == to
    else:
        with pytest.raises(WireError) as info:
            op_of_json(item)
        assert info.value.code == code


def test_symlink_target_checked() -> None:
    item = {"id": "s", "op": "symlink", "path": "l", "expect": None, "entry": {"target": "a\0", "mode": 1,
                                                                                "mtime_ns": 1}}
    with pytest.raises(WireError) as info:
        op_of_json(item)
    assert info.value.code == "bad_path"


def test_batch_bounds_and_duplicates() -> None:
    item = {"id": "x", "op": "delete", "path": "a", "expect": None}
    body = {"policy": {"trash": True, "keep_changed": False}, "items": [item] * 2}
    with pytest.raises(WireError) as info:
        ops_of_json(body)
    assert info.value.code == "bad_request"
    many = [dict(item, id=f"i{i}") for i in range(1001)]
    with pytest.raises(WireError) as info:
        ops_of_json({**body, "items": many})
    assert info.value.code == "too_large" and info.value.details["limit"] == 1000
    assert len(ops_of_json({**body, "items": many[:1000]})[1]) == 1000
    for policy in (None, {"trash": 1, "keep_changed": False}, {"trash": True}):
        with pytest.raises(WireError):
            ops_of_json({**body, "policy": policy})


def test_unknown_keys_are_ignored() -> None:
    item = {"id": "x", "op": "delete", "path": "a", "expect": None, "future": [1, 2]}
    assert op_of_json(item) == Op("x", "delete", "a")


@pytest.mark.parametrize("body", [b"", b"{", b"\xff", b'{"a": NaN}', b"[" * 100_000, b"1" * 5000, b'"\\ud800"'])
def test_unreadable_bodies(body: bytes) -> None:
    try:
        value = parse_json(body)
    except WireError as e:
        assert e.code == "bad_request"
    else:  # a lone surrogate escape parses; the checks on each field refuse it where it matters
        assert value == "\ud800"
        with pytest.raises(WireError):
            check_wire_path(value)


def test_body_limit() -> None:
    with pytest.raises(WireError) as info:
        parse_json(b" " * 20, limit=10)
    assert info.value.code == "too_large"


def test_id_and_path_lists() -> None:
    assert ids_of_json(ids_to_json([D, D[::-1]]), 10) == [D, D[::-1]]
    assert ids_of_json(ids_to_json([D], "missing"), 10, "missing", "bad_response") == [D]
    with pytest.raises(WireError) as info:
        ids_of_json({"ids": [D.hex()] * 11}, 10)
    assert info.value.code == "too_large"
    assert paths_of_json({"paths": ["", "a/b"]}, 2) == ["", "a/b"]
    with pytest.raises(WireError):
        paths_of_json({"paths": ["a", ".."]}, 2)


_ints = st.integers(-(1 << 63), (1 << 63) - 1)
_sizes = st.integers(0, 1 << 40)
_names = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="/\0"), min_size=1, max_size=8)
_paths = st.lists(_names, min_size=1, max_size=3).map("/".join).filter(
    lambda p: all(x not in (".", "..") and x.casefold() != ".syncline" for x in p.split("/")))
_expects = st.none() | st.builds(Expect, st.sampled_from(["file", "dir", "symlink"]), _sizes, _ints,
                                 st.none() | _names, st.none() | st.text("ABC234", min_size=1, max_size=20),
                                 st.none() | st.integers(0, 1 << 40))
_ids = st.binary(min_size=32, max_size=32)


@st.composite
def _ops(draw: st.DrawFn) -> Op:
    name = draw(st.sampled_from(["put", "mkdir", "symlink", "delete", "move", "meta"]))
    path = draw(_paths)
    entry = None
    chunks: tuple[ChunkRef, ...] = ()
    to = None
    mtime, mode = draw(_ints), draw(st.integers(0, 0o7777))
    if name == "put":
        chunks = tuple(draw(st.lists(st.builds(ChunkRef, _ids, st.integers(1, 1 << 20)), max_size=4)))
        entry = OpEntry(mtime, mode, sum(c.length for c in chunks), draw(_ids))
    elif name == "symlink":
        entry = OpEntry(mtime, mode, target=draw(_names))
    elif name in ("mkdir", "meta"):
        entry = OpEntry(mtime, mode)
    elif name == "move":
        to = draw(_paths.filter(lambda p: p != path and not p.startswith(path + "/")))
    return Op(new_op_id(), name, path, draw(_expects), entry, chunks, to)


@settings(max_examples=200, deadline=None)
@given(st.lists(_ops(), max_size=5), st.booleans(), st.booleans())
def test_ops_round_trip_through_bytes(ops: list[Op], trash: bool, keep: bool) -> None:
    body = dump_json(ops_to_json(WirePolicy(trash, keep), ops))
    assert ops_of_json(parse_json(body)) == (WirePolicy(trash, keep), tuple(ops))


_results = st.one_of(
    st.builds(ItemResult, st.just(True), st.integers(0, 1 << 62), st.text("ABC", max_size=20), st.booleans(),
              st.text(max_size=5).filter(str.isprintable), st.text(max_size=5).filter(str.isprintable),
              st.just(""), st.booleans()),
    st.builds(ItemResult, st.just(False), note=st.text(max_size=5).filter(str.isprintable),
              code=st.sampled_from(["changed", "exists"]), replayed=st.booleans()),
    st.builds(ItemResult.failed, st.builds(WireError, st.sampled_from(sorted(CODES)),
                                           st.text("abc ", min_size=1, max_size=9), st.text("xyz", max_size=5)),
              st.booleans()),
)


@settings(max_examples=200, deadline=None)
@given(st.lists(_results, max_size=6), st.integers(0, 1 << 62))
def test_results_round_trip_through_bytes(results: list[ItemResult], seq: int) -> None:
    body = dump_json(results_to_json(seq, results))
    back = results_of_json(parse_json(body), len(results))
    assert back == (seq, results)


def test_put_content_declarations() -> None:
    import blake3

    from syncline.formats.wire.ops import EMPTY_DIGEST, put_content_error

    assert blake3.blake3(b"").digest() == EMPTY_DIGEST
    one = blake3.blake3(b"hello").digest()
    good = [Op("a", "put", "p", None, OpEntry(1, 0o644, 5, one), (ChunkRef(one, 5),)),
            Op("b", "put", "p", None, OpEntry(1, 0o644, 0, EMPTY_DIGEST)),
            Op("c", "put", "p", None, OpEntry(1, 0o644, 7, D), (ChunkRef(one, 5), ChunkRef(D, 2)))]
    assert [put_content_error(op) for op in good] == [None, None, None]
    bad = [Op("a", "put", "p", None, OpEntry(1, 0o644, 6, one), (ChunkRef(one, 5),)),
           Op("b", "put", "p", None, OpEntry(1, 0o644, 0, one)),
           Op("c", "put", "p", None, OpEntry(1, 0o644, 5, D), (ChunkRef(one, 5),)),
           Op("d", "put", "p", None, None), Op("e", "mkdir", "p", None, OpEntry(1, 0o755))]
    for op in bad:
        err = put_content_error(op)
        assert err is not None and err.code == "bad_content" and not err.retryable


def test_only_meta_names_the_folder_itself() -> None:
    op = op_of_json({"id": "m1", "op": "meta", "path": "", "expect": None, "entry": {"mode": 0o755, "mtime_ns": 5}})
    assert op.path == "" and op.entry is not None and op.entry.mode == 0o755
    for name in ("mkdir", "delete"):
        with pytest.raises(WireError) as info:
            op_of_json({"id": "m2", "op": name, "path": "", "expect": None, "entry": {"mode": 0o755, "mtime_ns": 5}})
        assert info.value.code == "bad_path"
