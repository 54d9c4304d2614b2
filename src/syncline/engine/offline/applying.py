"""``syncline apply FILE DIR``: bring DIR to the state an archive describes, losing nothing made there.

Two passes:

1. **Verify and stage.** The whole archive is read and checked (format, paths, sizes, checksum). Each file
   it brings is rebuilt into ``DIR/.syncline/apply-<random>/`` (a delta from the file's current version
   in DIR) and checked against its digest. Any failure stops here, the staging folder is removed, and DIR
   is as it was.
2. **Apply.** Each path is compared with the state the archive expects there (the far index's entry):

   - already what the archive brings: nothing to do (so applying twice changes nothing, and an
     interrupted apply resumes where it stopped);
   - as expected (kind, size, mtime, mode, target): the change is made through the executor (atomic
     renames, the old version to the trash);
   - changed here since the index was taken: the local version stays; an incoming file, symlink or folder
     lands beside it under a conflict name (``name.sync-conflict-<mtime>-<host>.ext``); a delete is not
     done; a folder holding something added here is not deleted or replaced. A file deleted here that the
     archive updates comes back (a change beats a delete).

   ``delete=False`` (``--no-delete``) adds and updates only. More file deletions than ``max_delete`` stop
   the run before anything changes, unless ``force``.

Writes never go through a symlink: the target replica checks, right before each write, that every parent
of the path is a real directory. An archive made against an index older than one a previous apply was made
against is refused (the folder has moved past it) unless ``force``. Setuid and setgid bits are not applied.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import stat
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, cast

from ...core.conflicts import conflict_name
from ...core.entry import DIR, FILE, SYMLINK, Entry
from ...core.errors import ArchiveFormatError, Problem, SafetyStop, UsageError
from ...core.hashing import digest_fd
from ...core.paths import META_DIR, is_under, parent, sort_key
from ...core.plan import Action, Plan
from ...core.scan import resolve_root
from ...formats.archivefile import NONE, WHOLE, ArchiveHeader, ArchiveOp, ArchiveReader, Piece, open_archive
from ..crashpoints import crash_point
from ..execute import execute
from ..replicas.confined import Confined, write_all
from ..replicas.local import LocalReplica, LocalStaged, entry_of_stat, open_regular_in
from ..replicas.replica import Replica, SourceFile
from ..report import HasProblems, Report

APPLIED_LOG = "applied.jsonl"
MADE_DIRS = "made-dirs.json"  # folders a running apply makes: on a rerun after a kill, they are ours
STAGING_PREFIX = "apply-"
DEFAULT_MAX_DELETE = 0.5
BLOCK = 1 << 20
_FUTURE_NS = 86_400 * 10**9  # an index "taken" more than a day from now is not believed
_SETID = stat.S_ISUID | stat.S_ISGID


@dataclass(frozen=True)
class ApplyOptions:
    """``delete=False`` is ``--no-delete``. ``force`` applies an archive the folder has moved past, and
    more deletions than ``max_delete`` (a file count, or a fraction of DIR's files)."""

    delete: bool = True
    dry_run: bool = False
    trash: bool = True
    force: bool = False
    max_delete: int | float = DEFAULT_MAX_DELETE
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
        target_dir = _ApplyTarget(root, trash=opts.trash, keep_changed=True)
        stack.callback(target_dir.close)
        if not opts.dry_run:
            stack.enter_context(target_dir.lock())
        staging = _staging_dir(target_dir, opts.dry_run)
        stack.callback(_remove_staging, target_dir, staging)
        try:
            ops, staged, in_place, unbuildable = _verify_and_stage(reader, target_dir, staging)
        except MemoryError:
            raise ArchiveFormatError("the archive holds more changes than fit in memory",
                                     "ask for smaller archives; nothing was changed") from None
        report.problems.extend(unbuildable)
        plan = _Planner(root, header, staged, in_place, {p.path for p in unbuildable}, opts, report).plan(ops)
        report.done.plan = plan
        if not opts.force:
            try:
                _guard_deletes(root, plan, opts.max_delete)
            except SafetyStop as stop:
                if not opts.dry_run:
                    raise
                report.problems.append(Problem("", f"{stop.message}: a real run would stop here", "",))
        if not opts.dry_run:
            made = sorted({a.path for a in plan.actions if a.op == "mkdir"} | _made_before(root))
            target_dir.write_meta(MADE_DIRS, json.dumps(made))
            execute(plan, cast(Replica, _StagedSource(staged, target_dir.tree)), target_dir, report=report.done,
                    workers=opts.workers)
            with contextlib.suppress(FileNotFoundError):
                target_dir.tree.unlink(f"{META_DIR}/{MADE_DIRS}")
            report.problems.extend(report.done.problems)
            report.done.problems = []
            _record(target_dir, header, reader.checksum, report)
    report.seconds = time.monotonic() - started
    return report


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


def _guard_deletes(root: Path, plan: Plan, max_delete: int | float) -> None:
    """Stop before deleting more files than ``max_delete`` (an archive made from an empty or unmounted
    source must not empty DIR)."""
    deletes = sum(1 for a in plan.actions if a.op == "delete" and a.expect is not None and a.expect.kind != DIR)
    if not deletes:
        return
    if isinstance(max_delete, float):
        total = 0
        for dirpath, dirnames, filenames in os.walk(root):
            if dirpath == str(root):
                dirnames[:] = [d for d in dirnames if d != META_DIR]
            total += len(filenames)
        limit = max_delete * total
        shown = f"{max_delete:.0%} of its {total} files"
    else:
        limit, shown = max_delete, f"{max_delete} files"
    if deletes > limit:
        raise SafetyStop(f"the archive would delete {deletes} files in {root}, more than --max-delete ({shown})",
                         "check where the archive comes from; add --force (or --no-delete) to go ahead")


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


# ---------------------------------------------------------------------------------------------- pass 1


def _staging_dir(target: LocalReplica, dry_run: bool) -> str | None:
    """A fresh staging folder in DIR/.syncline, as a path in the tree (the caller holds DIR's lock). What
    interrupted applies left there goes to the trash: a kill between the swap of a file into place and the
    move of the replaced version to the trash could leave that version there, so it is not removed."""
    try:
        meta = target.tree.lstat(META_DIR)
    except FileNotFoundError:
        meta = None
    if meta is not None and not stat.S_ISDIR(meta.st_mode):
        raise UsageError(f"{target.root / META_DIR} is not a directory",
                         "move it away and run again; nothing was changed")
    if dry_run:
        return None
    target.ensure_meta_dir()
    with target.tree.listing(META_DIR) as it:
        leftovers = sorted(d.name for d in it if d.name.startswith(STAGING_PREFIX) and d.is_dir(follow_symlinks=False))
    for old in leftovers:
        target.trash.adopt(f"{META_DIR}/{old}", f"{META_DIR}-{old}")
    staging = f"{META_DIR}/{STAGING_PREFIX}{os.urandom(8).hex()}"
    target.tree.mkdir(staging, 0o700)
    return staging


def _remove_staging(target: LocalReplica, staging: str | None) -> None:
    if staging is not None:
        with contextlib.suppress(OSError):
            target.tree.rmtree(staging)


@dataclass(frozen=True, slots=True)
class _StagedFile:
    temp: str
    entry: Entry


def _verify_and_stage(reader: ArchiveReader, target: LocalReplica, staging: str | None
                      ) -> tuple[list[ArchiveOp], dict[str, _StagedFile], dict[str, Entry], list[Problem]]:
    """Read the whole archive, staging the files it brings (``staging`` None: check only). Returns the ops,
    the staged files, the paths that already hold the archive's content (with the stat they had then),
    and the files that cannot be rebuilt. Raises ``ArchiveFormatError`` for anything wrong with the
    archive itself, :class:`UsageError` when the staging folder cannot be written."""
    ops: list[ArchiveOp] = []
    in_place: dict[str, Entry] = {}
    staged: dict[str, _StagedFile] = {}
    unbuildable: list[Problem] = []
    tree = target.tree
    try:
        for n, (op, pieces) in enumerate(reader):
            ops.append(op)
            if pieces is None:
                continue
            assert op.entry is not None
            held = _holds(tree, op.path, op.entry)
            if held is not None:
                in_place[op.path] = held
                continue  # already in place: the pieces are checked by the reader's checksum alone
            temp = f"{staging}/{n:09d}" if staging is not None else None
            problem = _stage_one(tree, op, pieces, temp)
            if problem is not None:
                unbuildable.append(problem)
            elif temp is not None:
                staged[op.path] = _StagedFile(temp, op.entry)
                crash_point("stage")
    except OSError as exc:
        raise UsageError(f"cannot stage the archive's files in {target.abspath(staging or META_DIR)}: "
                         f"{exc.strerror or exc}",
                         "free some space or fix the permissions, then run again; nothing was changed") from None
    return ops, staged, in_place, unbuildable


def _holds(tree: Confined, path: str, entry: Entry) -> Entry | None:
    """The stat of the file at ``path`` when it already has ``entry``'s content (same size and digest: two
    writes in one timestamp tick can leave equal size and mtime over different content), else None."""
    try:
        fd, st = open_regular_in(tree, path)
    except OSError:
        return None
    try:
        if st.st_size != entry.size or digest_fd(fd, entry.size) != entry.digest:
            return None
        after = entry_of_stat(os.fstat(fd))
        return after if after is not None and after.unchanged_since(entry_of_stat(st) or after) else None
    except OSError:
        return None
    finally:
        os.close(fd)


def _stage_one(tree: Confined, op: ArchiveOp, pieces: Iterator[Piece], temp: str | None) -> Problem | None:
    """Write one file's content to ``temp`` (None: only check it). Returns a problem when a delta cannot be
    rebuilt because the local version is not the one the archive was made against; raises
    ``ArchiveFormatError`` when whole content does not match its digest."""
    import blake3

    assert op.entry is not None
    hasher = blake3.blake3()
    basis_fd = -1
    out = tree.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600) if temp is not None else -1
    try:
        for piece in pieces:
            if isinstance(piece, bytes):
                hasher.update(piece)
                if out >= 0:
                    write_all(out, piece)
                continue
            if basis_fd < 0:
                basis_fd = _open_basis(tree, op)
                if basis_fd < 0:
                    return _not_rebuilt(op)
            if not _copy_range(basis_fd, piece, hasher, out):
                return _not_rebuilt(op)
        if hasher.digest() != op.entry.digest:
            if op.content == WHOLE:
                raise ArchiveFormatError(f"corrupt archive: the content of {op.path!r} does not match its digest",
                                         "ask for the archive again; nothing was changed")
            return _not_rebuilt(op)
        if out >= 0:
            os.fchmod(out, op.entry.mode & ~_SETID)
            os.utime(out, ns=(op.entry.mtime_ns, op.entry.mtime_ns))
        return None
    finally:
        if out >= 0:
            os.close(out)
        if basis_fd >= 0:
            os.close(basis_fd)


def _not_rebuilt(op: ArchiveOp) -> Problem:
    return Problem(op.path, "not updated: the local file is not the version the archive was made against, and "
                            "the archive carries only the parts that differ from that version (make a new "
                            "index and archive)", "destination")


def _open_basis(tree: Confined, op: ArchiveOp) -> int:
    """The local file a delta builds on, opened (-1 when it cannot be)."""
    try:
        fd, _ = open_regular_in(tree, op.path)
    except OSError:
        return -1
    return fd


def _copy_range(basis_fd: int, piece: tuple[int, int], hasher: Any, out: int) -> bool:
    """Copy ``piece`` (offset, length) of the basis into the hash and ``out``, a block at a time; False when
    the basis ends too soon."""
    offset, length = piece
    while length:
        data = os.pread(basis_fd, min(BLOCK, length), offset)
        if not data:
            return False
        hasher.update(data)
        if out >= 0:
            write_all(out, data)
        offset += len(data)
        length -= len(data)
    return True


# ---------------------------------------------------------------------------------------------- pass 2


def _lstat(root: Path, path: str) -> Entry | None:
    """What DIR holds at ``path`` (None: nothing, or a parent is not a directory). Other errors raise."""
    p = f"{root}/{path}"
    try:
        st = os.lstat(p)
    except (FileNotFoundError, NotADirectoryError):
        return None
    target = os.readlink(p) if stat.S_ISLNK(st.st_mode) else None
    return entry_of_stat(st, target)


def _matches(current: Entry | None, want: Entry | None) -> bool:
    """Whether what is on disk is ``want`` (None: absent), by kind, size, mtime and target."""
    if current is None or want is None:
        return current is None and want is None
    if current.kind != want.kind:
        return False
    if want.kind == FILE:
        return current.size == want.size and current.mtime_ns == want.mtime_ns
    if want.kind == SYMLINK:
        return current.target == want.target
    return True


def _as_expected(current: Entry | None, expect: Entry | None) -> bool:
    """Whether DIR still holds what the far index saw: :func:`_matches`, and the mode of a file (a chmod
    does not move the mtime, and must not be undone silently)."""
    if not _matches(current, expect):
        return False
    return current is None or expect is None or current.kind != FILE or current.mode == expect.mode


class _Planner:
    """Pass 2: the plan for what DIR holds now (see the module docstring).

    Modes: the archive's mode is applied only where DIR still has the mode the far index saw; a mode set
    here since (a chmod, or a file or folder both sides made) stays. Setuid and setgid bits are never added
    by an archive, only kept where DIR has them.
    """

    def __init__(self, root: Path, header: ArchiveHeader, staged: dict[str, _StagedFile], in_place: dict[str, Entry],
                 unbuildable: set[str], opts: ApplyOptions, report: ApplyReport) -> None:
        self.root = root
        self.host = header.source.host
        self.root_mtime_ns = header.root_mtime_ns
        self.staged = staged
        self.in_place = in_place
        self.unbuildable = unbuildable
        self.opts = opts
        self.report = report
        self.early: list[Action] = []  # creates and updates, parents first
        self.deletes: list[Action] = []
        self.late: list[Action] = []  # what replaces a directory: after the deletes that empty it
        self.metas: list[Action] = []
        self.dirs_ok: dict[str, bool] = {"": True}
        self.made: set[str] = set()  # directories this plan makes
        self.redirect: dict[str, str] = {}  # an incoming folder that lands under a conflict name
        self.blocked: list[str] = []  # not replaced (--no-delete): what the archive has below is skipped
        self.setid = 0
        self.top_level = False  # an op touches the root's own listing
        self.ours = _made_before(root)

    def plan(self, ops: list[ArchiveOp]) -> Plan:
        if self.opts.dry_run:  # nothing is staged in a dry run: plan as if everything had been
            for op in ops:
                if op.content != NONE and op.entry is not None and op.path not in self.unbuildable \
                        and op.path not in self.in_place:
                    self.staged.setdefault(op.path, _StagedFile("", op.entry))
        for op in ops:
            if op.path in self.unbuildable:
                continue
            if "/" not in op.path:
                self.top_level = True
            if any(is_under(op.path, b) for b in self.blocked):
                continue
            try:
                moved = self._redirected(op)
                if moved is not op:
                    self._under_redirect(moved)
                else:
                    self._one(op)
            except OSError as exc:
                self.report.problems.append(Problem(op.path, f"not applied: cannot read what is here "
                                                             f"({exc.strerror or exc})", "destination"))
        if self.setid:
            self.report.problems.append(Problem("", f"setuid and setgid bits of {self.setid} items not applied",
                                                "", error=False))
        self.deletes.sort(key=lambda a: sort_key(a.path), reverse=True)
        self._keep_what_was_added()
        self.metas.sort(key=lambda a: sort_key(a.path), reverse=True)
        self._root_mtime()
        return Plan(tuple(self.early + self.deletes + self.late + self.metas))

    def _root_mtime(self) -> None:
        """The root's mtime as the source's when the archive touches the root's listing (also on a rerun
        after a kill, when those changes are already in place). Its mode stays."""
        if self.root_mtime_ns is None or not self.top_level:
            return
        current = _lstat(self.root.parent, self.root.name) if self.root.name else None
        if current is not None and current.kind == DIR and current.mtime_ns != self.root_mtime_ns:
            self.metas.append(Action("meta", "", current._replace(mtime_ns=self.root_mtime_ns), current))

    def _redirected(self, op: ArchiveOp) -> ArchiveOp:
        """``op`` moved under the conflict name of an incoming folder that could not take its place."""
        for src, dst in self.redirect.items():
            if is_under(op.path, src) and op.path != src:
                path = dst + op.path[len(src):]
                if op.path in self.staged:
                    self.staged[path] = self.staged[op.path]
                return replace(op, path=path, expect=None)
        return op

    def _under_redirect(self, op: ArchiveOp) -> None:
        """An op of an incoming folder that landed under a conflict name: created there once; what is
        already there (an earlier apply, or one killed half-way) is left as it is."""
        e = op.entry
        if e is None or not self._parents_fine(op.path):
            return
        current = _lstat(self.root, op.path)
        if current is not None:
            if e.kind == DIR and current.kind == DIR:
                self.made.add(op.path)
                self._existing_dir(op.path, e, current)
            elif not _matches(current, e):
                self.report.problems.append(Problem(op.path, "left as it is (made here since an earlier apply)",
                                                    "destination", error=False))
            return
        if e.kind == DIR:
            self.made.add(op.path)
            self.early.append(Action("mkdir", op.path, e, None))
            self.metas.append(Action("meta", op.path, e, None))
        elif e.kind == SYMLINK:
            self.early.append(Action("symlink", op.path, e, None))
        elif op.content != NONE and op.path in self.staged:
            self.early.append(Action("copy", op.path, e, None))

    def _existing_dir(self, path: str, e: Entry, current: Entry) -> None:
        """A folder this apply would make that is there already: an earlier (maybe killed) apply made it,
        and then it gets the archive's mode; or it was made here, and keeps its own."""
        mode = e.mode & ~_SETID if path in self.ours else current.mode
        if current.mode != mode or current.mtime_ns != e.mtime_ns:
            self.metas.append(Action("meta", path, e._replace(mode=mode), current))

    def _parents_fine(self, path: str) -> bool:
        d = parent(path)
        if d in self.dirs_ok:
            return self.dirs_ok[d]
        if d in self.made:
            return self._parents_fine(d)
        e = _lstat(self.root, d)
        good = e is not None and e.kind == DIR and self._parents_fine(d)
        self.dirs_ok[d] = good
        return good

    def _mode_for(self, path: str, e: Entry, x: Entry | None, current: Entry | None) -> Entry:
        """``e`` with the mode DIR should end with: the local mode where it changed here (or both sides made
        the path), and no setuid or setgid bit DIR does not already have."""
        if e.kind == SYMLINK:
            return e
        mode = e.mode
        if current is not None and current.kind == e.kind and (x is None or current.mode != x.mode) \
                and path not in self.ours:
            mode = current.mode
        extra = mode & _SETID & ~(current.mode if current is not None and current.kind == e.kind else 0)
        if extra:
            self.setid += 1
            mode &= ~extra
        return e if mode == e.mode else e._replace(mode=mode)

    def _one(self, op: ArchiveOp) -> None:
        e, x, report = op.entry, op.expect, self.report
        if not self._parents_fine(op.path):
            if e is None:
                # Nothing of DIR can be below a folder that is gone or below a non-directory (nothing is
                # followed through a symlink), so the delete is done: an earlier apply of this archive, or a
                # killed one, removed the folder or replaced it (that op reports whatever else is there).
                report.already += 1
                return
            report.problems.append(Problem(op.path, "not applied: a parent is not a directory here (a symlink or "
                                                    "a file is in the way)", "destination"))
            return
        current = _lstat(self.root, op.path)
        if e is not None:
            e = self._mode_for(op.path, e, x, current)
        if op.content == NONE:
            done = _matches(current, e) and (e is None or current is None or e.kind != FILE
                                             or current.mode == e.mode)
        else:
            held = self.in_place.get(op.path)
            done = held is not None and current is not None and current.unchanged_since(held)
        if done:
            self._in_place(op.path, e, current)
            return
        if current is not None and not _as_expected(current, x):
            self._local_change(op, e, current)
            return
        if e is None:
            if not self.opts.delete:
                report.not_deleted += 1
            elif current is not None:
                self.deletes.append(Action("delete", op.path, None, current))
            return
        if current is not None and current.kind != e.kind and not self.opts.delete:
            self.blocked.append(op.path)
            report.not_deleted += 1
            report.problems.append(Problem(op.path, f"not replaced by a {e.kind} (--no-delete)", "destination",
                                           error=False))
            return
        if e.kind == DIR:
            self.made.add(op.path)
            if current is None or current.kind != DIR:
                self._add(Action("mkdir", op.path, e, current), current)
            self.metas.append(Action("meta", op.path, e, current if current is not None and current.kind == DIR
                                     else None))
            return
        if e.kind == FILE and op.content == NONE:
            if current is not None:
                self.early.append(Action("meta", op.path, e, current))
            return
        if e.kind == FILE and op.path not in self.staged:
            report.problems.append(Problem(op.path, "not applied: its content was not staged", "destination"))
            return
        self._add(Action("copy" if e.kind == FILE else "symlink", op.path, e, current), current)
        if e.kind == FILE and e.mode & _SETID:
            self.early.append(Action("meta", op.path, e, None))  # staged files carry no setuid/setgid bit

    def _add(self, act: Action, current: Entry | None) -> None:
        (self.late if current is not None and current.kind == DIR and act.op != "mkdir" else self.early).append(act)

    def _in_place(self, path: str, e: Entry | None, current: Entry | None) -> None:
        """DIR already holds what the archive brings: at most its mtime (and mode, see ``_mode_for``)."""
        if e is None or current is None:
            self.report.already += 1
        elif e.kind == DIR:
            self.made.add(path)
            self.metas.append(Action("meta", path, e, current))
        elif e.kind == FILE and (current.mode != e.mode or current.mtime_ns != e.mtime_ns):
            self.early.append(Action("meta", path, e, current))
        else:
            self.report.already += 1

    def _local_change(self, op: ArchiveOp, e: Entry | None, current: Entry) -> None:
        """``op.path`` changed here since the index was taken: keep it; what the archive brings (a file, a
        symlink, a folder) lands beside it under a conflict name."""
        report = self.report
        if e is not None and e.kind == DIR and current.kind == DIR:
            # Both folders: the folder stays, with the local mode; its content is decided path by path.
            self.made.add(op.path)
            self.metas.append(Action("meta", op.path, e._replace(mode=current.mode), current))
            return
        if e is None or (e.kind == FILE and op.content == NONE):
            report.kept += 1
            what = "not deleted" if e is None else "left as it is"
            report.problems.append(Problem(op.path, f"changed here since the index was taken; {what}",
                                           "destination", error=False))
            return
        found = self._conflict_copy(op.path, e)
        if found is None:
            return
        copy, there = found
        if e.kind == DIR:
            self.redirect[op.path] = copy
            self.made.add(copy)
            current_copy = _lstat(self.root, copy) if there else None
            if current_copy is None:
                self.early.append(Action("mkdir", copy, e, None))
                self.metas.append(Action("meta", copy, e, None))
            else:
                self._existing_dir(copy, e, current_copy)
        elif there:
            report.already += 1
        elif e.kind == FILE:
            if op.path not in self.staged:
                report.problems.append(Problem(op.path, "not applied: its content was not staged", "destination"))
                return
            self.staged[copy] = self.staged[op.path]
            self.early.append(Action("copy", copy, e, None))
        else:
            self.early.append(Action("symlink", copy, e, None))

    def _conflict_copy(self, path: str, e: Entry) -> tuple[str, bool] | None:
        """(the conflict name for the incoming version of ``path``, whether it is there already)."""
        for n in range(100):
            copy = conflict_name(path, e.mtime_ns, self.host, n)
            there = _lstat(self.root, copy)
            if there is None or _matches(there, e):
                break
        else:
            self.report.problems.append(Problem(path, "no free name for a conflict copy", "destination"))
            return None
        self.report.conflicts.append((path, copy))
        return copy, there is not None

    def _keep_what_was_added(self) -> None:
        """Folders that hold something this apply does not delete (added here since the index was taken)
        are neither deleted nor replaced; what would have replaced one lands beside it as a conflict copy."""
        going = {a.path for a in self.deletes}
        kept: set[str] = set()
        for act in self.deletes:  # deepest first: a kept folder keeps its parents too
            if act.expect is not None and act.expect.kind == DIR and self._holds_more(act.path, going):
                going.discard(act.path)
                kept.add(act.path)
                self.report.kept += 1
                self.report.problems.append(Problem(act.path, "not deleted: it holds entries added here since the "
                                                              "index was taken", "destination", error=False))
        self.deletes = [a for a in self.deletes if a.path not in kept]
        late = []
        for act in self.late:
            if not self._holds_more(act.path, going):
                late.append(act)
                continue
            assert act.entry is not None
            found = self._conflict_copy(act.path, act.entry)
            if found is None:
                continue
            copy, there = found
            if there:
                self.report.already += 1
                continue
            if act.op == "copy":
                self.staged[copy] = self.staged[act.path]
            self.early.append(Action(act.op, copy, act.entry, None))
        self.late = late

    def _holds_more(self, path: str, going: set[str]) -> bool:
        try:
            names = os.listdir(f"{self.root}/{path}")
        except OSError:
            return True
        return any(f"{path}/{n}" not in going for n in names)


# ---------------------------------------------------------------------------------------------- replicas


class _StagedOpen:
    """A staged file seen as a source file: it never changes (only this run writes the staging folder)."""

    def __init__(self, staged: _StagedFile, fd: int) -> None:
        self.staged = staged
        self.entry = staged.entry
        self.fd = fd

    def fileno(self) -> int:
        return self.fd

    def readinto(self, buffer: memoryview) -> int:
        return os.readv(self.fd, [buffer])

    def changed(self) -> bool:
        return False


class _StagedSource:
    """The executor's source: the files staged from the archive (in DIR's tree), by the path they go to."""

    def __init__(self, staged: dict[str, _StagedFile], tree: Confined) -> None:
        self.staged = staged
        self.tree = tree

    def describe(self) -> str:
        return "archive"

    @contextmanager
    def open_file(self, path: str) -> Iterator[_StagedOpen]:
        s = self.staged.get(path)
        if s is None:
            raise FileNotFoundError(path)
        fd = self.tree.open(s.temp, os.O_RDONLY)
        try:
            yield _StagedOpen(s, fd)
        finally:
            os.close(fd)


class _ApplyTarget(LocalReplica):
    """DIR, where a staged file is renamed into place instead of copied when it can be. Like every
    LocalReplica it writes only through descriptors opened from the root without following symlinks, so a
    folder swapped for a symlink is never written through."""

    def stage_file(self, path: str, source: SourceFile) -> LocalStaged:
        if not isinstance(source, _StagedOpen):
            return super().stage_file(path, source)
        # Committed straight from the staging folder (a kill leaves nothing in the tree, and the next apply
        # clears the staging folder), unless the destination is on another file system (a mount point) or
        # in a setgid folder (a file made there takes the folder's group, a renamed one would not).
        st = os.fstat(source.fd)
        folder = self.tree.lstat(parent(path))
        if folder.st_dev != st.st_dev or folder.st_mode & stat.S_ISGID:
            return super().stage_file(path, source)
        return LocalStaged(path, source.entry.size, source.staged.temp, self, st.st_ino if self.tell_inodes else 0)
