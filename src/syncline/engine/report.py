"""The :class:`Report` of a run: what was done, what was kept, what failed. Exit codes live here.

Exit codes (documented in ``docs/cli.md``): 0 done; 1 done, with per-item errors (or, for ``diff``, the
trees differ); 2 nothing done: a usage error or a safety stop.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..core.errors import Problem
from ..core.plan import Plan
from .replicas.errors import map_os_error

EXIT_OK = 0
EXIT_PARTIAL = 1
EXIT_STOPPED = 2


class HasProblems:
    """Errors and the exit code of a result that lists its per-item ``problems``."""

    problems: list[Problem]

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.error]

    @property
    def exit_code(self) -> int:
        return EXIT_PARTIAL if self.errors else EXIT_OK


def failure(path: str, doing: str, exc: OSError, side: str) -> Problem:
    """The per-item error for ``exc`` met while ``doing`` (``cannot write``) ``path``: the error's reason
    in the message, its errno, and whether it may pass (its :mod:`~.replicas.errors` class's
    ``retryable``), which decides whether a watch retries the item."""
    err = map_os_error(exc)
    return Problem(path, f"{doing}: {err.strerror or err}", side, errno=err.errno or 0, retryable=err.retryable)


@dataclass
class Report(HasProblems):
    """Counts of a run and its per-item problems (errors, and notices such as skipped fifos)."""

    source: str = ""
    target: str = ""
    dry_run: bool = False
    copied: int = 0
    copied_bytes: int = 0
    dirs_created: int = 0
    symlinks: int = 0
    hard_links: int = 0  # names linked to a file copied in the same run (-H)
    deleted: int = 0
    meta_updated: int = 0
    trashed: int = 0
    kept: int = 0  # destination items left alone because they changed since the scan
    held: list[str] = field(default_factory=list)  # files not copied yet: still being written
    problems: list[Problem] = field(default_factory=list)
    plan: Plan | None = None
    seconds: float = 0.0

    @property
    def changed(self) -> int:
        return self.copied + self.dirs_created + self.symlinks + self.hard_links + self.deleted + self.meta_updated

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "source": self.source,
            "target": self.target,
            "dry_run": self.dry_run,
            "copied": self.copied,
            "copied_bytes": self.copied_bytes,
            "dirs_created": self.dirs_created,
            "symlinks": self.symlinks,
            "hard_links": self.hard_links,
            "deleted": self.deleted,
            "meta_updated": self.meta_updated,
            "trashed": self.trashed,
            "kept": self.kept,
            "errors": [str(p) for p in self.errors],
            "notices": [str(p) for p in self.problems if not p.error],
            "seconds": round(self.seconds, 3),
            "exit_code": self.exit_code,
        }
        if self.dry_run and self.plan is not None:
            out["plan"] = self.plan.to_json()
        return out
