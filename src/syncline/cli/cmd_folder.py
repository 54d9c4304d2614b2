"""``syncline folder add|remove|list|resume``: the daemon's folders, in its config file."""

from __future__ import annotations

import os

import click

from .options import config_path
from .render import dumps, printable

_config_option = click.option("--config", "config", type=click.Path(path_type=str), default=None,
                              help="The daemon's config file (default: $XDG_CONFIG_HOME/syncline/daemon.toml).")


@click.group("folder")
def folder_cmd() -> None:
    """The folders the daemon keeps in sync (its config file, which a person may edit too)."""


@folder_cmd.command("add")
@click.argument("local", type=click.Path(path_type=str))
@click.option("--remote", required=True, help="The folder's name on the server (or a folder path).")
@click.option("--create", is_flag=True, help="Make the folder on the server if it is not there.")
@_config_option
@click.option("--state", "state", type=click.Path(path_type=str), default=None,
              help="The state directory holding the token (default: $SYNCLINE_STATE_DIR, else "
                   "$XDG_STATE_HOME/syncline).")
def add_cmd(local: str, remote: str, create: bool, config: str | None, state: str | None) -> int:
    """Bind LOCAL to the server's folder REMOTE. A running daemon takes it up within seconds.

    With a server connected, REMOTE must be one of your folders there, or --create makes it.
    """
    from pathlib import Path

    from ..engine.state import state_dir
    from ..services.daemon.account import bind_check
    from ..services.daemon.configfile import add_folder

    path = config_path(config)
    note = bind_check(path, Path(state) if state is not None else state_dir(), remote, create)
    folder = add_folder(path, local, remote)
    click.echo(printable(f"added {folder.local} <-> {folder.remote}" + (f" ({note})" if note else "")))
    return 0


@folder_cmd.command("remove")
@click.argument("local", type=click.Path(path_type=str))
@_config_option
def remove_cmd(local: str, config: str | None) -> int:
    """Stop syncing LOCAL; its files stay as they are, on both sides."""
    from ..services.daemon.configfile import remove_folder

    folder = remove_folder(config_path(config), local)
    click.echo(printable(f"removed {folder.local} <-> {folder.remote} (its files stay where they are)"))
    return 0


@folder_cmd.command("list")
@_config_option
@click.option("--json", "as_json", is_flag=True, help="Print the folders as JSON.")
def list_cmd(config: str | None, as_json: bool) -> int:
    """List the folders of the config."""

    from ..services.config import load_daemon_config

    path = config_path(config)
    folders = load_daemon_config(path).folders if path.exists() else ()
    if as_json:
        click.echo(dumps([{"local": f.local, "remote": f.remote, "paused": f.paused,
                           "check_every": f.check_every} for f in folders]))
        return 0
    for f in folders:
        click.echo(printable(f"{f.local} <-> {f.remote}" + (" (paused)" if f.paused else "")))
    return 0


@folder_cmd.command("resume")
@click.argument("local", type=click.Path(path_type=str))
@_config_option
@click.option("--state", "state", type=click.Path(path_type=str), default=None,
              help="The daemon's state directory (default: $SYNCLINE_STATE_DIR, else $XDG_STATE_HOME/syncline).")
def resume_cmd(local: str, config: str | None, state: str | None) -> int:
    """Let a folder stopped by a safety check go on, once you have had a look (a mounted disk, a folder
    put back). If the check still fails, it stops again and `syncline status` says why."""
    from pathlib import Path

    from ..core.errors import UsageError
    from ..engine.state import state_dir
    from ..services.config import load_daemon_config
    from ..services.daemon import is_running, read_status, request_resume

    path = config_path(config)
    want = os.path.normpath(os.path.abspath(os.path.expanduser(local)))
    if want not in {f.local for f in load_daemon_config(path).folders}:
        raise UsageError(f"{path} has no folder {want}", "see `syncline folder list`")
    home = Path(state) if state is not None else state_dir()
    if not is_running(read_status(home)):
        click.echo(printable(f"daemon not running: {want} is tried again when it starts"))
        return 0
    request_resume(home, want)
    click.echo(printable(f"asked the daemon to resume {want}"))
    return 0
