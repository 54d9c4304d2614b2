"""``syncline user add|passwd|set|remove|restore|list``: the server's users, their roles and quotas, managed on the
server machine's data directory."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from ..core.errors import UsageError
from .options import Quota
from .render import binary_bytes, local_time, plural, printable

# A password line on stdin is read up to this many characters: past the 1,024-byte bound anyway, and a
# stream with no newline cannot make the command read without end.
_STDIN_CHARS = 4 * 1024 + 2
UNSET = object()  # --quota not given (None is "no quota")


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
    """Add, change, remove and list the server's users (on the server machine)."""


def quota_option(func: Any) -> Any:
    return click.option("--quota", type=Quota(), default=None, metavar="SIZE|none",
                        help="The most the user's folders may hold (files now, not their trash): 500MiB, "
                             "50GiB, 2TiB, or none.")(func)


@user_cmd.command("add", short_help="Add a user.")
@click.argument("name")
@click.option("--admin", is_flag=True, help="Make the user an administrator.")
@quota_option
@password_option
@data_option
def add_cmd(name: str, admin: bool, quota: int | None, password_stdin: bool, data: Path | None) -> None:
    """Add user NAME; the password is asked twice (or read with --password-stdin)."""
    from ..server.passwords import Passwords
    from ..server.users import add_user, check_user_name, open_accounts

    check_user_name(name)
    accounts = open_accounts(data_dir(data), create=True)
    try:
        known = accounts.users.get(name)
        if known is not None and known.disabled:
            raise UsageError(f"{name} was removed; the name stays theirs, with their folders on the server",
                             "choose another name")
        if known is not None:  # before asking for a password that would be thrown away
            raise UsageError(f"there is already a user {name}",
                             f"change their password with `syncline user passwd {name}`")
        add_user(accounts, Passwords(), name, _password(password_stdin), admin, quota)
    finally:
        accounts.close()
    said = [w for w, on in (("admin", admin), (f"quota {binary_bytes(quota or 0)}", quota is not None)) if on]
    click.echo(printable(f"user {name} added" + (f" ({', '.join(said)})" if said else "")))


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
        _live(accounts, name)
        set_password(accounts, Passwords(), name, _password(password_stdin))
    finally:
        accounts.close()
    click.echo(printable(f"password of {name} changed"))


@user_cmd.command("set", short_help="Change a user's quota or role.")
@click.argument("name")
@click.option("--admin/--no-admin", "admin", default=None,
              help="An administrator sees every device and can revoke any.")
@click.option("--quota", "quota_text", default=None, metavar="SIZE|none",
              help="The most the user's folders may hold (files now, not their trash), or none. Lowered "
                   "under what they hold, nothing is taken away: only writes that add bytes are refused.")
@data_option
def set_cmd(name: str, admin: bool | None, quota_text: str | None, data: Path | None) -> None:
    """Change user NAME: --quota SIZE|none, --admin or --no-admin."""
    from ..server.users import open_accounts

    # Converted here, not by click: "none" is a value (no quota), and not giving --quota leaves it alone.
    try:
        quota = UNSET if quota_text is None else Quota().convert(quota_text, None, None)
    except click.BadParameter as exc:
        raise UsageError(f"--quota: {exc.message}", "see `syncline user set --help`") from None
    if admin is None and quota is UNSET:
        raise UsageError("nothing to change", f"say what: `syncline user set {name} --quota 50GiB`, --admin or "
                                              "--no-admin")
    said = []
    accounts = open_accounts(data_dir(data))
    try:
        _live(accounts, name)
        if quota is not UNSET:
            assert quota is None or isinstance(quota, int)
            accounts.users.set_quota(name, quota)
            said.append("no quota" if quota is None else f"quota {binary_bytes(quota)}")
        if admin is not None:
            accounts.users.set_admin(name, admin)  # the last administrator: the store's one line
            said.append("administrator" if admin else "not an administrator")
    finally:
        accounts.close()
    click.echo(printable(f"{name}: {', '.join(said)}"))


@user_cmd.command("remove", short_help="Remove a user (their folders stay on the server).")
@click.argument("name")
@data_option
def remove_cmd(name: str, data: Path | None) -> None:
    """Remove user NAME: their devices are disconnected and they can no longer log in. Nothing of theirs is
    deleted: their folders stay on the server, and their name stays taken (nobody added later gets their
    folders). The server's last administrator cannot be removed."""
    from ..server.users import open_accounts

    accounts = open_accounts(data_dir(data))
    try:
        _live(accounts, name)
        revoked = accounts.users.remove(name)
    finally:
        accounts.close()
    click.echo(printable(f"user {name} removed: {plural(revoked, 'device')} disconnected; their folders are "
                         "kept on the server"))


@user_cmd.command("restore", short_help="Let a removed user log in again.")
@click.argument("name")
@data_option
def restore_cmd(name: str, data: Path | None) -> None:
    """Let removed user NAME log in again with their password (what an administrator's "enable" does over
    the protocol). The devices `user remove` disconnected stay disconnected: each connects again."""
    from ..formats.wire.users import UserChange
    from ..server.users import open_accounts

    accounts = open_accounts(data_dir(data))
    try:
        user = accounts.users.get(name)
        if user is None:
            raise UsageError(f"no user {name}", "list them with `syncline user list`")
        if not user.disabled:
            raise UsageError(f"{name} was not removed", "list the users with `syncline user list`")
        accounts.users.update(name, UserChange(disabled=False))
    finally:
        accounts.close()
    click.echo(printable(f"user {name} restored: they can log in again; their devices connect again"))


@user_cmd.command("list", short_help="List the users.")
@data_option
def list_cmd(data: Path | None) -> None:
    """List the users: name, role, devices connected, when made."""
    from ..server.users import open_accounts

    accounts = open_accounts(data_dir(data))
    try:
        rows = [(u.name, "admin" if u.admin else "user", "removed" if u.disabled else "",
                 sum(d.revoked_ns is None for d in accounts.devices.list(u.id)), u.created_ns,
                 _usage(accounts.users.used_bytes(u.id), u.quota_bytes))
                for u in accounts.users.list()]
    finally:
        accounts.close()
    width = max((len(r[0]) for r in rows), default=4)
    usage_width = max((len(r[5]) for r in rows), default=0)
    for name, role, state, devices, created, usage in rows:
        line = (f"{name:<{width}}  {role:<5}  {plural(devices, 'device'):<10}  {usage:<{usage_width}}  "
                f"added {local_time(created)}")
        click.echo(printable(line + (f"  {state}" if state else "")))


def _usage(used: int, quota: int | None) -> str:
    return f"{binary_bytes(used)}, no quota" if quota is None else f"{binary_bytes(used)} of {binary_bytes(quota)}"


def _live(accounts: Any, name: str) -> None:
    """:class:`UsageError` unless ``name`` is a user who was not removed."""
    user = accounts.users.get(name)
    if user is None:
        raise UsageError(f"no user {name}", "list them with `syncline user list`")
    if user.disabled:
        raise UsageError(f"{name} was removed", "list the users with `syncline user list`")


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
