"""The engine's side of the optional abilities: use one when the replica has it, fall back when it has not.

Every function here takes any :class:`~.replica.Replica`; callers never test for an ability themselves,
so a replica that gains one (a server that renames in place, a share that locks) is used better without a
change above it.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from contextlib import AbstractContextManager

from ...core.entry import DIR, FILE, SYMLINK, Compare, Entry, FileId, Keep
from ...core.hashing import ATTEMPTS, digest_fd, digest_reader
from ...core.ignore import Rules
from ...core.index import Index
from ...core.plan import Action, Op, Plan
from ...core.project import Keeps, Projection, project
from ..crashpoints import crash_point
from .errors import Changed, ReplicaError, map_os_error
from .replica import (
    BatchCommit,
    BatchStat,
    CatchUp,
    CheckedMarkers,
    ChildScanner,
    Features,
    FileIdFinder,
    Hasher,
    LockedPaths,
    Locker,
    Markers,
    Mover,
    Outcome,
    Replica,
    SourceFile,
    Staged,
)


def writing(replica: Replica) -> AbstractContextManager[None]:
    """Hold ``replica`` for a run of writes: its :class:`~.replica.Locker` lock when it has one (which
    also finishes what killed runs left), else a plain session."""
    return replica.lock() if isinstance(replica, Locker) else replica.session()


def write_meta_if(replica: Replica, name: str, text: str, expect: str | None) -> bool:
    """Write the replica's small file ``name`` only if it holds ``expect`` (None: none); False when it holds
    something else (see :class:`~.replica.CheckedMarkers`). A replica without the ability is read, compared
    and written: a write another run makes in between is not told. The replica must keep ``Markers``."""
    if isinstance(replica, CheckedMarkers):
        return replica.write_meta_if(name, text, expect)
    assert isinstance(replica, Markers)
    if replica.read_meta(name) != expect:
        return False
    replica.write_meta(name, text)
    return True


def stat_many(replica: Replica, paths: Sequence[str]) -> list[Entry | None]:
    """``stat`` of each of ``paths``: one call with :class:`~.replica.BatchStat`, else one per path."""
    if isinstance(replica, BatchStat):
        return replica.stat_many(paths)
    return [replica.stat(p) for p in paths]


def find_file_ids(replica: Replica, file_ids: Collection[FileId]) -> dict[FileId, list[str]] | None:
    """Where ``replica`` holds entries with these file ids (:class:`~.replica.FileIdFinder`: every such
    path, maybe more); None when it cannot tell without a scan."""
    if isinstance(replica, FileIdFinder):
        return replica.find_file_ids(file_ids)
    return None


def scan_children(replica: Replica, children: Mapping[str, Collection[str]], rules: Rules, side: str,
                  digests: bool = False) -> Index:
    """Each folder's own entry and its children named in ``children`` (folder -> names), as a full scan
    records them (:class:`~.replica.ChildScanner`); a replica without the ability, or one that ignores
    case (a name asked for may be found under another case), lists the folders and keeps those."""
    if isinstance(replica, ChildScanner) and replica.features().case_sensitive:
        return replica.scan_children(children, rules, side, digests)
    listed = replica.scan_dirs([(folder, False) for folder in children], rules, side, digests)
    kept = {p: e for p, e in listed.entries.items()
            if p in children or (p and p.rpartition("/")[2] in children.get(p.rpartition("/")[0], ()))}
    return Index(kept, listed.header, problems=listed.problems, unreadable=listed.unreadable,
                 temp_files=listed.temp_files, root=listed.root, presorted=True)


def locked_by_others(replica: Replica) -> Mapping[str, str]:
    """The paths of ``replica`` locked by someone else, with why (:class:`~.replica.LockedPaths`); none for
    a replica without locks."""
    return replica.locked_by_others() if isinstance(replica, LockedPaths) else {}


def catch_up(replica: Replica) -> None:
    """Let ``replica`` bring what it keeps of the tree up to date now (:class:`~.replica.CatchUp`); nothing
    for one that keeps nothing."""
    if isinstance(replica, CatchUp):
        replica.catch_up()


def commit_many(replica: Replica, items: Sequence[tuple[Staged, Entry | None]]) -> list[Outcome | ReplicaError]:
    """``commit`` of each ``(staged, expect)``, a per-item failure in its item's place: one call with
    :class:`~.replica.BatchCommit`, else one per item. An exception that escapes (an interrupt) leaves
    the items not reached discarded."""
    if isinstance(replica, BatchCommit):
        return replica.commit_many(items)
    return commit_each(replica, items)


def commit_each(replica: Replica, items: Sequence[tuple[Staged, Entry | None]]) -> list[Outcome | ReplicaError]:
    """:func:`commit_many` one ``commit`` at a time (what a replica without a batch call gets, and what
    ``LocalReplica`` does: its calls have no round trip to save)."""
    done: list[Outcome | ReplicaError] = []
    try:
        for staged, expect in items:
            try:
                done.append(replica.commit(staged, expect))
            except OSError as exc:
                staged.discard()
                done.append(map_os_error(exc))
                continue
            crash_point("commit")
    except BaseException:
        for staged, _ in items[len(done):]:
            staged.discard()
        raise
    return done


def keeps(replica: Replica) -> Keeps:
    """What ``replica`` can store (its :class:`~.replica.Features`), as the pure projection takes it."""
    f = replica.features()
    return Keeps(mtime_ns_precision=f.mtime_ns_precision, case_sensitive=f.case_sensitive, symlinks=f.symlinks,
                 permissions=f.permissions, owner=f.owner, utf8_names=f.utf8_names)


def keepable(target: Replica, source: Index, dest: Index, compare: Compare, keep: Keep) -> Projection:
    """The indexes and rules to plan with so nothing is planned that ``target`` cannot keep (its
    :class:`~.replica.Features`: mtime precision, case sensitivity, symlinks, permissions, owner, UTF-8
    names); see
    :func:`~syncline.core.project.project`."""
    k = keeps(target)
    return project(source, dest, compare, keep, mtime_ns_precision=k.mtime_ns_precision, symlinks=k.symlinks,
                   permissions=k.permissions, owner=k.owner, case_sensitive=k.case_sensitive,
                   utf8_names=k.utf8_names)


def hasher(replica: Replica) -> Callable[[str, Entry], Entry | None]:
    """How to hash ``replica``'s files, chosen once (an ability check costs more than hashing a small
    file): a function of ``(path, entry)`` (the file as a scan saw it) that returns ``entry`` with its
    BLAKE3 digest, or None when the file is no longer ``entry`` or kept changing while it was read
    (``ATTEMPTS`` times, as the index's hashing does). Other failures (unreadable, gone) are raised as
    the replica raised them.

    A replica across round trips with :class:`~.replica.Hasher` (and BLAKE3 in ``features().hash_kinds``)
    hashes next to its data, and a ``stat`` after it tells that the digest is ``entry``'s; otherwise the
    file is read here (``open_file``: its descriptor when it has one, else ``readinto``), and the source
    file's ``changed()`` tells a torn read (locally the :class:`~syncline.core.hashing.ReadGuard`)."""
    read: Callable[[str], tuple[bytes | None, Entry | None]]
    features = replica.features()
    if features.round_trips and isinstance(replica, Hasher) and "blake3" in features.hash_kinds:
        by_replica = replica

        def read(path: str) -> tuple[bytes | None, Entry | None]:
            digest = by_replica.digest(path, "blake3")
            return digest, replica.stat(path)
    else:
        # Next to the data already (a local tree): one open, the digest from its descriptor when it has
        # one, and the entry it was read as (no second stat; measured: the Hasher call and a stat cost a
        # first two-way run of 100,000 files half again as much as hashing by path did).
        def read(path: str) -> tuple[bytes | None, Entry | None]:
            with replica.open_file(path) as source:
                fileno = getattr(source, "fileno", None)
                digest = (digest_fd(fileno(), source.entry.size) if fileno is not None
                          else digest_reader(source.readinto))
                return (None, None) if source.changed() else (digest, source.entry)

    def hashed(path: str, entry: Entry) -> Entry | None:
        for _ in range(ATTEMPTS):
            try:
                digest, now = read(path)
            except Changed:
                continue
            if digest is not None:
                return entry._replace(digest=digest) if now is not None and now.unchanged_since(entry) else None
        return None

    return hashed


def move(replica: Replica, src: str, dst: str, expect: Entry) -> Outcome:
    """Rename ``src`` to ``dst`` in ``replica`` if ``src`` is still ``expect`` and nothing is at ``dst``:
    server-side with :class:`~.replica.Mover`, else by :func:`copy_and_delete`."""
    if isinstance(replica, Mover):
        return replica.move(src, dst, expect)
    if src != dst and src.casefold() == dst.casefold() and not replica.features().case_sensitive:
        return _case_only(replica, src, dst, expect)
    return copy_and_delete(replica, src, dst, expect)


def _case_only(replica: Replica, src: str, dst: str, expect: Entry) -> Outcome:
    """A case-only rename (``docs`` -> ``Docs``) on a case-insensitive replica that cannot rename: there
    ``dst`` is ``src`` itself, so a copy to it would find it taken. The move goes through a free name
    beside it, by two :func:`copy_and_delete` steps. The name is a visible one, not a temp name: should
    the second step fail (or the run be killed between), what was ``src`` waits there whole, and the next
    run syncs it as the new file or folder it is."""
    via = next(c for c in (f"{dst}.syncline-rename-{n}" for n in range(1, 1000)) if replica.stat(c) is None)
    first = copy_and_delete(replica, src, via, expect)
    if not first.done or first.note:
        return first if not first.done else Outcome(True, f"{first.note}; the rest is at {via}")
    moved = replica.stat(via)
    if moved is None:
        return Outcome(True, f"moved to {via} on the way to {dst}, and gone from there since")
    second = copy_and_delete(replica, via, dst, moved)
    if not second.done:
        return Outcome(True, f"moved to {via} on the way to {dst}, and left there: {second.note}")
    return second


class _Relocated:
    """``replica`` read as if what is at ``src`` stood at ``dst`` (the source of a move's copy)."""

    def __init__(self, replica: Replica, src: str, dst: str) -> None:
        self.replica, self.src, self.dst = replica, src, dst

    def describe(self) -> str:
        return self.replica.describe()

    def features(self) -> Features:
        return self.replica.features()

    def open_file(self, path: str) -> AbstractContextManager[SourceFile]:
        return self.replica.open_file(self.src + path[len(self.dst):])


def copy_and_delete(replica: Replica, src: str, dst: str, expect: Entry) -> Outcome:
    """A move for a replica that cannot rename: copy ``src`` (a file, symlink or whole folder) to ``dst``
    through the executor (temp copies, durability barrier, re-checks), then delete ``src``, deepest first,
    each item only if it is still what was copied. Nothing is deleted unless all of it was copied: a copy
    that fails leaves ``src`` whole (and what was copied of it at ``dst``)."""
    current, there = stat_many(replica, [src, dst])
    if current is None:
        return Outcome(False, "vanished since the scan; not moved")
    if current.kind != expect.kind or (current.kind != DIR and not current.unchanged_since(expect)):
        return Outcome(False, "changed since the scan; not moved")
    if there is not None:
        return Outcome(False, f"not moved: {dst} exists")
    if current.kind == DIR:
        tree = replica.scan_dirs([(src, True)], Rules(ignore_files=False), "source")
        if tree.problems or tree.unreadable:
            return Outcome(False, f"not moved: part of {src} could not be read")
        items = sorted(tree.entries.items())
    else:
        items = [(src, current)]
    from ..execute import execute  # the executor uses this module's batch calls: imported when needed

    put: dict[str, Op] = {FILE: "copy", DIR: "mkdir", SYMLINK: "symlink"}
    copies = [Action(put[e.kind], dst + p[len(src):], e, None) for p, e in items]
    # Folders get their mode and mtime last, deepest first: filling them changed both.
    metas = [Action("meta", a.path, a.entry, None) for a in reversed(copies) if a.op == "mkdir"]
    copied = execute(Plan(tuple(copies + metas)), _Relocated(replica, src, dst), replica)
    if copied.errors:
        return Outcome(False, f"not moved (no server-side move here, and the copy failed: {copied.errors[0]}); "
                              f"{src} is left as it was")
    removed = execute(Plan(tuple(Action("delete", p, None, e) for p, e in reversed(items))),
                      replica, replica)
    if removed.errors:
        return Outcome(True, f"copied to {dst}, but {len(removed.errors)} item(s) of {src} could not be "
                             f"removed: {removed.errors[0]}")
    return Outcome(True)
