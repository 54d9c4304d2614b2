"""What one path is: :class:`Entry`, and the rules for comparing two of them.

Paths are not stored on the entry (the :class:`~syncline.core.index.Index` maps path -> Entry) to keep a
million-entry index small. A path is a ``str`` relative to the root, ``/``-separated, never empty, with
bytes that are not valid UTF-8 carried as surrogate escapes (``os.fsdecode``), so any name the file system
holds round-trips unchanged.
"""

from __future__ import annotations

import os
import stat as stat_mod
from dataclasses import dataclass
from enum import StrEnum
from typing import Literal, NamedTuple

FILE: Literal["file"] = "file"
DIR: Literal["dir"] = "dir"
SYMLINK: Literal["symlink"] = "symlink"
Kind = Literal["file", "dir", "symlink"]
KINDS: tuple[Kind, ...] = (FILE, DIR, SYMLINK)

DIGEST_SIZE = 32  # BLAKE3, 256 bits


class CompareMode(StrEnum):
    """How file content is judged equal, as rsync users know it."""

    MTIME = "mtime"  # size and mtime (rsync's quick check; the default)
    CHECKSUM = "checksum"  # content digest (rsync --checksum)
    SIZE = "size"  # size only (rsync --size-only)


@dataclass(frozen=True, slots=True)
class Compare:
    """Comparison options: the mode and the mtime tolerance (rsync ``--modify-window``) in ns."""

    mode: CompareMode = CompareMode.MTIME
    modify_window_ns: int = 0

    def mtime_equal(self, a: int, b: int) -> bool:
        """Whether two mtimes count as equal under the modify window."""
        return abs(a - b) <= self.modify_window_ns


@dataclass(frozen=True, slots=True)
class Chunk:
    """One content-defined chunk of a file: its length and BLAKE3 digest (used by offline archives)."""

    length: int
    digest: bytes


# A replica-opaque file id: an inode locally, a server's id later (a WebDAV ``oc:fileid``). It survives a
# rename on its replica, which is how a move is recognised. 0 (or ""): unknown.
FileId = int | str

StatKey = tuple[int, int, FileId, int]  # (size, mtime_ns, file_id, ctime_ns)

ACL_XATTRS = ("system.posix_acl_access", "system.posix_acl_default")
Xattrs = tuple[tuple[str, bytes], ...]


class Attrs(NamedTuple):
    """Owner, group and extended attributes of an entry, recorded only when a sync keeps them.

    ``xattrs`` are (name, value) pairs sorted by name: the ones :meth:`Keep.wants_xattr` selects, POSIX
    ACLs included (as their ``system.posix_acl_*`` attributes, with numeric ids). A scan interns equal
    values, so most entries of a tree share one object and keeping these costs a pointer per entry.
    """

    uid: int
    gid: int
    xattrs: Xattrs = ()


@dataclass(frozen=True, slots=True)
class Keep:
    """Which metadata beyond content, mode and mtime a one-way sync keeps (rsync -o -g -X -A -H).

    ``groups`` is the set of groups the running user may give a file (its own, when not root); a group
    outside it is not kept, as rsync does. ``None`` means any group (root).
    """

    owner: bool = False
    group: bool = False
    groups: frozenset[int] | None = None
    xattrs: bool = False
    acls: bool = False
    hard_links: bool = False

    @classmethod
    def rsync_a(cls, *, owner: bool = True, group: bool = True, xattrs: bool = False, acls: bool = False,
                hard_links: bool = False) -> Keep:
        """What ``rsync -a`` keeps for the running user: owner and group as root; as anyone else the
        group only, and only the groups the user is a member of (never the owner)."""
        root = os.geteuid() == 0
        groups = None if root else frozenset((*os.getgroups(), os.getegid()))
        return cls(owner and root, group, groups, xattrs, acls, hard_links)

    @property
    def attrs(self) -> bool:
        """Whether a scan records :class:`Attrs` at all."""
        return self.owner or self.group or self.xattrs or self.acls

    @property
    def any_xattrs(self) -> bool:
        return self.xattrs or self.acls

    def wants_xattr(self, name: str) -> bool:
        """Whether the extended attribute ``name`` is kept. With ``acls``, the two POSIX ACL attributes;
        with ``xattrs``, the ``user.*`` ones, and as root (``groups`` is None) every namespace but
        ``system.*`` (ACLs go with ``acls``, as in rsync); never rsync's own ``user.rsync.%*``."""
        if name in ACL_XATTRS:
            return self.acls
        if not self.xattrs or name.startswith("system.") or name.startswith("user.rsync.%"):
            return False
        return self.groups is None or name.startswith("user.")

    def uid(self, a: Attrs) -> int:
        """The owner to give (-1: leave it)."""
        return a.uid if self.owner else -1

    def gid(self, a: Attrs) -> int:
        """The group to give (-1: leave it)."""
        return a.gid if self.group and (self.groups is None or a.gid in self.groups) else -1

    def changes(self, want: Attrs | None, have: Attrs | None) -> str:
        """The rsync itemize letters (``o``, ``g``, ``a``, ``x``) of what differs between the wanted and
        the present attributes; "" when nothing kept differs (or nothing was recorded to want)."""
        if want is None or want == have:
            return ""
        if have is None:  # unknown: everything kept differs
            return "".join(c for c, on in (("o", self.uid(want) != -1), ("g", self.gid(want) != -1),
                                           ("a", self.acls), ("x", self.xattrs)) if on)
        out = ""
        if self.uid(want) not in (-1, have.uid):
            out += "o"
        if self.gid(want) not in (-1, have.gid):
            out += "g"
        if want.xattrs != have.xattrs:
            acl_w = [x for x in want.xattrs if x[0] in ACL_XATTRS]
            acl_h = [x for x in have.xattrs if x[0] in ACL_XATTRS]
            if acl_w != acl_h:
                out += "a"
            if [x for x in want.xattrs if x[0] not in ACL_XATTRS] != \
                    [x for x in have.xattrs if x[0] not in ACL_XATTRS]:
                out += "x"
        return out


class Entry(NamedTuple):
    """One path of a tree (immutable; a NamedTuple because a scan makes millions of them).

    ``mode`` holds permission bits only (``st_mode & 0o7777``). ``digest`` is the BLAKE3 digest of a file's
    content, or None when the scan did not hash. ``target`` is a symlink's target (never followed).
    ``file_id`` is the replica's opaque name for the file, which survives a rename on that replica (how a
    move is recognised): an inode on a local disk, a server's id, Nextcloud's ``oc:fileid``; 0 or "" when
    unknown. Locally it and ``ctime_ns`` complete the *stat key* used to trust a previous digest; neither
    means anything on another machine. ``etag`` is the replica's change tag (a WebDAV ``getetag``: a folder's
    changes whenever anything below it does), None when the replica has none (local disks). ``size`` is 0
    for directories; for symlinks it is the target's length in bytes. ``attrs`` holds owner, group and
    extended attributes when the scan was asked to keep them (else None). Index and archive files keep an
    integer ``file_id`` (the inode) and no ``etag``.
    """

    kind: Kind
    size: int
    mtime_ns: int
    mode: int
    digest: bytes | None = None
    target: str | None = None
    file_id: FileId = 0
    ctime_ns: int = 0
    chunks: tuple[Chunk, ...] | None = None
    attrs: Attrs | None = None
    etag: str | None = None

    @property
    def is_file(self) -> bool:
        return self.kind == FILE

    @property
    def is_dir(self) -> bool:
        return self.kind == DIR

    @property
    def is_symlink(self) -> bool:
        return self.kind == SYMLINK

    def stat_key(self) -> StatKey:
        """(size, mtime_ns, file_id, ctime_ns): when all four match a previous scan, its digest is reused."""
        return (self.size, self.mtime_ns, self.file_id, self.ctime_ns)

    def same_content(self, other: Entry, compare: Compare) -> bool:
        """Whether ``other`` holds the same content under ``compare``.

        Kinds must match. Directories always have the same content. Symlinks compare by target in every
        mode. Files: MTIME compares size and mtime (within the modify window); SIZE compares size;
        CHECKSUM compares digests, and falls back to MTIME when either side has no digest, so a missing
        digest never makes two different files look equal.
        """
        if self.kind != other.kind:
            return False
        if self.kind == DIR:
            return True
        if self.kind == SYMLINK:
            return self.target == other.target
        if self.size != other.size:
            return False
        if compare.mode is CompareMode.SIZE:
            return True
        if compare.mode is CompareMode.CHECKSUM and self.digest is not None and other.digest is not None:
            return self.digest == other.digest
        return compare.mtime_equal(self.mtime_ns, other.mtime_ns)

    def same_meta(self, other: Entry, compare: Compare, keep: Keep | None = None) -> bool:
        """Whether mode bits and mtime match (symlink modes are ignored: Linux has none to set), and the
        attributes ``keep`` keeps (when this entry recorded them)."""
        if self.kind != SYMLINK and self.mode != other.mode:
            return False
        if keep is not None and self.attrs is not None and keep.changes(self.attrs, other.attrs):
            return False
        return compare.mtime_equal(self.mtime_ns, other.mtime_ns)

    def unchanged_since(self, seen: Entry) -> bool:
        """Whether this fresh stat still shows the entry ``seen`` was planned against.

        Used to re-check a destination right before it is replaced or deleted. Kind, size and mtime must
        match; inode and ctime too when both sides know them (a rename-over or a write changes them).
        """
        if self.kind != seen.kind or self.size != seen.size or self.mtime_ns != seen.mtime_ns:
            return False
        if self.kind == SYMLINK and self.target != seen.target:
            return False
        if seen.file_id and self.file_id and seen.file_id != self.file_id:
            return False
        return not (seen.ctime_ns and self.ctime_ns and seen.ctime_ns != self.ctime_ns)


def kind_of_mode(st_mode: int) -> Kind | None:
    """The entry kind for an ``st_mode``, or None for fifos, sockets and devices (never synced)."""
    if stat_mod.S_ISREG(st_mode):
        return FILE
    if stat_mod.S_ISDIR(st_mode):
        return DIR
    if stat_mod.S_ISLNK(st_mode):
        return SYMLINK
    return None


def special_kind_name(st_mode: int) -> str:
    """A user-facing name for a kind syncline skips."""
    if stat_mod.S_ISFIFO(st_mode):
        return "fifo"
    if stat_mod.S_ISSOCK(st_mode):
        return "socket"
    if stat_mod.S_ISCHR(st_mode):
        return "character device"
    if stat_mod.S_ISBLK(st_mode):
        return "block device"
    return "special file"
