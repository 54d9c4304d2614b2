"""The real-time mirror (``services.watch``) on real directories with real inotify events: churn, changes
during the catch-up scan, lost events, kill -9 and restart, a target that goes away and comes back."""

from __future__ import annotations

import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

import pytest

from syncline.engine.oneway import SyncOptions
from syncline.services.watch import Mirror, WatchOptions

from .conftest import write
from .test_archive import snapshot

FAST = WatchOptions(sync=SyncOptions(delete=True), quiet=0.05, max_delay=0.5, rescan_every=3600,
                    max_backoff=0.5)


def same(a: Path, b: Path) -> bool:
    """Whether two trees are equal now (a tree being written meanwhile is simply not equal yet)."""
    try:
        return snapshot(a) == snapshot(b)
    except OSError:
        return False


def wait_until(check: Callable[[], bool], timeout: float = 120.0) -> bool:
    """Whether ``check`` comes true before ``timeout``. The deadline is generous on purpose: it costs
    nothing when things work, and a loaded machine may be many times slower (docs/testing.md)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.05)
    return check()


@contextmanager
def mirroring(src: Path, *targets: Path, options: WatchOptions = FAST) -> Iterator[Mirror]:
    log: list[tuple[str, dict[str, object]]] = []
    m = Mirror(src, list(targets), options, log=lambda msg, fields: log.append((msg, fields)))
    m.messages = log  # type: ignore[attr-defined]
    thread = threading.Thread(target=m.run, daemon=True)
    thread.start()
    try:
        # Started: every target was caught up, or could not be (and is retried).
        assert wait_until(lambda: all(t.caught_up or t.error for t in m.targets) or not thread.is_alive())
        yield m
    finally:
        m.stop.set()
        m.collector.wake.set()
        thread.join(timeout=120)
        assert not thread.is_alive()


def churn(root: Path, rng: random.Random, ops: int) -> None:
    """Random creates, writes, renames of files and folders, and deletes over a nested tree."""
    for n in range(ops):
        files = [p for p in root.rglob("*") if p.is_file() and ".syncline" not in p.parts]
        dirs = [p for p in root.rglob("*") if p.is_dir() and ".syncline" not in p.parts] + [root]
        what = rng.random()
        if what < 0.35 or not files:
            d = rng.choice(dirs)
            write(d, f"f{n}.txt", rng.randbytes(rng.randint(0, 200)))
        elif what < 0.55:
            rng.choice(files).write_bytes(rng.randbytes(rng.randint(0, 200)))
        elif what < 0.65:
            rng.choice(files).unlink()
        elif what < 0.75:
            f = rng.choice(files)
            f.rename(rng.choice(dirs) / f"moved{n}.txt")
        elif what < 0.85:
            (rng.choice(dirs) / f"dir{n}").mkdir()
        elif what < 0.93 and len(dirs) > 1:
            d = rng.choice([x for x in dirs if x != root])
            dest = rng.choice([x for x in dirs if x != d and d not in x.parents])
            d.rename(dest / f"mvdir{n}")
        elif len(dirs) > 1:
            shutil.rmtree(rng.choice([x for x in dirs if x != root]))


def test_catch_up_then_every_change_follows(tmp_path: Path) -> None:
    src, dst = tmp_path / "src", tmp_path / "dst"
    write(src, "old/a.txt", b"a")
    with mirroring(src, dst):
        assert same(src, dst)
        write(src, "new/deep/b.txt", b"b")
        assert wait_until(lambda: same(src, dst))
        (src / "old/a.txt").write_bytes(b"changed")
        os.rename(src / "new", src / "renamed")
        assert wait_until(lambda: same(src, dst))
        shutil.rmtree(src / "old")
        assert wait_until(lambda: same(src, dst))
        assert not (dst / "old").exists()


def test_churn_over_two_targets(tmp_path: Path) -> None:
    src, one, two = tmp_path / "src", tmp_path / "one", tmp_path / "two"
    rng = random.Random(5)
    for i in range(30):
        write(src, f"d{i % 4}/s{i % 3}/f{i}.txt", rng.randbytes(50))
    with mirroring(src, one, two):
        churn(src, rng, 2000)
        assert wait_until(lambda: same(src, one) and same(src, two))
    result = subprocess.run(["diff", "-r", "--exclude=.syncline", str(src), str(one)], capture_output=True,
                            check=False)
    assert result.returncode == 0, result.stdout


def test_changes_during_the_catch_up_scan_are_not_missed(tmp_path: Path) -> None:
    src, dst = tmp_path / "src", tmp_path / "dst"
    for i in range(3000):
        write(src, f"d{i % 30}/f{i}.txt", b"x" * 100)
    done = threading.Event()

    def writer() -> None:
        for i in range(300):
            write(src, f"during/f{i}.txt", str(i).encode())
            if i % 50 == 0:
                (src / f"d{i % 30}/f{i}.txt").unlink()
        done.set()

    # The writer runs from the very start of the run: during the catch-up copy of 3,000 files.
    thread = threading.Thread(target=writer)
    log: list[object] = []
    m = Mirror(src, [dst], FAST, log=lambda msg, fields: log.append(msg))
    runner = threading.Thread(target=m.run, daemon=True)
    runner.start()
    thread.start()
    try:
        assert done.wait(120)
        assert wait_until(lambda: same(src, dst))
    finally:
        m.stop.set()
        m.collector.wake.set()
        runner.join(120)
        thread.join(120)


def test_lost_events_are_caught_by_the_overflow_rescan(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    src, dst = tmp_path / "src", tmp_path / "dst"
    write(src, "a.txt", b"a")
    with mirroring(src, dst) as m:
        real = m.collector.add_batch
        monkeypatch.setattr(m.collector, "add_batch", lambda *args, **kw: None)  # the kernel drops events
        write(src, "lost/b.txt", b"b")
        (src / "a.txt").unlink()
        time.sleep(0.3)
        assert not same(src, dst)
        monkeypatch.setattr(m.collector, "add_batch", real)
        kernel_overflow(m)
        assert wait_until(lambda: same(src, dst))
        assert any("overflow" in msg for msg, _ in m.messages)  # type: ignore[attr-defined]


def kernel_overflow(m: Mirror) -> None:
    """Hand the mirror's inotify reader the event the kernel queues when its queue overflowed."""
    from inotify_simple import flags

    watcher = m.changes._watcher  # type: ignore[attr-defined]
    assert watcher is not None
    watcher.handle([(-1, flags.Q_OVERFLOW, 0, "")], time.monotonic())


_RUNNER = textwrap.dedent("""
    import sys
    from syncline.engine.oneway import SyncOptions
    from syncline.services.watch import Mirror, WatchOptions
    opts = WatchOptions(sync=SyncOptions(delete=True, max_delete=1.0), quiet=0.05, max_delay=0.5)
    Mirror(sys.argv[1], sys.argv[2:], opts).run()
""")


def test_kill_9_then_more_changes_then_a_restart(tmp_path: Path) -> None:
    src, dst = tmp_path / "src", tmp_path / "dst"
    rng = random.Random(9)
    for i in range(50):
        write(src, f"d{i % 5}/f{i}.txt", rng.randbytes(30))
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    proc = subprocess.Popen([sys.executable, "-c", _RUNNER, str(src), str(dst)], env=env)
    try:
        assert wait_until(lambda: same(src, dst))
        churn(src, rng, 300)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
        churn(src, rng, 300)  # while it is down
        proc = subprocess.Popen([sys.executable, "-c", _RUNNER, str(src), str(dst)], env=env)
        assert wait_until(lambda: same(src, dst))
    finally:
        proc.kill()
        proc.wait(10)


def test_a_folder_made_just_before_its_parent_moves_is_still_watched(tmp_path: Path) -> None:
    # The watcher is stopped while a folder is made and its parent moved: watchdog then looks for the new
    # folder's watch at its old path, and without a check nothing written there later would be seen.
    src, dst = tmp_path / "src", tmp_path / "dst"
    write(src, "A/a.txt", b"a")
    write(src, "B/b.txt", b"b")
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    proc = subprocess.Popen([sys.executable, "-c", _RUNNER, str(src), str(dst)], env=env)
    try:
        assert wait_until(lambda: same(src, dst))
        os.kill(proc.pid, signal.SIGSTOP)
        (src / "A/S").mkdir()
        os.rename(src / "A", src / "B/C")
        os.kill(proc.pid, signal.SIGCONT)
        assert wait_until(lambda: same(src, dst))
        write(src, "B/C/S/late.txt", b"late")  # seen only through a watch on S
        assert wait_until(lambda: same(src, dst))
    finally:
        os.kill(proc.pid, signal.SIGCONT)
        proc.kill()
        proc.wait(10)


def test_a_target_that_goes_away_is_not_refilled_and_catches_up_when_back(tmp_path: Path) -> None:
    src, one, two = tmp_path / "src", tmp_path / "one", tmp_path / "two"
    write(src, "a.txt", b"a")
    with mirroring(src, one, two) as m:
        assert same(src, one) and same(src, two)
        away = tmp_path / "unmounted"
        os.rename(one, away)  # as if unmounted
        write(src, "b.txt", b"b")
        assert wait_until(lambda: same(src, two))
        time.sleep(1.0)
        assert not one.exists()  # never made again from scratch
        assert any(msg.startswith("target unavailable") for msg, _ in m.messages)  # type: ignore[attr-defined]
        os.rename(away, one)  # mounted again
        assert wait_until(lambda: same(src, one))


def test_a_renamed_folder_is_renamed_on_the_target_not_copied(tmp_path: Path) -> None:
    src, dst = tmp_path / "src", tmp_path / "dst"
    for i in range(200):
        write(src, f"project/sub{i % 4}/f{i}.txt", str(i).encode())
    write(src, "single.txt", b"one")
    with mirroring(src, dst) as m:
        inode = (dst / "project/sub1/f1.txt").stat().st_ino
        single = (dst / "single.txt").stat().st_ino
        os.rename(src / "project", src / "renamed-project")
        os.rename(src / "single.txt", src / "project-notes.txt")
        assert wait_until(lambda: same(src, dst))
        assert (dst / "renamed-project/sub1/f1.txt").stat().st_ino == inode
        assert (dst / "project-notes.txt").stat().st_ino == single
        assert m.moved == 2


class Output:
    """What a process writes, gathered line by line as it comes (a thread per stream reads it), so a test
    can wait for a message while the process runs, and a full pipe never stalls the process."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        self.proc = proc
        self.out: list[str] = []
        self.err: list[str] = []
        assert proc.stdout is not None and proc.stderr is not None
        self._readers = [threading.Thread(target=self._read, args=(proc.stdout, self.out), daemon=True),
                         threading.Thread(target=self._read, args=(proc.stderr, self.err), daemon=True)]
        for t in self._readers:
            t.start()

    @staticmethod
    def _read(stream: Iterator[str], lines: list[str]) -> None:
        for line in stream:
            lines.append(line)

    def events(self) -> list[str]:
        """The ``event`` of every JSON line written so far."""
        return [json.loads(line)["event"] for line in list(self.out)]

    def stop(self) -> int:
        """SIGTERM, then the exit code once the process and its output have ended."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            code = self.proc.wait(timeout=60)
        finally:
            self.proc.kill()  # only if it did not stop: a test never leaves a process behind
        for t in self._readers:
            t.join(60)
        for stream in (self.proc.stdout, self.proc.stderr):
            if stream is not None:
                stream.close()
        return code


def _start(*args: str | Path, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    full = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1", **(env or {})}
    return subprocess.Popen([sys.executable, "-m", "syncline", "watch", *map(str, args)], env=full,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_the_command_mirrors_and_stops_on_sigterm(tmp_path: Path) -> None:
    src, dst = tmp_path / "src", tmp_path / "dst"
    write(src, "a.txt", b"a")
    proc = _start(src, dst, "--delete", "--json")
    try:
        assert wait_until(lambda: same(src, dst))
        write(src, "b/c.txt", b"c")
        (src / "a.txt").unlink()
        assert wait_until(lambda: same(src, dst))
    finally:
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    events = [json.loads(line)["event"] for line in out.splitlines()]
    assert events[0] == "watching" and "catch-up" in events and "synced" in events and events[-1] == "stopped"


def test_a_config_file_with_two_mirrors(tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    write(a, "x.txt", b"x")
    write(b, "keep.log", b"log")
    write(b, "y.txt", b"y")
    config = tmp_path / "mirrors.toml"
    config.write_text(textwrap.dedent(f"""
        [defaults]
        delete = true
        exclude = ["*.log"]

        [[mirror]]
        source = "{a}"
        targets = ["{tmp_path / 'a1'}", "{tmp_path / 'a2'}"]

        [[mirror]]
        source = "{b}"
        targets = ["{tmp_path / 'b1'}"]
    """))
    proc = _start("--config", config, "-q")
    try:
        assert wait_until(lambda: all((tmp_path / d / "x.txt").exists() for d in ("a1", "a2")))
        assert wait_until(lambda: (tmp_path / "b1/y.txt").exists())
        assert not (tmp_path / "b1/keep.log").exists()
        write(b, "z.txt", b"z")
        assert wait_until(lambda: (tmp_path / "b1/z.txt").exists())
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=60)
    assert proc.returncode == 0


@pytest.mark.parametrize("args, message", [
    (["ONLY"], "at least one DST"),
    (["--config", "NOPE"], "no such config file"),
    (["--config", "BAD"], "cannot read"),
    (["--config", "UNKNOWN"], "unknown option"),
    (["--config", "MAXDEL"], "max_delete in mirror 1 must be a file count or a percentage"),
    (["--config", "EXCL"], "exclude in defaults must be a list of strings"),
    (["SRC", "SRC/inner"], "nested"),
    (["SRC", "T", "T/"], "is given twice"),
    (["--config", "TWICE"], "is given twice"),
    (["--config", "LOOP"], "inside the source"),
    (["--config", "TYPO"], "unknown table or key 'default'"),
    (["--config", "TWICE", "SRC", "T"], "not both"),
])
def test_watch_usage_errors_are_one_line(tmp_path: Path, args: list[str], message: str) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (tmp_path / "bad.toml").write_text("[[mirror\n")
    mirror = f'[[mirror]]\nsource = "{src}"\ntargets = ["{tmp_path}/t"]\n'
    (tmp_path / "unknown.toml").write_text(mirror + "speed = 3\n")
    (tmp_path / "maxdel.toml").write_text(mirror + 'max_delete = "lots"\n')
    (tmp_path / "excl.toml").write_text("[defaults]\nexclude = [1]\n" + mirror)
    (tmp_path / "twice.toml").write_text(mirror + mirror.replace(str(src), str(tmp_path / "other")))
    (tmp_path / "loop.toml").write_text(f'[[mirror]]\nsource = "{src}"\ntargets = ["{tmp_path}/b/x"]\n'
                                        f'[[mirror]]\nsource = "{tmp_path}/b"\ntargets = ["{src}/y"]\n')
    (tmp_path / "typo.toml").write_text("[default]\ndelete = true\n" + mirror)
    subst = {"ONLY": str(src), "NOPE": str(tmp_path / "nope.toml"), "BAD": str(tmp_path / "bad.toml"),
             "UNKNOWN": str(tmp_path / "unknown.toml"), "MAXDEL": str(tmp_path / "maxdel.toml"),
             "EXCL": str(tmp_path / "excl.toml"), "TWICE": str(tmp_path / "twice.toml"),
             "LOOP": str(tmp_path / "loop.toml"), "TYPO": str(tmp_path / "typo.toml"), "T": str(tmp_path / "t"),
             "T/": f"{tmp_path}/t/", "SRC": str(src), "SRC/inner": str(src / "inner")}
    proc = _start(*[subst.get(a, a) for a in args])
    _out, err = proc.communicate(timeout=60)
    assert proc.returncode == 2
    assert message in err and len(err.strip().splitlines()) == 1, err


QUEUE = Path("/proc/sys/fs/inotify/max_queued_events")
IN_ACCESS, IN_CLOSE_NOWRITE, IN_OPEN = 0x1, 0x10, 0x20


def _queue_limit() -> int:
    try:
        return int(QUEUE.read_text())  # only read: a test never changes a machine-wide setting
    except (OSError, ValueError):
        return 0


def _inotify_masks(pid: int) -> list[int]:
    """The event mask of every inotify watch process ``pid`` holds (from /proc/PID/fdinfo)."""
    masks = []
    for name in os.listdir(f"/proc/{pid}/fdinfo"):
        try:
            text = Path(f"/proc/{pid}/fdinfo/{name}").read_text()
        except OSError:
            continue
        for line in text.splitlines():
            if line.startswith("inotify wd:"):
                masks.append(int(line.split(" mask:")[1].split()[0], 16))
    return masks


@pytest.mark.skipif(not 0 < _queue_limit() <= 200_000, reason="needs an inotify queue limit of at most 200,000")
def test_a_real_queue_overflow_ends_with_identical_trees(tmp_path: Path) -> None:
    src, dst = tmp_path / "src", tmp_path / "dst"
    limit = _queue_limit()
    for d in range(20):
        write(src, f"burst/d{d}/a.txt", b"a")  # folders watched from the start: files made there send events
    out = Output(_start(src, dst, "--delete", "--json"))
    try:
        assert wait_until(lambda: "catch-up" in out.events())
        # Stopped, the watcher reads no events: the kernel queues them up to its limit, then flags an
        # overflow and drops the rest. Each new name is an event of its own (never merged with another).
        os.kill(out.proc.pid, signal.SIGSTOP)
        try:
            for i in range(limit + 100):
                write(src, f"burst/d{i % 20}/f{i}.txt", str(i).encode())
        finally:
            os.kill(out.proc.pid, signal.SIGCONT)
        assert wait_until(lambda: same(src, dst))
        assert wait_until(lambda: "rescan" in out.events())
        # Whatever the rescan's reading of every file had queued (an overflow) is read before the event of
        # a file made after it: once that file is pushed, any further overflow has been told.
        write(src, "after-the-rescan.txt", b"x")
        assert wait_until(lambda: (dst / "after-the-rescan.txt").exists())
        # Reading makes no inotify events at all, so the rescans of a big tree never overflow the queue.
        masks = _inotify_masks(out.proc.pid)
        assert masks and not any(mask & (IN_ACCESS | IN_OPEN | IN_CLOSE_NOWRITE) for mask in masks)
    finally:
        out.stop()
    lost = [e for e in out.events() if "overflow" in e]
    assert len(lost) == 1, out.out[-20:]  # our burst, once; none from the rescan it started


# The watch limit of a user namespace of our own (Linux 5.11+): lowering it there changes nothing any other
# program on the machine sees, unlike fs.inotify.max_user_watches.
NS_WATCHES = "/proc/sys/user/max_inotify_watches"


def _can_limit_watches_in_a_namespace() -> bool:
    probe = subprocess.run(["unshare", "--user", "--map-root-user", "sh", "-c", f"echo 5 > {NS_WATCHES}"],
                           capture_output=True, check=False)
    return probe.returncode == 0


@pytest.mark.skipif(not Path(NS_WATCHES).exists() or shutil.which("unshare") is None
                    or not _can_limit_watches_in_a_namespace(),
                    reason="needs user namespaces with their own inotify limits (Linux 5.11+)")
def test_an_exhausted_watch_limit_falls_back_to_polling(tmp_path: Path) -> None:
    src, dst = tmp_path / "src", tmp_path / "dst"
    for i in range(60):
        write(src, f"d{i}/f.txt", b"x")
    # 20 watches in the namespace: fewer than the 61 folders. (watchdog 7 then refuses to start; older ones
    # skipped the folders past the limit without a word: the mirror polls in either case.)
    full = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    script = f'echo 20 > {NS_WATCHES} && exec "$0" -m syncline watch --json "$1" "$2"'
    out = Output(subprocess.Popen(["unshare", "--user", "--map-root-user", "sh", "-c", script, sys.executable,
                                   str(src), str(dst)], env=full, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                  text=True))
    try:
        # Told after the catch-up: the new files below come after it, so only polling can bring the ones
        # in folders without a watch.
        assert wait_until(lambda: any("watch limit" in e and "max_user_watches" in e for e in out.events())), \
            out.out[-20:] + out.err[-20:]
        for i in range(60):  # at least 40 of these folders have no watch
            write(src, f"d{i}/new.txt", b"in a folder inotify may not watch")
        assert wait_until(lambda: same(src, dst))  # the polling rescan (every 10 s) brings them
    finally:
        out.stop()


def test_the_status_line_names_pending_folders_and_each_target(tmp_path: Path) -> None:
    from syncline.cli.cmd_watch import status_text

    src, one, two = tmp_path / "src", tmp_path / "one", tmp_path / "two"
    write(src, "a.txt", b"a")
    with mirroring(src, one, two) as m:
        os.rename(two, tmp_path / "away")
        write(src, "b.txt", b"b")
        assert wait_until(lambda: not m.status()["targets"][1]["ok"])
        line = status_text([m.status()])
    assert line.startswith(f"{src}: ") and re.search(r"\d+ folders? pending", line)
    assert "one: synced" in line and "two: waiting (" in line and "is missing" in line


def test_the_python_api_and_a_file_written_slowly_ends_complete(tmp_path: Path) -> None:
    import syncline

    src, dst = tmp_path / "src", tmp_path / "dst"
    write(src, "a.txt", b"a")
    stop = threading.Event()
    events: list[str] = []
    runner = threading.Thread(target=syncline.watch, args=(src, [dst]),
                              kwargs={"delete": True, "stop": stop, "log": lambda m, f: events.append(m)})
    runner.start()
    try:
        assert wait_until(lambda: same(src, dst))
        with open(src / "slow.bin", "wb") as fh:  # appended to for 2 s
            for _ in range(20):
                fh.write(b"x" * 1000)
                fh.flush()
                time.sleep(0.1)
        assert wait_until(lambda: same(src, dst))
        assert (dst / "slow.bin").stat().st_size == 20_000
    finally:
        stop.set()
        runner.join(30)
    assert not runner.is_alive() and "catch-up" in events


def test_a_file_being_written_is_pushed_once_it_is_closed(tmp_path: Path) -> None:
    src, dst = tmp_path / "src", tmp_path / "dst"
    write(src, "docs/a.txt", b"a")
    with mirroring(src, dst) as m:
        with open(src / "docs/upload.bin", "wb") as fh:
            fh.write(b"first half ")
            fh.flush()
            time.sleep(1.5)  # past --max-delay: a push went out meanwhile
            write(src, "docs/other.txt", b"not held up")
            assert wait_until(lambda: (dst / "docs/other.txt").exists())
            assert not (dst / "docs/upload.bin").exists()  # never a half-written copy
            assert m.status()["being_written"] == 1
            fh.write(b"second half")
        assert wait_until(lambda: same(src, dst))
        assert (dst / "docs/upload.bin").read_bytes() == b"first half second half"
        assert wait_until(lambda: m.status()["being_written"] == 0)


def test_a_file_being_written_at_start_is_held_out_of_the_catch_up(tmp_path: Path) -> None:
    """Point 10 of issue 11: after a restart, the catch-up pushed a file a writer still held open."""
    src, dst = tmp_path / "src", tmp_path / "dst"
    write(src, "docs/a.txt", b"a")
    with open(src / "docs/upload.bin", "wb") as fh:
        fh.write(b"first half ")
        fh.flush()
        with mirroring(src, dst) as m:
            assert wait_until(lambda: (dst / "docs/a.txt").exists(), 60)
            time.sleep(1.0)
            assert not (dst / "docs/upload.bin").exists()  # never a half-written copy
            assert m.status()["being_written"] == 1
            fh.write(b"second half")
            fh.close()
            assert wait_until(lambda: same(src, dst), 60)
    assert (dst / "docs/upload.bin").read_bytes() == b"first half second half"


def test_a_file_kept_open_is_pushed_after_max_hold(tmp_path: Path) -> None:
    src, dst = tmp_path / "src", tmp_path / "dst"
    write(src, "a.txt", b"a")
    with mirroring(src, dst, options=replace(FAST, max_hold=1.0)), open(src / "app.log", "wb") as fh:
        fh.write(b"started\n")
        fh.flush()  # and then nothing more: no event comes, the file stays open
        assert wait_until(lambda: (dst / "app.log").exists())
        assert (dst / "app.log").read_bytes() == b"started\n"


def test_being_written_tells_an_open_writer_apart(tmp_path: Path) -> None:
    from syncline.engine.replicas.local import LocalReplica

    write(tmp_path, "f.txt", b"x")
    (tmp_path / "d").mkdir()
    os.symlink("f.txt", tmp_path / "link")
    replica = LocalReplica(tmp_path)
    with open(tmp_path / "f.txt", "ab") as fh:
        assert replica.being_written("f.txt")
        fh.write(b"y")
    assert not replica.being_written("f.txt")
    with open(tmp_path / "f.txt", "rb"):
        assert not replica.being_written("f.txt")  # a reader is not a writer
    assert not replica.being_written("d") and not replica.being_written("link")
    assert not replica.being_written("missing.txt")


def test_under_constant_changes_quick_pushes_go_before_max_delay(tmp_path: Path) -> None:
    src, dst = tmp_path / "src", tmp_path / "dst"
    write(src, "a.txt", b"a")
    # A write every 50 ms: the source is never quiet for 1 s. Changes then wait about ten times what a push
    # takes (milliseconds, seconds on a loaded machine), not max_delay: without that, nothing written
    # meanwhile could arrive before 90 s, and the waits below (60 s each) would run out first.
    options = replace(FAST, quiet=1.0, max_delay=90.0)
    with mirroring(src, dst, options=options):
        write(src, "timed.txt", b"pushed once quiet: how long a push takes is known from here on")
        assert wait_until(lambda: (dst / "timed.txt").exists())
        stop = threading.Event()
        written: list[Path] = []

        def writer() -> None:
            while not stop.is_set():
                written.append(write(src, f"w/f{len(written)}.txt", str(len(written)).encode()))
                time.sleep(0.05)

        thread = threading.Thread(target=writer)
        thread.start()
        try:
            assert wait_until(lambda: bool(written) and (dst / "w/f0.txt").exists(), 60)
            later = written[-1].name  # written after the first push of the changes: it takes another one
            assert wait_until(lambda: (dst / "w" / later).exists(), 60)
            assert thread.is_alive()  # the source never went quiet meanwhile
        finally:
            stop.set()
            thread.join(60)
        assert wait_until(lambda: same(src, dst))
