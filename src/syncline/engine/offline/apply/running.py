"""Apply, the run: check, lock, stage, scan DIR, plan, guard, execute, record.

:func:`apply_archive` is the one entry. Before anything in DIR changes it refuses a stale archive (one
made against an index older than one a previous apply was made against, unless ``force``), an archive
larger than DIR's free space, and a plan that deletes more files than ``max_delete`` (unless ``force``; a
dry run reports the stop instead). The folders of DIR the ops name are scanned once, after staging and
right before planning: that index is all the planner sees. The deletion guard counts DIR's files (a
listing without stats) only when a fractional limit meets a deletion. The plan goes to the same executor as
``sync`` (re-checks, atomic swaps, the trash), whose target renames staged files into place. The folders
the plan makes are recorded first (``.syncline/made-dirs.json``) so a rerun after a kill gives them the
archive's mode; each finished apply is appended to ``.syncline/applied.jsonl`` for the stale check.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import stat
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

from ....core.conflicts import conflict_name
from ....core.entry import DIR, Entry
from ....core.errors import ArchiveFormatError, Problem, SafetyStop, UsageError
from ....core.guard import DeleteWording, check_deletes
from ....core.ignore import Rules
from ....core.index import Index
from ....core.paths import META_DIR, parent
from ....core.plan import Plan
from ....core.scan import count_files, gc_paused, resolve_root
from ....formats.archivefile import ArchiveHeader, ArchiveOp, open_archive
from ...execute import execute
from ...options import Guards, Options, Writes
from ...replicas.local import LocalReplica, LocalStaged, entry_of_stat
from ...replicas.replica import Replica, SourceFile, WritePolicy
from ...report import HasProblems, Report
from .planner import Here, Planner, matches
from .staging import StagedOpen, StagedSource, remove_staging, staging_dir, verify_and_stage

APPLIED_LOG = "applied.jsonl"
MADE_DIRS = "made-dirs.json"  # folders a running apply makes: on a rerun after a kill, they are ours
_FUTURE_NS = 86_400 * 10**9  # an index "taken" more than a day from now is not believed
_APPLY = DeleteWording(
    stop="the archive would delete {deletes} files in {where}, more than --max-delete ({limit})",
    share="{share:.0%} of its {files} files",
    hint="check where the archive comes from; add --force (or --no-delete) to go ahead",
)


@dataclass(frozen=True, kw_only=True)
class ApplyOptions(Writes, Guards, Options):
    """The shared parts (``dry_run``, ``trash``, ``max_delete``: a file count, or a fraction of DIR's
    files; ``force``, which also applies an archive the folder has moved past) and its own: ``delete=False``
    is ``--no-delete``."""

    delete: bool = True
    workers: int = 4
    note_other_root: bool = True  # say so when the archive's index was taken of another path


@dataclass
class ApplyReport(HasProblems):
    """What an apply did: the executor's counts (``done``), plus what it found already in place, the
    conflict copies it made (path, copy), what it kept because it changed here, and what ``--no-delete``
    left."""

    archive: str = ""
    target: str = ""
    dry_run: bool = False
    ops: int = 0
    already: int = 0
    kept: int = 0
    not_deleted: int = 0
    conflicts: list[tuple[str, str]] = field(default_factory=list)
    done: Report = field(default_factory=Report)
    problems: list[Problem] = field(default_factory=list)
    seconds: float = 0.0

    def to_json(self) -> dict[str, Any]:
        d = self.done
        return {"archive": self.archive, "target": self.target, "dry_run": self.dry_run, "ops": self.ops,
                "already": self.already, "copied": d.copied, "copied_bytes": d.copied_bytes,
                "dirs_created": d.dirs_created, "symlinks": d.symlinks, "deleted": d.deleted,
                "meta_updated": d.meta_updated, "trashed": d.trashed, "kept": self.kept + d.kept,
                "not_deleted": self.not_deleted, "conflicts": [{"path": p, "copy": c} for p, c in self.conflicts],
                "errors": [str(p) for p in self.errors], "notices": [str(p) for p in self.problems if not p.error],
                "seconds": round(self.seconds, 3), "exit_code": self.exit_code}


def apply_archive(archive: str | os.PathLike[str], target: str | os.PathLike[str],
                  options: ApplyOptions | None = None) -> ApplyReport:
    """Apply ``archive`` to the directory ``target``. Raises (with DIR untouched) ``ArchiveFormatError``
    for a bad archive, :class:`UsageError` for bad paths or too little space, :class:`SafetyStop` for an
    archive the folder has moved past or too many deletions; per-item problems are in the report."""
    opts = options or ApplyOptions()
    started = time.monotonic()
    root = resolve_root(target)
    fh, reader = open_archive(archive)  # one open: the header checked here is the one verified below
    with fh, contextlib.ExitStack() as stack:
        header = reader.header
        report = ApplyReport(archive=os.fspath(archive), target=str(root), dry_run=opts.dry_run, ops=header.ops)
        report.done = Report(source=os.fspath(archive), target=str(root), dry_run=opts.dry_run)
        _check_not_stale(root, header, opts.force)
        _check_space(root, header)
        if opts.note_other_root and header.against.root != str(root):
            report.problems.append(Problem("", f"the archive was made against an index of "
                                               f"{header.against.root}", "", error=False))
        target_dir = _ApplyTarget(root, policy=WritePolicy(trash=opts.trash, keep_changed=True))
        stack.callback(target_dir.close)
        if not opts.dry_run:
            stack.enter_context(target_dir.lock())
        staging = staging_dir(target_dir, opts.dry_run)
        stack.callback(remove_staging, target_dir, staging)
        try:
            verified = verify_and_stage(reader, target_dir, staging)
        except MemoryError:
            raise ArchiveFormatError("the archive holds more changes than fit in memory",
                                     "ask for smaller archives; nothing was changed") from None
        report.problems.extend(verified.unbuildable)
        here = _scan_here(target_dir, header, verified.ops)
        planned = Planner(here, header, verified.staged, verified.in_place, {p.path for p in verified.unbuildable},
                          delete=opts.delete, dry_run=opts.dry_run).plan(verified.ops)
        plan = planned.plan
        report.already, report.kept, report.not_deleted = planned.already, planned.kept, planned.not_deleted
        report.conflicts.extend(planned.conflicts)
        report.problems.extend(planned.problems)
        report.done.plan = plan
        if not opts.force:
            stop = _guard_deletes(root, plan, opts.max_delete)
            if stop is not None and not opts.dry_run:
                raise stop
            if stop is not None:
                report.problems.append(Problem("", f"{stop.message}: a real run would stop here", "",))
        if not opts.dry_run:
            made = sorted({a.path for a in plan.actions if a.op == "mkdir"} | here.ours)
            target_dir.write_meta(MADE_DIRS, json.dumps(made))
            staged = {**verified.staged, **{path: verified.staged[origin] for path, origin in planned.content.items()
                                            if origin in verified.staged}}
            execute(plan, cast(Replica, StagedSource(staged, target_dir.tree)), target_dir, report=report.done,
                    workers=opts.workers)
            with contextlib.suppress(FileNotFoundError):
                target_dir.tree.unlink(f"{META_DIR}/{MADE_DIRS}")
            report.problems.extend(report.done.problems)
            report.done.problems = []
            _record(target_dir, header, reader.checksum, report)
    report.seconds = time.monotonic() - started
    return report


def _scan_here(target: LocalReplica, header: ArchiveHeader, ops: Sequence[ArchiveOp]) -> Here:
    """DIR as the planner sees it: the folders the ops name, scanned (no ignore rules, no digests), with
    what the index leaves out but a folder may hold: syncline's temp files, what the scan skipped or could
    not read, and a nested ``.syncline`` in a folder the archive removes.

    Each op's folder and every folder above it are listed (the op's path, its conflict names and its
    parents are all the planner looks up); a folder the archive removes or replaces is scanned whole (the
    planner keeps it when it holds more than the archive deletes), and so is a conflict copy of an
    incoming folder that an earlier apply left (the ops below that folder land in it)."""
    rules = Rules(ignore_files=False)
    # Scanned as DIR, not as a sync's "destination": a folder asked for below a symlink or a file is then
    # not listed rather than marked unseen, and the planner finds the non-folder on the way itself (every
    # folder above an op is listed), as it did from a scan of the whole tree.
    side = "DIR"
    wanted: set[tuple[str, bool]] = {("", False)}
    for op in ops:
        folder = parent(op.path)
        while folder and (folder, False) not in wanted:
            wanted.add((folder, False))
            folder = parent(folder)
        if _removes_dir(op):
            wanted.add((op.path, True))
    with gc_paused():
        index = target.scan_dirs(sorted(wanted), rules, side)
        copies = [(c, True) for c in _left_copies(index, header, ops)]
        if copies:
            index = _merged(index, target.scan_dirs(copies, rules, side))
    unlisted = {*index.temp_files, *(p.path for p in index.problems if p.path)}
    for op in ops:
        e = index.entries.get(op.path)
        if _removes_dir(op) and e is not None and e.kind == DIR and _there(target, f"{op.path}/{META_DIR}"):
            unlisted.add(f"{op.path}/{META_DIR}")
    return Here(index, _root_entry(target.root), frozenset(_made_before(target.root)), frozenset(unlisted))


def _removes_dir(op: ArchiveOp) -> bool:
    """Whether ``op`` takes away a folder the far side had (deletes it or puts something else there)."""
    return op.expect is not None and op.expect.kind == DIR and (op.entry is None or op.entry.kind != DIR)


def _left_copies(index: Index, header: ArchiveHeader, ops: Sequence[ArchiveOp]) -> list[str]:
    """The conflict copies of incoming folders that are folders here already (an earlier apply made them),
    under the name the planner will pick (the first that is free or holds the same kind)."""
    found = []
    for op in ops:
        if op.entry is None or op.entry.kind != DIR:
            continue
        for n in range(100):
            copy = conflict_name(op.path, op.entry.mtime_ns, header.source.host, n)
            there = index.entries.get(copy)
            if there is None or matches(there, op.entry):
                if there is not None:
                    found.append(copy)
                break
    return found


def _merged(a: Index, b: Index) -> Index:
    """The entries, problems and unseen paths of two scans of the same tree (``b`` wins a path both hold)."""
    return Index({**a.entries, **b.entries}, a.header, (*a.problems, *b.problems), a.unreadable | b.unreadable,
                 (*a.temp_files, *b.temp_files), a.root)


def _count_files(root: Path, plan: Plan, max_delete: int | float) -> int:
    """DIR's files for the deletion guard, counted only when a fractional limit meets a file deletion (a
    count limit and a plan without deletions need no count)."""
    if not isinstance(max_delete, float) or not plan.summary().file_deletes:
        return 0
    return count_files(root)


def _there(target: LocalReplica, path: str) -> bool:
    """Whether something is at ``path`` (what cannot be told counts as there)."""
    try:
        target.tree.lstat(path)
    except (FileNotFoundError, NotADirectoryError):
        return False
    except OSError:
        return True
    return True


def _root_entry(root: Path) -> Entry | None:
    """DIR's own lstat (None for ``/``, whose mtime an archive never sets)."""
    if not root.name:
        return None
    try:
        st = os.lstat(root)
    except (FileNotFoundError, NotADirectoryError):
        return None
    return entry_of_stat(st, os.readlink(root) if stat.S_ISLNK(st.st_mode) else None)


# ---------------------------------------------------------------------------------------------- checks


def _applied(root: Path) -> list[dict[str, Any]]:
    try:
        lines = (root / META_DIR / APPLIED_LOG).read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return []
    out = []
    for line in lines:
        with contextlib.suppress(ValueError):
            rec = json.loads(line)
            if isinstance(rec, dict):
                out.append(rec)
    return out


def _check_not_stale(root: Path, header: ArchiveHeader, force: bool) -> None:
    """Refuse an archive made against an index older than one a previously applied archive was made
    against: the folder has moved past it. The log is DIR's own, so any path the index was taken through
    counts; both times come from the far side's clock (the host that took the indexes). Archives against
    the same index are fine: each path is checked against what it holds anyway."""
    if force:
        return
    for rec in _applied(root):
        when = rec.get("against_scanned_ns")
        if rec.get("against_host") == header.against.host and isinstance(when, int) \
                and when > header.against.scanned_ns:
            this = time.strftime("%Y-%m-%d %H:%M", time.localtime(header.against.scanned_ns / 1e9))
            later = time.strftime("%Y-%m-%d %H:%M", time.localtime(when / 1e9))
            raise SafetyStop(f"this archive was made against the index of {this}, but {root} has since applied "
                             f"an archive made against a newer index (of {later})",
                             "ask for an archive against a new index of this folder, or add --force to apply it "
                             "anyway (local changes are kept as they are)")


def _check_space(root: Path, header: ArchiveHeader) -> None:
    free = shutil.disk_usage(root).free
    if header.content_bytes > free:
        raise UsageError(f"applying the archive needs up to {header.content_bytes} bytes, but {root} has only "
                         f"{free} free", "free some space and run again; nothing was changed")


def _guard_deletes(root: Path, plan: Plan, max_delete: int | float) -> SafetyStop | None:
    """The stop for a plan deleting more files than ``max_delete`` (an archive made from an empty or
    unmounted source must not empty DIR), counted against DIR's files (:func:`_count_files`)."""
    return check_deletes(max_delete, plan.summary().file_deletes, _count_files(root, plan, max_delete), _APPLY,
                         where=str(root))


def _made_before(root: Path) -> set[str]:
    """The folders an interrupted apply was making (their modes are still the temporary 0700)."""
    try:
        raw = json.loads((root / META_DIR / MADE_DIRS).read_text(encoding="utf-8", errors="replace"))
    except (OSError, ValueError):
        return set()
    return {p for p in raw if isinstance(p, str)} if isinstance(raw, list) else set()


def _record(target: LocalReplica, header: ArchiveHeader, ident: bytes, report: ApplyReport) -> None:
    if header.against.scanned_ns > time.time_ns() + _FUTURE_NS:
        report.problems.append(Problem("", "the archive's index claims a time in the future; not recorded for "
                                           "the stale-archive check", "", error=False))
        return
    rec = {"archive": ident.hex(), "applied_ns": time.time_ns(), "against_root": header.against.root,
           "against_host": header.against.host, "against_scanned_ns": header.against.scanned_ns,
           "source_root": header.source.root, "source_host": header.source.host,
           "source_scanned_ns": header.source.scanned_ns, "errors": len(report.errors)}
    try:
        target.ensure_meta_dir()
        fd = target.tree.open(f"{META_DIR}/{APPLIED_LOG}", os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, (json.dumps(rec) + "\n").encode())
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError as exc:
        report.problems.append(Problem("", f"could not record this apply in {target.root}/{META_DIR}/{APPLIED_LOG}: "
                                           f"{exc.strerror or exc}", "", error=False))


# ---------------------------------------------------------------------------------------------- the target


class _ApplyTarget(LocalReplica):
    """DIR, where a staged file is renamed into place instead of copied when it can be. Like every
    LocalReplica it writes only through descriptors opened from the root without following symlinks, so a
    folder swapped for a symlink is never written through."""

    def stage_file(self, path: str, source: SourceFile) -> LocalStaged:
        if not isinstance(source, StagedOpen):
            return super().stage_file(path, source)
        # Committed straight from the staging folder (a kill leaves nothing in the tree, and the next apply
        # clears the staging folder), unless the destination is on another file system (a mount point) or
        # in a setgid folder (a file made there takes the folder's group, a renamed one would not).
        st = os.fstat(source.fd)
        folder = self.tree.lstat(parent(path))
        if folder.st_dev != st.st_dev or folder.st_mode & stat.S_ISGID:
            return super().stage_file(path, source)
        inode = st.st_ino if self.policy.report_ids else 0
        return LocalStaged(path, source.entry.size, source.staged.temp, self, inode)
