"""``syncline daemon``: keep this device's folders in sync, following ``daemon.toml`` as it changes."""

from __future__ import annotations

import os
import signal
import threading

import click


@click.command("daemon")
@click.option("--config", "config", type=click.Path(path_type=str), default=None,
              help="The daemon's config file (default: $XDG_CONFIG_HOME/syncline/daemon.toml).")
@click.option("--state", "state", type=click.Path(path_type=str), default=None,
              help="The state directory: bases, status, feed positions (default: $SYNCLINE_STATE_DIR, else "
                   "$XDG_STATE_HOME/syncline).")
@click.option("-q", "--quiet", is_flag=True, help="Print errors only.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object per line (for services).")
def daemon_cmd(config: str | None, state: str | None, quiet: bool, as_json: bool) -> int:
    """Keep each [[folder]] of the config in sync with its other side, until stopped (Ctrl-C, SIGTERM).

    Each folder gets a full two-way run at start, then a run whenever it or its other side changes, and a
    full one every check_every. Edits of the config are taken up within 2 seconds. A folder stopped by a
    safety check waits for `syncline folder resume LOCAL` (or an edit of the config); `syncline status`
    shows each folder's state.
    """
    from ..engine.state import state_dir
    from ..services.config import daemon_config_path
    from ..services.daemon import Daemon
    from ..services.daemon.serverfeed import server_feeds
    from ..services.watch import EventLog
    from ..services.watch.events import Stopped
    from .eventlines import EventLines

    if state is not None:
        os.environ["SYNCLINE_STATE_DIR"] = os.path.abspath(state)  # the engine keeps the bases there too
    events = EventLog()
    events.subscribe(EventLines(as_json, quiet))
    stop = threading.Event()

    def on_signal(*_: object) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    daemon = Daemon(config or daemon_config_path(), state_dir(), events=events, feeds=server_feeds(state_dir()))
    daemon.run(stop)
    events.publish(Stopped())
    return 0
