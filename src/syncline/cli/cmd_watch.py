"""``syncline watch SRC DST [DST ...]`` and ``syncline watch --config mirrors.toml``: real-time mirrors."""

from __future__ import annotations

import os
import signal
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from ..core.errors import UsageError
from ..engine.options import Comparison
from .eventlines import EventLines
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
from .render import plural, printable

if TYPE_CHECKING:
    from ..services.config import MirrorConfig


@click.command("watch")
@click.argument("paths", nargs=-1, metavar="SRC DST [DST ...]", type=click.Path(path_type=str))
@click.option("--config", "config", type=click.Path(path_type=str), default=None,
              help="A TOML file of mirrors ([[mirror]] source = ..., targets = [...]), instead of SRC DST.")
@click.option("--delete", is_flag=True, help="Delete from the targets what SRC no longer has (to their trash).")
@compare_option
@click.option("--no-trash", is_flag=True, help="Destroy deleted and overwritten files instead of keeping them.")
@click.option("--max-delete", type=MaxDelete(), default=None,
              help="Stop the catch-up at start if it would delete more than this (N or N%; default 50%).")
@click.option("--force", is_flag=True,
              help="No deletion guards: neither --max-delete nor the stop on an empty source.")
@click.option("--quiet-period", type=click.FloatRange(min=0.0), default=0.02, show_default=True, metavar="SECONDS",
              help="Push once the source has been quiet this long.")
@click.option("--max-delay", type=click.FloatRange(min=0.0), default=0.5, show_default=True, metavar="SECONDS",
              help="Push at the latest this long after a change, even if changes go on.")
@click.option("--rescan-every", type=click.FloatRange(min=1.0), default=3600.0, show_default=True,
              metavar="SECONDS", help="A full rescan this often, for what events cannot show.")
@rule_options
@bwlimit_option
@click.option("-q", "--quiet", is_flag=True, help="Print errors only.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object per line (for services).")
def watch_cmd(paths: tuple[str, ...], config: str | None, delete: bool, compare: str | None, no_trash: bool,
              max_delete: int | float | None, force: bool, quiet_period: float, max_delay: float, rescan_every: float,
              excludes: tuple[str, ...], includes: tuple[str, ...], no_ignore_files: bool, bwlimit: float | None,
              quiet: bool, as_json: bool) -> int:
    """Mirror SRC into each DST in real time, until stopped (Ctrl-C, SIGTERM).

    Every target is first brought up to date (what changed while syncline was not running), then each
    change in SRC is pushed within tens of milliseconds (--quiet-period after the last change; at most
    --max-delay under constant changes), touching only the folders that changed. A target that
    is unavailable is retried while the others carry on; a target that disappears is never filled again
    from scratch.
    """
    from ..engine.oneway import SyncOptions
    from ..services.config import MirrorConfig, load_watch_config
    from ..services.watch import EventLog, Mirror, WatchOptions
    from ..services.watch.events import Stopped

    defaults = SyncOptions.of(filters_from(excludes, includes, no_ignore_files),
                              Comparison(compare=compare_from(compare)), guards_from(max_delete, force),
                              writes_from(False, no_trash), delete=delete)
    if config is not None and paths:
        raise UsageError("give SRC DST or --config FILE, not both", "put every mirror in the config file")
    if config is not None:
        mirrors = list(load_watch_config(config, defaults).mirrors)
    elif len(paths) < 2:
        raise UsageError("give SRC and at least one DST, or --config FILE", "see syncline watch --help")
    else:
        mirrors = [MirrorConfig(paths[0], tuple(paths[1:]), defaults)]
    _check_targets_apart(mirrors)
    limit_bandwidth(bwlimit, *(t for m in mirrors for t in m.targets))
    log = EventLines(as_json, quiet)
    events = EventLog()
    events.subscribe(log)
    failed: list[str] = []
    running: list[tuple[Mirror, threading.Thread]] = []
    for mirror in mirrors:
        m = Mirror(mirror.source, list(mirror.targets), WatchOptions(sync=mirror.options, quiet=quiet_period,
                                                                     max_delay=max_delay, rescan_every=rescan_every),
                   events=events)
        running.append((m, threading.Thread(target=_run, args=(m, failed), name=f"watch {mirror.source}",
                                            daemon=True)))

    def stop(*_: object) -> None:
        for m, _thread in running:
            m.stop.set()
            m.collector.wake.set()

    signal.signal(signal.SIGTERM, stop)
    for _m, thread in running:
        thread.start()
    live = _live_status(log, [m for m, _ in running]) if not (as_json or quiet) and sys.stderr.isatty() else None
    try:
        while any(t.is_alive() for _, t in running):
            for _m, t in running:
                t.join(0.5)
            if live is not None:
                live.update(_plain(status_text([m.status() for m, _ in running])))
    except KeyboardInterrupt:
        stop()
        for _m, t in running:
            t.join(30)
    finally:
        if live is not None:
            live.stop()
    events.publish(Stopped())
    return 2 if failed else 0


def _live_status(log: EventLines, mirrors: list[Any]) -> Any:
    """A status line at the bottom of the terminal (stderr); log lines scroll above it. It shows each
    mirror's event-fed status (``Mirror.status()``)."""
    from rich.console import Console
    from rich.live import Live

    console = Console(stderr=True)
    live = Live(_plain(status_text([m.status() for m in mirrors])), console=console, refresh_per_second=2,
                transient=True)
    live.start()
    log.console = console
    return live


def _plain(text: str) -> Any:
    """``text`` as rich shows it verbatim (a name with brackets is no markup)."""
    from rich.text import Text

    return Text(text)


def status_text(statuses: list[dict[str, Any]]) -> str:
    """One line per source: pending folders, then each target's state and lag. Each status is a
    ``SourceStatus.as_dict()`` (``services/watch/status.py``; ``Mirror.status()`` gives its own), folded
    from the watch's events alone, as a status API or a web UI reads them."""
    lines = []
    for st in statuses:
        parts = []
        for t in st["targets"]:
            name = Path(t["target"]).name or t["target"]
            if not t["ok"]:
                parts.append(f"{name}: waiting ({t['error'] or 'not synced yet'})")
            else:
                parts.append(f"{name}: synced {t['lag']:.0f} s ago" if t["lag"] is not None else f"{name}: ok")
        polling = ", polling" if st["polling"] else ""
        writing = f", {plural(st['being_written'], 'file')} being written" if st.get("being_written") else ""
        lines.append(printable(f"{st['source']}: {plural(st['pending'], 'folder')} pending{writing}{polling} | "
                               + " | ".join(parts)))
    return "\n".join(lines)


def _run(mirror: Any, failed: list[str]) -> None:
    """One mirror's thread: what stops it for good is told, and makes the exit code 2."""
    from ..core.errors import SynclineError
    from ..services.watch.events import MirrorFailed

    try:
        mirror.run()
    except (SynclineError, OSError) as exc:
        failed.append(str(exc))
        mirror.emit(MirrorFailed(str(exc)))


def _check_targets_apart(mirrors: list[MirrorConfig]) -> None:
    """Each target belongs to one mirror: two writers into one folder would fight over it."""
    seen: dict[str, str] = {}
    sources = [Path(os.path.realpath(m.source)) for m in mirrors]
    for mirror in mirrors:
        source = mirror.source
        for target in mirror.targets:
            real = os.path.realpath(target)
            own = Path(os.path.realpath(source))  # nesting in its own source: refused by the mirror itself
            for other in sources:
                if other != own and Path(real).is_relative_to(other) and Path(real) != other:
                    raise UsageError(f"the target {target} is inside the source {other} of a mirror: what is "
                                     "written there would be mirrored again", "give targets outside every source")
            if real in seen:
                whose = "" if seen[real] == source else f" (for {seen[real]} and {source})"
                raise UsageError(f"the target {target} is given twice{whose}", "give each target one source")
            seen[real] = source
