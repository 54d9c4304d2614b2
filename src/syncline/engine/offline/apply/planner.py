"""The apply planner: from the archive's ops and DIR as scanned up front, the plan. Pure: no I/O.

For each op, what DIR holds at its path (``Here``) is compared with the far entry the op expects and the
entry it brings:

- already what the archive brings: nothing to do (at most the mtime or mode), counted as ``already``;
- as expected (kind, size, mtime, mode, target): the change, as an executor action whose ``expect`` is
  what the scan saw (the executor re-checks it right before each write);
- changed here since the index was taken: kept; what the archive brings lands beside it under a conflict
  name (an incoming folder takes the ops below it there too); a delete is not done;
- below a parent that is not a directory here: not applied (a delete there is already done);
- below a folder the scan could not read: not applied.

Deletes come children first after every create and update; what replaces a directory comes after the
deletes that empty it; folder metadata last, deepest first. A folder that holds anything the plan does not
delete (added here, or unseen by the index: ``Here.unlisted``) is neither deleted nor replaced.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterable, Mapping, Sequence, Set
from dataclasses import dataclass, field, replace

from ....core.conflicts import conflict_name
from ....core.entry import DIR, FILE, SYMLINK, Entry
from ....core.errors import Problem
from ....core.index import Index
from ....core.paths import is_under, parent, sort_key
from ....core.plan import Action, Plan
from ....formats.archivefile import NONE, ArchiveHeader, ArchiveOp

SETID = stat.S_ISUID | stat.S_ISGID  # never added by an archive


@dataclass(frozen=True)
class Here:
    """DIR as scanned just before planning: all the planner knows of it.

    ``index`` holds DIR's entries as they are on disk (no ignore rules; nothing in ``.syncline``), in the
    folders the ops name: the folder of each op and every folder above it, listed, and whole the folders
    the archive removes or replaces (what the run scans). ``root``
    is DIR's own lstat (None for ``/``). ``ours`` are the folders an interrupted apply was making (their
    mode is still the temporary one). ``unlisted`` are paths that are there but that the index does not
    record (syncline's temp files, special files, entries that could not be read, nested ``.syncline``
    folders): a folder holding one is not empty.
    """

    index: Index
    root: Entry | None = None
    ours: frozenset[str] = frozenset()
    unlisted: frozenset[str] = frozenset()

    def at(self, path: str) -> Entry | None:
        """What DIR holds at ``path`` (None: nothing there)."""
        return self.index.entries.get(path)

    def unseen(self, path: str) -> str | None:
        """Why the scan could not see what is at ``path`` (a folder above it could not be listed, or it
        could not be read itself), or None when it could."""
        unreadable = self.index.unreadable
        if not unreadable:
            return None
        where = path if path in unreadable and path not in self.index.entries else None
        p = path
        while where is None and p:
            p = parent(p)
            if p in unreadable:
                where = p
        if where is None:
            return None
        for problem in self.index.problems:
            if problem.path == where:
                return os.strerror(problem.errno) if problem.errno else problem.message
        return "it could not be read"


@dataclass
class Planned:
    """What :meth:`Planner.plan` decided: the ``plan``; ``content``, each path the plan copies to that is
    not an op's own path (a conflict copy, a path below an incoming folder that moved) -> the op path whose
    staged file it takes; and what the report counts: paths ``already`` in place, paths ``kept`` because
    they changed here, deletes ``not_deleted`` (``--no-delete``), the ``conflicts`` (path, copy) and the
    per-item ``problems``."""

    plan: Plan
    content: dict[str, str] = field(default_factory=dict)
    already: int = 0
    kept: int = 0
    not_deleted: int = 0
    conflicts: list[tuple[str, str]] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)


def matches(current: Entry | None, want: Entry | None) -> bool:
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


def as_expected(current: Entry | None, expect: Entry | None) -> bool:
    """Whether DIR still holds what the far index saw: :func:`matches`, and the mode of a file (a chmod
    does not move the mtime, and must not be undone silently)."""
    if not matches(current, expect):
        return False
    return current is None or expect is None or current.kind != FILE or current.mode == expect.mode


class Planner:
    """The plan that brings DIR, as ``here`` shows it, to what the archive's ops bring (see the package
    docstring for the rules). Pure: it reads and writes nothing; a Planner plans once.

    Inputs besides ``here``: ``header`` (the source's host names conflict copies; the root's mtime),
    ``staged`` (the paths whose incoming content is staged: in a dry run, none, and every path with content
    counts as staged), ``in_place`` (the paths that already held the incoming content when staging looked,
    with the stat they had then), ``unbuildable`` (the paths whose content could not be rebuilt: skipped),
    ``delete`` (False: ``--no-delete``) and ``dry_run``.

    Modes: the archive's mode is applied only where DIR still has the mode the far index saw; a mode set
    here since (a chmod, or a file or folder both sides made) stays. Setuid and setgid bits are never added
    by an archive, only kept where DIR has them.
    """

    def __init__(self, here: Here, header: ArchiveHeader, staged: Iterable[str], in_place: Mapping[str, Entry],
                 unbuildable: Set[str], *, delete: bool = True, dry_run: bool = False) -> None:
        self.here = here
        self.host = header.source.host
        self.root_mtime_ns = header.root_mtime_ns
        self.staged = set(staged)
        self.in_place = in_place
        self.unbuildable = unbuildable
        self.delete = delete
        self.dry_run = dry_run
        self.out = Planned(Plan(()))
        self.content: dict[str, str] = {}  # a path copied to under another name -> the op path staged for it
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
        self.ours = here.ours
        self._children: dict[str, list[str]] | None = None

    def plan(self, ops: Sequence[ArchiveOp]) -> Planned:
        """The plan for ``ops`` (in the archive's order), with what was found in place, kept, left and
        copied beside (in ``Planned``)."""
        if self.dry_run:  # nothing is staged in a dry run: plan as if everything had been
            self.staged.update(op.path for op in ops if op.content != NONE and op.entry is not None
                               and op.path not in self.unbuildable and op.path not in self.in_place)
        for op in ops:
            if op.path in self.unbuildable:
                continue
            if "/" not in op.path:
                self.top_level = True
            if any(is_under(op.path, b) for b in self.blocked):
                continue
            unseen = self.here.unseen(op.path)
            if unseen is not None:
                self.out.problems.append(Problem(op.path, f"not applied: cannot read what is here ({unseen})",
                                                    "destination"))
                continue
            moved = self._redirected(op)
            if moved is not op:
                self._under_redirect(moved)
            else:
                self._one(op)
        if self.setid:
            self.out.problems.append(Problem("", f"setuid and setgid bits of {self.setid} items not applied",
                                                "", error=False))
        self.deletes.sort(key=lambda a: sort_key(a.path), reverse=True)
        self._keep_what_was_added()
        self.metas.sort(key=lambda a: sort_key(a.path), reverse=True)
        self._root_mtime()
        self.out.plan = Plan(tuple(self.early + self.deletes + self.late + self.metas))
        self.out.content = self.content
        return self.out

    def _root_mtime(self) -> None:
        """The root's mtime as the source's when the archive touches the root's listing (also on a rerun
        after a kill, when those changes are already in place). Its mode stays."""
        if self.root_mtime_ns is None or not self.top_level:
            return
        current = self.here.root
        if current is not None and current.kind == DIR and current.mtime_ns != self.root_mtime_ns:
            self.metas.append(Action("meta", "", current._replace(mtime_ns=self.root_mtime_ns), current))

    def _redirected(self, op: ArchiveOp) -> ArchiveOp:
        """``op`` moved under the conflict name of an incoming folder that could not take its place."""
        for src, dst in self.redirect.items():
            if is_under(op.path, src) and op.path != src:
                path = dst + op.path[len(src):]
                if op.path in self.staged:
                    self._take(path, op.path)
                return replace(op, path=path, expect=None)
        return op

    def _under_redirect(self, op: ArchiveOp) -> None:
        """An op of an incoming folder that landed under a conflict name: created there once; what is
        already there (an earlier apply, or one killed half-way) is left as it is."""
        e = op.entry
        if e is None or not self._parents_fine(op.path):
            return
        current = self.here.at(op.path)
        if current is not None:
            if e.kind == DIR and current.kind == DIR:
                self.made.add(op.path)
                self._existing_dir(op.path, e, current)
            elif not matches(current, e):
                self.out.problems.append(Problem(op.path, "left as it is (made here since an earlier apply)",
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
        mode = e.mode & ~SETID if path in self.ours else current.mode
        if current.mode != mode or current.mtime_ns != e.mtime_ns:
            self.metas.append(Action("meta", path, e._replace(mode=mode), current))

    def _parents_fine(self, path: str) -> bool:
        d = parent(path)
        if d in self.dirs_ok:
            return self.dirs_ok[d]
        if d in self.made:
            return self._parents_fine(d)
        e = self.here.at(d)
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
        extra = mode & SETID & ~(current.mode if current is not None and current.kind == e.kind else 0)
        if extra:
            self.setid += 1
            mode &= ~extra
        return e if mode == e.mode else e._replace(mode=mode)

    def _one(self, op: ArchiveOp) -> None:
        e, x, report = op.entry, op.expect, self.out
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
        current = self.here.at(op.path)
        if e is not None:
            e = self._mode_for(op.path, e, x, current)
        if op.content == NONE:
            done = matches(current, e) and (e is None or current is None or e.kind != FILE
                                             or current.mode == e.mode)
        else:
            held = self.in_place.get(op.path)
            done = held is not None and current is not None and current.unchanged_since(held)
        if done:
            self._in_place(op.path, e, current)
            return
        if current is not None and not as_expected(current, x):
            self._local_change(op, e, current)
            return
        if e is None:
            if not self.delete:
                report.not_deleted += 1
            elif current is not None:
                self.deletes.append(Action("delete", op.path, None, current))
            return
        if current is not None and current.kind != e.kind and not self.delete:
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
        if e.kind == FILE and e.mode & SETID:
            self.early.append(Action("meta", op.path, e, None))  # staged files carry no setuid/setgid bit

    def _add(self, act: Action, current: Entry | None) -> None:
        (self.late if current is not None and current.kind == DIR and act.op != "mkdir" else self.early).append(act)

    def _in_place(self, path: str, e: Entry | None, current: Entry | None) -> None:
        """DIR already holds what the archive brings: at most its mtime (and mode, see ``_mode_for``)."""
        if e is None or current is None:
            self.out.already += 1
        elif e.kind == DIR:
            self.made.add(path)
            self.metas.append(Action("meta", path, e, current))
        elif e.kind == FILE and (current.mode != e.mode or current.mtime_ns != e.mtime_ns):
            self.early.append(Action("meta", path, e, current))
        else:
            self.out.already += 1

    def _local_change(self, op: ArchiveOp, e: Entry | None, current: Entry) -> None:
        """``op.path`` changed here since the index was taken: keep it; what the archive brings (a file, a
        symlink, a folder) lands beside it under a conflict name."""
        report = self.out
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
            current_copy = self.here.at(copy) if there else None
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
            self._take(copy, op.path)
            self.early.append(Action("copy", copy, e, None))
        else:
            self.early.append(Action("symlink", copy, e, None))

    def _conflict_copy(self, path: str, e: Entry) -> tuple[str, bool] | None:
        """(the conflict name for the incoming version of ``path``, whether it is there already)."""
        for n in range(100):
            copy = conflict_name(path, e.mtime_ns, self.host, n)
            there = self.here.at(copy)
            if there is None or matches(there, e):
                break
        else:
            self.out.problems.append(Problem(path, "no free name for a conflict copy", "destination"))
            return None
        self.out.conflicts.append((path, copy))
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
                self.out.kept += 1
                self.out.problems.append(Problem(act.path, "not deleted: it holds entries added here since the "
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
                self.out.already += 1
                continue
            if act.op == "copy":
                self._take(copy, act.path)
            self.early.append(Action(act.op, copy, act.entry, None))
        self.late = late

    def _holds_more(self, path: str, going: set[str]) -> bool:
        """Whether the folder at ``path`` holds anything but what is ``going`` (what the scan could not
        read counts as held)."""
        if self.here.index.is_unreadable(path):
            return True
        if self._children is None:
            self._children = {}
            for p in (*self.here.index.entries, *self.here.unlisted):
                self._children.setdefault(parent(p), []).append(p)
        return any(c not in going for c in self._children.get(path, ()))

    def _take(self, path: str, origin: str) -> None:
        """``path`` gets the content staged for the op at ``origin``."""
        self.staged.add(path)
        self.content[path] = self.content.get(origin, origin)
