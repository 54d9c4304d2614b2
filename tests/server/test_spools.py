"""Chunked uploads in progress (``server/spools.py``): names checked before they are file names, a cut
chunk is no chunk, chunks read in numeric order, bounds, and the sweep of uploads left a day."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from syncline.formats.wire.errors import WireError
from syncline.server import spools as sp
from syncline.server.spools import Spools


def test_chunks_are_read_in_numeric_order_and_a_cut_one_is_nothing(tmp_path: Path) -> None:
    s = Spools(tmp_path / "up")
    assert s.make(1, "t1") and not s.make(1, "t1")
    for name, data in (("10", b"c"), ("2", b"b"), ("0000000000000001", b"a")):
        with s.chunk(1, "t1", name) as out:
            out.write(data)
    with pytest.raises(ConnectionResetError), s.chunk(1, "t1", "11") as out:
        out.write(b"half")
        raise ConnectionResetError("the client went away")
    assert s.chunks(1, "t1") == [("0000000000000001", 1), ("2", 1), ("10", 1)]
    assert b"".join(s.open_chunks(1, "t1")) == b"abc"
    assert not s.exists(2, "t1"), "uploads are per user"
    assert s.remove(1, "t1") and not s.remove(1, "t1")


@pytest.mark.parametrize("bad", ["..", ".", "../x", "a/b", "", "x" * 101, ".hidden", "a\0b", "a..b"])
def test_hostile_upload_ids_are_refused(tmp_path: Path, bad: str) -> None:
    with pytest.raises(WireError):
        Spools(tmp_path / "up").make(1, bad)
    assert not (tmp_path / "up").exists() or not any((tmp_path / "up").rglob("*x*"))


@pytest.mark.parametrize("bad", ["..", ".file", "1a", "-1", "1" * 21, "../../etc"])
def test_hostile_chunk_names_are_refused(tmp_path: Path, bad: str) -> None:
    s = Spools(tmp_path / "up")
    s.make(1, "t")
    with pytest.raises(WireError), s.chunk(1, "t", bad) as out:
        out.write(b"x")
    assert s.chunks(1, "t") == [] and os.listdir(tmp_path / "up" / "1" / "t") == []


def test_bounds(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    s = Spools(tmp_path / "up")
    monkeypatch.setattr(sp, "MAX_UPLOADS", 2)
    monkeypatch.setattr(sp, "MAX_CHUNK", 4)
    s.make(1, "a")
    s.make(1, "b")
    with pytest.raises(WireError) as e:
        s.make(1, "c")
    assert e.value.code == "too_large"
    with pytest.raises(WireError) as e, s.chunk(1, "a", "1") as out:
        out.write(b"12345")
    assert e.value.code == "too_large" and s.chunks(1, "a") == []
    with pytest.raises(WireError) as e:
        Spools(tmp_path / "full", min_free=1 << 62).make(1, "x") or None
        with Spools(tmp_path / "full", min_free=1 << 62).chunk(1, "x", "1") as out:
            out.write(b"x")
    assert e.value.code == "no_space"


def test_the_sweep_takes_uploads_left_a_day(tmp_path: Path) -> None:
    s = Spools(tmp_path / "up")
    s.make(1, "old")
    s.make(1, "new")
    day_ago = time.time() - sp.MAX_AGE_S - 60
    os.utime(tmp_path / "up" / "1" / "old", (day_ago, day_ago))
    assert s.sweep() == 1 and not s.exists(1, "old") and s.exists(1, "new")


def test_the_chunk_bound_counts_chunks_and_lets_one_be_sent_again(tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """At :data:`MAX_CHUNKS`, one more chunk is ``too_large``; a chunk sent again (a retry) replaces its
    own, as below the bound."""
    s = Spools(tmp_path / "up")
    monkeypatch.setattr(sp, "MAX_CHUNKS", 3)
    s.make(1, "a")
    for name in ("1", "2", "3"):
        with s.chunk(1, "a", name) as out:
            out.write(b"x")
    with pytest.raises(WireError) as e, s.chunk(1, "a", "4") as out:
        out.write(b"x")
    assert e.value.code == "too_large"
    with s.chunk(1, "a", "3") as out:
        out.write(b"again")
    assert s.chunks(1, "a") == [("1", 1), ("2", 1), ("3", 5)]


def test_an_upload_removed_while_it_is_read_or_written_is_not_found(tmp_path: Path) -> None:
    """Two ``MOVE .file`` (or a ``DELETE`` and a ``MOVE .file``) of one upload at once: the one that
    loses finds the upload gone (``not_found``), never an OSError the client sees as a 500."""
    s = Spools(tmp_path / "up")
    s.make(1, "a")
    for name in ("1", "2"):
        with s.chunk(1, "a", name) as out:
            out.write(b"x" * 10)
    blocks = s.open_chunks(1, "a")
    assert next(blocks) == b"x" * 10
    assert s.remove(1, "a") and not s.remove(1, "a")
    with pytest.raises(WireError) as e:
        next(blocks)
    assert e.value.code == "not_found"
    s.make(1, "b")
    with pytest.raises(WireError) as e, s.chunk(1, "b", "1") as out:
        s.remove(1, "b")
        out.write(b"x")
    assert e.value.code == "not_found"


def test_two_names_of_one_number_are_refused(tmp_path: Path) -> None:
    s = Spools(tmp_path / "up")
    s.make(1, "t")
    with s.chunk(1, "t", "1") as out:
        out.write(b"a")
    with pytest.raises(WireError) as e, s.chunk(1, "t", "01") as out:
        out.write(b"b")
    assert e.value.code == "bad_request" and s.chunks(1, "t") == [("1", 1)]
