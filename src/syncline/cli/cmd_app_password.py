"""``syncline app-password add NAME``: a password for WebDAV clients (owncloudcmd, nextcloudcmd, rclone,
a file manager), shown once. It is a device token: listed and revoked with ``syncline device``."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from .options import server_place, with_server
from .render import printable


@click.group("app-password")
def app_password_cmd() -> None:
    """Passwords for WebDAV clients: each is a device of your user on the server."""


@app_password_cmd.command("add")
@click.argument("name")
@click.option("--user", "user", required=True, help="Your user name on the server.")
@click.option("--password-stdin", is_flag=True, help="Read your password from standard input (for scripts).")
@click.option("--fingerprint", default=None,
              help="The server certificate's SHA256 fingerprint, when this device has not connected to it.")
@with_server
def add_cmd(name: str, user: str, password_stdin: bool, fingerprint: str | None, server: str | None,
            config: str | None, state: str | None) -> int:
    """Make an app password named NAME and print it (once: the server keeps only its hash).

    Use it with your user name in any WebDAV client, at URL/remote.php/webdav/ (or
    URL/remote.php/dav/files/USER/). Revoke it with `syncline device revoke ID`. Over TLS the server's
    certificate must be the one this device pinned at `syncline connect`, or the one --fingerprint names.
    """
    from ..engine.replicas.remote import load_credentials
    from ..services.daemon import connect as c
    from .cmd_connect import read_password, trust_certificate

    home, url = server_place(server, config, state)
    try:
        meeting = c.meet(url)
    except OSError as exc:
        raise c.person_error(url, exc) from None
    known = load_credentials(Path(home), meeting.url)
    if meeting.fingerprint is not None and (known is None or known.cert_pem != meeting.cert_pem):
        trust_certificate(meeting.url, meeting.fingerprint, fingerprint,
                          interactive=not password_stdin and sys.stdin.isatty())
    password = read_password(password_stdin)
    try:
        login = c.log_in(meeting, user, password, name, None)
    except OSError as exc:
        raise c.person_error(meeting.url, exc) from None
    click.echo(printable(f"app password {name} of {login.user} (device {login.device_id}); WebDAV at "
                         f"{meeting.url}/remote.php/webdav/ - it is shown once:"), err=True)
    click.echo(login.credentials.token)
    return 0
