"""A real server process for the remote replica's tests (``python -m tests.remote_server DATA PORT CERT KEY
TOKEN``): ``syncline serve``'s own ``serve()`` over TLS on 127.0.0.1, with one user ``anna`` whose device
holds ``TOKEN`` (made in the store first, as ``syncline connect`` would leave it after a login)."""

from __future__ import annotations

import sys
from pathlib import Path

from syncline.server.auth import token_hash
from syncline.server.serve import Tls, serve
from syncline.server.store import open_store


def main(data: str, port: str, cert: str, key: str, token: str) -> None:
    store = open_store(Path(data), min_free=0)
    try:
        if store.users.get("anna") is None:
            user = store.users.add("anna", "not a password hash: this user never logs in")
            store.devices.add(user.id, "anna-laptop", token_hash(token))
    finally:
        store.close()
    serve(Path(data), f"127.0.0.1:{port}", Tls(Path(cert), Path(key)), min_free=0, graceful_s=2)


if __name__ == "__main__":
    main(*sys.argv[1:6])
