"""The remote replica's client edge, without a server: credentials on disk, and every failure (each error
code of protocol.md section 12, statuses a proxy answers, dropped connections, certificates) mapped to
the replica error family in one place. Transports are ``httpx.MockTransport`` handlers."""

from __future__ import annotations

import json
import ssl
import stat
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from syncline.core.errors import UsageError
from syncline.engine.replicas import errors as family
from syncline.engine.replicas.remote import Credentials, load_credentials, save_credentials, server_url
from syncline.engine.replicas.remote.client import Client, code_of, ssl_context
from syncline.engine.report import failure
from syncline.formats.wire import CODES

CREDS = Credentials("https://Box.example:8765/Photos", "slt_secret", None, "S1")
INFO = {"server": "syncline test", "server_id": "S1", "protocol": {"major": 1, "minor": 0}, "features": [],
        "chunker": {"fastcdc2020": 1, "avg_size": 65536, "min_size": 16384, "max_size": 262144,
                    "normalization": 1, "seed": 0, "min_file_size": 1048576}, "limits": {}}


def client_for(handler: Callable[[httpx.Request], httpx.Response], creds: Credentials = CREDS) -> Client:
    return Client(creds, http=httpx.Client(transport=httpx.MockTransport(handler)))


def error(code: str, status: int, **details: object) -> httpx.Response:
    return httpx.Response(status, json={"error": {"code": code, "message": f"it is {code}", "hint": "do this",
                                                  "retryable": False, "details": details}})


# -- credentials ---------------------------------------------------------------------------------------------
def test_credentials_round_trip_readable_only_by_the_user(tmp_path: Path) -> None:
    path = save_credentials(tmp_path, CREDS)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    got = load_credentials(tmp_path, "https://box.example:8765/Other")
    assert got == Credentials("https://box.example:8765", "slt_secret", None, "S1")
    assert "slt_secret" not in repr(got)
    assert load_credentials(tmp_path, "https://box.example:8766/Photos") is None


def test_addresses_name_one_server_whatever_their_spelling() -> None:
    assert server_url("https://BOX/a") == server_url("https://box:443/b") == "https://box:443"
    assert server_url("http://127.0.0.1/x") == "http://127.0.0.1:80"
    for bad in ("ftp://box/x", "https://user:pw@box/x", "https:///x", "https://box/x?y=1"):
        with pytest.raises(UsageError):
            server_url(bad)


def test_a_damaged_credentials_file_is_a_usage_error(tmp_path: Path) -> None:
    save_credentials(tmp_path, CREDS).write_text('{"url": "https://box.example:8765", "token": 5}')
    with pytest.raises(UsageError, match="damaged"):
        load_credentials(tmp_path, CREDS.url)


# -- error codes -----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("code", sorted(CODES))
def test_every_error_code_maps_to_its_family(code: str) -> None:
    status, name, retryable = CODES[code]
    client = client_for(lambda request: error(code, status, path="a/b"))
    with pytest.raises(family.ReplicaError) as caught:
        client.call("GET", "folders/x", where="a/b")
    exc = caught.value
    assert isinstance(exc, getattr(family, name)), (code, type(exc).__mro__)
    assert exc.retryable == retryable or code == "bad_response", code
    assert code_of(exc) == code and "do this" in str(exc)
    # As a run reports it for its item: the server's message, never only the path.
    assert f"it is {code}" in failure("a/b", "cannot write", exc, "b").message


def test_codes_carry_the_builtin_class_a_local_error_would_have() -> None:
    for code, builtin in (("not_found", FileNotFoundError), ("not_a_dir", NotADirectoryError)):
        client = client_for(lambda request, code=code: error(code, 404 if code == "not_found" else 409))
        with pytest.raises(builtin):
            client.call("GET", "folders/x")


@pytest.mark.parametrize(("status", "expected"), [(404, family.NotFound), (423, family.Locked),
                                                  (429, family.RateLimited), (507, family.NoSpace),
                                                  (418, family.ReplicaError)])
def test_a_code_this_client_does_not_know_falls_back_on_the_status(status: int, expected: type) -> None:
    client = client_for(lambda request: error("brand_new", status))
    with pytest.raises(expected) as caught:
        client.call("GET", "folders/x")
    assert isinstance(caught.value, expected)


@pytest.mark.parametrize("status", [502, 504])
def test_a_proxy_that_cannot_reach_the_server_is_unreachable(status: int) -> None:
    client = client_for(lambda request: httpx.Response(status, text="<html>Bad Gateway</html>"))
    with pytest.raises(family.Unreachable):
        client.call("GET", "info")


def test_retry_after_is_kept_on_a_rate_limit() -> None:
    client = client_for(lambda request: httpx.Response(429, headers={"Retry-After": "7"},
                                                       json={"error": {"code": "rate_limited", "message": "slow"}}))
    with pytest.raises(family.RateLimited) as caught:
        client.call("GET", "info")
    assert caught.value.retry_after  # type: ignore[attr-defined] == 7


# -- below HTTP --------------------------------------------------------------------------------------------------
def raising(exc: Exception) -> Callable[[httpx.Request], httpx.Response]:
    def handler(request: httpx.Request) -> httpx.Response:
        raise exc
    return handler


@pytest.mark.parametrize("exc", [httpx.ConnectError("refused"), httpx.ReadTimeout("slow"),
                                 httpx.RemoteProtocolError("cut"), httpx.ReadError("reset"),
                                 httpx.ConnectError("[SSL: WRONG_VERSION_NUMBER] wrong version number")])
def test_a_dropped_refused_or_slow_connection_is_unreachable(exc: Exception) -> None:
    with pytest.raises(family.Unreachable):
        client_for(raising(exc)).call("GET", "info")


def test_a_certificate_that_is_not_the_pinned_one_is_denied() -> None:
    cause = ssl.SSLCertVerificationError(1, "[SSL: CERTIFICATE_VERIFY_FAILED] self-signed certificate")
    exc = httpx.ConnectError("handshake failed")
    exc.__cause__ = cause
    pinned = Credentials(CREDS.url, CREDS.token, "-----BEGIN CERTIFICATE-----", "S1")
    with pytest.raises(family.Denied, match="syncline connect"):
        client_for(raising(exc), pinned).call("GET", "info")


def test_a_body_cut_short_while_streaming_is_unreachable() -> None:
    class Broken(httpx.SyncByteStream):
        def __iter__(self):  # type: ignore[no-untyped-def]
            yield b'{"seq": '
            raise httpx.ReadError("connection reset")

    client = client_for(lambda request: httpx.Response(200, stream=Broken()))
    with pytest.raises(family.Unreachable):
        client.call("GET", "folders/x")


# -- answers ------------------------------------------------------------------------------------------------------
def test_requests_carry_the_token_and_the_protocol_version() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json=INFO)

    client = client_for(handler)
    assert client.info().server_id == "S1" and client.info().chunker.min_file_size == 1 << 20
    assert len(seen) == 1, "info is read once"
    r = seen[0]
    assert str(r.url) == "https://box.example:8765/v1/info"
    assert r.headers["authorization"] == "Bearer slt_secret" and r.headers["syncline-protocol"] == "1.0"


def test_another_server_at_the_address_is_denied() -> None:
    client = client_for(lambda request: httpx.Response(200, json={**INFO, "server_id": "S2"}))
    with pytest.raises(family.Denied, match="not the one this device was connected to"):
        client.info()


@pytest.mark.parametrize("body", [b"not json", b'{"a": NaN}', b"\xff\xfe"])
def test_an_answer_that_is_not_json_is_refused(body: bytes) -> None:
    with pytest.raises(family.ReplicaError) as caught:
        client_for(lambda request: httpx.Response(200, content=body)).call("GET", "folders/x")
    assert code_of(caught.value) == "bad_response" and not caught.value.retryable


def test_an_answer_over_the_bound_is_refused() -> None:
    client = client_for(lambda request: httpx.Response(200, content=json.dumps(["x" * 100] * 100).encode()))
    with pytest.raises(family.ReplicaError, match="over 1000 bytes"):
        client.request("GET", "folders/x", limit=1000)


def test_a_pinned_context_trusts_only_its_certificate() -> None:
    assert ssl_context(None).check_hostname
    with pytest.raises(ssl.SSLError):
        ssl_context("not a certificate")
