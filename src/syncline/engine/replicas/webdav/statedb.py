"""What a WebDAV replica keeps between runs, in one SQLite file per address under
``<state>/webdav/<sha256 of the address>.sqlite``:

- the **shadow** (``shadow`` table: path, tag, size, mtime_ns, digest). After each upload (and each
  ``set_meta``, each digest computed) the replica records the file's tag (its etag, or its
  ``getlastmodified`` where the server gives none) and size as the server has them now, with the mtime
  we gave and the BLAKE3 we computed. A scanned file whose tag and size are the recorded ones is
  reported with the recorded mtime and digest: a server that cannot keep mtimes (Apache, wsgidav) never
  makes the planner copy the same file again, and a change by anyone else (a new tag) shows as it is.
- the **listing cache** (``folders`` and ``items``): each folder's etag and children as last listed, used
  only on servers whose folder etags change with anything below them (the OC dialect), so that a folder
  whose etag is the cached one is taken from here without a request.
- the **owner** id (``meta`` table): a random name for this state directory's runs against the address,
  which prefixes its temp uploads, so a run removes only its own leftovers, never another device's.

A damaged or unreadable file is a cache: it is set aside and started again (it holds nothing that the
server does not; an empty shadow costs one more copy of each file, never a lost one).
"""

from __future__ import annotations

import contextlib
import hashlib
import secrets
import sqlite3
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from .multistatus import etag_key

SCHEMA = """
create table if not exists shadow (path text primary key, tag text not null, size integer not null,
                                   mtime_ns integer, digest blob);
create table if not exists folders (path text primary key, etag text not null);
create table if not exists items (path text primary key, folder integer not null, size integer not null,
                                  mtime_s integer, etag text, file_id text);
create table if not exists meta (key text primary key, value text not null);
"""


@dataclass(frozen=True, slots=True)
class Shadow:
    """One recorded file: its ``tag`` and ``size`` on the server, the ``mtime_ns`` we gave (None: the
    server's own) and the ``digest`` we know (None: not known)."""

    tag: str
    size: int
    mtime_ns: int | None
    digest: bytes | None


@dataclass(frozen=True, slots=True)
class Item:
    """One listed resource, as the server said (before the shadow): ``path`` relative to the root."""

    path: str
    folder: bool
    size: int
    mtime_s: int | None
    etag: str | None
    file_id: str | None
    permissions: str | None = None  # oc:permissions (never cached: only the root's is read)

    @property
    def tag(self) -> str:
        """What says "changed": the etag (without ``W/`` and quotes: Apache calls a file's etag weak in
        the second it was written, and strong later, for the same version), else the modification time
        and size."""
        key = etag_key(self.etag)
        return key if key else f"lm:{self.mtime_s}:{self.size}"


def state_path(state_dir: Path, address: str) -> Path:
    return Path(state_dir) / "webdav" / f"{hashlib.sha256(address.encode()).hexdigest()[:32]}.sqlite"


class DavState:
    """The file of one address (``path`` None: in memory, for this object's life). Thread-safe."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._mutex = threading.Lock()
        self._db = self._open()

    def _open(self) -> sqlite3.Connection:
        if self.path is None:
            return self._connect(":memory:")
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        try:
            return self._connect(str(self.path))
        except sqlite3.DatabaseError:
            with contextlib.suppress(OSError):
                self.path.replace(self.path.with_suffix(".damaged"))
            return self._connect(str(self.path))

    @staticmethod
    def _connect(where: str) -> sqlite3.Connection:
        db = sqlite3.connect(where, check_same_thread=False, isolation_level=None)
        db.executescript(SCHEMA)
        return db

    def close(self) -> None:
        with self._mutex:
            self._db.close()

    # -- the owner --------------------------------------------------------------------------------------
    def owner(self) -> str:
        with self._mutex:
            row = self._db.execute("select value from meta where key = 'owner'").fetchone()
            if row is not None:
                return str(row[0])
            value = secrets.token_hex(8)
            self._db.execute("insert into meta values ('owner', ?)", (value,))
            return value

    # -- the shadow -------------------------------------------------------------------------------------
    def shadows(self) -> dict[str, Shadow]:
        with self._mutex:
            rows = self._db.execute("select path, tag, size, mtime_ns, digest from shadow").fetchall()
        return {p: Shadow(t, s, m, d) for p, t, s, m, d in rows}

    def shadow(self, path: str) -> Shadow | None:
        with self._mutex:
            row = self._db.execute("select tag, size, mtime_ns, digest from shadow where path = ?", (path,)).fetchone()
        return Shadow(*row) if row is not None else None

    def record(self, path: str, shadow: Shadow) -> None:
        with self._mutex:
            self._db.execute("insert or replace into shadow values (?, ?, ?, ?, ?)",
                             (path, shadow.tag, shadow.size, shadow.mtime_ns, shadow.digest))

    def forget(self, path: str) -> None:
        """Drop the records of ``path`` and of everything below it (deleted, moved away)."""
        with self._mutex:
            self._db.execute("delete from shadow where path = ? or substr(path, 1, ?) = ?",
                             (path, len(path) + 1, path + "/"))

    # -- the listing cache ------------------------------------------------------------------------------
    def listing(self) -> tuple[dict[str, str], dict[str, list[Item]]]:
        """(folder -> etag, folder -> its children) as last saved."""
        with self._mutex:
            folders = dict(self._db.execute("select path, etag from folders").fetchall())
            rows = self._db.execute("select path, folder, size, mtime_s, etag, file_id from items").fetchall()
        children: dict[str, list[Item]] = {}
        for p, f, s, m, e, i in rows:
            children.setdefault(p.rpartition("/")[0], []).append(Item(p, bool(f), s, m, e, i))
        return folders, children

    def save_listing(self, folders: dict[str, str], items: Iterable[Item]) -> None:
        """Replace the cached listing with ``items``, each folder in ``folders`` with its etag."""
        with self._mutex:
            self._db.execute("begin")
            try:
                self._db.execute("delete from folders")
                self._db.execute("delete from items")
                self._db.executemany("insert into folders values (?, ?)", folders.items())
                self._db.executemany("insert into items values (?, ?, ?, ?, ?, ?)",
                                     ((i.path, int(i.folder), i.size, i.mtime_s, i.etag, i.file_id) for i in items))
                self._db.execute("commit")
            except BaseException:
                self._db.execute("rollback")
                raise
