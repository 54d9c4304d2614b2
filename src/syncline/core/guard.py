"""The deletion guard every mode runs before it deletes: too many deletions look like a missing or
emptied source, not like a user's intent (DESIGN 4.4), so the run stops and asks for ``--force``.

``max_delete`` is a count of files (an ``int``) or a fraction of the files there (a ``float``, ``0.5`` is
``--max-delete 50%``). Only file deletions count (symlinks are files here); folders do not, and neither do
overwrites, whose old content goes to the trash either way. A run exactly at the limit goes ahead.

The check is pure: each mode counts its own planned deletions and the files of the tree they are made in
(:func:`files_of` for an index), and raises the stop it gets back. Each mode words the stop its own way
(:class:`DeleteWording`); the wording is part of the CLI's output, so it lives with the mode's constant.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from .entry import DIR, Entry
from .errors import SafetyStop

DEFAULT_MAX_DELETE = 0.5  # half of the files: `--max-delete 50%`


@dataclass(frozen=True, slots=True)
class DeleteWording:
    """How a mode says it stopped.

    ``stop`` is a format string over ``deletes``, ``files``, ``limit`` (the limit as shown: ``share`` or
    ``"N files"``) and ``where`` (a place the caller names, such as a root: given as a value, so a path
    holding braces is never parsed as a template). ``share`` words a fractional limit, over ``share`` and
    ``files``. ``hint`` is the stop's one-line advice.
    """

    stop: str
    share: str
    hint: str


# The wording of `sync SRC DST` (and of the one-way planner's own check).
ONE_WAY = DeleteWording(
    stop="would delete {deletes} of {files} files, more than --max-delete ({limit})",
    share="{share:.0%} of the destination's files",
    hint="check the source; raise --max-delete or add --force to go ahead",
)


def files_of(entries: Mapping[str, Entry]) -> int:
    """The files an index (or any path -> entry mapping) holds, as the guard counts them: all but folders."""
    return sum(1 for e in entries.values() if e.kind != DIR)


def check_deletes(max_delete: int | float, deletes: int, files: int, wording: DeleteWording = ONE_WAY,
                  where: str = "") -> SafetyStop | None:
    """The stop for ``deletes`` file deletions among ``files`` files when ``max_delete`` allows fewer, or
    None when the run may go on. ``wording`` and ``where`` only shape the stop's message."""
    if isinstance(max_delete, float):
        limit: float = max_delete * files
        shown = wording.share.format(share=max_delete, files=files)
    else:
        limit, shown = max_delete, f"{max_delete} files"
    if deletes <= limit:
        return None
    return SafetyStop(wording.stop.format(deletes=deletes, files=files, limit=shown, where=where), wording.hint)
