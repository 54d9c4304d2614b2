"""``syncline user add|passwd|list``: the server's users, managed on the server machine's data directory."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from ..core.errors import UsageError
from .render import local_time, printable

# A password line on stdin is read up to this many characters: past the 1,024-byte bound anyway, and a
# stream with no newline cannot make the command read without end.
_STDIN_CHARS = 4 * 1024 + 2


def data_option(func: Any) -> Any:
    return click.option("--data", "data", type=click.Path(path_type=Path, file_okay=False), default=None,
                        metavar="DIR",
                        help="The server's data directory (default: $SYNCLINE_SERVER_DATA, else "
                             "$XDG_DATA_HOME/syncline/server, else ~/.local/share/syncline/server).")(func)


def password_option(func: Any) -> Any:
    return click.option("--password-stdin", is_flag=True,
                        help="Read the password from the first line of standard input (for scripts).")(func)


@click.group("user")
def user_cmd() -> None:
    """Add users, change their passwords, list them (on the server machine)."""


@user_cmd.command("add", short_help="Add a user.")
@click.argument("name")
@click.option("--admin", is_flag=True, help="Make the user an administrator.")
@password_option
@data_option
def add_cmd(name: str, admin: bool, password_stdin: bool, data: Path | None) -> None:
    """Add user NAME; the password is asked twice (or read with --password-stdin)."""
    from ..server.passwords import Passwords
    from ..server.users import add_user, check_user_name, open_accounts

    check_user_name(name)
    accounts = open_accounts(data_dir(data), create=True)
    try:
        if accounts.users.get(name) is not None:  # before asking for a password that would be thrown away
            raise UsageError(f"there is already a user {name}",
                             f"change their password with `syncline user passwd {name}`")
        add_user(accounts, Passwords(), name, _password(password_stdin), admin)
    finally:
        accounts.close()
    click.echo(printable(f"user {name} added" + (" (admin)" if admin else "")))


@user_cmd.command("passwd", short_help="Change a user's password.")
@click.argument("name")
@password_option
@data_option
def passwd_cmd(name: str, password_stdin: bool, data: Path | None) -> None:
    """Give user NAME a new password (devices already connected stay connected)."""
    from ..server.passwords import Passwords
    from ..server.users import open_accounts, set_password

    accounts = open_accounts(data_dir(data))
    try:
        if accounts.users.get(name) is None:
            raise UsageError(f"no user {name}", "list them with `syncline user list`")
        set_password(accounts, Passwords(), name, _password(password_stdin))
    finally:
        accounts.close()
    click.echo(printable(f"password of {name} changed"))


@user_cmd.command("list", short_help="List the users.")
@data_option
def list_cmd(data: Path | None) -> None:
    """List the users: name, role, devices connected, when made."""
    from ..server.users import open_accounts

    accounts = open_accounts(data_dir(data))
    try:
        rows = [(u.name, "admin" if u.admin else "user", "disabled" if u.disabled else "",
                 sum(d.revoked_ns is None for d in accounts.devices.list(u.id)), u.created_ns)
                for u in accounts.users.list()]
    finally:
        accounts.close()
    width = max((len(r[0]) for r in rows), default=4)
    for name, role, state, devices, created in rows:
        line = f"{name:<{width}}  {role:<5}  {devices} device{'s' if devices != 1 else ''}  added {local_time(created)}"
        click.echo(printable(line + (f"  {state}" if state else "")))


def data_dir(data: Path | None) -> Path:
    from ..server.datadir import default_data_dir

    return data if data is not None else default_data_dir()


def _password(from_stdin: bool) -> str:
    """The new password: the first line of stdin, or asked twice on the terminal, never echoed."""
    if from_stdin:
        line = sys.stdin.readline(_STDIN_CHARS)
        if not line:
            raise UsageError("no password on standard input", "give it as the first line")
        return line.removesuffix("\n").removesuffix("\r")
    if not _interactive():
        raise UsageError("no terminal to ask the password on", "give it on standard input with --password-stdin")
    value: str = click.prompt("Password", hide_input=True, confirmation_prompt="Repeat the password")
    return value


def _interactive() -> bool:
    return sys.stdin.isatty()
