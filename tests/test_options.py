"""The shared option parts (engine/options.py) and addresses (engine/replicas/address.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

import syncline
from syncline.core.entry import Compare, CompareMode
from syncline.core.errors import UsageError
from syncline.core.ignore import Rules
from syncline.engine.offline.apply import ApplyOptions
from syncline.engine.offline.archiving import ArchiveOptions
from syncline.engine.oneway import SyncOptions
from syncline.engine.options import Comparison, Filters, Guards, Writes, compare_named, parse_max_delete
from syncline.engine.replicas.address import open_replica, parse_address
from syncline.engine.replicas.local import LocalReplica
from syncline.engine.twoway.run import TwoWaySyncOptions

from .cli_helpers import assert_one_line_error, run
from .conftest import write


def test_options_are_built_from_parts_and_give_them_back() -> None:
    rules = Rules(excludes=("*.tmp",))
    opts = SyncOptions.of(Filters(rules=rules), Comparison(compare=Compare(CompareMode.SIZE)),
                          Guards(max_delete=3, force=True), Writes(dry_run=True, trash=False), delete=True)
    assert (opts.rules, opts.compare.mode, opts.max_delete, opts.force, opts.dry_run, opts.trash, opts.delete) \
        == (rules, CompareMode.SIZE, 3, True, True, False, True)
    assert opts.part(Guards) == Guards(max_delete=3, force=True)
    assert opts.part(Writes).policy().trash is False
    two_way = TwoWaySyncOptions.of(*(opts.part(p) for p in (Filters, Comparison, Guards, Writes)), conflict="newer")
    assert (two_way.rules, two_way.max_delete, two_way.conflict) == (rules, 3, "newer")


def test_the_flat_keywords_stay() -> None:
    assert SyncOptions(delete=True, max_delete=1.0).part(Guards) == Guards(max_delete=1.0)
    assert ApplyOptions().delete and ApplyOptions(trash=False).part(Writes) == Writes(trash=False)


def test_a_part_a_mode_does_not_take_is_refused() -> None:
    with pytest.raises(TypeError, match="ApplyOptions takes no Filters"):
        ApplyOptions.of(Filters())
    with pytest.raises(TypeError, match="ArchiveOptions has no Writes"):
        ArchiveOptions().part(Writes)


@pytest.mark.parametrize("name, checksum, size_only, mode", [
    (None, False, False, CompareMode.MTIME), ("size", False, False, CompareMode.SIZE),
    ("hash", False, False, CompareMode.CHECKSUM), (None, True, False, CompareMode.CHECKSUM),
    (None, False, True, CompareMode.SIZE), ("hash", True, False, CompareMode.CHECKSUM),
])
def test_both_spellings_of_the_compare_mode(name: str | None, checksum: bool, size_only: bool,
                                             mode: CompareMode) -> None:
    assert compare_named(name, checksum, size_only).mode is mode


def test_compare_mistakes() -> None:
    with pytest.raises(UsageError, match="exclude each other"):
        compare_named("mtime", checksum=True)
    with pytest.raises(UsageError, match="unknown compare mode 'fuzzy'"):
        compare_named("fuzzy")
    assert compare_named(modify_window=2).modify_window_ns == 2_000_000_000


@pytest.mark.parametrize("text, value", [("1000", 1000), ("50%", 0.5), (" 0 ", 0), ("100%", 1.0)])
def test_max_delete_spellings(text: str, value: int | float) -> None:
    assert parse_max_delete(text) == value


@pytest.mark.parametrize("text", ["-1", "150%", "lots", "1.5", "nan%"])
def test_bad_max_delete(text: str) -> None:
    with pytest.raises(ValueError):
        parse_max_delete(text)


def test_the_api_takes_the_compare_name_for_sync_too(tmp_path: Path) -> None:
    src, dst = tmp_path / "src", tmp_path / "dst"
    write(src, "a.txt", "same size")
    write(dst, "a.txt", "SAME SIZE")
    assert syncline.sync(src, dst, compare="size").copied == 0
    assert syncline.sync(src, dst, compare="hash").copied == 1
    with pytest.raises(UsageError, match="exclude each other"):
        syncline.sync(src, dst, compare="size", checksum=True)


def test_a_local_address() -> None:
    where = parse_address("some/dir")
    assert where.kind == "local" and where.path == Path.cwd() / "some/dir"
    assert parse_address("notes:2024").kind == "local"  # a colon without // is a name, as always
    assert parse_address(Path("sftp://x")).kind == "local"  # a path object is a path


@pytest.mark.parametrize("address", ["sftp://host/x", "ftp://cloud.example/remote.php/dav", "ssh://h/x"])
def test_an_unknown_kind_of_address_is_a_usage_error(address: str) -> None:
    with pytest.raises(UsageError) as caught:
        parse_address(address)
    scheme = address.split(":")[0]
    assert f"{scheme}://" in caught.value.message and "local folder" in caught.value.hint


def test_a_webdav_address_is_known() -> None:
    assert parse_address("webdav://cloud.example/remote.php/dav").kind == "webdav"  # tests/test_webdav_address.py


def test_open_replica_opens_a_local_folder(tmp_path: Path) -> None:
    replica = open_replica(str(tmp_path))
    assert isinstance(replica, LocalReplica) and replica.root == tmp_path


def test_the_api_opens_its_places_by_address(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="sftp://"):
        syncline.sync("sftp://host/x", tmp_path / "d")
    with pytest.raises(UsageError, match="https://"):
        syncline.sync(tmp_path, "https://cloud.example/dav", two_way=True)
    with pytest.raises(UsageError, match="webdav://"):
        syncline.apply(tmp_path / "x.slar", "webdav://h/x")


@pytest.mark.parametrize("args", [
    ("sync", "{src}", "sftp://host/x"),
    ("sync", "--two-way", "sftp://host/x", "{src}"),
    ("watch", "{src}", "sftp://host/x"),
    ("apply", "{tmp}/x.slar", "sftp://host/x"),
])
def test_the_cli_refuses_an_unknown_kind_of_address(tmp_path: Path, src: Path, args: tuple[str, ...]) -> None:
    argv = [a.format(src=src, tmp=tmp_path) for a in args]
    assert_one_line_error(run(*argv), "sftp://", "local folder")
