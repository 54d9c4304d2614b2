"""Config files, typed: TOML read with :mod:`tomllib` into frozen dataclasses.

Every bad value is one :class:`UsageError` on one line naming the file, the key (and the table it is in)
and what to write instead, so a service that will not start says why in its log. The schema of a key is
written once (:data:`OPTION_KEYS`: what it must be, an example, and the option it sets), and the options
it sets are the shared parts of :mod:`syncline.engine.options`, the same values the CLI and the API build.

The watch's mirrors file (``syncline watch --config FILE``) lives here; the daemon's config will too.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from ..core.errors import UsageError
from ..engine.oneway import SyncOptions
from ..engine.options import COMPARE_MODES, compare_named, parse_max_delete
from ..engine.replicas.address import parse_address


@dataclass(frozen=True, slots=True)
class Key:
    """One option key: ``what`` it must be (as the error says it), an ``example`` of how to write it, the
    test its value must pass, and how it sets the options."""

    what: str
    example: str
    valid: Callable[[Any], bool]
    apply: Callable[[SyncOptions, Any], SyncOptions]


def _is_bool(value: Any) -> bool:
    return isinstance(value, bool)


def _is_strings(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(x, str) for x in value)


def _is_max_delete(value: Any) -> bool:
    if isinstance(value, bool) or not isinstance(value, int | str):
        return False
    try:
        parse_max_delete(str(value))
    except ValueError:
        return False
    return True


OPTION_KEYS: dict[str, Key] = {
    "delete": Key("true or false", "delete = true", _is_bool, lambda o, v: replace(o, delete=v)),
    "compare": Key("mtime, size or hash", 'compare = "hash"', lambda v: isinstance(v, str) and v in COMPARE_MODES,
                   lambda o, v: replace(o, compare=compare_named(v))),
    "trash": Key("true or false", "trash = false", _is_bool, lambda o, v: replace(o, trash=v)),
    "max_delete": Key('a file count or a percentage such as "50%"', 'max_delete = "50%" or max_delete = 1000',
                      _is_max_delete, lambda o, v: replace(o, max_delete=parse_max_delete(str(v)))),
    "force": Key("true or false", "force = true", _is_bool, lambda o, v: replace(o, force=v)),
    "exclude": Key("a list of strings", 'exclude = ["*.tmp", ".cache/"]', _is_strings,
                   lambda o, v: replace(o, rules=replace(o.rules, excludes=tuple(v)))),
    "include": Key("a list of strings", 'include = ["keep.tmp"]', _is_strings,
                   lambda o, v: replace(o, rules=replace(o.rules, includes=tuple(v)))),
    "ignore_files": Key("true or false", "ignore_files = false", _is_bool,
                        lambda o, v: replace(o, rules=replace(o.rules, ignore_files=v))),
}
PLACE_KEYS = ("source", "targets")


@dataclass(frozen=True, slots=True)
class MirrorConfig:
    """One ``[[mirror]]``: a source folder, its targets (addresses, checked), and its one-way options."""

    source: str
    targets: tuple[str, ...]
    options: SyncOptions


@dataclass(frozen=True, slots=True)
class WatchConfig:
    """A mirrors file: where it was read from, and its mirrors in order."""

    path: str
    mirrors: tuple[MirrorConfig, ...]


def load_watch_config(path: str | os.PathLike[str], defaults: SyncOptions | None = None) -> WatchConfig:
    """The mirrors of a TOML file: ``[defaults]`` (any option key) and one ``[[mirror]]`` table each with
    ``source`` and ``targets`` and options of its own. A mirror's options win over ``[defaults]``, which
    win over ``defaults`` (the command line's). Raises :class:`UsageError` for a file that cannot be read
    and for the first bad key or value."""
    name = os.fspath(path)
    try:
        doc = tomllib.loads(Path(name).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UsageError(f"no such config file: {name}", "check the path") from None
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise UsageError(f"cannot read {name}: {exc}", "fix the file (TOML)") from None
    unknown = set(doc) - {"defaults", "mirror"}
    if unknown:
        raise UsageError(f"{name}: unknown table or key {sorted(unknown)[0]!r}",
                         "use [defaults] and [[mirror]] tables only")
    base_table = _table(doc.get("defaults", {}), name, "defaults")
    base = _options(defaults or SyncOptions(), base_table, name, "defaults")
    tables = doc.get("mirror")
    if not isinstance(tables, list) or not tables:
        raise UsageError(f"{name} has no [[mirror]] tables", "add one with source = ... and targets = [...]")
    mirrors = []
    for n, raw in enumerate(tables, 1):
        where = f"mirror {n}"
        table = {**{k: base_table[k] for k in PLACE_KEYS if k in base_table}, **_table(raw, name, where)}
        options = _options(base, table, name, where)
        source, targets = table.get("source"), table.get("targets")
        if not isinstance(source, str) or not _is_strings(targets) or not targets:
            raise UsageError(f"{name}: {where} needs source = \"DIR\" and targets = [\"DIR\", ...]",
                             "fix the file")
        for key, place in (("source", source), *(("targets", t) for t in targets)):
            _check_place(place, name, key, where)
        mirrors.append(MirrorConfig(source, tuple(targets), options))
    return WatchConfig(name, tuple(mirrors))


def _table(table: Any, name: str, where: str) -> dict[str, Any]:
    if not isinstance(table, dict):
        raise UsageError(f"{name}: {where} is not a table", f"write it as [{where.split()[0]}]")
    unknown = set(table) - set(OPTION_KEYS) - set(PLACE_KEYS)
    if unknown:
        raise UsageError(f"{name}: unknown option {sorted(unknown)[0]!r} in {where}",
                         f"known options: {', '.join(sorted((*OPTION_KEYS, *PLACE_KEYS)))}")
    return table


def _options(options: SyncOptions, table: dict[str, Any], name: str, where: str) -> SyncOptions:
    """``options`` with the option keys of ``table`` set, each checked against its schema."""
    for key, value in table.items():
        spec = OPTION_KEYS.get(key)
        if spec is None:
            continue
        if not spec.valid(value):
            raise UsageError(f"{name}: {key} in {where} must be {spec.what}", f"write e.g. {spec.example}")
        options = spec.apply(options, value)
    return options


def _check_place(place: str, name: str, key: str, where: str) -> None:
    if not place.strip():
        raise UsageError(f"{name}: {key} in {where} holds an empty path", f"write e.g. {key} = "
                         + ('"/path/to/DIR"' if key == "source" else '["/path/to/DIR"]'))
    try:
        parse_address(place)
    except UsageError as exc:
        raise UsageError(f"{name}: {key} in {where}: {exc.message}", exc.hint) from None
