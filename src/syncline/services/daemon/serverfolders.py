"""A device's calls on its user's folders of a server (protocol 1.1: shares, file locks, versions), shared by
``syncline share``, ``lock``, ``versions``, ``restore`` and ``trash``: which server folder a name or a local
path means, one request on a folder with the server's refusal as one line, and the check of an answer.

A refusal a person can act on (forbidden, read-only, locked, not found, ...) comes out as the server's own
message and hint in one :class:`UsageError`; any other failure (unreachable, a revoked token) goes on
unchanged, for :func:`~.connect.person_error`.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from ...core.errors import UsageError
from ...engine.replicas.remote import Client, code_of
from ...formats.wire import WireError
from ...formats.wire.paths import check_folder_name, check_wire_path
from ..config import DaemonConfig

T = TypeVar("T")

# The codes of refusals a person can act on: told as the server's one line.
PERSON_CODES = frozenset({"forbidden", "share_revoked", "not_found", "bad_request", "exists", "locked",
                          "read_only", "too_large"})


def checked(read: Callable[[], T], what: str = "answer") -> T:
    """``read()`` of a server's answer; a malformed one as one line (a server is not trusted, DESIGN 4.9)."""
    try:
        return read()
    except WireError as err:
        raise UsageError(f"the server's {what} was refused: {err.message}", "check the server's version") from None


def needs(client: Client, feature: str, lacks: str, hint: str) -> None:
    """:class:`UsageError` (``the server at URL`` + ``lacks``) unless the server announces ``feature``."""
    if feature not in client.info().features:
        raise UsageError(f"the server at {client.base} {lacks}", hint)


def refusal(exc: OSError, hint: str, subject: str | None = None) -> Exception:
    """The server's own one line for a refusal a person can act on (``hint`` when the server gave none;
    ``subject`` prefixes a bare "not found"); any other error unchanged."""
    code = code_of(exc)
    if code not in PERSON_CODES:
        return exc
    given = str(getattr(exc, "hint", "") or "")
    why = str(exc.strerror or exc).removesuffix(f" ({given})" if given else "")
    if code == "not_found" and subject is not None:
        why = f"{subject}: {why}"
    return UsageError(why, given or hint)


def folder_call(client: Client, method: str, folder: str, tail: str, *, json: Any = None,
                params: dict[str, str] | None = None, ok: tuple[int, ...] = (200,),
                hint: str = "check the path and the folder's name", subject: bool = False) -> tuple[int, Any]:
    """``(status, parsed answer or None)`` of a request on the user's server folder ``folder``; a refusal
    as :func:`refusal` says (``subject``: a bare "not found" names the folder)."""
    try:
        check_folder_name(folder)
    except WireError as err:
        raise UsageError(err.message, err.hint) from None
    try:
        status, raw = client.request(method, f"folders/{folder}/{tail}", json=json, params=params, ok=ok)
    except OSError as exc:
        raise refusal(exc, hint, folder if subject else None) from None
    return status, client.parsed(raw) if raw else None


def server_folder(config: DaemonConfig | None, spec: str) -> tuple[str, str | None]:
    """The server folder ``spec`` names, and the local folder bound to it (None: not bound here): a local
    folder of the daemon's config (a path: it has a ``/`` or starts with ``~`` or ``.``; or a bare name
    that is a synced folder here, in the current directory), or a folder name on the server.
    :class:`UsageError` for a path the daemon does not sync to a server folder."""
    folders = config.folders if config is not None else ()
    pathlike = "/" in spec or spec.startswith(("~", "."))
    want = os.path.normpath(os.path.abspath(os.path.expanduser(spec)))
    bound = [f for f in folders if f.local == want]
    if pathlike or (bound and _is_name(bound[0].remote)):
        if not bound or not _is_name(bound[0].remote):
            raise UsageError(f"{want} is not a folder this device syncs with a server",
                             "give the folder's name on the server, or see `syncline folder list`")
        return bound[0].remote, want
    if not _is_name(spec):
        raise UsageError(f"{spec!r} is neither a folder this device syncs nor a folder name",
                         "a folder name is 1-64 letters, digits, '.', '_' or '-'")
    local = next((f.local for f in folders if f.remote == spec), None)
    return spec, local


def server_path(config: DaemonConfig | None, path: str, folder: str | None) -> tuple[str, str]:
    """``(server folder, path in it)`` of ``path``: a path inside a folder this device syncs with a server
    (or, with ``folder``, a path in that server folder). :class:`UsageError` otherwise."""
    if folder is not None:
        try:
            return check_folder_name(folder), check_wire_path(path.strip("/"))
        except WireError as err:
            raise UsageError(err.message, err.hint) from None
    want = Path(os.path.normpath(os.path.abspath(os.path.expanduser(path))))
    for f in config.folders if config is not None else ():
        root = Path(f.local)
        if want != root and want.is_relative_to(root):
            try:
                return check_folder_name(f.remote), want.relative_to(root).as_posix()
            except WireError:
                break
    raise UsageError(f"{want} is not in a folder this device syncs with a server",
                     "give a path inside one (see `syncline folder list`), or --folder NAME and the path in it")


def _is_name(name: str) -> bool:
    try:
        check_folder_name(name)
    except WireError:
        return False
    return True
