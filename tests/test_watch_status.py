"""The watch's status (``services.watch.status``), folded from the event stream alone: from scripted
events (exact, with the status line they render), state events on the stream, and a real watch whose
status line follows a push held up on a target."""

from __future__ import annotations

import json
import re
import threading
from pathlib import Path

import pytest

from syncline.cli.cmd_watch import status_text
from syncline.cli.eventlines import EventLines
from syncline.engine.replicas.local import LocalReplica
from syncline.services.watch import EventLog, Mirror
from syncline.services.watch.events import (
    Event,
    FullSynced,
    MirrorFailed,
    SourceGone,
    SourceReplaced,
    SourceState,
    Synced,
    TargetBack,
    TargetRefused,
    TargetUnavailable,
    WatchesComplete,
    WatchesShort,
    Watching,
)
from syncline.services.watch.status import WatchStatus
from syncline.testing import FlakyReplica

from .conftest import write
from .test_watch import FAST, same, wait_until

T0 = 1_700_000_000.0
S = "/data/src"


def _fold(*events: Event, only: str | None = None) -> WatchStatus:
    status = WatchStatus(only=only)
    for event in events:
        status(event)
    return status


def _line(status: WatchStatus, now: float) -> str:
    return status_text([s.as_dict(now) for s in status.sources()])


# ---------------------------------------------------------------------------------------- scripted


def test_targets_are_folded_from_their_events_into_the_status_line() -> None:
    status = _fold(
        Watching(("/mnt/one", "/mnt/two"), source=S, seq=1, time=T0),
        FullSynced("catch-up", "/mnt/one", 3, 0, source=S, seq=2, time=T0 + 1),
        TargetUnavailable("/mnt/two", "/mnt/two is missing", 1.0, source=S, seq=3, time=T0 + 2),
        Synced(2, 0.1, 0, ("/mnt/one",), source=S, seq=4, time=T0 + 5),
    )
    st = status.get(S)
    assert st is not None and st.seq == 4 and status.seq == 4
    assert [(t.target, t.ok, t.error, t.last_sync) for t in st.targets] == [
        ("/mnt/one", True, "", T0 + 5), ("/mnt/two", False, "/mnt/two is missing", None)]
    assert _line(status, T0 + 20) == (f"{S}: 0 folders pending | one: synced 15 s ago | "
                                      "two: waiting (/mnt/two is missing)")

    refusal = "1 change(s) could not be made, e.g. a.txt: No space left on device; free space on the target"
    for event in (TargetBack("/mnt/two", source=S, seq=5, time=T0 + 9),
                  TargetRefused("/mnt/one", refusal, 2.0, source=S, seq=6, time=T0 + 10),
                  FullSynced("rescan", "/mnt/one", 0, 1, source=S, seq=7, time=T0 + 11),  # the refusal stands
                  Synced(1, 0.1, 0, ("/mnt/two",), source=S, seq=8, time=T0 + 12)):
        status(event)
    st = status.get(S)
    assert st is not None
    assert [(t.ok, t.error, t.last_sync) for t in st.targets] == [(False, refusal, T0 + 5), (True, "", T0 + 12)]
    assert _line(status, T0 + 12.4) == f"{S}: 0 folders pending | one: waiting ({refusal}) | two: synced 0 s ago"
    assert st.as_dict(T0 + 12.4)["targets"] == [
        {"target": "/mnt/one", "ok": False, "error": refusal, "last_sync": T0 + 5, "lag": 7.4},
        {"target": "/mnt/two", "ok": True, "error": "", "last_sync": T0 + 12, "lag": 0.4}]


def test_a_target_not_synced_yet_waits_and_a_first_run_starts_afresh() -> None:
    status = _fold(Watching(("/mnt/one",), source=S, seq=1, time=T0))
    assert _line(status, T0) == f"{S}: 0 folders pending | one: waiting (not synced yet)"
    status(MirrorFailed("the journal is locked", source=S, seq=2, time=T0))
    st = status.get(S)
    assert st is not None and st.failed == "the journal is locked"
    status(Watching(("/mnt/one", "/mnt/three"), source=S, seq=3, time=T0 + 1))  # run again, a target added
    st = status.get(S)
    assert st is not None and st.failed == "" and [t.target for t in st.targets] == ["/mnt/one", "/mnt/three"]


def test_the_source_state_is_folded_from_state_events_and_the_watch_events() -> None:
    status = _fold(Watching(("/mnt/one",), source=S, seq=1, time=T0),
                   FullSynced("catch-up", "/mnt/one", 0, 0, source=S, seq=2, time=T0),
                   SourceState(3, 1, False, source=S, time=T0 + 1))
    assert _line(status, T0 + 1) == f"{S}: 3 folders pending, 1 file being written | one: synced 1 s ago"
    status(WatchesShort(61, 20, 20, 10.0, "sysctl fs.inotify.max_user_watches=122", source=S, seq=3, time=T0 + 2))
    assert _line(status, T0 + 2) == f"{S}: 3 folders pending, 1 file being written, polling | one: synced 2 s ago"
    status(Synced(3, 0.2, 0, ("/mnt/one",), source=S, seq=4, time=T0 + 3))  # the held file went with it
    status(SourceState(0, 0, True, source=S, time=T0 + 3))
    assert _line(status, T0 + 3) == f"{S}: 0 folders pending, polling | one: synced 0 s ago"
    status(WatchesComplete(61, source=S, seq=5, time=T0 + 4))
    st = status.get(S)
    assert st is not None and not st.polling and st.seq == 5  # state events carry no number
    status(SourceState(2, 0, False, source=S, time=T0 + 5))
    status(SourceGone(source=S, seq=6, time=T0 + 6))
    st = status.get(S)
    assert st is not None and st.gone and st.pending == 0
    status(SourceReplaced(source=S, seq=7, time=T0 + 7))
    st = status.get(S)
    assert st is not None and not st.gone


def test_each_source_has_its_own_status_and_only_keeps_one() -> None:
    other = "/data/other"
    events = [Watching(("/mnt/one",), source=S, seq=1, time=T0), Watching(("/mnt/two",), source=other, seq=2, time=T0),
              SourceState(4, 0, False, source=other, time=T0), TargetUnavailable("/mnt/two", "gone", 1.0, source=other,
                                                                                seq=3, time=T0)]
    both = _fold(*events)
    assert [s.source for s in both.sources()] == [S, other] and both.seq == 3
    assert _line(both, T0) == (f"{S}: 0 folders pending | one: waiting (not synced yet)\n"
                               f"{other}: 4 folders pending | two: waiting (gone)")
    mine = _fold(*events, only=S)
    assert [s.source for s in mine.sources()] == [S] and mine.get(other) is None


# ---------------------------------------------------------------------------------------- the stream


def test_state_events_are_unnumbered_unkept_and_reach_only_who_asks(capsys: pytest.CaptureFixture[str]) -> None:
    stream = EventLog()
    plain: list[Event] = []
    states: list[Event] = []
    stream.subscribe(plain.append)
    stream.subscribe(states.append, states=True)
    stream.subscribe(EventLines(as_json=True, quiet=False))
    stream.publish(Watching(("/t",), source="/s"))
    told = stream.publish(SourceState(5, 0, False, source="/s"))
    stream.publish(Synced(1, 0.5, 0, ("/t",), source="/s"))
    assert told.seq == 0 and told.time > 0
    assert [e.seq for e in plain] == [1, 2] and [e.seq for e in states] == [1, 0, 2]
    assert [e.seq for e in stream.since(0)] == [1, 2] and stream.last_seq == 2
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [line["event"] for line in lines] == ["watching", "synced"]
    assert list(lines[1]) == ["time", "event", "source", "folders", "seconds"]  # `took` is not shown
    stream.unsubscribe(states.append)
    stream.publish(SourceState(0, 0, False, source="/s"))
    assert len(states) == 3
    with pytest.raises(ValueError):
        stream.unsubscribe(states.append)


# ---------------------------------------------------------------------------------------- a real watch


def _pending(line: str) -> int:
    found = re.search(r": (\d+) folders? pending", line)
    assert found, line
    return int(found.group(1))


def test_the_status_line_of_a_real_watch_follows_a_push_held_up_on_a_target(tmp_path: Path) -> None:
    """A push stalls on a target: the changes made meanwhile show as folders pending, a file kept open as
    being written, and once they go through, nothing pending and both targets synced. The line is rendered
    from a status that reads nothing but the stream."""
    src, one, two = tmp_path / "src", tmp_path / "one", tmp_path / "two"
    write(src, "a.txt", b"a")
    one.mkdir()
    gate = threading.Event()
    flaky = FlakyReplica(LocalReplica(one, policy=FAST.sync.policy()))
    stall = flaky.before("stage_file", lambda *_: gate.wait(120), when=lambda path, *_: path == "gate.txt")
    stream = EventLog()
    status = WatchStatus()
    stream.subscribe(status, states=True)
    m = Mirror(src, [flaky, two], FAST, events=stream)
    thread = threading.Thread(target=m.run, daemon=True)
    thread.start()

    def line() -> str:
        return status_text([s.as_dict() for s in status.sources()])

    try:
        assert wait_until(lambda: "one: synced" in line() and "two: synced" in line())
        assert line().startswith(f"{src}: 0 folders pending | one: synced ")
        write(src, "gate.txt", b"held up on one")
        assert wait_until(lambda: stall.hits == 1)
        for i in range(3):
            write(src, f"d{i}/f.txt", b"made while the push is held up")
        assert wait_until(lambda: _pending(line()) >= 1)
        with open(src / "d0/open.bin", "wb") as fh:
            fh.write(b"first half ")
            fh.flush()
            gate.set()
            assert wait_until(lambda: ", 1 file being written" in line())
            assert wait_until(lambda: (two / "d2/f.txt").exists() and (one / "gate.txt").exists())
            fh.write(b"second half")
        assert wait_until(lambda: same(src, one) and same(src, two))
        assert wait_until(lambda: "being written" not in line() and _pending(line()) == 0)
        final = line()
        assert re.fullmatch(rf"{re.escape(str(src))}: 0 folders pending \| one: synced \d+ s ago \| "
                            r"two: synced \d+ s ago", final), final
        assert status_text([m.status()]).split(" | ")[0] == final.split(" | ")[0]  # the mirror's own view
    finally:
        gate.set()
        m.stop.set()
        m.collector.wake.set()
        thread.join(60)
    assert not thread.is_alive()
