"""``syncline sync SRC DST --since REF``: bring DST, a copy of SRC as it was at one of SRC's snapshots, to
SRC's state by the changes since that snapshot, checked path by path against what DST should hold.

This is ``archive SRC --since REF`` followed by ``apply`` into DST, without the archive in between: it is
written to the state directory and removed afterwards. Everything ``apply`` guarantees holds (nothing
changed in DST is overwritten; conflicts are kept both; deletes go to the trash; a re-run does nothing).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from ...core.paths import new_temp_name
from ...core.scan import resolve_root
from ..options import Comparison, Filters, Guards, Options, Writes
from ..state import state_subdir
from ..timeline import resolve
from .apply import ApplyOptions, ApplyReport, apply_archive
from .archiving import ArchiveOptions, make_archive


@dataclass(frozen=True, kw_only=True)
class SinceOptions(Writes, Guards, Comparison, Filters, Options):
    """The shared parts, and ``delete``: carry deletions too (as ``archive --delete``)."""

    delete: bool = False


def sync_since(src: str | os.PathLike[str], dst: str | os.PathLike[str], since: str,
               options: SinceOptions | None = None) -> ApplyReport:
    """Apply to ``dst`` the changes ``src`` went through since its snapshot ``since``."""
    opts = options or SinceOptions()
    top = resolve_root(src)
    target = resolve_root(dst)
    against = resolve(top, since).path(top)
    tmp = state_subdir("tmp") / new_temp_name()
    try:
        make_archive(top, against, tmp, ArchiveOptions.of(opts.part(Filters), opts.part(Comparison),
                                                          opts.part(Guards), delete=opts.delete,
                                                          output_inside_ok=True))
        report = apply_archive(tmp, target, ApplyOptions.of(opts.part(Writes), opts.part(Guards),
                                                            note_other_root=False))
    finally:
        tmp.unlink(missing_ok=True)
    report.archive = f"{top}@{since}"

    return report
