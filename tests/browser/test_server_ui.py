"""The server's web UI in a real browser (Debian's chromium, headless) against a real ``syncline serve``
and real daemons on 127.0.0.1: the scenarios of issue 16 and the risks of webui-plan.md section 14."""

from __future__ import annotations

import os
import random
import re
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from ..daemonserver import DEADLINE, PASSWORD, Device, Server, serving, syncline, wait_for
from .conftest import TIMEOUT_MS, Watch, overflow
from .webhelp import (
    BOB,
    BOB_PASSWORD,
    assert_labelled,
    assert_thumb_sized,
    dav,
    log_in,
    small_targets,
    tab_walk,
    token_of,
)

Shoot = Callable[[str], None]


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    with serving(tmp_path / "data") as s:
        yield s


def toast(page: Any, text: str) -> None:
    """Waits for the page's message ``text`` (the toast; the live region says it too)."""
    page.locator("#toast", has_text=text).wait_for()


def _in_sync(device: Device) -> bool:
    status = device.status()
    return status is not None and status["state"] == "in sync"


def _bound(tmp_path: Path, server: Server, name: str = "anna-laptop") -> Device:
    device = Device(tmp_path / name, server, "Docs", name)
    device.start()
    wait_for(lambda: _in_sync(device), describe=device.status)
    return device


def test_log_in_keyboard_and_a_wrong_password(page: Any, server: Server, shoot: Shoot, watch: Watch) -> None:
    page.goto(server.url + "/")
    page.get_by_label("User name").wait_for()
    shoot("login")
    assert_labelled(page)
    # By keyboard alone: the fields by Tab, Enter submits.
    page.get_by_label("User name").focus()
    page.keyboard.type("anna")
    page.keyboard.press("Tab")
    page.keyboard.type("not the password")
    page.keyboard.press("Enter")
    alert = page.get_by_role("alert")
    alert.filter(has_text=re.compile(r"\S")).wait_for()
    assert "user name or password" in alert.inner_text().lower() or "password" in alert.inner_text().lower()
    page.get_by_label("Password").fill("a-long-enough-password")
    page.get_by_label("Password").press("Enter")
    page.get_by_role("heading", name="Your folders").wait_for()
    shoot("folders-empty")
    # A top-level folder made from the page (its name checked first), then opened.
    page.get_by_role("button", name="New folder").click()
    page.get_by_label("Folder name").fill("bad name/")
    page.get_by_role("button", name="Create").click()
    page.get_by_text("Letters, digits").wait_for()
    page.get_by_label("Folder name").fill("Photos")
    page.get_by_role("button", name="Create").click()
    page.get_by_text("This folder is empty.").wait_for()
    assert "syncline=" not in page.evaluate("() => document.cookie"), "the session cookie is HttpOnly"


def test_upload_reaches_a_device_and_its_edit_shows_live(page: Any, server: Server, shoot: Shoot,
                                                           tmp_path: Path) -> None:
    laptop = _bound(tmp_path, server)
    try:
        log_in(page, server)
        page.get_by_role("link", name="Docs").click()
        page.get_by_text("This folder is empty.").wait_for()
        src = tmp_path / "plan.txt"
        src.write_bytes(b"drawing 1\n")
        page.get_by_label("Upload files").set_input_files(str(src))
        page.get_by_text("done · 10 B").wait_for()
        wait_for(lambda: (laptop.local / "plan.txt").read_bytes() == b"drawing 1\n", describe=laptop.status)
        page.get_by_role("link", name="plan.txt").wait_for()
        shoot("uploaded")
        # The device edits it: the row's size changes on the page without a reload.
        (laptop.local / "plan.txt").write_bytes(b"drawing 1, revised by the laptop\n")
        page.get_by_text("33 B").wait_for()
        # And a file the device adds appears.
        (laptop.local / "new from laptop.txt").write_bytes(b"x")
        page.get_by_role("link", name="new from laptop.txt").wait_for()
        assert_labelled(page)
        names = tab_walk(page)
        assert "Upload files" in names and "Actions for plan.txt" in names and "Log out" in names, names
    finally:
        laptop.stop()


def test_share_with_a_second_user_who_then_sees_it(browser: Any, page: Any, server: Server, shoot: Shoot,
                                                    tmp_path: Path) -> None:
    server.add_user(BOB, BOB_PASSWORD)
    with dav(server) as anna:
        assert anna.request("MKCOL", "Docs").status_code == 201
        assert anna.put("Docs/minutes.txt", content=b"minutes").status_code == 201
    log_in(page, server)
    page.get_by_role("link", name="Docs").click()
    page.get_by_role("link", name="Sharing").click()
    page.get_by_label("User name").fill(BOB)
    page.get_by_label("They").select_option("rw")
    page.get_by_role("button", name="Share", exact=True).click()
    page.get_by_text("offered, not accepted yet").wait_for()
    shoot("sharing")

    other = browser.new_context(viewport={"width": 360, "height": 800})
    other.set_default_timeout(TIMEOUT_MS)
    try:
        bob = other.new_page()
        log_in(bob, server, BOB, BOB_PASSWORD)
        bob.get_by_role("link", name="Shares").click()
        bob.get_by_role("button", name="Accept Docs from anna").click()
        bob.get_by_role("button", name="Accept", exact=True).click()
        bob.get_by_role("link", name="Docs").first.click()
        bob.get_by_role("link", name="minutes.txt").wait_for()
        # anna's page shows bob as a member now (its shares event).
        page.goto(server.url + "/#/share/Docs")
        page.get_by_label("What bob may do").wait_for()
        assert page.get_by_label("What bob may do").input_value() == "rw"
    finally:
        other.close()


def test_restore_a_version_reaches_the_device(page: Any, server: Server, shoot: Shoot, tmp_path: Path) -> None:
    laptop = _bound(tmp_path, server)
    try:
        (laptop.local / "report.txt").write_text("first\n")
        with dav(server) as anna:
            wait_for(lambda: anna.get("Docs/report.txt").content == b"first\n")
            (laptop.local / "report.txt").write_text("second, a mistake\n")
            wait_for(lambda: anna.get("Docs/report.txt").content == b"second, a mistake\n")
        log_in(page, server)
        page.goto(server.url + "/#/v/Docs/report.txt")
        page.get_by_role("heading", name="Versions of report.txt").wait_for()
        shoot("versions")
        page.get_by_role("button", name=re.compile("^Restore the version")).first.click()
        page.get_by_role("button", name="Restore", exact=True).click()
        toast(page, "Restored report.txt")
        wait_for(lambda: (laptop.local / "report.txt").read_text() == "first\n")
    finally:
        laptop.stop()


def test_a_lock_from_the_page_makes_a_device_edit_wait(page: Any, server: Server, shoot: Shoot,
                                                      tmp_path: Path) -> None:
    laptop = _bound(tmp_path, server)
    try:
        (laptop.local / "budget.ods").write_bytes(b"v1")
        with dav(server) as anna:
            wait_for(lambda: anna.get("Docs/budget.ods").content == b"v1")
        log_in(page, server)
        page.goto(server.url + "/#/f/Docs")
        page.get_by_role("button", name="Actions for budget.ods").click()
        page.get_by_role("button", name="Lock", exact=True).click()
        page.get_by_role("button", name="Lock for 1 hour").click()
        page.get_by_text("Locked by you (this browser)").wait_for()
        shoot("locked")
        (laptop.local / "budget.ods").write_bytes(b"the laptop's edit")
        wait_for(lambda: [i for i in (laptop.status() or {}).get("not_synced", [])
                          if "waiting for its lock" in i["why"]], describe=laptop.status)
        with dav(server) as anna:
            assert anna.get("Docs/budget.ods").content == b"v1", "the locked file was not written"
            page.get_by_role("button", name="Actions for budget.ods").click()
            page.get_by_role("button", name="Unlock").click()
            toast(page, "Unlocked budget.ods")
            wait_for(lambda: anna.get("Docs/budget.ods").content == b"the laptop's edit")
    finally:
        laptop.stop()


def test_a_read_only_member_is_refused_and_nothing_changes(browser: Any, server: Server,
                                                            tmp_path: Path, watch: Watch) -> None:
    server.add_user(BOB, BOB_PASSWORD)
    with dav(server) as anna:
        assert anna.request("MKCOL", "Docs").status_code == 201
        assert anna.put("Docs/a.txt", content=b"anna's").status_code == 201
    token = token_of(server)
    with httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {token}"}, timeout=DEADLINE) as http:
        assert http.put("/v1/folders/Docs/members/bob", json={"rights": "ro"}).status_code == 201
        bob_token = token_of(server, BOB, BOB_PASSWORD)
        r = http.get("/v1/shares", headers={"Authorization": f"Bearer {bob_token}"})
        uid = r.json()["incoming"][0]["uid"]
        assert http.post(f"/v1/shares/{uid}/accept", json={},
                         headers={"Authorization": f"Bearer {bob_token}"}).status_code == 200
    context = browser.new_context(viewport={"width": 360, "height": 800})
    context.set_default_timeout(TIMEOUT_MS)
    try:
        bob = context.new_page()
        bob.on("console", watch.console)
        log_in(bob, server, BOB, BOB_PASSWORD)
        bob.goto(server.url + "/#/f/Docs")
        bob.get_by_text("Shared with you by anna, read only.").wait_for()  # the folder's view, not the list
        assert bob.get_by_label("Upload files").count() == 0
        assert bob.get_by_role("button", name="New folder").count() == 0
        bob.get_by_role("button", name="Actions for a.txt").click()
        assert bob.get_by_role("button", name="Rename").count() == 0
        bob.keyboard.press("Escape")
        # The server refuses what the page does not offer: through the page's own session and CSRF.
        answers = bob.evaluate("""async () => {
            const api = await import('/ui/assets/js/api.js');
            const out = [];
            for (const [method, url, body, headers] of [
                ['PUT', '/remote.php/dav/files/bob/Docs/b.txt', 'bob', {}],
                ['MOVE', '/remote.php/dav/files/bob/Docs/a.txt', null,
                 {Destination: '/remote.php/dav/files/bob/Docs/c.txt'}],
                ['DELETE', '/remote.php/dav/files/bob/Docs/a.txt', null, {}]]) {
              try { await api.request(method, url, {body, headers}); out.push(200); }
              catch (err) { out.push(err.status); }
            }
            return out;
        }""")
        assert answers == [403, 403, 403], answers
    finally:
        context.close()
    with dav(server) as anna:
        assert anna.get("Docs/a.txt").content == b"anna's"
        assert anna.get("Docs/b.txt").status_code == 404 and anna.get("Docs/c.txt").status_code == 404


def test_a_cut_upload_resumes_without_sending_again(page: Any, server: Server, tmp_path: Path,
                                                    watch: Watch) -> None:
    watch.allowed.append(re.compile("net::ERR_FAILED"))  # the chunk this test cuts
    with dav(server) as anna:
        assert anna.request("MKCOL", "Docs").status_code == 201
    big = tmp_path / "survey.bin"
    big.write_bytes(os.urandom(20 * 1024 * 1024 + 5))
    sent: list[str] = []
    cut = [False]

    def chunks(route: Any) -> None:
        if route.request.method == "PUT":
            name = route.request.url.rsplit("/", 1)[1]
            sent.append(name)
            if int(name) == 2 * 8 * 1024 * 1024 and not cut[0]:  # the third chunk
                cut[0] = True
                route.abort()
                return
        route.continue_()

    log_in(page, server)
    page.route("**/remote.php/dav/uploads/**", chunks)
    page.goto(server.url + "/#/f/Docs")
    page.get_by_label("Upload files").set_input_files(str(big))
    retry = page.get_by_role("button", name="Retry upload of survey.bin")
    retry.wait_for()
    with dav(server) as anna:
        assert anna.get("Docs/survey.bin").status_code == 404, "nothing half-uploaded appears"
    first = sorted(sent)
    assert len(first) == 3, first
    sent.clear()
    retry.click()
    page.get_by_role("link", name="survey.bin").wait_for()
    assert sent == [first[2]], f"only the cut chunk again, not {sent}"
    with dav(server) as anna:
        assert anna.get("Docs/survey.bin").content == big.read_bytes()


def test_a_stale_page_never_overwrites_what_a_device_changed(page: Any, server: Server, tmp_path: Path,
                                                             watch: Watch) -> None:
    watch.allowed.append(re.compile("net::ERR_FAILED"))  # the event stream this test cuts
    with dav(server) as anna:
        assert anna.request("MKCOL", "Docs").status_code == 201
        assert anna.request("MKCOL", "Docs/old").status_code == 201
        assert anna.put("Docs/a.txt", content=b"v1").status_code == 201
        log_in(page, server)
        page.route("**/v1/events**", lambda route: route.abort())  # no live update: the page stays stale
        page.goto(server.url + "/#/f/Docs")
        page.get_by_role("link", name="a.txt").wait_for()
        assert anna.put("Docs/a.txt", content=b"v2 from a device").status_code == 204
        # rename: refused
        page.get_by_role("button", name="Actions for a.txt").click()
        page.get_by_role("button", name="Rename").click()
        page.get_by_label("New name").fill("b.txt")
        page.get_by_role("button", name="Rename").click()
        toast(page, "changed since this page listed it")
        assert anna.get("Docs/a.txt").content == b"v2 from a device" and anna.get("Docs/b.txt").status_code == 404
        # delete of the listed version: refused (the page listed again; make it stale once more)
        page.get_by_role("link", name="a.txt").wait_for()
        assert anna.put("Docs/a.txt", content=b"v3 from a device").status_code == 204
        page.get_by_role("button", name="Actions for a.txt").click()
        page.get_by_role("button", name="Delete").click()
        page.get_by_role("button", name="Delete", exact=True).click()
        toast(page, "changed since this page listed it")
        assert anna.get("Docs/a.txt").content == b"v3 from a device"
        # a folder delete after a device added a file in it: refused whole
        page.get_by_role("button", name="Actions for old").click()
        page.get_by_role("button", name="Delete").click()
        page.get_by_role("button", name="Delete folder").wait_for()
        assert anna.put("Docs/old/added meanwhile.txt", content=b"keep me").status_code == 201
        page.get_by_role("button", name="Delete folder").click()
        toast(page, "changed since you looked")
        assert anna.get("Docs/old/added meanwhile.txt").content == b"keep me"


def test_an_uploaded_page_never_runs_as_the_site(page: Any, server: Server, tmp_path: Path) -> None:
    with dav(server) as anna:
        assert anna.request("MKCOL", "Docs").status_code == 201
        evil = b"<html><body><script>document.title='ran:'+document.cookie</script></body></html>"
        assert anna.put("Docs/evil.html", content=evil).status_code == 201
        assert anna.put("Docs/evil.svg", content=b"<svg xmlns='http://www.w3.org/2000/svg' onload='alert(1)'/>"
                        ).status_code == 201
    log_in(page, server)
    page.goto(server.url + "/#/f/Docs")
    page.get_by_role("button", name="Actions for evil.html").wait_for()
    with page.expect_download() as got:
        page.get_by_role("link", name="evil.html").click()
    assert got.value.suggested_filename == "evil.html"
    assert page.url.endswith("#/f/Docs") and not page.title().startswith("ran:")
    # Opened directly, it is still a download in a sandbox, never a page of the site.
    r = httpx.get(server.url + "/ui/folders/Docs/file", params={"path": "evil.svg", "inline": "1"},
                  headers={"Authorization": f"Bearer {token_of(server)}"})
    assert r.headers["content-disposition"].startswith("attachment")
    assert "sandbox" in r.headers["content-security-policy"]


def test_every_view_fits_a_phone_and_every_control_is_named(browser: Any, page: Any, server: Server,
                                                             shoot: Shoot, tmp_path: Path) -> None:
    """A tour of each view with something in it: screenshots at 360 and 1280 px, nothing wider than the
    phone, every control named, and Tab reaching the view's controls."""
    done = syncline("user", "add", "root", "--admin", "--password-stdin", "--data", str(server.data),
                    stdin="root-long-enough-password\n")
    assert done.returncode == 0, done.stderr
    server.add_user(BOB, BOB_PASSWORD)
    with dav(server) as anna:
        assert anna.request("MKCOL", "Docs").status_code == 201
        assert anna.request("MKCOL", "Docs/a folder with a rather long name for a phone screen").status_code == 201
        for n in range(3):
            assert anna.put("Docs/report.txt", content=b"v" * (n + 1)).status_code in (201, 204)
        assert anna.put("Docs/gone.txt", content=b"x").status_code == 201
        assert anna.delete("Docs/gone.txt").status_code == 204
    token = token_of(server)
    with httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {token}"}, timeout=DEADLINE) as http:
        assert http.put("/v1/folders/Docs/members/bob", json={"rights": "rw"}).status_code == 201
    views = {"folders": ("#/", "Your folders"), "files": ("#/f/Docs", "Docs"),
             "versions": ("#/v/Docs/report.txt", "Versions of report.txt"), "trash": ("#/trash/Docs", "Trash of Docs"),
             "sharing": ("#/share/Docs", "Sharing Docs"), "activity": ("#/activity/Docs", "Activity of Docs"),
             "shares": ("#/shares", "Shares"), "devices": ("#/devices", "Your devices")}
    log_in(page, server)
    for name, (address, heading) in views.items():
        page.goto(server.url + "/" + address)
        page.get_by_role("heading", name=heading, exact=True).wait_for()
        shoot(name)
        assert_labelled(page)
        assert_thumb_sized(page)
        reached = [n for n in tab_walk(page) if n]
        assert "Log out" in reached and len(reached) >= 3, (name, reached)
    context = browser.new_context(viewport={"width": 360, "height": 800})
    context.set_default_timeout(TIMEOUT_MS)
    try:
        root = context.new_page()
        log_in(root, server, "root", "root-long-enough-password")
        root.get_by_role("link", name="Users").click()
        root.get_by_role("heading", name="Users", exact=True).wait_for()
        assert_labelled(root)
        root.get_by_role("button", name="Show as table").click()
        root.get_by_role("rowheader", name="anna").wait_for()
        assert overflow(root) == [] and small_targets(root) == [], (overflow(root), small_targets(root))
        root.get_by_role("button", name="Quota of bob").click()
        root.get_by_label("Quota (for example 20GB; empty: none)").fill("2GB")
        root.get_by_role("button", name="Set").click()
        root.locator("li", has_text="bob").get_by_text("of 2.0 GB").wait_for()
    finally:
        context.close()


def test_a_whole_folder_uploads_with_its_tree(page: Any, server: Server, tmp_path: Path) -> None:
    """"Upload a folder" (the browser's folder picker) brings the folder with its sub-folders and files."""
    with dav(server) as anna:
        assert anna.request("MKCOL", "Docs").status_code == 201
    tree = {"survey/readme.txt": b"read me", "survey/maps/north.txt": b"north", "survey/maps/deep/s\u00fcd.txt": b"sud"}
    for rel, data in tree.items():
        (tmp_path / "pick" / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "pick" / rel).write_bytes(data)
    log_in(page, server)
    page.goto(server.url + "/#/f/Docs")
    page.get_by_label("Upload a folder").set_input_files(str(tmp_path / "pick" / "survey"))
    page.get_by_role("link", name="survey").wait_for()
    with dav(server) as anna:
        wait_for(lambda: all(anna.get(f"Docs/{rel}").content == data for rel, data in tree.items()))


def test_a_folder_dropped_on_the_page_uploads_with_its_tree(page: Any, server: Server, tmp_path: Path) -> None:
    """Files and a folder dragged from the desktop onto a folder's view: the browser's own drop (Chrome's
    DevTools input, as the OS hands a drag to chromium), walked into its sub-folders."""
    with dav(server) as anna:
        assert anna.request("MKCOL", "Docs").status_code == 201
    tree = {"survey/readme.txt": b"read me", "survey/maps/north.txt": b"north", "survey/maps/deep/s\u00fcd.txt": b"sud",
            "loose.txt": b"one file beside"}
    for rel, data in tree.items():
        (tmp_path / "desk" / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "desk" / rel).write_bytes(data)
    log_in(page, server)
    page.goto(server.url + "/#/f/Docs")
    page.get_by_role("heading", name="Docs").wait_for()
    cdp = page.context.new_cdp_session(page)
    box = page.locator("main").bounding_box()
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    drag = {"items": [], "dragOperationsMask": 1,  # 1: copy
            "files": [str(tmp_path / "desk" / "survey"), str(tmp_path / "desk" / "loose.txt")]}
    for kind in ("dragEnter", "dragOver", "drop"):
        cdp.send("Input.dispatchDragEvent", {"type": kind, "x": x, "y": y, "data": drag})
    page.get_by_role("link", name="survey").wait_for()
    with dav(server) as anna:
        wait_for(lambda: all(anna.get(f"Docs/{rel}").content == data for rel, data in tree.items()))


def test_a_phone_by_touch_alone(browser: Any, server: Server, tmp_path: Path) -> None:
    """A phone (360 px, touch, no mouse): log in, open a folder, upload a file, rename one through the
    row's menu, all by taps; every control a finger aims at is at least 44 px either way."""
    with dav(server) as anna:
        assert anna.request("MKCOL", "Docs").status_code == 201
        assert anna.put("Docs/report.txt", content=b"the report").status_code == 201
    (tmp_path / "photo.jpg").write_bytes(b"\xff\xd8 a phone's photo")
    context = browser.new_context(viewport={"width": 360, "height": 740}, has_touch=True, is_mobile=True,
                                  device_scale_factor=2)
    context.set_default_timeout(TIMEOUT_MS)
    try:
        page = context.new_page()
        page.goto(server.url + "/")
        page.get_by_label("User name").tap()
        page.keyboard.type("anna")
        page.get_by_label("Password").tap()
        page.keyboard.type(PASSWORD)
        assert small_targets(page) == [], small_targets(page)
        page.get_by_role("button", name="Log in").tap()
        page.get_by_role("link", name="Docs").tap()
        page.get_by_role("button", name="Actions for report.txt").wait_for()
        assert small_targets(page) == [] and overflow(page) == [], (small_targets(page), overflow(page))
        with page.expect_file_chooser() as chooser:
            page.get_by_text("Upload files").tap()
        chooser.value.set_files(str(tmp_path / "photo.jpg"))
        page.get_by_role("button", name="Actions for photo.jpg").wait_for()
        page.get_by_role("button", name="Actions for report.txt").tap()
        assert small_targets(page) == [], small_targets(page)  # the row's menu
        page.get_by_role("button", name="Rename", exact=True).tap()
        page.get_by_label("New name").fill("final report.txt")
        assert small_targets(page) == [], small_targets(page)  # the question
        page.get_by_role("dialog").get_by_role("button", name="Rename").tap()
        page.get_by_role("button", name="Actions for final report.txt").wait_for()
        with dav(server) as anna:
            assert anna.get("Docs/final report.txt").content == b"the report"
            assert anna.get("Docs/photo.jpg").content == b"\xff\xd8 a phone's photo"
            assert anna.get("Docs/report.txt").status_code == 404
    finally:
        context.close()


def test_everyday_actions_new_folder_move_delete_trash_zip_and_a_device_logged_out(page: Any, server: Server,
                                                                                    tmp_path: Path) -> None:
    """The rest of a person's day on the page, each checked on the server: a new folder, a file moved into
    it with the folder picker, a folder deleted and a file of it brought back from the trash, the folder
    downloaded as a zip, and a lost phone logged out."""
    with dav(server) as anna:
        assert anna.request("MKCOL", "Docs").status_code == 201
        assert anna.request("MKCOL", "Docs/sub").status_code == 201
        assert anna.put("Docs/a.txt", content=b"file a").status_code == 201
        assert anna.put("Docs/sub/b.txt", content=b"file b").status_code == 201
    lost = token_of(server, device="old phone")
    log_in(page, server)
    page.goto(server.url + "/#/f/Docs")
    page.get_by_role("button", name="Actions for a.txt").wait_for()  # the folder's view, not the list's
    page.get_by_role("button", name="New folder").click()
    page.get_by_label("Folder name").fill("archive")
    page.get_by_role("button", name="Create").click()
    toast(page, "Created archive")
    page.get_by_role("button", name="Actions for a.txt").click()
    page.get_by_role("button", name="Move", exact=True).click()
    picker = page.get_by_role("dialog")
    picker.get_by_role("button", name="archive").click()
    picker.get_by_role("button", name="Move here").click()
    toast(page, "Moved a.txt to archive")
    page.get_by_role("button", name="Actions for sub").click()
    page.get_by_role("button", name="Delete", exact=True).click()
    page.get_by_role("button", name="Delete folder").click()
    toast(page, "Deleted sub")
    with dav(server) as anna:
        assert anna.get("Docs/archive/a.txt").content == b"file a" and anna.get("Docs/a.txt").status_code == 404
        assert anna.get("Docs/sub/b.txt").status_code == 404

    page.goto(server.url + "/#/trash/Docs")
    page.get_by_role("button", name="Restore sub/b.txt").click()
    toast(page, "Restored sub/b.txt")
    with dav(server) as anna:
        wait_for(lambda: anna.get("Docs/sub/b.txt").content == b"file b")

    page.goto(server.url + "/#/f/Docs")
    page.get_by_role("button", name="Actions for sub").wait_for()
    with page.expect_download() as got:
        page.get_by_role("link", name="Download as zip").click()
    with zipfile.ZipFile(got.value.path()) as archive:
        assert {n: archive.read(n) for n in archive.namelist() if not n.endswith("/")} == {
            "archive/a.txt": b"file a", "sub/b.txt": b"file b"}

    page.goto(server.url + "/#/devices")
    page.get_by_role("button", name="Log out old phone").click()
    page.get_by_role("button", name="Log it out").click()
    toast(page, "Logged out old phone")
    r = httpx.get(f"{server.url}/v1/whoami", headers={"Authorization": f"Bearer {lost}"}, timeout=DEADLINE)
    assert r.status_code == 401


PLACE_JS = """async (cases) => {
  const {place} = await import('/ui/assets/js/dom.js');
  const out = [];
  for (const [before, after] of cases) {
    const nodes = new Map([...new Set([...before, ...after])].map((k) => [k, document.createElement('li')]));
    for (const [k, n] of nodes) n.dataset.k = k;
    const list = document.createElement('ul');
    list.append(...before.map((k) => nodes.get(k)));
    const kept = new Set(list.children);
    place(list, after.map((k) => nodes.get(k)));
    out.push({got: [...list.children].map((n) => n.dataset.k),
              same: after.every((k) => !before.includes(k) || kept.has(nodes.get(k)))});
  }
  return out;
}"""


def test_a_list_is_placed_in_order_whatever_came_before(page: Any, server: Server) -> None:
    """``place`` (dom.js), which "Show more" and live changes draw with: for lists before and after
    (appended, removed, moved, reversed, shuffled, emptied), the children end exactly as asked, the same
    elements kept."""
    rng = random.Random(16)
    cases = [("abc", "abcdef"), ("abcdef", "abc"), ("abc", "cab"), ("abcdef", "fedcba"), ("abc", ""),
             ("", "abc"), ("abcd", "axd"), ("abcd", "dxcb")]
    for _ in range(40):
        before = rng.sample("abcdefghijkl", rng.randint(0, 12))
        after = rng.sample("abcdefghijkl", rng.randint(0, 12))
        cases.append(("".join(before), "".join(after)))
    page.goto(server.url + "/")
    page.get_by_label("User name").wait_for()
    got = page.evaluate(PLACE_JS, [[list(b), list(a)] for b, a in cases])
    for (before, after), result in zip(cases, got, strict=True):
        assert result == {"got": list(after), "same": True}, (before, after, result)
