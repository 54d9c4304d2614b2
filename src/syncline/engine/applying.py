"""``syncline apply FILE DIR``: bring DIR to the state an archive describes, losing nothing made there.

Two passes over the archive:

1. **Verify and stage.** The whole archive is read and checked (format, paths, sizes, checksum). Each file
   it brings is rebuilt into ``DIR/.syncline/apply-<id>/`` (a delta from the file's current version in
   DIR) and checked against its digest. Any failure stops here, the staging folder is removed, and DIR is
   as it was.
2. **Apply.** Each path is compared with the state the archive expects there (the far index's entry):

   - already what the archive brings: nothing to do (so applying twice changes nothing, and an
     interrupted apply resumes where it stopped);
   - as expected: the change is made, through the executor (atomic renames, the old version to the trash);
   - changed here since the index was taken: the local version stays; an incoming file lands beside it as
     a conflict copy (``name.sync-conflict-<mtime>-<host>.ext``); a delete is not done. A file deleted here
     that the archive updates comes back (a change beats a delete).

   ``delete=False`` (``--no-delete``) adds and updates only.

Writes never go through a symlink: a path with a symlink (or a file) where a parent directory should be
is left alone and reported. An archive made against an index older than one a previous apply was made
against is refused (the folder has moved past it) unless ``force``.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

from ..core.archivefile import NONE, ArchiveHeader, ArchiveReader, Op, Piece, open_archive
from ..core.conflicts import conflict_name
from ..core.entry import DIR, FILE, SYMLINK, Entry
from ..core.errors import ArchiveFormatError, Problem, SafetyStop, UsageError
from ..core.hashing import open_regular
from ..core.paths import META_DIR, parent, sort_key
from ..core.plan import Action, Plan
from ..core.scan import resolve_root
from .crashpoints import crash_point
from .execute import execute
from .marker import ensure_meta_dir
from .replicas.local import LocalReplica, LocalStaged, entry_of_stat
from .replicas.replica import Replica, SourceFile
from .report import HasProblems, Report
from .state import root_lock

APPLIED_LOG = "applied.jsonl"


@dataclass(frozen=True)
class ApplyOptions:
    """``delete=False`` is ``--no-delete``; ``force`` applies an archive the folder has moved past."""

    delete: bool = True
    dry_run: bool = False
    trash: bool = True
    force: bool = False
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


def archive_id(path: str | os.PathLike[str]) -> bytes:
    """An archive's identity: its BLAKE3 trailer (valid once the archive has been verified)."""
    with open(path, "rb") as fh:
        fh.seek(-32, os.SEEK_END)
        return fh.read(32)


def apply_archive(archive: str | os.PathLike[str], target: str | os.PathLike[str],
                  options: ApplyOptions | None = None) -> ApplyReport:
    """Apply ``archive`` to the directory ``target``. Raises (with DIR untouched) ``ArchiveFormatError``
    for a bad archive, :class:`UsageError` for bad paths or too little space, :class:`SafetyStop` for an
    archive the folder has moved past; per-item problems are in the report."""
    opts = options or ApplyOptions()
    started = time.monotonic()
    root = resolve_root(target)
    fh, reader = open_archive(archive)
    with fh:
        header = reader.header
    report = ApplyReport(archive=os.fspath(archive), target=str(root), dry_run=opts.dry_run, ops=header.ops)
    report.done = Report(source=os.fspath(archive), target=str(root), dry_run=opts.dry_run)
    ident = archive_id(archive)
    _check_not_stale(root, header, ident, opts.force)
    _check_space(root, header)
    if opts.note_other_root and header.against.root != str(root):
        report.problems.append(Problem("", f"the archive was made against an index of {header.against.root}",
                                       "", error=False))
    with contextlib.ExitStack() as stack:
        if not opts.dry_run:
            stack.enter_context(root_lock(root))
        staging = _staging_dir(root, ident, opts.dry_run)
        stack.callback(_remove_tree, staging)
        ops, staged, in_place, unbuildable = _verify_and_stage(archive, root, staging)
        report.problems.extend(unbuildable)
        plan = _plan(root, header, ops, staged, in_place, {p.path for p in unbuildable}, opts, report)
        report.done.plan = plan
        if not opts.dry_run:
            execute(plan, cast(Replica, _StagedSource(staged)), _ApplyTarget(root, trash=opts.trash, keep_changed=True),
                    report=report.done, workers=opts.workers)
            report.problems.extend(report.done.problems)
            report.done.problems = []
            _record(root, header, ident, report)
    report.seconds = time.monotonic() - started
    return report


# ---------------------------------------------------------------------------------------------- checks


def _applied(root: Path) -> list[dict[str, Any]]:
    try:
        lines = (root / META_DIR / APPLIED_LOG).read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        return []
    out = []
    for line in lines:
        with contextlib.suppress(ValueError):
            rec = json.loads(line)
            if isinstance(rec, dict):
                out.append(rec)
    return out


def _check_not_stale(root: Path, header: ArchiveHeader, ident: bytes, force: bool) -> None:
    """Refuse an archive made against an index older than one a previously applied archive was made
    against (same indexed folder): the folder has moved past it. Archives against the same index are
    fine: each path is checked against what it holds anyway."""
    if force:
        return
    for rec in _applied(root):
        if rec.get("archive") == ident.hex():
            continue
        if (rec.get("against_root") == header.against.root and rec.get("against_host") == header.against.host
                and isinstance(rec.get("against_scanned_ns"), int)
                and rec["against_scanned_ns"] > header.against.scanned_ns):
            when = time.strftime("%Y-%m-%d %H:%M", time.localtime(header.against.scanned_ns / 1e9))
            later = time.strftime("%Y-%m-%d %H:%M", time.localtime(rec["against_scanned_ns"] / 1e9))
            raise SafetyStop(f"this archive was made against the index of {when}, but {root} has since applied "
                             f"an archive made against a newer index (of {later})",
                             "ask for an archive against a new index of this folder, or add --force to apply it "
                             "anyway (local changes are kept as they are)")


def _check_space(root: Path, header: ArchiveHeader) -> None:
    free = shutil.disk_usage(root).free
    if header.content_bytes > free:
        raise UsageError(f"applying the archive needs up to {header.content_bytes} bytes, but {root} has only "
                         f"{free} free", "free some space and run again; nothing was changed")


def _record(root: Path, header: ArchiveHeader, ident: bytes, report: ApplyReport) -> None:
    rec = {"archive": ident.hex(), "applied_ns": time.time_ns(), "against_root": header.against.root,
           "against_host": header.against.host, "against_scanned_ns": header.against.scanned_ns,
           "source_root": header.source.root, "source_host": header.source.host,
           "source_scanned_ns": header.source.scanned_ns, "errors": len(report.errors)}
    path = ensure_meta_dir(root) / APPLIED_LOG
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        os.write(fd, (json.dumps(rec) + "\n").encode())
        os.fsync(fd)
    finally:
        os.close(fd)


# ---------------------------------------------------------------------------------------------- pass 1


def _staging_dir(root: Path, ident: bytes, dry_run: bool) -> Path | None:
    if dry_run:
        return None
    staging = ensure_meta_dir(root) / f"apply-{ident.hex()[:16]}"
    _remove_tree(staging)  # what an interrupted apply left: it is made again
    staging.mkdir()
    return staging


def _remove_tree(path: Path | None) -> None:
    if path is not None:
        shutil.rmtree(path, ignore_errors=True)


@dataclass(frozen=True, slots=True)
class _StagedFile:
    temp: str
    entry: Entry


def _verify_and_stage(archive: str | os.PathLike[str], root: Path, staging: Path | None
                      ) -> tuple[list[Op], dict[str, _StagedFile], set[str], list[Problem]]:
    """Read the whole archive, staging the files it brings (``staging`` None: check only). Returns the ops,
    the staged files, the paths that already hold the archive's content, and the files that cannot be
    rebuilt. Raises ``ArchiveFormatError`` for anything wrong with the archive itself."""
    ops: list[Op] = []
    in_place: set[str] = set()
    staged: dict[str, _StagedFile] = {}
    unbuildable: list[Problem] = []
    fh, reader = open_archive(archive)
    try:
        with fh:
            for n, (op, pieces) in enumerate(reader):
                ops.append(op)
                if pieces is None:
                    continue
                assert op.entry is not None
                if _holds(root, op.path, op.entry):
                    in_place.add(op.path)
                    continue  # already in place: the pieces are checked by the reader's checksum alone
                temp = str(staging / f"{n:09d}") if staging is not None else None
                problem = _stage_one(root, op, pieces, temp, reader)
                if problem is not None:
                    unbuildable.append(problem)
                elif temp is not None:
                    staged[op.path] = _StagedFile(temp, op.entry)
                    crash_point("stage")
    except OSError as exc:
        raise UsageError(f"cannot stage the archive's files in {staging}: {exc.strerror or exc}",
                         "free some space or fix the permissions, then run again; nothing was changed") from None
    return ops, staged, in_place, unbuildable


def _holds(root: Path, path: str, entry: Entry) -> bool:
    """Whether the file at ``path`` already has ``entry``'s content (same size and digest: two writes in
    one timestamp tick can leave equal size and mtime over different content, so the digest decides)."""
    from ..core.hashing import digest_fd

    current = _lstat(root, path)
    if current is None or current.kind != FILE or current.size != entry.size:
        return False
    try:
        fd, _ = open_regular(f"{root}/{path}")
    except OSError:
        return False
    try:
        return digest_fd(fd, entry.size) == entry.digest
    except OSError:
        return False
    finally:
        os.close(fd)


def _stage_one(root: Path, op: Op, pieces: Iterator[Piece], temp: str | None,
               reader: ArchiveReader) -> Problem | None:
    """Write one file's content to ``temp`` (None: only check it). Returns a problem when a delta cannot be
    rebuilt because the local version is not the one the archive was made against."""
    import blake3

    assert op.entry is not None
    hasher = blake3.blake3()
    basis_fd = -1
    basis_ok = True
    out = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600) if temp is not None else -1
    try:
        for piece in pieces:
            if isinstance(piece, bytes):
                data = piece
            else:
                if basis_fd < 0:
                    basis_fd, basis_ok = _open_basis(root, op)
                offset, length = piece
                data = os.pread(basis_fd, length, offset) if basis_fd >= 0 else b""
                if len(data) != length:
                    basis_ok = False
                    data = data.ljust(length, b"\0")
            hasher.update(data)
            if out >= 0:
                _write_all(out, data)
        if hasher.digest() != op.entry.digest:
            if not basis_ok:
                return Problem(op.path, "not updated: the local file changed since the index was taken and the "
                                        "archive carries only the parts that differ from that version (make "
                                        "a new index and archive)", "destination")
            raise ArchiveFormatError(f"corrupt archive: the content of {op.path!r} does not match its digest",
                                     "ask for the archive again; nothing was changed")
        if out >= 0:
            os.fchmod(out, op.entry.mode)
            os.utime(out, ns=(op.entry.mtime_ns, op.entry.mtime_ns))
        return None
    finally:
        if out >= 0:
            os.close(out)
        if basis_fd >= 0:
            os.close(basis_fd)


def _open_basis(root: Path, op: Op) -> tuple[int, bool]:
    """(fd, whether it is the version the archive expects) of the local file a delta builds on."""
    try:
        fd, st = open_regular(f"{root}/{op.path}")
    except OSError:
        return -1, False
    x = op.expect
    return fd, x is not None and st.st_size == x.size and st.st_mtime_ns == x.mtime_ns


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        view = view[n:]


# ---------------------------------------------------------------------------------------------- pass 2


def _lstat(root: Path, path: str) -> Entry | None:
    p = f"{root}/{path}"
    try:
        st = os.lstat(p)
    except (FileNotFoundError, NotADirectoryError):
        return None
    target = os.readlink(p) if (st.st_mode & 0o170000) == 0o120000 else None
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


class _Parents:
    """Whether a path's parents are real directories in DIR (or made by this apply): writes never go
    through a symlink."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.ok: dict[str, bool] = {"": True}
        self.made: set[str] = set()

    def fine(self, path: str) -> bool:
        d = parent(path)
        if d in self.ok:
            return self.ok[d]
        if d in self.made:
            return self.fine(d)
        e = _lstat(self.root, d)
        good = e is not None and e.kind == DIR and self.fine(d)
        self.ok[d] = good
        return good


def _plan(root: Path, header: ArchiveHeader, ops: list[Op], staged: dict[str, _StagedFile], in_place: set[str],
          unbuildable: set[str], opts: ApplyOptions, report: ApplyReport) -> Plan:
    early: list[Action] = []  # creates and updates, parents first
    deletes: list[Action] = []
    late: list[Action] = []  # what replaces a directory: after the deletes that empty it
    metas: list[Action] = []
    parents = _Parents(root)
    if opts.dry_run:  # nothing is staged in a dry run: plan as if everything had been
        for op in ops:
            if op.content != NONE and op.entry is not None and op.path not in unbuildable:
                staged.setdefault(op.path, _StagedFile("", op.entry))
    for op in ops:
        e, x = op.entry, op.expect
        if op.path in unbuildable:
            continue
        if not parents.fine(op.path):
            report.problems.append(Problem(op.path, "not applied: a parent is not a directory here (a symlink or "
                                                    "a file is in the way)", "destination"))
            continue
        current = _lstat(root, op.path)
        if op.path in in_place or (op.content == NONE and _matches(current, e)):
            if e is not None and current is not None and e.kind == DIR:
                parents.made.add(op.path)
                metas.append(Action("meta", op.path, e, current))
            elif (e is not None and current is not None and e.kind == FILE
                  and (current.mode != e.mode or current.mtime_ns != e.mtime_ns)):
                early.append(Action("meta", op.path, e, current))
            else:
                report.already += 1
            continue
        if not _matches(current, x) and current is not None:
            _local_change(root, header, op, current, staged, early, report)
            continue
        if e is None:
            if not opts.delete:
                report.not_deleted += 1
                continue
            assert current is not None
            deletes.append(Action("delete", op.path, None, current))
            continue
        if e.kind == DIR:
            parents.made.add(op.path)
            if current is None or current.kind != DIR:
                early.append(Action("mkdir", op.path, e, current))
            metas.append(Action("meta", op.path, e, current if current is not None and current.kind == DIR else None))
            continue
        if e.kind == FILE and op.content == NONE:
            early.append(Action("meta", op.path, e, current))
            continue
        if e.kind == FILE and op.path not in staged:
            report.problems.append(Problem(op.path, "not applied: its content was not staged", "destination"))
            continue
        act = Action("copy" if e.kind == FILE else "symlink", op.path, e, current)
        (late if current is not None and current.kind == DIR else early).append(act)
    deletes.sort(key=lambda a: sort_key(a.path), reverse=True)
    deletes = _keep_added_to(root, deletes, report)
    metas.sort(key=lambda a: sort_key(a.path), reverse=True)
    return Plan(tuple(early + deletes + late + metas))


def _keep_added_to(root: Path, deletes: list[Action], report: ApplyReport) -> list[Action]:
    """The deletes (deepest first) without the directories that hold something this apply does not
    delete: what was added here since the index was taken keeps its folder (and the folders above)."""
    going = {a.path for a in deletes}
    kept: set[str] = set()
    for act in deletes:
        if act.expect is None or act.expect.kind != DIR:
            continue
        try:
            names = os.listdir(f"{root}/{act.path}")
        except OSError:
            continue
        if any(f"{act.path}/{n}" not in going for n in names):
            going.discard(act.path)
            kept.add(act.path)
            report.kept += 1
            report.problems.append(Problem(act.path, "not deleted: it holds entries added here since the index "
                                                     "was taken", "destination", error=False))
    return [a for a in deletes if a.path not in kept]


def _local_change(root: Path, header: ArchiveHeader, op: Op, current: Entry, staged: dict[str, _StagedFile],
                  early: list[Action], report: ApplyReport) -> None:
    """``op.path`` changed here since the index was taken: keep it; a file or symlink the archive brings
    lands as a conflict copy beside it."""
    e = op.entry
    if e is None or e.kind == DIR or (e.kind == FILE and op.content == NONE):
        report.kept += 1
        what = "not deleted" if e is None else "left as it is"
        report.problems.append(Problem(op.path, f"changed here since the index was taken; {what}", "destination",
                                       error=False))
        return
    for n in range(100):
        copy = conflict_name(op.path, e.mtime_ns, header.source.host, n)
        there = _lstat(root, copy)
        if there is None or _matches(there, e):
            break
    else:
        report.problems.append(Problem(op.path, "no free name for a conflict copy", "destination"))
        return
    report.conflicts.append((op.path, copy))
    if there is not None:
        report.already += 1
        return
    if e.kind == FILE:
        if op.path not in staged:
            report.problems.append(Problem(op.path, "not applied: its content was not staged", "destination"))
            return
        staged[copy] = staged[op.path]
        early.append(Action("copy", copy, e, None))
    else:
        early.append(Action("symlink", copy, e, None))


# ---------------------------------------------------------------------------------------------- replicas


class _StagedOpen:
    """A staged file seen as a source file: it never changes (only this run writes the staging folder)."""

    def __init__(self, staged: _StagedFile) -> None:
        self.staged = staged
        self.entry = staged.entry

    def fileno(self) -> int:
        raise OSError("a staged file is moved into place, not copied")

    def changed(self) -> bool:
        return False


class _StagedSource:
    """The executor's source: the files staged from the archive, by the path they go to."""

    def __init__(self, staged: dict[str, _StagedFile]) -> None:
        self.staged = staged

    def describe(self) -> str:
        return "archive"

    @contextmanager
    def open_file(self, path: str) -> Iterator[_StagedOpen]:
        s = self.staged.get(path)
        if s is None or not Path(s.temp).exists():
            raise FileNotFoundError(path)
        yield _StagedOpen(s)


class _ApplyTarget(LocalReplica):
    """DIR, where a staged file is renamed into place instead of copied (it is on the same file system)."""

    def stage_file(self, path: str, source: SourceFile) -> LocalStaged:
        if not isinstance(source, _StagedOpen):
            return super().stage_file(path, source)
        temp = source.staged.temp
        # A conflict copy and the path itself may share one staged file: the second use needs its own.
        mine = f"{temp}.{len(path)}-{abs(hash(path)):x}"
        try:
            os.link(temp, mine)
        except OSError:
            shutil.copy2(temp, mine)
        return LocalStaged(path, source.entry.size, mine, os.lstat(mine).st_ino if self.tell_inodes else 0)
