"""Who is asking and which folder they mean: the authenticator the app needs, and folder resolution.

Every request but ``info``, ``openapi.json`` and ``login`` names its device by its token; a folder name is
then resolved in that device's user's namespace (the folders they own and the shares they accepted, under
names of their own: ``Store.folders.resolve``, the lead's decision 2 in ``server-plan.md``), and a folder
the user has no right to is answered exactly as one that does not exist (``404 not_found``), so the answer
never tells whether someone else has one. A share taken back is answered ``403 share_revoked`` for a while,
so that its member's devices stop instead of taking the folder for deleted.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request

from ...formats.wire.errors import WireError, clip
from ...formats.wire.paths import check_folder_name
from ..auth import Identity, WebPolicy, bearer_token
from ..store import Device, Folder, FolderStore, Store

RW, RO = "rw", "ro"


class Authenticator(Protocol):
    """What the app needs from :class:`syncline.server.auth.Authenticator`. Every call blocks (a database
    read, an Argon2 verification): the app runs them in its thread pool."""

    def device_of(self, token: str) -> Identity:
        """Who ``token`` belongs to; ``WireError("unauthenticated")`` for a malformed, unknown or revoked
        token or a disabled user."""
        ...

    def login(self, user: str, password: str, device: str, replaces: str | None = None,
              client_addr: str = "") -> tuple[str, Identity]:
        """A new device of ``user`` and its token, shown once; ``bad_login``, ``rate_limited``,
        ``not_found`` (``replaces`` is not one of the user's devices) otherwise."""
        ...

    def revoke(self, device_id: str, by: Identity) -> None:
        """Revoke one of ``by``'s user's devices (an admin: anyone's); ``not_found`` otherwise."""
        ...

    @property
    def web(self) -> WebPolicy:
        """How long web sessions live."""
        ...

    def web_login(self, user: str, password: str, device: str,
                  client_addr: str = "") -> tuple[str, Identity, list[str]]:
        """A new web session of ``user``, its token, and the ids of the sessions revoked to make room."""
        ...

    def live(self, device_id: str) -> bool:
        """Whether the device is neither revoked nor an expired web session."""
        ...


@dataclass(frozen=True, slots=True)
class Caller:
    """The device a request came from, with its user."""

    identity: Identity

    @property
    def device(self) -> Device:
        return self.identity.device

    @property
    def user(self) -> str:
        return self.identity.user.name

    @property
    def admin(self) -> bool:
        return self.identity.user.admin


@dataclass(frozen=True, slots=True)
class Resolved:
    """A folder resolved for a caller, with the caller's rights on it."""

    folder: Folder
    rights: str
    store: FolderStore


def _caller(auth: Authenticator, authorization: str | None) -> Caller:
    return Caller(auth.device_of(bearer_token(authorization)))


async def caller_of(request: Request) -> Caller:
    """The calling device (``401 unauthenticated`` otherwise); the token is looked up on every request."""
    return await run_in_threadpool(_caller, request.app.state.auth, request.headers.get("authorization"))


def _resolve(store: Store, caller: Caller, name: str, write: bool) -> Resolved:
    folder, rights = resolve(store, caller, name)
    if write and rights != RW:
        raise WireError("read_only", f"you can only read the folder {clip(name)}",
                        "ask its owner for the right to write", {"folder": clip(name)})
    return Resolved(folder, rights, store.folder(folder, caller.device.user_id))


def resolve(store: Store, caller: Caller, name: str) -> tuple[Folder, str]:
    """The folder ``name`` of ``caller``'s user (its ``name`` theirs) and their right to it; ``not_found``
    when they have none, ``share_revoked`` for a share taken back."""
    check_folder_name(name)
    found = store.folders.resolve(caller.device.user_id, name)
    if found is None:
        raise not_found_folder(name)
    return found


def not_found_folder(name: str) -> WireError:
    return WireError("not_found", f"no folder {clip(name)} on the server",
                     "list your folders with `syncline folder list`", {"folder": clip(name)})


async def folder_of(request: Request, caller: Caller, write: bool = False) -> Resolved:
    """The folder ``{name}`` of the URL, resolved for ``caller`` (``read_only`` for a write to a folder
    the caller may only read)."""
    return await run_in_threadpool(_resolve, request.app.state.store, caller, request.path_params["name"], write)
