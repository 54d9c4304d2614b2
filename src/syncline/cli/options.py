"""Options shared by several commands (ignore rules, compare mode, guards) and their parsing into the
shared option parts of :mod:`syncline.engine.options`."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from ..core.chunking import Chunker
from ..core.entry import Compare
from ..core.ignore import Rules
from ..engine.options import Filters, Writes, compare_named, parse_max_delete
from ..engine.options import guards_from as guards_from  # re-exported: the commands import it here
from ..formats.wire.limits import MAX_QUOTA

if TYPE_CHECKING:
    from ..services.config import DaemonConfig

F = TypeVar("F", bound=Callable[..., Any])


def rule_options(func: F) -> F:
    """--exclude, --include and --no-ignore-files."""
    func = click.option("--no-ignore-files", is_flag=True,
                        help="Do not read .synclineignore files.")(func)
    func = click.option("--include", "includes", multiple=True, metavar="PATTERN",
                        help="Bring back paths an exclude or ignore file excluded (gitignore syntax).")(func)
    func = click.option("--exclude", "excludes", multiple=True, metavar="PATTERN",
                        help="Skip paths matching PATTERN (gitignore syntax); repeatable.")(func)
    return func


def rules_from(excludes: tuple[str, ...], includes: tuple[str, ...], no_ignore_files: bool) -> Rules:
    return Rules(excludes, includes, not no_ignore_files)


class MaxDelete(click.ParamType):  # type: ignore[type-arg]
    """A file count (``1000``) or a percentage of the destination's files (``50%``)."""

    name = "N|N%"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> int | float:
        if isinstance(value, int | float):
            return value
        try:
            return parse_max_delete(str(value))
        except ValueError:
            self.fail(f"{value!r} is not a file count or a percentage such as 50%", param, ctx)


class ByteSize(click.ParamType):  # type: ignore[type-arg]
    """A size in bytes: ``65536``, ``64K``, ``1M``, ``2G``, ``50GiB``, ``1T`` (powers of 1024)."""

    name = "SIZE"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> int:
        from ..core.units import parse_size

        size = parse_size(value)
        if size is None:
            self.fail(f"{value!r} is not a size such as 65536, 64K or 1M", param, ctx)
        return size


class Rate(click.ParamType):  # type: ignore[type-arg]
    """A transfer rate in bytes/s: ``2MB/s``, ``500KB/s``, ``1.5MiB/s``, a bare number of KiB/s (rsync's
    ``--bwlimit``), or 0 for no limit."""

    name = "RATE"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> float:
        from ..core.units import RATE_FORMS, parse_rate

        if isinstance(value, float):
            return value
        rate = parse_rate(value)
        if rate is None:
            self.fail(f"{value!r} is not a rate: give {RATE_FORMS}", param, ctx)
        return rate


def bwlimit_option(func: F) -> F:
    """--bwlimit RATE (bytes/s; :func:`limit_bandwidth` sets it)."""
    return click.option("--bwlimit", type=Rate(), default=None, metavar="RATE",
                        help="Limit the transfers with a server (syncline or WebDAV) to RATE each way: 2MB/s, "
                             "500KB/s, 1.5MiB/s, or a number of KiB/s as rsync's (0: no limit).")(func)


def limit_bandwidth(rate: float | None, *addresses: str) -> None:
    """Pace this process's transfers with servers at ``rate`` bytes/s each way (``--bwlimit``; None or 0:
    no limit). A :class:`UsageError` when none of ``addresses`` is a server's: between local folders
    nothing would be paced, and an rsync user would believe it was."""
    if not rate:
        return
    from ..core.errors import UsageError
    from ..engine.replicas.address import parse_address
    from ..engine.replicas.remote.ratelimit import LIMITS

    if all(parse_address(a).kind == "local" for a in addresses):
        raise UsageError("--bwlimit paces transfers with a server, and every folder here is local",
                         "leave it out, or run the command under ionice to spare a disk")
    LIMITS.set(rate, rate)


class Quota(ByteSize):
    """A quota: a size (``50GiB``) or ``none``."""

    name = "SIZE|none"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> int | None:  # type: ignore[override]
        if isinstance(value, str) and value.strip().lower() == "none":
            return None
        try:
            size = super().convert(value, param, ctx)
        except click.BadParameter:
            self.fail(f"{value!r} is not a size such as 500MiB, 50GiB or none", param, ctx)
        if size > MAX_QUOTA:
            self.fail(f"{value!r} is more than any disk holds (give a size such as 50GiB, or none)", param, ctx)
        return size


def chunker_from(wanted: bool, avg_size: int | None, min_file_size: int | None) -> Chunker | None:
    """The chunker for ``--chunks``/``--chunk-size``/``--chunk-min-file-size`` (None when not wanted)."""
    if not wanted:
        return None
    defaults = Chunker()
    try:
        return Chunker(avg_size if avg_size is not None else defaults.avg_size,
                       min_file_size if min_file_size is not None else defaults.min_file_size)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None


COMPARE_CHOICES = ("mtime", "size", "hash")


def compare_option(func: F) -> F:
    """--compare mtime|size|hash (rsync users know hash as -c/--checksum and size as --size-only)."""
    return click.option("--compare", "compare", type=click.Choice(COMPARE_CHOICES), default=None,
                        help="How files are judged equal: size and mtime (default), size only, or content "
                             "hash.")(func)


def compare_from(compare: str | None, checksum: bool = False, size_only: bool = False,
                 modify_window: float = 0) -> Compare:
    """The Compare for ``--compare`` and the rsync-style flags; conflicting choices are a usage error."""
    return compare_named(compare, checksum, size_only, modify_window)


def filters_from(excludes: tuple[str, ...], includes: tuple[str, ...], no_ignore_files: bool) -> Filters:
    """The filters part of :func:`rule_options`."""
    return Filters(rules=rules_from(excludes, includes, no_ignore_files))


def writes_from(dry_run: bool, no_trash: bool) -> Writes:
    """The writes part of ``-n/--dry-run`` and ``--no-trash``."""
    return Writes(dry_run=dry_run, trash=not no_trash)


SERVER_OPTIONS = [
    click.option("--server", "server", default=None, help="The server's URL (default: the daemon config's)."),
    click.option("--config", "config", type=click.Path(path_type=str), default=None,
                 help="The daemon's config file (default: $XDG_CONFIG_HOME/syncline/daemon.toml)."),
    click.option("--state", "state", type=click.Path(path_type=str), default=None,
                 help="The state directory holding the token (default: $SYNCLINE_STATE_DIR, else "
                      "$XDG_STATE_HOME/syncline)."),
]


def with_server(f: Callable[..., Any]) -> Callable[..., Any]:
    """``--server``, ``--config`` and ``--state``: the options of a command that talks to the server."""
    for option in reversed(SERVER_OPTIONS):
        f = option(f)
    return f


def server_place(server: str | None, config: str | None, state: str | None) -> tuple[Path, str]:
    """(the state directory, the server's URL) of :func:`with_server`'s options."""
    from ..engine.state import state_dir
    from ..services.config import daemon_config_path
    from ..services.daemon.account import configured_server

    home = Path(state) if state is not None else state_dir()
    return home, configured_server(Path(config) if config is not None else daemon_config_path(), server)


FOLDER_OPTION = click.option("--folder", "folder", default=None, metavar="NAME",
                             help="PATH is a path in this server folder (default: PATH is a local path).")


def config_path(config: str | None) -> Path:
    """The daemon config file's path: ``--config``, else the default."""
    from ..services.config import daemon_config_path

    return Path(config) if config is not None else daemon_config_path()


def loaded_config(config: str | None) -> DaemonConfig | None:
    """The daemon's config (``--config``, else the default path); None when there is no file yet."""
    from ..services.config import load_daemon_config

    path = config_path(config)
    return load_daemon_config(path) if path.exists() else None

