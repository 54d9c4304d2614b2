"""One-way sync, start to end: check the roots, scan both, plan, apply the safety guards, execute.

This is what ``syncline sync SRC DST`` and ``syncline.sync(src, dst)`` run.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable
from contextlib import ExitStack, closing
from dataclasses import dataclass, field, replace
from pathlib import Path

from ..core.entry import DIR, CompareMode, Keep
from ..core.errors import SafetyStop, UsageError
from ..core.guard import DEFAULT_MAX_DELETE as DEFAULT_MAX_DELETE  # re-exported: the CLI and API import it here
from ..core.guard import check_deletes, files_of
from ..core.index import Index
from ..core.oneway import mirror
from ..core.paths import parent
from ..core.plan import Plan
from ..core.scan import gc_paused, resolve_root
from . import marker
from .execute import Progress, execute
from .forkscan import scan_in_child
from .options import Comparison, Filters, Guards, Options, Writes
from .replicas.abilities import keepable, writing
from .replicas.address import Address, open_basis, open_replica, parse_address
from .replicas.replica import Replica
from .report import Report


@dataclass(frozen=True, kw_only=True)
class SyncOptions(Writes, Guards, Comparison, Filters, Options):
    """Options of a one-way sync: the shared parts (``rules``, ``compare``, ``max_delete``, ``force``,
    ``dry_run``, ``trash``; see :mod:`..options`) and its own. The defaults are rsync -a's (no deletes,
    size+mtime quick check, owner and group kept as root, the group as anyone else: see
    :meth:`Keep.rsync_a`)."""

    delete: bool = False
    workers: int = 4
    keep: Keep = field(default_factory=Keep.rsync_a)


def check_roots(src: str | os.PathLike[str], dst: str | os.PathLike[str]) -> tuple[Path, Path]:
    """Validate a (source, destination) pair; returns their absolute paths.

    Refuses a missing or unreadable source, a destination that is not a directory, a destination whose
    parent is missing, and roots nested in each other (or the same).
    """
    source, target = check_source(src), check_target(dst)
    check_apart(source, target)
    return source, target


def check_source(src: str | os.PathLike[str]) -> Path:
    """The absolute path of a local source; :class:`UsageError` when it is missing or unreadable."""
    source = resolve_root(src)
    if not os.access(source, os.R_OK | os.X_OK):
        raise UsageError(f"cannot read the source {source}: permission denied", "check its permissions")
    return source


def check_target(dst: str | os.PathLike[str]) -> Path:
    """The absolute path of a local destination; :class:`UsageError` when it is there but not a directory,
    or not there and its parent is missing either (an unmounted disk is not a place to fill)."""
    target = Path(os.path.abspath(os.fspath(dst)))
    if os.path.lexists(target) and not target.is_dir():
        raise UsageError(f"the destination is not a directory: {target}", "give a directory")
    if not target.exists() and not target.parent.is_dir():
        raise UsageError(f"the destination's parent does not exist: {target.parent}", "create it first")
    return target


def check_apart(source: Path, target: Path) -> None:
    """:class:`UsageError` when ``source`` and ``target`` are the same directory or nested in each other
    (either may be missing)."""
    real_s = Path(os.path.realpath(source))
    real_t = Path(os.path.realpath(target))
    if real_s == real_t:
        raise UsageError("the source and the destination are the same directory", "give two directories")
    if real_t.is_relative_to(real_s) or real_s.is_relative_to(real_t):
        raise UsageError(f"{real_s} and {real_t} are nested in each other",
                         "give two directories side by side")


def sync(src: str | os.PathLike[str], dst: str | os.PathLike[str], options: SyncOptions | None = None,
         progress: Progress | None = None) -> Report:
    """Make ``dst`` hold what ``src`` holds. Returns a :class:`Report`; raises :class:`UsageError` or
    :class:`SafetyStop` (nothing changed) when the run cannot or must not go ahead.

    ``src`` and ``dst`` are addresses (:mod:`.replicas.address`): two local folders, or a local folder
    and a server folder (``https://host:port/NAME``) on either side; see :func:`sync_with_server`."""
    opts = options or SyncOptions()
    where = parse_address(src), parse_address(dst)
    if any(w.kind != "local" for w in where):
        return sync_with_server(where[0], where[1], opts, progress)
    source_root, target_root = check_roots(src, dst)
    source = open_replica(source_root, keep=opts.keep)
    # A target that ignores case (a FAT stick, a Mac's disk) is told so: the plan keeps one of each set of
    # names that differ only in case (core/project.py).
    target = open_replica(target_root, policy=opts.policy(), keep=opts.keep,
                          case_probe=marker.case_probe(may_write=not opts.dry_run))
    try:
        return sync_replicas(source, target, opts, progress)
    finally:  # their folder descriptors: a program that syncs again and again must not run out
        source.close()
        target.close()


# What a server folder cannot hold or give, by the CLI's flag and the API's keyword.
_LOCAL_ONLY = (("xattrs", "-X/--xattrs (xattrs=True)"), ("acls", "-A/--acls (acls=True)"),
               ("hard_links", "-H/--hard-links (hard_links=True)"))


def sync_with_server(src: Address, dst: Address, options: SyncOptions | None = None,
                     progress: Progress | None = None) -> Report:
    """:func:`sync` with a server folder on one side: upload a local folder into it, or download it into a
    local folder, through :func:`sync_replicas` as between two local folders (the same plan, guards,
    dry run and report). The server folder is opened with the credentials ``syncline connect`` saved (a
    one-line :class:`UsageError` without them).

    - A server source must exist (:class:`UsageError`); a server target that does not is created by
      the run (not by a dry run), as a local target is.
    - Writing into a server folder holds this device's lease on it (``Locker``, as the daemon does), so
      a daemon of this device and this run never write into it at once (:class:`BusyError`).
    - A checksum compare uses the BLAKE3 digests the server keeps: nothing is downloaded to compare.
    - A server keeps no owners, extended attributes, ACLs or hard links: asking to keep xattrs, ACLs
      or hard links is a :class:`UsageError` naming the option; owner and group (rsync -a's default) are
      not kept in either direction, the way a local target that cannot give owners does not.
    - Two server folders are refused: sync each with a local folder.
    - The local folder's chunk basis (``open_basis``, in the state directory) is open for the run: a
      download of a big file fetches only the chunks the folder does not hold, an upload records them.
    """
    opts = options or SyncOptions()
    remote = src if src.kind != "local" else dst
    if src.kind != "local" and dst.kind != "local":
        raise UsageError(f"{src.text} and {dst.text} are both server folders",
                         "sync between a local folder and a server folder")
    for name, flag in _LOCAL_ONLY:
        if getattr(opts.keep, name):
            raise UsageError(f"{flag} does not apply to the server folder {remote.text}",
                             "leave it out: a server keeps no extended attributes, ACLs or hard links")
    opts = replace(opts, keep=Keep())
    if src.kind == "local":
        src = replace(src, path=check_source(src.path))
    else:
        dst = replace(dst, path=check_target(dst.path))
    with ExitStack() as held:  # closed in reverse: the replicas, then the basis they use
        # The local folder's chunk basis: a download of a big file reads the chunks it holds instead of
        # fetching them, and an upload records them for the next download.
        basis = held.enter_context(closing(open_basis((src if src.kind == "local" else dst).path)))
        source = open_replica(src, keep=opts.keep, basis=basis)
        held.callback(source.close)
        target = open_replica(dst, policy=opts.policy(), keep=opts.keep,
                              case_probe=marker.case_probe(may_write=not opts.dry_run), basis=basis)
        held.callback(target.close)
        if src.kind != "local" and not source.exists():
            raise UsageError(f"no server folder {src.text}",
                             "check its name; a server folder is made by the first sync into it")
        return sync_replicas(source, target, opts, progress)


def sync_replicas(source: Replica, target: Replica, options: SyncOptions | None = None,
                  progress: Progress | None = None, hold: Callable[[str], bool] | None = None) -> Report:
    """:func:`sync` between two replicas (checked by the caller): scan both, plan, guard, execute under the
    target's lock. A target whose root does not exist yet is created (its parent must exist). Files for
    which ``hold(path)`` is true are not copied this time (see :func:`sync_dirs`)."""
    opts = options or SyncOptions()
    started = time.monotonic()
    report = Report(source=source.describe(), target=target.describe(), dry_run=opts.dry_run)
    digests = opts.compare.mode is CompareMode.CHECKSUM
    with gc_paused():
        if not target.exists():
            src_index = source.scan(opts.rules, digests, "source")
            dst_index = Index({})
        elif target.features().scan_in_child:
            # The destination is scanned in a forked child while this process scans the source: two
            # threads would only take turns on the GIL (measured; see docs/performance.md, forkscan.py).
            with scan_in_child(lambda: target.scan(opts.rules, digests, "destination")) as pending:
                src_index = source.scan(opts.rules, digests, "source")
                dst_index = pending.result()
        else:
            src_index = source.scan(opts.rules, digests, "source")
            dst_index = target.scan(opts.rules, digests, "destination")
        fit = keepable(target, src_index, dst_index, opts.compare, opts.keep)
        src_index, dst_index = fit.source, fit.target
        plan = mirror(src_index, dst_index, delete=opts.delete, compare=fit.compare, keep=fit.keep)
    plan = _hold_back(plan, hold, report)
    report.problems.extend((*src_index.problems, *dst_index.problems, *plan.problems))
    report.plan = plan
    if opts.delete and not opts.force:
        _guard_deletes(src_index, dst_index, plan, opts.max_delete)
    if not opts.dry_run:
        target.create_root()
        with source.session(), writing(target):
            execute(plan, source, target, report=report, progress=progress, workers=opts.workers)
    report.seconds = time.monotonic() - started
    return report


def sync_dirs(source: Replica, target: Replica, dirs: Iterable[tuple[str, bool]],
              options: SyncOptions | None = None, hold: Callable[[str], bool] | None = None) -> Report:
    """One-way sync of some folders only: for each ``(folder, deep)``, what a full :func:`sync` would do to
    the folder's own entry and its children (with ``deep``, to everything below it). What a real-time
    mirror runs for each batch of changed folders, instead of walking both whole trees.

    A child folder that is new, gone or of another kind on one side is taken whole (deep) on that side,
    so a folder created or deleted since is copied or deleted entirely. The target's root must exist. Of
    the delete guards only the empty source applies (a batch's share of deletions says nothing; the caller
    decides what is too much). A file for which ``hold(path)`` is true (one still being written) is not
    copied this time; it is listed in ``Report.held``.
    """
    opts = options or SyncOptions()
    started = time.monotonic()
    report = Report(source=source.describe(), target=target.describe(), dry_run=opts.dry_run)
    wanted = list(dirs)
    with gc_paused():
        digests = opts.compare.mode is CompareMode.CHECKSUM
        src_index = source.scan_dirs(wanted, opts.rules, "source", digests)
        dst_index = target.scan_dirs(wanted, opts.rules, "destination", digests)
        more_src, more_dst = _whole_children(src_index, dst_index, wanted)
        if more_src:
            src_index = source.scan_dirs([*wanted, *more_src], opts.rules, "source", digests)
        if more_dst:
            dst_index = target.scan_dirs([*wanted, *more_dst], opts.rules, "destination", digests)
        fit = keepable(target, src_index, dst_index, opts.compare, opts.keep)
        src_index, dst_index = fit.source, fit.target
        plan = mirror(src_index, dst_index, delete=opts.delete, compare=fit.compare, keep=fit.keep)
    plan = _hold_back(plan, hold, report)
    if opts.delete and not opts.force and any(a.op == "delete" for a in plan.actions) and source.is_empty():
        raise _empty_source_stop()
    report.problems.extend((*src_index.problems, *dst_index.problems, *plan.problems))
    report.plan = plan
    if not opts.dry_run and plan.actions:
        with source.session(), writing(target):
            execute(plan, source, target, report=report, workers=opts.workers)
    report.seconds = time.monotonic() - started
    return report


def _hold_back(plan: Plan, hold: Callable[[str], bool] | None, report: Report) -> Plan:
    """``plan`` without the copies of files ``hold`` names (still being written); listed in ``report.held``."""
    if hold is None:
        return plan
    report.held = [a.path for a in plan.actions if a.op == "copy" and hold(a.path)]
    if not report.held:
        return plan
    held = set(report.held)
    return replace(plan, actions=tuple(a for a in plan.actions if a.op != "copy" or a.path not in held))


def _whole_children(src: Index, dst: Index, wanted: list[tuple[str, bool]]) -> tuple[list[tuple[str, bool]],
                                                                                     list[tuple[str, bool]]]:
    """Child folders of shallow requests that must be taken whole: on the source side those the target
    lacks as folders (to be copied), on the target side those the source lacks as folders (to go)."""
    shallow = {d for d, deep in wanted if not deep}
    if not shallow:
        return [], []
    more_src = [(p, True) for p, e in src.entries.items()
                if e.kind == DIR and parent(p) in shallow and not _is_dir(dst, p)]
    more_dst = [(p, True) for p, e in dst.entries.items()
                if e.kind == DIR and parent(p) in shallow and not _is_dir(src, p)]
    return more_src, more_dst


def _is_dir(index: Index, path: str) -> bool:
    e = index.entries.get(path)
    return e is not None and e.kind == DIR


def _empty_source_stop() -> SafetyStop:
    return SafetyStop("the source is empty and --delete would empty the destination",
                      "check that the source is mounted; add --force if this is what you want")


def _guard_deletes(src: Index, dst: Index, plan: Plan, max_delete: int | float) -> None:
    """Stop a run whose deletions look like a missing source rather than a user's intent."""
    if not len(src) and len(dst):
        raise _empty_source_stop()
    stop = check_deletes(max_delete, plan.summary().file_deletes, files_of(dst.entries))
    if stop is not None:
        raise stop
