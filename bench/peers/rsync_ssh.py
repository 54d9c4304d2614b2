"""rsync over ssh to 127.0.0.1 as a one-way peer of the server benchmark.

An sshd (Debian's ``openssh-server``; only ``/usr/sbin/sshd`` is used, no service is enabled) runs as the
current user on a free port of 127.0.0.1, from a config, host key, client key and authorized_keys all under
the benchmark's data folder: ``/usr/sbin/sshd -D -e -f CONFIG``. Run as root, sshd wants its privilege
separation directory ``/run/sshd``; when that is missing it runs in a private mount namespace (``unshare
-m``) with a tmpfs on /run, so nothing on the machine changes. Transfers: ``rsync -a --delete -e 'ssh -p
PORT -i KEY -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null ...' SRC/ 127.0.0.1:DST/``.

Bytes on the wire (``count_bytes``): ssh goes to a ``syncline.testing.NetProxy`` in front of the sshd, which
counts every byte of the ssh connection (key exchange, encryption and rsync's own protocol included);
rsync's ``--stats`` (its bytes sent and received, literal and matched data) are kept beside it.
"""

from __future__ import annotations

import getpass
import os
import re
import shlex
import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import run
from peers import Changes, Service, free_port, wait_listening
from syncline.testing.netproxy import NetProxy

SSHD = "/usr/sbin/sshd"


def version() -> str:
    ssh = subprocess.run(["ssh", "-V"], capture_output=True, text=True).stderr.strip()
    rsync = subprocess.run(["rsync", "--version"], capture_output=True, text=True).stdout.splitlines()[0]
    return f"{rsync}; {ssh}"


@dataclass
class Sshd:
    """A running sshd and the ``-e`` command line that reaches it."""

    port: int
    key: Path
    service: Service

    via: int | None = None  # a port in front of the sshd (a NetProxy) that ssh goes to instead

    @property
    def ssh(self) -> list[str]:
        return ["ssh", "-p", str(self.via or self.port), "-i", str(self.key), "-o", "StrictHostKeyChecking=no",
                "-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR", "-o", "BatchMode=yes",
                "-o", "IdentitiesOnly=yes", "-F", "/dev/null"]

    def rsync(self, src: Path, dst: Path, *extra: str) -> list[str]:
        """``rsync -a --delete`` of ``src``'s contents into ``dst`` over this sshd."""
        return ["rsync", "-a", "--delete", *extra, "-e", shlex.join(self.ssh), f"{src}/", f"127.0.0.1:{dst}/"]


@contextmanager
def sshd(root: Path) -> Iterator[Sshd]:
    """Start an sshd for the current user on 127.0.0.1 (files in ``root``); stop it on the way out."""
    run.rm_rf(root)
    root.mkdir(parents=True)
    os.chmod(root, 0o700)
    host_key, key = root / "host_ed25519", root / "client_ed25519"
    for k in (host_key, key):
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(k)], check=True)
    (root / "authorized_keys").write_text(key.with_suffix(".pub").read_text())
    os.chmod(root / "authorized_keys", 0o600)
    port = free_port()
    user = getpass.getuser()
    config = root / "sshd_config"
    config.write_text("\n".join([
        f"Port {port}", "ListenAddress 127.0.0.1", f"HostKey {host_key}", f"PidFile {root / 'sshd.pid'}",
        f"AuthorizedKeysFile {root / 'authorized_keys'}", "PubkeyAuthentication yes",
        "PasswordAuthentication no", "KbdInteractiveAuthentication no", "UsePAM no", "StrictModes no",
        "PermitRootLogin prohibit-password", f"AllowUsers {user}", "X11Forwarding no", "AllowTcpForwarding no",
        "PrintMotd no", "Subsystem sftp internal-sftp", "LogLevel ERROR", ""]))
    argv = [SSHD, "-D", "-e", "-f", str(config)]
    if os.geteuid() == 0 and not os.path.isdir("/run/sshd"):
        argv = ["unshare", "-m", "--propagation", "private", "sh", "-c",
                'mount -t tmpfs -o mode=755 tmpfs /run && mkdir -m 755 /run/sshd && exec "$@"', "sh", *argv]
    service = Service("sshd", argv, root / "sshd.log")
    try:
        wait_listening(service, port, 30)
        s = Sshd(port, key, service)
        check = subprocess.run([*s.ssh, "127.0.0.1", "true"], capture_output=True, text=True, timeout=30)
        if check.returncode != 0:
            raise RuntimeError(f"ssh to the benchmark's sshd failed: {check.stderr}\n{service.log_tail()}")
        yield s
    finally:
        service.stop()


# -- measurements (one repetition each) -------------------------------------------------------------------
def _timed(argv: list[str], env: dict[str, str]) -> dict[str, Any]:
    m = run.measure(argv, env, cold=False)
    if m.rc != 0:
        raise RuntimeError(f"rsync over ssh failed ({m.rc}): {m.stderr}")
    return {"seconds": m.seconds, "cpu_seconds": m.cpu, "foreign_cpu_seconds": m.foreign_cpu,
            "load_1min": [m.load_before[0], m.load_after[0]]}


def initial_sync(s: Sshd, src: Path, dst: Path, env: dict[str, str]) -> dict[str, Any]:
    """An empty ``dst``, then one timed ``rsync -a --delete`` of ``src`` into it over ssh."""
    run.fresh_dir(dst)
    out = _timed(s.rsync(src, dst), env)
    out["equal"] = run.differences(src, dst)["files"] == 0
    return out


def edit(s: Sshd, src: Path, dst: Path, rel: str, data: bytes, env: dict[str, str]) -> dict[str, Any]:
    """Write ``data`` over ``rel`` in ``src``, then one timed rsync run (a whole-tree run, as a user or a
    cron job would start it); the write's own time is included."""
    t0 = time.perf_counter()
    (src / rel).write_bytes(data)
    out = _timed(s.rsync(src, dst), env)
    out["seconds"] = time.perf_counter() - t0
    if (dst / rel).read_bytes() != data:
        raise RuntimeError(f"rsync over ssh: {rel} not updated")
    return out


_STATS = {"Total bytes sent": "stats_sent", "Total bytes received": "stats_received",
          "Literal data": "stats_literal", "Matched data": "stats_matched"}


def changes(s: Sshd, ch: Changes, dst: Path, env: dict[str, str], proxy: NetProxy | None = None) -> dict[str, Any]:
    """``dst`` reset to ``ch.old`` (local rsync, not timed), then one timed rsync of ``ch.new`` into it. With
    ``proxy`` (in front of ``s``), the bytes through it and rsync's ``--stats`` too."""
    subprocess.run(["rsync", "-a", "--delete", f"{ch.old}/", f"{dst}/"], check=True)
    if proxy is None:
        out = _timed(s.rsync(ch.new, dst), env)
    else:
        up0, down0 = proxy.bytes_up, proxy.bytes_down
        t0 = time.perf_counter()
        done = subprocess.run(s.rsync(ch.new, dst, "--stats"), env=env, capture_output=True, text=True)
        out = {"seconds": time.perf_counter() - t0}
        if done.returncode != 0:
            raise RuntimeError(f"rsync over ssh failed ({done.returncode}): {done.stderr}")
        if not proxy.wait_quiet(30):
            raise RuntimeError("the ssh connection through the proxy did not end")
        out |= {"wire_up": proxy.bytes_up - up0, "wire_down": proxy.bytes_down - down0}
        for line in done.stdout.splitlines():
            label, _, value = line.partition(":")
            if label in _STATS and (m := re.match(r"\s*([\d,]+)", value)):
                out[_STATS[label]] = int(m.group(1).replace(",", ""))
    ch.verify(dst)
    out["equal"] = not ch.pending(dst) and run.differences(ch.new, dst)["files"] == 0
    return out


def have_sshd() -> bool:
    return os.access(SSHD, os.X_OK) and shutil.which("ssh") is not None


# -- the peer interface (peers.Peer, peers.Session) -------------------------------------------------------
@dataclass
class Session:
    """rsync over ssh as a ``peers.Session``: ``src`` (A) and ``dst`` (B) hold the tree, one sshd runs."""

    s: Sshd
    src: Path
    dst: Path
    env: dict[str, str]
    proxy: NetProxy | None = None

    def edit_modes(self) -> list[tuple[str, bool]]:
        return [("one run after the write", False)]

    def edit(self, mode: str, rel: str, data: bytes) -> float:
        return float(edit(self.s, self.src, self.dst, rel, data, self.env)["seconds"])

    def change_modes(self, scenario: str) -> list[str]:
        return ["one run"]

    def changes(self, mode: str, ch: Changes) -> dict[str, Any]:
        return changes(self.s, ch, self.dst, self.env, self.proxy)

    def idle(self, seconds: float) -> None:
        return None  # nothing runs between transfers


@dataclass
class Peer:
    """rsync over ssh as a ``peers.Peer`` (one way, A -> B)."""

    env: dict[str, str]
    name: str = "rsync-ssh"

    def initial(self, src: Path, work: Path) -> dict[str, Any]:
        with sshd(work / "sshd") as s:
            return initial_sync(s, src, work / "dst", self.env)

    def session(self, base: Path, work: Path, count_bytes: bool) -> AbstractContextManager[Session]:
        @contextmanager
        def opened() -> Iterator[Session]:
            src, dst = work / "src", work / "dst"
            run.fresh_dir(work)
            for d in (src, dst):
                run.sh("cp", "-a", base, d)
            with ExitStack() as stack:
                s = stack.enter_context(sshd(work / "sshd"))
                proxy = stack.enter_context(NetProxy("127.0.0.1", s.port)) if count_bytes else None
                if proxy:
                    s.via = proxy.port
                yield Session(s, src, dst, self.env, proxy)
            run.rm_rf(work)

        return opened()
