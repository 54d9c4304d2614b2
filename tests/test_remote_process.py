"""RemoteReplica against a real server process: uvicorn over TLS with a self-signed certificate on
127.0.0.1 (a random port), pinned by the client; two-way sync between local folders through it, and the
failures a network brings (another certificate, a server gone) mapped to the family."""

from __future__ import annotations

import datetime
import ipaddress
import json
import os
import secrets
import select
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

import syncline
from syncline.core.errors import BusyError
from syncline.engine.replicas.address import open_replica
from syncline.engine.replicas.errors import Denied, Unreachable
from syncline.engine.replicas.local import LocalReplica
from syncline.engine.replicas.remote import Credentials, RemoteReplica, save_credentials
from syncline.engine.replicas.remote.client import ssl_context
from syncline.engine.replicas.remote.lease import LEASE_DIR
from syncline.engine.replicas.replica import WritePolicy
from syncline.engine.twoway.run import TwoWayReport, sync_two_way_replicas
from syncline.server.tls import make_self_signed

from .conftest import write

REPO = Path(__file__).resolve().parent.parent
START_S = 60.0  # a busy machine may be slow to start a process; never asserted as a duration
T0 = 1_700_000_000


def self_signed(where: Path, name: str) -> tuple[Path, Path, str]:
    """Another self-signed certificate for 127.0.0.1 and its key, as files; the certificate's PEM."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=30))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    pem = cert.public_bytes(serialization.Encoding.PEM).decode()
    cert_path, key_path = where / f"{name}.pem", where / f"{name}.key"
    cert_path.write_text(pem)
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path, pem


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Process:
    url: str
    token: str
    pem: str
    server_id: str
    proc: subprocess.Popen[bytes]

    def credentials(self, pem: str | None = None) -> Credentials:
        return Credentials(self.url, self.token, pem or self.pem, self.server_id)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Process]:
    cert, key, _ = make_self_signed(tmp_path / "tls", ["127.0.0.1"])  # what `syncline serve --tls` makes
    pem = cert.read_text()
    token = "slt_" + secrets.token_urlsafe(32)
    port = free_port()
    log = open(tmp_path / "server.log", "wb")  # noqa: SIM115 - closed below, after the process
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    proc = subprocess.Popen([sys.executable, "-m", "tests.remote_server", str(tmp_path / "data"), str(port),
                             str(cert), str(key), token], cwd=REPO, stdout=log, stderr=subprocess.STDOUT, env=env)
    url = f"https://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + START_S
        with httpx.Client(verify=ssl_context(pem), timeout=5) as probe:
            while True:
                try:
                    info = probe.get(f"{url}/v1/info").json()
                    break
                except httpx.TransportError:
                    if proc.poll() is not None or time.monotonic() > deadline:
                        raise AssertionError("the server did not start: "
                                             + (tmp_path / "server.log").read_text(errors="replace")) from None
                    time.sleep(0.1)
        yield Process(url, token, pem, info["server_id"], proc)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=20)
        log.close()


def test_two_way_sync_through_a_real_server_over_tls(tmp_path: Path, server: Process) -> None:
    state = tmp_path / "state"
    save_credentials(state, server.credentials())
    a, b = tmp_path / "a", tmp_path / "b"
    write(a, "docs/report.txt", "report", mtime=T0)
    write(a, "big.bin", os.urandom(3 << 20), mtime=T0)
    b.mkdir()
    policy = WritePolicy.two_way()

    def sync(root: Path) -> TwoWayReport:
        """One two-way run of the local folder ``root`` with the server folder, as a device runs it."""
        local, there = LocalReplica(root, policy=policy), open_replica(f"{server.url}/Docs", policy=policy, state=state)
        assert isinstance(there, RemoteReplica)
        try:
            if not there.exists():
                there.create_root()
            report = sync_two_way_replicas(local, there)
        finally:
            local.close()
            there.close()
        assert report.exit_code == 0, report.problems
        return report

    sync(a)
    sync(b)  # a second device's folder takes what the first sent
    assert (b / "docs/report.txt").read_text() == "report"
    assert (b / "big.bin").read_bytes() == (a / "big.bin").read_bytes()
    # An edit on the second comes back to the first; a rename goes as a move.
    write(b, "docs/report.txt", "report, edited on b", mtime=T0 + 10)
    os.rename(b / "docs", b / "papers")
    assert sync(b).moved == 1
    sync(a)
    assert (a / "papers/report.txt").read_text() == "report, edited on b" and not (a / "docs").exists()
    again = sync(a)
    assert not (again.to_a.copied or again.to_b.copied or again.moved), "converged: nothing more to do"


def test_a_certificate_that_is_not_the_pinned_one_is_denied(tmp_path: Path, server: Process) -> None:
    _, _, other = self_signed(tmp_path, "impostor")
    replica = RemoteReplica(server.url, "Docs", server.credentials(other))
    with pytest.raises(Denied, match="not the one this device was connected to"):
        replica.exists()
    replica.close()


def test_a_server_that_went_away_is_unreachable(tmp_path: Path, server: Process) -> None:
    replica = RemoteReplica(server.url, "Docs", server.credentials())
    replica.create_root()
    server.proc.terminate()
    server.proc.wait(timeout=20)
    with pytest.raises(Unreachable):
        replica.exists()
    replica.close()


def test_syncline_sync_two_way_with_a_server_folder_after_connect(tmp_path: Path, server: Process,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    state = tmp_path / "state"
    monkeypatch.setenv("SYNCLINE_STATE_DIR", str(state))
    folder = f"{server.url}/Notes"
    write(tmp_path / "a", "todo.txt", "milk", mtime=T0)
    cli = [sys.executable, "-m", "syncline", "sync", "--two-way", str(tmp_path / "a"), folder]
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    refused = subprocess.run(cli, capture_output=True, text=True, env=env, timeout=120)
    assert refused.returncode != 0 and f"not connected to {server.url}" in refused.stderr, refused.stderr
    save_credentials(state, server.credentials())  # what `syncline connect` leaves
    done = subprocess.run(cli, capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    report = syncline.sync(tmp_path / "b", folder, two_way=True)
    assert report.exit_code == 0 and (tmp_path / "b/todo.txt").read_text() == "milk"


# -- the lease of a run killed while holding it -----------------------------------------------------------------
HOLDER = """
import json, os, signal, sys
from pathlib import Path
from syncline.engine.replicas.remote import Credentials, RemoteReplica
url, token, pem, server_id, state, how = json.loads(sys.argv[1])
r = RemoteReplica(url, "Docs", Credentials(url, token, pem, server_id), state_dir=Path(state))
with r.lock():
    print("held", flush=True)
    if how == "kill":
        os.kill(os.getpid(), signal.SIGKILL)
    sys.stdin.read()
print("released", flush=True)
"""


def _holder(server: Process, state: Path, how: str) -> subprocess.Popen[str]:
    """A run of this device in a child process that takes the folder's lease, says ``held``, then kills
    itself with -9 (``how`` "kill") or holds the lease until its stdin is closed."""
    args = json.dumps([server.url, server.token, server.pem, server.server_id, str(state), how])
    return subprocess.Popen([sys.executable, "-c", HOLDER, args], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": str(REPO / "src")})


def _made(server: Process) -> None:
    root = RemoteReplica(server.url, "Docs", server.credentials())
    root.create_root()
    root.close()


def _line(proc: subprocess.Popen[str]) -> str:
    assert proc.stdout is not None
    ready, _, _ = select.select([proc.stdout], [], [], START_S)
    assert ready, "the holder said nothing"
    return proc.stdout.readline().strip()


def test_a_run_killed_while_holding_the_lease_is_taken_over_by_the_next(tmp_path: Path, server: Process) -> None:
    state = tmp_path / "state"
    _made(server)
    child = _holder(server, state, "kill")
    out, err = child.communicate(timeout=START_S)
    assert child.returncode == -signal.SIGKILL and out.strip() == "held", err
    without_record = RemoteReplica(server.url, "Docs", server.credentials())
    with pytest.raises(BusyError), without_record.lock():  # the killed run's lease is still on the server
        pass
    again = RemoteReplica(server.url, "Docs", server.credentials(), state_dir=state)
    with again.lock():  # its own record names a process gone: taken over, not waited for
        records = list((state / LEASE_DIR).iterdir())
        assert len(records) == 1 and json.loads(records[0].read_text())["pid"] == os.getpid()
        with pytest.raises(BusyError), without_record.lock():
            pass
    assert list((state / LEASE_DIR).iterdir()) == [], "the record goes with the lease"
    again.close()
    without_record.close()


def test_a_run_still_holding_the_lease_blocks_the_next(tmp_path: Path, server: Process) -> None:
    state = tmp_path / "state"
    _made(server)
    with _holder(server, state, "hold") as child:
        try:
            assert _line(child) == "held"
            second = RemoteReplica(server.url, "Docs", server.credentials(), state_dir=state)
            with pytest.raises(BusyError, match=f"pid {child.pid}"), second.lock():
                pass
            assert child.poll() is None, "the holder runs on"
            out, err = child.communicate("", timeout=START_S)  # its stdin closed: it releases the lease
            assert child.returncode == 0 and out.strip() == "released", err
            with second.lock():  # released: the next run goes
                pass
            second.close()
        finally:
            if child.poll() is None:
                child.kill()


def test_a_connection_idle_longer_than_a_client_keeps_one_is_still_served(server: Process) -> None:
    """The client lets go of an idle connection before the server closes it (protocol.md section 1): one
    idle past httpx's and uvicorn's 5 s default is still served, so a client never sends on a connection
    the server is closing (a reset it cannot retry)."""
    from syncline.engine.replicas.httppool import IDLE_CONNECTION_S
    from syncline.server.serve import KEEP_ALIVE_S

    assert IDLE_CONNECTION_S < KEEP_ALIVE_S / 2
    # This client keeps its idle connection as long as the server says it does: the server must too.
    with httpx.Client(verify=ssl_context(server.pem), timeout=10,
                      limits=httpx.Limits(keepalive_expiry=KEEP_ALIVE_S)) as http:
        assert http.get(f"{server.url}/v1/info").status_code == 200
        [conn] = http._transport._pool.connections  # type: ignore[attr-defined]
        time.sleep(6.5)
        assert http.get(f"{server.url}/v1/info").status_code == 200
        assert http._transport._pool.connections == [conn], "the idle connection was closed"  # type: ignore[attr-defined]
