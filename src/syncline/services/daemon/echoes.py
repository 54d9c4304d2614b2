"""A run's own writes into the local folder, told apart from other changes when the watcher reports them.

The watcher sees every change in the folder, the daemon's own downloads too (each rename into place, each
folder's mtime set after its files). Taken as local changes, every download was followed by a run over
the same folders that found nothing to do: 1.8 s after 1,000 files spread over 643 folders of a tree of
100,000 (docs/performance.md). After each run the loop keeps what the run wrote into the local side
(:meth:`OwnWrites.of`), and before the next batch it drops each collected folder whose changed children
are all still what that run left there (:meth:`OwnWrites.keep`).

Safety: a folder is dropped only when the watcher named its changed children (a folder reported without
names, or whole, is always kept) and every one of them is, when looked at now, what the run wrote: a file
of the size and mtime it copied, a folder with the mtime it set, a path it deleted that is still gone, or
a temp name of a run that is gone again. A user's change in such a folder names another child, or leaves
a file that is not as written, and keeps the folder. What this could miss (a child changed back, within
the same instant, to the size and mtime the run wrote) the periodic full run sees.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterable, Mapping
from pathlib import Path

from ...core.entry import DIR, FILE, Entry
from ...core.paths import join, run_temp
from ...engine.twoway.run import TwoWayReport
from ..watch.changes import Folder

_WRITES = {("copy", FILE), ("meta", DIR), ("mkdir", DIR)}  # what a file or folder is left as, kept


class OwnWrites:
    """What one run wrote into the local folder: path -> the entry it left (None: it deleted the path)."""

    def __init__(self, root: Path, written: Mapping[str, Entry | None],
                 root_after: tuple[int, int] | None = None, before: OwnWrites | None = None) -> None:
        self.root = root
        self.last = dict(written)  # this run's
        # With the run before's: the watcher tells a run's last writes after the next batch is taken (it
        # reads 10 ms after the first event), when a run that followed at once may have written nothing.
        self.written = {**before.last, **written} if before is not None else dict(written)
        self.root_after = root_after  # the root's (mtime, mode) as the run left it

    @classmethod
    def of(cls, root: Path, report: TwoWayReport | None, before: OwnWrites | None = None) -> OwnWrites:
        """The local side's (side A's) files copied, folders' mtimes set and paths deleted by ``report``'s
        first plan (later rounds are not kept: their echoes cost a run, as before), with ``before``'s run's,
        and the root as it is now, just after the run (which puts the root's mtime back after its own
        folders in ``.syncline``)."""
        try:
            st = os.lstat(root)
            root_after: tuple[int, int] | None = (st.st_mtime_ns, stat.S_IMODE(st.st_mode))
        except OSError:
            root_after = None
        written: dict[str, Entry | None] = {}
        plan = report.plan if report is not None else None
        for a in plan.to_a.actions if plan is not None else ():
            if a.op == "delete":
                written[a.path] = None
            elif a.entry is not None and (a.op, a.entry.kind) in _WRITES:
                written[a.path] = a.entry
        return cls(root, written, root_after, before)

    def keep(self, folders: Iterable[Folder], names: Mapping[str, set[str] | None]) -> list[Folder]:
        """``folders`` without those whose every changed child (``names``) is still as the last run (or the
        one before it) wrote it."""
        if not self.written and self.root_after is None:
            return list(folders)
        return [(f, deep) for f, deep in folders
                if deep or (changed := names.get(f)) is None or not all(self._own(f, n) for n in changed)]

    def _own(self, folder: str, name: str) -> bool:
        path = join(folder, name)
        try:
            st = os.lstat(self.root / path)
        except FileNotFoundError:
            return run_temp(name) is not None or (path in self.written and self.written[path] is None)
        except OSError:
            return False
        if path == "":  # the root's own attributes (the watcher names it "" in "")
            return self.root_after == (st.st_mtime_ns, stat.S_IMODE(st.st_mode))
        want = self.written.get(path)
        if want is None:
            return False
        if want.kind == FILE:
            # The mode too: a chmod right after a download changes neither size nor mtime, and was dropped
            # as an echo (the user's mode then waited for the hourly check).
            return (stat.S_ISREG(st.st_mode) and st.st_size == want.size and st.st_mtime_ns == want.mtime_ns
                    and stat.S_IMODE(st.st_mode) == want.mode)
        return stat.S_ISDIR(st.st_mode) and st.st_mtime_ns == want.mtime_ns
