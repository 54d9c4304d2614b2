"""The browser tests' harness: Debian's chromium driven by Playwright, headless, offline.

Fixtures: ``browser`` (one per test module), ``page`` (a fresh context at 1280x800 that refuses every request
to another host and fails the test on a script error or a console error, e.g. a Content-Security-Policy
violation), ``shoot`` (screenshots at 360 and 1280 px into ``test-artifacts/webui/``, with the overflow
check at 360 px). Playwright never downloads a browser here: ``SYNCLINE_CHROMIUM`` (default Debian's
``/usr/lib/chromium/chromium``) is launched. Without it the tests skip, unless ``SYNCLINE_REQUIRE_BROWSER=1``
or ``CI=true``, where they fail.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

CHROMIUM = os.environ.get("SYNCLINE_CHROMIUM", "/usr/lib/chromium/chromium")
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "webui"
TIMEOUT_MS = 60_000  # a busy machine may be slow; every wait is for a condition
WIDTHS = (360, 1280)
LOCAL_HOSTS = {"127.0.0.1", "localhost"}

# Whether anything sticks out sideways at this width: the page's own scroll width, and any element
# whose content is wider than its box and spills out (overflow visible).
OVERFLOW_JS = """() => {
  const root = document.documentElement;
  const out = [];
  if (root.scrollWidth > root.clientWidth) out.push(`page ${root.scrollWidth} > ${root.clientWidth}`);
  for (const el of document.body.querySelectorAll('*')) {
    if (el.closest('dialog:not([open])')) continue;
    const style = getComputedStyle(el);
    if (el.scrollWidth > el.clientWidth + 1 && style.overflowX === 'visible' && style.display !== 'inline'
        && el.clientWidth > 0) {
      const name = `${el.tagName.toLowerCase()}${el.id ? '#' + el.id : ''}.${el.className}`;
      out.push(`${name} ${el.scrollWidth} > ${el.clientWidth}`);
    }
  }
  return out;
}"""


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # One chromium at a time on the machine's cores: every browser test in one xdist group.
    for item in items:
        if "tests/browser/" in str(item.fspath):
            item.add_marker(pytest.mark.xdist_group("browser"))


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    # Per module, not per session: while Playwright's sync API runs, its event loop is the thread's
    # running loop, and any later test of this worker calling asyncio.run() would fail.
    if not os.access(CHROMIUM, os.X_OK):
        reason = f"no chromium at {CHROMIUM} (apt-get install chromium, or set SYNCLINE_CHROMIUM)"
        if os.environ.get("SYNCLINE_REQUIRE_BROWSER") == "1" or os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, headless=True,
                                              args=["--disable-gpu", "--no-sandbox"] if os.geteuid() == 0 else [])
        try:
            yield launched
        finally:
            launched.close()


class Watch:
    """What a page did that a test must not let pass: requests to other hosts, script errors."""

    def __init__(self) -> None:
        self.foreign: list[str] = []
        self.errors: list[str] = []
        # Console errors a test provokes on purpose; every test: the browser's note of a 4xx answer, which
        # the page handles (a 401 before login, a 412 that asks "replace?"): the tests check the outcome.
        self.allowed: list[re.Pattern[str]] = [re.compile(r"^Failed to load resource: the server responded")]

    def console(self, message: Any) -> None:
        if message.type == "error" and not any(p.search(message.text) for p in self.allowed):
            self.errors.append(message.text)


@pytest.fixture
def watch() -> Watch:
    return Watch()


@pytest.fixture
def page(browser: Any, watch: Watch) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1280, "height": 800}, accept_downloads=True)
    context.set_default_timeout(TIMEOUT_MS)

    def guard(route: Any) -> None:
        host = urlsplit(route.request.url).hostname or ""
        if route.request.url.startswith(("data:", "blob:")) or host in LOCAL_HOSTS:
            route.continue_()
        else:
            watch.foreign.append(route.request.url)
            route.abort()

    context.route("**/*", guard)
    opened = context.new_page()
    opened.on("console", watch.console)
    opened.on("pageerror", lambda exc: watch.errors.append(f"uncaught: {exc}"))
    try:
        yield opened
    finally:
        context.close()
    assert not watch.foreign, f"the page asked another host: {watch.foreign}"
    assert not watch.errors, f"the page logged errors: {watch.errors}"


def overflow(page: Any) -> list[str]:
    """What sticks out sideways on the page as it is now (empty: nothing)."""
    return list(page.evaluate(OVERFLOW_JS))


@pytest.fixture
def shoot(page: Any, request: pytest.FixtureRequest) -> Callable[[str], None]:
    """``shoot(name)``: screenshots of the page at 360 and 1280 px wide, checking at 360 px that nothing
    overflows the viewport; the page is left at 1280 px."""

    def take(name: str) -> None:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        for width in WIDTHS:
            page.set_viewport_size({"width": width, "height": 800})
            page.wait_for_function(f"() => window.innerWidth === {width}")
            if width == 360:
                assert overflow(page) == [], f"{name}: wider than a 360 px phone"
            page.screenshot(path=str(ARTIFACTS / f"{request.node.name}-{name}-{width}.png"), full_page=True)
        page.set_viewport_size({"width": 1280, "height": 800})

    return take
