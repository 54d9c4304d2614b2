"""The self-signed certificate: a client trusting only it connects, one trusting another does not; the
pair is kept across restarts; the key is private."""

from __future__ import annotations

import contextlib
import hashlib
import os
import socket
import ssl
import stat
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from syncline.core.errors import UsageError
from syncline.server.tls import fingerprint, local_names, make_self_signed, same_fingerprint


@contextmanager
def tls_server(cert: Path, key: Path) -> Iterator[int]:
    """A one-thread TLS echo of one line per connection on 127.0.0.1; yields its port."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.05)  # accept() wakes up this often to see ``stop``
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with conn:
                conn.settimeout(5)
                try:
                    with context.wrap_socket(conn, server_side=True) as tls:
                        tls.sendall(tls.recv(100))
                except (OSError, ssl.SSLError):
                    pass  # a client that refused the certificate

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1]
    finally:
        stop.set()
        thread.join(10)
        listener.close()


def client_context(trusted_pem: str) -> ssl.SSLContext:
    """What a pinned client does: trust only this certificate, names not checked."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.load_verify_locations(cadata=trusted_pem)
    return context


def talk(port: int, context: ssl.SSLContext) -> tuple[bytes, bytes]:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw, \
            context.wrap_socket(raw) as tls:
        tls.sendall(b"hello")
        return tls.recv(100), tls.getpeercert(binary_form=True) or b""


def test_a_client_trusting_only_the_certificate_connects(tmp_path: Path) -> None:
    cert, key, fp = make_self_signed(tmp_path, ["syncline.example", "127.0.0.1", "::1"])
    with tls_server(cert, key) as port:
        answer, der = talk(port, client_context(cert.read_text()))
    assert answer == b"hello"
    assert fingerprint(der) == fp


def test_a_client_trusting_another_certificate_fails(tmp_path: Path) -> None:
    cert, key, _ = make_self_signed(tmp_path / "a", ["localhost"])
    other, _, _ = make_self_signed(tmp_path / "b", ["localhost"])
    with tls_server(cert, key) as port, pytest.raises(ssl.SSLCertVerificationError):
        talk(port, client_context(other.read_text()))


def test_names_are_checkable_by_clients_that_check_names(tmp_path: Path) -> None:
    cert, key, _ = make_self_signed(tmp_path, ["127.0.0.1", "localhost"])
    context = client_context(cert.read_text())
    context.check_hostname = True
    with tls_server(cert, key) as port:
        with socket.create_connection(("127.0.0.1", port), timeout=10) as raw, \
                context.wrap_socket(raw, server_hostname="127.0.0.1") as tls:
            tls.sendall(b"x")
            assert tls.recv(10) == b"x"
        with socket.create_connection(("127.0.0.1", port), timeout=10) as raw, \
                pytest.raises(ssl.SSLCertVerificationError):
            context.wrap_socket(raw, server_hostname="elsewhere.example")


def test_the_pair_is_reused_on_restart(tmp_path: Path) -> None:
    cert, key, fp = make_self_signed(tmp_path, ["localhost"])
    pem, key_pem = cert.read_bytes(), key.read_bytes()
    again = make_self_signed(tmp_path, ["another-name", "10.0.0.9"])
    assert again == (cert, key, fp)
    assert cert.read_bytes() == pem and key.read_bytes() == key_pem
    assert fingerprint(pem) == fp


def test_the_key_is_private(tmp_path: Path) -> None:
    _, key, _ = make_self_signed(tmp_path, ["localhost"])
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert stat.S_IMODE(key.parent.stat().st_mode) == 0o700
    os.chmod(key, 0o644)
    make_self_signed(tmp_path, ["localhost"])
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert [p.name for p in sorted(key.parent.iterdir())] == ["cert.pem", "key.pem"]


def test_the_certificate_can_be_its_own_anchor(tmp_path: Path) -> None:
    from cryptography import x509

    cert, _, _ = make_self_signed(tmp_path, ["localhost", "not a name!", "é.example"])
    loaded = x509.load_pem_x509_certificate(cert.read_bytes())
    assert loaded.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    names = loaded.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert names.get_values_for_type(x509.DNSName) == ["localhost"]  # the unusable names are left out
    assert (loaded.not_valid_after_utc - loaded.not_valid_before_utc).days >= 3650


@pytest.mark.parametrize("damage", ["no-key", "no-cert", "garbage-cert", "other-key"])
def test_a_damaged_pair_is_an_error_not_replaced(tmp_path: Path, damage: str) -> None:
    cert, key, _ = make_self_signed(tmp_path, ["localhost"])
    if damage == "no-key":
        key.unlink()
    elif damage == "no-cert":
        cert.unlink()
    elif damage == "garbage-cert":
        cert.write_bytes(b"-----BEGIN CERTIFICATE-----\nnonsense\n-----END CERTIFICATE-----\n")
    else:
        _, other_key, _ = make_self_signed(tmp_path / "other", ["localhost"])
        key.write_bytes(other_key.read_bytes())
    before = {p.name: p.read_bytes() for p in cert.parent.iterdir()}
    with pytest.raises(UsageError, match=r"move .*tls away"):
        make_self_signed(tmp_path, ["localhost"])
    assert {p.name: p.read_bytes() for p in cert.parent.iterdir()} == before


def test_fingerprint_form(tmp_path: Path) -> None:
    cert, _, fp = make_self_signed(tmp_path, ["localhost"])
    der = ssl.PEM_cert_to_DER_cert(cert.read_text())
    digest = hashlib.sha256(der).hexdigest().upper()
    assert fp == "SHA256:" + ":".join(digest[i:i + 2] for i in range(0, 64, 2))
    assert fingerprint(cert.read_text()) == fingerprint(cert.read_bytes()) == fingerprint(der) == fp
    assert same_fingerprint(fp, digest.lower())
    assert same_fingerprint(fp, "sha256: " + fp[7:].lower())
    assert not same_fingerprint(fp, "SHA256:" + "00:" * 31 + "00")
    assert not same_fingerprint("", "")
    assert not same_fingerprint("zz" * 32, "zz" * 32)


def test_local_names_make_a_certificate_for_this_machine(tmp_path: Path) -> None:
    import ipaddress

    names = local_names()
    assert {"localhost", "127.0.0.1", "::1"} <= set(names)
    assert socket.gethostname() in names or not socket.gethostname()
    for name in names:
        with contextlib.suppress(ValueError):
            assert not ipaddress.ip_address(name).is_unspecified
    cert, key, _ = make_self_signed(tmp_path, names)
    context = client_context(cert.read_text())
    context.check_hostname = True
    with tls_server(cert, key) as port, socket.create_connection(("127.0.0.1", port), timeout=10) as raw, \
            context.wrap_socket(raw, server_hostname="localhost") as tls:
        tls.sendall(b"y")
        assert tls.recv(10) == b"y"
