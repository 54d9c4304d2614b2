"""The progress bar of a sync on a terminal: files, bytes, rate and ETA (rich), drawn on stderr."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, TypeVar

if TYPE_CHECKING:
    from rich.progress import Progress, TaskID

from ..engine.execute import Progress as ProgressHook
from .render import is_tty

R = TypeVar("R")


class SyncBar:
    """A progress hook for the executor that draws its bar on the first call (the totals come with it)."""

    def __init__(self) -> None:
        self._bar: Progress | None = None
        self._task: TaskID | None = None

    def __call__(self, files: int, files_total: int, done: int, total: int) -> None:
        if self._bar is None:
            # rich is imported only when a bar is drawn: it is the slowest import of the command line.
            from rich.console import Console
            from rich.progress import (
                BarColumn,
                DownloadColumn,
                Progress,
                TextColumn,
                TimeRemainingColumn,
                TransferSpeedColumn,
            )

            self._bar = Progress(
                TextColumn("{task.fields[files]:,}/{task.fields[files_total]:,} files"),
                BarColumn(),
                DownloadColumn(),
                TransferSpeedColumn(),
                TimeRemainingColumn(),
                console=Console(stderr=True),
                transient=True,
            )
            self._task = self._bar.add_task("copy", total=max(total, 1), files=0, files_total=files_total)
            self._bar.start()
        assert self._task is not None
        self._bar.update(self._task, completed=done, files=files)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.stop()


@contextmanager
def sync_bar(enabled: bool) -> Iterator[ProgressHook | None]:
    """Yield a progress hook that draws on stderr, or None when disabled; the bar is removed at the end."""
    if not enabled:
        yield None
        return
    bar = SyncBar()
    try:
        yield bar
    finally:
        bar.close()


def run_with_bar(run: Callable[[ProgressHook | None], R], *, quiet: bool, as_json: bool, dry_run: bool) -> R:
    """Call ``run`` with a progress hook when a bar belongs on the screen (a terminal, not quiet, not JSON,
    not a dry run), else with None."""
    with sync_bar(is_tty() and not quiet and not as_json and not dry_run) as bar:
        return run(bar)
