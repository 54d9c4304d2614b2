"""``syncline connect``: meet a server, decide to trust its certificate, log in as a device, and keep
the device's credentials (design.md "Security", TLS; protocol.md sections 1-2).

:func:`meet` reads what the server shows before anything secret is sent: over TLS its certificate (taken
in a handshake that checks nothing yet) and its SHA-256 fingerprint, written as the server prints it
(``SHA256:AB:CD:...``), then ``/v1/info`` through a client that trusts only that certificate, so the
certificate shown is the one that answered. A certificate the system's CAs verify for the host name is
not pinned (nothing to ask). Plain ``http://`` is refused unless the host is a loopback address.

The caller decides about the fingerprint (a person at a terminal, or ``--fingerprint``); :func:`log_in`
then sends the password once, over that pinned connection, and :func:`save` keeps the token and the
certificate (``save_credentials``: mode 0600; the password is never written anywhere).
"""

from __future__ import annotations

import errno
import socket
import ssl
from dataclasses import dataclass
from pathlib import Path

from ...core.errors import SynclineError, UsageError
from ...engine.replicas.remote import (
    RESP,
    Client,
    Credentials,
    ServerInfo,
    code_of,
    load_credentials,
    save_credentials,
    server_url,
    split_url,
)
from ...formats.wire import WireError
from ...formats.wire.fields import obj, text
from ...formats.wire.trust import fingerprint, is_loopback

CONNECT_TIMEOUT = 15.0
MAX_DEVICE_NAME = 64


@dataclass(frozen=True)
class Meeting:
    """A server met but not trusted yet: its base ``url``, its certificate when it is to be pinned (PEM)
    and that certificate's ``fingerprint`` (both None for plain HTTP and for a CA-verified certificate),
    and its ``info``."""

    url: str
    cert_pem: str | None
    fingerprint: str | None
    info: ServerInfo


@dataclass(frozen=True)
class Login:
    """What a login gave: the credentials to keep, and the device and user they name."""

    credentials: Credentials
    device_id: str
    user: str
    replaced: str | None


def meet(url: str) -> Meeting:
    """What the server at ``url`` (any folder address on it) shows before it is trusted. Raises
    :class:`UsageError` for an address that is not a server's or plain HTTP to another machine, and the
    remote client's errors (``Unreachable`` ...) when it cannot be asked."""
    scheme, host, port, _ = split_url(url)
    base = server_url(url)
    if scheme == "http" and not is_loopback(host):
        raise UsageError(f"refusing plain http:// to {host}: the password and the token would cross the network "
                         "in clear", f"use https://{host}:{port} (the server's --tls self-signed)")
    cert_pem = print_ = None
    if scheme == "https":
        der, verified = _peer_certificate(host.strip("[]"), port)
        if not verified:
            cert_pem, print_ = ssl.DER_cert_to_PEM_cert(der), fingerprint(der)
    client = _anonymous(Credentials(base, "", cert_pem, ""))
    try:
        info = client.info()
    finally:
        client.close()
    return Meeting(base, cert_pem, print_, info)


def _anonymous(credentials: Credentials) -> Client:
    """A client that sends no token (``info`` and ``login`` need none)."""
    client = Client(credentials, max_connections=1, timeout=CONNECT_TIMEOUT)
    client.headers.pop("Authorization", None)
    return client


def _peer_certificate(host: str, port: int) -> tuple[bytes, bool]:
    """The DER certificate the server at ``host:port`` presents, and whether the system's CAs verify it
    for ``host``. The first handshake checks nothing: its only use is to show the certificate."""
    try:
        with socket.create_connection((host, port), timeout=CONNECT_TIMEOUT) as raw:
            loose = ssl.create_default_context()
            loose.check_hostname = False
            loose.verify_mode = ssl.CERT_NONE
            with loose.wrap_socket(raw, server_hostname=host) as tls:
                der = tls.getpeercert(binary_form=True)
    except (OSError, ssl.SSLError) as exc:
        raise UsageError(f"cannot reach https://{host}:{port}: {getattr(exc, 'strerror', None) or exc}",
                         "check the address and that `syncline serve` runs there with TLS") from None
    if not der:
        raise UsageError(f"https://{host}:{port} presented no certificate", "check the server's TLS set-up")
    try:
        with socket.create_connection((host, port), timeout=CONNECT_TIMEOUT) as raw, \
                ssl.create_default_context().wrap_socket(raw, server_hostname=host):
            return der, True
    except (OSError, ssl.SSLError):
        return der, False


def previous(state: Path, meeting: Meeting) -> Credentials | None:
    """This device's saved credentials for the server at the meeting's URL, checked to be for the same
    server: another ``server_id`` at a known URL is a :class:`UsageError` (a replaced or an impostor
    server; the device's folders would be synced with a stranger)."""
    old = load_credentials(state, meeting.url)
    if old is not None and old.server_id and old.server_id != meeting.info.server_id:
        raise UsageError(f"the server at {meeting.url} is not the one this device was connected to (its id is "
                         f"{meeting.info.server_id}, it was {old.server_id})",
                         "if that server was set up anew on purpose, run `syncline connect URL --new-server`")
    return old


def device_of(credentials: Credentials) -> str | None:
    """The id of the device ``credentials`` hold the token of, None when the token no longer works or the
    server cannot be asked (then no device is replaced)."""
    client = Client(credentials, max_connections=1, timeout=CONNECT_TIMEOUT)
    try:
        return whoami(client)
    except (SynclineError, OSError):
        return None
    finally:
        client.close()


@dataclass(frozen=True)
class Who:
    """Whom a device token names (``/v1/whoami``): the user (an admin?) and the device."""

    user: str
    admin: bool
    device_id: str
    device: str


def who_is(client: Client) -> Who:
    """Whom the token ``client`` sends names; the remote client's errors when it cannot be asked,
    ``bad_response`` for an answer that is not a whoami's."""
    value = client.call("GET", "whoami")
    try:
        o = obj(value, "whoami", RESP)
        return Who(text(o.get("user"), "user", RESP, 64), o.get("admin") is True,
                   text(o.get("device_id"), "device_id", RESP, 128), text(o.get("device"), "device", RESP, 256))
    except WireError as err:
        raise client.bad(err.message) from None


def whoami(client: Client) -> str:
    """The id of the device whose token ``client`` sends: only that is read (its feed and its replaced
    device need no more); errors as :func:`who_is`."""
    value = client.call("GET", "whoami")
    try:
        return text(obj(value, "whoami", RESP).get("device_id"), "device_id", RESP, 128)
    except WireError as err:
        raise client.bad(err.message) from None


def default_device_name() -> str:
    """This machine's host name, as a device name (at most 64 characters, no control characters)."""
    name = "".join(c for c in socket.gethostname() if c.isprintable()).strip()
    return name[:MAX_DEVICE_NAME] or "device"


def log_in(meeting: Meeting, user: str, password: str, device: str, replaces: str | None) -> Login:
    """Log in as a new device named ``device`` (revoking ``replaces``, this machine's earlier device,
    in the same step), over a connection that trusts only the met certificate. A wrong user or password
    is a :class:`UsageError`; an unreachable or refusing server raises the remote client's errors."""
    client = _anonymous(Credentials(meeting.url, "", meeting.cert_pem, meeting.info.server_id))
    body = {"user": user, "password": password, "device": device, **({"replaces": replaces} if replaces else {})}
    try:
        client.info()  # the same server id as met: another server at the address stops here
        value = client.call("POST", "login", json=body)
    except OSError as exc:  # the replica errors are OSErrors
        if code_of(exc) == "bad_login":
            raise UsageError("wrong user name or password", "check them, or ask the server's admin to set "
                             "a new one with `syncline user passwd NAME`") from None
        if code_of(exc) == "not_found" and replaces:  # the old device is gone already: log in without it
            return log_in(meeting, user, password, device, None)
        raise
    finally:
        client.close()
    try:
        o = obj(value, "login", RESP)
        token = text(o.get("token"), "token", RESP, 256)
        device_id = text(o.get("device_id"), "device_id", RESP, 128)
        name = text(o.get("user"), "user", RESP, 64)
    except WireError as err:
        raise UsageError(f"the server's answer to the login was refused: {err.message}",
                         "check the server's version and address") from None
    if not token.startswith("slt_") or not token.isascii() or not token.isprintable():
        raise UsageError("the server's answer to the login holds no usable token",
                         "check the server's version and address")
    return Login(Credentials(meeting.url, token, meeting.cert_pem, meeting.info.server_id), device_id, name, replaces)


def save(state: Path, login: Login) -> Path:
    """Keep the login's credentials for its server (mode 0600); returns the file."""
    try:
        return save_credentials(state, login.credentials)
    except OSError as exc:
        raise UsageError(f"cannot save the credentials in {state}: {exc.strerror}",
                         "check that the state directory is writable") from None


def person_error(url: str, exc: BaseException) -> UsageError:
    """The one line a person reads for a failed call to the server at ``url`` (``exc``: an error of the
    remote client, or a :class:`UsageError`, returned as it is)."""
    if isinstance(exc, UsageError):
        return exc
    why = (exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)).split("\n", 1)[0]
    code = code_of(exc)
    if code == "unauthenticated":
        return UsageError(f"this device's token for {url} no longer works (revoked?)",
                          f"run `syncline connect {url}` again")
    if code in ("unreachable", "unavailable") or (isinstance(exc, OSError) and exc.errno in (
            errno.ECONNREFUSED, errno.ETIMEDOUT)):
        return UsageError(f"cannot reach {url}: {why}", "check the address and that `syncline serve` runs there")
    return UsageError(f"{url}: {why}")
