"""A file a read-only member held leaves ``syncline status`` once it is uploaded (issue 14): the owner makes
the member read-write, the member changes the held file, a partial run uploads it, and the status stops
saying it is "not synced, kept here" (not only at the next full run, up to ``check_every`` later)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from .daemonserver import Device, Server, serving, wait_for

BOB_PASSWORD = "bob-long-enough-password"


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    with serving(tmp_path / "data") as s:
        s.add_user("bob", BOB_PASSWORD)
        yield s


def test_a_held_file_uploaded_after_a_promotion_leaves_the_status(tmp_path: Path, server: Server) -> None:
    anna = Device(tmp_path / "anna", server, "Photos", "anna-laptop")
    (anna.local / "a.txt").write_text("anna's\n")
    bob = Device(tmp_path / "bob", server, None, "bob-laptop", user="bob", password=BOB_PASSWORD)
    target = tmp_path / "bob" / "Photos"
    anna.start()
    bob.start()
    try:
        wait_for(lambda: anna.status() and anna.status()["state"] == "in sync")  # type: ignore[index]
        assert anna.cli("share", "Photos", "--with", "bob", "--read-only").returncode == 0
        assert bob.cli("share", "accept", "anna/Photos", "--local", str(target)).returncode == 0
        wait_for(lambda: (target / "a.txt").read_text() == "anna's\n", describe=lambda: bob.status(target))

        def held() -> list[str]:
            return [i["path"] for i in (bob.status(target) or {}).get("not_synced", [])]

        (target / "new.txt").write_text("bob's, held\n")
        wait_for(lambda: held() == ["new.txt"], describe=lambda: bob.status(target))
        assert anna.cli("share", "Photos", "--with", "bob").returncode == 0  # bob may write now
        (target / "new.txt").write_text("bob's, for anna now\n")  # a change of it: the next run takes it
        wait_for(lambda: (anna.local / "new.txt").read_text() == "bob's, for anna now\n",
                 describe=lambda: bob.status(target))
        wait_for(lambda: (s := bob.status(target)) and s["state"] == "in sync" and held() == [],
                 describe=lambda: bob.status(target))
    finally:
        bob.stop()
        anna.stop()
