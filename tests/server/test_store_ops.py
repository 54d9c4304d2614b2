"""``FolderStore.apply_ops`` and the reads beside it: replays, a gap-free sequence under concurrent
writers, hostile paths and chunks refused with nothing written, NFC twins, folder moves as one change,
consistent paged listings while writes go on, content checks, trash."""

from __future__ import annotations

import os
import random
import threading
import time
import unicodedata
from functools import partial
from pathlib import Path

import blake3
import pytest

from syncline.formats.wire.errors import WireError
from syncline.formats.wire.ops import ChunkRef, Expect, ItemResult, Op, OpEntry, WirePolicy, new_op_id
from syncline.server.store import Store
from syncline.server.store.folder import FolderStore, Page
from syncline.server.store.rows import Row

from .storetree import fs_fixture, put_bytes, store_fixture  # noqa: F401 - fixtures

T0 = 1_700_000_000_000_000_000
POLICY = WirePolicy()


def put(fs: FolderStore, path: str, data: bytes, expect: Expect | None = None, op_id: str | None = None) -> Op:
    digest, chunks = put_bytes(fs, data)
    return Op(op_id or new_op_id(), "put", path, expect, OpEntry(T0, 0o644, len(data), digest), chunks)


def mkdir(path: str) -> Op:
    return Op(new_op_id(), "mkdir", path, None, OpEntry(T0, 0o755))


def row(fs: FolderStore, path: str) -> Row | None:
    found = fs.stat_many([path])[1][0]
    assert not isinstance(found, WireError)
    return found


def listing(fs: FolderStore) -> dict[str, tuple[str, int, bytes | None, str]]:
    page = fs.entries(0, limit=10_000)
    assert not page.more
    return {r.path: (r.kind, r.size, r.digest, r.file_id) for r in page.rows}


def test_a_resent_batch_is_answered_from_the_journal(fs: FolderStore) -> None:
    ops = [mkdir("d"), put(fs, "d/a", b"one"), put(fs, "d/b", b"two")]
    seq, first = fs.apply_ops(ops, POLICY, "D1")
    assert seq == 3 and all(r.done and not r.replayed for r in first)
    again_seq, again = fs.apply_ops(ops, POLICY, "D1")
    assert again_seq == 3, "a replay takes no sequence number"
    assert [r.replayed for r in again] == [True, True, True]
    assert [(r.done, r.version, r.file_id) for r in again] == [(r.done, r.version, r.file_id) for r in first]
    other = put(fs, "d/a", b"another", op_id=ops[1].id)
    _, [reused] = fs.apply_ops([other], POLICY, "D1")
    assert reused.error is not None and reused.error.code == "op_reused"
    assert b"".join(fs.read("d/a")[1]) == b"one"


def test_concurrent_batches_keep_the_sequence_gap_free(fs: FolderStore) -> None:
    errors: list[BaseException] = []

    def writer(n: int) -> None:
        try:
            fs.apply_ops([mkdir(f"w{n}")], POLICY, f"D{n}")
            for i in range(15):
                fs.apply_ops([put(fs, f"w{n}/f{i}", os.urandom(50)), put(fs, f"w{n}/g{i}", b"x" * i)],
                             POLICY, f"D{n}")
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(8)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(60)
    assert not errors, errors
    journal = fs.changes(0, limit=10_000)
    assert [c.seq for c in journal.changes] == list(range(1, 8 * 31 + 1)), "no gap, no repeat"
    assert journal.seq == 8 * 31 == fs.info().seq
    versions = sorted(r.version for r in fs.entries(0, limit=10_000).rows)
    assert versions == list(range(1, 8 * 31 + 1))


HOSTILE = ["../escape", "/etc/passwd", "a/../../b", "a//b", "a/./b", ".syncline/x", "d/.SyncLine", "nul\0x",
           "bad\udc80name", "x" * 4097, "/".join(["a"] * 257), "y" * 256, "", "trailing/"]


def _files_outside(base: Path, data: Path) -> set[Path]:
    return {p for p in base.rglob("*") if data not in p.parents and p != data}


def test_hostile_paths_are_refused_and_nothing_is_written_outside(tmp_path: Path, fs: FolderStore) -> None:
    fs.apply_ops([mkdir("d")], POLICY, "D1")
    before = _files_outside(tmp_path, tmp_path / "data")
    digest, chunks = put_bytes(fs, b"payload")
    for bad in HOSTILE:
        items = [Op(new_op_id(), "put", bad, None, OpEntry(T0, 0o644, 7, digest), chunks),
                 Op(new_op_id(), "mkdir", bad, None, OpEntry(T0, 0o755)),
                 Op(new_op_id(), "symlink", bad, None, OpEntry(T0, 0o777, 1, None, "x")),
                 Op(new_op_id(), "move", "d", None, to=bad),
                 Op(new_op_id(), "delete", bad, Expect("file", 7, T0))]
        seq, results = fs.apply_ops(items, POLICY, "D1")
        assert seq == 1, f"{bad!r} changed the folder"
        for r in results:
            assert not r.done, (bad, r)
        calls = [partial(fs.read, bad), partial(fs.entries, 0, dir=bad + "/x")]
        if bad:  # "" is the root, which stat answers
            calls.append(partial(fs.stat_many, [bad]))
        for call in calls:
            with pytest.raises(WireError):
                call()
    for target in ("", "a\0b", "t" * 4097, "\udcff"):
        _, [r] = fs.apply_ops([Op(new_op_id(), "symlink", "l", None, OpEntry(T0, 0o777, 1, None, target))],
                              POLICY, "D1")
        assert r.error is not None and r.error.code == "bad_path"
    for bad_id in (b"", b"../../x", b"a" * 31, b"a" * 33):
        with pytest.raises(WireError):
            fs.put_chunks([(bad_id, b"data")], "D1")
        with pytest.raises(WireError):
            fs.missing([bad_id], "D1")
    for key in ("../x", "a/b", "_horizon", "UPPER"):
        with pytest.raises(WireError):
            fs.write_meta(key, "x")
    assert _files_outside(tmp_path, tmp_path / "data") == before
    assert sorted(listing(fs)) == ["d"]


def test_a_chunk_that_does_not_match_its_id_stores_nothing(tmp_path: Path, fs: FolderStore) -> None:
    good = b"good bytes"
    good_id = blake3.blake3(good).digest()
    with pytest.raises(WireError) as bad:
        fs.put_chunks([(good_id, good), (blake3.blake3(b"other").digest(), b"not other")], "D1")
    assert bad.value.code == "bad_chunk"
    assert not fs.store.chunks.has(fs.ns, good_id), "not even the good chunk"
    assert fs.missing([good_id], "D1") == [good_id]
    assert fs.put_chunks([(good_id, good)], "D1") == (1, 0)
    assert fs.put_chunks([(good_id, good)], "D1") == (0, 1)
    assert fs.missing([good_id], "D1") == []


def test_chunks_are_per_folder(store: tuple[Store, int], fs: FolderStore) -> None:
    other = store[0].folder(store[0].folders.create(store[1], "Other")[0])
    data = b"only in Docs"
    digest, chunks = put_bytes(fs, data)
    assert other.missing([digest], "D1") == [digest], "another folder's chunks are not answered for"
    _, [r] = other.apply_ops([Op(new_op_id(), "put", "f", None, OpEntry(T0, 0o644, len(data), digest), chunks)],
                             POLICY, "D1")
    assert r.error is not None and r.error.code == "missing_chunks"
    with pytest.raises(WireError):
        list(other.read_chunks([digest]))


def test_a_put_is_checked_against_its_chunks(fs: FolderStore) -> None:
    big = os.urandom(2_500_000)
    digest, chunks = put_bytes(fs, big)
    cases = {
        "missing_chunks": Op(new_op_id(), "put", "a", None, OpEntry(T0, 0o644, 3, blake3.blake3(b"abc").digest()),
                             (ChunkRef(blake3.blake3(b"abc").digest(), 3),)),
        "bad_content": Op(new_op_id(), "put", "b", None, OpEntry(T0, 0o644, len(big), blake3.blake3(b"x").digest()),
                          chunks),
        "too_large": Op(new_op_id(), "put", "c", None, OpEntry(T0, 0o644, 1 << 41, digest), chunks),
    }
    short = Op(new_op_id(), "put", "d", None, OpEntry(T0, 0o644, len(big) - 1, digest), chunks)
    seq, results = fs.apply_ops([*cases.values(), short], POLICY, "D1")
    assert seq == 0
    assert [r.error.code if r.error else None for r in results] == [*cases, "bad_content"]
    seq, [ok] = fs.apply_ops([Op(new_op_id(), "put", "e", None, OpEntry(T0, 0o644, len(big), digest), chunks)],
                             POLICY, "D1")
    assert ok.done and len(chunks) == 9 and b"".join(fs.read("e")[1]) == big
    assert b"".join(fs.read("e", span=(299_990, 300_009))[1]) == big[299_990:300_010]
    empty = Op(new_op_id(), "put", "empty", None, OpEntry(T0, 0o644, 0, blake3.blake3(b"").digest()), ())
    assert fs.apply_ops([empty], POLICY, "D1")[1][0].done and b"".join(fs.read("empty")[1]) == b""


def test_nfc_twins_never_coexist_and_names_are_kept_byte_exact(fs: FolderStore) -> None:
    nfd = unicodedata.normalize("NFD", "café.txt")
    nfc = unicodedata.normalize("NFC", "café.txt")
    assert nfd != nfc
    _, [made] = fs.apply_ops([put(fs, nfd, b"one")], POLICY, "D1")
    assert made.done and list(listing(fs)) == [nfd], "kept as sent (NFD)"
    _, [twin] = fs.apply_ops([put(fs, nfc, b"two")], POLICY, "D1")
    assert twin.error is not None and twin.error.code == "name_clash"
    fs.apply_ops([put(fs, "other", b"x")], POLICY, "D1")
    moved = fs.apply_ops([Op(new_op_id(), "move", "other", Expect.of(row(fs, "other").entry()),  # type: ignore[union-attr]
                             to=nfc)], POLICY, "D1")[1][0]
    assert moved.error is not None and moved.error.code == "name_clash"
    # Renaming the name itself to its other form is not a clash with itself.
    renamed = fs.apply_ops([Op(new_op_id(), "move", nfd, Expect.of(row(fs, nfd).entry()), to=nfc)],  # type: ignore[union-attr]
                           POLICY, "D1")[1][0]
    assert renamed.done and sorted(listing(fs)) == sorted([nfc, "other"])


def _pages(fs: FolderStore, since: int, limit: int) -> list[Page]:
    """Every page from ``since`` on, following the cursor."""
    pages = [fs.entries(since, limit=limit)]
    while pages[-1].more:
        pages.append(fs.entries(pages[-1].next, limit=limit, after=pages[-1].next_path))
    return pages


def test_a_folder_move_is_one_change_and_pages_split_it_at_a_path(fs: FolderStore) -> None:
    ops = [mkdir("docs"), mkdir("docs/sub")] + [put(fs, f"docs/sub/f{i:02d}", b"%d" % i) for i in range(30)]
    fs.apply_ops(ops, POLICY, "D1")
    before = listing(fs)
    seq_before = fs.info().seq
    _, [moved] = fs.apply_ops([Op(new_op_id(), "move", "docs", Expect.of(row(fs, "docs").entry()),  # type: ignore[union-attr]
                                  to="papers")], POLICY, "D1")
    assert moved.done
    after = listing(fs)
    assert {p.replace("docs", "papers", 1): v for p, v in before.items()} == after, "file ids kept"
    journal = fs.changes(seq_before).changes
    assert [(c.op, c.from_path, c.path) for c in journal] == [("move", "docs", "papers")]
    pages = _pages(fs, seq_before, 5)
    rows = [r for p in pages for r in p.rows]
    assert len(rows) == 64 and len(pages) == 13, "one version split across pages of 5"
    assert sum(r.kind == "deleted" for r in rows) == 32 and {r.version for r in rows} == {seq_before + 1}
    assert [(r.version, r.path) for r in rows] == sorted((r.version, r.path) for r in rows)
    assert all(p.more and p.next_path == p.rows[-1].path for p in pages[:-1]) and not pages[-1].more
    # A page goes on from inside a version into the next ones.
    fs.apply_ops([put(fs, "x0", b"x")], POLICY, "D1")
    fs.apply_ops([Op(new_op_id(), "move", "papers", Expect.of(row(fs, "papers").entry()),  # type: ignore[union-attr]
                     to="docs")], POLICY, "D1")
    mixed = fs.entries(seq_before + 1, limit=3)
    assert [r.path for r in mixed.rows] == ["x0", "docs", "docs/sub"] and mixed.more
    assert (mixed.next, mixed.next_path) == (seq_before + 3, "docs/sub")
    rest = _pages(fs, seq_before + 1, 3)
    assert sum(len(p.rows) for p in rest) == 65
    into = fs.apply_ops([Op(new_op_id(), "move", "docs", Expect.of(row(fs, "docs").entry()),  # type: ignore[union-attr]
                            to="docs/sub/inside")], POLICY, "D1")[1][0]
    assert into.error is not None and into.error.code == "bad_request", "a folder is never moved into itself"


def test_paged_listings_while_writes_go_on_end_at_the_state_of_their_seq(fs: FolderStore) -> None:
    # Pages and write batches interleave in one thread, chosen by a seeded dice: the same interleavings on
    # every machine, however busy (a writer thread raced the reader and sometimes never got in).
    rng = random.Random(7)
    fs.apply_ops([mkdir("a"), mkdir("b")] + [put(fs, f"a/start{i}", b"%d" % i) for i in range(40)], POLICY, "D1")
    n = 0

    def write_batch() -> None:
        nonlocal n
        n += 1
        here = listing(fs)
        files = [p for p, v in here.items() if v[0] == "file"]
        choice = rng.random()
        if choice < 0.5 or not files:
            fs.apply_ops([put(fs, f"{rng.choice('ab')}/f{n}", b"%d" % n)], POLICY, "D1")
        elif choice < 0.7:
            p = rng.choice(files)
            fs.apply_ops([put(fs, p, b"edit %d" % n, Expect.of(row(fs, p).entry()))], POLICY, "D1")  # type: ignore[union-attr]
        elif choice < 0.8:
            p = rng.choice(files)
            fs.apply_ops([Op(new_op_id(), "delete", p, Expect.of(row(fs, p).entry()))], POLICY, "D1")  # type: ignore[union-attr]
        elif choice < 0.9:  # a folder move: one version for many entries, split across pages of 4
            src, dst = ("a", "c") if "a" in here else ("c", "a")
            fs.apply_ops([Op(new_op_id(), "move", src, Expect.of(row(fs, src).entry()), to=dst)],  # type: ignore[union-attr]
                         POLICY, "D1")
        else:
            p = rng.choice(files)
            to = f"{'b' if p.startswith('a') else 'a'}/m{n}"
            fs.apply_ops([Op(new_op_id(), "move", p, Expect.of(row(fs, p).entry()), to=to)], POLICY, "D1")  # type: ignore[union-attr]

    moved_on = 0
    for _ in range(8):
        held: dict[str, tuple[str, int, bytes | None, str]] = {}
        since, after, more, first_seq, pages = 0, None, True, None, 0
        while more:
            page = fs.entries(since, limit=4, after=after)
            for r in page.rows:
                if r.kind == "deleted":
                    held.pop(r.path, None)
                else:
                    held[r.path] = (r.kind, r.size, r.digest, r.file_id)
            since, after, more = page.next, page.next_path, page.more
            first_seq = page.seq if first_seq is None else first_seq
            if not more:
                moved_on += page.seq != first_seq
                assert held == listing(fs), "the pages add up to the folder at the last page's seq"
            # Between the first pages of a listing: 0 to 2 batches, and always one after the first page. Then
            # no more, so the listing catches up with the folder (a folder move re-versions every entry below).
            pages += 1
            if more and pages <= 6:
                for _ in range(max(rng.choice((0, 1, 2)), pages == 1)):
                    write_batch()
    assert moved_on == 8, "every listing was paged while the folder changed"


def test_trash_keeps_replaced_and_deleted_versions(fs: FolderStore) -> None:
    fs.apply_ops([put(fs, "f", b"first")], POLICY, "D1")
    fs.apply_ops([put(fs, "f", b"second", Expect.of(row(fs, "f").entry()))], POLICY, "D1")  # type: ignore[union-attr]
    fs.apply_ops([Op(new_op_id(), "delete", "f", Expect.of(row(fs, "f").entry()))], POLICY, "D1")  # type: ignore[union-attr]
    items = fs.trash().items
    assert [(i.row.path, b"".join(fs.read_trashed(i.trash_id)[1])) for i in items] == [("f", b"second"),
                                                                                       ("f", b"first")]
    assert fs.trash(after=items[0].trashed_ns).items == items[1:]
    # Without trash, an expected version is gone for good; a changed one is still kept.
    plain = WirePolicy(trash=False)
    fs.apply_ops([put(fs, "g", b"v1")], plain, "D1")
    seen = Expect.of(row(fs, "g").entry())  # type: ignore[union-attr]
    _, [r] = fs.apply_ops([put(fs, "g", b"v2", seen)], plain, "D1")
    assert r.done and not r.trashed and len(fs.trash().items) == 2
    _, [r] = fs.apply_ops([put(fs, "g", b"v3", seen)], plain, "D1")
    assert r.done and r.trashed and r.note, "changed since the scan: kept even without trash"
    _, [k] = fs.apply_ops([put(fs, "g", b"v4", seen)], WirePolicy(keep_changed=True), "D1")
    assert not k.done and k.code == "changed" and b"".join(fs.read("g")[1]) == b"v3"


def test_one_thousand_files_in_one_batch(fs: FolderStore, record_property: pytest.RecordProperty) -> None:
    ops = [mkdir("many")] + [put(fs, f"many/f{i:04d}", b"file %d" % i) for i in range(999)]
    started = time.perf_counter()
    seq, results = fs.apply_ops(ops, POLICY, "D1")
    took = time.perf_counter() - started
    record_property("batch_1000_s", round(took, 4))
    print(f"\n1,000-item batch committed in {took:.3f} s")
    assert seq == 1000 and all(r.done for r in results)


def test_results_are_journaled_only_for_changes(fs: FolderStore) -> None:
    _, results = fs.apply_ops([mkdir("d"), mkdir("d"), Op(new_op_id(), "delete", "gone", Expect("file", 1, T0))],
                              POLICY, "D1")
    assert [r.done for r in results] == [True, True, True]
    assert [c.op for c in fs.changes(0).changes] == ["mkdir"]
    assert isinstance(results[1], ItemResult) and results[1].version == results[0].version


def test_chunk_lengths_answer_for_the_folder_only(store: tuple[Store, int], fs: FolderStore) -> None:
    digest, _ = put_bytes(fs, b"twelve bytes")
    other = store[0].folder(store[0].folders.create(store[1], "Other")[0])
    assert fs.chunk_lengths([digest, b"\0" * 32]) == {digest: 12}
    assert other.chunk_lengths([digest]) == {}
    with pytest.raises(WireError):
        fs.chunk_lengths([b"short"])
