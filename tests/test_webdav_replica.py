"""The WebDAV replica against a real WebDAV server (wsgidav on 127.0.0.1, served by cheroot in a
thread, HTTP Basic): the conformance suite, syncs through it, and the data-safety cases."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

import syncline
from syncline.core.entry import Entry
from syncline.engine.replicas.webdav import save_credentials
from syncline.testing import CHECKS, Check, LocalTree

from .conftest import write
from .davhelp import DavServer, wsgidav

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def dav(tmp_path: Path) -> Iterator[DavServer]:
    with wsgidav(tmp_path) as server:
        yield server


@pytest.mark.parametrize("check", CHECKS, ids=str)
def test_the_webdav_replica_conforms(check: Check, dav: DavServer) -> None:
    check.run(dav.factory())


# -- syncs through it ----------------------------------------------------------------------------------------
T0 = 1_700_000_000
NS = 10**9


@pytest.fixture
def connected(dav: DavServer, monkeypatch: pytest.MonkeyPatch) -> DavServer:
    """``dav`` with anna's user and password saved as ``syncline connect`` leaves them."""
    monkeypatch.setenv("SYNCLINE_STATE_DIR", str(dav.state))
    save_credentials(dav.state, dav.credentials())
    return dav


def on_disk(root: Path) -> dict[str, bytes | str]:
    """What a local folder holds (its ``.syncline`` left out): file -> bytes, folder -> "dir"."""
    return {p.relative_to(root).as_posix(): "dir" if p.is_dir() else p.read_bytes()
            for p in sorted(root.rglob("*")) if ".syncline" not in p.relative_to(root).parts}


def stat_of(dav: DavServer, folder: str, path: str) -> Entry | None:
    replica = dav.replica(folder)
    try:
        return replica.stat(path)
    finally:
        replica.close()


def tree(root: Path) -> None:
    write(root, "docs/report.txt", "report", mtime=T0)
    write(root, "docs/notes.txt", "notes", mtime=T0 + 5)
    write(root, "été & #1 %.txt", "unicode and escapes", mtime=T0)
    (root / "empty").mkdir()
    write(root, "big.bin", "x" * 300_000, mtime=T0)


def test_a_one_way_upload_then_a_second_run_plans_nothing(tmp_path: Path, connected: DavServer) -> None:
    src = tmp_path / "src"
    tree(src)
    report = syncline.sync(src, connected.url("Docs"))
    assert report.exit_code == 0, report.problems
    assert on_disk(connected.root / "Docs") == on_disk(src)
    again = syncline.sync(src, connected.url("Docs"))
    assert again.exit_code == 0 and len(again.plan) == 0, list(again.plan)
    entry = stat_of(connected, "Docs", "docs/notes.txt")
    assert entry is not None and entry.mtime_ns == (T0 + 5) * NS, "the mtime we gave, through the shadow"
    # ...and down again into an empty folder, with the mtimes the shadow keeps.
    down = tmp_path / "down"
    assert syncline.sync(connected.url("Docs"), down).exit_code == 0
    assert on_disk(down) == on_disk(src) and (down / "docs/notes.txt").stat().st_mtime_ns == (T0 + 5) * NS


def test_two_way_through_webdav_converges_and_then_plans_nothing(tmp_path: Path, connected: DavServer) -> None:
    a = tmp_path / "a"
    tree(a)
    first = syncline.sync(a, connected.url("Both"), two_way=True)
    assert first.exit_code == 0, first.problems
    assert on_disk(connected.root / "Both") == on_disk(a)
    again = syncline.sync(a, connected.url("Both"), two_way=True)
    assert again.exit_code == 0 and not again.to_a.plan and not again.to_b.plan, (again.to_a.plan, again.to_b.plan)
    # A change on each side crosses over; a delete on the server side reaches the local folder.
    write(a, "docs/report.txt", "report, edited here", mtime=T0 + 100)
    write(connected.root / "Both", "from-server.txt", "made on the server")
    (connected.root / "Both/docs/notes.txt").unlink()
    third = syncline.sync(a, connected.url("Both"), two_way=True)
    assert third.exit_code == 0, third.problems
    assert (connected.root / "Both/docs/report.txt").read_text() == "report, edited here"
    assert (a / "from-server.txt").read_text() == "made on the server" and not (a / "docs/notes.txt").exists()
    assert on_disk(connected.root / "Both") == on_disk(a)
    fourth = syncline.sync(a, connected.url("Both"), two_way=True)
    assert not fourth.to_a.plan and not fourth.to_b.plan, "no loop"


def test_a_foreign_edit_of_the_same_size_is_seen(tmp_path: Path, connected: DavServer) -> None:
    src = tmp_path / "src"
    write(src, "f.txt", "version 1", mtime=T0)
    assert syncline.sync(src, connected.url("Docs")).exit_code == 0
    before = stat_of(connected, "Docs", "f.txt")
    assert before is not None and before.mtime_ns == T0 * NS
    write(connected.root / "Docs", "f.txt", "version 2", mtime=T0 + 7)  # same size, another hand
    after = stat_of(connected, "Docs", "f.txt")
    assert after is not None and after.etag != before.etag and after.mtime_ns == (T0 + 7) * NS, \
        "a new etag: the shadow no longer applies, the server's mtime shows"
    report = syncline.sync(src, connected.url("Docs"))
    assert report.exit_code == 0 and (connected.root / "Docs/f.txt").read_text() == "version 1"
    assert [data for _, data in LocalTree(connected.root / "Docs").trashed()] == [b"version 2"]
