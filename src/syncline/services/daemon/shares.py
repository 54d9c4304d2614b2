"""Shares as a device sees them (protocol 1.1, feature ``shares``): the shares offered to this device's
user and those of their folders, and the calls that offer, accept, decline, revoke and leave, for
``syncline share`` and the daemon's acceptance of shares.

Every answer is checked field by field (a server's answer is not trusted either, DESIGN 4.9) and every
refusal comes out as one :class:`UsageError` line with what to do.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from ...core.errors import UsageError
from ...engine.replicas.remote import RESP, Client, code_of
from ...formats.wire.fields import lst, obj
from ...formats.wire.limits import USER_NAME_RE
from ...formats.wire.shares import Share, share_of_json
from .configfile import add_folder
from .serverfolders import checked, folder_call, needs, refusal

MAX_SHARES = 100_000
_HINT = "see `syncline share list`"


@dataclass(frozen=True, slots=True)
class Shares:
    incoming: tuple[Share, ...]  # other users' folders offered to or shared with this user
    outgoing: tuple[Share, ...]  # the live shares of this user's folders


def _needs_shares(client: Client) -> None:
    needs(client, "shares", "does not share folders", "upgrade the server to a syncline with shares")


def list_shares(client: Client) -> Shares:
    """The shares offered to or held by this user, and those of their folders."""
    _needs_shares(client)
    value = client.call("GET", "shares")

    def read() -> Shares:
        o = obj(value, "shares", RESP)
        return Shares(tuple(share_of_json(s) for s in lst(o.get("incoming"), "incoming", RESP, MAX_SHARES)),
                      tuple(share_of_json(s) for s in lst(o.get("outgoing"), "outgoing", RESP, MAX_SHARES)))

    return checked(read, "list of shares")


def members(client: Client, folder: str) -> list[Share]:
    """Everyone with a right to ``folder`` (one of this user's names), the owner first."""
    _needs_shares(client)
    _, value = folder_call(client, "GET", folder, "members", hint=_HINT, subject=True)
    return checked(lambda: [share_of_json(s) for s in lst(obj(value, "members", RESP).get("members"), "members",
                                                           RESP, MAX_SHARES)], "list of members")


def offer(client: Client, folder: str, user: str, rights: str) -> tuple[Share, bool]:
    """Share ``folder`` with ``user`` (``rw``/``ro``): the share, and True when it is a new offer (False:
    the rights of a live share changed)."""
    _needs_shares(client)
    if not USER_NAME_RE.fullmatch(user):
        raise UsageError(f"{user!r} is not a user name", "a user name is 1-32 of a-z, 0-9, '_' and '-'")
    status, value = folder_call(client, "PUT", folder, f"members/{user}", ok=(200, 201), json={"rights": rights},
                                hint=_HINT)
    return checked(lambda: share_of_json(value)), status == 201


def end(client: Client, folder: str, user: str) -> None:
    """Revoke ``user``'s share of ``folder`` (its owner), or leave it (``user`` is this user)."""
    _needs_shares(client)
    if not USER_NAME_RE.fullmatch(user):
        raise UsageError(f"{user!r} is not a user name", "a user name is 1-32 of a-z, 0-9, '_' and '-'")
    folder_call(client, "DELETE", folder, f"members/{user}", ok=(204,), hint=_HINT)


def accept(client: Client, share: Share, name: str | None) -> Share:
    """Accept ``share`` under ``name`` (None: the server picks a free one)."""
    body = {} if name is None else {"name": name}
    try:
        _, raw = client.request("POST", f"shares/{share.uid}/accept", json=body, ok=(200,))
    except OSError as exc:
        if code_of(exc) == "exists":
            raise UsageError(f"you have a folder named {name} already",
                             "accept it under another name with --as NAME") from None
        raise refusal(exc, _HINT) from None
    return checked(lambda: share_of_json(client.parsed(raw)))


def decline(client: Client, share: Share) -> None:
    """Decline an offer, or leave an accepted share."""
    try:
        client.request("POST", f"shares/{share.uid}/decline", ok=(204,))
    except OSError as exc:
        raise refusal(exc, _HINT) from None


def find_incoming(shares: Shares, spec: str) -> Share:
    """The incoming share ``spec`` names: ``OWNER/FOLDER``, the member's name for it, or its uid."""
    live = [s for s in shares.incoming if s.state != "revoked"]
    found = [s for s in live if spec in (s.label, s.uid) or (s.name is not None and s.name == spec)]
    if len(found) != 1:
        offered = ", ".join(s.label for s in live) or "none"
        raise UsageError(f"no share {spec} offered to you" if not found else f"{spec} names more than one share",
                         f"shares offered to you: {offered} (see `syncline share list`)")
    return found[0]


def free_place(base: Path, synced: Sequence[Path], tries: int = 1) -> Path | None:
    """The first of ``base``, ``base-2``, ... (``tries`` in all) a share may be bound to: missing or empty
    (:func:`is_free_dir`) and neither in nor around a folder this device syncs (it would be synced twice);
    None when none is."""
    for n in range(1, tries + 1):
        target = base if n == 1 else base.with_name(f"{base.name}-{n}")
        if is_free_dir(target) and not any(target == p or target.is_relative_to(p) or p.is_relative_to(target)
                                           for p in synced):
            return target
    return None


def bind_share(config: Path, target: Path, name: str) -> str:
    """Sync ``target`` (a place :func:`free_place` gave) with the share named ``name``: make it and add
    the folder to the daemon config ``config``; the bound local folder. A folder made here is removed
    again (it is empty) when the config refuses it, so nothing is left behind."""
    made = not target.exists()
    target.mkdir(parents=True, exist_ok=True)  # the daemon makes no parents
    try:
        return add_folder(config, str(target), name).local
    except UsageError:
        if made:
            with contextlib.suppress(OSError):
                target.rmdir()
        raise


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
