"""Shares as a device sees them (protocol 1.1, feature ``shares``): the shares offered to this device's
user and those of their folders, and the calls that offer, accept, decline, revoke and leave, for
``syncline share`` and the daemon's acceptance of shares.

Every answer is checked field by field (a server's answer is not trusted either, DESIGN 4.9) and every
refusal comes out as one :class:`UsageError` line with what to do.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ...core.errors import UsageError
from ...engine.replicas.remote import RESP, Client, code_of
from ...formats.wire import WireError
from ...formats.wire.fields import lst, obj
from ...formats.wire.limits import USER_NAME_RE
from ...formats.wire.paths import check_folder_name
from ...formats.wire.shares import Share, share_of_json
from ..config import DaemonConfig

MAX_SHARES = 100_000


@dataclass(frozen=True, slots=True)
class Shares:
    incoming: tuple[Share, ...]  # other users' folders offered to or shared with this user
    outgoing: tuple[Share, ...]  # the live shares of this user's folders


def _checked(what: str, read: Any) -> Any:
    try:
        return read()
    except WireError as err:
        raise UsageError(f"the server's {what} was refused: {err.message}", "check the server's version") from None


def _needs_shares(client: Client) -> None:
    if "shares" not in client.info().features:
        raise UsageError(f"the server at {client.base} does not share folders",
                         "upgrade the server to a syncline with shares")


def list_shares(client: Client) -> Shares:
    """The shares offered to or held by this user, and those of their folders."""
    _needs_shares(client)
    value = client.call("GET", "shares")

    def read() -> Shares:
        o = obj(value, "shares", RESP)
        return Shares(tuple(share_of_json(s) for s in lst(o.get("incoming"), "incoming", RESP, MAX_SHARES)),
                      tuple(share_of_json(s) for s in lst(o.get("outgoing"), "outgoing", RESP, MAX_SHARES)))

    result: Shares = _checked("list of shares", read)
    return result


def members(client: Client, folder: str) -> list[Share]:
    """Everyone with a right to ``folder`` (one of this user's names), the owner first."""
    _needs_shares(client)
    _, value = _folder_call(client, folder, "GET", "members")
    out: list[Share] = _checked("list of members", lambda: [
        share_of_json(s) for s in lst(obj(value, "members", RESP).get("members"), "members", RESP, MAX_SHARES)])
    return out


def offer(client: Client, folder: str, user: str, rights: str) -> tuple[Share, bool]:
    """Share ``folder`` with ``user`` (``rw``/``ro``): the share, and True when it is a new offer (False:
    the rights of a live share changed)."""
    _needs_shares(client)
    if not USER_NAME_RE.fullmatch(user):
        raise UsageError(f"{user!r} is not a user name", "a user name is 1-32 of a-z, 0-9, '_' and '-'")
    status, value = _folder_call(client, folder, "PUT", f"members/{user}", ok=(200, 201), user=user,
                                 json={"rights": rights})
    return _checked("answer", lambda: share_of_json(value)), status == 201


def end(client: Client, folder: str, user: str) -> None:
    """Revoke ``user``'s share of ``folder`` (its owner), or leave it (``user`` is this user)."""
    _needs_shares(client)
    if not USER_NAME_RE.fullmatch(user):
        raise UsageError(f"{user!r} is not a user name", "a user name is 1-32 of a-z, 0-9, '_' and '-'")
    _folder_call(client, folder, "DELETE", f"members/{user}", ok=(204,), user=user)


def accept(client: Client, share: Share, name: str | None) -> Share:
    """Accept ``share`` under ``name`` (None: the server picks a free one)."""
    body = {} if name is None else {"name": name}
    try:
        _, raw = client.request("POST", f"shares/{share.uid}/accept", json=body, ok=(200,))
    except OSError as exc:
        if code_of(exc) == "exists":
            raise UsageError(f"you have a folder named {name} already",
                             "accept it under another name with --as NAME") from None
        raise _refusal(exc, share.label, None) from None
    accepted: Share = _checked("answer", lambda: share_of_json(client.parsed(raw)))
    return accepted


def decline(client: Client, share: Share) -> None:
    """Decline an offer, or leave an accepted share."""
    try:
        client.request("POST", f"shares/{share.uid}/decline", ok=(204,))
    except OSError as exc:
        raise _refusal(exc, share.label, None) from None


def find_incoming(shares: Shares, spec: str) -> Share:
    """The incoming share ``spec`` names: ``OWNER/FOLDER``, the member's name for it, or its uid."""
    live = [s for s in shares.incoming if s.state != "revoked"]
    found = [s for s in live if spec in (s.label, s.uid) or (s.name is not None and s.name == spec)]
    if len(found) != 1:
        offered = ", ".join(s.label for s in live) or "none"
        raise UsageError(f"no share {spec} offered to you" if not found else f"{spec} names more than one share",
                         f"shares offered to you: {offered} (see `syncline share list`)")
    return found[0]


def is_free_dir(path: Path) -> bool:
    """Whether ``path`` may be bound to a share: missing, or an empty directory. A first two-way run over
    a full folder would upload everything in it into someone else's folder."""
    try:
        with os.scandir(path) as it:
            return next(it, None) is None
    except FileNotFoundError:
        return not path.is_symlink()
    except NotADirectoryError:
        return False


def _folder_call(client: Client, folder: str, method: str, tail: str, ok: tuple[int, ...] = (200,),
                 user: str | None = None, json: Any = None) -> tuple[int, Any]:
    """(status, parsed answer or None) of a request on one of this user's folders."""
    try:
        check_folder_name(folder)
    except WireError as err:
        raise UsageError(err.message, err.hint) from None
    try:
        status, raw = client.request(method, f"folders/{folder}/{tail}", ok=ok, json=json)
    except OSError as exc:
        raise _refusal(exc, folder, user) from None
    return status, client.parsed(raw) if raw else None


def _refusal(exc: OSError, folder: str, user: str | None) -> Exception:
    """The server's own one line (message and hint) for a refusal the person can act on; other errors
    (unreachable, ...) go on unchanged, for :func:`~.connect.person_error`."""
    code = code_of(exc)
    if code not in ("forbidden", "share_revoked", "not_found", "bad_request", "exists"):
        return exc
    hint = str(getattr(exc, "hint", "") or "")
    why = str(exc.strerror or exc).removesuffix(f" ({hint})" if hint else "")
    if code == "not_found" and user is None:
        why = f"{folder}: {why}"
    return UsageError(why, hint or "see `syncline share list`")


def server_folder(config: DaemonConfig | None, spec: str) -> tuple[str, str | None]:
    """The server folder ``spec`` names, and the local folder bound to it (None: not bound here): a local
    folder of the daemon's config (a path: it has a ``/``, starts with ``~`` or ``.``, or is there), or a
    folder name on the server. :class:`UsageError` for a path the daemon does not sync to a server folder."""
    folders = config.folders if config is not None else ()
    pathlike = "/" in spec or spec.startswith(("~", ".")) or Path(spec).exists()
    if pathlike:
        want = os.path.normpath(os.path.abspath(os.path.expanduser(spec)))
        bound = [f for f in folders if f.local == want]
        if not bound or not _is_name(bound[0].remote):
            raise UsageError(f"{want} is not a folder this device syncs with a server",
                             "give the folder's name on the server, or see `syncline folder list`")
        return bound[0].remote, want
    if not _is_name(spec):
        raise UsageError(f"{spec!r} is neither a folder this device syncs nor a folder name",
                         "a folder name is 1-64 letters, digits, '.', '_' or '-'")
    local = next((f.local for f in folders if f.remote == spec), None)
    return spec, local


def _is_name(name: str) -> bool:
    try:
        check_folder_name(name)
    except WireError:
        return False
    return True
