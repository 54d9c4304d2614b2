"""``syncline serve``: run the server on a data directory (parse, call ``server.serve``, render)."""

from __future__ import annotations

from pathlib import Path

import click

from .render import printable


@click.command("serve", short_help="Run a syncline server.")
@click.option("--data", "data", type=click.Path(path_type=Path, file_okay=False), default=None, metavar="DIR",
              help="The server's data directory (default: $SYNCLINE_SERVER_DATA, else "
                   "$XDG_DATA_HOME/syncline/server, else ~/.local/share/syncline/server).")
@click.option("--listen", default=None, metavar="HOST:PORT",
              help="Where to listen (default 127.0.0.1:8765; 0.0.0.0:8765 for every address, which needs TLS).")
@click.option("--tls-cert", type=click.Path(path_type=Path, dir_okay=False), default=None, metavar="FILE",
              help="The TLS certificate (PEM), with --tls-key.")
@click.option("--tls-key", type=click.Path(path_type=Path, dir_okay=False), default=None, metavar="FILE",
              help="The TLS private key (PEM), with --tls-cert.")
@click.option("--tls", "tls_mode", default=None, metavar="self-signed",
              help="Make a self-signed certificate once (kept in DATA/tls) and serve HTTPS with it.")
@click.option("--insecure-http", is_flag=True,
              help="Allow plain HTTP on an address other than loopback (passwords would cross in clear).")
@click.option("--gc", "gc_once", is_flag=True,
              help="Do not serve: collect once (versions past DATA/server.toml's policy, unused chunks) and exit; "
                   "the server must be stopped.")
@click.option("--clock-ok", is_flag=True,
              help="With --gc: the clock is right even though it is far past the last collection (drop versions).")
def serve_cmd(data: Path | None, listen: str | None, tls_cert: Path | None, tls_key: Path | None,
              tls_mode: str | None, insecure_http: bool, gc_once: bool, clock_ok: bool) -> None:
    """Serve the folders of the data directory DIR to syncline devices until interrupted (Ctrl-C).

    The first start makes the user `admin` with a random password, printed once. Add users with
    `syncline user add NAME`; on each device, `syncline connect URL` logs in. DATA/server.toml (optional)
    sets how long versions and the trash are kept and how often the collector runs (docs/cli.md).
    """
    from ..core.errors import UsageError
    from ..server.datadir import default_data_dir
    from ..server.serve import DEFAULT_LISTEN, Started, choose_tls, collect_once, serve

    data_dir = data if data is not None else default_data_dir()
    if clock_ok and not gc_once:
        raise UsageError("--clock-ok goes with --gc", "run `syncline serve --gc --clock-ok`")
    if gc_once:
        report = collect_once(data_dir, clock_ok)
        if report.retention_skipped:
            click.echo("the clock is more than a week past the last collection: no version was dropped "
                       "(if the clock is right, run `syncline serve --gc --clock-ok`)", err=True)
        click.echo(printable(f"collected {data_dir}: {report.trash_dropped} kept versions dropped, "
                             f"{report.chunks_removed + report.orphans_removed} unused chunks removed, "
                             f"{report.changes_pruned} changes and {report.tombstones_pruned} tombstones pruned"))
        return
    tls = choose_tls(data_dir, tls_cert, tls_key, tls_mode)

    def ready(started: Started) -> None:
        click.echo(printable(f"syncline server on {started.url} (data in {data_dir}); Ctrl-C stops it"))
        if started.fingerprint:
            click.echo(f"certificate fingerprint: {started.fingerprint}")
        if started.admin_password is not None:
            click.echo(f"first start: user {started.admin}, password {started.admin_password}")
            click.echo("  (shown only now: note it, or set another with `syncline user passwd admin`)")
        address = started.connect_url or started.url
        click.echo(printable(f"in a browser: {address.rstrip('/')}/ (the web page: files, shares, devices)"))
        user = f" --user {started.admin}" if started.admin_password is not None else " --user NAME"
        click.echo(printable(f"on a device: syncline connect {address}{user}, "
                             "then syncline folder add DIR --remote NAME --create, then syncline daemon"))

    serve(data_dir, listen or DEFAULT_LISTEN, tls, insecure_http=insecure_http, on_ready=ready)
