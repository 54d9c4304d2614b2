"""The web UI's files and how ``/`` serves them: nothing from elsewhere, no inline script, the security
headers, caching by ETag, a size budget, and no way to reach a file outside the assets."""

from __future__ import annotations

import gzip
import re
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import pytest

from syncline.webui import SECURITY_HEADERS, load_assets

from .apphelp import make_world, run

ASSETS = load_assets()
BUDGET = 100_000  # bytes of JS and CSS a page loads, uncompressed: a cheap phone parses all of it on every visit
XML_NAMESPACES = ("http://www.w3.org/2000/svg", "http://sabredav.org/ns")  # names, not addresses


def get(tmp_path: Path, url: str, **headers: str) -> Any:
    world = make_world(tmp_path / str(len(list(tmp_path.iterdir()))))

    async def go() -> Any:
        async with world.client(None, **headers) as http:
            return await http.get(url)

    return run(go())


def test_the_assets_are_found() -> None:
    assert {"index.html", "app.css", "js/app.js", "js/api.js", "js/dom.js", "icon.svg"} <= set(ASSETS)


@pytest.mark.parametrize("name", sorted(ASSETS))
def test_no_asset_names_another_origin(name: str) -> None:
    text = ASSETS[name].body.decode("utf-8")
    for namespace in XML_NAMESPACES:
        text = text.replace(namespace, "")
    assert not re.search(r"(?i)\b(https?:)?//[a-z0-9.-]+\.[a-z]{2,}", text), f"{name} names another origin"
    assert "@import" not in text


def test_the_page_runs_no_inline_script_or_style() -> None:
    html = ASSETS["index.html"].body.decode()
    for tag in re.findall(r"<script\b[^>]*>", html):
        assert 'src="/ui/assets/' in tag, tag
    for body in re.findall(r"<script\b[^>]*>(.*?)</script>", html, re.S):
        assert not body.strip(), "a script element with a body"
    assert not re.search(r"\son[a-z]+\s*=", html), "an inline event handler"
    assert "<style" not in html and " style=" not in html


@pytest.mark.parametrize("name", sorted(n for n in ASSETS if n.endswith(".js")))
def test_scripts_never_parse_data_as_html(name: str) -> None:
    """Names users chose reach the page as text: none of the ways that parse a string as HTML or code."""
    text = ASSETS[name].body.decode()
    for banned in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function",
                   "setAttribute(\"style\"", "javascript:"):
        assert banned not in text, f"{name} uses {banned}"


def imports(name: str) -> list[str]:
    """The assets the module ``name`` imports, as asset names (``../api.js`` from ``js/device/app.js``:
    ``js/api.js``)."""
    text = ASSETS[name].body.decode()
    base = name.rsplit("/", 1)[0]
    found = []
    for target in re.findall(r"""^\s*(?:import|export)\b[^;'"]*from\s+["']([^"']+)["']""", text, re.M):
        assert target.startswith("./") or target.startswith("../"), target
        parts = base.split("/")
        for part in target.split("/"):
            if part == "..":
                parts.pop()
            elif part != ".":
                parts.append(part)
        found.append("/".join(parts))
    return found


@pytest.mark.parametrize("name", sorted(n for n in ASSETS if n.endswith(".js")))
def test_every_import_is_an_asset(name: str) -> None:
    for target in imports(name):
        assert target in ASSETS, f"{name} imports {target}, which is not an asset"


def page_files(page: str) -> set[str]:
    """The scripts and styles the page ``page`` loads: its stylesheets and module scripts, and every
    module they import."""
    html = ASSETS[page].body.decode()
    found = set(re.findall(r'<(?:script|link)\b[^>]*\b(?:src|href)="/ui/assets/([^"]+\.(?:js|css))"', html))
    todo = [n for n in found if n.endswith(".js")]
    while todo:
        for target in imports(todo.pop()):
            if target not in found:
                found.add(target)
                todo.append(target)
    return found


PAGES = sorted(n for n in ASSETS if n.endswith(".html"))


@pytest.mark.parametrize("page", PAGES)
def test_each_page_fits_the_budget(page: str) -> None:
    """Per page (the server's, the daemon's): what one visit makes a phone parse."""
    size = sum(len(ASSETS[n].body) for n in page_files(page))
    assert size < BUDGET, f"{page} loads {size} bytes of JS and CSS: over the {BUDGET} budget"


def test_every_script_and_style_is_counted_by_a_page() -> None:
    """No script or style escapes the budget: each is loaded by a page."""
    loaded = set().union(*(page_files(page) for page in PAGES))
    assert {n for n in ASSETS if n.endswith((".js", ".css"))} <= loaded


def test_the_page_has_the_security_headers(tmp_path: Path) -> None:
    r = get(tmp_path, "/")
    assert r.status_code == 200
    assert r.headers["content-type"] == "text/html; charset=utf-8"
    for name, value in SECURITY_HEADERS.items():
        assert r.headers[name] == value
    csp = r.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp and "unsafe" not in csp
    assert r.headers["cache-control"] == "no-cache"
    assert r.text == ASSETS["index.html"].body.decode()


def test_assets_are_cached_by_etag_and_sent_gzipped(tmp_path: Path) -> None:
    js = ASSETS["js/app.js"]
    r = get(tmp_path, "/ui/assets/js/app.js", **{"Accept-Encoding": "identity"})
    assert r.status_code == 200 and r.content == js.body and "content-encoding" not in r.headers
    assert r.headers["content-type"] == "text/javascript; charset=utf-8"
    assert r.headers["etag"] == js.etag and r.headers["x-content-type-options"] == "nosniff"
    again = get(tmp_path, "/ui/assets/js/app.js", **{"If-None-Match": js.etag})
    assert again.status_code == 304 and again.content == b""
    css = ASSETS["app.css"]
    assert css.gzipped is not None
    packed = get(tmp_path, "/ui/assets/app.css", **{"Accept-Encoding": "gzip"})
    assert packed.status_code == 200 and packed.content == css.body  # httpx undoes the gzip
    assert packed.headers["content-encoding"] == "gzip" and gzip.decompress(css.gzipped) == css.body


@pytest.mark.parametrize("url", ["/ui/assets/nothing.js", "/ui/assets/../../pyproject.toml",
                                 "/ui/assets/%2e%2e/%2e%2e/server/app/web.py", "/ui/assets/index.html",
                                 "/ui/assets//etc/passwd", "/ui/assets/js/../../__init__.py"])
def test_no_file_outside_the_assets(tmp_path: Path, url: str) -> None:
    r = get(tmp_path, url)
    assert r.status_code == 404
    assert r.json()["error"]["code"] == "not_found"


def test_only_reading_methods(tmp_path: Path) -> None:
    world = make_world(tmp_path)

    async def go() -> tuple[int, int, int]:
        async with world.client(None) as http:
            head = await http.head("/", headers={"Accept-Encoding": "identity"})
            post = await http.post("/", content=b"x")
            put = await http.put("/ui/assets/app.css", content=b"x")
            assert head.headers["content-length"] == str(len(ASSETS["index.html"].body))
            return head.status_code, post.status_code, put.status_code

    assert run(go()) == (200, 405, 405)


def test_a_built_wheel_carries_the_assets(tmp_path: Path) -> None:
    """A non-editable install gets the page too (package data, not only the source tree)."""
    root = Path(__file__).resolve().parents[2]
    done = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q",
                           "-w", str(tmp_path), str(root)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    wheel = next(tmp_path.glob("syncline-*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    for name in ASSETS:
        assert f"syncline/webui/static/{name}" in names
