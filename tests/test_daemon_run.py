"""The daemon in a thread, with two local folders per binding (a local folder stands in for the server's)
and a fake change feed: edits cross both ways, the config is followed as it changes, a safety stop parks
only its folder until resumed."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from syncline.engine.replicas.local import LocalReplica
from syncline.services.daemon import Daemon, Timing, is_running, read_status, request_resume
from syncline.services.daemon.configfile import add_folder, remove_folder
from syncline.services.daemon.events import FolderSynced
from syncline.testing import FakeFeed

DEADLINE = 60.0


def wait_for(what: Callable[[], Any], deadline: float = DEADLINE) -> Any:
    """``what()`` once it is truthy; fails after ``deadline`` seconds. A file vanishing under ``what``
    (a temp file renamed into place while the tree is read) counts as "not yet"."""
    end = time.monotonic() + deadline
    while True:
        try:
            got = what()
        except FileNotFoundError:
            got = None
        if got:
            return got
        if time.monotonic() > end:
            pytest.fail(f"still not so after {deadline} s: {what.__doc__ or what}")
        time.sleep(0.05)


class Running:
    """A daemon in a thread, with its config, state and feed."""

    def __init__(self, base: Path) -> None:
        self.base = base
        self.config = base / "daemon.toml"
        self.state = base / "state"
        self.feed = FakeFeed()
        self.stop = threading.Event()
        self.daemon = Daemon(self.config, self.state, feed=self.feed,
                             timing=Timing(config_every=0.1, quiet=0.02, max_backoff=0.5))
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        try:
            self.daemon.run(self.stop)
        except BaseException as exc:  # the test says it
            self.error = exc

    def pair(self, name: str) -> tuple[Path, Path]:
        local, remote = self.base / f"{name}-local", self.base / f"{name}-server"
        local.mkdir()
        remote.mkdir()
        return local, remote

    def folder(self, local: Path) -> dict[str, Any] | None:
        status = read_status(self.state)
        for f in (status or {}).get("folders", []):
            if f["local"] == str(local):
                return dict(f)
        return None

    def state_of(self, local: Path) -> str | None:
        f = self.folder(local)
        return f["state"] if f else None


@pytest.fixture
def running(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Running]:
    monkeypatch.setenv("SYNCLINE_STATE_DIR", str(tmp_path / "state"))
    r = Running(tmp_path)
    yield r
    r.stop.set()
    if r.thread.is_alive():
        r.thread.join(DEADLINE)
    assert not r.thread.is_alive()
    assert r.error is None


def test_a_local_edit_reaches_the_other_side(running: Running) -> None:
    local, remote = running.pair("docs")
    (local / "old.txt").write_text("before")
    add_folder(running.config, str(local), str(remote))
    running.thread.start()
    wait_for(lambda: (remote / "old.txt").is_file())
    wait_for(lambda: running.state_of(local) == "in sync")
    (local / "sub").mkdir()
    (local / "sub" / "new.txt").write_text("hello")
    wait_for(lambda: (remote / "sub" / "new.txt").is_file() and (remote / "sub" / "new.txt").read_text() == "hello")
    status = read_status(running.state)
    assert is_running(status) and status is not None and status["pid"] == os.getpid()


def test_a_change_announced_by_the_feed_reaches_the_local_side(running: Running) -> None:
    local, remote = running.pair("docs")
    add_folder(running.config, str(local), str(remote))
    running.thread.start()
    wait_for(lambda: running.state_of(local) == "in sync")
    (remote / "from-server.txt").write_text("pushed")
    time.sleep(0.3)
    assert not (local / "from-server.txt").exists()  # nothing watches the "server" folder: only the feed tells
    asked = running.feed.asked
    running.feed.announce(str(remote), "from-server.txt")
    wait_for(lambda: (local / "from-server.txt").is_file())
    assert running.feed.asked > asked
    # The position is kept once the run synced it: a restarted daemon asks from there.
    wait_for(lambda: running.daemon.positions.get(str(local), str(remote)) == 1)


def test_the_feed_skips_this_devices_own_changes(running: Running) -> None:
    local, remote = running.pair("docs")
    add_folder(running.config, str(local), str(remote))
    running.thread.start()
    wait_for(lambda: running.state_of(local) == "in sync")
    wait_for(lambda: running.daemon.device)
    (remote / "echo.txt").write_text("mine")
    running.feed.announce(str(remote), "echo.txt", device=running.daemon.device)
    wait_for(lambda: running.feed.asked >= 1)
    time.sleep(0.5)
    assert not (local / "echo.txt").exists()  # an echo of its own upload starts no run


def test_reload_adds_and_removes_a_folder_while_running(running: Running) -> None:
    one_local, one_remote = running.pair("one")
    two_local, two_remote = running.pair("two")
    add_folder(running.config, str(one_local), str(one_remote))
    running.thread.start()
    wait_for(lambda: running.state_of(one_local) == "in sync")
    (two_remote / "t.txt").write_text("two")
    add_folder(running.config, str(two_local), str(two_remote))
    wait_for(lambda: (two_local / "t.txt").is_file())
    remove_folder(running.config, str(one_local))
    wait_for(lambda: running.state_of(one_local) is None and running.state_of(two_local) == "in sync")
    (one_local / "after.txt").write_text("not synced")
    (two_local / "after.txt").write_text("synced")
    wait_for(lambda: (two_remote / "after.txt").is_file())
    assert not (one_remote / "after.txt").exists()


def test_a_bad_edit_keeps_the_folders_and_says_why(running: Running) -> None:
    local, remote = running.pair("docs")
    add_folder(running.config, str(local), str(remote))
    running.thread.start()
    wait_for(lambda: running.state_of(local) == "in sync")
    with running.config.open("a", encoding="utf-8") as out:
        out.write("check_every = 'whenever'\n")
    wait_for(lambda: (read_status(running.state) or {}).get("config_error"))
    error = (read_status(running.state) or {})["config_error"]
    assert "check_every in folder 1" in error and "\n" not in error
    (local / "still.txt").write_text("synced")
    wait_for(lambda: (remote / "still.txt").is_file())
    text = running.config.read_text(encoding="utf-8").replace("check_every = 'whenever'\n", "")
    running.config.write_text(text, encoding="utf-8")
    wait_for(lambda: (read_status(running.state) or {}).get("config_error", "x") is None)


def test_a_safety_stop_parks_only_its_folder_until_resumed(running: Running) -> None:
    ok_local, ok_remote = running.pair("ok")
    gone_local, gone_remote = running.pair("gone")
    (gone_local / "keep.txt").write_text("precious")
    add_folder(running.config, str(ok_local), str(ok_remote))
    add_folder(running.config, str(gone_local), str(gone_remote))
    running.thread.start()
    wait_for(lambda: (gone_remote / "keep.txt").is_file())
    wait_for(lambda: running.state_of(gone_local) == "in sync")
    aside = running.base / "unmounted"
    gone_remote.rename(aside)  # the "server" folder goes away (an unmounted disk)
    (gone_local / "edit.txt").write_text("made while it was gone")
    wait_for(lambda: running.state_of(gone_local) == "stopped")
    folder = running.folder(gone_local)
    assert folder is not None and "does not exist" in folder["why"]
    assert (gone_local / "keep.txt").read_text() == "precious"  # nothing deleted on this side
    (ok_local / "fine.txt").write_text("the other folder goes on")
    wait_for(lambda: (ok_remote / "fine.txt").is_file())
    assert running.state_of(gone_local) == "stopped"
    aside.rename(gone_remote)  # back
    time.sleep(0.3)
    assert running.state_of(gone_local) == "stopped"  # parked until told
    request_resume(running.state, str(gone_local))
    wait_for(lambda: (gone_remote / "edit.txt").is_file())
    wait_for(lambda: running.state_of(gone_local) == "in sync")


def test_a_max_delete_stop_parks_the_folder_and_a_config_edit_unparks_it(running: Running) -> None:
    local, remote = running.pair("docs")
    for i in range(10):
        (local / f"f{i}.txt").write_text(str(i))
    add_folder(running.config, str(local), str(remote))
    running.thread.start()
    wait_for(lambda: len(list(remote.iterdir())) >= 10 and running.state_of(local) == "in sync")
    for i in range(8):
        (local / f"f{i}.txt").unlink()
    wait_for(lambda: running.state_of(local) == "stopped")
    folder = running.folder(local)
    assert folder is not None and "delete" in folder["why"]
    assert len([p for p in remote.iterdir() if p.name.endswith(".txt")]) == 10
    text = running.config.read_text(encoding="utf-8")
    running.config.write_text(text + "max_delete = 100\n", encoding="utf-8")
    wait_for(lambda: not (remote / "f0.txt").exists())
    wait_for(lambda: running.state_of(local) == "in sync")


def test_status_says_not_running_for_a_stale_heartbeat_or_a_dead_pid(tmp_path: Path) -> None:
    beat = time.time_ns()
    assert is_running({"pid": os.getpid(), "heartbeat_ns": beat})
    assert not is_running({"pid": os.getpid(), "heartbeat_ns": beat - 60 * 10**9})
    assert not is_running({"pid": 2**22 + 12345, "heartbeat_ns": beat})
    assert not is_running(None) and not is_running({"pid": "1"})


def test_a_second_daemon_on_the_same_state_is_refused(running: Running) -> None:
    from syncline.core.errors import BusyError

    running.thread.start()
    wait_for(lambda: read_status(running.state))
    with pytest.raises(BusyError):
        Daemon(running.config, running.state).run(threading.Event())


def test_a_feed_whose_history_is_gone_brings_a_full_run(running: Running) -> None:
    local, remote = running.pair("docs")
    add_folder(running.config, str(local), str(remote))
    running.thread.start()
    wait_for(lambda: running.state_of(local) == "in sync")
    (remote / "deep").mkdir()
    (remote / "deep" / "missed.txt").write_text("the journal lost this one")
    running.feed.horizon[str(remote)] = 5  # what the loop holds (0) is older than what is kept
    running.feed.announce(str(remote), "unrelated.txt")
    wait_for(lambda: (local / "deep" / "missed.txt").is_file())


class _BrokenFeed(FakeFeed):
    def changes(self, remote: str, since: int) -> Any:
        if remote.endswith("broken-server"):
            raise RuntimeError("a bug in the feed")
        return super().changes(remote, since)


def test_a_bug_in_one_folder_stops_it_visibly_and_the_others_go_on(running: Running) -> None:
    running.feed = _BrokenFeed()
    running.daemon.feed = running.feed
    ok_local, ok_remote = running.pair("ok")
    bad_local, bad_remote = running.pair("broken")
    add_folder(running.config, str(ok_local), str(ok_remote))
    add_folder(running.config, str(bad_local), str(bad_remote))
    running.thread.start()
    wait_for(lambda: running.state_of(bad_local) == "in sync")
    running.feed.announce(str(bad_remote), "x.txt")
    wait_for(lambda: running.state_of(bad_local) == "stopped")
    folder = running.folder(bad_local)
    assert folder is not None and "internal error" in folder["why"] and "a bug in the feed" in folder["why"]
    (ok_local / "fine.txt").write_text("goes on")
    wait_for(lambda: (ok_remote / "fine.txt").is_file())


def test_items_that_failed_for_a_passing_reason_are_tried_again_without_a_new_change(
        running: Running, monkeypatch: pytest.MonkeyPatch) -> None:
    # A cut connection or a full disk fails one item, not the run: the loop must come back to it by itself
    # (after a back-off), not leave it for the next change or the hourly check.
    from syncline.core.errors import Problem
    from syncline.services.daemon import loop

    real = loop.run_two_way
    runs: list[bool] = []  # one per run; True for the run whose report says late.txt failed
    late: list[Path] = []

    def flaky_once(*args: Any, **kwargs: Any) -> Any:
        report = real(*args, **kwargs)
        fails = bool(late) and late[0].exists() and not any(runs)
        if fails:  # the run that sent late.txt: say one item of it failed and may pass later
            report.problems.append(Problem("late.txt", "the connection was cut", "destination", retryable=True))
        runs.append(fails)
        return report

    monkeypatch.setattr(loop, "run_two_way", flaky_once)
    local, remote = running.pair("docs")
    add_folder(running.config, str(local), str(remote))
    running.thread.start()
    wait_for(lambda: running.state_of(local) == "in sync")
    late.append(remote / "late.txt")
    (local / "late.txt").write_text("sent late")
    wait_for(lambda: any(runs))
    failed_at = runs.index(True)
    wait_for(lambda: len(runs) > failed_at + 1)  # no change since: only the retry runs again


def test_a_change_announced_during_a_run_is_read_as_the_run_ends(
        running: Running, monkeypatch: pytest.MonkeyPatch) -> None:
    # The feed's wake set while a run is in flight must not be dropped when the loop goes back to waiting:
    # it was, and the change then waited for the loop's timeout (1 s), which was the server benchmark's
    # slowest edits (one device's run of its own write overlapping the feed telling the other's edit).
    from syncline.services.daemon import loop

    real = loop.run_two_way
    local, remote = running.pair("docs")
    in_run = threading.Event()
    ended: list[float] = []

    def announcing(*args: Any, **kwargs: Any) -> Any:
        report = real(*args, **kwargs)
        if in_run.is_set():
            in_run.clear()
            (remote / "from-server.txt").write_text("pushed")
            running.feed.announce(str(remote), "from-server.txt")
            ended.append(time.monotonic())
        return report

    monkeypatch.setattr(loop, "run_two_way", announcing)
    add_folder(running.config, str(local), str(remote))
    running.thread.start()
    wait_for(lambda: running.state_of(local) == "in sync")
    in_run.set()
    (local / "mine.txt").write_text("starts a run")
    wait_for(lambda: (local / "from-server.txt").is_file())
    assert time.monotonic() - ended[0] < 0.5


def test_a_download_starts_no_run_over_its_own_writes_and_an_edit_right_after_it_syncs(running: Running) -> None:
    """The watcher sees the daemon's own downloads (each rename into place, each folder's mtime): they are no
    local change, so no run follows over their folders (echoes.py); a change made in such a folder right
    after, to a downloaded file or a new one, is synced as any."""
    local, remote = running.pair("docs")
    for d in range(4):
        (local / f"d{d}").mkdir()
    add_folder(running.config, str(local), str(remote))
    runs: list[FolderSynced] = []
    running.daemon.events.subscribe(lambda e: runs.append(e) if isinstance(e, FolderSynced) else None)
    running.thread.start()
    wait_for(lambda: all((remote / f"d{d}").is_dir() for d in range(4)) and running.state_of(local) == "in sync")
    time.sleep(0.5)  # the first run's own echoes, if any, are run and done
    before = len(runs)
    for i in range(20):  # all written before any is told: a run never reads one half-written
        (remote / f"d{i % 4}/f{i}.txt").write_text(f"from the server {i}")
    for i in range(20):
        running.feed.announce(str(remote), f"d{i % 4}/f{i}.txt")
    wait_for(lambda: all((local / f"d{i % 4}/f{i}.txt").is_file() for i in range(20)))
    wait_for(lambda: running.state_of(local) == "in sync")
    time.sleep(1.0)  # several batch intervals: an echo would have started a run by now
    downloads = runs[before:]
    assert sum(r.copied for r in downloads) == 20
    assert all(r.copied for r in downloads), f"a run over the downloads' own writes: {downloads}"

    (local / "d1/f1.txt").write_text("edited right after its download")
    (local / "d2/new.txt").write_text("new beside the downloads")
    wait_for(lambda: (remote / "d1/f1.txt").read_text() == "edited right after its download"
             and (remote / "d2/new.txt").is_file())


def test_a_run_that_wrote_to_the_other_side_lets_it_catch_up_and_a_download_does_not(
        running: Running, monkeypatch: pytest.MonkeyPatch) -> None:
    """After a run that committed to the other side, the loop lets that side page its own commits then
    (``CatchUp``), not at the next edit's run; a run that only downloaded leaves it alone."""
    caught: list[str] = []
    monkeypatch.setattr(LocalReplica, "catch_up", lambda self: caught.append(os.fspath(self.root)), raising=False)
    local, remote = running.pair("docs")
    (local / "up.txt").write_text("to the server")
    add_folder(running.config, str(local), str(remote))
    running.thread.start()
    wait_for(lambda: (remote / "up.txt").is_file() and running.state_of(local) == "in sync")
    wait_for(lambda: caught == [str(remote)])
    (remote / "down.txt").write_text("from the server")
    running.feed.announce(str(remote), "down.txt")
    wait_for(lambda: (local / "down.txt").is_file() and running.state_of(local) == "in sync")
    time.sleep(0.3)
    assert caught == [str(remote)], "a download-only run asked the other side to catch up"


def test_a_server_edit_of_a_file_just_downloaded_is_no_echo(running: Running) -> None:
    """The feed names the file the last run downloaded, still as that run wrote it locally: that is a change
    on the server, not the echo of the download (which only the watcher's events can be)."""
    local, remote = running.pair("docs")
    add_folder(running.config, str(local), str(remote))
    running.thread.start()
    wait_for(lambda: running.state_of(local) == "in sync")
    for text in ("first", "second", "third"):
        (remote / "f.txt").write_text(text)
        running.feed.announce(str(remote), "f.txt")
        wait_for(lambda text=text: (local / "f.txt").is_file() and (local / "f.txt").read_text() == text)  # type: ignore[misc]


def test_a_request_being_written_is_not_taken(tmp_path: Path) -> None:
    """The daemon reads only whole request files: a temp file of one being written (a `syncline restore`
    at that moment) is left for its writer to rename (taking it made that command fail)."""
    daemon = Daemon(tmp_path / "daemon.toml", tmp_path / "state")
    run = tmp_path / "state" / "daemon" / "run"
    run.mkdir(parents=True)
    (run / ".abc.tmp").write_text('{"local": "/x"}')
    assert daemon._requested("run") == []
    assert (run / ".abc.tmp").exists()
