"""Hostile and damaged archives: each is rejected with a clear error before anything in DIR changes.

Archives are built byte by byte here (``raw_archive``), bypassing the writer's own checks, so every rule
of the reader is tried with the input an attacker would send. A bounded Hypothesis run then mutates a
valid archive at random; applying the result must always fail cleanly with DIR untouched.
"""

from __future__ import annotations

import os
import struct
from pathlib import Path
from typing import Any

import blake3
import msgpack
import pytest
import zstandard
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import syncline
from syncline.core.errors import ArchiveFormatError, SynclineError, UsageError
from syncline.formats.archivefile import MAGIC, open_archive

from .cli_helpers import run
from .conftest import write
from .test_archive import snapshot

T0 = 1_700_000_000_000_000_000


def ref(root: bytes = b"/far") -> dict[str, Any]:
    return {"root": root, "host": "laptop", "scanned_ns": T0, "id": bytes(32)}


def header(ops: int, content_bytes: int, **extra: Any) -> dict[str, Any]:
    h = {"format": "syncline-archive", "version": 1, "tool": "test", "created_ns": T0, "source": ref(b"/office"),
         "against": ref(), "delete": True, "compare": "mtime", "ops": ops, "content_bytes": content_bytes,
         "label": ""}
    h.update(extra)
    return h


def file_rec(data: bytes, mtime: int = T0, digest: bytes | None = None) -> list[Any]:
    return [0, 0o644, len(data), mtime, digest if digest is not None else blake3.blake3(data).digest(), None]


def raw_archive(records: list[Any], *, head: dict[str, Any] | None = None, magic: bytes = MAGIC, version: int = 1,
                flags: int = 0, ops: int | None = None, content: int | None = None) -> bytes:
    """An archive made of these msgpack values (ops, pieces, nil ends; the end map is added), with a valid
    checksum unless the test breaks it afterwards."""
    n_ops = sum(1 for r in records if isinstance(r, list) and len(r) == 5)
    n_bytes = sum(len(r) for r in records if isinstance(r, bytes))
    h = head if head is not None else header(n_ops if ops is None else ops, n_bytes if content is None else content)
    packer = msgpack.Packer(use_bin_type=True)
    stream = packer.pack(h) + b"".join(packer.pack(r) for r in records) + packer.pack({"end": n_ops})
    data = struct.pack(">8sHH", magic, version, flags) + zstandard.ZstdCompressor(level=3).compress(stream)
    return data + blake3.blake3(data).digest()


def new_file(path: bytes, data: bytes) -> list[Any]:
    """An op creating ``path`` with ``data``, then its content run."""
    return [[0, path, None, file_rec(data), 1], data, None]


@pytest.fixture
def target(tmp_path: Path) -> Path:
    d = tmp_path / "far"
    write(d, "keep/me.txt", b"precious", mtime=1_600_000_000)
    write(d, "a.txt", b"old", mtime=1_600_000_000)
    return d


def rejected(tmp_path: Path, target: Path, data: bytes, match: str, error: type = ArchiveFormatError) -> None:
    """Applying ``data`` raises ``error`` matching ``match``; DIR and everything around it is untouched."""
    archive = tmp_path / "hostile.slar"
    archive.write_bytes(data)
    before = snapshot(target)
    around = sorted(p.name for p in tmp_path.iterdir())
    with pytest.raises(error, match=match):
        syncline.apply(archive, target)
    assert snapshot(target) == before
    assert not list(target.glob(".syncline/apply-*"))
    assert sorted(p.name for p in tmp_path.iterdir()) == around


def test_a_valid_raw_archive_applies(tmp_path: Path, target: Path) -> None:
    """The builder itself makes archives the reader accepts (so the rejections below are the rules')."""
    (tmp_path / "ok.slar").write_bytes(raw_archive(new_file(b"new.txt", b"hello")))
    report = syncline.apply(tmp_path / "ok.slar", target)
    assert report.exit_code == 0
    assert (target / "new.txt").read_bytes() == b"hello"


@pytest.mark.parametrize("path", [b"../evil.txt", b"a/../../evil.txt", b"/etc/evil", b"./x", b"a//b", b"",
                                  b"a\0b", b"x" * 256, b".syncline/applied.jsonl", b".syncline"])
def test_bad_paths(tmp_path: Path, target: Path, path: bytes) -> None:
    rejected(tmp_path, target, raw_archive(new_file(path, b"evil")), "path|order")


def test_a_symlink_then_a_file_written_through_it(tmp_path: Path, target: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    link = [0, b"door", None, [2, 0o777, len(os.fsencode(str(outside))), T0, None, os.fsencode(str(outside))], 0]
    through = [[4, b"/passwd", None, file_rec(b"owned"), 1], b"owned", None]
    rejected(tmp_path, target, raw_archive([link, *through]), "below a path the archive makes")
    assert list(outside.iterdir()) == []


def test_a_file_then_something_below_it(tmp_path: Path, target: Path) -> None:
    rejected(tmp_path, target, raw_archive([*new_file(b"f", b"x"), *new_file(b"f/g", b"y")]), "below a path")


def test_duplicate_entries(tmp_path: Path, target: Path) -> None:
    rejected(tmp_path, target, raw_archive([*new_file(b"dup", b"1"), [3, b"", None, file_rec(b"2"), 1], b"2", None]),
             "duplicate")


def test_declared_size_larger_than_the_content(tmp_path: Path, target: Path) -> None:
    rec = file_rec(b"0123456789")
    rejected(tmp_path, target, raw_archive([[0, b"short", None, rec, 1], b"01234", None]), "not the declared")


def test_content_larger_than_declared(tmp_path: Path, target: Path) -> None:
    rec = file_rec(b"01234")
    rejected(tmp_path, target, raw_archive([[0, b"long", None, rec, 1], b"0123456789", None]), "more content")


def test_a_hash_mismatch(tmp_path: Path, target: Path) -> None:
    rec = file_rec(b"real", digest=blake3.blake3(b"fake").digest())
    rejected(tmp_path, target, raw_archive([[0, b"x.txt", None, rec, 1], b"real", None]), "does not match its digest")


def test_a_decompression_bomb_is_refused_before_it_is_read(tmp_path: Path, target: Path) -> None:
    huge = 1 << 50  # a petabyte of zeros, declared honestly
    rec = [0, 0o644, huge, T0, bytes(32), None]
    data = raw_archive([[0, b"bomb", None, rec, 1], b"\0" * 1000, None], content=huge)
    rejected(tmp_path, target, data, "free", error=UsageError)


def test_a_bomb_that_lies_about_its_size_stops_at_the_declared_size(tmp_path: Path, target: Path) -> None:
    rec = file_rec(b"\0" * 10)
    zeros = [b"\0" * (1 << 20)] * 64  # 64 MiB of zeros for a file declared as 10 bytes
    rejected(tmp_path, target, raw_archive([[0, b"bomb", None, rec, 1], *zeros, None], content=10), "more content")


def test_a_range_beyond_the_old_version(tmp_path: Path, target: Path) -> None:
    old = [0, 0o644, 3, 1_600_000_000_000_000_000, None, None]
    rec = file_rec(b"0123456789")
    data = raw_archive([[0, b"a.txt", old, rec, 2], [0, 10], None], content=10)
    rejected(tmp_path, target, data, "bad content piece")


def test_a_range_in_a_whole_file(tmp_path: Path, target: Path) -> None:
    old = [0, 0o644, 3, 1_600_000_000_000_000_000, None, None]
    rec = file_rec(b"old")
    rejected(tmp_path, target, raw_archive([[0, b"a.txt", old, rec, 1], [0, 3], None], content=3), "bad content piece")


@pytest.mark.parametrize("rec, match", [
    ([0, b"x", None, [0, 0o644, 1, T0, b"short", None], 1], "digest"),
    ([0, b"x", None, [5, 0o644, 0, T0, None, None], 0], "out of range"),
    ([0, b"x", None, [1, 0o70000, 0, T0, None, None], 0], "out of range"),
    ([0, b"x", None, [2, 0o777, 3, T0, None, b"a\0b"], 0], "symlink target"),
    ([0, b"x", None, [0, 0o644, 1, T0, bytes(32), None], 7], "content code"),
    ([0, b"x", None, None, 0], "neither"),
    ([0, b"x", None, [0, 0o644, 1, T0, bytes(32), None], 0], "not a metadata change"),
    ([0, b"x", None, [0, 0o644, 1, T0, bytes(32), None], 2], "delta against"),
    ([0, b"x", None], "5-field"),
    (["x", b"x", None, None, 0], "path encoding"),
])
def test_malformed_ops(tmp_path: Path, target: Path, rec: list[Any], match: str) -> None:
    rejected(tmp_path, target, raw_archive([rec]), match)


def test_truncated_anywhere(tmp_path: Path, target: Path) -> None:
    data = raw_archive([*new_file(b"n1.txt", b"one" * 100), *new_file(b"n2.txt", b"two" * 100)])
    for cut in (0, 3, 8, 11, 12, 20, len(data) // 2, len(data) - 33, len(data) - 32, len(data) - 1):
        rejected(tmp_path, target, data[:cut], "empty|truncated|corrupt")


def test_a_flipped_byte_anywhere(tmp_path: Path, target: Path) -> None:
    data = raw_archive([*new_file(b"n1.txt", b"one" * 100)])
    for pos in range(12, len(data), max(1, len(data) // 40)):
        broken = bytearray(data)
        broken[pos] ^= 0x40
        rejected(tmp_path, target, bytes(broken), "corrupt")


def test_wrong_magic_newer_version_unknown_flags(tmp_path: Path, target: Path) -> None:
    body = new_file(b"n.txt", b"n")
    rejected(tmp_path, target, raw_archive(body, magic=b"SLIDX\r\n\x1a"), "not a syncline archive")
    rejected(tmp_path, target, raw_archive(body, version=2), "format v2; this syncline reads up to v1")
    rejected(tmp_path, target, raw_archive(body, flags=2), "unknown archive flags")
    rejected(tmp_path, target, b"#!/bin/sh\nrm -rf /\n", "not a syncline archive")


def test_header_lies(tmp_path: Path, target: Path) -> None:
    body = new_file(b"n.txt", b"n")
    rejected(tmp_path, target, raw_archive(body, ops=5), "op count")
    rejected(tmp_path, target, raw_archive(body, head=header(1, 1, compare="fuzzy")), "compare")
    rejected(tmp_path, target, raw_archive(body, head={"format": "syncline-archive"}), "header")


def test_data_after_the_end(tmp_path: Path, target: Path) -> None:
    good = raw_archive(new_file(b"n.txt", b"n"))
    rejected(tmp_path, target, good[:-32] + b"junk" + good[-32:], "corrupt")


def test_the_cli_says_what_is_wrong_in_one_line(tmp_path: Path, target: Path) -> None:
    archive = tmp_path / "bad.slar"
    archive.write_bytes(raw_archive(new_file(b"../evil", b"x")))
    for argv in (["apply", archive, target], ["archive", "show", archive]):
        result = run(*argv)
        assert result.returncode == 2
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("syncline: error: corrupt archive"), result.stderr


@pytest.fixture(scope="module")
def valid_archive(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """One valid archive (made once: every fuzz example mutates the same bytes)."""
    tmp_path = tmp_path_factory.mktemp("valid")
    office, far = tmp_path / "office", tmp_path / "far0"
    write(office, "a.txt", b"old", mtime=1_600_000_000)
    write(far, "a.txt", b"old", mtime=1_600_000_000)
    idx = tmp_path / "far.slidx"
    syncline.index(far, idx)
    write(office, "a.txt", b"new version", mtime=1_600_000_100)
    write(office, "d/b.txt", b"b" * 300, mtime=1_600_000_100)
    os.symlink("d/b.txt", office / "link")
    syncline.archive(office, idx, tmp_path / "valid.slar")
    return (tmp_path / "valid.slar").read_bytes()


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_fuzz_mutated_archives_fail_cleanly(tmp_path_factory: pytest.TempPathFactory, valid_archive: bytes,
                                            data: st.DataObject) -> None:
    base = tmp_path_factory.mktemp("fuzz")
    valid = valid_archive
    far = base / "far"
    write(far, "a.txt", b"old", mtime=1_600_000_000)
    mutated = bytearray(valid)
    for _ in range(data.draw(st.integers(1, 4))):
        how = data.draw(st.sampled_from(["flip", "cut", "insert", "delete"]))
        pos = data.draw(st.integers(0, max(0, len(mutated) - 1)))
        if how == "flip" and mutated:
            mutated[pos] ^= data.draw(st.integers(1, 255))
        elif how == "cut":
            del mutated[pos:]
        elif how == "insert":
            mutated[pos:pos] = data.draw(st.binary(min_size=1, max_size=16))
        elif mutated:
            del mutated[pos : pos + data.draw(st.integers(1, 16))]
    if bytes(mutated) == valid:
        return
    archive = base / "m.slar"
    archive.write_bytes(bytes(mutated))
    before = snapshot(far)
    with pytest.raises(SynclineError):
        syncline.apply(archive, far)
    assert snapshot(far) == before
    fh = None
    try:
        fh, reader = open_archive(archive)
        for _op, pieces in reader:
            for _ in pieces or ():
                pass
    except ArchiveFormatError:
        pass
    else:
        pytest.fail("a mutated archive was read without error")
    finally:
        if fh is not None:
            fh.close()
