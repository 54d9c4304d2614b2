"""Project indexes onto what a target can keep, so that no planner plans what the target cannot store.

A target declares (as plain values: ``core`` knows no replica) the mtime precision it stores, whether it
keeps symlinks, POSIX permission bits, and owners. :func:`project` turns a source index into the index
the target would hold after a perfect sync, normalises the target's own index the same way where the
target reports something it cannot set, and returns the compare and keep rules that fit the target.
Table-tested in ``tests/test_project.py``.

- **mtimes**: the source's mtimes are truncated to the precision, and the modify window becomes at least
  the precision, since a target may round up (FAT on Windows) as well as down (Linux vfat). The
  target's mtimes are never touched: they are what its writes re-check (``expect``), exactly as seen.
- **permissions**: without them, both sides' mode bits are 0 ("none"), so no ``meta`` is planned for a
  mode, and a directory or file is made with whatever mode the target gives it.
- **owner**: without it, the owner is not kept, and a group only where ``Keep.groups`` bounds it to the
  running user's own groups (what any local file system lets a user give); an unbounded group (root's
  "any group") is not kept either.
- **symlinks**: without them, each source symlink leaves the source index and becomes a notice (not an
  error of the run: nothing is written for it). Its path is marked unreadable, so whatever the target
  holds there is kept, never deleted for a symlink it could not take.
- **UTF-8 names**: a target that holds only UTF-8 names (a syncline server, ``utf8_names``) gets none of
  the source's names that are not valid UTF-8 (a local name carried as surrogate escapes): each such name
  leaves the source index with everything below it, with an error that names it and says to rename it
  (:func:`not_utf8`), and is marked unreadable, so nothing at the target is ever deleted for it.
- **case**: a case-insensitive target holds one of the source's names that differ only in case (``A.txt``
  and ``a.txt``, a folder ``Docs`` and ``docs``): the one it holds already, else the first in byte order.
  The others leave the source index with everything below them, each with an error that says to rename
  one (:func:`case_clash`, the wording two-way sync uses too), and are marked unreadable, with the
  spelling the target holds of them, so nothing at the target is deleted for them. A name the target
  holds in another case than the source's (``Report.pdf`` there, ``report.pdf`` here) is that name
  (:func:`respell`): updated in place, the target keeping its spelling, never copied anew and deleted.

Two-way sync (:func:`project_pair`) has two trees that are each the other's source and target, and each
tree's entries are also what the writes into it re-check, exactly as seen. So mtimes are never truncated
there: whether the two sides hold the same content is judged within at least the coarser side's
precision, and whether a side changed since the base within at least that side's own (the base holds the
mtime of the side a change came from, which the finer side holds exactly, so a touch there past its own
precision is a change even while it stays within the coarser side's window); modes count only when both sides
keep them (else both sides' are 0, and :func:`give_modes` hands a side that keeps modes its own back in
the writes into it); each side's symlinks are left out when the other side cannot hold them (a notice;
the path unreadable, so it is kept on its side and never enters the base); and so are each side's names
that are not UTF-8 when the other side holds only UTF-8 names (an error each, the path unreadable).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace

from .entry import DIR, FILE, SYMLINK, Compare, Entry, Keep
from .errors import Problem
from .index import Index
from .paths import parent, sort_key
from .plan import Plan


def no_symlinks(onto: str) -> str:
    """The notice for a symlink left out because ``onto`` (a tree's name) cannot hold symlinks."""
    return f"not copied: {onto} cannot hold symlinks"


def not_utf8(onto: str) -> str:
    """The error for a name left out because it is not valid UTF-8 and ``onto`` holds only UTF-8 names."""
    return f"not synced: the name is not valid UTF-8, and {onto} holds only UTF-8 names (rename it to sync it)"


def is_utf8(path: str) -> bool:
    """Whether ``path`` is valid UTF-8 (no surrogate escape of a byte that is not)."""
    if path.isascii():
        return True
    try:
        path.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def non_utf8_tops(paths: Iterable[str]) -> set[str]:
    """Each path that is not valid UTF-8, cut after its first component that is not: the names to leave
    out with everything below them (empty, the usual case, after one cheap pass)."""
    tops: set[str] = set()
    for path in paths:
        if not is_utf8(path):
            parts = path.split("/")
            first = next(i for i, part in enumerate(parts) if not is_utf8(part))
            tops.add("/".join(parts[:first + 1]))
    return tops


NO_SYMLINKS = no_symlinks("the destination")
# The mode a folder or file made by a pair whose modes do not count gets when nothing else tells one.
DEFAULT_MODES = {DIR: 0o755, FILE: 0o644}


def case_clash(others: Iterable[str], where: str) -> str:
    """The error for names left out beside the problem's path because they differ from it only in case
    and ``where`` (``"the destination"``, ``"side B"``) ignores case: it says what to do."""
    return (f"case clash: {', '.join(repr(p) for p in others)} cannot exist beside it on {where} "
            "(case-insensitive); not synced there, rename one of them")


@dataclass(frozen=True, slots=True)
class Keeps:
    """What a tree can store, as plain values (an engine replica's ``Features``, which ``core`` does not
    know): the mtime precision in ns, case sensitivity, symlinks, POSIX mode bits, owners."""

    mtime_ns_precision: int = 1
    case_sensitive: bool = True
    symlinks: bool = True
    permissions: bool = True
    owner: bool = True
    utf8_names: bool = False  # holds only names that are valid UTF-8 (a syncline server)


@dataclass(frozen=True, slots=True)
class Projection:
    """The indexes and rules a planner takes for one target."""

    source: Index
    target: Index
    compare: Compare
    keep: Keep


def project(source: Index, target: Index, compare: Compare, keep: Keep, *, mtime_ns_precision: int = 1,
            symlinks: bool = True, permissions: bool = True, owner: bool = True,
            case_sensitive: bool = True, utf8_names: bool = False) -> Projection:
    """``source`` as a target with these abilities can store it, ``target`` with what it reports but cannot
    set normalised the same way, and the effective compare and keep rules. A target that keeps everything
    gets its arguments back unchanged (the same objects: no copy of a large index)."""
    fitted = project_index(source, mtime_ns_precision=mtime_ns_precision, symlinks=symlinks,
                           permissions=permissions, utf8_names=utf8_names)
    if not case_sensitive:
        fitted = fold_case(fitted, target)
        target = respell(target, fitted)
    return Projection(fitted, project_index(target, permissions=permissions),
                      effective_compare(compare, mtime_ns_precision), effective_keep(keep, owner))


def project_index(index: Index, *, mtime_ns_precision: int = 1, symlinks: bool = True,
                  permissions: bool = True, side: str = "source", onto: str = "the destination",
                  utf8_names: bool = False) -> Index:
    """``index`` with mtimes truncated to ``mtime_ns_precision``, without mode bits (0) when
    ``permissions`` is off, without its symlinks when ``symlinks`` is off (each a notice, its path
    marked unreadable; ``side`` names the tree in those notices, ``onto`` the tree that cannot hold them),
    and, with ``utf8_names``, without its names that are not valid UTF-8 and everything below them (each
    an error, :func:`not_utf8`, its path marked unreadable). Only files have several names
    (``hard_links``), so that map stays as it is but for names left out. Returns ``index`` itself when
    nothing changes."""
    if mtime_ns_precision < 1:
        raise ValueError(f"mtime precision must be at least 1 ns, not {mtime_ns_precision}")
    bad = non_utf8_tops(index.entries) if utf8_names else set()
    if mtime_ns_precision == 1 and symlinks and permissions and not bad:
        return index

    def fit(e: Entry) -> Entry:
        mtime = e.mtime_ns - e.mtime_ns % mtime_ns_precision
        mode = e.mode if permissions else 0
        return e if mtime == e.mtime_ns and mode == e.mode else e._replace(mtime_ns=mtime, mode=mode)

    entries: dict[str, Entry] = {}
    dropped: list[str] = []
    for path, e in index.entries.items():
        if bad and _below(path, bad):
            continue
        if e.kind == SYMLINK and not symlinks:
            dropped.append(path)
        else:
            entries[path] = fit(e)
    notice, error = no_symlinks(onto), not_utf8(onto)
    hard_links = index.hard_links if not bad else {
        k: v for k, v in index.hard_links.items() if not _below(k, bad) and not _below(v, bad)}
    return replace(index, entries=entries, root=None if index.root is None else fit(index.root),
                   problems=(*index.problems, *(Problem(p, notice, side, error=False) for p in dropped),
                             *(Problem(p, error, side) for p in sorted(bad, key=sort_key))),
                   unreadable=index.unreadable | frozenset(dropped) | frozenset(bad), hard_links=hard_links)


def fold_case(source: Index, target: Index, *, side: str = "source", where: str = "the destination") -> Index:
    """``source`` as the case-insensitive ``target`` can hold it (see the module: one name of each set
    that differs only in case, the others left out with a :func:`case_clash` error each, on ``side``, and
    marked unreadable together with ``target``'s spelling of them). A clash of folders is settled before
    the clashes below them. Returns ``source`` itself when no names clash."""
    groups: dict[str, list[str]] = {}
    for p in source.entries:
        groups.setdefault(p.casefold(), []).append(p)
    clashing = [names for names in groups.values() if len(names) > 1]
    if not clashing:
        return source
    clashing.sort(key=lambda names: (names[0].count("/"), sort_key(names[0].casefold())))
    held = {p.casefold(): p for p in target.entries}
    dropped: set[str] = set()
    problems: list[Problem] = []
    for names in clashing:
        names = sorted((p for p in names if not _below(p, dropped)), key=sort_key)
        if len(names) < 2:
            continue
        keep = next((p for p in names if p in target.entries), names[0])
        for p in names:
            if p != keep:
                dropped.add(p)
                problems.append(Problem(keep, case_clash([p], where), side))
    # The target's spelling of a name left out is that name there: nothing at or below it is deleted.
    marked = dropped | {held[k] for k in (p.casefold() for p in dropped) if k in held}
    entries = {p: e for p, e in source.entries.items() if not _below(p, dropped)}
    return replace(source, entries=entries, problems=(*source.problems, *problems),
                   unreadable=source.unreadable | frozenset(marked))


def respell(target: Index, source: Index) -> Index:
    """The case-insensitive ``target`` with each path that differs from a ``source`` path only in case
    spelled as the source spells it (its entry, problems and unreadable marks alike), so a name whose case
    changed is the same name there, as the target's own file system takes it: updated in place (the
    target keeps its spelling), never copied anew and deleted under its old spelling. ``source`` must be
    free of case clashes (:func:`fold_case`). Returns ``target`` itself when no spelling differs."""
    spelled = {p.casefold(): p for p in source.entries}
    renames = {p: q for p in target.entries if p not in source.entries
               and (q := spelled.get(p.casefold())) is not None and q != p}
    if not renames:
        return target
    entries = {renames.get(p, p): e for p, e in target.entries.items()}
    return replace(target, entries=entries, presorted=False,
                   unreadable=frozenset(renames.get(p, p) for p in target.unreadable),
                   problems=tuple(replace(x, path=renames.get(x.path, x.path)) for x in target.problems))


def _below(path: str, tops: set[str]) -> bool:
    """Whether ``path`` is one of ``tops`` or below one."""
    while path:
        if path in tops:
            return True
        path = parent(path)
    return False


@dataclass(frozen=True, slots=True)
class PairProjection:
    """The two trees and the compare rules a two-way planner takes: ``compare`` for whether the two sides
    hold the same content (a modify window of at least the coarser side's precision), ``compare_a`` and
    ``compare_b`` for whether side A, side B changed since the base (at least that side's own precision:
    never wider than ``compare``); ``modes``: whether mode bits count (False: both trees' are 0, see
    :func:`give_modes`)."""

    a: Index
    b: Index
    compare: Compare
    modes: bool
    compare_a: Compare
    compare_b: Compare


def project_pair(a: Index, b: Index, compare: Compare, keeps_a: Keeps, keeps_b: Keeps) -> PairProjection:
    """Two trees of a two-way pair as each can keep the other's (see the module): the compare rule with a
    modify window of at least the coarser side's mtime precision, and each side's own with at least its
    own precision (no mtime is truncated: each tree's entries are what the writes into it re-check), mode
    bits 0 on both unless both sides keep them, each side's symlinks left out (a notice, the path
    unreadable) when the other side cannot hold them, and each side's names that are not UTF-8 (an error,
    the path unreadable) when the other side holds only UTF-8 names. Owners are no part of it: two-way sync keeps none.
    Case is not either: the two-way planner settles case clashes itself, on the side that ignores case. A
    pair that keeps everything gets its trees and compare rules back unchanged (the same objects)."""
    modes = keeps_a.permissions and keeps_b.permissions
    return PairProjection(
        project_index(a, symlinks=keeps_b.symlinks, permissions=modes, side="a", onto="side B",
                      utf8_names=keeps_b.utf8_names),
        project_index(b, symlinks=keeps_a.symlinks, permissions=modes, side="b", onto="side A",
                      utf8_names=keeps_a.utf8_names),
        effective_compare(compare, max(keeps_a.mtime_ns_precision, keeps_b.mtime_ns_precision)),
        modes,
        effective_compare(compare, keeps_a.mtime_ns_precision),
        effective_compare(compare, keeps_b.mtime_ns_precision))


def give_modes(plan: Plan, own: Mapping[str, Entry], other: Mapping[str, Entry]) -> Plan:
    """``plan``, made from trees whose modes were projected away (0) and to be written into the tree
    ``own`` holds (as scanned, modes and all), with each ``meta`` giving its path the mode ``own`` holds
    there (so it changes no mode, and shows no mode change), or, for an item the plan makes, the mode
    ``other`` (the tree it comes from) holds there, else :data:`DEFAULT_MODES`. A copy needs nothing: it
    takes its source file's own mode. Returns ``plan`` itself when it holds no ``meta``."""
    if not any(a.op == "meta" for a in plan.actions):
        return plan
    actions = []
    for act in plan.actions:
        e = act.entry
        if act.op == "meta" and e is not None and e.kind != SYMLINK:
            here, there = own.get(act.path), other.get(act.path)
            mode = (here.mode if here is not None and here.kind == e.kind else
                    there.mode if there is not None and there.kind == e.kind else DEFAULT_MODES[e.kind])
            expect = act.expect
            if expect is not None and here is not None and here.kind == expect.kind:
                expect = expect._replace(mode=here.mode)
            act = replace(act, entry=e._replace(mode=mode), expect=expect)
        actions.append(act)
    return replace(plan, actions=tuple(actions))


def effective_compare(compare: Compare, mtime_ns_precision: int) -> Compare:
    """``compare`` with a modify window of at least the target's mtime precision (none at 1 ns)."""
    if mtime_ns_precision <= 1 or compare.modify_window_ns >= mtime_ns_precision:
        return compare
    return replace(compare, modify_window_ns=mtime_ns_precision)


def effective_keep(keep: Keep, owner: bool) -> Keep:
    """``keep`` without owners when the target cannot give them, and without groups unless bounded to the
    running user's own (``Keep.groups``)."""
    if owner or not (keep.owner or (keep.group and keep.groups is None)):
        return keep
    return replace(keep, owner=False, group=keep.group and keep.groups is not None)
