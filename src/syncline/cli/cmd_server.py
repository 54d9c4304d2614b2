"""``syncline server check``: verify the server's store on the server machine, with the server stopped."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from .cmd_user import data_dir, data_option
from .render import printable


@click.group("server")
def server_cmd() -> None:
    """Look after the server's data directory (on the server machine)."""


@server_cmd.command("check", short_help="Verify the store: every chunk recorded is there, of its length.")
@click.option("--read-data", is_flag=True,
              help="Also read every chunk and check that its bytes hash to its id (slower: reads everything).")
@data_option
def check_cmd(read_data: bool, data: Path | None) -> None:
    """Check that every chunk a file version lists is recorded and held by the chunk store, of its length
    (and with --read-data, that its bytes hash to its id), as `restic check` does. Reports and changes
    nothing; the server must be stopped (its data directory is locked while it runs). Exit 0: no problem
    found; 1: problems, one per line."""
    from ..core.errors import UsageError
    from ..server.store import open_store
    from ..server.store.check import check

    where = data_dir(data)
    if not (where / "meta.db").is_file():
        raise UsageError(f"no server data in {where}", "give the data directory with --data")
    store = open_store(where)
    try:
        report = check(store, read_data)
    finally:
        store.close()
    for problem in report.problems:
        click.echo(printable(problem))
    read = f", {report.read} read and hashed" if read_data else ""
    summary = f"checked {report.chunks} chunks{read}: "
    n = len(report.problems)
    summary += f"{n} problem{'s' if n != 1 else ''}" if n else "no problems"
    click.echo(summary, err=bool(report.problems))
    if report.problems:
        sys.exit(1)
