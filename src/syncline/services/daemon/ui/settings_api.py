"""The settings' calls that reach past the config file: whom this device is logged in as (``GET
/api/server/whoami``), the server's folders (``GET`` and ``POST /api/server/folders``, for a folder added
on the page, made on the server as ``syncline folder add --create`` makes it) and connecting this
device to a server (``POST /api/connect/meet`` then ``POST /api/connect/login``, as ``syncline connect``
does). ``server.py`` routes them here with the request's parsed JSON body; each function returns
``(status, body)`` as ``api.py``'s do.

Connecting, on the page as at a terminal: ``meet`` shows the server's certificate fingerprint before
anything secret is sent; ``login`` is sent the fingerprint the person confirmed, meets the server again
and refuses when it shows another (``409 fingerprint_changed``: nothing sent), then logs in with the user
and password, keeps the device's token in the state directory (``connect.save``: 0600) and writes the
server's URL to the config file. The password is used for that one request and never kept or echoed; the
token never leaves the daemon.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from ....core.errors import BusyError, SynclineError, UsageError
from ....engine.replicas.remote import RESP, Client
from ....formats.wire import WireError
from ....formats.wire.fields import lst, obj, text
from ....formats.wire.trust import same_fingerprint
from .. import connect as c
from ..account import configured_server, connected, ensure_folder
from ..configfile import set_server_url
from ..requests import request_restart
from .api import DaemonView, Reply, error

T = TypeVar("T")

MAX_FIELD = 4096  # characters of a URL, user name or password
MAX_FOLDERS = 10_000


def handle(view: DaemonView, method: str, parts: list[str], body: Any) -> Reply:
    """The answer to ``method`` on ``/api/PARTS...`` (``parts`` as split by ``server.py``: ``["", "api",
    ...]``), ``404`` for a call it does not know."""
    try:
        return _route(view, (method, *parts[2:]), body)
    except _Refused as refused:
        return refused.reply


def _route(view: DaemonView, route: tuple[str, ...], body: Any) -> Reply:
    if route == ("GET", "server", "whoami"):
        return server_whoami(view)
    if route == ("GET", "server", "folders"):
        return server_folders(view)
    if route == ("POST", "server", "folders"):
        return make_server_folder(view, body)
    if route == ("POST", "connect", "meet"):
        return meet(body)
    if route == ("POST", "connect", "login"):
        return login(view, body)
    return error(404, "not_found", "no such call")


ROUTES = frozenset({"server", "connect"})
"""The first parts of the paths :func:`handle` answers (``/api/server/...``, ``/api/connect/...``)."""


def _field(body: Any, key: str, required: bool = True) -> str | None:
    value = body.get(key) if isinstance(body, dict) else None
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value.strip() or len(value) > MAX_FIELD:
        raise UsageError(f"the request has no usable {key}", f"send {key} as a non-empty string")
    return value


def _usage(exc: UsageError, status: int = 400, code: str = "refused") -> Reply:
    return error(status, code, exc.message, exc.hint)


class _Refused(Exception):
    """A call to the server that ended in ``reply`` (an error answer), raised out of :func:`_on_server`."""

    def __init__(self, reply: Reply) -> None:
        super().__init__(reply)
        self.reply = reply


def _on_server(view: DaemonView, call: Callable[[Client], T]) -> tuple[str, T]:
    """This device's server URL and ``call(client)``'s answer with the device's credentials. Raises
    :class:`_Refused`: ``409 no_server`` when no server is set, ``409 not_connected`` when the device must
    connect again (not logged in, its token revoked), ``502 unreachable`` when the server cannot be
    reached, ``502 bad_response`` when it refused or answered nonsense, ``400`` for another refusal of
    ``call``'s own (one line each)."""
    try:
        url = configured_server(view.config_path)
    except UsageError as exc:
        raise _Refused(_usage(exc, 409, "no_server")) from None
    try:
        with connected(view.state, url) as client:
            return url, call(client)
    except UsageError as exc:
        if exc.message.startswith(("this device is not connected", "this device's token")):
            raise _Refused(_usage(exc, 409, "not_connected")) from None
        if exc.message.startswith("cannot reach"):
            raise _Refused(_usage(exc, 502, "unreachable")) from None
        if exc.message.startswith(url):  # the server's refusal, as ``person_error`` says it
            raise _Refused(_usage(exc, 502, "bad_response")) from None
        raise _Refused(_usage(exc)) from None


def server_whoami(view: DaemonView) -> Reply:
    """``{"url", "user", "admin", "device_id", "device"}``: whom this device's token names on its server,
    asked now (so the page also learns that the token still works); errors as :func:`_on_server`."""
    url, who = _on_server(view, c.who_is)
    return 200, {"url": url, "user": who.user, "admin": who.admin, "device_id": who.device_id, "device": who.device}


def server_folders(view: DaemonView) -> Reply:
    """``{"url", "folders": [names]}``: the folders this device's user can reach on its server (for the
    page's "server folder" suggestions); errors as :func:`_on_server`."""
    url, value = _on_server(view, lambda client: client.call("GET", "folders"))
    try:
        rows = lst(value, "folders", RESP, MAX_FOLDERS)
        names = sorted(text(obj(row, "folder", RESP).get("name"), "name", RESP, 64) for row in rows)
    except WireError as err:
        return error(502, "bad_response", f"the server's list of folders was refused: {err.message}",
                     "check the server's version")
    return 200, {"url": url, "folders": names}


def make_server_folder(view: DaemonView, body: Any) -> Reply:
    """``POST {"name"}``: make the folder ``name`` on this device's server when it is not there (as
    ``syncline folder add --create``); ``{"name", "made"}``. ``400`` for a name that is not a folder
    name; other errors as :func:`_on_server`."""
    try:
        name = _field(body, "name")
    except UsageError as exc:
        return _usage(exc)
    assert name is not None
    _, made = _on_server(view, lambda client: ensure_folder(client, name.strip(), create=True))
    return 200, {"name": name.strip(), "made": made}


def meet(body: Any) -> Reply:
    """``POST {"url"}``: what the server at ``url`` shows before it is trusted: ``{"url", "fingerprint",
    "server_id"}`` (``fingerprint`` null for plain HTTP on this machine and for a certificate the system
    trusts). ``400`` for an address that is not a server's, ``502`` for one that cannot be reached."""
    try:
        url = _field(body, "url")
        assert url is not None
        meeting = c.meet(url.strip())
    except UsageError as exc:
        return _usage(exc, 502 if exc.message.startswith("cannot reach") else 400)
    except (SynclineError, OSError) as exc:
        return _usage(c.person_error(url or "", exc), 502, "unreachable")
    return 200, {"url": meeting.url, "fingerprint": meeting.fingerprint, "server_id": meeting.info.server_id}


def login(view: DaemonView, body: Any) -> Reply:
    """``POST {"url", "fingerprint", "user", "password", "device"?}``: log this device in (see the
    module's docstring). ``{"url", "user", "device_id", "replaced", "was"}`` (``was``: the config's
    server before, when another). ``409 fingerprint_changed`` when the server's certificate is not the one
    confirmed, ``401 bad_login`` for a wrong user or password, ``502`` for a server that cannot be
    reached, ``400`` for anything else the person must change; nothing is kept then."""
    try:
        url = _field(body, "url")
        user = _field(body, "user")
        password = _field(body, "password")
        device = _field(body, "device", required=False) or c.default_device_name()
        confirmed = body.get("fingerprint") if isinstance(body, dict) else None
        if confirmed is not None and (not isinstance(confirmed, str) or len(confirmed) > MAX_FIELD):
            raise UsageError("the request's fingerprint is not a string", "send the fingerprint that was shown")
        if len(device) > c.MAX_DEVICE_NAME or not device.isprintable():
            raise UsageError(f"a device name of at most {c.MAX_DEVICE_NAME} printable characters",
                             "choose a shorter name")
        assert url is not None and user is not None and password is not None
    except UsageError as exc:
        return _usage(exc)
    try:
        meeting = c.meet(url.strip())
        if meeting.fingerprint is not None and (confirmed is None or not same_fingerprint(confirmed,
                                                                                             meeting.fingerprint)):
            return error(409, "fingerprint_changed",
                         f"the certificate of {meeting.url} is not the one shown (it is {meeting.fingerprint})",
                         "nothing was sent; compare it with what `syncline serve` printed, then connect again")
        old = c.previous(view.state, meeting)
        replaces = c.device_of(old) if old is not None else None
        done = c.log_in(meeting, user, password, device, replaces)
        c.save(view.state, done)
        was = set_server_url(view.config_path, meeting.url)
    except UsageError as exc:
        if exc.message == "wrong user name or password":
            return _usage(exc, 401, "bad_login")
        return _usage(exc, 502 if exc.message.startswith("cannot reach") else 400)
    except BusyError as exc:
        return error(409, "busy", exc.message, exc.hint)
    except (SynclineError, OSError) as exc:
        return _usage(c.person_error(url, exc), 502, "unreachable")
    request_restart(view.state)  # folders opened with the token just replaced start anew
    return 200, {"url": meeting.url, "user": done.user, "device_id": done.device_id, "replaced": done.replaced,
                 "was": was if was != meeting.url else None}
