"""The watch service's parts on their own: typed events and their stream, the scheduler's timing, and
change sources other than inotify (polling, and one a test drives, as a server's change feed will)."""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Sequence
from dataclasses import FrozenInstanceError, dataclass, replace
from pathlib import Path
from typing import ClassVar

import pytest

from syncline.services.watch import Event, EventLog, Mirror
from syncline.services.watch.changes import ChangeCollector
from syncline.services.watch.events import (
    Emit,
    EventsLost,
    FullSynced,
    ItemFailed,
    MirrorFailed,
    Resuming,
    Rewatched,
    SourceGone,
    SourceReplaced,
    Stopped,
    Synced,
    TargetBack,
    TargetRefused,
    TargetUnavailable,
    WatchesComplete,
    WatchesShort,
    Watching,
    WatchRefused,
)
from syncline.services.watch.scheduler import Backoff, Scheduler
from syncline.services.watch.sources import PollingSource

from .conftest import write
from .test_watch import FAST, same, wait_until

# ---------------------------------------------------------------------------------------- the events

# Each event type with the wording and fields the terminal and --json have always shown, and whether it
# needs a person (-q shows it, and it goes to stderr).
WORDING: list[tuple[Event, str, dict[str, object], bool]] = [
    (Watching(("/t1", "/t2"), source="/s"), "watching", {"source": "/s", "targets": ["/t1", "/t2"]}, False),
    (Resuming(3), "resuming", {"folders": 3}, False),
    (Synced(2, 0.012), "synced", {"folders": 2, "seconds": 0.012}, False),
    (Synced(2, 0.012, 1), "synced", {"folders": 2, "seconds": 0.012, "being_written": 1}, False),
    (FullSynced("catch-up", "/t", 5, 0), "catch-up", {"target": "/t", "changed": 5, "errors": 0}, False),
    (FullSynced("rescan", "/t", 0, 1), "rescan", {"target": "/t", "changed": 0, "errors": 1}, False),
    (TargetUnavailable("/t", "gone", 2.0), "target unavailable; retrying with back-off",
     {"target": "/t", "error": "gone", "retry_in": 2.0}, True),
    (TargetUnavailable("/t", "guard", 1.0, safety=True), "stopped by a safety check; retrying with back-off",
     {"target": "/t", "error": "guard", "retry_in": 1.0}, True),
    (TargetRefused("/t", "full", 4.0), "target cannot take every change; retrying with back-off",
     {"target": "/t", "error": "full", "retry_in": 4.0}, True),
    (ItemFailed("/t", "a.txt: denied"), "error", {"target": "/t", "problem": "a.txt: denied"}, True),
    (TargetBack("/t"), "target back", {"target": "/t"}, False),
    (SourceGone(source="/s"), "the source /s is gone: waiting for it to come back", {}, True),
    (SourceReplaced(source="/s"),
     "the source folder was replaced or remounted: watching it anew and rescanning everything",
     {"source": "/s"}, True),
    (EventsLost(), "events were lost (inotify queue overflow): rescanning everything; raise "
     "fs.inotify.max_queued_events to avoid it", {}, True),
    (WatchRefused("No space left on device", 10.0, "sysctl fs.inotify.max_user_watches=16384", source="/s"),
     "inotify cannot watch /s (No space left on device): polling with a full rescan every 10 s; raise the "
     "limit, e.g. sysctl fs.inotify.max_user_watches=16384", {}, True),
    (WatchRefused("Function not implemented", 2.5, source="/s"),
     "inotify cannot watch /s (Function not implemented): polling with a full rescan every 2.5 s", {}, True),
    (WatchesShort(61, 20, 8192, 10.0, "sysctl fs.inotify.max_user_watches=16384"),
     "inotify cannot watch every folder (the watch limit is reached): polling with a full rescan every 10 s; "
     "raise the limit, e.g. sysctl fs.inotify.max_user_watches=16384",
     {"folders": 61, "watched": 20, "limit": 8192}, True),
    (WatchesComplete(61), "every folder is watched again: polling stops", {"folders": 61}, False),
    (Rewatched(("B/C/S",)), "a moved folder lost its watch: watching the source anew",
     {"folders": ["B/C/S"]}, False),
    (MirrorFailed("boom", source="/s"), "error: the mirror stopped", {"source": "/s", "error": "boom"}, True),
    (Stopped(), "stopped", {}, False),
]


@pytest.mark.parametrize("event, message, details, trouble", WORDING, ids=[type(w[0]).__name__ for w in WORDING])
def test_each_event_type_words_itself_as_the_log_always_did(event: Event, message: str,
                                                            details: dict[str, object], trouble: bool) -> None:
    assert event.message == message
    assert event.details() == details and list(event.details()) == list(details)
    assert event.trouble is trouble


def test_every_event_type_has_a_kind_of_its_own() -> None:
    kinds = [type(e).kind for e, *_ in WORDING]
    assert len(set(kinds)) == len({type(e) for e, *_ in WORDING})
    assert all(k and " " not in k for k in kinds)


def test_events_are_frozen() -> None:
    event = Synced(1, 0.1)
    with pytest.raises(FrozenInstanceError):
        event.folders = 2  # type: ignore[misc]


def test_the_stream_numbers_each_event_in_order_and_keeps_the_recent_ones() -> None:
    stream = EventLog(keep=3)
    seen: list[Event] = []
    stream.subscribe(seen.append)
    before = time.time()
    published = [stream.publish(Resuming(n)) for n in range(5)]
    assert [e.seq for e in published] == [1, 2, 3, 4, 5] and seen == published
    assert all(before <= e.time <= time.time() for e in published)
    assert stream.last_seq == 5
    assert [e.seq for e in stream.since(0)] == [3, 4, 5]  # the first two fell out: a gap the reader sees
    assert [e.seq for e in stream.since(4)] == [5] and stream.since(5) == []
    stream.unsubscribe(seen.append)
    stream.publish(Stopped())
    assert len(seen) == 5


def test_events_from_many_threads_reach_a_subscriber_one_at_a_time_in_sequence_order() -> None:
    stream = EventLog()
    seqs: list[int] = []
    inside = threading.Lock()

    def subscriber(event: Event) -> None:
        assert inside.acquire(blocking=False), "two events delivered at once"
        seqs.append(event.seq)
        inside.release()

    stream.subscribe(subscriber)
    threads = [threading.Thread(target=lambda: [stream.publish(Resuming(1)) for _ in range(300)])
               for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert seqs == list(range(1, 1201))


def test_a_mirror_publishes_typed_events_on_a_shared_stream(tmp_path: Path) -> None:
    src, dst = tmp_path / "src", tmp_path / "dst"
    write(src, "a.txt", b"a")
    stream = EventLog()
    got: list[Event] = []
    stream.subscribe(got.append)
    stream.publish(Stopped())  # another part of the process told something first
    said: list[str] = []
    m = Mirror(src, [dst], FAST, log=lambda msg, fields: said.append(msg), events=stream)
    thread = threading.Thread(target=m.run, daemon=True)
    thread.start()
    try:
        assert wait_until(lambda: same(src, dst) and any(isinstance(e, FullSynced) for e in got))
        write(src, "b.txt", b"b")
        assert wait_until(lambda: any(isinstance(e, Synced) for e in got))
    finally:
        m.stop.set()
        m.collector.wake.set()
        thread.join(60)
    mine = [e for e in got if e.source == str(src)]
    assert isinstance(mine[0], Watching) and mine[0].targets == (str(dst),)
    catch_up = next(e for e in mine if isinstance(e, FullSynced))
    assert catch_up.why == "catch-up" and catch_up.target == str(dst) and catch_up.changed >= 1
    assert [e.seq for e in got] == list(range(1, len(got) + 1))
    assert said == [e.message for e in mine]  # the (message, fields) form gets this mirror's events only
    assert m.status()["seq"] == got[-1].seq


# ---------------------------------------------------------------------------------------- the CLI


@dataclass(frozen=True)
class _NewTrouble(Event):
    kind: ClassVar[str] = "new-trouble"
    trouble: ClassVar[bool] = True

    @property
    def message(self) -> str:
        return "a disk is on fire"


@dataclass(frozen=True)
class _CalmWordedLikeTrouble(Event):
    kind: ClassVar[str] = "calm"

    @property
    def message(self) -> str:
        return "error-free round"


def test_the_cli_tells_trouble_by_the_event_type_not_its_words(capsys: pytest.CaptureFixture[str]) -> None:
    from syncline.cli.eventlines import EventLines

    quiet = EventLines(as_json=False, quiet=True)
    stream = EventLog()
    stream.subscribe(quiet)
    stream.publish(_NewTrouble(source="/s"))
    stream.publish(_CalmWordedLikeTrouble(source="/s"))
    out, err = capsys.readouterr()
    assert out == "" and err.endswith(" a disk is on fire\n") and "error-free" not in err


def test_the_json_lines_keep_their_shape(capsys: pytest.CaptureFixture[str]) -> None:
    from syncline.cli.eventlines import EventLines

    stream = EventLog()
    stream.subscribe(EventLines(as_json=True, quiet=False))
    stream.publish(Watching(("/t",), source="/s"))
    stream.publish(Synced(1, 0.5, source="/s"))
    stream.publish(Stopped())
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [list(line) for line in lines] == [["time", "event", "source", "targets"],
                                              ["time", "event", "source", "folders", "seconds"], ["time", "event"]]
    assert [line["event"] for line in lines] == ["watching", "synced", "stopped"]
    assert time.strptime(lines[0]["time"], "%Y-%m-%dT%H:%M:%S%z")


# ---------------------------------------------------------------------------------------- the scheduler


def test_back_off_doubles_up_to_its_limit_and_starts_again_after_a_success() -> None:
    b = Backoff(limit=5.0)
    delays = []
    for _ in range(5):
        delays.append(b.delay)
        b.failed()
    assert delays == [1.0, 2.0, 4.0, 5.0, 5.0]
    assert not b.due(time.monotonic()) and b.due(time.monotonic() + 5.0)
    b.succeeded()
    assert b.delay == 1.0


def _scheduler(collector: ChangeCollector, writing: set[str] | None = None, **kw: float) -> Scheduler:
    opts = {"quiet": 0.05, "max_delay": 0.5, "rescan_every": 3600.0, "poll_every": 10.0, "max_hold": 30.0, **kw}
    return Scheduler(collector, being_written=lambda p: p in (writing or set()), **opts)


def test_a_batch_waits_for_quiet_or_for_the_delay_the_last_push_earned(tmp_path: Path) -> None:
    collector = ChangeCollector()
    s = _scheduler(collector, quiet=0.2, max_delay=5.0)
    assert not s.batch_due()  # nothing pending
    assert s.delay() == 5.0  # no push timed yet: up to max_delay
    s.pushed([], s.holder(), 0.03)
    assert s.delay() == pytest.approx(0.3)  # ten times the last push
    s.pushed([], s.holder(), 0.001)
    assert s.delay() == 0.2  # never below the quiet period
    collector.add([("d", False)])
    assert not s.batch_due()
    time.sleep(0.25)
    assert s.batch_due()
    collector.take()
    collector.overflow()
    assert s.batch_due()  # lost events go at once


def test_a_settled_change_goes_at_once_and_takes_what_is_pending_with_it(tmp_path: Path) -> None:
    collector = ChangeCollector()
    s = _scheduler(collector, quiet=30.0, max_delay=60.0)
    s.plan_rescan(time.monotonic(), polling=False)
    collector.add([("local", False)])
    assert not s.batch_due() and s.sleep([]) > 0.5, "a local change waits for the folder to be quiet"
    collector.add([("from-server", False)], settled=True)  # a server's commit: complete when told
    assert s.batch_due() and s.sleep([]) == 0.005
    folders, _, _ = collector.take()
    assert folders == [("from-server", False), ("local", False)]
    collector.add([("local", False)])
    assert not s.batch_due(), "take() ends the settled state"


def test_files_being_written_are_held_each_asked_once_and_let_go_once_pushed(tmp_path: Path) -> None:
    writing = {"d/open.bin"}
    s = _scheduler(ChangeCollector(), writing)
    hold = s.holder()
    assert hold("d/open.bin") and hold("d/open.bin") and not hold("d/done.txt")
    assert set(s.held) == {"d/open.bin"}
    now = time.monotonic()
    assert s.held_to_recheck(now) == [("d", False)]
    assert s.held_to_recheck(now + 0.5) == []  # once a second
    writing.clear()
    hold = s.holder()
    assert not hold("d/open.bin")
    s.pushed([("d", False)], hold, 0.01)
    assert s.held == {}


def test_a_file_held_longer_than_max_hold_goes_as_it_is(tmp_path: Path) -> None:
    s = _scheduler(ChangeCollector(), {"app.log"}, max_hold=0.1)
    assert s.holder()("app.log")
    time.sleep(0.15)
    assert not s.holder()("app.log")


def test_rescans_come_sooner_while_polling(tmp_path: Path) -> None:
    s = _scheduler(ChangeCollector(), rescan_every=3600.0, poll_every=10.0)
    s.plan_rescan(100.0, polling=False)
    assert not s.rescan_due(200.0) and s.rescan_due(3700.0)
    s.plan_rescan(100.0, polling=True)
    assert s.rescan_due(110.0)


# ---------------------------------------------------------------------------------------- change sources


def test_a_polling_source_mirrors_without_any_watch(tmp_path: Path) -> None:
    src, dst = tmp_path / "src", tmp_path / "dst"
    write(src, "a.txt", b"a")
    m = Mirror(src, [dst], replace(FAST, poll_every=0.3), changes=PollingSource)
    thread = threading.Thread(target=m.run, daemon=True)
    thread.start()
    try:
        assert wait_until(lambda: same(src, dst))
        assert m.polling and m.status()["polling"]
        assert m.collector.events == 0  # no event ever came in: the rescans found the changes
        write(src, "deep/b.txt", b"b")
        (src / "a.txt").unlink()
        assert wait_until(lambda: same(src, dst))
    finally:
        m.stop.set()
        m.collector.wake.set()
        thread.join(60)
    assert not thread.is_alive()


class _FeedSource:
    """A change source that is told what changed, as a server's change feed would be: it sees every change
    (no polling), and reports folders to the collector itself."""

    instances: ClassVar[list[_FeedSource]] = []

    def __init__(self, root: Path, collector: ChangeCollector, emit: Emit, poll_every: float) -> None:
        self.collector = collector
        self.calls: list[str] = []
        self.instances.append(self)

    @property
    def complete(self) -> bool:
        return True

    def start(self) -> None:
        self.calls.append("start")

    def stop(self) -> None:
        self.calls.append("stop")

    def check(self) -> None:
        self.calls.append("check")

    def moved(self, moves: Sequence[tuple[str, str]]) -> None:
        self.calls.append("moved")

    def close(self) -> None:
        self.calls.append("close")

    def changed(self, folder: str) -> None:
        self.collector.add([(folder, False)])


def test_a_change_source_of_another_kind_feeds_the_mirror(tmp_path: Path) -> None:
    src, dst = tmp_path / "src", tmp_path / "dst"
    write(src, "a.txt", b"a")
    m = Mirror(src, [dst], FAST, changes=_FeedSource)
    feed = _FeedSource.instances[-1]
    thread = threading.Thread(target=m.run, daemon=True)
    thread.start()
    try:
        assert wait_until(lambda: same(src, dst))
        assert not m.polling
        write(src, "docs/b.txt", b"b")
        time.sleep(0.5)
        assert not (dst / "docs").exists()  # no inotify: only the feed tells
        feed.changed("")
        assert wait_until(lambda: same(src, dst))
    finally:
        m.stop.set()
        m.collector.wake.set()
        thread.join(60)
    assert feed.calls[0] == "start" and feed.calls[-1] == "close" and "check" in feed.calls
    assert os.path.isdir(dst / "docs")
