"""``syncline share FOLDER --with USER``, ``share list|revoke|accept|decline|leave``: folders shared between
the users of one server (protocol 1.1 ``shares``)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from .groups import DefaultGroup
from .options import config_path, loaded_config, server_place, with_server
from .render import dumps, local_time, printable

if TYPE_CHECKING:
    from ..formats.wire.shares import Share


class _ShareGroup(DefaultGroup):
    default_cmd = "with"
    usage_lines = ("syncline share FOLDER --with USER [--read-only]",
                   "syncline share list|revoke|accept|decline|leave ...")


@click.group("share", cls=_ShareGroup, invoke_without_command=False)
def share_cmd() -> None:
    """Share a folder with another user of the server, read-write or read-only, and take the shares
    others offer you.

    \b
      syncline share FOLDER --with USER [--read-only]   offer FOLDER (a synced folder or its server name)
      syncline share list                                shares offered to you and of your folders
      syncline share revoke FOLDER USER                  take a share back (their copies stay theirs)
      syncline share accept OWNER/FOLDER [--as NAME] [--local DIR]
      syncline share decline OWNER/FOLDER
      syncline share leave FOLDER                        stop being a member (your copy stays)
    """


@share_cmd.command("with", hidden=True)
@click.argument("folder")
@click.option("--with", "user", required=True, metavar="USER", help="The user to share the folder with.")
@click.option("--read-only", is_flag=True, help="They may read it, not change it.")
@with_server
def with_cmd(folder: str, user: str, read_only: bool, server: str | None, config: str | None,
             state: str | None) -> int:
    """Share FOLDER with USER; their devices get it once they accept it. Sharing again changes their rights."""
    from ..services.daemon.account import connected
    from ..services.daemon.serverfolders import server_folder
    from ..services.daemon.shares import offer

    name, _ = server_folder(loaded_config(config), folder)
    home, url = server_place(server, config, state)
    with connected(home, url) as client:
        share, made = offer(client, name, user, "ro" if read_only else "rw")
    rights = "read-only" if share.rights == "ro" else "read-write"
    if made:
        click.echo(printable(f"shared {name} with {user} ({rights}); {user}'s devices get it once {user} accepts it"))
    else:
        click.echo(printable(f"{user} now has {name} {rights}"))
    return 0


@share_cmd.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print the shares as JSON.")
@with_server
def list_cmd(as_json: bool, server: str | None, config: str | None, state: str | None) -> int:
    """The shares offered to you or held by you, and those of your folders."""
    from ..services.daemon.account import connected
    from ..services.daemon.shares import list_shares

    loaded = loaded_config(config)
    home, url = server_place(server, config, state)
    with connected(home, url) as client:
        shares = list_shares(client)
    bound = {f.remote: f.local for f in loaded.folders} if loaded is not None else {}
    if as_json:
        def row(s: Share) -> dict[str, Any]:
            return {"uid": s.uid, "folder": s.folder, "owner": s.owner, "user": s.user, "rights": s.rights,
                    "state": s.state, "name": s.name, "since_ns": s.since_ns, "local": bound.get(s.name or "")}
        click.echo(dumps({"incoming": [row(s) for s in shares.incoming],
                          "outgoing": [row(s) for s in shares.outgoing]}))
        return 0
    if not shares.incoming and not shares.outgoing:
        click.echo("no shares")
    by_folder: dict[str, list[str]] = {}
    for s in shares.outgoing:
        note = "" if s.state == "accepted" else ", not accepted yet"
        by_folder.setdefault(s.folder, []).append(f"{s.user} ({_rights(s.rights)}{note})")
    for folder, who in by_folder.items():
        click.echo(printable(f"{folder}  you share it with {', '.join(who)}"))
    for s in shares.incoming:
        if s.state == "offered":
            click.echo(printable(f"{s.label}  offered to you ({_rights(s.rights)}) {local_time(s.since_ns)}: "
                                 f"syncline share accept {s.label}"))
        elif s.state == "accepted":
            where = f"synced here in {bound[s.name]}" if s.name in bound else "not synced on this device"
            click.echo(printable(f"{s.name}  {s.owner}'s {s.folder} ({_rights(s.rights)}), {where}"))
        else:
            click.echo(printable(f"{s.name or s.label}  {s.owner}'s {s.folder}, no longer shared with you since "
                                 f"{local_time(s.since_ns)}"))
    return 0


def _rights(rights: str) -> str:
    return "read-only" if rights == "ro" else "read-write"


@share_cmd.command("revoke")
@click.argument("folder")
@click.argument("user")
@with_server
def revoke_cmd(folder: str, user: str, server: str | None, config: str | None, state: str | None) -> int:
    """Take FOLDER's share back from USER: their devices stop syncing it and keep their copies."""
    from ..services.daemon.account import connected
    from ..services.daemon.serverfolders import server_folder
    from ..services.daemon.shares import end

    name, _ = server_folder(loaded_config(config), folder)
    home, url = server_place(server, config, state)
    with connected(home, url) as client:
        end(client, name, user)
    click.echo(printable(f"{user} no longer has {name}; {user}'s copies are left as they are"))
    return 0


@share_cmd.command("accept")
@click.argument("share")
@click.option("--as", "as_name", default=None, metavar="NAME", help="Your name for the folder (default: its own).")
@click.option("--local", "local", type=click.Path(path_type=str), default=None,
              help="Sync it into this folder (missing or empty; default: the [shares] dir of the daemon config).")
@click.option("--no-sync", is_flag=True, help="Accept it without syncing it on this device.")
@with_server
def accept_cmd(share: str, as_name: str | None, local: str | None, no_sync: bool, server: str | None,
               config: str | None, state: str | None) -> int:
    """Accept SHARE (OWNER/FOLDER, as `syncline share list` names it) and sync it on this device."""
    from ..core.errors import UsageError
    from ..services.config import SharesConfig
    from ..services.daemon.account import connected
    from ..services.daemon.shares import accept, bind_share, find_incoming, free_place, list_shares

    loaded = loaded_config(config)
    if local is not None and no_sync:
        raise UsageError("--local and --no-sync contradict each other", "give one of them")
    if as_name is not None and loaded is not None and any(f.remote == as_name for f in loaded.folders):
        raise UsageError(f"this device syncs a folder named {as_name} already",
                         "accept it under another name with --as NAME")
    home, url = server_place(server, config, state)
    synced = [Path(f.local) for f in loaded.folders] if loaded is not None else []
    target = None if no_sync or local is None else Path(local).expanduser().absolute()
    if target is not None and free_place(target, synced) is None:
        raise UsageError(f"{target} is not empty or is in or around a folder this device syncs",
                         "choose a missing or empty folder outside synced ones with --local")
    with connected(home, url) as client:
        found = find_incoming(list_shares(client), share)
        accepted = accept(client, found, as_name)
    name = accepted.name or found.folder
    line = f"accepted {found.label} as {name}"
    if not no_sync:
        if target is None:
            shares_dir = loaded.shares.dir if loaded is not None else SharesConfig().dir
            target = Path(shares_dir).expanduser() / name
            if free_place(target, synced) is None:
                click.echo(printable(f"{line}; {target} is not empty or is in a synced folder, so it is not "
                                     f"synced here"))
                click.echo(printable(f"sync it with `syncline folder add DIR --remote {name}` (an empty DIR)"))
                return 0
        if loaded is not None and any(f.remote == name for f in loaded.folders):
            line += " (already synced on this device)"
        else:
            line += f", synced in {bind_share(config_path(config), target, name)}"
    click.echo(printable(line))
    return 0


@share_cmd.command("decline")
@click.argument("share")
@with_server
def decline_cmd(share: str, server: str | None, config: str | None, state: str | None) -> int:
    """Decline SHARE (OWNER/FOLDER), an offer made to you."""
    from ..services.daemon.account import connected
    from ..services.daemon.shares import decline, find_incoming, list_shares

    home, url = server_place(server, config, state)
    with connected(home, url) as client:
        found = find_incoming(list_shares(client), share)
        decline(client, found)
    click.echo(printable(f"declined {found.label}"))
    return 0


@share_cmd.command("leave")
@click.argument("folder")
@with_server
def leave_cmd(folder: str, server: str | None, config: str | None, state: str | None) -> int:
    """Stop being a member of FOLDER (a share, by your name for it or its synced folder): your devices stop
    syncing it and keep their copies."""
    from ..services.daemon.account import connected
    from ..services.daemon.configfile import remove_folder
    from ..services.daemon.serverfolders import server_folder
    from ..services.daemon.shares import decline, find_incoming, list_shares

    loaded = loaded_config(config)
    name, local = server_folder(loaded, folder)
    home, url = server_place(server, config, state)
    with connected(home, url) as client:
        found = find_incoming(list_shares(client), name)
        decline(client, found)
    line = f"left {found.label}"
    if local is not None:
        remove_folder(config_path(config), local)
        line += f"; {local} is no longer synced, its files stay"
    click.echo(printable(line))
    return 0
