"""The ``expect`` rule table of ``docs/replicas.md``, applied to one folder's rows, item by item.

Everything here runs inside the batch's write transaction (:meth:`~.folder.FolderStore.apply_ops`), so
the re-check of ``expect`` and the write are one step: nobody can change the path in between. "Still what
the plan saw" is ``Entry.unchanged_since`` with the entry's version in the place of ctime: kind, size, mtime,
symlink target, ``file_id`` and version when the client gave them. A destination that moved on is kept:
to the trash and the write goes on, or (``keep_changed``) left in place and the item not done. The trash
is the replaced version's content row, kept with the path and entry it had.

Each item that changes something takes the next number of the folder's sequence: every row it writes gets
that version (a folder move gives one version to every entry it moves), and the journal gets one row.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass

import blake3
import sqlalchemy as sa

from ...formats.wire.errors import WireError, clip
from ...formats.wire.limits import MAX_INT, MIN_INT
from ...formats.wire.ops import ChunkRef, ItemResult, Op, WirePolicy
from ...formats.wire.paths import check_target, check_wire_path
from ..chunks import ChunkStore
from . import contents
from . import schema as t
from .davstate import TreeMarks
from .filelocks import LockGuard
from .ids import base32_id
from .meta import Folder, used_bytes
from .rows import Row, Rows

CHANGED_NOTE = "changed since the scan; the destination's version was moved to the trash"
KEPT_NOTE = "changed since the scan; both versions kept, the next run reconciles them"
_EMPTY = blake3.blake3(b"").digest()
_clock_lock = threading.Lock()
_last_stamp = 0


def trash_clock() -> int:
    """Now in ns, strictly increasing in this process: trash is listed newest first, ties never happen."""
    global _last_stamp
    with _clock_lock:
        _last_stamp = max(time.time_ns(), _last_stamp + 1)
        return _last_stamp


@dataclass(frozen=True, slots=True)
class Applied:
    """What one item did: its result, and the change it made (op, path, from path) when it changed
    something (it then took a sequence number)."""

    result: ItemResult
    change: tuple[str, str, str | None] | None = None


def _done(version: int = 0, file_id: str = "", trashed: bool = False, changed: bool = False,
          change: tuple[str, str, str | None] | None = None) -> Applied:
    return Applied(ItemResult(True, version, file_id, trashed, CHANGED_NOTE if changed else ""), change)


def _kept(note: str, code: str = "changed") -> Applied:
    return Applied(ItemResult(False, note=note, code=code))


class Applier:
    """Applies items to ``folder``'s rows on ``conn``; ``seq`` is the folder's sequence so far and grows by
    one per change. ``chunk_store`` is where a ``put``'s manifest is read from."""

    def __init__(self, conn: sa.Connection, folder: Folder, policy: WirePolicy, seq: int,
                 chunk_store: ChunkStore | None = None, locks: LockGuard | None = None, device: str = "") -> None:
        self.conn = conn
        self.device = device  # whose writes these are (kept versions say so)
        self.locks = locks  # the file locks the batch's device must respect (None: the server's own writes)
        self.chunk_store = chunk_store
        self.folder = folder
        self.policy = policy
        self.marks = TreeMarks()  # flushed once, at the batch's end (:meth:`finish`)
        self.rows = Rows(conn, folder.id, self.marks)
        self.seq = seq
        self._quota: int | None = None
        self._quota_read = False
        self._used: int | None = None  # the owner's live bytes, once a put had to know them

    def finish(self) -> None:
        """The batch's end, in its transaction: the folders it changed take its last version as their
        ``tree_version`` and its new file ids their numbers (:mod:`.davstate`)."""
        self.marks.flush(self.rows.raw, self.folder.id, self.seq)

    def _new_id(self) -> str:
        """A new file_id, numbered for WebDAV at the batch's end."""
        file_id = base32_id()
        self.marks.made(file_id)
        return file_id

    def _next(self) -> int:
        return self.seq + 1

    @staticmethod
    def _stamp() -> int:
        return trash_clock()

    # -- shared steps --------------------------------------------------------------------------------------
    def _parent_ok(self, path: str) -> None:
        """``not_found`` unless ``path``'s folder exists; ``not_a_dir`` when it is a file or symlink."""
        up = path.rpartition("/")[0]
        if not up:
            return
        row = self.rows.get(up)
        if row is None:
            blocker = self.rows.blocker(up)
            if blocker is not None:
                raise _not_a_dir(blocker.path)
            raise WireError("not_found", f"no folder {clip(up)} on the server", "sync again", {"path": clip(up)})
        if row.kind != t.DIR:
            raise _not_a_dir(up)

    def _no_twin(self, path: str, *besides: str) -> None:
        twin = self.rows.twin(path, *besides)
        if twin is not None:
            raise WireError("name_clash", f"{clip(path)} and {clip(twin)} are the same name in another Unicode "
                            "form", "rename one of them", {"path": clip(path), "other": clip(twin)})

    def _dispose(self, row: Row, changed: bool, reason: str) -> bool:
        """Take ``row`` (a file or symlink) off its path, always kept as a version (``reason``: replaced or
        deleted; its chunks are shared, so keeping costs a row); also as trash (protocol 1.0) when it changed
        since the scan or the policy keeps trash. Returns whether it went to the trash."""
        if row.kind == t.FILE and self._used is not None:
            self._used -= row.size  # kept versions are not counted: only the files the owner has now
        trashed = changed or self.policy.trash
        contents.keep(self.rows.raw, self.folder.id, row, self._stamp(), reason, self.device, trashed)
        return trashed

    def _replace(self, path: str, op: Op) -> tuple[Applied | None, bool, bool, str | None]:
        """Free ``path`` for a new file, folder or symlink as the rule table says. Returns (a refusal, or
        None to go on; trashed; changed; the file id to keep: a file replaced by a file keeps its id)."""
        current = self.rows.get(path)
        if current is None:
            self._no_twin(path)
            return None, False, False, None
        expect = op.expect.entry() if op.expect is not None else None
        if current.kind == t.DIR:
            if expect is None or expect.kind != "dir":
                return _kept("a directory appeared here since the scan; left alone"), False, False, None
            if self.rows.has_children(path):
                return _kept("cannot replace the directory: Directory not empty"), False, False, None
            return None, False, False, None
        changed = expect is None or not current.entry().unchanged_since(expect)
        if changed and self.policy.keep_changed:
            return _kept(KEPT_NOTE), False, False, None
        trashed = self._dispose(current, changed, "replaced")
        keep_id = current.file_id if current.kind == t.FILE and not changed and op.op == "put" else None
        return None, trashed, changed, keep_id

    # -- the items -------------------------------------------------------------------------------------------
    def apply(self, op: Op) -> Applied:
        """Apply one item (a ``put``'s content was verified outside the transaction). ``WireError`` for a
        per-item failure (the caller rolls the item back)."""
        check_wire_path(op.path, root_ok=op.op == "meta")
        if self.locks is not None:  # every path the item writes: both ends of a move, and all below a folder's
            if op.op == "move":
                self.locks.check((op.path, op.to or ""), below=op.path)
            elif op.op == "delete_tree":
                self.locks.check((op.path,), below=op.path)
            else:
                self.locks.check((op.path,))
        used = self._used
        self.marks.begin_item()
        try:
            done = self._dispatch(op)
        except WireError:
            self._used = used  # the caller rolls the item back
            self.marks.undo_item()
            raise
        if self.locks is not None and done.change is not None:  # the holder's own delete, replace or move
            if done.change[0] in ("delete", "mkdir", "symlink"):  # no file left at the path: no lock on it
                self.locks.deleted(op.path, below=op.op == "delete_tree")
            elif done.change[0] == "move":
                self.locks.moved(op.path, done.change[1])
        return done

    def _dispatch(self, op: Op) -> Applied:
        if op.op == "put":
            return self._put(op)
        if op.op == "mkdir":
            return self._mkdir(op)
        if op.op == "symlink":
            return self._symlink(op)
        if op.op == "delete":
            return self._delete(op)
        if op.op == "move":
            return self._move(op)
        if op.op == "restore":
            return self._restore(op)
        if op.op == "delete_tree":
            return self._delete_tree(op)
        return self._meta(op)

    def _entry_of(self, op: Op) -> tuple[int, int]:
        e = op.entry
        if e is None or not (MIN_INT <= e.mtime_ns <= MAX_INT and 0 <= e.mode <= MAX_INT):
            raise WireError("bad_request", f"{op.op} of {clip(op.path)} without a valid entry", "a client bug")
        return e.mtime_ns, e.mode & 0o7777

    def _put(self, op: Op) -> Applied:
        mtime_ns, mode = self._entry_of(op)
        assert op.entry is not None
        self._parent_ok(op.path)
        raw, ns = self.rows.raw, self.folder.chunk_ns
        if op.manifest:  # read again from the pieces, checked again as the rows go in (a big list)
            if self.chunk_store is None:
                raise WireError("bad_request", f"put of {clip(op.path)} with a manifest where none is read",
                                "a server bug")
            chunks: Iterable[ChunkRef] = contents.present(
                raw, ns, contents.manifest_list(raw, self.chunk_store, ns, op.path, op.manifest), op.path)
        else:
            missing = contents.missing_rows(raw, ns, [c.id for c in op.chunks])
            if missing:  # the collector took them since the check outside the transaction
                raise contents.missing_chunks(op.path, missing)
            chunks = op.chunks
        self._fits(op.path, op.entry.size)
        refusal, trashed, changed, keep_id = self._replace(op.path, op)
        if refusal is not None:
            return refusal
        version = self._next()
        digest = op.entry.digest if op.entry.digest is not None else _EMPTY
        content_id = contents.add(raw, self.folder.id, op.entry.size, digest, chunks)
        row = Row(op.path, t.FILE, op.entry.size, mtime_ns, mode, digest, None, keep_id or self._new_id(), version,
                  content_id)
        self.rows.put(row)
        if self._used is not None:
            self._used += op.entry.size
        return _done(version, row.file_id, trashed, changed, ("put", op.path, None))

    def _restore(self, op: Op) -> Applied:
        """Bring the kept version ``op.version_id`` (a file or symlink) back at ``op.path``, its own path or
        another, as a new version of that path: journaled as a ``put`` (or ``symlink``), so every device gets
        it like any change. The version it replaces is kept in turn (a restore can be undone). The kept row
        itself becomes the live one: no copy, whatever its size, and its chunks were referenced all along."""
        raw = self.rows.raw
        kept = raw.one("SELECT id, size, digest, trash_entry, damaged_ns FROM contents WHERE id = :i AND folder_id = :f"
                       " AND kept_ns IS NOT NULL", {"i": op.version_id, "f": self.folder.id})
        if kept is None:
            raise WireError("not_found", f"no kept version {op.version_id} in the folder",
                            "list the versions again: this one may have been restored or expired",
                            {"version_id": op.version_id})
        if kept[4] is not None:  # live, it would be a file no device can download, over one they can
            raise WireError("damaged", f"version {op.version_id} of {clip(op.path)} lost part of its content on "
                            "the server", "restore another version", {"path": clip(op.path)})
        e = json.loads(str(kept[3]))
        if e.get("kind") not in (t.FILE, t.SYMLINK):
            raise WireError("bad_request", f"version {op.version_id} is not a file's", "restore a file's version")
        self._parent_ok(op.path)
        size = int(kept[1])
        if e["kind"] == t.FILE:
            self._fits(op.path, size)
        refusal, trashed, changed, _ = self._replace(op.path, op)
        if refusal is not None:
            return refusal
        version = self._next()
        if e["kind"] == t.FILE:
            raw.run("UPDATE contents SET kept_ns = NULL, trashed_ns = NULL, trash_path = NULL, trash_entry = NULL,"
                    " reason = NULL, by_device = NULL WHERE id = :i", {"i": kept[0]})
            row = Row(op.path, t.FILE, size, int(e["mtime_ns"]), int(e["mode"]), bytes(kept[2]), None, self._new_id(),
                      version, int(kept[0]))
            if self._used is not None:
                self._used += size
        else:  # a symlink's kept row holds its entry alone
            raw.run("DELETE FROM contents WHERE id = :i", {"i": kept[0]})
            row = Row(op.path, t.SYMLINK, size, int(e["mtime_ns"]), int(e["mode"]), None, str(e["target"]),
                      self._new_id(), version, None)
        self.rows.put(row)
        return _done(version, row.file_id, trashed, changed, ("put" if row.kind == t.FILE else "symlink", op.path,
                                                              None))

    def _fits(self, path: str, size: int) -> None:
        """``over_quota`` when a file of ``size`` bytes at ``path`` takes the folder's owner past their
        quota (the live bytes of every folder they own). A file that does not grow always fits: a user past
        a quota lowered under their use can still edit and shrink."""
        if not self._quota_read:
            self._quota = self.conn.execute(sa.select(t.users.c.quota_bytes).where(
                t.users.c.id == self.folder.owner_id)).scalar()
            self._quota_read = True
        if self._quota is None:
            return
        current = self.rows.get(path)
        old = current.size if current is not None and current.kind == t.FILE else 0
        if size <= old:
            return
        if self._used is None:
            self._used = used_bytes(self.conn, self.folder.owner_id)
        if self._used - old + size > self._quota:
            raise WireError("over_quota", f"{clip(path)} does not fit: the owner's quota is {self._quota:,} bytes "
                            f"and {self._used:,} are in use", "delete files in the owner's folders, or ask the "
                            "server's administrator for more (`syncline user set NAME --quota SIZE`)",
                            {"path": clip(path), "used": self._used, "limit": self._quota})

    def _mkdir(self, op: Op) -> Applied:
        mtime_ns, mode = self._entry_of(op)
        self._parent_ok(op.path)
        current = self.rows.get(op.path)
        if current is not None and current.kind == t.DIR:
            return _done(current.version, current.file_id)
        refusal, trashed, changed, _ = self._replace(op.path, op)
        if refusal is not None:
            return refusal
        row = Row(op.path, t.DIR, 0, mtime_ns, mode, None, None, self._new_id(), self._next())
        self.rows.put(row)
        return _done(row.version, row.file_id, trashed, changed, ("mkdir", op.path, None))

    def _symlink(self, op: Op) -> Applied:
        mtime_ns, mode = self._entry_of(op)
        assert op.entry is not None
        target = check_target(op.entry.target)
        self._parent_ok(op.path)
        refusal, trashed, changed, _ = self._replace(op.path, op)
        if refusal is not None:
            return refusal
        row = Row(op.path, t.SYMLINK, len(target.encode("utf-8")), mtime_ns, mode, None, target, self._new_id(),
                  self._next())
        self.rows.put(row)
        return _done(row.version, row.file_id, trashed, changed, ("symlink", op.path, None))

    def _delete(self, op: Op) -> Applied:
        current = self.rows.get(op.path)
        if current is None:
            return _done()
        expect = op.expect.entry() if op.expect is not None else None
        if expect is None or current.kind != expect.kind or (
                current.kind != t.DIR and not current.entry().unchanged_since(expect)):
            return _kept("changed since the scan; not deleted")
        trashed = False
        if current.kind == t.DIR:
            if self.rows.has_children(op.path):
                return _kept("not deleted: the directory holds entries the scan did not see")
        else:
            trashed = self._dispose(current, False, "deleted")
        self.rows.bury(op.path, current.file_id, self._next())
        return _done(trashed=trashed, change=("delete", op.path, None))

    def _delete_tree(self, op: Op) -> Applied:
        """The server's own item (WebDAV's DELETE of a folder, ``Overwrite: T``): the folder ``op.path`` and
        everything below it go in one version, each file and symlink kept as a deleted version, only if the
        folder's ``tree_version`` is still ``op.tree_version`` (what the request read); otherwise nothing
        goes (``changed``), so a file another device added or changed since is never deleted unseen."""
        current = self.rows.get(op.path)
        if current is None:
            return _kept("vanished since it was read; nothing deleted", "not_found")
        if current.kind != t.DIR or op.tree_version is None:
            raise WireError("bad_request", f"{clip(op.path)} is not a folder", "delete it as a file")
        now = self.rows.raw.one("SELECT tree_version FROM entries WHERE folder_id = :f AND path = :p",
                                {"f": self.folder.id, "p": op.path})
        if now is None or now[0] != op.tree_version:
            return _kept("changed since it was read; nothing deleted")
        version = self._next()
        trashed = False
        for row in self.rows.below(op.path):
            if row.kind != t.DIR:
                trashed = self._dispose(row, False, "deleted") or trashed
            self.rows.bury(row.path, row.file_id, version)
        self.rows.bury(op.path, current.file_id, version)
        return _done(trashed=trashed, change=("delete", op.path, None))

    def _move(self, op: Op) -> Applied:
        if op.to is None:
            raise WireError("bad_request", f"move of {clip(op.path)} without 'to'", "a client bug")
        to = check_wire_path(op.to)
        current = self.rows.get(op.path)
        if current is None:
            return _kept("vanished since the scan; not moved")
        expect = op.expect.entry() if op.expect is not None else None
        if expect is None or current.kind != expect.kind or (
                current.kind != t.DIR and not current.entry().unchanged_since(expect)):
            return _kept("changed since the scan; not moved")
        if to == op.path:  # already there: nothing to do
            return _done(current.version, current.file_id)
        if to.startswith(op.path + "/"):
            raise WireError("bad_request", f"cannot move {clip(op.path)} into itself", "a client bug",
                            {"path": clip(op.path)})
        if self.rows.get(to) is not None:
            return _kept(f"not moved: {to} exists", "exists")
        self._parent_ok(to)
        self._no_twin(to, op.path)
        version = self._next()
        moved = [current, *self.rows.below(op.path)] if current.kind == t.DIR else [current]
        for row in moved:
            new_path = to + row.path[len(op.path):]
            self.rows.bury(row.path, row.file_id, version)
            self.rows.put(Row(new_path, row.kind, row.size, row.mtime_ns, row.mode, row.digest, row.target,
                              row.file_id, version, row.content_id))
        return _done(version, current.file_id, change=("move", to, op.path))

    def _meta(self, op: Op) -> Applied:
        mtime_ns, mode = self._entry_of(op)
        if op.path == "":
            self.conn.execute(t.folders.update().where(t.folders.c.id == self.folder.id).values(
                root_mode=mode, root_mtime_ns=mtime_ns))
            return _done(self._next(), change=("meta", "", None))
        current = self.rows.get(op.path)
        expect = op.expect.entry() if op.expect is not None else None
        if current is None:
            if expect is not None and expect.kind != "dir":
                return _kept("changed since the scan; left as it is")
            raise WireError("not_found", f"no {clip(op.path)} on the server", "sync again",
                            {"path": clip(op.path)})
        if current.kind != t.DIR and expect is not None and not current.entry().unchanged_since(expect):
            return _kept("changed since the scan; left as it is")
        row = Row(current.path, current.kind, current.size, mtime_ns,
                  current.mode if current.kind == t.SYMLINK else mode, current.digest, current.target,
                  current.file_id, self._next(), current.content_id)
        self.rows.put(row)
        return _done(row.version, row.file_id, change=("meta", op.path, None))


def _not_a_dir(path: str) -> WireError:
    return WireError("not_a_dir", f"{clip(path)} is not a folder on the server", "sync again",
                     {"path": clip(path)})
