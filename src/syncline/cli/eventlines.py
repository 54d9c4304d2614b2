"""Events as log lines on the terminal, for the long-running commands (``watch``, ``daemon``)."""

from __future__ import annotations

import sys
import threading
import time
from typing import TYPE_CHECKING, Any

import click

from .render import dumps, printable

if TYPE_CHECKING:
    from ..services.watch.events import Event


class EventLines:
    """Renders the watch's events as log lines: human (time, what, details) or JSON objects, one per line.
    What an event says and whether it needs a person (shown with -q, and on stderr) come from its type."""

    def __init__(self, as_json: bool, quiet: bool) -> None:
        self.as_json = as_json
        self.quiet = quiet
        self.lock = threading.Lock()
        self.console: Any = None  # the live display's console: lines go above the status line

    def __call__(self, event: Event) -> None:
        if self.quiet and not event.trouble:
            return
        fields = {**({"source": event.source} if event.source else {}), **event.details()}
        when = time.localtime(event.time)
        with self.lock:
            if self.as_json:
                click.echo(dumps({"time": time.strftime("%Y-%m-%dT%H:%M:%S%z", when), "event": event.message,
                                  **fields}))
            else:
                details = " ".join(f"{k}={v}" for k, v in fields.items() if k != "source")
                text = printable(f"{time.strftime('%H:%M:%S', when)} {event.message} {details}".rstrip())
                if self.console is not None:
                    self.console.print(text, markup=False, highlight=False)
                else:
                    click.echo(text, err=event.trouble)
            sys.stdout.flush()
