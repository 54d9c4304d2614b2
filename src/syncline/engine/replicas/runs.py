"""Run records: which temp names in a tree are syncline's, and what a killed run left to finish.

A run that writes into a tree first records itself in ``<root>/.syncline/runs/<run id>`` (16 random hex
digits, unknown before the run starts) and holds an ``flock`` on that file while it lives. Its temp names
carry the run id (``core.paths.run_temp_name``): ``.syncline-tmp-<run>-<n>`` for new content being staged,
``.syncline-old-<run>-<n>`` for a replaced version on its way to the trash. Before a temp name is first
used in a folder, the folder is appended to the record; before a replaced version is swapped out, its real
path is appended too. So a later run can finish what a killed one left, without a scan and without
guessing: it removes the staged temps and moves the replaced versions into the trash under their real
names. Nothing is ever removed by its shape alone: a user's file named like a temp file is a file like any
other, because its run id is not recorded (a scan skips only the temp names of recorded runs).

Record lines (text, one per line, paths as the hex of their bytes so that any name fits): ``d <folder>``
and ``o <n in hex> <path>``. A record whose flock can be taken belongs to a dead run.
"""

from __future__ import annotations

import errno
import fcntl
import itertools
import os
import threading
import weakref
from collections.abc import Callable

from ...core.paths import META_DIR, REPLACED, RUN_ID_RE, RUNS_DIR, STAGED, join, run_temp, run_temp_name
from .confined import Confined, write_all

RUNS = f"{META_DIR}/{RUNS_DIR}"
_open_records: weakref.WeakSet[RunRecord] = weakref.WeakSet()


def _forget_in_child() -> None:
    """A forked child (a scan running beside the parent) drops its copies of the records' descriptors: an
    flock lasts while any copy is open, so a child outliving a killed parent would keep a dead run's record
    looking alive. The parent's lock is untouched (its own descriptor still holds it)."""
    for record in list(_open_records):
        if record._fd >= 0:
            os.close(record._fd)
            record._fd = -1


os.register_at_fork(after_in_child=_forget_in_child)


class RunRecord:
    """This run's record in one tree, made when the first temp name is asked for.

    ``made`` / ``gone`` keep count of this run's temp names that exist, so that :meth:`close` removes the
    record only when nothing of the run is left in the tree (otherwise the next run finishes the work).
    """

    def __init__(self, tree: Confined, on_meta_dir: Callable[[], None]) -> None:
        self.tree = tree
        self.id = os.urandom(8).hex()
        self._ensure_meta_dir = on_meta_dir
        self._fd = -1
        self._count = itertools.count()
        self._folders: set[str] = set()
        self._lock = threading.Lock()
        self.live: set[str] = set()

    def _open(self) -> None:
        self._ensure_meta_dir()
        try:
            self.tree.mkdir(RUNS, 0o755)
        except FileExistsError:
            pass
        fd = self.tree.open(f"{RUNS}/{self.id}", os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND, 0o644)
        # Not fsynced: journaling file systems (ext4, xfs) commit metadata in order, so a power cut that
        # keeps a temp file keeps the record made before it; the run's first barrier writes it anyway.
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BaseException:
            os.close(fd)
            self.tree.unlink(f"{RUNS}/{self.id}")
            raise
        self._fd = fd
        _open_records.add(self)

    def temp(self, folder: str, kind: str = STAGED) -> str:
        """A fresh temp path of ``kind`` in ``folder`` ("" for the root), recorded before it is used."""
        with self._lock:
            if self._fd < 0:
                self._open()
            if folder not in self._folders:
                write_all(self._fd, b"d " + os.fsencode(folder).hex().encode() + b"\n")
                self._folders.add(folder)
            n = next(self._count)
        return join(folder, run_temp_name(kind, self.id, n))

    def replaced(self, temp: str, path: str) -> None:
        """Record that ``temp`` (a REPLACED name of this run) is about to hold the version now at ``path``."""
        n = temp.rpartition("-")[2]
        with self._lock:
            write_all(self._fd, f"o {n} ".encode() + os.fsencode(path).hex().encode() + b"\n")

    def made(self, temp: str) -> None:
        self.live.add(temp)

    def gone(self, temp: str) -> None:
        self.live.discard(temp)

    def close(self) -> bool:
        """End the record: removed when none of this run's temp names is left. True when removed (or
        never made)."""
        with self._lock:
            if self._fd < 0:
                return True
            fd, self._fd = self._fd, -1
            self._folders.clear()
            try:
                if self.live:
                    return False
                self.tree.unlink(f"{RUNS}/{self.id}")
                return True
            finally:
                os.close(fd)  # lets the flock go: a kept record is then a dead run's


def dead_runs(tree: Confined) -> list[tuple[str, int]]:
    """The records of runs that are no longer alive, each as (run id, descriptor holding its flock)."""
    try:
        with tree.listing(RUNS) as it:
            names = [d.name for d in it if RUN_ID_RE.match(d.name)]
    except (FileNotFoundError, NotADirectoryError):
        return []
    found = []
    for name in names:
        try:
            fd = tree.open(f"{RUNS}/{name}", os.O_RDONLY)
        except OSError:
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            os.close(fd)
            if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN):
                continue  # alive: another process's run
            raise
        found.append((name, fd))
    return found


def read_record(fd: int) -> tuple[list[str], dict[str, str]]:
    """The folders a record lists, and its replaced versions (temp name's number -> real path)."""
    chunks = []
    while block := os.read(fd, 1 << 20):
        chunks.append(block)
    folders: list[str] = []
    replaced: dict[str, str] = {}
    for line in b"".join(chunks).splitlines():
        parts = line.split(b" ")
        try:
            if parts[0] == b"d" and len(parts) == 2:
                folders.append(os.fsdecode(bytes.fromhex(parts[1].decode())))
            elif parts[0] == b"o" and len(parts) == 3:
                replaced[parts[1].decode()] = os.fsdecode(bytes.fromhex(parts[2].decode()))
        except ValueError:
            continue  # a line cut short by the kill
    return folders, replaced


def finish_dead_runs(tree: Confined, trash_adopt: Callable[[str, str], object]) -> int:
    """Finish what killed runs left in the tree: remove their staged temp files, move the versions they
    had swapped out into the trash (``trash_adopt(temp, real path)``), then drop their records. The caller
    holds the tree's lock. Returns how many temp names were dealt with."""
    dealt = 0
    for run, fd in dead_runs(tree):
        try:
            folders, replaced = read_record(fd)
            for folder in dict.fromkeys(folders):
                dealt += _finish_folder(tree, folder, run, replaced, trash_adopt)
            tree.unlink(f"{RUNS}/{run}")
        finally:
            os.close(fd)
    return dealt


def _finish_folder(tree: Confined, folder: str, run: str, replaced: dict[str, str],
                   trash_adopt: Callable[[str, str], object]) -> int:
    try:
        with tree.listing(folder) as it:
            mine = [(d.name, t[0]) for d in it if (t := run_temp(d.name)) is not None and t[1] == run]
    except (FileNotFoundError, NotADirectoryError):
        return 0  # the folder is gone (or is a symlink now: never followed)
    for name, kind in mine:
        path = join(folder, name)
        if kind == REPLACED:
            trash_adopt(path, replaced.get(name.rpartition("-")[2], path))
        else:
            try:
                tree.unlink(path)
            except (FileNotFoundError, IsADirectoryError):
                pass
    return len(mine)
