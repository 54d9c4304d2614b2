"""A mirror's targets and how each is doing: fine, unreachable (retried with back-off, then a full sync), or
taking most changes but refusing some for a reason that may pass (only their folders are retried)."""

from __future__ import annotations

import errno
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from ...core.errors import SafetyStop
from ...core.paths import parent
from ...engine.replicas.replica import Replica
from ...engine.report import Report
from .changes import Folder
from .events import Emit, ItemFailed, TargetBack, TargetRefused, TargetUnavailable
from .scheduler import Backoff

# What to do about an error that may pass, where the errno says more than "retrying" (the wording only).
_RETRY_HINTS = {errno.ENOSPC: "free space on the target", errno.EDQUOT: "raise the target's quota",
                errno.EROFS: "check that the target is mounted read-write"}


@dataclass
class Target:
    """One target and how it is doing; ``emit`` receives what changes in that."""

    replica: Replica
    name: str
    emit: Emit
    backoff: Backoff = field(default_factory=Backoff)
    ok: bool = False
    error: str = ""
    needs_full: bool = True
    caught_up: bool = False  # had its catch-up full sync in this run (and no safety stop since)
    retry: dict[str, bool] = field(default_factory=dict)  # folders to sync again: some items failed there
    logged: set[str] = field(default_factory=set)  # the per-item errors of the last sync (logged once)
    last_sync: float = 0.0
    synced: int = 0

    def failed(self, exc: BaseException) -> None:
        """The target could not be synced at all: it waits (back-off), then gets a full sync (under the
        catch-up's guards again after a safety stop). A target that comes back is known by its marker,
        which must name this source, so it is not another disk mounted in its place."""
        message = say(exc)
        if self.ok or self.error != message:
            self.emit(TargetUnavailable(self.name, message, self.backoff.delay, safety=isinstance(exc, SafetyStop)))
        self.ok = False
        self.error = message
        self.needs_full = True
        if isinstance(exc, SafetyStop):
            self.caught_up = False
        self.backoff.failed()

    def settle(self, report: Report) -> bool:
        """Log a sync's per-item errors (each once while it repeats). Changes the target could not make
        for a reason that may pass (the problem is ``retryable``, as the replica judged it: no space left,
        read-only, I/O, or the target's tree changed under the push: a folder gone, or a symlink in the
        way) put their folders on the retry list, retried with back-off; any other error is logged and left
        to the next change there or the next rescan. True when nothing is left to retry."""
        errors = report.errors
        for p in errors:
            if str(p) not in self.logged:
                self.emit(ItemFailed(self.name, str(p)))
        self.logged = {str(p) for p in errors}
        self.synced += report.changed
        failed = [p for p in errors if p.side == "destination" and p.retryable]
        # The item's folder, and the item itself whole (when it is a folder that could not be listed).
        self.add_retry([f for p in failed for f in ((parent(p.path), False), (p.path, True)) if p.path])
        if not self.retry:
            if not self.ok and self.error:
                self.emit(TargetBack(self.name))
            self.ok = True
            self.error = ""
            self.backoff.succeeded()
            self.last_sync = time.time()
            return True
        if not failed:
            return False  # this sync went through; an earlier one's retry is still due
        first = failed[0]
        message = (f"{len(failed)} change(s) could not be made, e.g. {first.path}: {first.message}; "
                   f"{_RETRY_HINTS.get(first.errno, 'retrying')}")
        if self.ok or self.error != message:
            self.emit(TargetRefused(self.name, message, self.backoff.delay))
        self.ok = False
        self.error = message
        self.backoff.failed()
        return False

    def add_retry(self, folders: Sequence[Folder]) -> list[Folder]:
        """Add ``folders`` to the retry list (deep wins); returns the whole list as a batch."""
        for folder, deep in folders:
            self.retry[folder] = self.retry.get(folder, False) or deep
        return list(self.retry.items())


def say(exc: BaseException) -> str:
    """One line for a target's failure: an OS error as its reason and the path it concerns (``No space
    left on device: /mnt/usb/a/.syncline-tmp-...``), anything else as its message."""
    if isinstance(exc, OSError) and exc.strerror:
        return f"{exc.strerror}: {exc.filename}" if exc.filename else exc.strerror
    return str(exc)
