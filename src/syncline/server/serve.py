"""``serve``: one server process on one data directory (``syncline serve``).

Uvicorn (h11, asyncio) runs the app with the protocol's server-wide bounds: at most 512 connections at
once (``limit_concurrency``: past it ``503``), request heads of at most 16 KiB
(``h11_max_incomplete_event_size``). SIGINT and SIGTERM stop it gracefully: no new connections, requests
under way get ``graceful_s`` seconds, event streams are closed, the database is closed last.

Plain HTTP is served only on a loopback address unless the caller insists (``insecure_http``): passwords
and tokens would otherwise cross the network in clear (protocol.md section 1).
"""

from __future__ import annotations

import ipaddress
import logging
import socket
import time
import types
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import uvicorn

from ..core.errors import UsageError
from ..formats.wire.limits import MAX_CONNECTIONS, MAX_HEADER_BYTES
from ..formats.wire.trust import is_loopback
from .app import make_app
from .app.zipstream import ZipLimits
from .auth import Authenticator
from .checksummer import Checksummer
from .collector import Collector
from .config import load_server_config
from .notify import InProcessNotifier
from .store import DEFAULT_MIN_FREE, open_store
from .store.gc import GcReport, clock_jumped, collect
from .tls import local_names, make_self_signed
from .users import ADMIN, ensure_admin

DEFAULT_PORT = 8765
# An idle connection is kept this long (uvicorn's default is 5 s): clients let go of theirs well before
# (30 s), so the server never closes one just as a client sends on it (a reset the client cannot retry).
KEEP_ALIVE_S = 75
DEFAULT_LISTEN = f"127.0.0.1:{DEFAULT_PORT}"
SELF_SIGNED = "self-signed"
log = logging.getLogger("syncline.server")


@dataclass(frozen=True)
class Tls:
    """The certificate and key files to serve with, and the certificate's fingerprint when syncline made
    it (a device compares it with what ``syncline connect`` shows)."""

    cert: Path
    key: Path
    fingerprint: str = ""


@dataclass(frozen=True)
class Started:
    """What the server tells its operator once it listens: its URL, the fingerprint of a self-signed
    certificate, and the first start's ``admin`` password (None after the first start)."""

    url: str
    fingerprint: str
    admin_password: str | None
    connect_url: str = ""  # what a device connects to: this machine's name when listening on every address
    admin: str = ADMIN


def parse_listen(listen: str) -> tuple[str, int]:
    """``HOST:PORT`` (``[v6]:PORT`` for IPv6) as (host, port); :class:`UsageError` otherwise."""
    host, colon, port = listen.rpartition(":")
    host = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    if not colon or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise UsageError(f"--listen {listen!r} is not HOST:PORT", f"for example --listen {DEFAULT_LISTEN}")
    return host, int(port)


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def choose_tls(data_dir: Path, cert: Path | None, key: Path | None, tls: str | None) -> Tls | None:
    """The TLS files for the options given: both files, or ``self-signed`` (made once under ``DATA/tls``
    and reused), or none. Anything else is a :class:`UsageError`."""
    if tls is not None and tls != SELF_SIGNED:
        raise UsageError(f"--tls {tls!r} is not known", f"use --tls {SELF_SIGNED}, or --tls-cert and --tls-key")
    if (cert is None) != (key is None):
        raise UsageError("--tls-cert and --tls-key go together", "give both files")
    if tls is not None and cert is not None:
        raise UsageError(f"--tls {SELF_SIGNED} and --tls-cert exclude each other", "choose one")
    if cert is not None and key is not None:
        for path in (cert, key):
            if not path.is_file():
                raise UsageError(f"no file {path}", "give the certificate and key as PEM files")
        return Tls(cert, key)
    if tls == SELF_SIGNED:
        made_cert, made_key, fingerprint = make_self_signed(data_dir, local_names())
        return Tls(made_cert, made_key, fingerprint)
    return None


class _Server(uvicorn.Server):
    """uvicorn's server, telling ``on_ready`` the bound address once it listens (port 0 picks one) and
    calling ``on_stop`` when it starts to stop."""

    def __init__(self, config: uvicorn.Config, on_ready: Callable[[str, int], None],
                 on_stop: Callable[[], None]) -> None:
        super().__init__(config)
        self._on_ready = on_ready
        self._on_stop = on_stop

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        if self.started and self.servers:
            address = self.servers[0].sockets[0].getsockname()
            self._on_ready(str(address[0]), int(address[1]))

    def handle_exit(self, sig: int, frame: types.FrameType | None) -> None:
        super().handle_exit(sig, frame)
        # uvicorn raises a captured signal again once it has stopped, which would kill the process before
        # the store is closed; a stop asked by a signal is a clean stop here (serve returns).
        captured = getattr(self, "_captured_signals", None)
        if isinstance(captured, list):
            captured.clear()

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        # Event streams never end on their own: close them first, so that the graceful wait is for the
        # requests under way, not for streams that would be cut at its end anyway.
        self._on_stop()
        await super().shutdown(sockets)


def _bind(host: str, port: int) -> socket.socket:
    """A listening socket on ``host:port``, bound before anything else is made, so that a port in use is
    one line of error (uvicorn would log it and leave with its own exit code)."""
    try:
        family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)[0][0]
        made = socket.create_server((host, port), family=family, backlog=2048)
        # create_server leaves the socket's protocol 0, and asyncio sets TCP_NODELAY on accepted connections
        # only for sockets that say IPPROTO_TCP: without it every answer waits ~40 ms for a delayed ACK.
        return socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP, fileno=made.detach())
    except OSError as exc:
        raise UsageError(f"cannot listen on {host}:{port}: {exc.strerror or exc}",
                         "stop what uses that address, or choose another with --listen HOST:PORT") from None


def serve(data_dir: Path, listen: str = DEFAULT_LISTEN, tls: Tls | None = None, *, insecure_http: bool = False,
          min_free: int = DEFAULT_MIN_FREE, graceful_s: float = 5.0, gc_every_s: float | None = None,
          on_ready: Callable[[Started], None] | None = None) -> None:
    """Serve ``data_dir`` on ``listen`` until SIGINT or SIGTERM. The first start on a data directory
    without users makes ``admin`` with a random password, handed to ``on_ready`` once (never stored in
    clear). :class:`UsageError` for a non-loopback address without TLS unless ``insecure_http``. The
    store is collected every ``gc_every_s`` seconds (None: as ``DATA/server.toml`` says, else hourly;
    :mod:`.collector`), first ten minutes after the start, keeping versions as that file's policy says."""
    host, port = parse_listen(listen)
    settings = load_server_config(data_dir)
    if tls is None and not insecure_http and not is_loopback(host):
        raise UsageError(f"refusing to serve plain HTTP on {host}: passwords and tokens would cross the network "
                         "in clear", f"add --tls {SELF_SIGNED} (or --tls-cert/--tls-key), or --insecure-http")
    sock = _bind(host, port)
    try:
        store = open_store(data_dir, min_free=min_free)
    except BaseException:
        sock.close()
        raise
    try:
        auth = Authenticator(store, web=settings.web)
        admin_password = ensure_admin(store, auth.passwords)
        notifier = InProcessNotifier()
        app = make_app(store, auth, notifier, dav_account_passwords=settings.dav_account_passwords,
                       zip_limits=ZipLimits(max_bytes=settings.zip_max))
        config = uvicorn.Config(
            app, host=host, port=port, http="h11", loop="asyncio", ws="none", lifespan="on",
            ssl_certfile=str(tls.cert) if tls else None, ssl_keyfile=str(tls.key) if tls else None,
            limit_concurrency=MAX_CONNECTIONS, h11_max_incomplete_event_size=MAX_HEADER_BYTES,
            timeout_graceful_shutdown=max(1, round(graceful_s)), server_header=False, log_level="warning",
            timeout_keep_alive=KEEP_ALIVE_S)

        def ready(bound_host: str, bound_port: int) -> None:
            scheme = "https" if tls else "http"
            url = f"{scheme}://{_url_host(bound_host)}:{bound_port}"
            reach = socket.gethostname() if ipaddress.ip_address(bound_host).is_unspecified else bound_host
            log.info("listening on %s", url)
            if on_ready is not None:
                on_ready(Started(url, tls.fingerprint if tls else "", admin_password,
                                 f"{scheme}://{_url_host(reach)}:{bound_port}"))

        collector = Collector(store, every_s=gc_every_s if gc_every_s is not None else settings.gc_every_s,
                              policy=settings.policy, web=settings.web, on_revoked=notifier.close_owner)
        checksummer = Checksummer(store)  # SHA1s for WebDAV clients of what devices uploaded natively
        collector.start()
        checksummer.start()
        try:
            _Server(config, ready, notifier.close_all).run(sockets=[sock])
        finally:
            checksummer.stop()
            collector.stop()
    finally:
        sock.close()
        store.close()


def collect_once(data_dir: Path, clock_ok: bool = False) -> GcReport:
    """``syncline serve --gc``: one collection of ``data_dir`` with the server stopped (the store's lock
    says so otherwise), as ``DATA/server.toml`` says. Retention is skipped on a clock far past the last
    collection unless ``clock_ok``."""
    settings = load_server_config(data_dir)
    if not (data_dir / "meta.db").is_file():
        raise UsageError(f"no server data in {data_dir}", "give the data directory with --data")
    store = open_store(data_dir)
    try:
        now = time.time_ns()
        trusted = clock_ok or not clock_jumped(store, now, settings.gc_every_s)
        return collect(store, now_ns=now, policy=settings.policy, retention=trusted)
    finally:
        store.close()
