"""The conflicts view of the device's page in a real browser (Debian's chromium, headless): a real
``syncline serve`` and two devices make a conflict; the page of one lists it with both versions, opens
them, shows the diff, and "keep the conflict copy" settles it on both devices. A picture conflict made on
one device is shown side by side; a copy changed after the page showed it is refused and shown again."""

from __future__ import annotations

import json
import re
import struct
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

from syncline.core.conflicts import conflict_name
from syncline.services.daemon.conflicts import list_conflicts

from ..daemonserver import Device, make_conflict, two_devices, wait_for
from .webhelp import assert_labelled, assert_thumb_sized, tab_walk

Shoot = Callable[[str], None]
LAPTOP, DESK = b"the laptop's plan\nline two\n", b"the desk's plan\nline two\n"

SYNC_S = 180.0  # two daemons agreeing through a server on a machine loaded by a whole CI run


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file() and ".syncline" not in p.parts}


def _png(rgb: tuple[int, int, int], size: int = 24) -> bytes:
    """A small PNG of one colour (a real picture the browser decodes)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    rows = b"".join(b"\0" + bytes(rgb) * size for _ in range(size))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", size, size, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))


def _settled(device: Device) -> bool:
    """the device holds plan.txt and one conflict copy, and is in sync"""
    return len(_files(device.local)) == 2 and len(list_conflicts(device.local)) == 1 and device.state_of() == "in sync"


def _open_page(page: Any, device: Device) -> None:
    ui = json.loads(wait_for(lambda: (device.state / "daemon" / "ui.json").read_text()))
    page.goto(f"http://127.0.0.1:{ui['port']}/#{ui['token']}")
    page.get_by_role("heading", name="This device").wait_for()


def test_a_conflict_of_two_devices_is_settled_from_the_page(page: Any, shoot: Shoot, tmp_path: Path) -> None:
    with two_devices(tmp_path, "Shared") as (_, a, b):
        make_conflict(a, b, "plan.txt", b"first\n", LAPTOP, DESK, SYNC_S)
        wait_for(lambda: _settled(a) and _settled(b), SYNC_S, describe=lambda: (_files(a.local), _files(b.local)))
        (conflict,) = list_conflicts(a.local)
        current, copy = (a.local / "plan.txt").read_bytes(), (a.local / conflict.path).read_bytes()
        assert {current, copy} == {LAPTOP, DESK}

        _open_page(page, a)
        keep_copy = page.get_by_role("button", name="Keep the conflict copy as plan.txt")
        keep_copy.wait_for()
        page.get_by_role("heading", name="Conflicts (1)").wait_for()
        card = page.locator(".conflict")
        assert conflict.path in card.inner_text() and f"made by {conflict.device}" in card.inner_text()
        diff = card.locator(".diff pre")
        diff.wait_for()
        lines = diff.inner_text().splitlines()
        assert "-" + current.decode().splitlines()[0] in lines and "+" + copy.decode().splitlines()[0] in lines
        # Open both versions: each link gives that version's bytes.
        for label, data in (("Open the current plan.txt", current),
                            ("Open the conflict copy of plan.txt", copy)):
            with page.expect_download() as got:
                page.get_by_role("link", name=label).click()
            assert Path(got.value.path()).read_bytes() == data
        assert_labelled(page)
        assert_thumb_sized(page)
        names = tab_walk(page)
        for name in ("Open the current plan.txt", "Keep the current plan.txt; the conflict copy goes to the trash",
                     "Keep the conflict copy as plan.txt; the current file goes to the trash"):
            assert name in names, names
        shoot("conflict")

        keep_copy.click()
        page.locator("#toast", has_text="The conflict copy is now plan.txt.").wait_for()
        page.get_by_text("No conflicts: every file has one version.").wait_for()
        for device in (a, b):
            wait_for(lambda d=device: _files(d.local) == {"plan.txt": copy}  # type: ignore[misc]
                     and list_conflicts(d.local) == [], SYNC_S,
                     describe=lambda d=device: _files(d.local))  # type: ignore[misc]

        # A picture conflict, made on the laptop: both pictures side by side.
        red, blue = _png((200, 30, 30)), _png((30, 30, 200))
        photo_copy = conflict_name("photo.png", 1_700_000_000 * 10**9, "desk")
        (a.local / photo_copy).write_bytes(blue)
        (a.local / "photo.png").write_bytes(red)
        card = page.locator(".conflict", has_text="photo.png")
        card.wait_for()
        pictures = card.get_by_role("img")
        wait_for(lambda: pictures.count() == 2 and all(
            pictures.nth(i).evaluate("(img) => img.complete && img.naturalWidth === 24") for i in range(2)))
        shoot("pictures")
        # Changed after the page showed it: refused, nothing changed, shown again as it is now.
        (a.local / photo_copy).write_bytes(blue + b"more")
        page.get_by_role("button", name=re.compile("^Keep both")).click()
        page.locator("#toast", has_text="Not done").wait_for()
        assert (a.local / photo_copy).read_bytes() == blue + b"more" and (a.local / "photo.png").read_bytes() == red
        card.get_by_text(f"{len(blue) + 4} B").wait_for()
        page.get_by_role("button", name=re.compile("^Keep both")).click()
        page.locator("#toast", has_text="Kept both").wait_for()
        wait_for(lambda: sorted(_files(a.local)) == ["photo (conflict 2023-11-14 2213).png", "photo.png",
                                                      "plan.txt"], describe=lambda: _files(a.local))
