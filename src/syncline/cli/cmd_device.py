"""``syncline device list|revoke``: the devices connected to your user on the server."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from .render import dumps, printable

_server_options = [
    click.option("--server", "server", default=None, help="The server's URL (default: the daemon config's)."),
    click.option("--config", "config", type=click.Path(path_type=str), default=None,
                 help="The daemon's config file (default: $XDG_CONFIG_HOME/syncline/daemon.toml)."),
    click.option("--state", "state", type=click.Path(path_type=str), default=None,
                 help="The state directory holding the token (default: $SYNCLINE_STATE_DIR, else "
                      "$XDG_STATE_HOME/syncline)."),
]


def _with_server(f: Callable[..., Any]) -> Callable[..., Any]:
    for option in reversed(_server_options):
        f = option(f)
    return f


def _where(server: str | None, config: str | None, state: str | None) -> tuple[Path, str]:
    from ..engine.state import state_dir
    from ..services.config import daemon_config_path
    from ..services.daemon.account import configured_server

    home = Path(state) if state is not None else state_dir()
    return home, configured_server(Path(config) if config is not None else daemon_config_path(), server)


@click.group("device")
def device_cmd() -> None:
    """The devices connected to your user on the server (each holds its own token)."""


@device_cmd.command("list")
@_with_server
@click.option("--json", "as_json", is_flag=True, help="Print the devices as JSON.")
def list_cmd(server: str | None, config: str | None, state: str | None, as_json: bool) -> int:
    """List your devices: id, name, when last seen; revoked ones are marked."""
    from ..services.daemon.account import connected, list_devices
    from .render import local_time

    home, url = _where(server, config, state)
    with connected(home, url) as client:
        devices = list_devices(client)
    if as_json:
        click.echo(dumps([{"id": d.id, "name": d.name, "created": d.created, "last_seen": d.last_seen,
                           "revoked": d.revoked, "current": d.current} for d in devices]))
        return 0
    for d in devices:
        seen = local_time(d.last_seen) if d.last_seen else "never"
        notes = (" (this device)" if d.current else "") + (f" (revoked {local_time(d.revoked)})" if d.revoked else "")
        click.echo(printable(f"{d.id}  {d.name}  last seen {seen}{notes}"))
    return 0


@device_cmd.command("revoke")
@click.argument("device_id")
@_with_server
def revoke_cmd(device_id: str, server: str | None, config: str | None, state: str | None) -> int:
    """Revoke device DEVICE_ID: its token stops working at once (connect it again to use it)."""
    from ..services.daemon.account import connected, revoke_device

    home, url = _where(server, config, state)
    with connected(home, url) as client:
        revoke_device(client, device_id)
    click.echo(printable(f"revoked device {device_id}"))
    return 0
