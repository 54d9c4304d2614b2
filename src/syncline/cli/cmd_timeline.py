"""``syncline snapshot DIR`` and ``syncline log DIR``: the folder's timeline of index snapshots."""

from __future__ import annotations

import time

import click

from .options import ByteSize, chunker_from, rule_options, rules_from
from .render import echo_json, echo_problems, human_bytes, plural, printable


@click.command("snapshot")
@click.argument("directory", type=click.Path(path_type=str))
@click.option("--label", default="", help="A name to refer to this snapshot by (DIR@NAME).")
@click.option("--chunks", is_flag=True, help="Record chunk lists of big files (for delta archives).")
@click.option("--chunk-size", type=ByteSize(), default=None, metavar="SIZE",
              help="Average chunk size for --chunks (a power of two, default 64K).")
@rule_options
@click.option("-q", "--quiet", is_flag=True, help="Print errors only.")
@click.option("--json", "as_json", is_flag=True, help="Print the new snapshot as JSON.")
def snapshot_cmd(directory: str, label: str, chunks: bool, chunk_size: int | None, excludes: tuple[str, ...],
                 includes: tuple[str, ...], no_ignore_files: bool, quiet: bool, as_json: bool) -> int:
    """Store an index of DIRECTORY in its catalog (DIRECTORY/.syncline/snapshots).

    Refer to snapshots as DIR@LABEL, DIR@latest or DIR@2026-08-15 in diff, archive --since and
    sync --since.
    """
    from ..engine.timeline import catalog, take_snapshot

    snap = take_snapshot(directory, label, rules=rules_from(excludes, includes, no_ignore_files),
                         chunker=chunker_from(chunks or chunk_size is not None, chunk_size, None))
    if as_json:
        echo_json({**snap.to_json(), "errors": [str(p) for p in snap.errors]})
    echo_problems(list(snap.problems), quiet or as_json)
    if not quiet and not as_json:
        named = f" {snap.label!r}" if snap.label else ""
        click.echo(printable(f"snapshot{named} {snap.file}: {plural(snap.files, 'file')} "
                             f"({human_bytes(snap.bytes)}), {plural(snap.dirs, 'directory', 'directories')}; "
                             f"{_changes(snap.changes, first=catalog(directory)[0] == snap)}"))
    return 1 if snap.errors else 0


def _changes(changes: dict[str, int], first: bool) -> str:
    if first:
        return "first snapshot"
    if not changes:
        return "no changes"
    return ", ".join(f"{n} {k}" for k, n in changes.items())


@click.command("log")
@click.argument("directory", type=click.Path(path_type=str))
@click.option("--json", "as_json", is_flag=True, help="Print the snapshots as JSON.")
def log_cmd(directory: str, as_json: bool) -> int:
    """List the snapshots of DIRECTORY, oldest first: date, label, counts, changes since the previous."""
    from ..engine.timeline import catalog, timeline_root

    root = timeline_root(directory)
    snaps = catalog(root)
    if as_json:
        echo_json([s.to_json() for s in snaps])
        return 0
    if not snaps:
        echo_problems([])
        click.echo(printable(f"{root} has no snapshots (take one with `syncline snapshot {root}`)"))
        return 0
    for i, s in enumerate(snaps):
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(s.taken_ns / 1e9))
        label = s.label or "-"
        click.echo(printable(f"{when}  {label:<16} {s.files:>9,} files {human_bytes(s.bytes):>10}   "
                             f"{_changes(s.changes, first=i == 0)}"))
    return 0
