"""The one exception tree of syncline.

Every error a user can cause carries a message that says what happened and a hint that says what to do.
The CLI prints ``syncline: error: <message> (<hint>)`` on one line and exits 2; it never shows a traceback
for a :class:`SynclineError`.

Per-item problems during a run (an unreadable file, a file that kept changing) are *not* raised: they are
collected as :class:`Problem` records and reported at the end, so one bad file never stops a run.
"""

from __future__ import annotations

from dataclasses import dataclass


class SynclineError(Exception):
    """Base of every error syncline raises on purpose.

    ``retryable`` says whether running the same command again later may succeed without the user
    changing anything (a busy lock, a vanished file) or not (a bad path, a corrupt file).
    """

    retryable = False

    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message} ({self.hint})" if self.hint else self.message


class UsageError(SynclineError):
    """The command cannot run as asked: a missing path, nested roots, a bad option value."""


class SafetyStop(SynclineError):
    """A safety guard stopped the run before anything was changed (mass delete, empty source, ...)."""


class IndexFormatError(SynclineError):
    """An index file is truncated, corrupt, foreign, hostile or from a newer syncline."""


class ArchiveFormatError(SynclineError):
    """An archive is truncated, corrupt, hostile or from a newer syncline."""


class StateError(SynclineError):
    """syncline's own saved state (a two-way pair's base) cannot be opened, read or written: a full disk, an
    I/O error, a base written by a newer syncline. The state is left as it is, never set aside."""

    retryable = True


class BusyError(SynclineError):
    """Another syncline process holds the lock for the same destination."""

    retryable = True


@dataclass(frozen=True, slots=True)
class Problem:
    """One per-item problem found during a scan or a run: reported at the end, never fatal.

    ``path`` is relative to the root it concerns ("" for the root itself); ``side`` names that root
    ("source", "destination" or the root path itself for a plain scan).
    """

    path: str
    message: str
    side: str = ""
    error: bool = True  # False for a notice: a fifo, socket or device that was skipped on purpose
    errno: int = 0  # the OS error number when an OS error caused it (ENOSPC, EROFS, ...), else 0
    retryable: bool = False  # the error may pass if the same job runs again later (no space, a vanished folder)

    def __str__(self) -> str:
        where = f"{self.side}: " if self.side else ""
        return f"{where}{self.path or '.'}: {self.message}"
