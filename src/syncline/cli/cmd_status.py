"""``syncline status``: what the daemon is doing, read from its status file."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from .render import dumps, human_bytes, plural, printable

EXIT_NOT_RUNNING = 3  # as `systemctl status` says of a unit that is not running


@click.command("status")
@click.option("--state", "state", type=click.Path(path_type=str), default=None,
              help="The daemon's state directory (default: $SYNCLINE_STATE_DIR, else $XDG_STATE_HOME/syncline).")
@click.option("--json", "as_json", is_flag=True, help="Print the status as one JSON object.")
def status_cmd(state: str | None, as_json: bool) -> int:
    """Show each folder of the running daemon: in sync, syncing (files, bytes, ETA), offline, stopped by
    a safety check (and why), conflicts. Exits 3 when no daemon is running."""
    from ..engine.state import state_dir
    from ..services.daemon import is_running, read_status

    data = read_status(Path(state) if state is not None else state_dir())
    running = is_running(data)
    if as_json:
        click.echo(dumps({"running": running, **(data or {})}))
    elif not running:
        click.echo("daemon not running")
    else:
        assert data is not None
        for line in status_text(data):
            click.echo(printable(line))
    return 0 if running else EXIT_NOT_RUNNING


SHOWN_NOT_SYNCED = 5


def status_text(data: dict[str, Any]) -> list[str]:
    """The status file as lines: the config and its error, then one line per folder."""
    lines = [f"daemon running (pid {data.get('pid')}), config {data.get('config')}"]
    if data.get("config_error"):
        lines.append(f"  the last edit of the config is not used: {data['config_error']}")
    folders = data.get("folders") or []
    if not folders:
        lines.append("  no folders (add one with `syncline folder add LOCAL --remote NAME`)")
    for f in folders:
        state = f.get("state")
        if state == "syncing":
            eta = f", about {f['eta_s']:.0f} s left" if f.get("eta_s") is not None else ""
            what = f"syncing {plural(f.get('files', 0), 'file')}, {human_bytes(f.get('bytes', 0))}{eta}"
        elif state in ("stopped", "offline"):
            what = f"{state}: {f.get('why')}"
        else:
            what = str(state)
        conflicts = f", {plural(f['conflicts'], 'conflict')}" if f.get("conflicts") else ""
        lines.append(f"  {f.get('local')} <-> {f.get('remote')}: {what}{conflicts}")
        held = f.get("not_synced") or []
        for item in held[:SHOWN_NOT_SYNCED]:
            lines.append(f"    not synced, kept here: {item.get('path')}: {item.get('why')}")
        if len(held) > SHOWN_NOT_SYNCED:
            lines.append(f"    and {plural(len(held) - SHOWN_NOT_SYNCED, 'more item')} not synced (`syncline status "
                         "--json` lists them)")
    shares = data.get("shares") or {}
    for offer in shares.get("offers") or []:
        rights = "read-only" if offer.get("rights") == "ro" else "read-write"
        lines.append(f"  offered to you: {offer.get('share')} ({rights}): `syncline share accept {offer.get('share')}`")
    for left in shares.get("unbound") or []:
        lines.append(f"  shared with you, {left.get('why')}: {left.get('name')} "
                     f"(`syncline folder add DIR --remote {left.get('name')}`)")
    return lines
