"""The ``syncline`` command: a click group, and the one place errors become exit codes.

A :class:`~syncline.core.errors.SynclineError` (a user mistake or a safety stop) prints one line,
``syncline: error: <what> (<what to do>)``, and exits 2. Tracebacks are for bugs only.
"""

from __future__ import annotations

import contextlib
import gc
import os
import sys

import click

from ..core.errors import SynclineError
from ..engine.report import EXIT_STOPPED
from ..version import __version__
from .cmd_app_password import app_password_cmd
from .cmd_archive import apply_cmd, archive_cmd
from .cmd_connect import connect_cmd
from .cmd_daemon import daemon_cmd
from .cmd_device import device_cmd
from .cmd_diff import diff_cmd
from .cmd_folder import folder_cmd
from .cmd_index import index_cmd
from .cmd_lock import lock_cmd, locks_cmd, unlock_cmd
from .cmd_serve import serve_cmd
from .cmd_server import server_cmd
from .cmd_share import share_cmd
from .cmd_status import status_cmd
from .cmd_sync import sync_cmd
from .cmd_timeline import log_cmd, snapshot_cmd
from .cmd_ui import ui_cmd
from .cmd_user import user_cmd
from .cmd_versions import restore_cmd, trash_cmd, versions_cmd
from .cmd_watch import watch_cmd
from .groups import TourGroup, one_line
from .render import printable

TOUR = """\b
Commands:
  syncline sync SRC DST [--delete]   copy new and changed files (rsync -a); --delete mirrors
  syncline sync --two-way A B        sync both ways; conflicts are kept both
  syncline index DIR -o FILE         write a portable index file of a tree
  syncline index show FILE           list an index file
  syncline diff OLD NEW              what changed between two trees or index files
  syncline archive SRC --against FAR.slidx -o FILE
                                     pack the changes that bring a far copy to SRC's state
  syncline apply FILE DIR            apply such an archive (--no-delete: add and update only)
  syncline snapshot DIR [--label L]  keep an index of DIR in its timeline
  syncline log DIR                   list DIR's snapshots and what changed between them
  syncline diff DIR@L1 DIR@L2        what changed between two snapshots (or a snapshot and now)
  syncline watch SRC DST [DST...]    mirror SRC into each DST in real time (--config FILE: several)
  syncline daemon                    keep the folders of daemon.toml in sync, following its edits
  syncline connect URL --user NAME   log this device in to a server (device list/revoke)
  syncline app-password add NAME --user U
                                     a password for WebDAV clients (owncloudcmd, rclone), shown once
  syncline folder add LOCAL --remote NAME
                                     bind a folder for the daemon (--create; folder list/remove/resume)
  syncline share FOLDER --with USER  share a folder (--read-only; share list|accept|revoke|leave)
  syncline lock PATH [--for 30m]     lock a synced file: no other device writes it (unlock PATH, locks)
  syncline versions PATH             the versions a server keeps of a synced file (restore PATH)
  syncline trash list FOLDER         the files deleted from a server folder (trash restore|purge)
  syncline status                    what the daemon is doing, folder by folder
  syncline ui                        open the daemon's page in a browser (--print: the URL only)
  syncline serve [--data DIR]        run a server for syncline devices (--listen, --tls self-signed; --gc)
  syncline user add NAME [--admin]   add a user of this machine's server (user passwd|set|remove|list)
  syncline server check              verify the server's store (--read-data: every chunk's hash; --repair)

Run `syncline COMMAND --help` for a command's options.
"""


@click.group(cls=TourGroup, help="Keep directory trees in sync.\n\n" + TOUR,
             context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="syncline")
def cli() -> None:
    pass


cli.add_command(sync_cmd)
cli.add_command(index_cmd)
cli.add_command(diff_cmd)
cli.add_command(archive_cmd)
cli.add_command(apply_cmd)
cli.add_command(snapshot_cmd)
cli.add_command(log_cmd)
cli.add_command(watch_cmd)
cli.add_command(daemon_cmd)
cli.add_command(folder_cmd)
cli.add_command(status_cmd)
cli.add_command(ui_cmd)
cli.add_command(user_cmd)
cli.add_command(serve_cmd)
cli.add_command(server_cmd)
cli.add_command(connect_cmd)
cli.add_command(device_cmd)
cli.add_command(app_password_cmd)
cli.add_command(share_cmd)
cli.add_command(lock_cmd)
cli.add_command(unlock_cmd)
cli.add_command(locks_cmd)
cli.add_command(versions_cmd)
cli.add_command(restore_cmd)
cli.add_command(trash_cmd)


def main(argv: list[str] | None = None) -> None:
    """Run the command line; never returns.

    Run as the ``syncline`` program (``argv`` None), the process is tuned for a command that runs once:
    the cyclic GC is off (a run builds hundreds of thousands of entries that never form cycles, and each
    collection would walk all of them: about 60 ms per 100,000), and the process leaves with ``os._exit``
    after flushing its output instead of freeing every entry one by one (as long again). Every file
    syncline writes is closed, and fsynced where it matters, before a command returns.
    """
    if argv is None:
        gc.disable()
    code = _run(argv)
    if argv is None:
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(OSError, ValueError):
                stream.flush()
        os._exit(code)
    sys.exit(code)


def _run(argv: list[str] | None) -> int:
    """Run one command; returns its exit code."""
    # Names that are not UTF-8 are printed as their raw bytes, as ls does.
    for stream in (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:
            reconfigure(errors="surrogateescape")
    try:
        code = cli.main(args=argv, prog_name="syncline", standalone_mode=False)
    except SynclineError as exc:
        click.echo(printable(f"syncline: error: {exc}"), err=True)
        return EXIT_STOPPED
    except click.ClickException as exc:
        if type(exc).__name__ == "NoArgsIsHelpError":  # `syncline` alone: the tour, not an error
            ctx = getattr(exc, "ctx", None)
            click.echo(ctx.get_help() if ctx is not None else TOUR)
            return 0
        click.echo(printable(f"syncline: error: {one_line(exc)}"), err=True)
        return EXIT_STOPPED
    except (click.exceptions.Abort, KeyboardInterrupt):
        click.echo("syncline: interrupted", err=True)
        return 130
    except BrokenPipeError:
        return 0
    except OSError as exc:
        where = f": {exc.filename}" if exc.filename else ""
        click.echo(printable(f"syncline: error: {exc.strerror or exc}{where}"), err=True)
        return EXIT_STOPPED
    return code if isinstance(code, int) else 0
