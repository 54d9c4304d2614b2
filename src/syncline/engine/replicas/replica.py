"""The Replica interface: what the engine needs from a place where a tree lives.

A replica is a small required core (:class:`Replica`) plus optional abilities, each its own
``runtime_checkable`` protocol, as rclone's backends offer ``Mover`` or ``ChangeNotifier``: the engine asks
``isinstance(replica, Mover)`` and falls back (copy + delete) when an ability is missing, so a new replica
(a syncline server folder, a WebDAV collection, a tree in memory) starts with the core and adds abilities
as it can. The contract of every call is in ``docs/replicas.md``.

A source replica is read (``scan``, ``open_file``: a stream read in blocks, ``readinto``); a target replica
is written through two-phase file writes (``stage_file`` makes a complete temp copy; ``commit`` re-checks
the destination and puts it in place) plus small direct operations. Every writing call takes ``expect``,
the entry the plan saw at the path (None for "absent"), and keeps whatever it finds there when that moved
on (see DESIGN section 4); what "keep" means (trash, leave in place) is the replica's :class:`WritePolicy`,
one value every replica takes as its ``policy`` constructor argument. Failures are raised as the
:mod:`.errors` family (``ReplicaError`` and its classes, each with ``retryable``).

**Why synchronous.** The interface is plain blocking calls, not ``async``: concurrency comes from threads
(the executor stages files in a thread pool, up to ``Features.max_connections``), as rclone and restic
drive their backends. The work is I/O-bound, so blocking calls in threads overlap as well as coroutines
would; a blocking interface is what local file systems offer anyway (there is no async ``rename``); and the
server side loses nothing, since ASGI servers run sync code in worker threads. One interface then serves
the CLI, the watch loop and the server, instead of two colored copies of every replica.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from ...core.entry import Entry, FileId
from ...core.ignore import Rules
from ...core.index import Index
from .errors import ReplicaError


@dataclass(frozen=True, slots=True)
class Features:
    """What a replica can keep and do. The engine plans nothing a replica cannot keep
    (:func:`~syncline.core.project.project` projects indexes onto these); ``max_connections`` bounds how
    many calls may run at once."""

    mtime_ns_precision: int = 1  # 1: nanoseconds; 10**9: whole seconds; 2 * 10**9: FAT
    case_sensitive: bool = True
    symlinks: bool = True
    permissions: bool = True  # POSIX mode bits
    owner: bool = False  # can give a file an owner and group other than its own (root, a server that maps them)
    # Holds only names that are valid UTF-8 (a syncline server): a name that is not is left out of what is
    # planned into it (an error naming it, its path unreadable: never a reason to delete anything).
    utf8_names: bool = False
    hash_kinds: tuple[str, ...] = ()  # content digests the replica computes itself (:class:`Hasher`)
    max_connections: int = 4  # calls that may run at once (threads staging files)
    # Whether each call is a round trip to somewhere else (a server, a share), worth overlapping with
    # others; False for a local file system, whose calls cost less than handing them to a thread.
    round_trips: bool = True
    # Whether ``scan`` may run in a forked child process (a local walk; not a network client's session).
    scan_in_child: bool = False
    # Whether it takes changes from this user (False: a read-only share). Two-way sync plans nothing into a
    # side that does not: the other side's changes are held there and it comes back to this side's state.
    writable: bool = True
    # Whether it keeps every replaced and deleted version itself, whatever ``WritePolicy.trash`` says (a
    # WebDAV server of the OC dialect: its versions and trash bin): such a write reports ``trashed``.
    keeps_versions: bool = False


@dataclass(frozen=True, slots=True)
class WritePolicy:
    """How a replica treats what a write replaces; one value, handed to every replica the same way (its
    ``policy`` constructor argument).

    ``trash``: replaced and deleted data is kept in the replica's trash (False: destroyed, unless it
    changed since the scan: a changed destination is never destroyed; a replica that keeps versions of its
    own, a syncline server, keeps them whatever this says). ``keep_changed``: a destination
    found changed since the scan is left in place and the write is not done (two-way sync: the next run
    sees both changes); by default it goes to the trash and the write goes ahead (one-way: the source wins).
    ``report_ids``: every done write reports the file id the path has now (``Outcome.file_id``), so two-way
    sync can recognise moves later."""

    trash: bool = True
    keep_changed: bool = False
    report_ids: bool = False

    @classmethod
    def two_way(cls, trash: bool = True) -> WritePolicy:
        """What a side of a two-way sync (and apply, which merges into a tree that kept working) needs."""
        return cls(trash=trash, keep_changed=True, report_ids=True)


class SourceFile(Protocol):
    """An open source file: its entry at open time, its content as a stream, and a way to tell whether it
    changed since it was opened (a torn read)."""

    entry: Entry

    def readinto(self, buffer: memoryview) -> int:
        """Read the next bytes into ``buffer``; returns how many (0 at the end)."""
        ...

    def changed(self) -> bool: ...


@runtime_checkable
class FdSourceFile(SourceFile, Protocol):
    """A source file that is an OS file: a target on a local file system copies from its descriptor in
    the kernel (``copy_file_range``) instead of through Python buffers. A fast path only: every target
    must also take a plain :class:`SourceFile`."""

    def fileno(self) -> int: ...


class Staged(Protocol):
    """A complete temp copy waiting to be committed under its real name."""

    path: str
    size: int

    def discard(self) -> None: ...


@dataclass(frozen=True, slots=True)
class Outcome:
    """What happened to one action at the target: ``note`` explains a kept or skipped destination.
    ``file_id`` is the path's file id now (an inode locally), when the policy asks to report ids (0: not
    told). ``notice`` names what of a done action the target could not keep (an extended attribute its
    file system refuses, an owner it cannot give): reported, not an error."""

    done: bool
    note: str = ""
    trashed: bool = False
    file_id: FileId = 0
    notice: str = ""


class FileSource(Protocol):
    """What the executor reads from: any :class:`Replica`, or a view of one (a move's copy reads a folder
    under its old name)."""

    def describe(self) -> str: ...

    def open_file(self, path: str) -> AbstractContextManager[SourceFile]: ...


class Replica(Protocol):
    """A tree syncline can read and write: the required core. See ``docs/replicas.md`` for the contract."""

    policy: WritePolicy

    def features(self) -> Features: ...

    def describe(self) -> str:
        """The replica for messages (a path, an address)."""
        ...

    def address(self) -> str:
        """What names this tree for good, the same in every run (a local folder's real absolute path, a
        server folder's URL): a two-way pair's base is kept under its two replicas' addresses. No I/O
        beyond resolving a local path."""
        ...

    def scan(self, rules: Rules, digests: bool, side: str) -> Index: ...

    def scan_dirs(self, dirs: Sequence[tuple[str, bool]], rules: Rules, side: str, digests: bool = False) -> Index:
        """Part of the tree: for each ``(folder, deep)`` the folder's entry and children (``deep``: all
        below), exactly as a full ``scan`` would record them; a missing folder contributes nothing."""
        ...

    def is_empty(self) -> bool:
        """Whether the root holds nothing but syncline's own files (what an unmounted disk's mount point
        looks like). Cheap: it stops at the first entry."""
        ...

    def exists(self) -> bool:
        """Whether the root is there (False: unmounted, removed, not reachable)."""
        ...

    def create_root(self) -> None:
        """Create the root, whose parent must exist (``NotFound`` otherwise). Never creates parents: a
        root whose parent is gone is an unmounted disk, not a place to fill."""
        ...

    def session(self) -> AbstractContextManager[None]:
        """Keep what the replica opens (descriptors, a connection) open while the block runs; outside a
        session each call may let go of it when it returns. :meth:`Locker.lock` holds a session too."""
        ...

    def close(self) -> None:
        """End this replica's run and release what it holds (descriptors, its claim on its temp names).
        Call it once the replica is no longer used; a replica is one run until then."""
        ...

    def stat(self, path: str) -> Entry | None:
        """The entry at ``path`` (never followed); None when absent. ``Changed`` when a folder on the way
        is not a real folder (nothing can be said of ``path``)."""
        ...

    def open_file(self, path: str) -> AbstractContextManager[SourceFile]:
        """The regular file at ``path``, open for reading as a stream (``NotFound`` when it is gone)."""
        ...

    def stage_file(self, path: str, source: SourceFile) -> Staged:
        """Copy ``source`` (read to its end) to a temp copy beside ``path``, with its entry's mode and mtime;
        nothing is visible under a real name until :meth:`commit`."""
        ...

    def commit(self, staged: Staged, expect: Entry | None) -> Outcome:
        """Put ``staged`` in place at its path if that still holds ``expect`` (None: nothing); otherwise
        keep what is there as the policy says. Commits after the last :meth:`barrier` only."""
        ...

    def make_dir(self, path: str, entry: Entry, expect: Entry | None) -> Outcome: ...

    def make_symlink(self, path: str, entry: Entry, expect: Entry | None) -> Outcome: ...

    def delete(self, path: str, expect: Entry) -> Outcome: ...

    def set_meta(self, path: str, entry: Entry, expect: Entry | None) -> Outcome: ...

    def barrier(self) -> None:
        """Make every write so far durable (an error when the replica could not: nothing since the last
        barrier may be taken as done)."""
        ...


# -- optional abilities ----------------------------------------------------------------------------------


@runtime_checkable
class Mover(Protocol):
    """Renames inside the replica (server-side move). Without it the engine copies and deletes
    (:func:`~.abilities.move`)."""

    def move(self, src: str, dst: str, expect: Entry) -> Outcome:
        """Rename ``src`` (a file, symlink or whole directory) to ``dst`` if ``src`` is still ``expect``
        and nothing is at ``dst``; otherwise leave both alone (``done`` False)."""
        ...


@runtime_checkable
class Linker(Protocol):
    """Hard links. Without it the engine copies the file again under the second name."""

    def make_link(self, path: str, entry: Entry, first: str, expect: Entry | None) -> Outcome:
        """Make ``path`` a second name (hard link) of the file at ``first`` in this tree, which must be
        ``entry`` (a plan's ``link`` action, after its copies)."""
        ...


@runtime_checkable
class Hasher(Protocol):
    """Content digests computed by the replica itself (next to the data: no transfer)."""

    def digest(self, path: str, kind: str = "blake3") -> bytes:
        """The digest of the file at ``path``, of a kind in ``features().hash_kinds`` (``Changed`` when the
        file changed while being read)."""
        ...


@runtime_checkable
class BatchStat(Protocol):
    """Many stats in one call (one round trip). Without it the engine calls ``stat`` per path."""

    def stat_many(self, paths: Sequence[str]) -> list[Entry | None]:
        """``stat`` of each path, in order."""
        ...


@runtime_checkable
class BatchWrite(Protocol):
    """Many small writes in one call (one round trip: a server's batch endpoint). Without it the engine
    calls ``make_dir``, ``make_symlink``, ``set_meta`` and ``delete`` one by one."""

    def write_many(self, items: Sequence[tuple[str, str, Entry | None, Entry | None]]) -> list[Outcome | ReplicaError]:
        """Each ``(op, path, entry, expect)`` in order, ``op`` one of ``mkdir`` (:meth:`~Replica.make_dir`),
        ``symlink`` (:meth:`~Replica.make_symlink`), ``meta`` (:meth:`~Replica.set_meta`) and ``delete``
        (:meth:`~Replica.delete`: ``entry`` None, ``expect`` given), with the meaning of that call; a later
        item sees what an earlier one did (a folder's children deleted before it), and a per-item failure
        is returned in that item's place (it does not stop the others)."""
        ...


@runtime_checkable
class Prefetcher(Protocol):
    """Files read ahead in batches: a server sends many small files in one answer instead of one request
    each. Without it the engine opens each file on its own."""

    def prefetch(self, files: Sequence[tuple[str, Entry]]) -> None:
        """A hint: ``files`` (each path with the entry the plan read there) are about to be opened, in about
        this order. A later ``open_file`` of one of them may answer that entry's version as fetched ahead (a
        committed version, verified by its digest) instead of asking for the file alone; a path not hinted,
        or one whose fetch failed, is opened as usual. Replaces any earlier hint; holds a bounded amount of
        memory whatever is hinted."""
        ...


@runtime_checkable
class BatchCommit(Protocol):
    """Many commits in one call (one round trip: a server's batch endpoint). Without it the engine calls
    ``commit`` per staged file (:func:`~.abilities.commit_many`)."""

    def commit_many(self, items: Sequence[tuple[Staged, Entry | None]]) -> list[Outcome | ReplicaError]:
        """``commit(staged, expect)`` of each item, in order, after the last :meth:`~Replica.barrier`.
        A per-item failure is returned in that item's place (it does not stop the others); an exception
        that escapes (an interrupt) leaves no item uncommitted and undiscarded."""
        ...


@runtime_checkable
class Locker(Protocol):
    """An exclusive right to write into the tree. Without it the engine runs in a plain ``session``."""

    def lock(self) -> AbstractContextManager[None]:
        """Hold the exclusive right to write into this tree (``BusyError`` if another run holds it), in a
        session. Entering finishes what a killed run left half done (its temp files removed, the versions
        it had swapped out moved to the trash)."""
        ...


@runtime_checkable
class Markers(Protocol):
    """The replica's own small files, kept outside the synced tree: the markers that say whose a root is
    (DESIGN 4.4). A replica without them cannot be checked for a replaced root."""

    def read_meta(self, name: str) -> str | None:
        """The text of the replica's own small file ``name``; None when there is none."""
        ...

    def write_meta(self, name: str, text: str) -> None:
        """Write the replica's own small file ``name`` atomically and durably."""
        ...


@runtime_checkable
class CheckedMarkers(Protocol):
    """Markers written only over what the writer read (a compare-and-swap, HTTP's ``If-Match``): of two runs
    that race to write one marker (two devices making their first run against one new server folder),
    one wins and the other learns it. Without it the engine reads, compares and writes
    (:func:`~.abilities.write_meta_if`), which cannot tell a write made in between."""

    def write_meta_if(self, name: str, text: str, expect: str | None) -> bool:
        """Write ``name`` as :meth:`Markers.write_meta` does, only if it holds ``expect`` now (None: only if
        there is none); False, with nothing written, when it holds something else. Atomic against every
        other ``write_meta_if`` of this replica's small files."""
        ...


@runtime_checkable
class FileIdFinder(Protocol):
    """Where entries with given file ids are, without a scan of the whole tree: what a scoped two-way run
    asks to tell a move out of its folders from a delete. Without it the engine scans the whole side."""

    def find_file_ids(self, file_ids: Collection[FileId]) -> dict[FileId, list[str]] | None:
        """The paths at which the replica holds an entry whose file id is one of ``file_ids`` now: every path
        a :meth:`~Replica.scan` would give such an entry at, and maybe more (ignored ones, say), never fewer.
        None when it cannot tell (the caller then scans)."""
        ...


@runtime_checkable
class ChildScanner(Protocol):
    """Named children of folders read one by one, without listing their folders: what a scoped two-way
    run asks when it knows which children changed (a watcher's event names them, a change feed's row
    gives its path), so that an edit in a folder of 10,000 files costs one look, not 10,000. Without it
    the engine lists each folder (``scan_dirs``) and keeps the named children."""

    def scan_children(self, children: Mapping[str, Collection[str]], rules: Rules, side: str,
                      digests: bool = False) -> Index:
        """For each ``folder -> names``: the folder's own entry and the entries of its children so named
        (a child that is a folder: its own entry only), exactly as a full :meth:`~Replica.scan` records
        them; a folder or child that is not there (or is ignored) contributes nothing. Names are single
        path components, compared as given: only a case-sensitive replica offers this."""
        ...


@runtime_checkable
class LockedPaths(Protocol):
    """A replica whose files other people can lock (a server's file locks): two-way sync plans nothing
    into a path locked by someone else, and this side's change of it waits until the lock ends."""

    def locked_by_others(self) -> Mapping[str, str]:
        """The paths locked now by another user or device, each with a line saying by whom and until when
        (asked once per planning round). Raises what a scan raises."""
        ...


@runtime_checkable
class CatchUp(Protocol):
    """A replica that keeps what it knows of the tree (a server's listing, in memory) and brings it up to
    date at its next read: :meth:`catch_up` does that now, while the caller is idle, so that the next read
    does not pay for it (after a run that committed 100,000 files, its next scan would page them all)."""

    def catch_up(self) -> None:
        """Bring what the replica keeps up to date with the tree now. Raises what a scan raises."""
        ...
