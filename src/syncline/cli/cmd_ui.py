"""``syncline ui``: open the running daemon's page in a browser, logged in."""

from __future__ import annotations

from pathlib import Path

import click


@click.command("ui")
@click.option("--state", "state", type=click.Path(path_type=str), default=None,
              help="The daemon's state directory (default: $SYNCLINE_STATE_DIR, else $XDG_STATE_HOME/syncline).")
@click.option("--print", "print_only", is_flag=True,
              help="Only print the page's URL (to open elsewhere, e.g. through `ssh -L PORT:127.0.0.1:PORT`).")
def ui_cmd(state: str | None, print_only: bool) -> int:
    """Open the page of the running `syncline daemon` (folders, transfers, pause and resume) in a browser.

    The URL carries a secret made when the daemon started (after #, never sent over the network); anyone
    who has it can change this device's settings: do not share it.
    """
    import webbrowser

    from ..engine.state import state_dir
    from ..services.daemon.ui import read_ui_file

    address = read_ui_file(Path(state) if state is not None else state_dir())
    click.echo(address.url)
    if not print_only and not webbrowser.open(address.url):
        click.echo("no browser could be started here: open the URL above in one", err=True)
    return 0
