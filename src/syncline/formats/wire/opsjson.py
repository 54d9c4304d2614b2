"""The JSON of the request bodies that carry items, paths and chunk ids, and of ``ops`` results
(protocol.md sections 5-7): ``*_to_json`` writes a value, ``*_of_json`` reads one from the other side.

Readers take an already parsed JSON value (:func:`~.fields.parse_json`), ignore keys they do not know,
and check every type and bound; each refusal is one :class:`~.errors.WireError`: ``bad_path`` for a path,
``too_large`` for a count over a limit, else ``bad_request`` (what a client sent) or ``bad_response``
(what a server answered, read by a client).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, cast

from ...core.entry import KINDS, Kind
from .errors import error_body, error_of_body
from .fields import bad, boolean, hex_id, integer, lst, obj, opt_integer, text
from .limits import (
    MAX_CHUNK,
    MAX_FILE_SIZE,
    MAX_INLINE_CHUNKS,
    MAX_MANIFEST_CHUNKS,
    MAX_OP_ID,
    MAX_OPS,
    MAX_TARGET_BYTES,
    OP_ID_RE,
)
from .manifest import ENTRY_BYTES
from .ops import OP_NAMES, ChunkRef, Expect, ItemResult, Op, OpEntry, OpName, WirePolicy
from .paths import check_target, check_wire_path

REQ, RESP = "bad_request", "bad_response"
MAX_FILE_ID = 64  # characters of a server's file id (20 base32 characters today)
MAX_NOTE = 4096  # characters of a result's note or notice


# ---- writing --------------------------------------------------------------------------------------------

def expect_to_json(expect: Expect | None) -> dict[str, Any] | None:
    if expect is None:
        return None
    return {"kind": expect.kind, "size": expect.size, "mtime_ns": expect.mtime_ns, "target": expect.target,
            "file_id": expect.file_id, "version": expect.version}


def op_to_json(op: Op) -> dict[str, Any]:
    """One item of an ``ops`` body: the entry fields the op uses, ``chunks`` for a put, ``to`` for a move."""
    out: dict[str, Any] = {"id": op.id, "op": op.op, "path": op.path, "expect": expect_to_json(op.expect)}
    e = op.entry
    if e is not None and op.op in _ENTRY_FIELDS:
        out["entry"] = {k: (getattr(e, k).hex() if k == "digest" else getattr(e, k)) for k in _ENTRY_FIELDS[op.op]}
    if op.op == "put" and op.manifest:
        out["manifest"] = chunks_to_json(op.manifest)
    elif op.op == "put":
        out["chunks"] = chunks_to_json(op.chunks)
    if op.op == "move":
        out["to"] = op.to
    if op.op == "restore":
        out["version_id"] = op.version_id
    return out


def chunks_to_json(chunks: Iterable[ChunkRef]) -> list[list[Any]]:
    """A chunk list ``[[id, length], ...]``."""
    return [[c.id.hex(), c.length] for c in chunks]


def ops_to_json(policy: WirePolicy, ops: Iterable[Op]) -> dict[str, Any]:
    """The body of ``POST .../ops``."""
    return {"policy": {"trash": policy.trash, "keep_changed": policy.keep_changed},
            "items": [op_to_json(op) for op in ops]}


def result_to_json(r: ItemResult) -> dict[str, Any]:
    """One result in its shape (see :class:`ItemResult`): optional keys only when set."""
    out: dict[str, Any]
    if r.error is not None:
        out = error_body(r.error)
    elif r.done:
        out = {"done": True, "version": r.version, "file_id": r.file_id, "trashed": r.trashed}
    else:
        out = {"done": False, "code": r.code}
    for key in ("note", "notice"):
        if getattr(r, key) and r.error is None:
            out[key] = getattr(r, key)
    if r.replayed:
        out["replayed"] = True
    return out


def results_to_json(seq: int, results: Iterable[ItemResult]) -> dict[str, Any]:
    """The answer of ``POST .../ops``."""
    return {"seq": seq, "results": [result_to_json(r) for r in results]}


def ids_to_json(ids: Iterable[bytes], key: str = "ids") -> dict[str, Any]:
    """``{"ids": [hex, ...]}`` (``key`` ``"missing"`` for the answer of ``chunks/missing``)."""
    return {key: [i.hex() for i in ids]}


# ---- reading --------------------------------------------------------------------------------------------

_ENTRY_FIELDS: dict[str, tuple[str, ...]] = {
    "put": ("size", "mtime_ns", "mode", "digest"),
    "mkdir": ("mode", "mtime_ns"),
    "symlink": ("target", "mode", "mtime_ns"),
    "meta": ("mode", "mtime_ns"),
}


def expect_of_json(value: object, where: str, code: str = REQ) -> Expect | None:
    if value is None:
        return None
    o = obj(value, where, code)
    kind = o.get("kind")
    if kind not in KINDS:
        raise bad(code, f"{where}.kind", "not file, dir or symlink")
    target = o.get("target")
    if target is not None:
        target = text(target, f"{where}.target", code, MAX_TARGET_BYTES)
    file_id = o.get("file_id")
    if file_id is not None:
        file_id = text(file_id, f"{where}.file_id", code, MAX_FILE_ID)
    return Expect(cast(Kind, kind), integer(o.get("size"), f"{where}.size", code, 0, MAX_FILE_SIZE),
                  integer(o.get("mtime_ns"), f"{where}.mtime_ns", code), target, file_id or None,
                  opt_integer(o.get("version"), f"{where}.version", code, 0))


def _entry_of_json(op: str, value: object, where: str) -> OpEntry:
    o = obj(value, where, REQ)
    fields = _ENTRY_FIELDS[op]
    return OpEntry(
        mtime_ns=integer(o.get("mtime_ns"), f"{where}.mtime_ns", REQ),
        mode=integer(o.get("mode"), f"{where}.mode", REQ, 0, 0o7777),
        size=integer(o.get("size"), f"{where}.size", REQ, 0, MAX_FILE_SIZE) if "size" in fields else 0,
        digest=hex_id(o.get("digest"), f"{where}.digest", REQ) if "digest" in fields else None,
        target=check_target(o.get("target")) if "target" in fields else None)


def chunks_of_json(value: object, where: str, code: str = REQ, most: int = MAX_INLINE_CHUNKS,
                   multiple: int = 1) -> tuple[ChunkRef, ...]:
    """A chunk list ``[[id, length], ...]`` of at most ``most`` chunks of 1 byte to 1 MiB each, every
    length a multiple of ``multiple`` (a manifest's pieces: whole 36-byte entries)."""
    out = []
    for i, c in enumerate(lst(value, where, code, most)):
        if not isinstance(c, list) or len(c) != 2:
            raise bad(code, f"{where}[{i}]", "not [id, length]")
        length = integer(c[1], f"{where}[{i}][1]", code, 1, MAX_CHUNK)
        if length % multiple:
            raise bad(code, f"{where}[{i}][1]", f"not a multiple of {multiple}")
        out.append(ChunkRef(hex_id(c[0], f"{where}[{i}][0]", code), length))
    return tuple(out)


def _content_of_json(o: Mapping[str, Any], where: str) -> tuple[tuple[ChunkRef, ...], tuple[ChunkRef, ...]]:
    """A put's (chunks, manifest): ``chunks`` (at most 4,096), or ``manifest`` (at most 65,536 pieces of
    whole 36-byte entries), exactly one of them."""
    if "manifest" in o:
        if "chunks" in o:
            raise bad(REQ, f"{where}.manifest", "a put with both chunks and a manifest")
        manifest = chunks_of_json(o["manifest"], f"{where}.manifest", REQ, MAX_MANIFEST_CHUNKS, ENTRY_BYTES)
        if not manifest:
            raise bad(REQ, f"{where}.manifest", "an empty manifest (an empty file has chunks: [])")
        return (), manifest
    return chunks_of_json(o.get("chunks"), f"{where}.chunks"), ()


def op_of_json(value: object, where: str = "item") -> Op:
    """One item of an ``ops`` body, every field checked (see the module); the path (and a move's ``to``)
    by :func:`check_wire_path`; only ``meta`` may name the folder itself (``""``). A move onto itself or
    into itself is ``bad_request``."""
    o = obj(value, where, REQ)
    op_id = text(o.get("id"), f"{where}.id", REQ, MAX_OP_ID)
    if not OP_ID_RE.fullmatch(op_id):
        raise bad(REQ, f"{where}.id", "not 1-64 base64url characters")
    name = o.get("op")
    if name not in OP_NAMES:
        raise bad(REQ, f"{where}.op", f"not one of {', '.join(OP_NAMES)}")
    path = check_wire_path(o.get("path"), root_ok=name == "meta")  # "": the folder's own mode and mtime
    if "expect" not in o:
        raise bad(REQ, f"{where}.expect", "missing (null: nothing expected at the path)")
    expect = expect_of_json(o["expect"], f"{where}.expect")
    entry = _entry_of_json(name, o.get("entry"), f"{where}.entry") if name in _ENTRY_FIELDS else None
    chunks, manifest = _content_of_json(o, where) if name == "put" else ((), ())
    to = None
    if name == "move":
        to = check_wire_path(o.get("to"))
        if to == path or to.startswith(path + "/"):
            raise bad(REQ, f"{where}.to", "a move onto itself or into itself")
    version_id = integer(o.get("version_id"), f"{where}.version_id", REQ, 1) if name == "restore" else None
    return Op(op_id, cast(OpName, name), path, expect, entry, chunks, to, manifest, version_id)


def ops_of_json(value: object) -> tuple[WirePolicy, tuple[Op, ...]]:
    """The body of ``POST .../ops``: the policy and at most 1,000 items with distinct ids."""
    o = obj(value, "body", REQ)
    p = obj(o.get("policy"), "policy", REQ)
    policy = WirePolicy(boolean(p.get("trash"), "policy.trash", REQ),
                        boolean(p.get("keep_changed"), "policy.keep_changed", REQ))
    ops = tuple(op_of_json(v, f"items[{i}]") for i, v in enumerate(lst(o.get("items"), "items", REQ, MAX_OPS)))
    if len({op.id for op in ops}) != len(ops):
        raise bad(REQ, "items", "two items with the same id")
    return policy, ops


def result_of_json(value: object, where: str = "result") -> ItemResult:
    """One result read by a client (``bad_response`` for a malformed one; an unknown error code is kept
    as ``bad_response`` with the code in its details, see :func:`error_of_body`)."""
    o = obj(value, where, RESP)
    replayed = boolean(o.get("replayed", False), f"{where}.replayed", RESP)
    if "error" in o:
        return ItemResult.failed(error_of_body(o), replayed)
    done = boolean(o.get("done"), f"{where}.done", RESP)
    note = text(o.get("note", ""), f"{where}.note", RESP, MAX_NOTE)
    notice = text(o.get("notice", ""), f"{where}.notice", RESP, MAX_NOTE)
    if not done:
        return ItemResult(False, note=note, notice=notice, replayed=replayed,
                          code=text(o.get("code", ""), f"{where}.code", RESP, 64))
    return ItemResult(True, integer(o.get("version"), f"{where}.version", RESP, 0),
                      text(o.get("file_id"), f"{where}.file_id", RESP, MAX_FILE_ID),
                      boolean(o.get("trashed", False), f"{where}.trashed", RESP), note, notice,
                      replayed=replayed)


def results_of_json(value: object, count: int) -> tuple[int, list[ItemResult]]:
    """(seq, results) of an ``ops`` answer to ``count`` items; another number of results is
    ``bad_response`` (a client never guesses which item a result belongs to)."""
    o = obj(value, "body", RESP)
    seq = integer(o.get("seq"), "seq", RESP, 0)
    items = o.get("results")
    if not isinstance(items, list) or len(items) != count:
        raise bad(RESP, "results", f"not {count} results")
    return seq, [result_of_json(v, f"results[{i}]") for i, v in enumerate(items)]


def ids_of_json(value: object, limit: int, key: str = "ids", code: str = REQ) -> list[bytes]:
    """The chunk ids of ``{"ids": [...]}`` (at most ``limit``; ``key`` ``"missing"`` for that answer)."""
    o = obj(value, "body", code)
    return [hex_id(v, f"{key}[{i}]", code) for i, v in enumerate(lst(o.get(key), key, code, limit))]


def paths_of_json(value: object, limit: int) -> list[str]:
    """The paths of a ``stat`` body ``{"paths": [...]}``: at most ``limit``, each a wire path or ``""``."""
    o = obj(value, "body", REQ)
    return [check_wire_path(p, root_ok=True) for p in lst(o.get("paths"), "paths", REQ, limit)]

