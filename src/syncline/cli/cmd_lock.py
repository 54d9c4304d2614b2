"""``syncline lock PATH``, ``unlock PATH``, ``locks [FOLDER]``: file locks on the server (protocol 1.1
``file-locks``): while a file is locked, no other device writes it (their edits wait, then come as a
conflict copy if the holder changed it meanwhile)."""

from __future__ import annotations

import click

from .options import FOLDER_OPTION, loaded_config, server_place, with_server
from .render import dumps, local_time, printable


def _duration(value: str) -> int:
    from ..core.errors import UsageError
    from ..core.units import parse_duration
    from ..formats.wire.limits import FILE_LOCK_TTL_MAX_S, FILE_LOCK_TTL_MIN_S

    seconds = parse_duration(value)
    if seconds is None or not FILE_LOCK_TTL_MIN_S <= seconds <= FILE_LOCK_TTL_MAX_S:
        raise UsageError(f"--for {value!r} is not a duration from 1m to 7d", 'give e.g. --for 30m, 2h or 1d')
    return int(seconds)


@click.command("lock")
@click.argument("path")
@click.option("--for", "for_", default="30m", metavar="DURATION", help="How long (1m to 7d; default 30m).")
@click.option("--note", default=None, help="What you are doing, shown to the others.")
@FOLDER_OPTION
@with_server
def lock_cmd(path: str, for_: str, note: str | None, folder: str | None, server: str | None, config: str | None,
             state: str | None) -> int:
    """Lock the file PATH for this device: until it ends (or you unlock it), no other device writes it."""
    from ..services.daemon.account import connected
    from ..services.daemon.filelocks import take
    from ..services.daemon.serverfolders import server_path

    ttl = _duration(for_)
    name, where = server_path(loaded_config(config), path, folder)
    home, url = server_place(server, config, state)
    with connected(home, url) as client:
        lock = take(client, name, where, ttl, note)
    click.echo(printable(f"locked {where} in {name} until {local_time(lock.expires_ns)} "
                         f"(you, on {lock.device_name})"))
    return 0


@click.command("unlock")
@click.argument("path")
@click.option("--force", is_flag=True, help="Break another user's lock (the folder's owner only).")
@FOLDER_OPTION
@with_server
def unlock_cmd(path: str, force: bool, folder: str | None, server: str | None, config: str | None,
               state: str | None) -> int:
    """End the lock of PATH (yours, from any of your devices; with --force, anyone's in a folder you own)."""
    from ..services.daemon.account import connected
    from ..services.daemon.filelocks import release
    from ..services.daemon.serverfolders import server_path

    name, where = server_path(loaded_config(config), path, folder)
    home, url = server_place(server, config, state)
    with connected(home, url) as client:
        lock = release(client, name, where, force)
    whose = "" if lock.mine else f" (it was {lock.user}'s)"
    click.echo(printable(f"unlocked {where} in {name}{whose}"))
    return 0


@click.command("locks")
@click.argument("folder", required=False)
@click.option("--json", "as_json", is_flag=True, help="Print the locks as JSON.")
@with_server
def locks_cmd(folder: str | None, as_json: bool, server: str | None, config: str | None, state: str | None) -> int:
    """The file locks of FOLDER (a synced folder or its server name), or of every folder this device syncs."""
    from ..services.daemon.account import connected
    from ..services.daemon.filelocks import list_locks
    from ..services.daemon.runner import on_server
    from ..services.daemon.serverfolders import server_folder

    loaded = loaded_config(config)
    if folder is not None:
        names = [server_folder(loaded, folder)[0]]
    else:
        names = sorted({f.remote for f in loaded.folders if on_server(f)}) if loaded is not None else []
    home, url = server_place(server, config, state)
    with connected(home, url) as client:
        found = {name: list_locks(client, name) for name in names}
    if as_json:
        click.echo(dumps([{"folder": name, "path": lk.path, "user": lk.user, "device": lk.device_name,
                           "expires_ns": lk.expires_ns, "note": lk.note, "mine": lk.mine}
                          for name, locks in found.items() for lk in locks]))
        return 0
    lines = [f"{name}  {lk.path}  {lk.user} on {lk.device_name}  until {local_time(lk.expires_ns)}"
             + (f"  {lk.note}" if lk.note else "") for name, locks in found.items() for lk in locks]
    for line in lines or ["no locks"]:
        click.echo(printable(line))
    return 0
