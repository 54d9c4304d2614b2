"""This device's account on its server, for ``syncline device`` and ``syncline folder add``: the devices
of the user (``/v1/devices``, protocol.md section 2) and the server's folders (section 3), through the
remote replica's client with the credentials ``syncline connect`` saved.

Every call answers a checked value or raises :class:`UsageError` with what to do: this is the CLI's
edge, where a replica error (unreachable, refused, not found) becomes one line for a person.
"""

from __future__ import annotations

import contextlib
import errno
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from ...core.errors import SynclineError, UsageError
from ...engine.replicas.remote import load_credentials
from ...engine.replicas.remote.client import RESP, Client, code_of
from ...formats.wire import WireError
from ...formats.wire.fields import integer, lst, obj, opt_integer, text
from ...formats.wire.paths import check_folder_name
from ..config import load_daemon_config

MAX_DEVICES = 10_000
MAX_NS = (1 << 63) - 1


@dataclass(frozen=True, slots=True)
class Device:
    """One of the user's devices as ``/v1/devices`` lists it (times in ns; ``revoked`` None: live)."""

    id: str
    name: str
    created: int
    last_seen: int | None
    revoked: int | None
    current: bool


def configured_server(config: Path, server: str | None = None) -> str:
    """The server to talk to: ``server`` when given, else the config's ``[server] url``.
    :class:`UsageError` when there is none."""
    if server is not None:
        return server
    url = load_daemon_config(config).server_url if config.exists() else None
    if url is None:
        raise UsageError(f"no server is set in {config}", "run `syncline connect URL` first")
    return url


@contextlib.contextmanager
def connected(state: Path, url: str) -> Iterator[Client]:
    """A client of the server at ``url`` with this device's saved credentials; errors of the calls made
    in the block come out as one-line :class:`UsageError`."""
    credentials = load_credentials(state, url)
    if credentials is None:
        raise UsageError(f"this device is not connected to {url}", f"run `syncline connect {url}` first")
    client = Client(credentials, max_connections=1, timeout=30.0)
    try:
        yield client
    except SynclineError as exc:
        raise _person(url, exc) from None
    except OSError as exc:
        raise _person(url, exc) from None
    finally:
        client.close()


def _person(url: str, exc: BaseException) -> UsageError:
    if isinstance(exc, UsageError):
        return exc
    why = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
    code = code_of(exc)
    if code == "unauthenticated":
        return UsageError(f"this device's token for {url} no longer works (revoked?)",
                          f"run `syncline connect {url}` again")
    if code == "unreachable" or (isinstance(exc, OSError) and exc.errno in (errno.ECONNREFUSED, errno.ETIMEDOUT)):
        return UsageError(f"cannot reach {url}: {why}", "check that the server runs, then try again")
    return UsageError(why, "")


def list_devices(client: Client) -> list[Device]:
    """The user's devices, each field checked."""
    value = client.call("GET", "devices")
    try:
        out = []
        for raw in lst(value, "devices", RESP, MAX_DEVICES):
            o = obj(raw, "device", RESP)
            out.append(Device(text(o.get("id"), "id", RESP, 128), text(o.get("name"), "name", RESP, 256),
                              integer(o.get("created"), "created", RESP, 0, MAX_NS),
                              opt_integer(o.get("last_seen"), "last_seen", RESP, 0, MAX_NS),
                              opt_integer(o.get("revoked"), "revoked", RESP, 0, MAX_NS), o.get("current") is True))
    except WireError as err:
        raise UsageError(f"the server's list of devices was refused: {err.message}",
                         "check the server's version") from None
    return out


def revoke_device(client: Client, device_id: str) -> None:
    """Revoke the device ``device_id`` (its token stops working at once). :class:`UsageError` when the
    user has no such device."""
    if not device_id or len(device_id) > 128 or not device_id.isascii() or not device_id.isalnum():
        raise UsageError(f"no device {device_id!r}", "see `syncline device list` for the ids")
    try:
        client.request("DELETE", f"devices/{device_id}", ok=(204,))
    except OSError as exc:  # the replica errors are OSErrors
        if code_of(exc) == "not_found":
            raise UsageError(f"no device {device_id} among yours", "see `syncline device list` for the ids") from None
        raise


def ensure_folder(client: Client, name: str, create: bool) -> bool:
    """Check that the server has the folder ``name`` (make it when ``create``); True when it was made now.
    :class:`UsageError` when it is missing and not to be made, or the name is not a folder name."""
    try:
        check_folder_name(name)
    except WireError as err:
        raise UsageError(err.message, err.hint) from None
    if create:
        status, _ = client.request("PUT", f"folders/{name}", ok=(200, 201))
        return status == 201
    try:
        client.call("GET", f"folders/{name}")
    except OSError as exc:
        if code_of(exc) == "not_found":
            raise UsageError(f"the server has no folder {name}",
                             "add --create to make it, or check the name") from None
        raise
    return False


def bind_check(config: Path, state: Path, remote: str, create: bool) -> str:
    """Before ``remote`` is bound in ``config``: when it is a folder name and a server is set, check the
    server has it (make it with ``create``). Returns a note for the person ("" when there is nothing to
    say). :class:`UsageError` when the folder is missing, the name is bad, or ``create`` has no server to
    make it on. A server that cannot be reached without ``create`` is a note, not an error: the binding is
    made and the daemon tries when the server is back."""
    folder_like = not ("://" in remote or remote.startswith(("/", "~")))
    url = load_daemon_config(config).server_url if config.exists() else None
    if not folder_like or url is None:
        if create:
            raise UsageError("--create makes a folder on a server, and " + (
                "no server is set" if folder_like else f"{remote} is not a folder name"),
                "run `syncline connect URL` first" if folder_like else "give the folder's name on the server")
        return ""
    try:
        with connected(state, url) as client:
            made = ensure_folder(client, remote, create)
    except UsageError as exc:
        if create or not exc.message.startswith("cannot reach"):
            raise
        return f"not checked: {exc.message}"
    return f"made {remote} on {url}" if made else ""
