"""``syncline sync SRC DST``: one-way sync (rsync -a semantics; ``--delete`` mirrors)."""

from __future__ import annotations

import click

from ..core.entry import Keep
from ..core.errors import UsageError
from ..core.reconcile import CONFLICT_POLICIES, ConflictPolicy
from ..engine.oneway import SyncOptions
from ..engine.oneway import sync as run_sync
from ..engine.options import Comparison, Part
from ..engine.replicas.address import local_path, parse_address
from ..engine.report import Report
from .options import (
    MaxDelete,
    bwlimit_option,
    compare_from,
    compare_option,
    filters_from,
    guards_from,
    limit_bandwidth,
    rule_options,
    writes_from,
)
from .progress import run_with_bar
from .render import echo_json_report, echo_problems, human_bytes, plural, printable


@click.command("sync")
@click.argument("src", type=click.Path(path_type=str))
@click.argument("dst", type=click.Path(path_type=str))
@click.option("--delete", is_flag=True, help="Delete what SRC lacks from DST (mirror). Deleted files go to the trash.")
@click.option("--two-way", is_flag=True,
              help="Sync both ways: changes (deletions too) on either side since the last run propagate.")
@click.option("--conflict", type=click.Choice(CONFLICT_POLICIES), default="keep-both", show_default=True,
              help="With --two-way: a file both sides changed keeps both versions (the older one as a "
                   "conflict copy), or the newer, the older, A's or B's replaces the other.")
@click.option("--since", default=None, metavar="REF",
              help="DST is a copy of SRC as of SRC's snapshot REF: apply only the changes since then, "
                   "keeping what changed in DST (as archive --since and apply would).")
@compare_option
@click.option("-c", "--checksum", is_flag=True, help="Compare files by content digest, not size and mtime.")
@click.option("--size-only", is_flag=True, help="Compare files by size only.")
@click.option("--modify-window", type=click.FloatRange(min=0), default=0, metavar="SECONDS",
              help="Treat mtimes this close as equal (2 for FAT).")
@click.option("-a", "--archive", is_flag=True,
              help="rsync's -a: what sync always does (content, mtimes, modes, symlinks, owner and group).")
@click.option("--no-owner", is_flag=True, help="Do not keep owners (kept by default when run as root).")
@click.option("--no-group", is_flag=True,
              help="Do not keep groups (kept by default: any group as root, the user's own groups otherwise).")
@click.option("-X", "--xattrs", is_flag=True,
              help="Keep extended attributes (user.* ones; every namespace but system.* as root).")
@click.option("-A", "--acls", is_flag=True, help="Keep POSIX ACLs.")
@click.option("-H", "--hard-links", is_flag=True,
              help="Keep hard links: names of one file in SRC are one file in DST (not copied twice).")
@click.option("-n", "--dry-run", is_flag=True, help="Print what would be done, one line per item; change nothing.")
@click.option("--no-trash", is_flag=True,
              help="Destroy deleted and overwritten files instead of keeping them in DST/.syncline/trash.")
@click.option("--max-delete", type=MaxDelete(), default=None,
              help="Stop before deleting more files than this count or percentage of DST [default: 50%].")
@click.option("--force", is_flag=True, help="Go past the safety stops (empty SRC, --max-delete).")
@rule_options
@bwlimit_option
@click.option("-v", "--verbose", is_flag=True, help="Print each change (rsync -i style) after the run.")
@click.option("-q", "--quiet", is_flag=True, help="Print errors only.")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON summary (with the plan for --dry-run).")
def sync_cmd(src: str, dst: str, delete: bool, two_way: bool, conflict: ConflictPolicy, since: str | None,
             compare: str | None,
             checksum: bool,
             size_only: bool, modify_window: float, archive: bool, no_owner: bool, no_group: bool, xattrs: bool,
             acls: bool, hard_links: bool, dry_run: bool, no_trash: bool, max_delete: int | float | None, force: bool,
             excludes: tuple[str, ...], includes: tuple[str, ...], no_ignore_files: bool, bwlimit: float | None,
             verbose: bool, quiet: bool, as_json: bool) -> int:
    """Copy what is new or changed from SRC to DST, keeping mtimes, modes, symlinks, empty directories,
    and owner and group as rsync -a does. Deletes nothing unless --delete.

    With --two-way, SRC and DST are two sides A and B of one folder: what changed on either side since
    the last run propagates to the other; files both changed are kept both (see --conflict).

    Exit codes: 0 done, 1 done with per-item errors, 2 nothing done (usage error or safety stop).
    """
    keep = Keep.rsync_a(owner=not no_owner, group=not no_group, xattrs=xattrs, acls=acls, hard_links=hard_links)
    parts = (filters_from(excludes, includes, no_ignore_files),
             Comparison(compare=compare_from(compare, checksum, size_only, modify_window)),
             guards_from(max_delete, force), writes_from(dry_run, no_trash))
    limit_bandwidth(bwlimit, src, dst)
    if (since is not None or two_way) and (xattrs or acls or hard_links):
        raise UsageError("-X, -A and -H apply to one-way sync only", "leave them out, or sync one way")
    if since is not None:
        if two_way:
            raise UsageError("--since and --two-way exclude each other", "pick one")
        return _sync_since(src, dst, since, parts, delete, quiet, as_json)
    if two_way:
        from .twoway import run_two_way

        return run_two_way(src, dst, parts, delete=delete, conflict=conflict, verbose=verbose, quiet=quiet,
                           as_json=as_json)
    if conflict != "keep-both":
        raise UsageError("--conflict applies to --two-way only", "add --two-way or leave out --conflict")
    options = SyncOptions.of(*parts, delete=delete, keep=keep)
    report = run_with_bar(lambda bar: run_sync(src, dst, options, progress=bar), quiet=quiet, as_json=as_json,
                          dry_run=dry_run)
    if as_json:
        return echo_json_report(report)
    if report.plan is not None and (dry_run or verbose):
        for line in report.plan.lines():
            click.echo(printable(line))
    echo_problems(report.problems, quiet)
    if not quiet:
        click.echo(printable(summary_line(report)))
    return report.exit_code


def _sync_since(src: str, dst: str, since: str, parts: tuple[Part, ...], delete: bool, quiet: bool,
                as_json: bool) -> int:
    from ..engine.offline.sincesync import SinceOptions, sync_since
    from .cmd_archive import print_apply_report

    options = SinceOptions.of(*parts, delete=delete)
    report = sync_since(local_path(src), local_path(dst), since, options)
    return print_apply_report(report, options.dry_run, quiet, as_json)


def _parts(copies: int, size: int, dirs: int, links: int, deletes: int, meta: int, past: bool,
           hard: int = 0) -> list[str]:
    """The counted actions of a run (past tense) or of a plan (present tense), zero counts left out."""
    verbs = ("copied", "created", "made", "deleted", "updated metadata of", "linked") if past else \
        ("copy", "create", "make", "delete", "update metadata of", "link")
    parts = [f"{verbs[0]} {plural(copies, 'file')} ({human_bytes(size)})"]
    for verb, n, noun in ((verbs[1], dirs, "directory"), (verbs[2], links, "symlink"),
                          (verbs[5], hard, "hard link"),
                          (verbs[3], deletes, "item"), (verbs[4], meta, "item")):
        if n:
            parts.append(f"{verb} {plural(n, noun, 'directories' if noun == 'directory' else None)}")
    return parts


def summary_line(report: Report) -> str:
    """The last line of a human-readable run."""
    if report.dry_run and report.plan is not None:
        s = report.plan.summary()
        parts = _parts(s.copies, s.copy_bytes, s.mkdirs, s.symlinks, s.deletes, s.meta, past=False,
                       hard=s.hard_links)
        return "dry run: would " + ", ".join(parts) + "; nothing changed"
    r = report
    parts = _parts(r.copied, r.copied_bytes, r.dirs_created, r.symlinks, r.deleted, r.meta_updated, past=True,
                   hard=r.hard_links)
    if r.trashed:
        where = "the server's trash" if parse_address(r.target).kind == "remote" else f"{r.target}/.syncline/trash"
        parts.append(f"{plural(r.trashed, 'file')} kept in {where}")
    errors = len(r.errors)
    tail = f"; {plural(errors, 'error')}" if errors else ""
    return ", ".join(parts) + f" in {r.seconds:.1f} s{tail}"
