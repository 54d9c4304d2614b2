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
def serve_cmd(data: Path | None, listen: str | None, tls_cert: Path | None, tls_key: Path | None,
              tls_mode: str | None, insecure_http: bool) -> None:
    """Serve the folders of the data directory DIR to syncline devices until interrupted (Ctrl-C).

    The first start makes the user `admin` with a random password, printed once. Add users with
    `syncline user add NAME`; on each device, `syncline connect URL` logs in.
    """
    from ..server.datadir import default_data_dir
    from ..server.serve import DEFAULT_LISTEN, Started, choose_tls, serve

    data_dir = data if data is not None else default_data_dir()
    tls = choose_tls(data_dir, tls_cert, tls_key, tls_mode)

    def ready(started: Started) -> None:
        click.echo(printable(f"syncline server on {started.url} (data in {data_dir}); Ctrl-C stops it"))
        if started.fingerprint:
            click.echo(f"certificate fingerprint: {started.fingerprint}")
        if started.admin_password is not None:
            click.echo(f"first start: user {started.admin}, password {started.admin_password}")
            click.echo("  (shown only now: note it, or set another with `syncline user passwd admin`)")
        click.echo(printable(f"on a device: syncline connect {started.connect_url or started.url}"))

    serve(data_dir, listen or DEFAULT_LISTEN, tls, insecure_http=insecure_http, on_ready=ready)
