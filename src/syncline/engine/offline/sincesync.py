"""``syncline sync SRC DST --since REF``: bring DST, a copy of SRC as it was at one of SRC's snapshots, to
SRC's state by the changes since that snapshot, checked path by path against what DST should hold.

This is ``archive SRC --since REF`` followed by ``apply`` into DST, without the archive in between: it is
written to the state directory and removed afterwards. Everything ``apply`` guarantees holds (nothing
changed in DST is overwritten; conflicts are kept both; deletes go to the trash; a re-run does nothing).
"""

from __future__ import annotations

import os

from ...core.entry import Compare
from ...core.guard import DEFAULT_MAX_DELETE
from ...core.ignore import Rules
from ...core.paths import new_temp_name
from ...core.scan import resolve_root
from ..state import state_subdir
from ..timeline import resolve
from .apply import ApplyOptions, ApplyReport, apply_archive
from .archiving import ArchiveOptions, make_archive


def sync_since(src: str | os.PathLike[str], dst: str | os.PathLike[str], since: str, *, delete: bool = False,
               compare: Compare | None = None, rules: Rules | None = None, dry_run: bool = False,
               trash: bool = True, force: bool = False, max_delete: int | float = DEFAULT_MAX_DELETE) -> ApplyReport:
    """Apply to ``dst`` the changes ``src`` went through since its snapshot ``since``. ``delete`` carries
    deletions too (as ``archive --delete``)."""
    top = resolve_root(src)
    target = resolve_root(dst)
    against = resolve(top, since).path(top)
    tmp = state_subdir("tmp") / new_temp_name()
    try:
        make_archive(top, against, tmp, ArchiveOptions(delete=delete, compare=compare or Compare(),
                                                        rules=rules or Rules(), max_delete=max_delete, force=force,
                                                        output_inside_ok=True))
        report = apply_archive(tmp, target, ApplyOptions(dry_run=dry_run, trash=trash, force=force,
                                                         max_delete=max_delete, note_other_root=False))
    finally:
        tmp.unlink(missing_ok=True)
    report.archive = f"{top}@{since}"

    return report
