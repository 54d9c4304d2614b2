"""The server's metadata tables (SQLAlchemy Core), as ``docs/design.md`` "Metadata" describes them.

SQLite now, PostgreSQL later with the same tables: paths compare by their bytes in both (SQLite's default
``BINARY`` collation; ``COLLATE "C"`` on PostgreSQL), so a listing is in the order an ``Index`` is. Times
are integers, nanoseconds since the epoch; digests and chunk ids are 32 raw bytes. A change to a table is a
new step in :mod:`.migrations`, never an edit of a released step.
"""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData()

# Byte order on PostgreSQL too (its default collation sorts by locale, which no Index does).
PathText = sa.Text().with_variant(sa.Text(collation="C"), "postgresql")
Nanos = sa.BigInteger
Digest = sa.LargeBinary(32)

# Values of small text columns.
FILE, DIR, SYMLINK, DELETED = "file", "dir", "symlink", "deleted"
RW, RO = "rw", "ro"
DEVICE, APP, WEB = "device", "app", "web"  # devices.kind

settings = sa.Table(
    "settings", metadata,
    sa.Column("key", sa.Text, primary_key=True),
    sa.Column("text", sa.Text, nullable=False),
)

users = sa.Table(
    "users", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("name", sa.Text, nullable=False, unique=True),
    sa.Column("password_hash", sa.Text, nullable=False),
    sa.Column("admin", sa.Boolean, nullable=False, default=False),
    sa.Column("created_ns", Nanos, nullable=False),
    sa.Column("disabled", sa.Boolean, nullable=False, default=False),
    sa.Column("quota_bytes", Nanos),  # the live bytes of the folders the user owns may not pass it (NULL: none)
)

devices = sa.Table(
    "devices", metadata,
    sa.Column("id", sa.Text, primary_key=True),
    sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id"), nullable=False, index=True),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("token_hash", sa.Text, nullable=False, unique=True),
    sa.Column("created_ns", Nanos, nullable=False),
    sa.Column("last_seen_ns", Nanos),
    sa.Column("revoked_ns", Nanos),
    # "device" (a login of a client), "app" (WebDAV's own device for account passwords) or "web" (a
    # browser's session, issue 16): only "web" rows expire, at ``expires_ns`` (NULL for the others).
    sa.Column("kind", sa.Text, nullable=False, server_default=DEVICE),
    sa.Column("expires_ns", Nanos),
)

folders = sa.Table(
    "folders", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("uid", sa.Text, nullable=False, unique=True),
    sa.Column("owner_id", sa.Integer, sa.ForeignKey("users.id"), nullable=False),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("seq", Nanos, nullable=False, default=0),
    sa.Column("chunk_ns", sa.Text, nullable=False, unique=True),
    sa.Column("root_mode", sa.Integer, nullable=False),
    sa.Column("root_mtime_ns", Nanos, nullable=False),
    sa.Column("created_ns", Nanos, nullable=False),
    # Raised by every change of the folder's file locks (not of its tree: no seq, no journal row).
    sa.Column("lock_seq", Nanos, nullable=False, server_default="0"),
    sa.UniqueConstraint("owner_id", "name"),
)

folder_access = sa.Table(
    "folder_access", metadata,
    sa.Column("folder_id", sa.Integer, sa.ForeignKey("folders.id"), primary_key=True),
    sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id"), primary_key=True, index=True),
    sa.Column("rights", sa.Text, nullable=False),
    # The folder's name in this user's namespace: the owner's row carries the folder's own name, a share
    # the name its member accepted it under (NULL while it is only offered). Every request resolves a name
    # through (user_id, name), so a share never shadows a folder and no two of one user's folders clash.
    sa.Column("name", sa.Text),
    sa.Column("granted_ns", Nanos),  # offered (the owner's row: made)
    sa.Column("accepted_ns", Nanos),  # NULL: offered, not yet accepted (no right yet)
    sa.Column("revoked_ns", Nanos),  # revoked or left: no right; the row answers "share_revoked" for a while
    sa.Index("folder_access_name", "user_id", "name", unique=True),
)

folder_meta = sa.Table(
    "folder_meta", metadata,
    sa.Column("folder_id", sa.Integer, sa.ForeignKey("folders.id"), primary_key=True),
    sa.Column("key", sa.Text, primary_key=True),
    sa.Column("text", sa.Text, nullable=False),
)

entries = sa.Table(
    "entries", metadata,
    sa.Column("folder_id", sa.Integer, sa.ForeignKey("folders.id"), primary_key=True),
    sa.Column("path", PathText, primary_key=True),
    sa.Column("parent", PathText, nullable=False),
    sa.Column("name_nfc", PathText, nullable=False),
    sa.Column("kind", sa.Text, nullable=False),
    sa.Column("size", Nanos),
    sa.Column("mtime_ns", Nanos),
    sa.Column("mode", sa.Integer),
    sa.Column("digest", Digest),
    sa.Column("target", sa.Text),
    sa.Column("file_id", sa.Text, nullable=False),
    sa.Column("version", Nanos, nullable=False),
    sa.Column("content_id", sa.Integer, sa.ForeignKey("contents.id")),
    # A folder's row only (NULL for the rest): the highest version written at or below it, tombstones
    # included (WebDAV's folder ETag, issue 15). Kept by the Applier; never lowered, so a pruned tombstone
    # cannot bring back an ETag a client holds (which would hide the delete from it).
    sa.Column("tree_version", Nanos),
    sa.Index("entries_version", "folder_id", "version"),
    sa.Index("entries_parent", "folder_id", "parent"),
    sa.Index("entries_nfc", "folder_id", "parent", "name_nfc"),
    sa.Index("entries_file_id", "folder_id", "file_id"),
    # A folder's files and bytes without reading its rows (100,000 files: 0.25 s -> 0.012 s per ask).
    sa.Index("entries_kind_size", "folder_id", "kind", "size"),
)

contents = sa.Table(
    "contents", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("folder_id", sa.Integer, sa.ForeignKey("folders.id"), nullable=False),
    sa.Column("size", Nanos, nullable=False),
    sa.Column("digest", Digest, nullable=False),
    sa.Column("trashed_ns", Nanos),
    sa.Column("trash_path", PathText),
    sa.Column("trash_entry", sa.Text),  # JSON: the entry row the version had (its columns by name)
    # A version no longer live (replaced or deleted), kept whatever the client's trash policy said (issue
    # 14: versions); ``trashed_ns`` stays what protocol 1.0 calls trash. NULL: a live version.
    sa.Column("kept_ns", Nanos),
    sa.Column("reason", sa.Text),  # "replaced" or "deleted"
    sa.Column("by_device", sa.Text),  # the device whose write replaced or deleted it
    # ``server check --repair`` found a chunk of this version damaged and removed it (NULL: whole). Its
    # reads answer ``damaged``; the next ``check`` clears it once a device uploaded every chunk again.
    sa.Column("damaged_ns", Nanos),
    sa.Index("contents_trash", "folder_id", "trashed_ns"),
    sa.Index("contents_kept", "folder_id", "trash_path", "kept_ns"),
    sa.Index("contents_damaged", "folder_id", sqlite_where=sa.text("damaged_ns IS NOT NULL"),
             postgresql_where=sa.text("damaged_ns IS NOT NULL")),
)

content_chunks = sa.Table(
    "content_chunks", metadata,
    sa.Column("content_id", sa.Integer, sa.ForeignKey("contents.id"), primary_key=True),
    sa.Column("position", sa.Integer, primary_key=True),
    sa.Column("chunk_id", Digest, nullable=False, index=True),
    sa.Column("length", sa.Integer, nullable=False),
)

chunks = sa.Table(
    "chunks", metadata,
    sa.Column("chunk_ns", sa.Text, primary_key=True),
    sa.Column("chunk_id", Digest, primary_key=True),
    sa.Column("length", sa.Integer, nullable=False),
    sa.Column("stored_ns", Nanos, nullable=False),
    sa.Column("lease_until_ns", Nanos, nullable=False),
)

changes = sa.Table(
    "changes", metadata,
    sa.Column("folder_id", sa.Integer, sa.ForeignKey("folders.id"), primary_key=True),
    sa.Column("seq", Nanos, primary_key=True),
    sa.Column("op", sa.Text, nullable=False),
    sa.Column("path", PathText, nullable=False),
    sa.Column("from_path", PathText),
    sa.Column("device_id", sa.Text, nullable=False),
    sa.Column("op_id", sa.Text),
    sa.Column("op_digest", Digest),  # of the item as sent: the same id with another item is op_reused
    sa.Column("result", sa.Text),  # JSON: the item's first result, answered again on a replay
    sa.Column("made_ns", Nanos, nullable=False),
    sa.UniqueConstraint("folder_id", "op_id"),
)

# File locks (issue 14, protocol 1.1 ``file-locks``; WebDAV's LOCK, issue 15): a lease of one user on one
# device on a file (native: exclusive, depth 0) or, over WebDAV, on a file or folder, exclusive or shared,
# depth 0 or infinity, which every write path of the folder respects until it ends or expires. Keyed by its
# id (shared locks share a path); WebDAV's lock token is derived from the id. Not the run leases of ``locks``.
file_locks = sa.Table(
    "file_locks", metadata,
    sa.Column("lock_id", sa.Text, primary_key=True),
    sa.Column("folder_id", sa.Integer, sa.ForeignKey("folders.id"), nullable=False),
    sa.Column("path", PathText, nullable=False),
    sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id"), nullable=False),
    sa.Column("device_id", sa.Text, nullable=False),
    sa.Column("created_ns", Nanos, nullable=False),
    sa.Column("expires_ns", Nanos, nullable=False),
    sa.Column("note", sa.Text),
    sa.Column("scope", sa.Text, nullable=False, server_default="exclusive"),  # or "shared" (WebDAV only)
    sa.Column("deep", sa.Boolean, nullable=False, server_default="0"),  # depth infinity: all below the path too
    sa.Column("owner_xml", sa.Text),  # WebDAV's <owner>, given back as sent
    sa.Column("dav", sa.Boolean, nullable=False, server_default="0"),  # taken over WebDAV: written through by token
    sa.Index("file_locks_path", "folder_id", "path"),
    sa.Index("file_locks_expiry", "folder_id", "expires_ns"),
)

# WebDAV's numeric file ids (``oc:fileid``, issue 15): one per (folder, file_id), made by the Applier for
# every new file_id. It follows the store's file_id, so it survives renames and edits; a copy gets another.
dav_ids = sa.Table(
    "dav_ids", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("folder_id", sa.Integer, sa.ForeignKey("folders.id"), nullable=False),
    sa.Column("file_id", sa.Text, nullable=False),
    sa.UniqueConstraint("folder_id", "file_id"),
    sqlite_autoincrement=True,  # an id is never given again, even after its row went
)

# The SHA1 and MD5 of a content, by its BLAKE3 digest (WebDAV's ``oc:checksums``, issue 15): the same bytes
# have the same sums in every folder, so they are kept once. Written only by the server, from bytes it hashed
# every way at once.
content_sums = sa.Table(
    "content_sums", metadata,
    sa.Column("digest", Digest, primary_key=True),
    sa.Column("sha1", sa.LargeBinary(20), nullable=False),
    sa.Column("md5", sa.LargeBinary(16), nullable=False),
)

# WebDAV dead properties (PROPPATCH, issue 15), keyed by file_id so they follow moves and edits.
dav_props = sa.Table(
    "dav_props", metadata,
    sa.Column("folder_id", sa.Integer, sa.ForeignKey("folders.id"), primary_key=True),
    sa.Column("file_id", sa.Text, primary_key=True),
    sa.Column("ns", sa.Text, primary_key=True),
    sa.Column("name", sa.Text, primary_key=True),
    sa.Column("xml", sa.Text, nullable=False),  # the value as written (markup and namespaces kept)
)

locks = sa.Table(
    "locks", metadata,
    sa.Column("folder_id", sa.Integer, sa.ForeignKey("folders.id"), primary_key=True),
    sa.Column("holder", sa.Text, primary_key=True),
    sa.Column("lock_id", sa.Text, nullable=False, unique=True),
    sa.Column("mode", sa.Text, nullable=False),
    sa.Column("expires_ns", Nanos, nullable=False),
)
