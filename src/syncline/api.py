"""The public Python API: one call per job. Re-exported from ``syncline``.

>>> import syncline
>>> report = syncline.sync("photos", "/mnt/backup/photos", delete=True)   # doctest: +SKIP
>>> report.copied, report.errors                                          # doctest: +SKIP
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Literal, overload

from .core.diff import DiffResult
from .core.diff import diff as _diff
from .core.entry import Compare, Keep
from .core.ignore import Rules
from .core.index import Index
from .core.reconcile import ConflictPolicy
from .core.scan import scan as _scan
from .engine.execute import Progress
from .engine.oneway import DEFAULT_MAX_DELETE, SyncOptions
from .engine.oneway import sync as _sync
from .engine.options import Comparison, Filters, Guards, Writes, compare_named
from .engine.replicas.address import local_path
from .engine.report import Report

if TYPE_CHECKING:
    from .engine.offline.apply import ApplyReport
    from .engine.offline.archiving import ArchiveResult
    from .engine.replicas.replica import Replica
    from .engine.timeline import Snapshot
    from .engine.twoway.run import TwoWayReport
    from .events import Event

PathLike = str | os.PathLike[str]


def _rules(exclude: Iterable[str], include: Iterable[str], ignore_files: bool) -> Rules:
    return Rules(tuple(exclude), tuple(include), ignore_files)


def compare_options(checksum: bool = False, size_only: bool = False, modify_window: float = 0) -> Compare:
    """The Compare for rsync-style flags; ``checksum`` and ``size_only`` exclude each other."""
    if checksum and size_only:
        from .core.errors import UsageError

        raise UsageError("--checksum and --size-only exclude each other", "pick one")
    return compare_named(None, checksum, size_only, modify_window)


@overload
def sync(src: PathLike, dst: PathLike, delete: bool = False, *, two_way: Literal[False] = False,
         conflict: ConflictPolicy = "keep-both", compare: str | None = None, checksum: bool = False,
         size_only: bool = False,
         modify_window: float = 0, exclude: Iterable[str] = (), include: Iterable[str] = (),
         ignore_files: bool = True, dry_run: bool = False, trash: bool = True,
         max_delete: int | float = DEFAULT_MAX_DELETE, force: bool = False,
         progress: Progress | None = None, owner: bool = True, group: bool = True, xattrs: bool = False,
         acls: bool = False, hard_links: bool = False) -> Report: ...


@overload
def sync(src: PathLike, dst: PathLike, delete: bool = False, *, two_way: Literal[True],
         conflict: ConflictPolicy = "keep-both", compare: str | None = None, checksum: bool = False,
         size_only: bool = False,
         modify_window: float = 0, exclude: Iterable[str] = (), include: Iterable[str] = (),
         ignore_files: bool = True, dry_run: bool = False, trash: bool = True,
         max_delete: int | float = DEFAULT_MAX_DELETE, force: bool = False,
         progress: Progress | None = None) -> TwoWayReport: ...


def sync(
    src: PathLike,
    dst: PathLike,
    delete: bool = False,
    *,
    two_way: bool = False,
    conflict: ConflictPolicy = "keep-both",
    compare: str | None = None,
    checksum: bool = False,
    size_only: bool = False,
    modify_window: float = 0,
    exclude: Iterable[str] = (),
    include: Iterable[str] = (),
    ignore_files: bool = True,
    dry_run: bool = False,
    trash: bool = True,
    max_delete: int | float = DEFAULT_MAX_DELETE,
    force: bool = False,
    progress: Progress | None = None,
    owner: bool = True,
    group: bool = True,
    xattrs: bool = False,
    acls: bool = False,
    hard_links: bool = False,
) -> Report | TwoWayReport:
    """Make ``dst`` hold what ``src`` holds, as ``syncline sync`` does (rsync -a semantics).

    ``delete`` removes what ``src`` lacks (to ``dst/.syncline/trash`` unless ``trash=False``).
    ``max_delete`` is a file count (int) or a fraction of ``dst``'s files (float). Raises
    :class:`syncline.UsageError` or :class:`syncline.SafetyStop` when nothing was done; per-item
    problems are in ``Report.problems`` and make ``Report.exit_code`` 1.

    ``two_way=True`` syncs both ways instead (``syncline sync --two-way``) and returns a
    :class:`TwoWayReport`: changes on either side since the last run propagate, deletions included;
    ``conflict`` settles files both sides changed (``keep-both``, ``newer``, ``older``, ``a``, ``b``).

    ``compare`` is ``mtime`` (the default), ``size`` or ``hash``, as for :func:`archive` and :func:`watch`;
    ``checksum`` and ``size_only`` are rsync's spelling of the last two.

    One-way only: ``owner`` and ``group`` keep them as rsync -a does (the owner as root only; a group
    the user is a member of); ``xattrs``, ``acls`` and ``hard_links`` are rsync's -X, -A and -H.
    """
    cmp = compare_options(checksum, size_only, modify_window) if compare is None else \
        compare_named(compare, checksum, size_only, modify_window)
    parts = (Filters(rules=_rules(exclude, include, ignore_files)), Comparison(compare=cmp),
             Guards(max_delete=max_delete, force=force), Writes(dry_run=dry_run, trash=trash))
    if two_way:
        if delete:
            from .core.errors import UsageError

            raise UsageError("--delete does not apply to --two-way (deletions propagate both ways)",
                             "leave out --delete")
        if xattrs or acls or hard_links:
            from .core.errors import UsageError

            raise UsageError("xattrs, acls and hard_links apply to one-way sync only", "leave them out")
        from .engine.twoway.places import sync_two_way_places
        from .engine.twoway.run import TwoWaySyncOptions

        return sync_two_way_places(src, dst, TwoWaySyncOptions.of(*parts, conflict=conflict), progress)
    keep = Keep.rsync_a(owner=owner, group=group, xattrs=xattrs, acls=acls, hard_links=hard_links)
    return _sync(src, dst, SyncOptions.of(*parts, delete=delete, keep=keep), progress)



def scan(
    path: PathLike,
    *,
    digests: bool = True,
    exclude: Iterable[str] = (),
    include: Iterable[str] = (),
    ignore_files: bool = True,
    previous: Index | None = None,
) -> Index:
    """Scan a directory into an :class:`Index` (with BLAKE3 digests unless ``digests=False``).

    Digests are reused from ``previous`` for files whose stat key is unchanged.
    """
    return _scan(path, rules=_rules(exclude, include, ignore_files), digests=digests, previous=previous)


def load_index(path: PathLike) -> Index:
    """Read and verify an index file; raises :class:`syncline.IndexFormatError` when it is damaged."""
    from .formats.indexfile import load_index as _load

    return _load(path)


def save_index(index: Index, path: PathLike) -> None:
    """Write ``index`` as an index file (format v1, ``docs/formats/index.md``), atomically: the file is
    complete under its name or not there."""
    from pathlib import Path

    from .formats.indexfile import write_index

    write_index(index, Path(path))


def diff(old: Index | PathLike, new: Index | PathLike) -> DiffResult:
    """What changed from ``old`` to ``new``; each is an Index, a directory or an index file."""
    from .engine.offline.indexing import load_tree

    a = old if isinstance(old, Index) else load_tree(old)
    b = new if isinstance(new, Index) else load_tree(new)
    return _diff(a, b)


def index(
    path: PathLike,
    output: PathLike,
    *,
    digests: bool = True,
    chunks: bool = False,
    exclude: Iterable[str] = (),
    include: Iterable[str] = (),
    ignore_files: bool = True,
) -> Index:
    """Write the index file ``output`` of the directory ``path`` (``syncline index``) and return the index.

    ``chunks`` also records chunk lists of files of 1 MiB and more, so that archives made against the index
    carry only the changed parts of those files.
    """
    from .core.chunking import Chunker
    from .engine.offline.indexing import make_index

    return make_index(path, output, rules=_rules(exclude, include, ignore_files), digests=digests,
                      chunker=Chunker() if chunks else None)


def archive(
    src: PathLike,
    against: PathLike,
    output: PathLike,
    *,
    delete: bool = False,
    compare: str = "mtime",
    exclude: Iterable[str] = (),
    include: Iterable[str] = (),
    ignore_files: bool = True,
    label: str = "",
    max_delete: int | float = DEFAULT_MAX_DELETE,
    force: bool = False,
) -> ArchiveResult:
    """Write the archive that brings the tree indexed in ``against`` (an index file, or a snapshot
    reference ``"DIR@LABEL"``) to ``src``'s state (``syncline archive``). ``delete`` carries deletions too
    (at most ``max_delete`` of the far side's files unless ``force``); ``compare`` is ``mtime``, ``size``
    or ``hash``."""
    from .engine.offline.archiving import ArchiveOptions, make_archive

    return make_archive(local_path(src), against, output, ArchiveOptions.of(
        Filters(rules=_rules(exclude, include, ignore_files)), Comparison(compare=compare_named(compare)),
        Guards(max_delete=max_delete, force=force), delete=delete, label=label))


def apply(
    archive: PathLike,
    target: PathLike,
    *,
    delete: bool = True,
    dry_run: bool = False,
    trash: bool = True,
    force: bool = False,
    max_delete: int | float = DEFAULT_MAX_DELETE,
) -> ApplyReport:
    """Apply an archive to the directory ``target`` (``syncline apply``); ``delete=False`` is
    ``--no-delete``. Raises :class:`syncline.ArchiveFormatError` (nothing changed) for a bad archive and
    :class:`syncline.SafetyStop` for a stale one or more deletions than ``max_delete`` (``force`` goes on)."""
    from .engine.offline.apply import ApplyOptions, apply_archive

    return apply_archive(archive, local_path(target), ApplyOptions.of(
        Writes(dry_run=dry_run, trash=trash), Guards(max_delete=max_delete, force=force), delete=delete))


def snapshot(path: PathLike, label: str = "", *, chunks: bool = False) -> Snapshot:
    """Store an index of the directory ``path`` in its timeline (``syncline snapshot``); returns the
    catalog line, whose ``problems`` name what could not be read (left out, as by :func:`index`). Refer to
    it later as ``f"{path}@{label}"`` in :func:`diff`, :func:`archive` (as ``against``) and
    :func:`sync_since`."""
    from .core.chunking import Chunker
    from .engine.timeline import take_snapshot

    return take_snapshot(path, label, chunker=Chunker() if chunks else None)


def log(path: PathLike) -> list[Snapshot]:
    """The snapshots of the directory ``path``, oldest first (``syncline log``)."""
    from .core.scan import resolve_root
    from .engine.timeline import catalog

    return catalog(resolve_root(path))


def sync_two_way_replicas(
    a: Replica,
    b: Replica,
    *,
    conflict: ConflictPolicy = "keep-both",
    compare: str = "mtime",
    modify_window: float = 0,
    exclude: Iterable[str] = (),
    include: Iterable[str] = (),
    ignore_files: bool = True,
    dry_run: bool = False,
    max_delete: int | float = DEFAULT_MAX_DELETE,
    force: bool = False,
    progress: Progress | None = None,
) -> TwoWayReport:
    """:func:`sync` with ``two_way=True`` between two replicas instead of two folders: any
    :class:`~syncline.engine.replicas.replica.Replica` that keeps syncline's markers (a ``LocalReplica``,
    a ``syncline.testing.MemoryReplica``, a server or WebDAV folder later), as :func:`watch` takes one as
    a target. Returns the :class:`TwoWayReport`; the options are :func:`sync`'s for two-way.

    Each side is written with the write policy it was made with, trash included (make it with
    ``WritePolicy.two_way(trash=...)``, as ``sync(two_way=True)`` does for folders). The pair's base is
    kept under the two replicas' ``address()``, so the next run with replicas of the same addresses syncs
    only what changed since. A side whose root does not exist is made on the pair's first run; once the
    pair has a base, a missing side stops the run. Raises :class:`syncline.UsageError` (the same replica
    twice, two local folders nested in each other, a side without markers, bad options) or
    :class:`syncline.SafetyStop` (nothing changed); per-item problems are in the report. The caller
    closes the replicas.
    """
    from .core.errors import UsageError
    from .engine.oneway import check_apart
    from .engine.replicas.local import LocalReplica
    from .engine.twoway.run import TwoWaySyncOptions
    from .engine.twoway.run import sync_two_way_replicas as _two_way

    if a.address() == b.address():
        raise UsageError(f"the two sides are the same: {a.describe()}", "give two replicas")
    if isinstance(a, LocalReplica) and isinstance(b, LocalReplica):
        check_apart(a.root, b.root)  # one side's writes would be the other's changes

    parts = (Filters(rules=_rules(exclude, include, ignore_files)),
             Comparison(compare=compare_named(compare, modify_window=modify_window)),
             Guards(max_delete=max_delete, force=force), Writes(dry_run=dry_run))
    return _two_way(a, b, TwoWaySyncOptions.of(*parts, conflict=conflict), progress)


def sync_since(src: PathLike, dst: PathLike, since: str, *, delete: bool = False, compare: str = "mtime",
               dry_run: bool = False, trash: bool = True, force: bool = False) -> ApplyReport:
    """Bring ``dst``, a copy of ``src`` as of ``src``'s snapshot ``since``, to ``src``'s state
    (``syncline sync SRC DST --since REF``): the changes since then, checked against what ``dst`` holds."""
    from .engine.offline.sincesync import SinceOptions
    from .engine.offline.sincesync import sync_since as _sync_since

    return _sync_since(local_path(src), local_path(dst), since, SinceOptions.of(
        Comparison(compare=compare_named(compare)), Writes(dry_run=dry_run, trash=trash), Guards(force=force),
        delete=delete))


def watch(
    src: PathLike,
    targets: Iterable[PathLike | Replica],
    *,
    delete: bool = False,
    compare: str = "mtime",
    exclude: Iterable[str] = (),
    include: Iterable[str] = (),
    ignore_files: bool = True,
    trash: bool = True,
    max_delete: int | float = DEFAULT_MAX_DELETE,
    force: bool = False,
    quiet_period: float = 0.02,
    max_delay: float = 0.5,
    rescan_every: float = 3600.0,
    stop: threading.Event | None = None,
    log: Callable[[str, dict[str, object]], None] | None = None,
    on_event: Callable[[Event], None] | None = None,
) -> None:
    """Mirror ``src`` into each of ``targets`` in real time (``syncline watch``) until ``stop`` is set.

    Blocks: run it in a thread and set ``stop`` to end it. ``log`` receives each event (a message and its
    fields), as ``syncline watch --json`` prints them. ``on_event`` receives each event as its typed
    object (:mod:`syncline.events`), in order, from the watch's threads (it must not block): the numbered
    ones (``seq`` 1, 2, ...: what ``log`` gets) and the state events (``SourceState``, ``seq`` 0: the
    folders pending, files being written, polling; published when they change). A
    ``syncline.events.WatchStatus()`` passed as ``on_event`` keeps a live status of the watch. A target is
    a path or a :class:`~syncline.engine.replicas.replica.Replica`. ``max_delete`` guards the catch-up at
    start; ``force`` turns the deletion guards off.
    """
    from .services.watch import EventLog, Mirror, WatchOptions

    options = SyncOptions.of(Filters(rules=_rules(exclude, include, ignore_files)),
                             Comparison(compare=compare_named(compare)), Guards(max_delete=max_delete, force=force),
                             Writes(trash=trash), delete=delete)
    events = EventLog()
    if on_event is not None:
        events.subscribe(on_event, states=True)
    mirror = Mirror(src, list(targets), WatchOptions(sync=options, quiet=quiet_period, max_delay=max_delay,
                                                     rescan_every=rescan_every), log=log, events=events)
    if stop is not None:
        def relay() -> None:
            stop.wait()
            mirror.stop.set()
            mirror.collector.wake.set()

        threading.Thread(target=relay, daemon=True).start()
    mirror.run()


__all__ = ["apply", "archive", "compare_options", "diff", "index", "load_index", "log", "save_index", "scan",
           "snapshot", "sync", "sync_since", "sync_two_way_replicas", "watch"]
