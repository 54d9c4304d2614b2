"""The server's store: metadata (SQLite, SQLAlchemy Core) and chunks (a SQLite database per folder), one
per data directory.

``open_store(DATA)`` is the one way in: it makes the layout (``DATA/meta.db``, ``DATA/chunks/``,
``DATA/tmp/``), applies the migrations, empties ``tmp/`` (what a killed upload left), moves chunk files of
the first layout into the chunk databases and makes the server's id once. The HTTP handlers, the CLI on
the data directory and the server-side replica all go through :class:`Store` and
:class:`~.folder.FolderStore`, never SQL.
"""

from __future__ import annotations

import fcntl
import os
import secrets
from collections.abc import Callable
from pathlib import Path

import sqlalchemy as sa

from ...core.errors import BusyError
from ..chunks.disk import DiskChunkStore
from ..chunks.legacy import migrate_chunk_files
from . import schema as t
from .db import Database
from .folder import FolderStore
from .gate import Gate
from .meta import Device, Devices, Folder, Folders, User, Users
from .migrations import migrate
from .shares import Shares

DEFAULT_MIN_FREE = 1 << 30
Key = int | tuple[str, int]  # what the notifier's slots are keyed by (notify.py)

__all__ = ["DEFAULT_MIN_FREE", "Device", "Folder", "FolderStore", "Store", "User", "open_store"]


class Store:
    """Everything one data directory holds. ``on_commit(folder_id, seq)`` is called after every commit
    that moved a folder's sequence (the notifier's ``publish``), from the committing thread. ``min_free``:
    chunk uploads are refused (``no_space``) while the disk has less free, so the database never meets a
    full disk."""

    def __init__(self, data_dir: Path, db: Database, chunks: DiskChunkStore, min_free: int,
                 lock_fd: int | None = None) -> None:
        self.data_dir = data_dir
        self._lock_fd = lock_fd
        self.db = db
        self.chunks = chunks
        self.min_free = min_free
        self.users = Users(db)
        self.devices = Devices(db)
        self.folders = Folders(db)
        self.shares = Shares(db)
        self.on_commit: Callable[[Key, int], None] | None = None
        self.gate = Gate()
        self.server_id = self._setting("server_id", lambda: secrets.token_urlsafe(15))
        # The key of the web sessions' CSRF values (server/app/websession.py): made once, so a restart
        # keeps every open page working; it never leaves the database.
        self.web_secret = bytes.fromhex(self._setting("web_secret", lambda: secrets.token_hex(32)))

    @property
    def exclusive(self) -> bool:
        """Whether this store holds the data directory's lock (no server, nor another exclusive tool, runs
        on it): what repairs that remove chunks need, since an upload records its rows beside them."""
        return self._lock_fd is not None

    def _setting(self, key: str, make: Callable[[], str]) -> str:
        """The setting ``key``, made once with ``make`` when the store has none."""
        with self.db.write() as conn:
            row = conn.execute(sa.select(t.settings.c.text).where(t.settings.c.key == key)).first()
            if row is not None:
                return str(row.text)
            made = make()
            conn.execute(t.settings.insert().values(key=key, text=made))
            return made

    def folder(self, folder: Folder, user_id: int | None = None) -> FolderStore:
        """The store of one resolved folder, used by ``user_id`` (whose rights its writes check again inside
        their transactions), or by the server itself (None)."""
        return FolderStore(self, folder, user_id)

    def published(self, key: Key, seq: int) -> None:
        """Tell the notifier that ``key`` (a folder's id: its ``seq``; ``("locks", id)``: its
        ``lock_seq``) is at ``seq`` now."""
        if self.on_commit is not None:
            self.on_commit(key, seq)

    def close(self) -> None:
        self.db.close()
        self.chunks.close()
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None


def _server_lock(data_dir: Path) -> int:
    fd = os.open(data_dir / "server.lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise BusyError(f"a syncline server is using {data_dir}",
                        "stop it first (`syncline user` works while it runs)") from None
    return fd


def open_store(data_dir: Path, min_free: int = DEFAULT_MIN_FREE, exclusive: bool = True) -> Store:
    """The store in ``data_dir`` (made, mode 0700, if it is not there), migrated to the newest schema.

    ``exclusive`` (the server): holds the data directory's lock for as long as the store is open
    (``BusyError`` when another process holds it), empties ``tmp/`` (what a killed upload left) and moves
    chunk files of the first layout into the chunk databases (:mod:`..chunks.legacy`).
    ``exclusive=False`` is for the CLI's user and folder management beside a running server: it takes no
    lock and touches no file but the database (whose writers queue on SQLite's lock)."""
    data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    lock_fd = _server_lock(data_dir) if exclusive else None
    try:
        chunks = DiskChunkStore(data_dir / "chunks", data_dir / "tmp")
        if exclusive:
            chunks.empty_tmp()
            migrate_chunk_files(chunks, data_dir / "chunks-damaged")
        db = Database.on_file(data_dir / "meta.db")
        try:
            migrate(db)
            os.chmod(data_dir / "meta.db", 0o600)
            return Store(data_dir, db, chunks, min_free, lock_fd)
        except BaseException:
            db.close()
            chunks.close()
            raise
    except BaseException:
        if lock_fd is not None:
            os.close(lock_fd)
        raise
