"""Config files, typed: TOML read with :mod:`tomllib` into frozen dataclasses.

Every bad value is one :class:`UsageError` on one line naming the file, the key (and the table it is in)
and what to write instead, so a service that will not start says why in its log. The schema of a key is
written once (:data:`OPTION_KEYS`: what it must be, an example, and the option it sets), and the options
it sets are the shared parts of :mod:`syncline.engine.options`, the same values the CLI and the API build.

The watch's mirrors file (``syncline watch --config FILE``) lives here, and the daemon's
(``daemon.toml``: :func:`load_daemon_config`; its editor for ``syncline folder add`` is
``services/daemon/configfile.py``).
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from ..core.errors import UsageError
from ..core.units import RATE_FORMS, parse_duration, parse_rate
from ..engine.oneway import SyncOptions
from ..engine.options import COMPARE_MODES, Comparison, Filters, Guards, Writes, compare_named, parse_max_delete
from ..engine.replicas.address import parse_address
from ..engine.twoway.run import TwoWaySyncOptions


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
    doc = _read_toml(name)
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


def _table(table: Any, name: str, where: str, known: tuple[str, ...] = (*OPTION_KEYS, *PLACE_KEYS)
           ) -> dict[str, Any]:
    """``table``, checked to be a table holding ``known`` keys only."""
    if not isinstance(table, dict):
        raise UsageError(f"{name}: {where} is not a table", f"write it as [{where.split()[0]}]")
    unknown = set(table) - set(known)
    if unknown:
        raise UsageError(f"{name}: unknown option {sorted(unknown)[0]!r} in {where}",
                         f"known options: {', '.join(sorted(known))}")
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


# ---------------------------------------------------------------------------------------------- the daemon

DAEMON_OPTION_KEYS = ("compare", "trash", "max_delete", "exclude", "include", "ignore_files")
"""The option keys a daemon's folder takes: the two-way ones. ``delete`` is the one-way mode's, and
``force`` stays a one-off of ``syncline sync --two-way --force``: a daemon that always forced would merge
past every missing-root and mass-delete stop."""
DAEMON_FOLDER_KEYS = ("local", "remote", "paused", "check_every")
DEFAULT_CHECK_EVERY = 3600.0
RATE_KEYS = ("max_upload_rate", "max_download_rate")
"""The bandwidth limits, ``[defaults]`` keys only: a limit is per server (every folder on it shares it),
so a folder of its own has none."""


@dataclass(frozen=True, slots=True)
class FolderConfig:
    """One ``[[folder]]``: the device's folder (``local``, absolute, ``~`` expanded), the folder it is
    bound to (``remote``: a folder name on ``[server] url``, or any replica address), whether it is
    ``paused``, how often a full run catches what no change event shows (``check_every``, seconds), and its
    two-way options."""

    local: str
    remote: str
    paused: bool
    check_every: float
    options: TwoWaySyncOptions


DEFAULT_SHARES_DIR = "~/Shared"


@dataclass(frozen=True, slots=True)
class SharesConfig:
    """``[shares]``: what the daemon does with folders other users share with this user. ``accept``:
    ``ask`` (they are listed by ``syncline status``; ``syncline share accept`` takes one) or ``auto``
    (accepted and bound at once); ``dir``: where shared folders are bound (absolute, ``~`` expanded),
    each as ``dir/NAME``, only ever to a missing or empty folder."""

    accept: str = "ask"
    dir: str = field(default_factory=lambda: os.path.normpath(os.path.expanduser(DEFAULT_SHARES_DIR)))


@dataclass(frozen=True, slots=True)
class UiConfig:
    """``[ui]``: the daemon's own page on 127.0.0.1 (``syncline ui`` opens it). ``enabled`` (default
    true) serves it; ``port`` is the TCP port (default 0: any free one, written to ``STATE/daemon/ui.json``).
    Read when the daemon starts: a change takes effect at the next start."""

    enabled: bool = True
    port: int = 0


@dataclass(frozen=True, slots=True)
class DaemonConfig:
    """A daemon's config file: where it was read from, the server's ``url`` (None: no server yet, every
    folder's ``remote`` is an address of its own), the folders in order, what to do with shares,
    whether a file locked by someone else is made read-only here while the lock lasts
    (``lock_makes_readonly``, a top-level key), the bandwidth limits of each server's transfers
    (``[defaults] max_upload_rate`` and ``max_download_rate``, in bytes per second; 0: none), and the
    daemon's page (``[ui]``)."""

    path: str
    server_url: str | None
    folders: tuple[FolderConfig, ...]
    shares: SharesConfig = field(default_factory=SharesConfig)
    lock_makes_readonly: bool = False
    max_upload_rate: float = 0.0
    max_download_rate: float = 0.0
    ui: UiConfig = field(default_factory=UiConfig)


def daemon_config_path() -> Path:
    """Where the daemon's config lives: ``$XDG_CONFIG_HOME/syncline/daemon.toml``, else
    ``~/.config/syncline/daemon.toml``."""
    xdg = os.environ.get("XDG_CONFIG_HOME")
    return (Path(xdg) if xdg else Path.home() / ".config") / "syncline" / "daemon.toml"


def load_daemon_config(path: str | os.PathLike[str]) -> DaemonConfig:
    """The daemon's config: ``lock_makes_readonly`` (true or false, before any table), ``[server] url``,
    ``[defaults]`` (``check_every``, the bandwidth limits of :data:`RATE_KEYS` and the two-way option
    keys of :data:`DAEMON_OPTION_KEYS`) and
    ``[[folder]]`` tables (``local``, ``remote``, optional ``paused``, ``check_every`` and option keys,
    which win over ``[defaults]``). A file without folders is valid (a
    daemon just set up). Raises :class:`UsageError`, one line naming the file, the table and the key, for a
    file that cannot be read and for the first bad key or value; two folders with the same or nested
    ``local`` are refused (two loops would fight over one tree)."""
    name = os.fspath(path)
    doc = _read_toml(name)
    unknown = set(doc) - {"server", "defaults", "folder", "shares", "ui", "lock_makes_readonly"}
    if unknown:
        raise UsageError(f"{name}: unknown table or key {sorted(unknown)[0]!r}",
                         "use lock_makes_readonly and [server], [defaults], [shares], [ui] and [[folder]] tables only")
    readonly = doc.get("lock_makes_readonly", False)
    if not isinstance(readonly, bool):
        raise UsageError(f"{name}: lock_makes_readonly must be true or false",
                         "write e.g. lock_makes_readonly = true, at the top of the file before any table")
    server = doc.get("server", {})
    if not isinstance(server, dict):
        raise UsageError(f"{name}: server is not a table", "write it as [server]")
    if set(server) - {"url"}:
        raise UsageError(f"{name}: unknown key {sorted(set(server) - {'url'})[0]!r} in server", "known keys: url")
    url = server.get("url")
    if url is not None and (not isinstance(url, str) or "://" not in url):
        raise UsageError(f"{name}: url in server must be an address such as \"https://host:8765\"",
                         "`syncline connect URL` writes it")
    defaults = _table(doc.get("defaults", {}), name, "defaults", (*DAEMON_OPTION_KEYS, "check_every", *RATE_KEYS))
    base = _daemon_options(TwoWaySyncOptions(), defaults, name, "defaults")
    every = _check_every(defaults, DEFAULT_CHECK_EVERY, name, "defaults")
    upload, download = (_rate(defaults, key, name) for key in RATE_KEYS)
    tables = doc.get("folder", [])
    if not isinstance(tables, list):
        raise UsageError(f"{name}: folder must be [[folder]] tables", "write each folder as [[folder]]")
    folders: list[FolderConfig] = []
    for n, raw in enumerate(tables, 1):
        where = f"folder {n}"
        if isinstance(raw, dict) and set(raw) & set(RATE_KEYS):
            raise UsageError(f"{name}: {sorted(set(raw) & set(RATE_KEYS))[0]} in {where} is not a folder's",
                             "a bandwidth limit is per server, shared by all its folders: set it in [defaults]")
        table = _table(raw, name, where, (*DAEMON_OPTION_KEYS, *DAEMON_FOLDER_KEYS))
        local, remote, paused = table.get("local"), table.get("remote"), table.get("paused", False)
        if not isinstance(local, str) or not local.strip():
            raise UsageError(f"{name}: local in {where} must be a folder path", 'write e.g. local = "~/Documents"')
        if not isinstance(remote, str) or not remote.strip():
            raise UsageError(f"{name}: remote in {where} must be a folder name", 'write e.g. remote = "Documents"')
        if not isinstance(paused, bool):
            raise UsageError(f"{name}: paused in {where} must be true or false", "write e.g. paused = true")
        local_path = os.path.expanduser(local)
        if not os.path.isabs(local_path):
            raise UsageError(f"{name}: local in {where} is not an absolute path: {local}",
                             'write e.g. local = "~/Documents" or "/home/me/Documents"')
        folder = FolderConfig(os.path.normpath(local_path), remote, paused, _check_every(table, every, name, where),
                              _daemon_options(base, table, name, where))
        for other in folders:
            a, b = Path(other.local), Path(folder.local)
            if a == b or a.is_relative_to(b) or b.is_relative_to(a):
                raise UsageError(f"{name}: local in {where} ({folder.local}) is the same as or nested in "
                                 f"{other.local}", "give each folder its own tree")
        folders.append(folder)
    return DaemonConfig(name, url, tuple(folders), _shares(doc.get("shares", {}), name), readonly, upload, download,
                        _ui(doc.get("ui", {}), name))


def _ui(raw: Any, name: str) -> UiConfig:
    table = _table(raw, name, "ui", ("enabled", "port"))
    enabled, port = table.get("enabled", True), table.get("port", 0)
    if not isinstance(enabled, bool):
        raise UsageError(f"{name}: enabled in ui must be true or false", "write e.g. enabled = false")
    if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 65535:
        raise UsageError(f"{name}: port in ui must be a TCP port number (0: any free one)", "write e.g. port = 8384")
    return UiConfig(enabled, port)


def _shares(raw: Any, name: str) -> SharesConfig:
    table = _table(raw, name, "shares", ("accept", "dir"))
    accept = table.get("accept", "ask")
    if accept not in ("ask", "auto"):
        raise UsageError(f"{name}: accept in shares must be \"ask\" or \"auto\"", 'write e.g. accept = "auto"')
    where = table.get("dir", DEFAULT_SHARES_DIR)
    path = os.path.expanduser(where) if isinstance(where, str) and where.strip() else ""
    if not os.path.isabs(path):
        raise UsageError(f"{name}: dir in shares must be an absolute folder path", 'write e.g. dir = "~/Shared"')
    return SharesConfig(accept, os.path.normpath(path))


def _read_toml(name: str) -> dict[str, Any]:
    try:
        return tomllib.loads(Path(name).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UsageError(f"no such config file: {name}", "check the path") from None
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise UsageError(f"cannot read {name}: {' '.join(str(exc).split())}", "fix the file (TOML)") from None


def _daemon_options(options: TwoWaySyncOptions, table: dict[str, Any], name: str,
                    where: str) -> TwoWaySyncOptions:
    """``options`` with the option keys of ``table`` set, through the shared schema (:data:`OPTION_KEYS`,
    which sets one-way options: the parts both modes share are carried over)."""
    shared = _options(SyncOptions.of(options.part(Filters), options.part(Comparison), options.part(Guards),
                                     options.part(Writes)), table, name, where)
    return TwoWaySyncOptions.of(shared.part(Filters), shared.part(Comparison), shared.part(Guards),
                                shared.part(Writes), conflict=options.conflict, workers=options.workers)


def _check_every(table: dict[str, Any], default: float, name: str, where: str) -> float:
    if "check_every" not in table:
        return default
    seconds = parse_duration(table["check_every"])
    if seconds is None:
        raise UsageError(f"{name}: check_every in {where} must be a duration such as \"1h\", \"30m\" or \"90s\"",
                         'write e.g. check_every = "1h"')
    return seconds


def _rate(table: dict[str, Any], key: str, name: str) -> float:
    """Bytes per second of ``table``'s ``key`` (0.0, no limit, when absent)."""
    if key not in table:
        return 0.0
    rate = parse_rate(table[key])
    if rate is None:
        raise UsageError(f"{name}: {key} in defaults must be a rate: {RATE_FORMS}",
                         f'write e.g. {key} = "2MB/s"')
    return rate
