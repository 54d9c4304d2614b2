"""The server's self-signed certificate, and the fingerprint clients pin (design.md "Security", TLS).

``syncline serve --tls self-signed`` makes, once, an ECDSA P-256 key and a ten-year certificate into
``DATA/tls/`` (``cert.pem``, ``key.pem`` of mode 0600) and reuses them on every later start: clients pin
the certificate itself, so a new one would cut every device off. The certificate has
``basicConstraints CA:TRUE`` so that it can be its own trust anchor in an ``ssl.SSLContext``
(``load_verify_locations(cadata=...)``), and its names (host name, ``localhost``, addresses) as
subjectAltNames for clients that do check names.

The fingerprint is ``SHA256:`` and the SHA-256 of the certificate's DER bytes as upper-case hex pairs
joined by colons (``SHA256:3A:9F:...``, 95 characters after the prefix): the bytes ``openssl x509
-fingerprint -sha256`` prints, so a user can compare the two by eye.
"""

from __future__ import annotations

import datetime
import hashlib
import ipaddress
import os
import socket
import ssl
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from ..core.errors import UsageError
from ..formats.framing import atomic_file

CERT_NAME = "cert.pem"
KEY_NAME = "key.pem"
VALID_DAYS = 3650
PREFIX = "SHA256:"


def fingerprint(cert: str | bytes) -> str:
    """The pinned form of a certificate: ``SHA256:AB:CD:...`` (see the module docstring).

    ``cert`` is PEM text (str or bytes), or DER bytes (what ``getpeercert(binary_form=True)`` gives).
    :class:`ValueError` if PEM text holds no certificate.
    """
    if isinstance(cert, str):
        der = ssl.PEM_cert_to_DER_cert(cert)
    elif cert.lstrip().startswith(b"-----BEGIN"):
        der = ssl.PEM_cert_to_DER_cert(cert.decode("ascii", "replace"))
    else:
        der = cert
    digest = hashlib.sha256(der).hexdigest().upper()
    return PREFIX + ":".join(digest[i:i + 2] for i in range(0, len(digest), 2))


def same_fingerprint(a: str, b: str) -> bool:
    """Whether two written fingerprints name the same certificate, ignoring case, colons, spaces and
    the ``SHA256:`` prefix (what a user pastes into ``--fingerprint``)."""
    return _digits(a) is not None and _digits(a) == _digits(b)


def _digits(text: str) -> str | None:
    text = text.strip()
    if text.upper().startswith(PREFIX):
        text = text[len(PREFIX):]
    digits = "".join(c for c in text if c not in ": ").lower()
    if len(digits) != 64 or any(c not in "0123456789abcdef" for c in digits):
        return None
    return digits


def make_self_signed(data_dir: Path, names: list[str]) -> tuple[Path, Path, str]:
    """The server's certificate and key under ``data_dir/tls``, made if absent; returns
    ``(cert_path, key_path, fingerprint)``.

    ``names`` are the certificate's subjectAltNames (host names and IP addresses; the first is also its
    common name; names that are neither are left out; none left: ``localhost``). An existing pair is
    reused whatever names it has (a pinned certificate is not checked by name, and replacing it would
    cut every device off); a key file readable by others is made 0600 again. A pair that is half there,
    unreadable or mismatched is an error naming the fix, never silently replaced: :class:`UsageError`
    (OSError for I/O failures).
    """
    folder = Path(data_dir) / "tls"
    cert_path, key_path = folder / CERT_NAME, folder / KEY_NAME
    if cert_path.exists() or key_path.exists():
        return cert_path, key_path, _reuse(cert_path, key_path)
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    key = ec.generate_private_key(ec.SECP256R1())
    cert = _certificate(key, [n for n in names if _usable_name(n)] or ["localhost"])
    # The key first: the certificate's presence is what says the pair is complete.
    _write_new(key_path, key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    pem = cert.public_bytes(serialization.Encoding.PEM)
    _write_new(cert_path, pem)
    return cert_path, key_path, fingerprint(pem)


def local_names() -> list[str]:
    """The names a self-signed certificate of this machine gets: its host name (short and qualified if
    known without a network lookup), ``localhost``, the loopback addresses and the addresses this machine
    reaches the outside from. Never sends a packet nor asks DNS (a UDP socket's ``connect`` only picks a
    route); an address that cannot be found is left out."""
    names = [socket.gethostname(), "localhost", "127.0.0.1", "::1"]
    for family, probe in ((socket.AF_INET, "192.0.2.1"), (socket.AF_INET6, "2001:db8::1")):
        try:
            with socket.socket(family, socket.SOCK_DGRAM) as sock:
                sock.connect((probe, 9))
                names.append(str(sock.getsockname()[0]))
        except OSError:
            pass
    return [n for n in dict.fromkeys(names) if n and _usable_name(n)]


def _certificate(key: ec.EllipticCurvePrivateKey, names: list[str]) -> x509.Certificate:
    alt: list[x509.GeneralName] = []
    for name in dict.fromkeys(names):
        try:
            alt.append(x509.IPAddress(ipaddress.ip_address(name)))
        except ValueError:
            alt.append(x509.DNSName(name))
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0][:64]),
                         x509.NameAttribute(NameOID.ORGANIZATION_NAME, "syncline server")])
    now = datetime.datetime.now(datetime.UTC)
    return (x509.CertificateBuilder()
            .subject_name(subject).issuer_name(subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1))  # a client whose clock is a little behind
            .not_valid_after(now + datetime.timedelta(days=VALID_DAYS))
            .add_extension(x509.SubjectAlternativeName(alt), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, content_commitment=False,
                                         key_encipherment=False, data_encipherment=False, key_agreement=False,
                                         crl_sign=False, encipher_only=False, decipher_only=False),
                           critical=True)
            .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .sign(key, hashes.SHA256()))


def _usable_name(name: str) -> bool:
    """Whether ``name`` can be a subjectAltName: an IP address, or an ASCII host name (IDNs as A-labels)."""
    try:
        ipaddress.ip_address(name)
        return True
    except ValueError:
        pass
    return 0 < len(name) <= 253 and name.isascii() and all(c.isalnum() or c in "-.*" for c in name)


def _reuse(cert_path: Path, key_path: Path) -> str:
    """The fingerprint of the existing pair, after checking it is whole and matching."""
    fix = f"move {cert_path.parent} away to make a new certificate (every device must then connect again)"
    try:
        pem = cert_path.read_bytes()
        key_pem = key_path.read_bytes()
    except FileNotFoundError as exc:
        raise UsageError(f"the server's TLS files are incomplete: {exc.filename} is missing", fix) from None
    try:
        cert = x509.load_pem_x509_certificate(pem)
        key = serialization.load_pem_private_key(key_pem, password=None)
    except (ValueError, TypeError):
        raise UsageError(f"the server's TLS files in {cert_path.parent} cannot be read", fix) from None
    if key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo) \
            != cert.public_key().public_bytes(serialization.Encoding.DER,
                                              serialization.PublicFormat.SubjectPublicKeyInfo):
        raise UsageError(f"{key_path} is not the key of {cert_path}", fix)
    if key_path.stat().st_mode & 0o077:
        os.chmod(key_path, 0o600)
    return fingerprint(cert.public_bytes(serialization.Encoding.DER))


def _write_new(path: Path, data: bytes) -> None:
    """Write ``path`` (mode 0600) all or nothing. Its folder is 0700 first, so nobody else can open the
    temp file in the moment before it is made private."""
    os.chmod(path.parent, 0o700)
    with atomic_file(path) as out:
        os.fchmod(out.fileno(), 0o600)
        out.write(data)
