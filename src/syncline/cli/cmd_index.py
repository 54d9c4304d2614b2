"""``syncline index DIR -o FILE`` and ``syncline index show FILE``."""

from __future__ import annotations

import os
from typing import Any

import click

from ..core.entry import Entry
from .groups import DefaultGroup
from .options import ByteSize, chunker_from, rule_options, rules_from
from .render import dumps, echo_json, echo_problems, human_bytes, local_time, plural, printable


class _IndexGroup(DefaultGroup):
    usage_lines = ("syncline index DIR -o FILE [OPTIONS]", "syncline index show FILE [--json]")


@click.group("index", cls=_IndexGroup, invoke_without_command=False)
def index_cmd() -> None:
    """Write a portable index file of DIR (paths, sizes, mtimes, modes, BLAKE3 digests), or show one.

    \b
      syncline index DIR -o FILE     write FILE (re-running it reuses unchanged digests)
      syncline index show FILE       list FILE's entries
    """


@index_cmd.command("create", hidden=True)
@click.argument("directory", metavar="DIR", type=click.Path(path_type=str))
@click.option("-o", "--output", required=True, type=click.Path(path_type=str), help="The index file to write.")
@click.option("--no-digests", is_flag=True, help="Record metadata only; skip hashing.")
@click.option("--previous", type=click.Path(path_type=str), default=None,
              help="Reuse digests from this index for files whose stat is unchanged.")
@click.option("--chunks", is_flag=True,
              help="Also record chunk lists of big files, so archives against this index carry only the changed "
                   "parts of them.")
@click.option("--chunk-size", type=ByteSize(), default=None, metavar="SIZE",
              help="Average chunk size for --chunks (a power of two, default 64K).")
@click.option("--chunk-min-file-size", type=ByteSize(), default=None, metavar="SIZE",
              help="Files at least this big get chunk lists (default 1M).")
@rule_options
@click.option("-q", "--quiet", is_flag=True, help="Print errors only.")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON summary.")
def create_cmd(directory: str, output: str, no_digests: bool, previous: str | None, chunks: bool,
               chunk_size: int | None, chunk_min_file_size: int | None,
               excludes: tuple[str, ...], includes: tuple[str, ...], no_ignore_files: bool,
               quiet: bool, as_json: bool) -> int:
    """Write an index file of DIRECTORY."""
    from ..engine.offline.indexing import make_index
    chunker = chunker_from(chunks or chunk_size is not None or chunk_min_file_size is not None, chunk_size,
                           chunk_min_file_size)
    if chunker is not None and no_digests:
        raise click.UsageError("--chunks needs digests: leave out --no-digests")
    index = make_index(directory, output, rules=rules_from(excludes, includes, no_ignore_files),
                       digests=not no_digests, previous=previous, chunker=chunker)
    totals = index.totals()
    errors = index.errors
    if as_json:
        echo_json({"output": os.path.abspath(output), "files": totals.files, "dirs": totals.dirs,
                   "symlinks": totals.symlinks, "bytes": totals.bytes,
                   "index_bytes": os.path.getsize(output), "errors": [str(p) for p in errors]})
    echo_problems(index.problems, quiet or as_json)
    if not quiet and not as_json:
        click.echo(printable(
            f"indexed {plural(totals.files, 'file')} ({human_bytes(totals.bytes)}), "
            f"{plural(totals.dirs, 'directory', 'directories')}, {plural(totals.symlinks, 'symlink')} "
            f"into {output} ({human_bytes(os.path.getsize(output))})"))
    return 1 if errors else 0


def _entry_json(path: str, e: Entry) -> dict[str, Any]:
    out: dict[str, Any] = {"path": path, "kind": e.kind, "size": e.size, "mtime_ns": e.mtime_ns,
                           "mode": f"{e.mode:04o}"}
    if e.digest is not None:
        out["blake3"] = e.digest.hex()
    if e.target is not None:
        out["target"] = e.target
    return out


@index_cmd.command("show")
@click.argument("file", type=click.Path(path_type=str))
@click.option("--json", "as_json", is_flag=True, help="Print JSON (one object per line: a header, then entries).")
def show_cmd(file: str, as_json: bool) -> int:
    """List the entries of an index FILE (streamed; the checksum is verified at the end)."""
    import time

    from ..formats.indexfile import open_index

    fh, reader = open_index(file)
    with fh:
        h = reader.header
        if as_json:
            click.echo(dumps({"root": h.root, "host": h.host, "scanned_ns": h.scanned_ns,
                                   "digests": h.digests, "tool": h.tool}))
        else:
            when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(h.scanned_ns / 1e9))
            click.echo(printable(f"# index of {h.root} on {h.host}, taken {when}"))
        count = size = 0
        for path, e in reader:
            count += 1
            size += e.size if e.is_file else 0
            if as_json:
                click.echo(dumps(_entry_json(path, e)))
            else:
                click.echo(printable(_entry_line(path, e)))
    if not as_json:
        click.echo(f"# {plural(count, 'entry', 'entries')}, {human_bytes(size)} in files")
    return 0


def _entry_line(path: str, e: Entry) -> str:
    kind = {"file": "-", "dir": "d", "symlink": "l"}[e.kind]
    when = local_time(e.mtime_ns)
    digest = e.digest.hex()[:16] if e.digest is not None else "-" * 16
    name = path + ("/" if e.is_dir else "") + (f" -> {e.target}" if e.target is not None else "")
    return f"{kind}{e.mode:04o} {e.size:>12} {when} {digest} {name}"
