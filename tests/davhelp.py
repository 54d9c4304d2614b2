"""A real WebDAV server for the tests: wsgidav on a temp folder, served by cheroot in a thread on
127.0.0.1 (a free port), with HTTP Basic; and factories of :class:`WebdavReplica` s on it for the
conformance suite."""

from __future__ import annotations

import itertools
import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from syncline.engine.replicas.replica import Replica, WritePolicy
from syncline.engine.replicas.webdav import DavCredentials, WebdavReplica, parse_dav
from syncline.testing import Factory, LocalTree, Tree

USER, PASSWORD = "anna", "s3cret pass"


@dataclass
class DavServer:
    """A running wsgidav: its ``root`` folder on disk and ``port``."""

    root: Path
    port: int
    state: Path

    def url(self, path: str = "", scheme: str = "webdav") -> str:
        return f"{scheme}://127.0.0.1:{self.port}/{path}"

    def credentials(self, password: str = PASSWORD) -> DavCredentials:
        return DavCredentials(f"http://127.0.0.1:{self.port}", USER, password)

    def replica(self, path: str, policy: WritePolicy | None = None, password: str = PASSWORD,
                state: Path | None = None) -> WebdavReplica:
        return WebdavReplica(parse_dav(self.url(path)), self.credentials(password), policy=policy,
                             state_dir=state or self.state)

    def factory(self) -> Factory:
        numbers = itertools.count()

        def make(*, policy: WritePolicy | None = None, exists: bool = True) -> tuple[Replica, Tree]:
            n = next(numbers)
            root = self.root / f"replica-{n}"
            if exists:
                root.mkdir(parents=True)
            return self.replica(f"replica-{n}", policy, state=self.state / f"s{n}"), LocalTree(root)

        return make


@contextmanager
def wsgidav(tmp: Path, **config: Any) -> Iterator[DavServer]:
    """wsgidav serving ``tmp/dav`` with Basic auth for :data:`USER`, stopped and joined on exit."""
    from cheroot import wsgi
    from wsgidav.wsgidav_app import WsgiDAVApp

    root = tmp / "dav"
    root.mkdir()
    settings: dict[str, Any] = {
        "provider_mapping": {"/": str(root)},
        "simple_dc": {"user_mapping": {"*": {USER: {"password": PASSWORD}}}},
        "http_authenticator": {"accept_basic": True, "accept_digest": False, "default_to_digest": False,
                               "trusted_auth_header": None},
        "verbose": 0,
        "logging": {"enable": False, "enable_loggers": []},
        "lock_storage": True,
        "property_manager": True,
        **config,
    }
    app = WsgiDAVApp(settings)
    logging.getLogger("wsgidav").setLevel(logging.ERROR)
    server = wsgi.Server(("127.0.0.1", 0), app, numthreads=8, timeout=10)
    server.prepare()
    port = server.bind_addr[1]
    thread = threading.Thread(target=server.serve, name="wsgidav", daemon=True)
    thread.start()
    try:
        yield DavServer(root, port, tmp / "state")
    finally:
        server.stop()
        thread.join(10)
