"""The device's page in a real browser (Debian's chromium, headless) against a real ``syncline serve``
and a real ``syncline daemon`` process on 127.0.0.1, opened as ``syncline ui --print`` gives it: the
settings add a folder (the config file keeps every comment, the daemon syncs the folder to the server),
pause and resume, refuse a save over a hand edit (409, file unchanged), connect the device to a server;
every control labelled and reached by Tab; screenshots of the status and the settings."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from syncline.engine.replicas.remote import load_credentials
from syncline.services.daemon import connect as c
from syncline.services.daemon.account import connected, ensure_folder

from ..daemonserver import DEADLINE, PASSWORD, USER, Server, serving, wait_for
from .webhelp import assert_labelled, assert_thumb_sized, dav, tab_walk

Shoot = Callable[[str], None]

CONFIG = """\
# my laptop's syncline settings: keep this comment
[server]
url = "{url}"  # the house server

[defaults]
# a full comparison now and then
check_every = "1h"

# the documents, synced since spring
[[folder]]
local = "{home}/docs"  # my documents
remote = "docs"
"""


@dataclass
class Device:
    """A ``syncline daemon`` process with its HOME, config and state, and the page's URL."""

    base: Path
    server: Server
    proc: subprocess.Popen[bytes]
    url: str

    @property
    def home(self) -> Path:
        return self.base / "home"

    @property
    def config(self) -> Path:
        return self.base / "daemon.toml"

    @property
    def state(self) -> Path:
        return self.base / "state"


def _env(base: Path) -> dict[str, str]:
    return {**os.environ, "SYNCLINE_STATE_DIR": str(base / "state"), "HOME": str(base / "home")}


@pytest.fixture
def device(tmp_path: Path) -> Iterator[Device]:
    base = tmp_path / "laptop"
    (base / "home" / "docs").mkdir(parents=True)
    (base / "home" / "photos").mkdir()
    (base / "home" / "photos" / "beach.txt").write_text("sand and sea\n")
    with serving(tmp_path / "data") as server:
        meeting = c.meet(server.url)
        c.save(base / "state", c.log_in(meeting, USER, PASSWORD, "laptop", None))
        with connected(base / "state", meeting.url) as client:
            ensure_folder(client, "docs", create=True)
        (base / "daemon.toml").write_text(CONFIG.format(url=meeting.url, home=base / "home"), encoding="utf-8")
        with (base / "daemon.log").open("ab") as log:
            proc = subprocess.Popen([sys.executable, "-m", "syncline", "daemon", "--json", "--config",
                                     str(base / "daemon.toml"), "--state", str(base / "state")],
                                    stdout=log, stderr=log, env=_env(base))
        try:
            ui = base / "state" / "daemon" / "ui.json"
            wait_for(lambda: ui.exists() and ui.stat().st_size > 0)
            done = subprocess.run([sys.executable, "-m", "syncline", "ui", "--print", "--state", str(base / "state")],
                                  capture_output=True, text=True, timeout=DEADLINE, env=_env(base))
            assert done.returncode == 0, done.stderr
            yield Device(base, server, proc, done.stdout.strip())
        finally:
            proc.terminate()
            proc.wait(DEADLINE)


def open_settings(page: Any, device: Device) -> None:
    page.goto(device.url)
    page.get_by_role("heading", name="This device").wait_for()
    page.get_by_role("button", name="Settings").click()
    page.get_by_role("heading", name="Settings").wait_for()
    page.get_by_label("Check every").wait_for()


def applied(page: Any, what: str) -> None:
    page.locator("#settings-applied", has_text=re.compile("^" + re.escape(what) + ".*: applied")).wait_for()


def comments(text: str) -> list[str]:
    return [line[line.index("#"):] for line in text.splitlines() if "#" in line]


def test_add_a_folder_keeps_the_comments_and_the_daemon_syncs_it(page: Any, device: Device, shoot: Shoot) -> None:
    before = device.config.read_text(encoding="utf-8")
    open_settings(page, device)
    page.get_by_role("button", name="Add a folder…").click()
    dialog = page.get_by_role("dialog", name="Add a folder")
    dialog.get_by_role("button", name="Open photos").click()
    dialog.locator("#pick-where", has_text="photos").wait_for()
    assert dialog.get_by_label("Folder on the server").input_value() == "photos"
    assert dialog.get_by_label("Make it on the server if it is not there").is_checked()
    shoot("add-folder")
    dialog.get_by_role("button", name="Add this folder").click()
    applied(page, "Added")

    after = device.config.read_text(encoding="utf-8")
    assert comments(after) == comments(before), "a comment of the file was lost or moved"
    assert after.startswith(before), "the page changed the file above the new folder"
    assert re.search(r'\[\[folder\]\]\nlocal = ".*/home/photos"\nremote = "photos"\n', after[len(before):])
    page.get_by_role("group", name=f"Folder {device.home}/photos").wait_for()

    # The daemon syncs it: the file is on the server.
    with dav(device.server) as http:
        def arrived() -> bool:
            r = http.get("photos/beach.txt")
            return r.status_code == 200 and r.text == "sand and sea\n"
        wait_for(arrived, 180.0)


def test_remove_a_folder_asks_and_leaves_its_files(page: Any, device: Device) -> None:
    (device.home / "docs" / "letter.txt").write_text("dear anna\n")
    open_settings(page, device)
    remove = page.get_by_role("button", name=f"Remove the folder {device.home}/docs")
    remove.click()
    ask = page.get_by_role("dialog", name="Remove this folder?")
    assert "files stay" in ask.inner_text()
    ask.get_by_role("button", name="Cancel").click()
    assert "[[folder]]" in device.config.read_text(encoding="utf-8")
    remove.click()
    page.get_by_role("dialog", name="Remove this folder?").get_by_role("button", name="Remove").click()
    applied(page, "Removed")
    text = device.config.read_text(encoding="utf-8")
    assert "[[folder]]" not in text and text.startswith("# my laptop's syncline settings: keep this comment\n")
    assert 'check_every = "1h"' in text and "# the house server" in text
    page.get_by_text("No folders yet.").wait_for()
    assert (device.home / "docs" / "letter.txt").read_text() == "dear anna\n"


def test_pause_and_resume_from_the_settings(page: Any, device: Device) -> None:
    open_settings(page, device)
    paused = page.get_by_label("Paused (nothing of docs is synced)")
    paused.check()
    page.get_by_role("button", name="Save").click()
    applied(page, "Settings")
    text = device.config.read_text(encoding="utf-8")
    assert 'local = "' in text and "paused = true" in text
    assert comments(text) == comments(CONFIG)
    page.get_by_role("button", name="Status").click()
    page.locator(".folder .state", has_text="Paused").wait_for()

    page.get_by_role("button", name="Settings").click()
    page.get_by_label("Paused (nothing of docs is synced)").uncheck()
    page.get_by_role("button", name="Save").click()
    applied(page, "Settings")
    assert "paused" not in device.config.read_text(encoding="utf-8")
    page.get_by_role("button", name="Status").click()
    page.locator(".folder .state", has_text=re.compile("In sync|Syncing|Starting")).wait_for()


def test_a_hand_edit_between_load_and_save_is_never_overwritten(page: Any, device: Device) -> None:
    open_settings(page, device)
    hand = device.config.read_text(encoding="utf-8") + "# added by hand while the page was open\n"
    device.config.write_text(hand, encoding="utf-8")
    page.get_by_label("Check every").fill("30m")
    page.get_by_role("button", name="Save").click()
    page.locator("#settings-problem", has_text="The file changed since you opened it").wait_for()
    assert device.config.read_text(encoding="utf-8") == hand

    page.get_by_role("button", name="Reload the settings").click()
    page.locator("#toast", has_text="Settings read again from the file").wait_for()  # the form drawn anew
    page.get_by_label("Check every").fill("30m")
    page.get_by_label("Most files deleted in one run").fill("20")
    page.get_by_label("Where shared folders go").fill(str(device.home / "Shared"))
    page.get_by_role("button", name="Save").click()
    applied(page, "Settings")
    text = device.config.read_text(encoding="utf-8")
    assert 'check_every = "30m"' in text and text.endswith("# added by hand while the page was open\n")
    assert "max_delete = 20\n" in text and f'[shares]\ndir = "{device.home}/Shared"' in text


def test_a_refused_value_shows_the_daemons_line(page: Any, device: Device) -> None:
    open_settings(page, device)
    before = device.config.read_bytes()
    page.get_by_label("Upload limit").fill("fast please")
    page.get_by_role("button", name="Save").click()
    problem = page.locator("#settings-problem", has_text="max_upload_rate")
    problem.wait_for()
    assert "\n" not in problem.inner_text().strip()
    assert device.config.read_bytes() == before


def test_connect_from_the_page_never_echoes_the_password(page: Any, device: Device, watch: Any) -> None:
    sent: list[str] = []
    page.on("response", lambda r: sent.append(r.text()) if "/api/connect/" in r.url else None)
    old = load_credentials(device.state, device.server.url)
    assert old is not None
    open_settings(page, device)
    page.locator("#con-who", has_text=f"Logged in as {USER}").wait_for()  # asked of the server now
    page.get_by_text("Connect again, or to another server").click()
    page.get_by_role("button", name="Check the server").click()
    page.get_by_label("User name").fill(USER)
    page.get_by_label("Password").fill("not the password")
    page.get_by_role("button", name="Log in").click()
    page.get_by_role("alert").filter(has_text="wrong user name or password").wait_for()
    assert page.get_by_label("Password").input_value() == ""

    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.locator("#toast", has_text=f"as {USER}").wait_for()
    new = wait_for(lambda: (cred := load_credentials(device.state, device.server.url)) and
                   cred.token != old.token and cred)
    assert all(PASSWORD not in body and new.token not in body and "not the password" not in body for body in sent)
    r = httpx.get(f"{device.server.url}/v1/whoami", headers={"Authorization": f"Bearer {new.token}"}, timeout=DEADLINE)
    assert r.status_code == 200
    page.locator("#con-who", has_text=f"this device is {r.json()['device']} on the server").wait_for()
    # The token revoked elsewhere: the card says so the next time it is drawn, with what to do.
    httpx.delete(f"{device.server.url}/v1/devices/{r.json()['device_id']}",
                 headers={"Authorization": f"Bearer {new.token}"}, timeout=DEADLINE).raise_for_status()
    page.get_by_role("button", name="Status").click()
    page.get_by_role("button", name="Settings").click()
    page.locator("#con-who", has_text="no longer works").wait_for()


def test_every_control_labelled_reached_by_tab_and_fits_a_phone(page: Any, device: Device, shoot: Shoot) -> None:
    page.goto(device.url)
    page.get_by_role("heading", name="This device").wait_for()
    page.locator(".folder .state", has_text=re.compile("In sync|Syncing|Starting")).wait_for()
    shoot("status")
    assert_labelled(page)
    assert_thumb_sized(page)
    page.get_by_role("button", name="Settings").click()
    page.get_by_label("Check every").wait_for()
    page.get_by_text("Connect again, or to another server").click()  # the login form, folded when logged in
    shoot("settings")
    assert_labelled(page)
    assert_thumb_sized(page)
    reached = tab_walk(page, limit=120)
    for name in ("Status", "Settings", "Server address", "Check the server", "Paused (nothing of docs is synced)",
                 "Ignore patterns of docs", "Add a folder…", "Ignore patterns (every folder)", "Check every",
                 "Most files deleted in one run", "Upload limit", "Download limit",
                 "Make a file locked by someone else read-only here", "Folders shared with you",
                 "Where shared folders go", "Save"):
        assert any(name in r for r in reached), f"Tab never reaches {name!r}: {reached}"
    assert any(r.startswith("Remove the folder") for r in reached)

    # The folder picker by keyboard: focus goes in, Enter opens a folder, Escape cancels, focus comes back.
    before = device.config.read_bytes()
    page.get_by_role("button", name="Add a folder…").focus()
    page.keyboard.press("Enter")
    dialog = page.get_by_role("dialog", name="Add a folder")
    dialog.get_by_role("button", name="Open photos").wait_for()
    page.wait_for_function("() => document.activeElement.closest('dialog') !== null")
    assert_labelled(page)
    assert_thumb_sized(page)
    assert page.evaluate("() => document.activeElement.getAttribute('aria-label')") == "Open docs"
    page.keyboard.press("Enter")
    dialog.locator("#pick-where", has_text="/home/docs").wait_for()
    page.keyboard.press("Escape")
    dialog.wait_for(state="detached")
    assert page.evaluate("() => document.activeElement.textContent") == "Add a folder…"
    assert device.config.read_bytes() == before
