"""Which kept versions a server keeps (issue 14; docs/design.md, "Retention is a pure function"): a pure
function of the versions' times, the clock and the policy, so that it is tested as a table and as a
property.

Per path, of the versions kept of it (``kept_ns``: when each stopped being the live one):

- every version younger than ``keep_all``;
- then, up to ``keep_daily``, the newest of each UTC day; up to ``keep_weekly``, the newest of each ISO
  week (weeks start on Monday); older ones go;
- a version with a time in the future (a clock set back) is kept: it is young by any reading.

A deleted file's trash row (its newest version, kept for the delete) stays ``trash`` long whatever the
buckets say, and takes every version of the path with it when it goes. Then, per user, when the logical
bytes of the versions kept in the folders they own pass ``cap``, the oldest go first, never one younger
than :data:`CAP_MIN_AGE_S`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

DAY_NS = 86400 * 10**9
WEEK_NS = 7 * DAY_NS
CAP_MIN_AGE_S = 86400  # a version a day old or younger never goes to make room: the one a person just lost


@dataclass(frozen=True, slots=True)
class Policy:
    """Seconds each rule reaches back; ``cap``: the bytes of kept versions a user may have (None: any)."""

    keep_all_s: float = 86400.0
    keep_daily_s: float = 30 * 86400.0
    keep_weekly_s: float = 52 * 7 * 86400.0
    trash_s: float = 30 * 86400.0
    cap: int | None = None


@dataclass(frozen=True, slots=True)
class Kept:
    """One kept version: its id, its path, when it was kept, its logical size, and whether it is the trash
    row of a deleted file (its path's newest version, kept for a delete, nothing live at the path now)."""

    id: int
    path: str
    kept_ns: int
    size: int
    trash: bool = False


def _bucket_keep(times: Sequence[tuple[int, int]], now_ns: int, policy: Policy) -> set[int]:
    """Of ``(id, kept_ns)`` of one path, the ids the age buckets keep."""
    keep: set[int] = set()
    newest: dict[tuple[str, int], tuple[int, int]] = {}
    for vid, kept_ns in times:
        age = now_ns - kept_ns
        if age < policy.keep_all_s * 10**9:
            keep.add(vid)
            continue
        if age < policy.keep_daily_s * 10**9:
            key = ("d", kept_ns // DAY_NS)
        elif age < policy.keep_weekly_s * 10**9:
            key = ("w", (kept_ns // DAY_NS + 3) // 7)  # 1970-01-01 was a Thursday: +3 makes weeks start Monday
        else:
            continue
        best = newest.get(key)
        if best is None or (kept_ns, vid) > (best[1], best[0]):
            newest[key] = (vid, kept_ns)
    keep.update(vid for vid, _ in newest.values())
    return keep


def keep_of_path(versions: Sequence[Kept], now_ns: int, policy: Policy) -> set[int]:
    """The ids of one path's kept versions that stay."""
    trash = [v for v in versions if v.trash]
    if trash and now_ns - max(v.kept_ns for v in trash) >= policy.trash_s * 10**9:
        return set()  # the deleted file left the trash: all of it goes
    keep = _bucket_keep([(v.id, v.kept_ns) for v in versions], now_ns, policy)
    keep.update(v.id for v in trash)
    return keep


def keep(versions: Iterable[Kept], now_ns: int, policy: Policy) -> set[int]:
    """The ids of ``versions`` (any number of paths) that the age rules and the trash keep."""
    by_path: dict[str, list[Kept]] = {}
    for v in versions:
        by_path.setdefault(v.path, []).append(v)
    out: set[int] = set()
    for path_versions in by_path.values():
        out |= keep_of_path(path_versions, now_ns, policy)
    return out


def over_cap(versions: Iterable[Kept], now_ns: int, cap: int | None) -> set[int]:
    """The ids to drop so that the kept bytes of ``versions`` (one user's, after :func:`keep`) fit ``cap``:
    the oldest first, never one younger than :data:`CAP_MIN_AGE_S`; as few as that allows."""
    if cap is None:
        return set()
    listed = list(versions)
    total = sum(v.size for v in listed)
    drop: set[int] = set()
    for v in sorted(listed, key=lambda v: (v.kept_ns, v.id)):
        if total <= cap or now_ns - v.kept_ns < CAP_MIN_AGE_S * 10**9:
            break
        drop.add(v.id)
        total -= v.size
    return drop
