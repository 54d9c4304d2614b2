"""The public API's newer calls: ``syncline.watch(on_event=...)`` handing typed events (``syncline.events``)
from a real watch, and ``syncline.sync_two_way_replicas`` between a local folder and a replica in memory."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

import syncline
from syncline import events
from syncline.engine.replicas.local import LocalReplica
from syncline.engine.replicas.replica import WritePolicy
from syncline.testing import MemoryReplica

from .conftest import write
from .test_twoway import T0
from .test_watch import same, wait_until


def test_the_public_names_are_listed() -> None:
    assert {"sync_two_way_replicas", "watch"} <= set(syncline.__all__)
    assert syncline.sync_two_way_replicas.__doc__
    assert events.__all__ == sorted(events.__all__)
    for name in events.__all__:
        assert getattr(events, name).__module__.startswith("syncline.services.watch.")


def test_watch_hands_typed_events_in_sequence_to_on_event(tmp_path: Path) -> None:
    src, dst = tmp_path / "src", tmp_path / "dst"
    write(src, "a.txt", b"a")
    stop = threading.Event()
    got: list[events.Event] = []
    said: list[str] = []
    status = events.WatchStatus()

    def on_event(event: events.Event) -> None:
        got.append(event)
        status(event)

    runner = threading.Thread(target=syncline.watch, args=(src, [dst]),
                              kwargs={"delete": True, "stop": stop, "on_event": on_event,
                                      "log": lambda message, fields: said.append(message)})
    runner.start()
    try:
        assert wait_until(lambda: any(isinstance(e, events.FullSynced) for e in got) and same(src, dst))
        write(src, "docs/b.txt", b"b")
        assert wait_until(lambda: any(isinstance(e, events.Synced) for e in got) and same(src, dst))
        assert wait_until(lambda: (st := status.get(str(src))) is not None and st.pending == 0)
    finally:
        stop.set()
        runner.join(60)
    assert not runner.is_alive()
    numbered = [e for e in got if e.seq]
    assert [e.seq for e in numbered] == list(range(1, len(numbered) + 1))  # the watch's own stream
    assert isinstance(numbered[0], events.Watching) and numbered[0].targets == (str(dst),)
    assert all(isinstance(e, events.SourceState) for e in got if not e.seq)
    assert any(isinstance(e, events.SourceState) for e in got)
    assert said == [e.message for e in numbered]  # `log` gets what it always got
    st = status.get(str(src))
    assert st is not None and [(t.target, t.ok, t.error) for t in st.targets] == [(str(dst), True, "")]
    assert st.seq == numbered[-1].seq


@pytest.fixture
def pair(tmp_path: Path) -> tuple[LocalReplica, MemoryReplica]:
    write(tmp_path / "a", "docs/report.txt", "report", mtime=T0)
    local = LocalReplica(tmp_path / "a", policy=WritePolicy.two_way())
    memory = MemoryReplica("m", policy=WritePolicy.two_way())
    memory.put_file("notes/from-memory.txt", b"memory", T0 * 10**9)
    return local, memory


def test_two_way_between_a_folder_and_a_replica_in_memory(tmp_path: Path,
                                                          pair: tuple[LocalReplica, MemoryReplica]) -> None:
    local, memory = pair
    try:
        first = syncline.sync_two_way_replicas(local, memory)
        assert first.first_run and not first.errors
        assert memory.read("docs/report.txt") == b"report"
        assert (tmp_path / "a/notes/from-memory.txt").read_bytes() == b"memory"
        again = syncline.sync_two_way_replicas(local, memory)
        assert not again.first_run and again.plan is not None
        assert not again.plan.to_a.actions and not again.plan.to_b.actions
        # Each way once more: an edit in memory comes to the folder, a new local file goes to memory.
        memory.put_file("notes/from-memory.txt", b"memory, edited", (T0 + 10) * 10**9)
        write(tmp_path / "a", "docs/new.txt", "new", mtime=T0 + 20)
        third = syncline.sync_two_way_replicas(local, memory, conflict="newer")
        assert (tmp_path / "a/notes/from-memory.txt").read_bytes() == b"memory, edited"
        assert memory.read("docs/new.txt") == b"new" and not third.errors
        last = syncline.sync_two_way_replicas(local, memory)
        assert last.plan is not None and not last.plan.to_a.actions and not last.plan.to_b.actions
    finally:
        local.close()


def test_two_way_refuses_one_replica_given_twice(pair: tuple[LocalReplica, MemoryReplica]) -> None:
    local, memory = pair
    with pytest.raises(syncline.UsageError, match="the same"):
        syncline.sync_two_way_replicas(memory, memory)
    inner = LocalReplica(local.root / "docs", policy=WritePolicy.two_way())
    with pytest.raises(syncline.UsageError, match="nested"):
        syncline.sync_two_way_replicas(local, inner)
    local.close()
    inner.close()
