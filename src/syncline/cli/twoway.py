"""``syncline sync --two-way A B``: run and print a two-way sync.

Plan lines (``--dry-run``, ``-v``) carry the direction, then rsync's itemize code::

    A -> B  >f+++++++++ report.txt
    A <- B  *deleting   old/notes.txt
    move on B: drafts/ -> archive/drafts/
    conflict: report.txt (B's newer version keeps the name; A's is now report.sync-conflict-...txt)
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import click

from ..core.errors import UsageError
from ..core.reconcile import ConflictPolicy, Reconciled
from ..engine.options import Part
from ..engine.twoway.places import sync_two_way_places
from ..engine.twoway.run import TwoWayReport, TwoWaySyncOptions
from .progress import run_with_bar
from .render import echo_json_report, echo_problems, human_bytes, plural, printable


def run_two_way(a: str, b: str, parts: Sequence[Part], *, delete: bool, conflict: ConflictPolicy,
                verbose: bool, quiet: bool, as_json: bool) -> int:
    if delete:
        raise UsageError("--delete does not apply to --two-way (deletions propagate both ways)",
                         "leave out --delete")
    options = TwoWaySyncOptions.of(*parts, conflict=conflict)
    dry_run = options.dry_run
    report = run_with_bar(lambda bar: sync_two_way_places(a, b, options, progress=bar), quiet=quiet,
                          as_json=as_json, dry_run=dry_run)
    if as_json:
        return echo_json_report(report)
    if report.plan is not None and (dry_run or verbose):
        for line in plan_lines(report.plan):
            click.echo(printable(line))
    if not quiet:
        for notice in report.notices:
            click.echo(printable(f"syncline: {notice}"), err=True)
    echo_problems(report.problems, quiet)
    if not quiet:
        click.echo(summary_line(report))
    return report.exit_code


def plan_lines(plan: Reconciled) -> Iterator[str]:
    """One line per visible action, moves and conflicts first."""
    for m in plan.moves:
        if m.reason == "move":
            slash = "/" if m.expect.kind == "dir" else ""
            yield f"move on {m.side.upper()}: {m.src}{slash} -> {m.dst}{slash}"
    for c in plan.conflicts:
        win, lose = c.winner.upper(), "B" if c.winner == "a" else "A"
        if c.copy is not None:
            yield f"conflict: {c.path} ({c.why}; {win}'s version keeps the name, {lose}'s is kept as {c.copy})"
        else:
            yield f"conflict: {c.path} ({c.why}; {win}'s version replaces {lose}'s, which goes to the trash)"
    for arrow, side_plan in (("A -> B", plan.to_b), ("A <- B", plan.to_a)):
        for line in side_plan.lines():
            yield f"{arrow}  {line}"


def summary_line(report: TwoWayReport) -> str:
    if report.dry_run and report.plan is not None:
        a, b = report.plan.to_a.summary(), report.plan.to_b.summary()
        parts = [f"would copy {plural(b.copies, 'file')} ({human_bytes(b.copy_bytes)}) to B and "
                 f"{plural(a.copies, 'file')} ({human_bytes(a.copy_bytes)}) to A"]
        if a.deletes or b.deletes:
            parts.append(f"delete {b.deletes} in B and {a.deletes} in A")
        moves = sum(1 for m in report.plan.moves if m.reason == "move")
        if moves:
            parts.append(f"move {plural(moves, 'item')}")
        if report.plan.conflicts:
            parts.append(f"keep {plural(len(report.plan.conflicts), 'conflict')}")
        return "dry run: " + ", ".join(parts) + "; nothing changed"
    ta, tb = report.to_a, report.to_b
    parts = [f"copied {plural(tb.copied, 'file')} ({human_bytes(tb.copied_bytes)}) to B and "
             f"{plural(ta.copied, 'file')} ({human_bytes(ta.copied_bytes)}) to A"]
    if ta.deleted or tb.deleted:
        parts.append(f"deleted {tb.deleted} in B and {ta.deleted} in A")
    if report.moved:
        parts.append(f"moved {plural(report.moved, 'item')}")
    if report.conflicts:
        parts.append(f"kept {plural(len(report.conflicts), 'conflict')}")
    errors = len(report.errors)
    tail = f"; {plural(errors, 'error')}" if errors else ""
    return ", ".join(parts) + f" in {report.seconds:.1f} s{tail}"
