"""The OpenAPI document: valid OpenAPI 3.1, and exactly the app's routes."""

from __future__ import annotations

import re
from pathlib import Path

import jsonschema_rs
from schemathesis.specs.openapi.definitions import OPENAPI_31
from starlette.routing import Route

from syncline.formats.wire.limits import MAX_MISSING_IDS, MAX_OPS

from .apphelp import make_world, run


def _document(tmp_path: Path) -> dict:  # type: ignore[type-arg]
    w = make_world(tmp_path)

    async def main() -> dict:  # type: ignore[type-arg]
        async with w.client(None) as c:
            r = await c.get("/v1/openapi.json")
        assert r.status_code == 200
        return dict(r.json())

    return run(main())


def test_the_document_is_valid_openapi_3_1(tmp_path: Path) -> None:
    doc = _document(tmp_path)
    validator = jsonschema_rs.Draft202012Validator(OPENAPI_31)
    errors = [e.message for e in validator.iter_errors(doc)]
    assert errors == []
    assert not validator.is_valid({**doc, "paths": {"/v1/x": {"get": {"responses": "nope"}}}})


def test_every_route_is_in_the_document_and_nothing_else(tmp_path: Path) -> None:
    w = make_world(tmp_path)
    # The web UI's page and its own routes (``/``, ``/ui/...``) are not protocol v1: docs/webui.md has them.
    served = {(route.path, method.lower()) for route in w.app.routes if isinstance(route, Route)
              and route.path != "/" and not route.path.startswith("/ui/")
              for method in (route.methods or ()) if method != "HEAD"}
    doc = _document(tmp_path / "2")
    documented = {(path, method) for path, ops in doc["paths"].items() for method in ops}
    assert served == documented
    for path, ops in doc["paths"].items():
        names = set(re.findall(r"{(\w+)}", path))
        for op in ops.values():
            assert {p["name"] for p in op.get("parameters", ()) if p["in"] == "path"} == names, path


def test_the_limits_are_in_the_document(tmp_path: Path) -> None:
    schemas = _document(tmp_path)["components"]["schemas"]
    assert schemas["MissingIds"]["properties"]["ids"]["maxItems"] == MAX_MISSING_IDS
    assert schemas["Ops"]["properties"]["items"]["maxItems"] == MAX_OPS
