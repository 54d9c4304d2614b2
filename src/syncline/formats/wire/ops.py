"""The items of an ``ops`` batch and their results (protocol.md section 7), as plain frozen values.

No I/O and no JSON here: :mod:`.opsjson` reads and writes them. A value built by the decoder has passed
every syntactic check of the protocol (types, bounds, paths); what depends on the folder's state (the
expect rules, chunk presence, sizes adding up) is the store's to check, per item.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Literal

from ...core.entry import Entry, Kind
from .errors import WireError

OpName = Literal["put", "mkdir", "symlink", "delete", "move", "meta", "restore", "delete_tree"]
# The items a client may send. ``delete_tree`` is the server's own (WebDAV's DELETE of a folder): never on the wire.
OP_NAMES: tuple[OpName, ...] = ("put", "mkdir", "symlink", "delete", "move", "meta", "restore")


def new_op_id() -> str:
    """A fresh op id: 16 random bytes in unpadded base64url (22 characters)."""
    return secrets.token_urlsafe(16)


@dataclass(frozen=True, slots=True)
class Expect:
    """What the client's plan saw at a path (``Op.expect``; ``None`` there means "nothing").

    ``target`` is a symlink's (None for others); ``file_id`` and ``version`` are None when the client does
    not know them (they are then not compared). :meth:`entry` is what ``Entry.unchanged_since`` takes.
    """

    kind: Kind
    size: int
    mtime_ns: int
    target: str | None = None
    file_id: str | None = None
    version: int | None = None

    def entry(self) -> Entry:
        """This as the ``seen`` side of ``Entry.unchanged_since``: ``version`` in the place of ctime."""
        return Entry(self.kind, self.size, self.mtime_ns, 0, None, self.target, self.file_id or "",
                     self.version or 0)

    @classmethod
    def of(cls, entry: Entry) -> Expect:
        """The expect for an entry a client read from the server (``version`` is its ``ctime_ns``, the
        file id its ``file_id``)."""
        file_id = entry.file_id if isinstance(entry.file_id, str) and entry.file_id else None
        return cls(entry.kind, entry.size, entry.mtime_ns, entry.target, file_id, entry.ctime_ns or None)


@dataclass(frozen=True, slots=True)
class OpEntry:
    """The new state an item asks for (``Op.entry``): which fields count depends on the op. ``put``:
    size, mtime_ns, mode, digest; ``mkdir``, ``meta``: mode, mtime_ns; ``symlink``: target, mode, mtime_ns.
    ``mode`` is permission bits (``& 0o7777``)."""

    mtime_ns: int
    mode: int
    size: int = 0
    digest: bytes | None = None
    target: str | None = None


@dataclass(frozen=True, slots=True)
class ChunkRef:
    """One chunk of a file's content: its id (BLAKE3-256 of its bytes, 32 bytes) and length."""

    id: bytes
    length: int


@dataclass(frozen=True, slots=True)
class Op:
    """One item of an ``ops`` batch. ``id`` is the client's name for it (replayed, never applied twice);
    ``to`` only for ``move``; ``version_id`` only for ``restore``; ``entry`` None for ``delete``, ``move``
    and ``restore``. A ``put``'s content is ``chunks`` (at most ``MAX_INLINE_CHUNKS``), or, for a bigger
    file, ``manifest``: the chunks holding its chunk list (:mod:`.manifest`); never both."""

    id: str
    op: OpName
    path: str
    expect: Expect | None = None
    entry: OpEntry | None = None
    chunks: tuple[ChunkRef, ...] = ()
    to: str | None = None
    manifest: tuple[ChunkRef, ...] = ()
    version_id: int | None = None  # ``restore`` (protocol 1.1): the kept version to bring back at ``path``
    tree_version: int | None = None  # ``delete_tree`` only: the folder's tree version as the request read it


@dataclass(frozen=True, slots=True)
class WirePolicy:
    """The replica's write policy, as an ``ops`` batch carries it (``report_ids`` is implied)."""

    trash: bool = True
    keep_changed: bool = False


@dataclass(frozen=True, slots=True)
class ItemResult:
    """The result of one item, in the batch's order. Exactly one of three shapes:

    - done (``done`` True): ``version`` and ``file_id`` of the path now (0 and "" for a delete), ``trashed``,
      optional ``note`` and ``notice`` (the engine's ``Outcome`` fields);
    - refused as the write policy asks (``done`` False, ``error`` None): ``note`` says why, ``code`` is
      the code of what was found (``changed``, ...);
    - failed (``error`` set, ``done`` False).

    ``replayed``: the item's id had been applied before; this is its first result again.
    """

    done: bool
    version: int = 0
    file_id: str = ""
    trashed: bool = False
    note: str = ""
    notice: str = ""
    code: str = ""
    replayed: bool = False
    error: WireError | None = None

    def __post_init__(self) -> None:
        if self.done and self.error is not None:
            raise ValueError("a result cannot be both done and an error")

    @classmethod
    def failed(cls, error: WireError, replayed: bool = False) -> ItemResult:
        return cls(False, error=error, replayed=replayed)


EMPTY_DIGEST = bytes.fromhex("af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262")  # BLAKE3 of b""


def put_content_error(op: Op) -> WireError | None:
    """What is wrong with a ``put``'s content as declared, before any chunk is looked at (``bad_content``,
    per item, a client bug): chunks or a manifest, not both; the chunk lengths must add up to
    ``entry.size``; an empty file has no chunks and the digest of no bytes; a file of one chunk has that
    chunk's id as its digest. None when the declaration holds together (whether the chunks are there and
    hash to the digest, and what a manifest lists, is the store's to check)."""
    e = op.entry
    if op.op != "put" or e is None or e.digest is None:
        return WireError("bad_content", f"{op.path}: a put without size and digest", "a client bug: update syncline",
                         {"path": op.path})
    total = sum(c.length for c in op.chunks)
    why = ""
    if op.manifest:  # what it lists is the store's to read and check
        if op.chunks:
            why = "both a chunk list and a manifest"
        elif e.size == 0:
            why = "an empty file with a manifest"
    elif total != e.size:
        why = f"the chunks add up to {total} bytes, the entry says {e.size}"
    elif not op.chunks and e.digest != EMPTY_DIGEST:
        why = "an empty file whose digest is not that of no bytes"
    elif len(op.chunks) == 1 and op.chunks[0].id != e.digest:
        why = "a file of one chunk whose digest is not that chunk's id"
    if not why:
        return None
    return WireError("bad_content", f"{op.path}: {why}", "a client bug: update syncline", {"path": op.path})
