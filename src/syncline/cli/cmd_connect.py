"""``syncline connect URL``: log this device in to a server and keep its token (never the password)."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from .render import printable


@click.command("connect")
@click.argument("url")
@click.option("--user", "user", required=True, help="Your user name on the server.")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input (for scripts).")
@click.option("--fingerprint", default=None,
              help="The server certificate's SHA256 fingerprint, as `syncline serve` printed it (needed when "
                   "no one is at a terminal to compare it).")
@click.option("--device", "device", default=None, help="A name for this device (default: the host name).")
@click.option("--new-server", is_flag=True,
              help="The server at URL was set up anew on purpose: forget the one this device knew there.")
@click.option("--config", "config", type=click.Path(path_type=str), default=None,
              help="The daemon's config file, where [server] url is written "
                   "(default: $XDG_CONFIG_HOME/syncline/daemon.toml).")
@click.option("--state", "state", type=click.Path(path_type=str), default=None,
              help="The state directory, where the token is kept (default: $SYNCLINE_STATE_DIR, else "
                   "$XDG_STATE_HOME/syncline).")
def connect_cmd(url: str, user: str, password_stdin: bool, fingerprint: str | None, device: str | None,
                new_server: bool, config: str | None, state: str | None) -> int:
    """Connect this device to the syncline server at URL (https://host:8765, or http:// on this machine),
    or keep your user name and password for a WebDAV server (webdavs://host/path, or a Nextcloud or
    ownCloud https://host/remote.php/dav/files/USER/...).

    Over TLS the server's certificate fingerprint is shown and, once trusted, pinned: only that
    certificate is accepted from then on. Compare it with what `syncline serve` printed. The device's
    token is kept in the state directory (mode 0600); the password is never stored. Connecting again
    from the same machine replaces its earlier device.
    """
    from ..engine.state import state_dir
    from ..services.config import daemon_config_path
    from ..services.daemon import connect as c
    from ..services.daemon import is_running, read_status, request_restart
    from ..services.daemon.configfile import set_server_url

    home = Path(state) if state is not None else state_dir()
    if _is_dav(url):
        return _connect_webdav(home, url, user, password_stdin)
    where = Path(config) if config is not None else daemon_config_path()
    try:
        meeting = c.meet(url)
    except OSError as exc:
        raise c.person_error(url, exc) from None
    if meeting.fingerprint is not None:
        trust_certificate(meeting.url, meeting.fingerprint, fingerprint,
                          interactive=not password_stdin and sys.stdin.isatty())
    old = None if new_server else c.previous(home, meeting)
    replaces = c.device_of(old) if old is not None else None
    password = read_password(password_stdin)
    try:
        login = c.log_in(meeting, user, password, device or c.default_device_name(), replaces)
    except OSError as exc:
        raise c.person_error(meeting.url, exc) from None
    c.save(home, login)
    was = set_server_url(where, meeting.url)
    if is_running(read_status(home)):
        request_restart(home)  # its folders were opened with the token just replaced
    click.echo(printable(f"connected to {meeting.url} as {login.user}, device {login.device_id}"
                         + (f" (replacing device {login.replaced})" if login.replaced else "")))
    if was is not None and was != meeting.url:
        click.echo(printable(f"the daemon's server was {was}; it is now {meeting.url} ({where})"))
    click.echo("next: syncline folder add LOCAL --remote NAME [--create], then syncline daemon")
    return 0


def trust_certificate(url: str, shown: str, given: str | None, interactive: bool) -> None:
    from ..core.errors import UsageError
    from ..formats.wire.trust import same_fingerprint

    if given is not None:
        if not same_fingerprint(given, shown):
            raise UsageError(f"the certificate of {url} has the fingerprint {shown}, not the one given",
                             "nothing was sent; compare with what `syncline serve` printed on the server")
        return
    if not interactive:
        raise UsageError(f"the certificate of {url} is not known to this device (fingerprint {shown})",
                         "compare it with what `syncline serve` printed, then pass --fingerprint")
    click.echo(printable(f"the server at {url} presents a certificate with the fingerprint\n  {shown}"))
    if not click.confirm("Is it the one `syncline serve` printed on the server?", default=False):
        raise UsageError("the certificate was not trusted; nothing was sent",
                         "run `syncline connect` again once you have compared the fingerprint")


def read_password(from_stdin: bool) -> str:
    from ..core.errors import UsageError

    if from_stdin:
        line = sys.stdin.readline(4096)
        password = line.rstrip("\r\n")
    elif sys.stdin.isatty():
        password = click.prompt("password", hide_input=True, default="", show_default=False)
    else:
        raise UsageError("no password: standard input is not a terminal", "pass --password-stdin and pipe it in")
    if not password:
        raise UsageError("an empty password", "give the password of your user on the server")
    return password


def _is_dav(url: str) -> bool:
    from ..engine.replicas.webdav.address import is_dav

    return is_dav(url)


def _connect_webdav(home: Path, url: str, user: str, password_stdin: bool) -> int:
    """The WebDAV side of ``connect``: the password is checked with one request, then kept (0600): a
    WebDAV server wants it on every request (use an app password where the server has them)."""
    from ..engine.replicas.webdav.connect import connect

    credentials, there = connect(home, url, user, read_password(password_stdin))
    click.echo(printable(f"connected to {credentials.server} as {user} (WebDAV; the password is kept in "
                         f"{home}, readable only by you)"))
    if not there:
        click.echo(printable(f"{url} is not there yet: the first `syncline sync DIR {url}` makes it"))
    return 0
