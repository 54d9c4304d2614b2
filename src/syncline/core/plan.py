"""The :class:`Plan`: a printable, serializable list of :class:`Action` values.

Each action names the state it wants (``entry``, from the source) and the state it assumes at the
destination (``expect``: the entry the plan saw there, None for "absent"). The executor re-checks
``expect`` right before acting and keeps the destination's data whenever it moved on.

Ops:

- ``mkdir``, ``copy``, ``symlink``: create or replace the path with ``entry`` (replacing a different kind
  is allowed; the replaced data goes to the trash);
- ``delete``: remove ``expect`` (files to the trash, directories once empty);
- ``meta``: set permission bits and mtime only (and owner, group and extended attributes where the plan
  keeps them; directories are fixed last, deepest first, after their content changed). Path "" means the
  root directory itself;
- ``link``: make the path another name of the file at ``link_to`` (hard links kept, ``-H``): after every
  copy of the plan, so the file it names is in place.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Literal

from .entry import DIR, FILE, SYMLINK, Compare, CompareMode, Entry, Keep
from .errors import Problem

Op = Literal["mkdir", "copy", "symlink", "delete", "meta", "link"]
_KIND_LETTER = {FILE: "f", DIR: "d", SYMLINK: "L"}


@dataclass(frozen=True, slots=True)
class Action:
    """One step of a plan; see the module docstring for the ops."""

    op: Op
    path: str
    entry: Entry | None
    expect: Entry | None
    link_to: str | None = None

    def itemize(self, compare: Compare | None = None, keep: Keep | None = None) -> str:
        """The rsync ``--itemize-changes`` code of this action (11 characters, or ``*deleting``)."""
        if self.op == "delete":
            return "*deleting  "
        e = self.entry
        assert e is not None
        kind = _KIND_LETTER[e.kind]
        old = self.expect
        if self.op == "link":
            return f"h{kind}+++++++++" if old is None else f"h{kind}........."
        if old is None or old.kind != e.kind:
            head = ">" if e.kind == FILE else "c"
            return f"{head}{kind}+++++++++"
        checksum = compare is not None and compare.mode is CompareMode.CHECKSUM
        c = "c" if (checksum and e.kind == FILE and e.digest != old.digest and old.digest is not None) else "."
        if e.kind == SYMLINK and e.target != old.target:
            c = "c"
        s = "s" if e.kind == FILE and e.size != old.size else "."
        t = "t" if e.mtime_ns != old.mtime_ns else "."
        p = "p" if e.kind != SYMLINK and e.mode != old.mode else "."
        head = ">" if self.op == "copy" else "c" if self.op == "symlink" else "."
        attrs = keep.changes(e.attrs, old.attrs) if keep is not None else ""
        o, g, a, x = ("o" if "o" in attrs else ".", "g" if "g" in attrs else ".", "a" if "a" in attrs else ".",
                      "x" if "x" in attrs else ".")
        return f"{head}{kind}{c}{s}{t}{p}{o}{g}.{a}{x}"

    @property
    def visible(self) -> bool:
        """False for a directory ``meta`` that only restores what the run's own writes will disturb
        (a new directory's final mode, a parent's mtime): not a change a user needs to see or count."""
        if self.op != "meta" or self.entry is None or self.entry.kind != DIR:
            return True
        if self.expect is None:
            return False
        return self.entry.mode != self.expect.mode or self.entry.mtime_ns != self.expect.mtime_ns \
            or (self.entry.attrs is not None and self.entry.attrs != self.expect.attrs)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"op": self.op, "path": self.path}
        if self.link_to is not None:
            out["link_to"] = self.link_to
        if self.entry is not None:
            out["kind"] = self.entry.kind
            if self.entry.kind == FILE:
                out["size"] = self.entry.size
        return out


@dataclass(frozen=True, slots=True)
class PlanSummary:
    """What a plan will do, counted."""

    copies: int = 0
    copy_bytes: int = 0
    mkdirs: int = 0
    symlinks: int = 0
    deletes: int = 0
    file_deletes: int = 0
    meta: int = 0
    hard_links: int = 0


@dataclass(frozen=True)
class Plan:
    """An ordered tuple of actions plus the problems the planner met (items it will not touch)."""

    actions: tuple[Action, ...] = ()
    problems: tuple[Problem, ...] = ()
    compare: Compare = field(default_factory=Compare)
    keep: Keep = field(default_factory=Keep)

    def __iter__(self) -> Iterator[Action]:
        return iter(self.actions)

    def __len__(self) -> int:
        return len(self.actions)

    def summary(self) -> PlanSummary:
        copies = copy_bytes = mkdirs = links = deletes = file_deletes = meta = hard = 0
        for a in self.actions:
            if a.op == "copy":
                copies += 1
                copy_bytes += a.entry.size if a.entry is not None else 0
            elif a.op == "mkdir":
                mkdirs += 1
            elif a.op == "symlink":
                links += 1
            elif a.op == "link":
                hard += 1
            elif a.op == "delete":
                deletes += 1
                if a.expect is not None and a.expect.kind != DIR:
                    file_deletes += 1
            elif a.visible:
                meta += 1
        return PlanSummary(copies, copy_bytes, mkdirs, links, deletes, file_deletes, meta, hard)

    def lines(self) -> Iterator[str]:
        """One line per action, as ``rsync -i`` prints them (directories end with ``/``)."""
        for a in self.actions:
            if not a.visible:
                continue
            kind = a.entry or a.expect
            shown = a.path or "."
            if kind is not None and kind.kind == DIR:
                shown += "/"
            if kind is not None and kind.kind == SYMLINK and a.op == "symlink" and a.entry is not None:
                shown += f" -> {a.entry.target}"
            if a.link_to is not None:
                shown += f" => {a.link_to}"
            yield f"{a.itemize(self.compare, self.keep)} {shown}"

    def to_json(self) -> list[dict[str, Any]]:
        return [a.to_json() for a in self.actions if a.visible]
