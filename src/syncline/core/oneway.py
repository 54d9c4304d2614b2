"""``mirror(source, target)``: the one-way planner behind ``syncline sync``. Pure: indexes in, Plan out.

Decisions (table-tested in ``tests/test_mirror.py``):

- a path only in the source is created; a file whose content differs (under the compare mode) is copied;
  equal content with other mode or mtime gets ``meta``; a symlink with another target is re-made;
- a path whose kind differs is replaced, whatever ``delete`` says (as rsync does); a directory that still
  holds target-only entries is replaced only with ``delete`` (else it is reported and left alone);
- with ``delete``, paths only in the target are deleted, children before parents, after all copies;
  never a path under a part of the source the scan could not read;
- every directory whose content or metadata changes gets a final ``meta`` (deepest first), so mtimes and
  modes end exactly as in the source, the root included;
- ``keep`` adds owner, group and extended attributes to what ``meta`` compares (where the source index
  recorded them), and with ``hard_links`` each later name of a source file with several names (the
  source index's ``hard_links``) becomes a ``link`` to its first name, after all copies, unless the
  destination has the two names as one file already and the first name is not copied anew.
"""

from __future__ import annotations

from .entry import DIR, FILE, SYMLINK, Compare, CompareMode, Entry, Keep
from .errors import Problem
from .guard import check_deletes, files_of
from .index import Index
from .paths import is_under, parent, sort_key
from .plan import Action, Op, Plan

_CREATE_OP: dict[str, Op] = {FILE: "copy", DIR: "mkdir", SYMLINK: "symlink"}


def mirror(source: Index, target: Index, *, delete: bool = False, compare: Compare | None = None,
           keep: Keep | None = None) -> Plan:
    """Plan the changes that make ``target`` hold what ``source`` holds (and, with ``delete``, nothing more)."""
    compare = compare or Compare()
    keep = keep or Keep()
    links = source.hard_links if keep.hard_links else {}
    linking: list[Action] = []
    copied: set[str] = set()  # files written anew: a name linked to one of them is linked again
    src, dst = source.entries, target.entries
    actions: list[Action] = []
    problems: list[Problem] = []
    dirty: set[str] = set()  # directories whose listing changes
    handled: set[str] = set()  # target paths already deleted as part of a replacement
    blocked: str | None = None  # a source subtree we cannot create (its target path is in the way)

    # rsync's quick check with an exact mtime: equal size and mtime means equal content.
    quick = compare.mode is CompareMode.MTIME and compare.modify_window_ns == 0
    for path, se in src.items():
        if blocked is not None and is_under(path, blocked):
            continue
        blocked = None
        de = dst.get(path)
        first = links.get(path) if links else None
        if first is not None and first in src:
            fde = dst.get(first)
            if (de is not None and fde is not None and de.kind == FILE == fde.kind and de.file_id
                    and de.file_id == fde.file_id and first not in copied):
                continue  # one file with both names already; the first name's actions cover it
            if de is not None and de.kind == DIR:
                if not _free_dir(source, target, path, delete, actions, problems, handled):
                    blocked = path
                    continue
            linking.append(Action("link", path, se, de, first))
            dirty.add(parent(path))
            continue
        if quick and de is not None and se.kind == FILE == de.kind and se.size == de.size \
                and se.mtime_ns == de.mtime_ns:
            if se.mode != de.mode or (se.attrs is not None and keep.changes(se.attrs, de.attrs)):
                actions.append(Action("meta", path, se, de))
            continue
        if de is None:
            actions.append(Action(_CREATE_OP[se.kind], path, se, None))
            dirty.add(parent(path))
            copied.add(path)
        elif de.kind != se.kind:
            if de.kind == DIR and not _free_dir(source, target, path, delete, actions, problems, handled):
                blocked = path
                continue
            actions.append(Action(_CREATE_OP[se.kind], path, se, de))
            dirty.add(parent(path))
            copied.add(path)
        elif se.kind == FILE:
            if not se.same_content(de, compare):
                actions.append(Action("copy", path, se, de))
                dirty.add(parent(path))
                copied.add(path)
            elif not se.same_meta(de, compare, keep):
                actions.append(Action("meta", path, se, de))
        elif se.kind == SYMLINK:
            if se.target != de.target:
                actions.append(Action("symlink", path, se, de))
                dirty.add(parent(path))
            elif not compare.mtime_equal(se.mtime_ns, de.mtime_ns) or \
                    (se.attrs is not None and keep.changes(se.attrs, de.attrs)):
                actions.append(Action("meta", path, se, de))
    actions.extend(linking)

    if delete:
        # ``dst`` is in byte order already: reversed, children come before their parents.
        for path in reversed([p for p in dst if p not in src and p not in handled]):
            if source.is_unreadable(path):
                continue
            actions.append(Action("delete", path, None, dst[path]))
            dirty.add(parent(path))

    for path in reversed(source.sorted_paths()):
        se = src[path]
        if se.kind != DIR:
            continue
        de = dst.get(path)
        if de is None or de.kind != DIR or path in dirty or not se.same_meta(de, compare, keep):
            de = de if de is not None and de.kind == DIR else None
            actions.append(Action("meta", path, _attrs_to_set(se, de, keep), de))
    if source.root is not None:
        troot = target.root
        if "" in dirty or troot is None or not source.root.same_meta(troot, compare, keep):
            actions.append(Action("meta", "", _attrs_to_set(source.root, troot, keep), troot))
    return Plan(tuple(actions), tuple(problems), compare, keep)


def _attrs_to_set(se: Entry, de: Entry | None, keep: Keep) -> Entry:
    """``se`` for a directory's final ``meta``: without its attributes when none that ``keep`` keeps differ
    from the existing directory's (the meta is then about mode and mtime only, and shown only if they
    differ)."""
    if se.attrs is None or de is None or keep.changes(se.attrs, de.attrs):
        return se
    return se._replace(attrs=None)


def _free_dir(source: Index, target: Index, path: str, delete: bool, actions: list[Action],
              problems: list[Problem], handled: set[str]) -> bool:
    """Plan the deletion of what the target directory ``path`` holds, so a file can take its place; False
    (with a problem) when it holds entries and ``delete`` is off, or part of it could not be read."""
    inner = _children(target, path)
    if inner and not delete:
        problems.append(Problem(path, "not replaced: the destination directory is not empty "
                                      "(use --delete to replace it)", "destination"))
        return False
    if any(source.is_unreadable(p) for p in inner):
        problems.append(Problem(path, "not replaced: part of it could not be read", "source"))
        return False
    for p in sorted(inner, key=sort_key, reverse=True):
        actions.append(Action("delete", p, None, target.entries[p]))
        handled.add(p)
    return True


def _children(index: Index, path: str) -> list[str]:
    prefix = path + "/"
    return [p for p in index.entries if p.startswith(prefix)]


def deletes_under_limit(plan: Plan, target: Index, max_delete: int | float) -> bool:
    """Whether the plan's file deletions stay within ``max_delete``: :func:`~syncline.core.guard.check_deletes`
    with the target's files.

    An ``int`` is a count of files; a ``float`` in (0, 1] a fraction of the target's files. Only
    deletions count, not overwrites: an overwritten file's old content goes to the trash either way.
    """
    return check_deletes(max_delete, plan.summary().file_deletes, files_of(target.entries)) is None
