"""The options every mode shares, as small parts the modes' options classes are composed from.

The set {rules, compare, max_delete, force, dry_run, trash} used to be declared again in each options class
and API signature. Each part is declared once here, and a mode's options class inherits the parts it takes
(``SyncOptions(Writes, Guards, Comparison, Filters)``), so its flat keywords and attributes
(``SyncOptions(delete=True, max_delete=1.0)``, ``opts.force``) stay as they were. The CLI, the API and the
config file build the parts, and a mode's options from them with :meth:`Options.of`; a run takes a part
back out with :meth:`Options.part`.

The spellings users type are parsed here too, once: :func:`compare_named` (``mtime``, ``size``, ``hash``
and rsync's ``--checksum``/``--size-only``), :func:`parse_max_delete` (``1000`` or ``50%``).
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any, Self, TypeVar

from ..core.entry import Compare, CompareMode
from ..core.errors import UsageError
from ..core.guard import DEFAULT_MAX_DELETE
from ..core.ignore import Rules
from .replicas.replica import WritePolicy

COMPARE_MODES = {"mtime": CompareMode.MTIME, "size": CompareMode.SIZE, "hash": CompareMode.CHECKSUM}


@dataclass(frozen=True, kw_only=True)
class Part:
    """A group of options several modes take; a value of its own, and a base of the options classes."""


P = TypeVar("P", bound=Part)


@dataclass(frozen=True, kw_only=True)
class Filters(Part):
    """Which paths a run sees: ``--exclude``, ``--include``, ``.synclineignore`` files."""

    rules: Rules = field(default_factory=Rules)


@dataclass(frozen=True, kw_only=True)
class Comparison(Part):
    """How a file at the far side is judged unchanged (``--compare``)."""

    compare: Compare = field(default_factory=Compare)


@dataclass(frozen=True, kw_only=True)
class Guards(Part):
    """The deletion guards: at most ``max_delete`` file deletions (a count, or a fraction of the files
    there), unless ``force``, which also passes the mode's other safety stops."""

    max_delete: int | float = DEFAULT_MAX_DELETE
    force: bool = False


@dataclass(frozen=True, kw_only=True)
class Writes(Part):
    """How a run writes: not at all (``dry_run``), and whether what it replaces or deletes goes to the
    trash (``trash``, the :class:`WritePolicy` a one-way target gets)."""

    dry_run: bool = False
    trash: bool = True

    def policy(self) -> WritePolicy:
        return WritePolicy(trash=self.trash)


@dataclass(frozen=True, kw_only=True)
class Options(Part):
    """Base of the modes' options classes: built from parts, and gives them back."""

    @classmethod
    def of(cls, *parts: Part, **own: Any) -> Self:
        """The options made of ``parts`` (each must be one this class is composed from) and the mode's own
        keywords (``own``, which win over a part's field of the same name)."""
        given: dict[str, Any] = {}
        for part in parts:
            if not isinstance(part, Part) or type(part) not in cls.__mro__:
                raise TypeError(f"{cls.__name__} takes no {type(part).__name__}")
            given.update({f.name: getattr(part, f.name) for f in fields(part)})
        return cls(**{**given, **own})

    def part(self, kind: type[P]) -> P:
        """This value's ``kind`` part (``opts.part(Guards)``)."""
        if kind not in type(self).__mro__:
            raise TypeError(f"{type(self).__name__} has no {kind.__name__}")
        return kind(**{f.name: getattr(self, f.name) for f in fields(kind)})


def compare_named(name: str | None = None, checksum: bool = False, size_only: bool = False,
                  modify_window: float = 0) -> Compare:
    """The Compare for ``--compare NAME`` (``mtime``, ``size``, ``hash``; None is mtime) and rsync's flags
    (``-c``/``--checksum`` is hash, ``--size-only`` size); choices that disagree are a usage error."""
    if name is not None and name not in COMPARE_MODES:
        raise UsageError(f"unknown compare mode {name!r}", "use mtime, size or hash")
    picked = {m for m, on in (("hash", checksum), ("size", size_only)) if on}
    if name is not None:
        picked.add(name)
    if len(picked) > 1:
        raise UsageError("--checksum, --size-only and --compare exclude each other", "pick one")
    return Compare(COMPARE_MODES[picked.pop() if picked else "mtime"], int(modify_window * 1_000_000_000))


def parse_max_delete(text: str) -> int | float:
    """``"1000"`` (a file count) or ``"50%"`` (a fraction of the destination's files, returned as 0.5);
    ValueError for anything else."""
    text = text.strip()
    if text.endswith("%"):
        pct = float(text[:-1])
        if not 0 <= pct <= 100:
            raise ValueError(text)
        return pct / 100.0
    count = int(text)
    if count < 0:
        raise ValueError(text)
    return count


def guards_from(max_delete: int | float | None = None, force: bool = False) -> Guards:
    """The guards for a ``--max-delete`` that may not have been given (None: the default)."""
    return Guards(max_delete=DEFAULT_MAX_DELETE if max_delete is None else max_delete, force=force)
