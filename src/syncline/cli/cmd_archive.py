"""``syncline archive SRC --against FAR.slidx -o FILE``, ``syncline archive show FILE`` and
``syncline apply FILE DIR``: offline sync by index files and delta archives."""

from __future__ import annotations

import os
from typing import Any

import click

from ..engine.options import Comparison
from ..engine.replicas.address import local_path
from ..formats.archivefile import NONE, ArchiveOp
from .groups import DefaultGroup
from .options import MaxDelete, compare_from, compare_option, filters_from, guards_from, rule_options, writes_from
from .render import dumps, echo_json, echo_json_report, echo_problems, human_bytes, local_time, plural, printable


class _ArchiveGroup(DefaultGroup):
    usage_lines = ("syncline archive SRC --against FAR.slidx -o FILE [OPTIONS]",
                   "syncline archive SRC --since REF -o FILE [OPTIONS]", "syncline archive show FILE [--json]")


@click.group("archive", cls=_ArchiveGroup, invoke_without_command=False)
def archive_cmd() -> None:
    """Pack what brings a far copy of SRC (known by its index file) to SRC's state, or show an archive.

    \b
      syncline archive SRC --against far.slidx -o delta.slar [--delete]
      syncline archive SRC --since LABEL -o delta.slar    (for a copy at SRC's snapshot LABEL)
      syncline archive show delta.slar
    Then, on the far side: syncline apply delta.slar DIR
    """


@archive_cmd.command("create", hidden=True)
@click.argument("src", type=click.Path(path_type=str))
@click.option("--against", type=click.Path(path_type=str), default=None,
              help="The far side's index file (syncline index DIR -o FILE, made there), or a snapshot "
                   "reference DIR@LABEL.")
@click.option("--since", default=None, metavar="REF",
              help="Pack the changes since SRC's snapshot REF (a label, a date, latest), for a copy taken "
                   "then.")
@click.option("-o", "--output", required=True, type=click.Path(path_type=str), help="The archive to write.")
@click.option("--delete", is_flag=True, help="Also carry deletions of what SRC lacks.")
@click.option("--max-delete", type=MaxDelete(), default=None,
              help="Stop before carrying more file deletions than this (N, or N% of the far side's files; "
                   "default 50%).")
@click.option("--force", is_flag=True, help="Go past the safety stops (an empty SRC with --delete, --max-delete).")
@compare_option
@click.option("--label", default="", help="A note stored in the archive (shown by archive show).")
@rule_options
@click.option("-q", "--quiet", is_flag=True, help="Print errors only.")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON summary.")
def create_cmd(src: str, against: str | None, since: str | None, output: str, delete: bool,
               max_delete: int | float | None, force: bool, compare: str | None, label: str,
               excludes: tuple[str, ...], includes: tuple[str, ...], no_ignore_files: bool, quiet: bool,
               as_json: bool) -> int:
    """Write an archive of the changes from the far index to SRC."""
    from ..engine.offline.archiving import ArchiveOptions, make_archive

    if (against is None) == (since is None):
        raise click.UsageError("give either --against FILE or --since REF")
    options = ArchiveOptions.of(filters_from(excludes, includes, no_ignore_files),
                                Comparison(compare=compare_from(compare)), guards_from(max_delete, force),
                                delete=delete, label=label)
    result = make_archive(local_path(src), against if against is not None else f"{src}@{since}", output, options)
    if as_json:
        echo_json({"output": result.output, "ops": result.ops, "files": result.files, "deltas": result.deltas,
                   "deletes": result.deletes, "content_bytes": result.content_bytes,
                   "literal_bytes": result.literal_bytes, "archive_bytes": result.archive_bytes,
                   "errors": [str(p) for p in result.errors], "seconds": round(result.seconds, 3)})
    echo_problems(result.problems, quiet or as_json)
    if not quiet and not as_json:
        deltas = f" ({plural(result.deltas, 'delta')})" if result.deltas else ""
        click.echo(printable(f"wrote {result.output}: {plural(result.ops, 'change')}, {plural(result.files, 'file')}"
                   f"{deltas} ({human_bytes(result.content_bytes)}, {human_bytes(result.literal_bytes)} carried), "
                   f"{plural(result.deletes, 'delete')}; {human_bytes(result.archive_bytes)} in "
                   f"{result.seconds:.1f} s"))
    return result.exit_code


_MARK = {"create": "+", "update": "M", "delete": "-", "meta": "m", "mkdir": "+", "symlink": "L"}


@archive_cmd.command("show")
@click.argument("file", type=click.Path(path_type=str))
@click.option("--json", "as_json", is_flag=True, help="Print JSON (one object per line: a header, then ops).")
def show_cmd(file: str, as_json: bool) -> int:
    """List what an archive FILE will do, with sizes (streamed; verified to the end)."""
    from ..formats.archivefile import open_archive

    fh, reader = open_archive(file)
    counts: dict[str, int] = {}
    with fh:
        h = reader.header
        if as_json:
            click.echo(dumps({"source": h.source.root, "source_host": h.source.host,
                                   "source_scanned_ns": h.source.scanned_ns, "against": h.against.root,
                                   "against_host": h.against.host, "against_scanned_ns": h.against.scanned_ns,
                                   "delete": h.delete, "compare": h.compare, "ops": h.ops,
                                   "content_bytes": h.content_bytes, "label": h.label, "tool": h.tool}))
        else:
            click.echo(printable(
                f"# archive of {h.source.root} on {h.source.host} ({_when(h.source.scanned_ns)}), "
                f"against the index of {h.against.root} on {h.against.host} ({_when(h.against.scanned_ns)})"
                + (f"; label {h.label!r}" if h.label else "")))
        for op, pieces in reader:
            literal = copied = 0
            if pieces is not None:
                for piece in pieces:
                    if isinstance(piece, bytes):
                        literal += len(piece)
                    else:
                        copied += piece[1]
            counts[op.kind] = counts.get(op.kind, 0) + 1
            if as_json:
                click.echo(dumps(_op_json(op, literal, copied)))
            elif op.kind != "meta" or op.entry is None or op.expect is None or op.entry[1:4] != op.expect[1:4]:
                click.echo(_op_line(op, literal, copied))
        if not as_json:
            parts = ", ".join(f"{n} {k}" for k, n in sorted(counts.items()))
            click.echo(f"# {plural(h.ops, 'op')} ({parts or 'nothing to do'}); {human_bytes(h.content_bytes)} of "
                       f"files, {human_bytes(reader.literal_bytes)} carried; archive "
                       f"{human_bytes(os.path.getsize(file))}; checksum verified")
    return 0


def _when(ns: int) -> str:
    return local_time(ns)


def _op_line(op: ArchiveOp, literal: int, copied: int) -> str:
    e = op.entry or op.expect
    assert e is not None
    name = printable(op.path + ("/" if e.is_dir else "") + (f" -> {e.target}" if e.target is not None else ""))
    size = ""
    if op.content != NONE:
        size = f"  {human_bytes(literal)}" + (f" (+{human_bytes(copied)} kept from the old version)" if copied
                                             else "")
    return f"{_MARK[op.kind]} {name}{size}"


def _op_json(op: ArchiveOp, literal: int, copied: int) -> dict[str, Any]:
    out: dict[str, Any] = {"op": op.kind, "path": op.path}
    for key, e in (("expect", op.expect), ("entry", op.entry)):
        if e is not None:
            out[key] = {"kind": e.kind, "size": e.size, "mtime_ns": e.mtime_ns, "mode": f"{e.mode:04o}"}
    if op.content != NONE:
        out["literal_bytes"] = literal
        out["copied_bytes"] = copied
    return out


@click.command("apply")
@click.argument("archive", type=click.Path(path_type=str))
@click.argument("directory", type=click.Path(path_type=str))
@click.option("--no-delete", is_flag=True, help="Add and update only: carry out no deletion.")
@click.option("-n", "--dry-run", is_flag=True, help="Verify the archive and print what would be done.")
@click.option("--no-trash", is_flag=True, help="Delete and overwrite for good instead of keeping the old "
                                              "versions in DIR/.syncline/trash.")
@click.option("--max-delete", type=MaxDelete(), default=None,
              help="Stop before deleting more files than this (N, or N% of DIR's files; default 50%).")
@click.option("--force", is_flag=True, help="Apply an archive even though the folder has moved past the "
                                            "index it was made against, or it deletes more than --max-delete.")
@click.option("-q", "--quiet", is_flag=True, help="Print errors only.")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON summary.")
def apply_cmd(archive: str, directory: str, no_delete: bool, dry_run: bool, no_trash: bool,
              max_delete: int | float | None, force: bool, quiet: bool, as_json: bool) -> int:
    """Bring DIRECTORY to the state of an ARCHIVE made by `syncline archive`.

    The archive is verified whole before anything changes. A file changed here since the index was taken
    is kept; the archive's version lands beside it as a conflict copy. Applying twice changes nothing.

    Exit codes: 0 done, 1 done with per-item errors, 2 nothing done.
    """
    from ..engine.offline.apply import ApplyOptions, apply_archive

    report = apply_archive(archive, local_path(directory), ApplyOptions.of(
        writes_from(dry_run, no_trash), guards_from(max_delete, force), delete=not no_delete))
    return print_apply_report(report, dry_run, quiet, as_json)


def print_apply_report(report: Any, dry_run: bool, quiet: bool, as_json: bool) -> int:
    """Print what an apply did (or would do); returns its exit code."""
    if as_json:
        return echo_json_report(report)
    if dry_run and report.done.plan is not None:
        for line in report.done.plan.lines():
            click.echo(printable(line))
    echo_problems(report.problems, quiet)
    if not quiet:
        for path, copy in report.conflicts:
            click.echo(printable(f"conflict: {path} changed here; the archive's version is in {copy}"))
        click.echo(_apply_summary(report))
    return int(report.exit_code)


def _apply_summary(report: Any) -> str:
    d = report.done
    if report.dry_run:
        s = d.plan.summary()
        return (f"dry run: would copy {plural(s.copies, 'file')} ({human_bytes(s.copy_bytes)}), create "
                f"{plural(s.mkdirs, 'directory', 'directories')}, delete {plural(s.deletes, 'item')}; "
                f"{report.already} already in place; nothing changed")
    parts = [f"applied {plural(report.ops, 'change')}: copied {plural(d.copied, 'file')} "
             f"({human_bytes(d.copied_bytes)})"]
    for n, what in ((d.dirs_created, "directories created"), (d.symlinks, "symlinks made"),
                    (d.deleted, "deleted"), (d.meta_updated, "metadata updated"), (report.already, "already in place"),
                    (len(report.conflicts), "conflict copies"), (report.kept + d.kept, "kept (changed here)"),
                    (report.not_deleted, "not deleted (--no-delete)")):
        if n:
            parts.append(f"{n:,} {what}")
    errors = len(report.errors)
    return ", ".join(parts) + f" in {report.seconds:.1f} s" + (f"; {plural(errors, 'error')}" if errors else "")
