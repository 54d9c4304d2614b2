"""What a server and its devices agree on before any request: the certificate fingerprint a device pins,
and which hosts are this machine (plain HTTP is allowed to those only). Shared by ``syncline serve``, which
prints the fingerprint, and ``syncline connect``, which compares it; pure functions, no DNS.
"""

from __future__ import annotations

import hashlib
import ipaddress
import ssl

PREFIX = "SHA256:"


def fingerprint(cert: str | bytes) -> str:
    """The pinned form of a certificate: ``SHA256:`` and the SHA-256 of its DER bytes in upper-case hex
    pairs joined by colons (the digits ``openssl x509 -fingerprint -sha256`` prints).

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


def is_loopback(host: str) -> bool:
    """Whether ``host`` (a name, an address, or an IPv6 address in brackets as URLs write it) names only
    this machine: ``localhost`` or a loopback address. No DNS."""
    host = host.strip("[]")
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
