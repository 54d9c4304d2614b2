"""A folder move of more entries than a listing page holds (protocol.md section 5): the move gives all of
them one version, and the client lists it in pages of 10,000 that split that version at a path."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from syncline.core.ignore import Rules
from syncline.engine.replicas.remote import RemoteReplica
from syncline.formats.wire.ops import Expect, Op, OpEntry, WirePolicy, new_op_id

from .remotehelp import URL, Served, served

T0 = 1_700_000_000_000_000_000
POLICY = WirePolicy(trash=True, keep_changed=False)
COUNT = 25_000


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Served]:
    with served(tmp_path) as s:
        yield s


def test_a_move_of_25000_entries_is_listed_in_pages(server: Served) -> None:
    folder, _ = server.store.folders.create(server.owner(), "Many")
    fs = server.store.folder(folder)
    dirs = [Op(new_op_id(), "mkdir", "d", None, OpEntry(T0, 0o755))] + [
        Op(new_op_id(), "mkdir", f"d/s{i // 1000:02d}", None, OpEntry(T0, 0o755)) for i in range(0, COUNT, 1000)]
    fs.apply_ops(dirs, POLICY, "Dother")
    for start in range(0, COUNT, 1000):
        _, results = fs.apply_ops([Op(new_op_id(), "mkdir", f"d/s{i // 1000:02d}/e{i:05d}", None, OpEntry(T0, 0o755))
                                   for i in range(start, start + 1000)], POLICY, "Dother")
        assert all(r.done for r in results)
    replica = server.replica("Many")
    first = replica.scan(Rules(), True, "source")
    assert sum(1 for p in first.entries if p.startswith("d/")) == COUNT + COUNT // 1000

    moved = fs.stat_many(["d"])[1][0]
    _, [done] = fs.apply_ops([Op(new_op_id(), "move", "d", Expect.of(moved.entry()), to="e")],  # type: ignore[union-attr]
                             POLICY, "Dother")
    assert done.done
    page = fs.entries(done.version - 1)
    assert page.more and len(page.rows) == 5_000 and {r.version for r in page.rows} == {done.version}

    # The delta is 2 x 25,026 rows of one version: tombstones and new rows, in pages split at a path.
    second = replica.scan(Rules(), True, "source")
    assert not any(p == "d" or p.startswith("d/") for p in second.entries)
    assert sum(1 for p in second.entries if p.startswith("e/")) == COUNT + COUNT // 1000
    # A fresh client lists the whole folder from 0 in pages too.
    fresh = RemoteReplica(URL, "Many", server.credentials, http=server.http).scan(Rules(), True, "source")
    assert set(fresh.entries) == set(second.entries)
    replica.close()
