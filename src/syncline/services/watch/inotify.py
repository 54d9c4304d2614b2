"""The inotify change source: the kernel's events, read in whole buffers by one thread, reduced to the
folders they touch and handed to the collector, one call per buffer.

Why not watchdog (decision in docs/design.md, "The inotify source reads the kernel itself"): the collector
only needs which folders changed and which renames happened, and watchdog builds an event object for each
kernel event and passes it through three threads and a move queue searched from its head. A daemon that
downloads 10,000 files sees some 70,000 events of its own writes (a temp file made, written, its mode and
time set, closed, renamed): watchdog's threads took half of that daemon's CPU time and half of its 855,000
futex calls. Here a buffer of events costs a dictionary update per event.

The watches are kept by path (one per folder, ``.syncline`` folders left out): a folder made is watched
with everything below it (what was made in it before its watch is found by the folder's deep scan); a
folder renamed within the tree keeps its watches under the new path, and its subtree is walked for
folders made before the rename was read; a folder moved out loses its watches. What the kernel cannot
tell is checked: ``check`` counts the watches held against the folders there are (a folder past
``fs.inotify.max_user_watches`` has none), and ``moved`` looks for the watch of every folder below one that
moved. An overflow of the kernel's queue (events lost) starts a new set of watches and tells the
collector, whose owner then rescans everything.
"""

from __future__ import annotations

import errno
import os
import select
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from inotify_simple import INotify, flags, parse_events

from ...core.paths import META_DIR
from .changes import ChangeCollector
from .events import Emit, Rewatched, WatchesComplete, WatchesShort, WatchRefused
from .kernel import count_folders, read_int, unwatched_folders, watched_inodes

# What a change is: a name made, removed, written, closed after a write, its metadata set, renamed. Not
# opening, reading or closing without a write: the mirror's own rescans of a big tree would fill the queue.
MASK = (flags.CREATE | flags.DELETE | flags.MODIFY | flags.ATTRIB | flags.CLOSE_WRITE | flags.MOVED_FROM
        | flags.MOVED_TO | flags.DELETE_SELF | flags.MOVE_SELF | flags.DONT_FOLLOW | flags.ONLYDIR
        | flags.EXCL_UNLINK)
_SELF = flags.DELETE_SELF | flags.MOVE_SELF | flags.ATTRIB | flags.UNMOUNT
PAIR_WAIT = 0.2  # how long a rename's first half waits for its second before it counts as moved out
# Once events are there, the reader waits this long before it reads them all: a burst (a download writes
# some 7 events a file) is read in a few buffers instead of one wake-up, read and GIL hand-over per file.
READ_DELAY = 0.01
_READ_MAX = 1 << 20

_MAX_WATCHES = "/proc/sys/fs/inotify/max_user_watches"
_MAX_INSTANCES = "/proc/sys/fs/inotify/max_user_instances"


class InotifySource:
    """Watches ``root`` recursively with inotify and feeds ``collector``."""

    def __init__(self, root: Path, collector: ChangeCollector, emit: Emit, poll_every: float) -> None:
        self.root = root
        self.collector = collector
        self.emit = emit
        self.poll_every = poll_every
        self.watching = False
        self.polling = False  # some changes go unseen: the owner rescans every poll_every
        self._watcher: _Watcher | None = None
        self._lock = threading.Lock()  # one re-arm at a time (the loop's ``moved``, the reader's overflow)

    @property
    def complete(self) -> bool:
        return not self.polling

    def start(self) -> None:
        self._arm()

    def _arm(self, replacing: _Watcher | None = None) -> None:
        """Watch the source anew (the new watches first, then the old ones go: no moment without one); on
        failure, poll with full rescans. With ``replacing``: only while that watcher is still the current
        one (a re-arm after an overflow does nothing once the source was stopped or armed anew)."""
        with self._lock:
            if replacing is not None and self._watcher is not replacing:
                return
            watcher = _Watcher(str(self.root), self.collector, self._overflowed, self._went_short)
            try:
                watcher.start()
            except OSError as exc:  # not even the root can be watched (the watch limit, or no inotify)
                self.emit(WatchRefused(str(exc.strerror or exc), self.poll_every, _limit_advice(exc, self.root)))
                self.polling = True
                return
            old, self._watcher = self._watcher, watcher
            self.watching = True
            if watcher.short and not self.polling:
                self.polling = True
                self._tell_short()
        if old is not None:
            old.stop()

    def stop(self) -> None:
        with self._lock:
            watcher, self._watcher = self._watcher, None
            self.watching = False
        if watcher is not None:
            watcher.stop()

    def close(self) -> None:
        self.stop()

    def _overflowed(self, watcher: _Watcher) -> None:
        """The kernel's queue overflowed (the reader's thread): events were lost, folders made meanwhile
        may have no watch. A new set of watches, then the collector is told (its owner rescans)."""
        if self._watcher is watcher:
            threading.Thread(target=self._rearm_then_tell, args=(watcher,), name="inotify re-arm",
                             daemon=True).start()
        else:
            self.collector.overflow()

    def _went_short(self, watcher: _Watcher) -> None:
        """A folder made while watching got no watch (the limit; the reader's thread): poll from now on."""
        if self._watcher is watcher and not self.polling:
            self.polling = True
            self._tell_short()

    def _rearm_then_tell(self, watcher: _Watcher) -> None:
        self._arm(replacing=watcher)
        self.collector.overflow()

    def check(self) -> None:
        """Whether inotify watches every folder of the source. A folder past the kernel's
        ``fs.inotify.max_user_watches`` has no watch: then changes there would go unseen, so the source
        says so and stays incomplete (the owner polls) until a new set of watches covers every folder
        (the limit was raised, or folders went away)."""
        watcher = self._watcher
        if not self.watching or watcher is None:
            return
        if watcher.short:
            self._arm()
            watcher = self._watcher
            if watcher is None:
                return
        folders = count_folders(self.root)
        watched = watcher.count()
        short = watched < folders
        if short and not self.polling:
            self._tell_short(folders, watched)
        elif not short and self.polling:
            self.emit(WatchesComplete(folders))
        self.polling = short

    def _tell_short(self, folders: int | None = None, watched: int | None = None) -> None:
        folders = count_folders(self.root) if folders is None else folders
        if watched is None:
            watched = self._watcher.count() if self._watcher is not None else 0
        limit = read_int(_MAX_WATCHES)
        self.emit(WatchesShort(folders, watched, limit, self.poll_every, _watches_sysctl(limit, folders)))

    def moved(self, moves: Sequence[tuple[str, str]]) -> None:
        """Make sure every folder at or below a folder that moved within the source is watched, and arm
        the watch anew when one is not. The reader keeps a moved folder's watches and walks it for
        folders made before the rename was read; this is the check that nothing slipped between (a folder
        made a moment ago may simply not be watched yet: it gets a second until it counts as missing). The
        folder sync after a move scans the moved folders whole, so arming anew before it loses nothing."""
        if not moves or not self.watching or self.polling:
            return  # polling already rescans everything: nothing relies on the events
        dests = sorted({new for _, new in moves})
        deadline = time.monotonic() + 1.0
        while True:
            watched = watched_inodes()
            if watched is None:
                return
            missing = unwatched_folders(self.root, dests, watched)
            if not missing:
                return
            if time.monotonic() >= deadline:
                break
            dests = missing
            time.sleep(0.05)
        self.emit(Rewatched(tuple(missing[:10])))
        self._arm()


class _Watcher:
    """One inotify instance over the tree at ``root``, and the thread that reads it."""

    def __init__(self, root: str, collector: ChangeCollector, overflowed: Callable[[_Watcher], None],
                 went_short: Callable[[_Watcher], None]) -> None:
        self.root = root
        self.collector = collector
        self.overflowed = overflowed
        self.went_short = went_short
        self.short = False  # a folder could not be watched: the watch limit
        self._told_short = False
        self._ino: INotify | None = None
        self._paths: dict[int, str] = {}  # watch descriptor -> folder (relative to the root; "" the root)
        self._wds: dict[str, int] = {}
        self._pending: dict[int, tuple[str, bool, float]] = {}  # cookie -> (path, folder?, when) of MOVED_FROM
        self._stop_r, self._stop_w = -1, -1
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Watch the root and every folder below it; the reader runs once they are. OSError when even the
        root cannot be watched."""
        ino = INotify()
        try:
            self._ino = ino
            self._add("", root=True)
            self._watch_tree("")
        except BaseException:
            ino.close()
            raise
        self._stop_r, self._stop_w = os.pipe2(os.O_CLOEXEC)
        self._thread = threading.Thread(target=self._read_loop, name="inotify", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        if self._thread is not None:
            os.write(self._stop_w, b"x")
            self._thread.join(timeout=10)
            self._thread = None
            os.close(self._stop_r)
            os.close(self._stop_w)
        if self._ino is not None:
            self._ino.close()
            self._ino = None

    def count(self) -> int:
        """The folders watched."""
        return len(self._wds)

    # ------------------------------------------------------------------------------------- watches

    def _add(self, rel: str, root: bool = False) -> bool:
        """Watch folder ``rel``; False when it cannot be (gone, not a folder, unreadable, the limit).
        The root's failure is raised."""
        assert self._ino is not None
        try:
            wd = self._ino.add_watch(os.path.join(self.root, rel) if rel else self.root, MASK)
        except OSError as exc:
            if root:
                raise
            if exc.errno == errno.ENOSPC:
                self.short = True
            return False
        old = self._paths.get(wd)
        if old is not None and old != rel:
            self._wds.pop(old, None)
        self._paths[wd] = rel
        self._wds[rel] = wd
        return True

    def _watch_tree(self, top: str) -> None:
        """Watch every folder below ``top`` (``top`` itself is watched by the caller, or is now)."""
        stack = [top]
        while stack and not self.short:
            rel = stack.pop()
            if rel not in self._wds and not self._add(rel):
                continue
            try:
                with os.scandir(os.path.join(self.root, rel) if rel else self.root) as it:
                    for entry in it:
                        if entry.name != META_DIR and entry.is_dir(follow_symlinks=False):
                            stack.append(f"{rel}/{entry.name}" if rel else entry.name)
            except OSError:
                continue  # gone or unreadable meanwhile: its own events (or the next scan) tell

    def _forget(self, wd: int) -> None:
        rel = self._paths.pop(wd, None)
        if rel is not None and self._wds.get(rel) == wd:
            del self._wds[rel]

    def _under(self, top: str) -> list[str]:
        prefix = top + "/"
        return [p for p in self._wds if p == top or p.startswith(prefix)]

    def _rename(self, src: str, dst: str) -> None:
        """Folder ``src`` is now ``dst``: its watches (the kernel's follow the folder) go by the new path."""
        for p in self._under(dst):  # a folder renamed over (an empty one): its watch is going away
            self._paths.pop(self._wds.pop(p), None)
        for p in self._under(src):
            wd = self._wds.pop(p)
            new = dst + p[len(src):]
            self._wds[new] = wd
            self._paths[wd] = new

    def _drop(self, top: str) -> None:
        """Folder ``top`` moved out of the tree: stop watching it and everything below it."""
        assert self._ino is not None
        for p in self._under(top):
            wd = self._wds.pop(p)
            self._paths.pop(wd, None)
            try:
                self._ino.rm_watch(wd)
            except OSError:
                pass  # gone already

    # -------------------------------------------------------------------------------------- events

    def _read_loop(self) -> None:
        assert self._ino is not None
        fd = self._ino.fileno()
        poller = select.poll()
        poller.register(fd, select.POLLIN)
        poller.register(self._stop_r, select.POLLIN)
        while True:
            ready = dict(poller.poll(int(PAIR_WAIT * 1000) if self._pending else None))
            if self._stop_r in ready:
                return
            if fd in ready:
                time.sleep(READ_DELAY)
            try:
                data = os.read(fd, _READ_MAX) if fd in ready else b""
            except OSError as exc:
                if exc.errno in (errno.EINTR, errno.EAGAIN):
                    continue
                return  # the instance is closed
            self.handle(parse_events(data), time.monotonic())

    def handle(self, events: Sequence[tuple[int, int, int, str]], now: float) -> None:
        """Reduce a buffer of kernel events to changed folders and renames, and tell the collector once.
        A rename's halves are paired by cookie; a first half left alone ``PAIR_WAIT`` moved out."""
        folders: dict[str, bool] = {}
        named: dict[str, set[str] | None] = {}  # a folder -> the children its events named (None: not known)
        moves: list[tuple[str, str]] = []

        def mark(folder: str, deep: bool, name: str | None = None) -> None:
            folders[folder] = folders.get(folder, False) or deep
            if name is None:
                named[folder] = None
            elif (seen := named.setdefault(folder, set())) is not None:
                seen.add(name)

        for wd, mask, cookie, name in events:
            if mask & flags.Q_OVERFLOW:
                self.overflowed(self)
                continue
            base = self._paths.get(wd)
            if base is None:
                continue  # a watch already dropped
            if mask & flags.IGNORED:
                self._forget(wd)
                continue
            if not name:  # the watched folder itself: its parent's listing changed
                if mask & _SELF:
                    up, _, own = base.rpartition("/")
                    mark(up, False, own)  # the root itself: "" in "" (it has no parent here)
                continue
            if name == META_DIR:
                continue
            rel = f"{base}/{name}" if base else name
            mark(base, False, name)
            is_dir = bool(mask & flags.ISDIR)
            if mask & flags.MOVED_FROM:
                self._pending[cookie] = (rel, is_dir, now)
            elif mask & flags.MOVED_TO:
                src = self._pending.pop(cookie, None)
                if src is not None:
                    moves.append((src[0], rel))
                    if is_dir:
                        self._rename(src[0], rel)
                if is_dir:
                    mark(rel, True)
                    self._watch_tree(rel)
            elif is_dir and mask & flags.CREATE:
                mark(rel, True)
                self._watch_tree(rel)
        for cookie, (rel, is_dir, when) in list(self._pending.items()):
            if now - when >= PAIR_WAIT:  # moved out of the tree (its parent is marked already)
                del self._pending[cookie]
                if is_dir:
                    self._drop(rel)
        if folders or moves:
            self.collector.add_batch(list(folders.items()), moves,
                                     names={f: seen for f, seen in named.items() if seen is not None})
        if self.short and not self._told_short:
            self._told_short = True
            self.went_short(self)


def _watches_sysctl(limit: int | None, folders: int) -> str:
    """The command that raises the per-user watch limit enough for ``folders`` folders."""
    return f"sysctl fs.inotify.max_user_watches={max(2 * (limit or 8192), 2 * folders)}"


def _limit_advice(exc: OSError, source: Path) -> str:
    """What to run when inotify refuses even the source folder: ``sysctl ...`` for the limit it hit
    (watches: ENOSPC; inotify instances: EMFILE), or "" for any other failure."""
    if exc.errno == errno.ENOSPC:
        return _watches_sysctl(read_int(_MAX_WATCHES), count_folders(source))
    if exc.errno == errno.EMFILE:
        limit = read_int(_MAX_INSTANCES)
        return f"sysctl fs.inotify.max_user_instances={2 * (limit or 128)}"
    return ""

