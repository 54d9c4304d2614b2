"""A real server process for the remote replica's tests (``python -m tests.remote_server DATA PORT CERT KEY
TOKEN``): the app on uvicorn over TLS on 127.0.0.1, one user ``anna`` whose device holds ``TOKEN``. The test
authenticator stands in for the auth piece's (tokens checked through the store, as the real one does)."""

from __future__ import annotations

import sys
from pathlib import Path

import uvicorn

from syncline.server.app import make_app
from syncline.server.notify import InProcessNotifier
from syncline.server.store import open_store

from .server.apphelp import FakeAuth, token_hash


def main(data: str, port: str, cert: str, key: str, token: str) -> None:
    store = open_store(Path(data), min_free=0)
    if store.users.get("anna") is None:
        user = store.users.add("anna", "x")
        store.devices.add(user.id, "anna-laptop", token_hash(token))
    app = make_app(store, FakeAuth(store), InProcessNotifier())
    uvicorn.run(app, host="127.0.0.1", port=int(port), ssl_certfile=cert, ssl_keyfile=key, log_level="warning",
                timeout_graceful_shutdown=2)


if __name__ == "__main__":
    main(*sys.argv[1:6])
