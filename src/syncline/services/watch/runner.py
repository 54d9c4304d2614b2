"""What a mirror does once the scheduler says so: sync changed folders (``push``), a whole tree (``full``)
or a target's retry list (``retry``) to the targets, rename on a target what was renamed in the source,
and keep the journal of folders in flight.

Targets are reached only through the :class:`~syncline.engine.replicas.replica.Replica` interface. A
target root that is missing, or lost its marker (``.syncline/mirror-of``) after its first sync, is never
filled from scratch: it waits, and its error says why.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from ...core.entry import DIR
from ...core.errors import SynclineError
from ...core.paths import parent
from ...engine.oneway import SyncOptions, sync_dirs, sync_replicas
from ...engine.replicas.abilities import writing
from ...engine.replicas.replica import Markers, Mover, Replica
from .changes import Folder
from .events import Emit, FullSynced
from .journal import Journal
from .targets import Target

MIRROR_OF_FILE = "mirror-of"
Hold = Callable[[str], bool]


@dataclass
class Runner:
    """Pushes from ``source_replica`` (the folder ``source``) to ``targets`` with ``options``; a folder
    is journaled before it is pushed and taken off once every target has it."""

    source: Path
    source_replica: Replica
    targets: Sequence[Target]
    journal: Journal
    options: SyncOptions
    emit: Emit
    moved: int = field(default=0, init=False)  # renames done on targets instead of a copy and a delete

    def push(self, folders: list[Folder], hold: Hold, journaled: bool = False,
             moves: Sequence[tuple[str, str]] = ()) -> list[str]:
        """Sync ``folders`` to every target that is fine; journaled first, off the journal when done.
        ``moves`` seen in the source are first done as renames on each target, where that is safe. A
        target whose retry is due gets its retry list along. Returns the names of the targets that took
        every change (nothing left to retry there)."""
        if not journaled:
            self.journal.add(folders)
        all_done = True
        took: list[str] = []
        for t in self.targets:
            if t.needs_full and not (journaled and not t.caught_up):
                all_done = False  # it gets everything with its full sync
                continue
            if not self.ready(t):
                all_done = False
                continue
            batch = folders
            if t.retry and t.backoff.due(time.monotonic()):
                batch, t.retry = t.add_retry(folders), {}  # the retry is due: it goes along
            try:
                self._moves(t, moves)
                report = sync_dirs(self.source_replica, t.replica, batch, self.options, hold=hold)
            except (SynclineError, OSError) as exc:
                t.failed(exc)
                all_done = False
                continue
            if t.settle(report):
                took.append(t.name)
            else:
                all_done = False
        if all_done:
            self.journal.remove(folders)
        return took

    def full(self, t: Target, why: str, hold: Hold) -> None:
        """A full sync of ``t``. ``--max-delete`` guards the first one of a run (the catch-up: what
        changed while syncline was down is unknown) and the first after a safety stop; the others (a
        target back, after an overflow, the hourly rescan) carry deletions made while syncline watched,
        and only the empty-source stop applies to them."""
        if not self.ready(t):
            return
        opts = self.options if not t.caught_up else replace(self.options, max_delete=1.0)
        try:
            report = sync_replicas(self.source_replica, t.replica, opts, hold=hold)
        except (SynclineError, OSError) as exc:
            t.failed(exc)
            return
        t.needs_full = False
        t.caught_up = True
        t.retry = {}
        t.settle(report)
        self._journal_settled()
        self.emit(FullSynced(why, t.name, report.changed, len(report.errors)))

    def retry(self, t: Target, hold: Hold) -> None:
        """Sync again, after the back-off, the folders where changes could not be made for a reason that
        may pass (a full or read-only target): only those, not the whole tree."""
        if not self.ready(t):
            return
        batch, t.retry = list(t.retry.items()), {}
        try:
            report = sync_dirs(self.source_replica, t.replica, batch, self.options, hold=hold)
        except (SynclineError, OSError) as exc:
            t.failed(exc)
            return
        t.settle(report)
        self._journal_settled()

    def _journal_settled(self) -> None:
        """Empty the journal once no target lacks anything: no full sync or retry is owed to any."""
        if not any(x.needs_full or x.retry for x in self.targets):
            self.journal.remove(self.journal.pending())

    def ready(self, t: Target) -> bool:
        """Whether ``t`` can be written: its root exists and holds the marker naming this source (once
        synced, it must). A target seen for the first time gets its root (when the parent is there) and
        the marker; one whose marker names another source is left alone."""
        replica = t.replica
        assert isinstance(replica, Markers)  # checked when the target was given (Mirror._target)
        try:
            marker = replica.read_meta(MIRROR_OF_FILE)
            if marker is not None and marker.strip() != str(self.source):
                raise OSError(f"{t.name} holds a mirror of {marker.strip()}, not of {self.source}: left alone "
                              f"(remove its .syncline/{MIRROR_OF_FILE} to mirror into it anyway)")
            if self.journal.target_known(t.name):
                if marker is None and self.options.force and replica.exists():
                    replica.write_meta(MIRROR_OF_FILE, str(self.source) + "\n")  # the user vouches for it
                    marker = str(self.source)
                if marker is None:
                    why = "missing" if not replica.exists() else f"without its marker (.syncline/{MIRROR_OF_FILE})"
                    raise OSError(f"{t.name} is {why}: not filled from scratch; check that it is there "
                                  "(restart with --force to take it as it is)")
                return True
            if not replica.exists():
                replica.create_root()
            if marker is None:
                replica.write_meta(MIRROR_OF_FILE, str(self.source) + "\n")
        except OSError as exc:
            t.failed(exc)
            return False
        self.journal.remember_target(t.name)
        return True

    def _moves(self, t: Target, moves: Sequence[tuple[str, str]]) -> None:
        """Rename on ``t`` what was renamed in the source, when ``t`` still holds the old path as the source
        holds the new one (same kind; a file with the same size and mtime) and nothing is at the new path:
        a renamed folder of any size is one rename instead of a copy and a delete. Anything else is left to
        the folder sync that follows, which copies and deletes.

        Only with ``--delete`` (without it the old name stays on the target, as rsync keeps it), and only
        between names the rules let through on both sides (a rename into an excluded name is a delete)."""
        replica, source, rules = t.replica, self.source_replica, self.options.rules
        if not moves or not self.options.delete or not isinstance(replica, Mover):
            return  # without a rename of its own, a target gets the moved items copied and deleted
        visible_new = source.scan_dirs(sorted({(parent(n), False) for _, n in moves}), rules, "source").entries
        with writing(replica):
            visible_old = replica.scan_dirs(sorted({(parent(o), False) for o, _ in moves}), rules,
                                            "destination").entries
            for old, new in moves:
                if new in visible_new and old in visible_old:
                    self._rename_one(replica, source, old, new)

    def _rename_one(self, replica: Replica, source: Replica, old: str, new: str) -> None:
        now = source.stat(new)
        there = replica.stat(old)
        if now is None or there is None or now.kind != there.kind or replica.stat(new) is not None:
            return
        if now.kind != DIR and (now.size, now.mtime_ns) != (there.size, there.mtime_ns):
            return
        if parent(new) and replica.stat(parent(new)) is None:
            return
        assert isinstance(replica, Mover)  # only called for a target that renames (_moves)
        if replica.move(old, new, there).done:
            self.moved += 1
