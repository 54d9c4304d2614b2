"""``serve``'s option checks: the listen address, loopback, and the TLS choice (no server started)."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from syncline.core.errors import UsageError
from syncline.server.serve import choose_tls, is_loopback, parse_listen, serve


@pytest.mark.parametrize(("listen", "parsed"), [
    ("127.0.0.1:8765", ("127.0.0.1", 8765)), ("[::1]:0", ("::1", 0)), ("nas.local:443", ("nas.local", 443)),
    ("0.0.0.0:8765", ("0.0.0.0", 8765))])
def test_listen_addresses(listen: str, parsed: tuple[str, int]) -> None:
    assert parse_listen(listen) == parsed


@pytest.mark.parametrize("listen", ["8765", "host:", ":8765", "host:99999", "host:x", "[::1]"])
def test_bad_listen_addresses_are_usage_errors(listen: str) -> None:
    with pytest.raises(UsageError):
        parse_listen(listen)


@pytest.mark.parametrize(("host", "loopback"), [
    ("127.0.0.1", True), ("127.3.4.5", True), ("::1", True), ("localhost", True), ("LOCALHOST", True),
    ("0.0.0.0", False), ("::", False), ("192.168.1.2", False), ("nas.local", False), ("localhost.evil", False)])
def test_loopback(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


def test_plain_http_beyond_loopback_is_refused_before_anything_is_made(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="plain HTTP"):
        serve(tmp_path / "data", "0.0.0.0:8765")
    assert not (tmp_path / "data").exists()


def test_tls_choices(tmp_path: Path) -> None:
    assert choose_tls(tmp_path, None, None, None) is None
    made = choose_tls(tmp_path, None, None, "self-signed")
    assert made is not None and made.cert.is_file() and made.fingerprint.startswith("SHA256:")
    again = choose_tls(tmp_path, None, None, "self-signed")
    assert again == made  # made once, reused
    given = choose_tls(tmp_path, made.cert, made.key, None)
    assert given is not None and given.cert == made.cert and given.fingerprint == ""
    for cert, key, mode in ((made.cert, None, None), (None, made.key, None), (made.cert, made.key, "self-signed"),
                            (None, None, "acme"), (tmp_path / "nope.pem", made.key, None)):
        with pytest.raises(UsageError):
            choose_tls(tmp_path, cert, key, mode)


def test_an_address_in_use_is_one_line_of_error(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(UsageError, match=f"cannot listen on 127.0.0.1:{port}"):
            serve(tmp_path / "data", f"127.0.0.1:{port}")
    assert not (tmp_path / "data").exists()
