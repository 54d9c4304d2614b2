"""Schemathesis over ``/v1/openapi.json``: requests generated from the document, valid and invalid, never
get a 5xx. Bounded: a few examples per operation and mode, no deadline per example (a busy machine)."""

from __future__ import annotations

from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode

from .apphelp import make_world, put_file, run

EXAMPLES = 12
# The event stream never ends by itself (it is tested on its own, test_app_events.py).
SKIP = {("GET", "/v1/events")}


@schemathesis.serializer("application/x-syncline-pack")
def _pack_bytes(ctx: object, value: object) -> bytes:
    """A generated pack body as it is: bytes (text encoded), mostly not a pack at all."""
    return value if isinstance(value, bytes) else str(value).encode("utf-8", "surrogatepass")


@pytest.mark.slow
@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE], ids=lambda m: m.value)
def test_no_request_from_the_document_gets_a_server_error(tmp_path: Path, mode: GenerationMode) -> None:
    w = make_world(tmp_path)

    async def setup() -> None:
        async with w.client() as c:
            await c.put("/v1/folders/0")  # the name a generator tries first: deeper paths get exercised
            await put_file(c, "0", "0", b"0")

    run(setup())
    schema = schemathesis.openapi.from_asgi("/v1/openapi.json", w.app)
    auth = {"Authorization": f"Bearer {w.tokens['anna']}"}
    failures: list[str] = []
    tried = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        if (operation.method.upper(), operation.path) in SKIP:
            continue
        if operation.path in ("/v1/logout", "/v1/devices/{id}"):
            continue  # they would revoke the fuzzer's own token (each is tested on its own)

        @given(case=operation.as_strategy(generation_mode=mode, headers=auth))
        @settings(max_examples=EXAMPLES, deadline=None, database=None, suppress_health_check=list(HealthCheck))
        def check(case: schemathesis.Case) -> None:
            nonlocal tried
            tried += 1
            response = case.call()
            if response.status_code >= 500:
                failures.append(f"{case.method} {case.formatted_path}: {response.status_code} {response.text[:200]}")

        try:
            check()
        except Unsatisfiable:  # no invalid request can be made of it (no parameters, no body)
            assert mode is GenerationMode.NEGATIVE, operation.label
    assert tried > 100
    assert failures == []
