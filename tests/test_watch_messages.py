"""What ``syncline watch`` tells: its help, the source named one way in every JSON event, and the sysctl
line when inotify refuses even the source folder."""

from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

import syncline.services.watch.inotify as mirror_module

from .cli_helpers import run
from .conftest import write
from .test_watch import FAST, mirroring, same, wait_until


def test_help_shows_src_dst_and_the_real_latency() -> None:
    proc = run("watch", "--help")
    assert proc.returncode == 0
    assert "Usage: syncline watch [OPTIONS] SRC DST [DST ...]" in proc.stdout
    assert "[PATHS]" not in proc.stdout and "about a second" not in proc.stdout
    assert "tens of milliseconds" in proc.stdout


def test_every_json_event_names_the_source_the_same_way(tmp_path: Path) -> None:
    write(tmp_path / "src", "a.txt", "a")
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "syncline", "watch", "--json", "src", "dst"], cwd=tmp_path,
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert wait_until(lambda: same(tmp_path / "src", tmp_path / "dst"))
        write(tmp_path / "src", "b/c.txt", "c")
        assert wait_until(lambda: same(tmp_path / "src", tmp_path / "dst"))
    finally:
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    events = [json.loads(line) for line in out.splitlines()]
    sources = {e["source"] for e in events if "source" in e}
    assert {e["event"] for e in events} >= {"watching", "catch-up", "synced"}
    assert sources == {str(tmp_path / "src")}, events


class _RefusingINotify:
    """An inotify instance whose first watch the kernel refuses (the watch limit, or no instance left)."""

    error = errno.ENOSPC

    def add_watch(self, path: object, mask: int) -> int:
        raise OSError(self.error, os.strerror(self.error))

    def close(self) -> None:
        pass


@pytest.mark.parametrize("error,sysctl", [(errno.ENOSPC, "sysctl fs.inotify.max_user_watches="),
                                          (errno.EMFILE, "sysctl fs.inotify.max_user_instances=")])
def test_a_source_inotify_refuses_gets_the_sysctl_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                       error: int, sysctl: str) -> None:
    refusing = type("Refusing", (_RefusingINotify,), {"error": error})
    monkeypatch.setattr(mirror_module, "INotify", refusing)
    write(tmp_path / "src", "a.txt", "a")
    with mirroring(tmp_path / "src", tmp_path / "dst", options=FAST) as m:
        assert m.polling and same(tmp_path / "src", tmp_path / "dst")
        refused = [msg for msg, _ in m.messages if msg.startswith("inotify cannot watch")]  # type: ignore[attr-defined]
    assert len(refused) == 1 and sysctl in refused[0], refused
