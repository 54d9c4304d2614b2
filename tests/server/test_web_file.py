"""``/ui/folders/NAME/file``: a file for the browser is always saved, never run as a page of the site."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from .apphelp import make_world, put_file, run

HTML = b"<html><script>document.title = document.cookie</script></html>"


def fetch(tmp_path: Path, path: str, data: bytes, user: str = "anna", **params: str) -> Any:
    world = make_world(tmp_path)

    async def go() -> Any:
        async with world.client("anna") as http:
            assert (await http.put("/v1/folders/Docs")).status_code == 201
            assert (await put_file(http, "Docs", path, data))["done"]
        async with world.client(user) as http:
            return await http.get("/ui/folders/Docs/file", params={"path": path, **params})

    return run(go())


def test_a_page_is_an_attachment_in_a_sandbox(tmp_path: Path) -> None:
    r = fetch(tmp_path, "é x.html", HTML)
    assert r.status_code == 200 and r.content == HTML
    assert r.headers["content-disposition"] == "attachment; filename*=UTF-8''%C3%A9%20x.html"
    assert r.headers["content-type"] == "application/octet-stream"
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["content-security-policy"].startswith("sandbox;")


def test_a_picture_may_be_shown_inline(tmp_path: Path) -> None:
    r = fetch(tmp_path, "ph oto.PNG", b"\x89PNG\r\n\x1a\n", inline="1")
    assert r.headers["content-disposition"] == "inline; filename*=UTF-8''ph%20oto.PNG"
    assert r.headers["content-type"] == "image/png"
    assert r.headers["content-security-policy"].startswith("sandbox;")


@pytest.mark.parametrize("name", ["x.svg", "x.html", "x.js", "noext"])
def test_nothing_else_is_shown_inline(tmp_path: Path, name: str) -> None:
    r = fetch(tmp_path, name, b"<svg onload=alert(1)>", inline="1")
    assert r.headers["content-disposition"].startswith("attachment;")
    assert r.headers["content-type"] == "application/octet-stream"


def test_the_rights_are_the_downloads(tmp_path: Path) -> None:
    """bob may not read anna's folder: the same answer as the native download, and no bytes."""
    r = fetch(tmp_path, "a.txt", b"secret", user="bob")
    assert r.status_code == 404 and b"secret" not in r.content
    assert "content-disposition" not in r.headers


def test_no_token_no_file(tmp_path: Path) -> None:
    world = make_world(tmp_path)

    async def go() -> Any:
        async with world.client(None) as http:
            return await http.get("/ui/folders/Docs/file", params={"path": "a.txt"})

    assert run(go()).status_code == 401
