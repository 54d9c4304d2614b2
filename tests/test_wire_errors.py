"""The error table and body of protocol.md section 12."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from syncline.formats.wire import CODES, WireError, error_body, error_of_body, family_of
from syncline.formats.wire.limits import LIMITS

PROTOCOL = Path(__file__).resolve().parents[1] / "docs" / "protocol.md"


def _protocol_table() -> dict[str, tuple[int, str]]:
    """code -> (status, family) as the protocol's section 12 table writes them."""
    out: dict[str, tuple[int, str]] = {}
    for line in PROTOCOL.read_text().splitlines():
        m = re.match(r"\| (`[a-z_]+`(?:, `[a-z_]+`)*) \| (\d+)[^|]*\| ([^|]*) \|", line)
        if m:
            family = re.sub(r"[`()]", "", m.group(3)).split()[0]
            for code in re.findall(r"`([a-z_]+)`", m.group(1)):
                out[code] = (int(m.group(2)), family)
    return out


def test_every_protocol_code_is_in_the_table_with_its_status() -> None:
    table = _protocol_table()
    assert len(table) >= 25
    for code, (status, family) in table.items():
        assert code in CODES, code
        assert CODES[code].status == status, code
        if family != "handled":
            assert CODES[code].family == family, code
    assert set(CODES) == set(table)


def test_body_round_trips() -> None:
    err = WireError("missing_chunks", "2 chunks are gone", "upload them again", {"missing": ["ab" * 32]})
    body = json.loads(json.dumps(error_body(err)))
    assert body == {"error": {"code": "missing_chunks", "message": "2 chunks are gone", "hint": "upload them again",
                              "retryable": True, "details": {"missing": ["ab" * 32]}}}
    assert error_of_body(body, 409) == err


def test_unknown_code_is_refused_when_raised() -> None:
    with pytest.raises(ValueError):
        WireError("nope", "x")


@pytest.mark.parametrize("body", [None, [], "x", {"error": 3}, {"err": {}}, {"error": []}])
def test_a_body_that_is_not_an_error_is_a_bad_response(body: object) -> None:
    err = error_of_body(body, 500)
    assert err.code == "bad_response"
    assert err.details["status"] == 500


def test_an_unknown_code_maps_by_status() -> None:
    err = error_of_body({"error": {"code": "frozen", "message": "m" * 5000, "hint": 3}}, 423)
    assert err.code == "bad_response" and err.details["code"] == "frozen"
    assert len(err.message) < 1100 and err.hint == ""
    assert family_of("frozen", 423) == "Locked"
    assert family_of("frozen", 418) == "ReplicaError"
    assert family_of("", 502) == family_of("", 504) == "Unreachable"  # a proxy in front of a server that is down
    assert family_of("no_space", 200) == "NoSpace"


def test_retryable_follows_the_table() -> None:
    assert WireError("truncated", "x").retryable
    assert not WireError("bad_pack", "x").retryable
    assert WireError("not_found", "x").status == 404


def test_limits_are_positive_ints() -> None:
    assert LIMITS["ops"] == 1000 and LIMITS["chunk"] == 1 << 20
    assert all(isinstance(v, int) and v > 0 for v in LIMITS.values())


def test_exported_members() -> None:
    import syncline.formats.wire as wire

    assert len(set(wire.__all__)) == len(wire.__all__)  # the order is ruff's (RUF022)
    assert all(hasattr(wire, name) for name in wire.__all__)
    public = {n for n, v in vars(wire).items() if not n.startswith("_") and not isinstance(v, type(wire))}
    assert public - {"annotations"} == set(wire.__all__)
