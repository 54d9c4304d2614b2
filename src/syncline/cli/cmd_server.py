"""``syncline server check``: verify the server's store on the server machine, with the server stopped."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from .cmd_user import data_dir, data_option
from .render import printable

if TYPE_CHECKING:
    from ..server.store.check import Loss


@click.group("server")
def server_cmd() -> None:
    """Look after the server's data directory (on the server machine)."""


@server_cmd.command("check", short_help="Verify the store: every chunk recorded is there, of its length.")
@click.option("--read-data", is_flag=True,
              help="Also read every chunk and check that its bytes hash to its id (slower: reads everything).")
@click.option("--repair", is_flag=True,
              help="Take damaged chunks out of the index (implies --read-data): their bytes are kept in "
                   "DATA/chunks-damaged, the versions that lose content are marked damaged, never deleted.")
@data_option
def check_cmd(read_data: bool, repair: bool, data: Path | None) -> None:
    """Check that every chunk a file version lists is recorded and held by the chunk store, of its length
    (and with --read-data, that its bytes hash to its id), as `restic check` does, and name each file
    that lost content: its folder, path, whether it is the live file or a kept version, and the byte
    ranges lost. The server must be stopped (its data directory is locked while it runs).

    With --repair, every chunk is read; a bad one's bytes are copied to DATA/chunks-damaged/<ns>/<id>,
    its record is removed and the versions listing it are marked damaged (a download of one answers
    `damaged`, and a device keeps its own copy). No file is deleted: a live file stays in the tree. A
    version whose every chunk a device uploaded again is whole again at the next check.

    Exit 0: no problem found; 1: problems, one per line (with --repair: repaired as it says)."""
    from ..core.errors import UsageError
    from ..server.store import open_store
    from ..server.store.check import check

    where = data_dir(data)
    if not (where / "meta.db").is_file():
        raise UsageError(f"no server data in {where}", "give the data directory with --data")
    store = open_store(where)
    try:
        report = check(store, read_data, repair)
    finally:
        store.close()
    for problem in report.problems:
        click.echo(printable(problem))
    for loss in report.losses:
        click.echo(printable(loss_line(loss)))
    if report.healed:
        click.echo(f"healed: {report.healed} damaged version{_s(report.healed)} whole again (every chunk uploaded)")
    if repair and not report.clean:
        click.echo(f"repaired: {report.removed} damaged chunk{_s(report.removed)} taken out of the index "
                   f"({len(report.quarantined)} kept in {printable(str(where / 'chunks-damaged'))}), "
                   f"{report.marked} version{_s(report.marked)} newly marked damaged; nothing deleted")
    read = f", {report.read} read and hashed" if read_data or repair else ""
    summary = f"checked {report.chunks} chunks{read}: "
    n, files = len(report.problems), len(report.losses)
    summary += f"{n} problem{_s(n)}, {files} file version{_s(files)} lost content" if not report.clean \
        else "no problems"
    click.echo(summary, err=not report.clean)
    if not report.clean:
        sys.exit(1)


def loss_line(loss: Loss) -> str:
    """One line naming a file version that lost content and the bytes it lost (inclusive ranges)."""
    which = "live file" if loss.live else f"kept version {loss.version_id}"
    ranges = ", ".join(f"{first}-{last}" for first, last in loss.ranges)
    damaged = " (marked damaged)" if loss.marked else ""
    return f"lost content: folder {loss.folder} (user {loss.owner}): {loss.path}, {which}, bytes {ranges}{damaged}"


def _s(n: int) -> str:
    return "" if n == 1 else "s"
