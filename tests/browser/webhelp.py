"""Helpers of the browser tests: a real ``syncline serve`` with users, logging in through the page, and
the checks every page gets (labels, keyboard, overflow)."""

from __future__ import annotations

from typing import Any

import httpx

from ..daemonserver import DEADLINE, PASSWORD, USER, Server

BOB, BOB_PASSWORD = "bob", "bob-long-enough-password"

# Every control a keyboard can reach, with the name a screen reader would say (empty: none).
CONTROLS_JS = """() => [...document.querySelectorAll(
    'a[href], button, input, select, textarea, [tabindex]:not([tabindex="-1"])')]
  .filter((el) => !el.closest('[hidden]') && !el.disabled && el.getClientRects().length)
  .map((el) => {
    const labelled = el.getAttribute('aria-labelledby');
    const name = el.getAttribute('aria-label')
      || (labelled ? labelled.split(' ').map((id) => document.getElementById(id)?.textContent || '').join(' ') : '')
      || [...(el.labels || [])].map((l) => l.textContent).join(' ')
      || el.textContent || el.getAttribute('title') || el.getAttribute('alt') || '';
    return {tag: el.tagName.toLowerCase(), name: name.trim(), hidden: el.classList.contains('visually-hidden')};
  })"""


def log_in(page: Any, server: Server, user: str = USER, password: str = PASSWORD) -> None:
    """Opens the server's page and logs in through its form."""
    page.goto(server.url + "/")
    page.get_by_label("User name").fill(user)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()
    page.get_by_role("button", name="Log out").wait_for()


def controls(page: Any) -> list[dict[str, Any]]:
    return list(page.evaluate(CONTROLS_JS))


def assert_labelled(page: Any) -> None:
    """Every control on the page has a name."""
    unnamed = [c for c in controls(page) if not c["name"]]
    assert not unnamed, f"controls without a name: {unnamed}"


def tab_walk(page: Any, limit: int = 80) -> list[str]:
    """The names of the elements Tab reaches, in order, from the top of the page."""
    page.evaluate("() => { document.activeElement && document.activeElement.blur(); window.scrollTo(0, 0); }")
    seen: list[str] = []
    for _ in range(limit):
        page.keyboard.press("Tab")
        here = page.evaluate("""() => { const el = document.activeElement;
            if (!el || el === document.body) return '';
            return (el.getAttribute('aria-label') || [...(el.labels || [])].map((l) => l.textContent).join(' ')
                    || el.textContent || '').trim(); }""")
        if seen and here == seen[0]:
            break
        seen.append(here)
    return seen


def token_of(server: Server, user: str = USER, password: str = PASSWORD, device: str = "test") -> str:
    with httpx.Client(base_url=server.url, verify=False, timeout=DEADLINE) as http:
        r = http.post("/v1/login", json={"user": user, "password": password, "device": device})
        assert r.status_code == 200, r.text
        return str(r.json()["token"])


def dav(server: Server, user: str = USER, password: str = PASSWORD) -> httpx.Client:
    """A WebDAV client of ``user``'s files (``/remote.php/dav/files/USER/``)."""
    return httpx.Client(base_url=f"{server.url}/remote.php/dav/files/{user}/", auth=(user, password), verify=False,
                        timeout=DEADLINE)


# Every control a finger may aim at, with its size in CSS pixels: a check box or radio button with its
# labels (a tap on either works); links inside running text are exempt (WCAG 2.5.8's "inline" exception:
# their size is the sentence's).
TARGETS_JS = """() => [...document.querySelectorAll(
    'a[href], button, input:not(.visually-hidden), select, textarea, label.button')]
  .filter((el) => !el.closest('[hidden]') && !el.disabled && el.getClientRects().length
                  && !(el.tagName === 'A' && el.closest('p')))
  .map((el) => {
    const boxes = [el, ...(['checkbox', 'radio'].includes(el.type) ? el.labels : [])]
      .map((e) => e.getBoundingClientRect());
    const width = Math.max(...boxes.map((b) => b.right)) - Math.min(...boxes.map((b) => b.left));
    const height = Math.max(...boxes.map((b) => b.bottom)) - Math.min(...boxes.map((b) => b.top));
    return {name: (el.getAttribute('aria-label') || el.textContent || el.id || el.tagName).trim(),
            width: Math.round(width), height: Math.round(height)}; })"""


def small_targets(page: Any, least: int = 44) -> list[dict[str, Any]]:
    """The controls on the page smaller than ``least`` CSS pixels either way (44: the touch size of
    Apple's and the page's own ``--touch``)."""
    return [t for t in page.evaluate(TARGETS_JS) if t["width"] < least or t["height"] < least]


def assert_thumb_sized(page: Any) -> None:
    """At a phone's 360 px every control is at least 44 px either way (the page is left at 1280 px)."""
    page.set_viewport_size({"width": 360, "height": 800})
    small = small_targets(page)
    page.set_viewport_size({"width": 1280, "height": 800})
    assert small == [], f"controls too small for a thumb: {small}"
