"""``syncline device list|revoke``: the devices connected to your user on the server."""

from __future__ import annotations

import click

from .options import server_place, with_server
from .render import dumps, printable


@click.group("device")
def device_cmd() -> None:
    """The devices connected to your user on the server (each holds its own token)."""


@device_cmd.command("list")
@with_server
@click.option("--json", "as_json", is_flag=True, help="Print the devices as JSON.")
def list_cmd(server: str | None, config: str | None, state: str | None, as_json: bool) -> int:
    """List your devices: id, name, when last seen; revoked ones are marked."""
    from ..services.daemon.account import connected, list_devices
    from .render import local_time

    home, url = server_place(server, config, state)
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
@with_server
def revoke_cmd(device_id: str, server: str | None, config: str | None, state: str | None) -> int:
    """Revoke device DEVICE_ID: its token stops working at once (connect it again to use it)."""
    from ..services.daemon.account import connected, revoke_device

    home, url = server_place(server, config, state)
    with connected(home, url) as client:
        revoke_device(client, device_id)
    click.echo(printable(f"revoked device {device_id}"))
    return 0
