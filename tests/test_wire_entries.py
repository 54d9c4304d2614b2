"""Entry rows (protocol.md section 5): written by the server, read and checked by a client."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from syncline.core.entry import Entry
from syncline.formats.wire import (
    COLUMNS,
    RowReader,
    WireError,
    dump_json,
    entries_page_of_json,
    entry_of,
    parse_json,
    row_of,
    stat_items_of_json,
    tombstone_row,
)

D = bytes.fromhex("af13" * 16)
FILE = Entry("file", 12, 1700000000123456789, 0o644, D, None, "F8X2", 1207, etag="v1207")


def test_golden_row() -> None:
    assert row_of("docs/a.txt", FILE, 1207) == ["docs/a.txt", "file", 12, 1700000000123456789, 420, "af13" * 16,
                                                None, "F8X2", 1207]
    assert tombstone_row("gone", "F1", 9) == ["gone", "deleted", None, None, None, None, None, "F1", 9]


def test_row_reads_back_with_version_as_ctime_and_etag() -> None:
    path, e = entry_of(row_of("docs/a.txt", FILE._replace(ctime_ns=0, etag=None), 1207))
    assert path == "docs/a.txt" and e == FILE
    assert e.unchanged_since(FILE) and not e.unchanged_since(FILE._replace(ctime_ns=1206))


def test_columns_by_name_in_any_order_with_extra_ones() -> None:
    cols = ["future", *reversed(COLUMNS)]
    row = ["x", *reversed(row_of("a", FILE, 1207))]
    assert RowReader(cols)(row).entry == FILE


@pytest.mark.parametrize("cols", [None, "path", list(COLUMNS[:-1]), [*COLUMNS, "path"], [*COLUMNS, 3],
                                  [*COLUMNS, *(f"c{i}" for i in range(60))]])
def test_bad_columns(cols: Any) -> None:
    with pytest.raises(WireError) as info:
        RowReader(cols)
    assert info.value.code in ("bad_response", "too_large")


GOOD = row_of("a", FILE, 1207)


def _with(**over: Any) -> list[Any]:
    row = list(GOOD)
    for k, v in over.items():
        row[COLUMNS.index(k)] = v
    return row


@pytest.mark.parametrize("row", [
    None, GOOD[:-1], [*GOOD, 1],
    _with(path="../x"), _with(path=""), _with(path="a/.syncline"), _with(path="\udc80"),
    _with(kind="deleted"), _with(kind="fifo"), _with(size=-1), _with(size=True), _with(size=(1 << 40) + 1),
    _with(mtime_ns="1"), _with(mode=0o10000), _with(digest=None), _with(digest="AF" * 32), _with(target="t"),
    _with(file_id=None), _with(file_id="x" * 65), _with(version=0), _with(version=1.0),
    _with(kind="dir", size=0), _with(kind="dir", size=5, digest=None),
    _with(kind="symlink", digest=None, target="abc", size=4), _with(kind="symlink", digest=None, size=0),
    _with(kind="symlink", digest=None, target="a\0", size=2),
])
def test_hostile_rows_refused(row: Any) -> None:
    with pytest.raises(WireError) as info:
        RowReader(list(COLUMNS))(row)
    assert info.value.code == "bad_response"


def test_kinds() -> None:
    read = RowReader(list(COLUMNS), tombstones=True)
    link = read(_with(kind="symlink", digest=None, target="tä", size=3)).entry
    assert link is not None and link.target == "tä" and link.digest is None
    folder = read(_with(kind="dir", digest=None, size=0)).entry
    assert folder is not None and folder.kind == "dir"
    assert read(tombstone_row("gone", "F1", 9)) == ("gone", None, 9)


def _page(rows: list[list[Any]], seq: int, nxt: int, more: bool, next_path: str | None = None) -> dict[str, Any]:
    if next_path is None and more is True and rows:
        next_path = rows[-1][0]
    return {"seq": seq, "columns": list(COLUMNS), "rows": rows, "next": nxt, "more": more, "next_path": next_path}


def test_pages() -> None:
    rows = [row_of("a", FILE, 3), tombstone_row("b", "F2", 5)]
    page = entries_page_of_json(_page(rows, 9, 5, True), since=2)
    assert page.seq == 9 and page.next == 5 and page.more and [r.path for r in page.rows] == ["a", "b"]
    assert entries_page_of_json(_page([], 9, 0, False), since=0).rows == []
    moved = [row_of("new/a", FILE, 6), row_of("new/b", FILE, 6), tombstone_row("old/a", "F1", 6)]
    page = entries_page_of_json(_page(moved, 6, 6, False), since=5)  # a folder move: one version, many rows
    assert [r.version for r in page.rows] == [6, 6, 6]
    # A page may split a version: the next goes on after (version, path).
    first = entries_page_of_json(_page(moved[:2], 6, 6, True), since=5)
    assert first.more and (first.next, first.next_path) == (6, "new/b")
    rest = entries_page_of_json(_page(moved[2:], 6, 6, False), since=6, after="new/b")
    assert [r.path for r in rest.rows] == ["old/a"] and rest.next_path is None
    for body, since, after in [
        (_page(moved[2:], 6, 6, False), 6, "old/a"),  # a row not past the cursor
        (_page(moved[1:], 6, 6, False), 6, "new/b"),  # the cursor's own row again
        (_page(moved[:2], 6, 6, True, "new/a"), 5, None),  # next_path not the last row's path
        (_page([moved[1], moved[0]], 6, 6, False), 5, None),  # a version's rows out of path order
    ]:
        with pytest.raises(WireError):
            entries_page_of_json(body, since, after)
    for body, since in [
        (_page(rows, 9, 5, True), 0),  # a tombstone in a full listing
        (_page(rows, 9, 5, True), 3),  # a row not above since
        (_page(rows[::-1], 9, 3, True), 2),  # out of order
        (_page(rows, 4, 5, False), 2),  # a row past seq
        (_page(rows, 9, 4, False), 2),  # next is not the last version
        (_page([], 9, 0, True), 0),  # more without rows
        (_page(rows, 9, 5, 1), 2),
        (_page([row_of(f"p{i}", FILE, i + 1) for i in range(10_001)], 20_000, 10_001, False), 0),
    ]:
        with pytest.raises(WireError):
            entries_page_of_json(body, since)


def test_stat_items() -> None:
    root = ["", "dir", 0, 5, 0o755, None, None, "R", 1]
    body = {"seq": 7, "columns": list(COLUMNS), "items": [row_of("a", FILE, 3), None, root,
                                                          {"error": {"code": "not_a_dir", "message": "m"}}]}
    seq, items = stat_items_of_json(body, 4)
    assert seq == 7 and items[1] is None
    assert not isinstance(items[0], WireError) and items[0] is not None and items[0].entry == FILE._replace(
        ctime_ns=3, etag="v3")
    assert not isinstance(items[2], WireError) and items[2] is not None and items[2].path == ""
    assert isinstance(items[3], WireError) and items[3].code == "not_a_dir"
    with pytest.raises(WireError):
        stat_items_of_json(body, 3)


_names = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="/\0"), min_size=1, max_size=6)
_paths = st.lists(_names, min_size=1, max_size=3).map("/".join).filter(
    lambda p: all(x not in (".", "..") and x.casefold() != ".syncline" for x in p.split("/")))


@st.composite
def _entries(draw: st.DrawFn) -> Entry:
    kind = draw(st.sampled_from(["file", "dir", "symlink"]))
    mtime, mode, fid = draw(st.integers(-(1 << 63), (1 << 63) - 1)), draw(st.integers(0, 0o7777)), draw(_names)
    if kind == "file":
        return Entry("file", draw(st.integers(0, 1 << 40)), mtime, mode, draw(st.binary(min_size=32, max_size=32)),
                     None, fid)
    if kind == "dir":
        return Entry("dir", 0, mtime, mode, None, None, fid)
    target = draw(_names)
    return Entry("symlink", len(target.encode()), mtime, mode, None, target, fid)


@settings(max_examples=200, deadline=None)
@given(_paths, _entries(), st.integers(1, (1 << 63) - 1))
def test_rows_round_trip_through_bytes(path: str, entry: Entry, version: int) -> None:
    row = parse_json(dump_json(row_of(path, entry, version)))
    assert entry_of(row) == (path, entry._replace(ctime_ns=version, etag=f"v{version}"))
