"""Big files committed with a chunk-list manifest (protocol.md section 7, "Big files"): the store reads and
checks the manifest before the write transaction as it checks an inline list, pages the list back, and
refuses every lie with nothing written."""

from __future__ import annotations

import os
import random
from typing import Any

import blake3
import pytest

from syncline.formats.wire.manifest import manifest_entries, manifest_pieces, reference_pieces
from syncline.formats.wire.ops import ChunkRef, Op, OpEntry, WirePolicy, new_op_id
from syncline.formats.wire.opsjson import op_of_json, op_to_json
from syncline.server.store import contents
from syncline.server.store import folder as folder_module
from syncline.server.store.folder import FolderStore

from .apphelp import dump
from .storetree import fs_fixture, store_fixture  # noqa: F401 - fixtures

POLICY = WirePolicy(trash=True, keep_changed=False)
SMALL = {"min_entries": 8, "cut_every": 8, "max_entries": 32}  # many pieces from a few hundred chunks


def cid(data: bytes) -> bytes:
    return bytes(blake3.blake3(data).digest())


def chunks_of(data: bytes, rnd: random.Random) -> list[bytes]:
    out, at = [], 0
    while at < len(data):
        n = rnd.randint(1, 600)
        out.append(data[at:at + n])
        at += n
    return out


def upload(fs: FolderStore, pieces: list[bytes]) -> list[ChunkRef]:
    for start in range(0, len(pieces), 1000):
        fs.put_chunks([(cid(p), p) for p in pieces[start:start + 1000]], "Dtest")
    return [ChunkRef(cid(p), len(p)) for p in pieces]


def put(path: str, data: bytes, manifest: list[ChunkRef], digest: bytes | None = None, size: int | None = None) -> Op:
    entry = OpEntry(1_700_000_000_000_000_000, 0o644, len(data) if size is None else size,
                    cid(data) if digest is None else digest)
    return Op(new_op_id(), "put", path, None, entry, manifest=tuple(manifest))


def big_file(fs: FolderStore, seed: int = 1, size: int = 120_000) -> tuple[bytes, list[ChunkRef], list[ChunkRef]]:
    """Random content in a few hundred chunks, its chunks and its manifest's pieces, all uploaded."""
    rnd = random.Random(seed)
    data = rnd.randbytes(size)
    refs = upload(fs, chunks_of(data, rnd))
    manifest = upload(fs, list(manifest_pieces(refs, **SMALL)))
    return data, refs, manifest


def test_manifest_pieces_are_whole_entries_cut_by_content() -> None:
    rnd = random.Random(5)
    refs = [ChunkRef(rnd.randbytes(32), rnd.randint(1, 1 << 20)) for _ in range(40_000)]
    pieces = list(manifest_pieces(refs))
    assert [c for p in pieces for c in manifest_entries(p)] == refs
    assert all(len(p) % 36 == 0 and len(p) <= 16_384 * 36 for p in pieces)
    assert all(len(p) >= 2_048 * 36 for p in pieces[:-1])
    # An edit changes the pieces around it only: the cut follows the ids, not the positions.
    edited = [*refs[:20_000], ChunkRef(rnd.randbytes(32), 5), *refs[20_000:]]
    again = list(manifest_pieces(edited))
    assert len(set(again) - set(pieces)) <= 2, "an inserted chunk changes at most two pieces"


def test_a_file_committed_with_a_manifest_reads_back_and_pages(fs: FolderStore) -> None:
    data, refs, manifest = big_file(fs)
    assert len(manifest) > 5
    _, [r] = fs.apply_ops([put("big.bin", data, manifest)], POLICY, "Dtest")
    assert r.done and r.error is None, r
    row, stream = fs.read("big.bin")
    assert b"".join(stream) == data and row.size == len(data)
    listed: list[ChunkRef] = []
    start: int | None = 0
    while start is not None:
        page = fs.chunk_list("big.bin", row.version, start, 37)
        assert page.count == len(refs) and len(page.chunks) <= 37
        listed += page.chunks
        start = page.next
    assert listed == refs
    # The same chunks listed inline make the same file, with the same chunk rows.
    _, [r2] = fs.apply_ops([Op(new_op_id(), "put", "inline.bin", None, OpEntry(1, 0o644, len(data), cid(data)),
                               tuple(refs))], POLICY, "Dtest")
    assert r2.done and fs.chunk_list("inline.bin").chunks == refs


def test_a_page_of_another_version_is_changed(fs: FolderStore) -> None:
    data, _, manifest = big_file(fs)
    _, [r] = fs.apply_ops([put("big.bin", data, manifest)], POLICY, "Dtest")
    with pytest.raises(Exception) as err:
        fs.chunk_list("big.bin", r.version + 1, 0)
    assert getattr(err.value, "code", "") == "changed"


def _lie(kind: str, fs: FolderStore, data: bytes, refs: list[ChunkRef], manifest: list[ChunkRef]) -> Op:
    """A put whose manifest lies in the way ``kind`` says (its pieces uploaded: only the lie is wrong)."""
    def with_entries(entries: list[ChunkRef], payload: bytes | None = None) -> Op:
        raw = payload if payload is not None else b"".join(c.id + c.length.to_bytes(4, "big") for c in entries)
        return put("big.bin", data, upload(fs, [raw]))

    if kind == "piece missing":
        return put("big.bin", data, [*manifest, ChunkRef(cid(b"never sent"), 36)])
    if kind == "listed chunk missing":
        return with_entries([*refs, ChunkRef(cid(b"never sent either"), 3)])
    if kind == "not whole entries":
        return with_entries([], b"".join(c.id + c.length.to_bytes(4, "big") for c in refs[:5]) + b"x")
    if kind == "length not the chunk's":
        return with_entries([ChunkRef(refs[0].id, refs[0].length + 1), *refs[1:]])
    if kind == "length zero":
        return with_entries([ChunkRef(refs[0].id, 0), *refs])
    if kind == "length over 1 MiB":
        return with_entries([ChunkRef(refs[0].id, (1 << 20) + 1), *refs])
    if kind == "adds up to less":
        return with_entries(refs[:-1])
    if kind == "adds up to more":
        return with_entries([*refs, refs[0]])
    if kind == "wrong digest":
        return put("big.bin", data, manifest, digest=cid(b"another file"))
    if kind == "declared piece length lies":
        return put("big.bin", data, [ChunkRef(manifest[0].id, manifest[0].length + 36), *manifest[1:]])
    if kind == "chunks and a manifest":
        op = put("big.bin", data, manifest)
        return Op(op.id, "put", op.path, None, op.entry, tuple(refs[:2]), manifest=op.manifest)
    if kind == "empty file with a manifest":
        return put("big.bin", b"", manifest)
    raise AssertionError(kind)


LIES = ["piece missing", "listed chunk missing", "not whole entries", "length not the chunk's", "length zero",
        "length over 1 MiB", "adds up to less", "adds up to more", "wrong digest", "declared piece length lies",
        "chunks and a manifest", "empty file with a manifest"]


@pytest.mark.parametrize("kind", LIES)
def test_a_lying_manifest_is_refused_with_nothing_written(fs: FolderStore, kind: str) -> None:
    data, refs, manifest = big_file(fs)
    op = _lie(kind, fs, data, refs, manifest)
    before = dump(fs.store)
    _, [r] = fs.apply_ops([op], POLICY, "Dtest")
    assert not r.done and r.error is not None, r
    assert r.error.code in {"missing_chunks", "bad_content"}, r.error
    assert dump(fs.store) == before


def test_a_manifest_listing_too_many_chunks_is_refused(fs: FolderStore, monkeypatch: pytest.MonkeyPatch) -> None:
    data, refs, manifest = big_file(fs)
    monkeypatch.setattr(contents, "MAX_CHUNKS_PER_FILE", len(refs) - 1)
    before = dump(fs.store)
    _, [r] = fs.apply_ops([put("big.bin", data, manifest)], POLICY, "Dtest")
    assert r.error is not None and r.error.code == "too_large", r
    assert dump(fs.store) == before
    monkeypatch.setattr(contents, "MAX_CHUNKS_PER_FILE", len(refs))
    _, [r] = fs.apply_ops([put("big.bin", data, manifest)], POLICY, "Dtest")
    assert r.done, r


def test_a_chunk_taken_between_the_check_and_the_write_refuses_the_item(fs: FolderStore,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """The rows are checked again as they go in: a listed chunk gone by then is ``missing_chunks``."""
    data, refs, manifest = big_file(fs)
    real = fs._check_contents

    def then_lose_one(ops: Any) -> Any:
        out = real(ops)
        with fs.store.db.write() as conn:
            conn.exec_driver_sql("DELETE FROM chunks WHERE chunk_id = ?", (refs[-1].id,))
        return out

    monkeypatch.setattr(fs, "_check_contents", then_lose_one)
    _, [r] = fs.apply_ops([put("big.bin", data, manifest)], POLICY, "Dtest")
    assert r.error is not None and r.error.code == "missing_chunks", r
    assert fs.stat_many(["big.bin"])[1] == [None]
    with fs.store.db.read() as conn:
        assert conn.exec_driver_sql("SELECT count(*) FROM content_chunks").scalar_one() == 0


def test_the_wire_carries_a_manifest_and_refuses_malformed_ones() -> None:
    refs = [ChunkRef(os.urandom(32), 36 * 10)]
    op = put("big.bin", b"x" * 10, refs)
    assert op_of_json(op_to_json(op)) == op
    item = op_to_json(op)
    for bad, code in [({"manifest": [[refs[0].id.hex(), 37]]}, "bad_request"),
                      ({"manifest": []}, "bad_request"),
                      ({"chunks": [], "manifest": item["manifest"]}, "bad_request"),
                      ({"manifest": [[refs[0].id.hex(), 36]] * 65_537}, "too_large")]:
        with pytest.raises(Exception) as err:
            op_of_json({**item, **bad})
        assert getattr(err.value, "code", "") == code, bad
    inline = {**item, "chunks": [[refs[0].id.hex(), 1]] * 4097}
    del inline["manifest"]
    with pytest.raises(Exception) as err:
        op_of_json(inline)
    assert getattr(err.value, "code", "") == "too_large"


def test_a_manifest_put_is_replayed_not_applied_twice(fs: FolderStore) -> None:
    data, _, manifest = big_file(fs)
    op = put("big.bin", data, manifest)
    _, [first] = fs.apply_ops([op], POLICY, "Dtest")
    _, [again] = fs.apply_ops([op], POLICY, "Dtest")
    assert again.replayed and again.version == first.version
    _, [other] = fs.apply_ops([Op(op.id, "put", "big.bin", None, op.entry, manifest=tuple(manifest[:-1]))],
                              POLICY, "Dtest")
    assert other.error is not None and other.error.code == "op_reused"


def test_the_manifest_is_the_reference_cut_of_the_list_in_pages(fs: FolderStore,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """``file/manifest``'s pieces are the reference cut the client makes of the same list (computed from
    the stored chunk list), in pages that follow on whatever their size."""
    data, refs, manifest = big_file(fs, 3, 1_500_000)
    _, [r] = fs.apply_ops([put("big.bin", data, manifest)], POLICY, "Dtest")
    assert r.done, r
    want = [(cid(p), len(p) // 36) for p in reference_pieces(refs, len(refs))]
    assert len(want) > 5
    whole = fs.manifest("big.bin", r.version)
    assert whole.pieces == want and whole.next is None and whole.count == len(refs)
    monkeypatch.setattr(folder_module, "MAX_MANIFEST_PAGE", 1000)
    got: list[tuple[bytes, int]] = []
    start: int | None = 0
    while start is not None:
        page = fs.manifest("big.bin", r.version, start)
        assert page.pieces and sum(n for _, n in page.pieces) <= 1000
        got += page.pieces
        start = page.next
        assert start is None or start == sum(n for _, n in got)
    assert got == want
    with pytest.raises(Exception) as err:
        fs.manifest("big.bin", r.version + 1)
    assert getattr(err.value, "code", "") == "changed"
