"""``syncline diff OLD NEW``: what changed between two trees or index files."""

from __future__ import annotations

from typing import Any

import click

from ..core.diff import CHANGE_KINDS, Change, DiffResult
from ..core.diff import diff as run_diff
from .options import compare_from, compare_option, rule_options, rules_from
from .render import echo_json, echo_problems, printable

_MARK = {"added": "+", "deleted": "-", "modified": "M", "moved": "R", "type": "T", "meta": "m"}


@click.command("diff")
@click.argument("old", type=click.Path(path_type=str))
@click.argument("new", type=click.Path(path_type=str))
@compare_option
@rule_options
@click.option("--json", "as_json", is_flag=True, help="Print the changes and counts as JSON.")
@click.option("-q", "--quiet", is_flag=True, help="Print nothing; the exit code tells.")
def diff_cmd(old: str, new: str, compare: str | None, excludes: tuple[str, ...], includes: tuple[str, ...],
             no_ignore_files: bool, as_json: bool, quiet: bool) -> int:
    """Show what changed from OLD to NEW; each is a directory, an index file or a snapshot (DIR@LABEL,
    DIR@latest, DIR@2026-08-15). Files are compared by digest when both sides have them (--compare
    changes that).

    \b
    Lines:  + added   - deleted   M modified   R moved (old -> new)   T type changed   m metadata only
    Exit codes: 0 equal, 1 different, 2 error (as diff(1)).
    """
    from ..engine.offline.indexing import load_tree

    rules = rules_from(excludes, includes, no_ignore_files)
    a = load_tree(old, rules=rules, digests=compare != "size" and compare != "mtime")
    b = load_tree(new, rules=rules, digests=compare != "size" and compare != "mtime")
    result = run_diff(a, b, compare_from(compare) if compare is not None else None)
    if as_json:
        echo_json({"equal": result.equal, "counts": result.counts,
                   "changes": [_change_json(c) for c in result.changes]})
    elif not quiet:
        for c in result.changes:
            click.echo(printable(_change_line(c)))
        click.echo(_counts_line(result))
    echo_problems((*a.problems, *b.problems), quiet=True)
    return 0 if result.equal else 1


def _shown(path: str, c: Change) -> str:
    entry = c.new or c.old
    return path + ("/" if entry is not None and entry.is_dir else "")


def _change_line(c: Change) -> str:
    if c.kind == "moved":
        return f"R {_shown(c.from_path or '', c)} -> {_shown(c.path, c)}"
    return f"{_MARK[c.kind]} {_shown(c.path, c)}"


def _counts_line(result: DiffResult) -> str:
    if result.equal:
        return "no differences"
    return ", ".join(f"{result.counts[k]} {k}" for k in CHANGE_KINDS if result.counts[k])


def _change_json(c: Change) -> dict[str, Any]:
    out: dict[str, Any] = {"change": c.kind, "path": c.path}
    if c.from_path is not None:
        out["from"] = c.from_path
    for side, e in (("old", c.old), ("new", c.new)):
        if e is not None:
            out[side] = {"kind": e.kind, "size": e.size, "mtime_ns": e.mtime_ns, "mode": f"{e.mode:04o}"}
    return out
