"""Our own server's WebDAV as a replica's place: a real ``syncline serve`` on 127.0.0.1 (tests/daemonserver.py),
:class:`WebdavReplica` s on its ``/remote.php/dav/files/USER/FOLDER`` addresses, and :class:`NativeTree`, the
hands of another device on the same folder through the native protocol (a :class:`RemoteReplica` writing
without trash, so the server's trash holds only what the WebDAV replica replaced or deleted)."""

from __future__ import annotations

import io
import itertools
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from syncline.core.entry import DIR, FILE, Entry
from syncline.core.ignore import Rules
from syncline.core.paths import parent
from syncline.engine.replicas.address import open_replica
from syncline.engine.replicas.remote import RemoteReplica
from syncline.engine.replicas.replica import Replica, WritePolicy
from syncline.engine.replicas.webdav import DavCredentials, WebdavReplica, parse_dav
from syncline.services.daemon import connect as c
from syncline.testing import Factory, Tree
from syncline.testing.adapt import ReadIntoFromRead, read_source

from .daemonserver import PASSWORD, USER, Server, serving


class BytesSource(ReadIntoFromRead):
    """A source file of given bytes (never changed)."""

    def __init__(self, entry: Entry, data: bytes) -> None:
        self.entry = entry
        self.stream = io.BytesIO(data)

    def read(self, size: int = -1) -> bytes:
        return self.stream.read(size)

    def changed(self) -> bool:
        return False


class NativeTree:
    """Another device's hands on the server folder ``name`` (native protocol, no trash)."""

    def __init__(self, ours: Ours, name: str) -> None:
        self.ours, self.name = ours, name
        self._native: RemoteReplica | None = None

    @property
    def native(self) -> RemoteReplica:
        assert self._native is not None, "only inside a step"
        return self._native

    def __getattribute__(self, name: str) -> Any:
        """Each public step runs with a native replica of its own, closed after it (no connection of a
        test outlives it)."""
        attr = object.__getattribute__(self, name)
        if name.startswith("_") or not callable(attr) or object.__getattribute__(self, "_native") is not None:
            return attr

        def step(*args: Any, **kwargs: Any) -> Any:
            self._native = self.ours.native(self.name)
            try:
                return attr(*args, **kwargs)
            finally:
                self._native.close()
                self._native = None

        return step

    def _stat(self, path: str) -> Entry | None:
        return self.native.stat(path)

    def mkdir(self, path: str) -> None:
        here = ""
        for name in path.split("/") if path else ():
            here = f"{here}/{name}" if here else name
            now = self._stat(here)
            if now is None or now.kind != DIR:
                assert self.native.make_dir(here, Entry(DIR, 0, time.time_ns(), 0o755), now).done

    def write(self, path: str, data: bytes = b"", mtime_ns: int | None = None, mode: int = 0o644) -> None:
        self.mkdir(parent(path))
        entry = Entry(FILE, len(data), time.time_ns() if mtime_ns is None else mtime_ns, mode)
        with self.native.session():
            staged = self.native.stage_file(path, BytesSource(entry, data))
            self.native.barrier()
            out = self.native.commit(staged, self._stat(path))
        assert out.done, out

    def touch(self, path: str, mtime_ns: int) -> None:
        now = self._stat(path)
        assert now is not None
        assert self.native.set_meta(path, now._replace(mtime_ns=mtime_ns), now).done

    def symlink(self, path: str, target: str) -> None:
        raise NotImplementedError("WebDAV lists no symlinks")

    def remove(self, path: str) -> None:
        index = self.native.scan(Rules(), False, "destination")
        below = [p for p in index if p == path or p.startswith(path + "/")]
        for p in sorted(below, key=lambda p: p.count("/"), reverse=True):
            assert self.native.delete(p, index[p]).done

    def read(self, path: str) -> bytes:
        with self.native.open_file(path) as source:
            return read_source(source)

    def trashed(self) -> list[tuple[str, bytes]]:
        """What the server's trash holds for the folder (its replaced and deleted versions), oldest first."""
        web = self.ours.api()
        r = web.get(f"/v1/folders/{self.name}/trash")
        assert r.status_code == 200, r.text
        got = r.json()
        cols = got["columns"]
        out = []
        for row in reversed(got["rows"]):
            item = dict(zip(cols, row, strict=True))
            data = b""
            if item["kind"] == "file":
                f = web.get(f"/v1/folders/{self.name}/file",
                            params={"path": item["path"], "trash_id": item["trash_id"]})
                assert f.status_code == 200, f.text
                data = f.content
            out.append((item["path"], data))
        return out


@dataclass
class Ours:
    """A running ``syncline serve`` (``server``) with the user anna; ``state`` holds the native login."""

    server: Server
    base: Path
    numbers: Iterator[int] = field(default_factory=itertools.count)
    _api: httpx.Client | None = None

    @property
    def state(self) -> Path:
        return self.base / "native-state"

    def login(self) -> None:
        meeting = c.meet(self.server.url)
        login = c.log_in(meeting, USER, PASSWORD, "hands", None)
        c.save(self.state, login)
        self.token = login.credentials.token

    def api(self) -> httpx.Client:
        if self._api is None:
            self._api = httpx.Client(base_url=self.server.url, timeout=30,
                                     headers={"Authorization": f"Bearer {self.token}", "Syncline-Protocol": "1.0"})
        return self._api

    def close(self) -> None:
        if self._api is not None:
            self._api.close()

    def dav_url(self, folder: str, layout: str = "files") -> str:
        prefix = "remote.php/webdav" if layout == "webdav" else f"remote.php/dav/files/{USER}"
        return f"{self.server.url}/{prefix}/{folder}"

    def credentials(self, password: str = PASSWORD) -> DavCredentials:
        return DavCredentials(self.server.url, USER, password)

    def replica(self, folder: str, policy: WritePolicy | None = None, state: Path | None = None,
                password: str = PASSWORD, layout: str = "files") -> WebdavReplica:
        return WebdavReplica(parse_dav(self.dav_url(folder, layout)), self.credentials(password), policy=policy,
                             state_dir=state or self.base / "dav-state")

    def native(self, folder: str) -> RemoteReplica:
        replica = open_replica(f"{self.server.url}/{folder}", policy=WritePolicy(trash=False), state=self.state)
        assert isinstance(replica, RemoteReplica)
        return replica

    def make_folder(self, name: str) -> None:
        """A new server folder of anna's, made as a WebDAV client makes one (MKCOL in the namespace)."""
        with httpx.Client(auth=(USER, PASSWORD), timeout=30) as web:
            r = web.request("MKCOL", self.dav_url(name))
            assert r.status_code == 201, r.text

    def factory(self) -> Factory:
        numbers = self.numbers

        def make(*, policy: Any = None, exists: bool = True) -> tuple[Replica, Tree]:
            name = f"folder-{next(numbers)}"
            self.make_folder(name)
            replica = self.replica(name, policy, state=self.base / f"s-{name}")
            if not exists:  # the folder is there (a folder's root is never deleted over WebDAV): one below it
                name_below = f"{name}/below"
                replica = self.replica(name_below, policy, state=self.base / f"s-{name}")
                return replica, NativeSub(self, name, "below")
            return replica, NativeTree(self, name)

        return make


class NativeSub(NativeTree):
    """A :class:`NativeTree` of the folder ``name`` seen from its subfolder ``sub`` (paths below it)."""

    def __init__(self, ours: Ours, name: str, sub: str) -> None:
        super().__init__(ours, name)
        self.sub = sub

    def _p(self, path: str) -> str:
        return f"{self.sub}/{path}" if path else self.sub

    def write(self, path: str, data: bytes = b"", mtime_ns: int | None = None, mode: int = 0o644) -> None:
        super().write(self._p(path), data, mtime_ns, mode)

    def mkdir(self, path: str) -> None:
        super().mkdir(self._p(path))

    def read(self, path: str) -> bytes:
        return super().read(self._p(path))

    def remove(self, path: str) -> None:
        super().remove(self._p(path))

    def touch(self, path: str, mtime_ns: int) -> None:
        super().touch(self._p(path), mtime_ns)

    def trashed(self) -> list[tuple[str, bytes]]:
        return [(p[len(self.sub) + 1:], d) for p, d in super().trashed() if p.startswith(self.sub + "/")]


@contextmanager
def ours(base: Path) -> Iterator[Ours]:
    """``syncline serve`` on ``base/data`` with anna logged in natively, stopped at the end."""
    with serving(base / "data") as server:
        o = Ours(server, base)
        o.login()
        try:
            yield o
        finally:
            o.close()
