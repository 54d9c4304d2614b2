"""``lock_makes_readonly``: the files this device made read-only because someone else locks them, kept
durably in ``STATE/daemon/readonly.json`` so that none stays read-only for good after a crash.

Rules (docs/design.md, "Many people on one server"):

- A regular file of a synced folder that another user or device locks (``locked_by_others``) loses its
  write bits. Its mode is recorded first (atomic write, fsynced), then changed: a crash between leaves a
  record of a file still writable, which :func:`~syncline.engine.replicas.modemask.put_back` leaves alone.
- When its lock ends (released, expired, broken, revoked) it gets exactly that mode back, then the record
  goes; at the daemon's start every record of a folder that is not masked any more (the option off, the
  folder removed) is put back at once, and those of the others at their loop's first look at the locks.
- A mode changed by someone else meanwhile (the user's ``chmod``) is theirs: the record is marked
  ``left``, the file is neither masked nor put back, and it is not made read-only again while that lock
  lasts. The new mode syncs like any change once the lock ends.
- The masking itself (no mode change ever reaches the server) is the engine's
  :class:`~syncline.engine.replicas.modemask.ModeMask`, which reads these records.

An unreadable record file is taken as empty (logged): files it listed stay read-only, never worse. A
record is used only if this code could have made it (``Masked.valid``: permission bits, the given mode
exactly the mode without its write bits), and a mode is put back only over exactly the mode given: a
record file written by someone else can at most give write bits back to a file that has none.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from collections.abc import Collection, Mapping
from pathlib import Path
from typing import Any

from ...engine.replicas.confined import Confined
from ...engine.replicas.modemask import WRITE_BITS, Masked, put_back, read_only_record, take_write_bits
from ...formats.framing import atomic_file

FILE_NAME = "readonly.json"
VERSION = 1
_log = logging.getLogger(__name__)


class ReadOnlyFiles:
    """The records of every folder of one daemon (``home``: ``STATE/daemon``), shared by its loops."""

    def __init__(self, home: Path) -> None:
        self.path = home / FILE_NAME
        self._lock = threading.Lock()
        self._folders: dict[str, dict[str, Masked]] = _load(self.path)

    def folder(self, local: str) -> FolderMasks:
        """The records of the folder whose root is ``local``."""
        return FolderMasks(self, local)

    def put_back_all(self, but: Collection[str] = ()) -> None:
        """Put back every file recorded for a folder not in ``but`` (roots whose loops mask files), and
        forget them: their folders are no longer masked, so nobody else would."""
        with self._lock:
            roots = [r for r in self._folders if r not in but]
            for root in roots:
                try:
                    tree = Confined(root)
                except OSError as exc:  # the folder is gone or unreadable: nothing of it to put back
                    _log.warning("cannot open %s to give its files their modes back: %s", root, exc)
                    del self._folders[root]
                    continue
                try:
                    for path, m in self._folders[root].items():
                        _put_back(tree, root, path, m)
                finally:
                    tree.close()
                del self._folders[root]
            if roots:
                self._save()

    def _save(self) -> None:
        """Write the records durably (the caller holds the lock)."""
        body = {"version": VERSION, "folders": {
            root: {p: [m.mode, m.given, m.left, *(m.was or ())] for p, m in files.items()}
            for root, files in self._folders.items() if files}}
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_file(self.path) as out:
            out.write(json.dumps(body, ensure_ascii=False).encode("utf-8", "surrogateescape"))


class FolderMasks:
    """One folder's records: the :class:`~syncline.engine.replicas.modemask.Masks` of its ``ModeMask``,
    and :meth:`settle`, which its loop calls with the paths locked by others."""

    def __init__(self, book: ReadOnlyFiles, root: str) -> None:
        self.book, self.root = book, root

    def masked(self) -> Mapping[str, Masked]:
        with self.book._lock:
            return dict(self.book._folders.get(self.root, {}))

    def rewriting(self, path: str, mode: int) -> None:
        with self.book._lock:
            files = self.book._folders.setdefault(self.root, {})
            m = files.get(path)
            files[path] = Masked(mode, mode & ~WRITE_BITS, was=(m.mode, m.given) if m is not None else None)
            self.book._save()

    def rewritten(self, path: str, mode: int) -> None:
        with self.book._lock:
            files = self.book._folders.setdefault(self.root, {})
            files[path] = Masked(mode, mode & ~WRITE_BITS)
            self.book._save()

    def abandoned(self, path: str) -> None:
        with self.book._lock:
            m = self.book._folders.get(self.root, {}).get(path)
            if m is not None and m.was is not None:
                self.book._folders[self.root][path] = Masked(*m.was)
                self.book._save()

    def settle(self, locked: Collection[str]) -> None:
        """Make the folder's files in ``locked`` (locked by someone else now) read-only, and put back those
        recorded that are no longer locked. Call it where no run writes the folder (the loop's thread,
        between runs): a mode changed during a run would make its commits see a changed file.
        ``OSError`` from the file system (the folder unreadable): what was done is recorded."""
        book = self.book
        tree = Confined(self.root)
        try:
            with book._lock:
                files = book._folders.setdefault(self.root, {})
                before = dict(files)
                for path in [p for p in files if p not in locked]:
                    _put_back(tree, self.root, path, files.pop(path))
                for path, m in list(files.items()):
                    now = _mode_of(tree, path)
                    if m.was is not None:  # a crash during a write: the file is the version before or after
                        m = files[path] = Masked(*m.was) if now == m.was[1] else Masked(m.mode, m.given)
                    if not m.left and now is not None and now != m.given:
                        files[path] = Masked(m.mode, m.given, left=True)  # the user's chmod: theirs
                new = {}
                for path in locked:
                    if path not in files and (record := read_only_record(tree, path)) is not None:
                        new[path] = files[path] = record
                if files != before:
                    book._save()  # the records first: a crash after a chmod must find its record
                missed = [path for path, m in new.items() if not take_write_bits(tree, path, m)]
                for path in missed:  # changed since it was looked at: nothing was taken
                    del files[path]
                if missed:
                    book._save()
        finally:
            tree.close()


def _put_back(tree: Confined, root: str, path: str, m: Masked) -> None:
    try:
        put_back(tree, path, m)
    except OSError as exc:
        _log.warning("could not give %s/%s its mode %o back: %s", root, path, m.mode, exc)


def _mode_of(tree: Confined, path: str) -> int | None:
    try:
        return tree.lstat(path).st_mode & 0o7777
    except (FileNotFoundError, NotADirectoryError):
        return None


def _record(v: Any) -> Masked | None:
    if not isinstance(v, list) or len(v) not in (3, 5):
        return None
    m = Masked(v[0], v[1], v[2] is True, (v[3], v[4]) if len(v) == 5 else None)
    return m if m.valid() else None


def _load(path: Path) -> dict[str, dict[str, Masked]]:
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return {}
    except OSError as exc:
        _log.warning("cannot read %s (%s): the files it lists stay as they are", path, exc)
        return {}
    try:
        doc: Any = json.loads(raw.decode("utf-8", "surrogateescape"))
        folders = doc["folders"]
        out: dict[str, dict[str, Masked]] = {}
        for root, files in folders.items():
            for p, v in files.items():
                m = _record(v)
                if not os.path.isabs(root) or m is None:  # not one this daemon makes: nothing done with it
                    _log.warning("%s: the record of %s/%s is not one this daemon makes; left out", path, root, p)
                    continue
                out.setdefault(str(root), {})[str(p)] = m
        return out
    except (ValueError, KeyError, TypeError, IndexError, AttributeError) as exc:
        _log.warning("cannot read %s (%s): the files it lists stay as they are", path, exc)
        return {}
