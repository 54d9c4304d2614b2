"""Real WebDAV servers for the tests, each on a temp folder on 127.0.0.1 (a free port) with HTTP Basic:
wsgidav served by cheroot in a thread, ``rclone serve webdav`` and Apache's mod_dav as processes; and
factories of :class:`WebdavReplica` s on them for the conformance suite.

A server whose program is missing skips its tests locally and fails them under ``CI=true``
(:func:`need`): a missing install never turns green."""

from __future__ import annotations

import itertools
import logging
import os
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from syncline.engine.replicas.replica import Replica, WritePolicy
from syncline.engine.replicas.webdav import DavCredentials, WebdavReplica, parse_dav
from syncline.testing import Factory, LocalTree, Tree

USER, PASSWORD = "anna", "s3cret pass"


class NobodysTree(LocalTree):
    """A :class:`LocalTree` whose files and folders belong to ``nobody``: what Apache, run by root as
    ``nobody``, must be able to read, replace and remove."""

    def __init__(self, root: Path) -> None:
        super().__init__(root)
        import pwd

        who = pwd.getpwnam("nobody")
        self.ids = (who.pw_uid, who.pw_gid)

    def _own(self, path: str) -> None:
        p = self.root / path
        while p != self.root.parent and p.exists():
            os.chown(p, *self.ids, follow_symlinks=False)
            p = p.parent

    def write(self, path: str, data: bytes = b"", mtime_ns: int | None = None, mode: int = 0o644) -> None:
        super().write(path, data, mtime_ns, mode)
        self._own(path)

    def mkdir(self, path: str) -> None:
        super().mkdir(path)
        self._own(path)


@dataclass
class DavServer:
    """A running WebDAV server: its ``root`` folder on disk and ``port``; ``tree`` the hands on its
    folders (a :class:`LocalTree`, or one whose files are nobody's for Apache run by root)."""

    root: Path
    port: int
    state: Path
    tree: type[LocalTree] = LocalTree
    numbers: Iterator[int] = field(default_factory=itertools.count)
    kind: str = "wsgidav"

    def url(self, path: str = "", scheme: str = "webdav") -> str:
        return f"{scheme}://127.0.0.1:{self.port}/{path}"

    def credentials(self, password: str = PASSWORD) -> DavCredentials:
        return DavCredentials(f"http://127.0.0.1:{self.port}", USER, password)

    def replica(self, path: str, policy: WritePolicy | None = None, password: str = PASSWORD,
                state: Path | None = None) -> WebdavReplica:
        return WebdavReplica(parse_dav(self.url(path)), self.credentials(password), policy=policy,
                             state_dir=state or self.state)

    def factory(self) -> Factory:
        """Fresh replicas on new folders of this server (numbered across the server's life: a server
        shared by many tests never hands out a folder twice)."""
        numbers = self.numbers

        def make(*, policy: WritePolicy | None = None, exists: bool = True) -> tuple[Replica, Tree]:
            n = next(numbers)
            root = self.root / f"replica-{n}"
            if exists:
                root.mkdir(parents=True)
            if exists:
                self.tree(root).mkdir("")
            return self.replica(f"replica-{n}", policy, state=self.state / f"s{n}"), self.tree(root)

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


SERVERS = ("wsgidav", "rclone", "apache")


def need(program: str) -> str:
    """The path of ``program``; skipped when it is missing, failed under ``CI=true``."""
    import pytest

    found = shutil.which(program) or next((p for p in (f"/usr/sbin/{program}",) if os.access(p, os.X_OK)), None)
    if found is None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"{program} is not installed (CI installs it: .ci/run)")
        pytest.skip(f"{program} is not installed")
    return found


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_for(port: int, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the server stopped: {log.read_text(errors='replace')[-2000:]}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"the server did not listen within 15 s: {log.read_text(errors='replace')[-2000:]}")


@contextmanager
def _process(argv: list[str], port: int, log: Path, root: Path, tmp: Path,
             tree: type[LocalTree] = LocalTree) -> Iterator[DavServer]:
    with open(log, "wb") as out:
        # A session of its own: Apache, stopping, signals its whole process group (it would stop pytest).
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                start_new_session=True)
    try:
        _wait_for(port, proc, log)
        yield DavServer(root, port, tmp / "state", tree)
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


@contextmanager
def rclone(tmp: Path) -> Iterator[DavServer]:
    """``rclone serve webdav`` on ``tmp/dav``."""
    program = need("rclone")
    root = tmp / "dav"
    root.mkdir()
    port = free_port()
    # --dir-cache-time 0s: the tests change the folder behind rclone's back, as other programs would.
    argv = [program, "serve", "webdav", str(root), "--addr", f"127.0.0.1:{port}", "--user", USER, "--pass", PASSWORD,
            "--config", str(tmp / "rclone.conf"), "--dir-cache-time", "0s"]
    with _process(argv, port, tmp / "rclone.log", root, tmp) as server:
        yield server


APACHE_MODULES = ("mpm_prefork", "authn_core", "authn_file", "authz_core", "authz_user", "auth_basic", "dav",
                  "dav_fs")


@contextmanager
def apache(tmp: Path) -> Iterator[DavServer]:
    """``apache2 -DFOREGROUND`` (prefork, a few processes) with mod_dav_fs, a ``{SHA}`` htpasswd written
    here. As root it runs as ``nobody``: the tree is made writable for it (umask 0 while the server runs).
    Apache (as nobody) must reach the folder, the passwords and its lock database: they are not below
    pytest's own temp folder, which is 0700, but in a folder of their own in /tmp, removed at the end."""
    import tempfile

    program = need("apache2")
    base = Path(tempfile.mkdtemp(prefix="syncline-apache-", dir="/tmp"))
    old = os.umask(0)
    try:
        root = _apache_config(base, tmp)
        port = int((tmp / "port").read_text())
        tree = NobodysTree if os.geteuid() == 0 else LocalTree
        with _process([program, "-DFOREGROUND", "-f", str(tmp / "httpd.conf")], port, tmp / "apache.out", root,
                      tmp, tree) as server:
            yield server
    finally:
        os.umask(old)
        shutil.rmtree(base, ignore_errors=True)


def _apache_config(base: Path, tmp: Path) -> Path:
    """Write Apache's config (``tmp/httpd.conf``, its port in ``tmp/port``) and passwords; the served folder."""
    import base64
    import hashlib

    base.chmod(0o755)
    root, locks = base / "dav", base / "locks"
    for p in (root, locks):
        p.mkdir()
        p.chmod(0o777)
    port = free_port()
    (tmp / "port").write_text(str(port))
    digest = base64.b64encode(hashlib.sha1(PASSWORD.encode()).digest()).decode()
    (base / "htpasswd").write_text(f"{USER}:{{SHA}}{digest}\n")
    (base / "htpasswd").chmod(0o644)
    modules = Path("/usr/lib/apache2/modules")
    loads = "\n".join(f"LoadModule {m}_module {modules}/mod_{m}.so" for m in APACHE_MODULES)
    user = "User nobody\nGroup nogroup\n" if os.geteuid() == 0 else ""
    (tmp / "httpd.conf").write_text(f"""{loads}
ServerRoot {tmp}
ServerName 127.0.0.1
Listen 127.0.0.1:{port}
PidFile {tmp}/httpd.pid
ErrorLog {tmp}/apache.log
{user}DAVLockDB {locks}/davlock
StartServers 2
MinSpareServers 2
MaxSpareServers 6
MaxRequestWorkers 8
DocumentRoot {root}
<Directory {root}>
  Dav On
  AuthType Basic
  AuthName "syncline"
  AuthUserFile {base}/htpasswd
  Require valid-user
</Directory>
""")
    return root


@contextmanager
def served(kind: str, tmp: Path) -> Iterator[DavServer]:
    """The WebDAV server ``kind`` (one of :data:`SERVERS`) on ``tmp``."""
    maker = {"wsgidav": wsgidav, "rclone": rclone, "apache": apache}[kind]
    with maker(tmp) as server:
        server.kind = kind
        yield server


@contextmanager
def daemon_running(base: Path, remote: str, credentials: DavCredentials) -> Iterator[Path]:
    """``syncline daemon`` as a process, its ``[[folder]]`` ``base/a`` (holding ``x.txt``) bound to the
    WebDAV address ``remote`` (checked every second) with ``credentials`` saved; the local folder is
    yielded, the process terminated at the end."""
    import sys

    from syncline.engine.replicas.webdav import save_credentials

    state, local = base / "st", base / "a"
    save_credentials(state, credentials)
    local.mkdir(parents=True)
    (local / "x.txt").write_text("x")
    config = base / "daemon.toml"
    config.write_text(f'[[folder]]\nlocal = "{local}"\nremote = "{remote}"\ncheck_every = 1\n')
    daemon = subprocess.Popen([sys.executable, "-m", "syncline", "daemon", "--config", str(config), "--state",
                               str(state)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        yield local
    finally:
        daemon.terminate()
        daemon.wait(20)
