"""``syncline versions PATH`` and ``syncline restore PATH [--version V] [--as NEWPATH]``: the versions a
server keeps of a file, and bringing one back (every device then gets it like any change)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from .options import FOLDER_OPTION, loaded_config, server_place, with_server
from .render import dumps, human_bytes, local_time, plural, printable

if TYPE_CHECKING:
    from ..services.config import DaemonConfig


@click.command("versions")
@click.argument("path")
@click.option("--json", "as_json", is_flag=True, help="Print the versions as JSON.")
@FOLDER_OPTION
@with_server
def versions_cmd(path: str, as_json: bool, folder: str | None, server: str | None, config: str | None,
                 state: str | None) -> int:
    """The versions the server keeps of the file PATH (every overwrite and delete keeps one), newest first."""
    from ..services.daemon.account import connected
    from ..services.daemon.serverfolders import server_path
    from ..services.daemon.versions import versions

    name, where = server_path(loaded_config(config), path, folder)
    home, url = server_place(server, config, state)
    with connected(home, url) as client:
        current, kept = versions(client, name, where)
    if as_json:
        click.echo(dumps({"folder": name, "path": where,
                          "current": None if current is None else {"size": current.size, "mtime_ns": current.mtime_ns},
                          "versions": [{"version": v.version_id, "kept_ns": v.kept_ns, "size": v.size,
                                        "mtime_ns": v.mtime_ns, "reason": v.reason, "device": v.device}
                                       for v in kept]}))
        return 0
    lines = [f"{where} in {name}: {plural(len(kept), 'kept version')}"]
    if current is not None:
        lines.append(f"  current  {local_time(current.mtime_ns)}  {human_bytes(current.size)}")
    else:
        lines.append("  (deleted: no current version)")
    for v in kept:
        by = f" by {v.device}" if v.device else ""
        lines.append(f"  {v.version_id}  {local_time(v.mtime_ns)}  {human_bytes(v.size)}  ({v.reason}{by} "
                     f"{local_time(v.kept_ns or 0)})")
    for line in lines:
        click.echo(printable(line))
    return 0


@click.command("restore")
@click.argument("path")
@click.option("--version", "version_id", type=int, default=None, metavar="V",
              help="The version to bring back, as `syncline versions PATH` numbers it (default: the newest kept).")
@click.option("--as", "as_path", default=None, metavar="NEWPATH",
              help="Bring it back at NEWPATH (in the same folder) instead of PATH.")
@FOLDER_OPTION
@with_server
def restore_cmd(path: str, version_id: int | None, as_path: str | None, folder: str | None, server: str | None,
                config: str | None, state: str | None) -> int:
    """Bring back a kept version of PATH; the version it replaces is kept in turn, and every device gets the
    restored file like any change."""
    from ..core.errors import UsageError
    from ..services.daemon.serverfolders import server_path

    loaded = loaded_config(config)
    name, where = server_path(loaded, path, folder)
    target = where
    if as_path is not None:  # a local path in the same synced folder, or (with --folder) a path in the folder
        other, target = server_path(loaded, as_path, folder)
        if other != name:
            raise UsageError(f"{as_path} is not in {name}", "restore into the same folder")
    _restore(loaded, name, where, target, version_id, server, config, state)
    return 0


def _restore(loaded: DaemonConfig | None, name: str, where: str, target: str, version_id: int | None,
             server: str | None, config: str | None, state: str | None) -> None:
    """Bring back version ``version_id`` of ``where`` (None: the newest kept) at ``target``, and say so."""
    from ..core.errors import UsageError
    from ..services.daemon.account import connected
    from ..services.daemon.versions import restore, versions

    home, url = server_place(server, config, state)
    with connected(home, url) as client:
        current, kept = versions(client, name, where)
        if not kept:
            raise UsageError(f"the server keeps no earlier version of {where}", "see `syncline versions PATH`")
        chosen = kept[0] if version_id is None else next((v for v in kept if v.version_id == version_id), None)
        if chosen is None:
            raise UsageError(f"{where} has no kept version {version_id}", "see `syncline versions PATH`")
        over = current if target == where else versions(client, name, target)[0]
        restore(client, name, target, chosen.version_id or 0, over)
    _tell_daemon(loaded, name, state)
    at = "" if target == where else f" as {target}"
    click.echo(printable(f"restored {where}{at} to its version of {local_time(chosen.mtime_ns)} "
                         f"({chosen.version_id})" + ("; the version it replaced is kept" if over is not None else "")))


@click.group("trash")
def trash_cmd() -> None:
    """The files deleted from a server folder (kept 30 days unless the server says otherwise), bringing them
    back, and purging them."""


@trash_cmd.command("list")
@click.argument("folder")
@click.argument("path", required=False)
@click.option("--json", "as_json", is_flag=True, help="Print the deleted files as JSON.")
@with_server
def trash_list_cmd(folder: str, path: str | None, as_json: bool, server: str | None, config: str | None,
                   state: str | None) -> int:
    """The files deleted from FOLDER (a synced folder or its server name) and not replaced since, newest
    first; with PATH, those deleted at PATH or below it (a deleted folder's files)."""
    from ..services.daemon.account import connected
    from ..services.daemon.serverfolders import server_folder, server_path
    from ..services.daemon.versions import deleted

    loaded = loaded_config(config)
    name, _ = server_folder(loaded, folder)
    under = server_path(loaded, path, name)[1] if path is not None else ""
    home, url = server_place(server, config, state)
    with connected(home, url) as client:
        found = deleted(client, name, under)
    if as_json:
        click.echo(dumps([{"path": path, "version": v.version_id, "deleted_ns": v.kept_ns, "size": v.size,
                           "device": v.device} for path, v in found]))
        return 0
    for path, v in found or []:
        by = f"  by {v.device}" if v.device else ""
        click.echo(printable(f"{local_time(v.kept_ns or 0)}  {human_bytes(v.size)}  {path}{by}"))
    if not found:
        click.echo(printable(f"nothing deleted in {name}" + (f" at {under}" if under else "")))
    return 0


@trash_cmd.command("restore")
@click.argument("folder")
@click.argument("path")
@click.option("--as", "as_path", default=None, metavar="NEWPATH", help="Bring it back at NEWPATH in the folder.")
@with_server
def trash_restore_cmd(folder: str, path: str, as_path: str | None, server: str | None, config: str | None,
                      state: str | None) -> int:
    """Bring back the deleted file PATH of FOLDER (its last version), or every file deleted in the
    deleted folder PATH. Run it again after an interruption: it brings back only what is still deleted."""
    from ..core.errors import UsageError
    from ..services.daemon.account import connected
    from ..services.daemon.serverfolders import server_folder, server_path
    from ..services.daemon.versions import deleted, restore_tree

    loaded = loaded_config(config)
    name, _ = server_folder(loaded, folder)
    _, where = server_path(loaded, path, name)
    target = server_path(loaded, as_path, name)[1] if as_path is not None else where
    home, url = server_place(server, config, state)
    with connected(home, url) as client:
        found = deleted(client, name, where)
        if not found:
            raise UsageError(f"nothing deleted at {where} in {name}", f"see `syncline trash list {name}`")
        restored, left = restore_tree(client, name, found, where, target)
    _tell_daemon(loaded, name, state)
    at = "" if target == where else f" as {target}"
    if [p for p, _ in found] == [where]:  # one file
        if restored:
            v = found[0][1]
            click.echo(printable(f"restored {where}{at} to its version of {local_time(v.mtime_ns)} ({v.version_id})"))
    else:
        click.echo(printable(f"restored {plural(restored, 'file')} of {where}{at}"))
    for line in left:
        click.echo(printable(f"not restored: {line}"), err=True)
    return 1 if left else 0


@trash_cmd.command("purge")
@click.argument("folder")
@click.argument("path", required=False)
@click.option("--yes", is_flag=True, help="Do not ask: purge for good.")
@with_server
def trash_purge_cmd(folder: str, path: str | None, yes: bool, server: str | None, config: str | None,
                    state: str | None) -> int:
    """Empty FOLDER's trash for good (only what was deleted at PATH or below it, with PATH): the deleted
    files and every version kept of them. Versions of files still there stay. The folder's owner only."""
    import sys

    from ..core.errors import UsageError
    from ..services.daemon.account import connected
    from ..services.daemon.serverfolders import server_folder, server_path
    from ..services.daemon.versions import purge

    loaded = loaded_config(config)
    name, _ = server_folder(loaded, folder)
    under = server_path(loaded, path, name)[1] if path is not None else ""
    what = f"the trash of {name}" + (f" at {under}" if under else "")
    if not yes:
        if not sys.stdin.isatty():
            raise UsageError(f"purging {what} deletes it for good", "add --yes to go on")
        click.confirm(f"Delete {what} for good?", abort=True)
    home, url = server_place(server, config, state)
    with connected(home, url) as client:
        n = purge(client, name, under)
    click.echo(printable(f"purged {what}: {plural(n, 'kept version')} deleted for good"))
    return 0


def _tell_daemon(loaded: DaemonConfig | None, name: str, state: str | None) -> None:
    """Ask this device's running daemon to sync the folder now: its change feed leaves out this device's
    own changes, and the restore was made with this device's token."""
    from ..engine.state import state_dir
    from ..services.daemon import request_run

    for f in loaded.folders if loaded is not None else ():
        if f.remote == name:
            request_run(Path(state) if state is not None else state_dir(), f.local)

