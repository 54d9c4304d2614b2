"""The engine syncing through the server's folder store: one-way into a server folder and out of it, and
two-way between a local folder and a server folder (conflicts kept, moves as server-side moves)."""

from __future__ import annotations

import os
from pathlib import Path

from syncline.core.conflicts import is_conflict_name
from syncline.engine.oneway import sync_replicas
from syncline.engine.replicas.local import LocalReplica
from syncline.engine.replicas.replica import WritePolicy
from syncline.engine.twoway.run import sync_two_way_replicas
from syncline.server.replica import ServerFolderReplica
from syncline.server.store import Store

from ..conftest import write
from ..test_twoway import T0, tree


def server_tree(replica: ServerFolderReplica, base: Path) -> dict[str, object]:
    """The server folder exported to ``base`` by a one-way sync, as :func:`tree` sees it."""
    out = LocalReplica(base)
    try:
        report = sync_replicas(replica, out)
        assert report.exit_code == 0, report.problems
    finally:
        out.close()
    return tree(base)


def test_one_way_in_and_out_gives_the_same_tree(tmp_path: Path, store: tuple[Store, int]) -> None:
    src = tmp_path / "src"
    write(src, "a.txt", "alpha", mtime=T0, mode=0o600)
    write(src, "docs/deep/b.bin", os.urandom(3 << 20), mtime=T0 + 1)  # chunked: over 1 MiB
    write(src, "empty.txt", b"", mtime=T0 + 2)
    (src / "empty-dir").mkdir()
    os.symlink("a.txt", src / "link")
    server = ServerFolderReplica(*store, "Docs", "D1")
    local = LocalReplica(src)
    report = sync_replicas(local, server)
    assert report.exit_code == 0, report.problems
    assert server.stat("docs/deep/b.bin") is not None
    fs = store[0].folder(store[0].folders.get(store[1], "Docs"))  # type: ignore[arg-type]
    assert len(fs.chunk_list("docs/deep/b.bin")[3]) > 1, "a big file is cut into chunks"
    assert server_tree(server, tmp_path / "out") == tree(src)

    # A second run changes nothing; an edit sends only what changed.
    again = sync_replicas(local, server)
    assert again.exit_code == 0 and not again.copied
    write(src, "a.txt", "alpha, edited", mtime=T0 + 10)
    edited = sync_replicas(local, server)
    assert edited.copied == 1
    assert server_tree(server, tmp_path / "out2") == tree(src)
    local.close()
    server.close()


def test_two_way_between_a_local_folder_and_a_server_folder(tmp_path: Path, store: tuple[Store, int]) -> None:
    ra = tmp_path / "a"
    ra.mkdir()
    a = LocalReplica(ra, policy=WritePolicy.two_way())
    b = ServerFolderReplica(*store, "Docs", "D1", policy=WritePolicy.two_way())
    write(ra, "docs/report.txt", "report", mtime=T0)
    write(ra, "only-a.txt", "A", mtime=T0)
    first = sync_two_way_replicas(a, b)
    assert first.exit_code == 0, first.problems
    assert b.stat("docs/report.txt") is not None

    # The server side changes (another device), the local side renames a folder.
    other = ServerFolderReplica(*store, "Docs", "D2", policy=WritePolicy.two_way())
    write(tmp_path / "x", "new.txt", "from the server", mtime=T0 + 5)
    with LocalReplica(tmp_path / "x").open_file("new.txt") as source:
        staged = other.stage_file("new.txt", source)
    assert other.commit(staged, None).done
    os.rename(ra / "docs", ra / "papers")
    second = sync_two_way_replicas(a, b)
    assert second.exit_code == 0 and second.moved == 1, second.problems
    assert (ra / "new.txt").read_text() == "from the server"
    assert b.stat("docs") is None and b.stat("papers/report.txt") is not None
    fs = store[0].folder(store[0].folders.get(store[1], "Docs"))  # type: ignore[arg-type]
    moves = [c for c in fs.changes(0).changes if c.op == "move"]
    assert [(c.from_path, c.path) for c in moves] == [("docs", "papers")], "one server-side move, no upload"

    # Both sides change one file differently: both versions are kept on both sides.
    write(ra, "only-a.txt", "A's edit", mtime=T0 + 20)
    theirs = tmp_path / "y"
    write(theirs, "only-a.txt", "server's edit", mtime=T0 + 21)
    with LocalReplica(theirs).open_file("only-a.txt") as source:
        staged = other.stage_file("only-a.txt", source)
    assert other.commit(staged, other.stat("only-a.txt")).done
    third = sync_two_way_replicas(a, b)
    assert [c.path for c in third.conflicts] == ["only-a.txt"]
    kept = sorted(p.read_text() for p in ra.iterdir() if p.name.startswith("only-a"))
    assert kept == ["A's edit", "server's edit"]
    assert any(is_conflict_name(p.name) for p in ra.iterdir())
    assert server_tree(b, tmp_path / "out") == tree(ra)
    a.close()
    b.close()
    other.close()
