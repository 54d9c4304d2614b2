"""The daemon as a real process (``python -m syncline daemon``): killed with SIGKILL in the middle of a
run (the engine's crash points), then started again, it converges with nothing lost; SIGTERM ends it
cleanly; ``syncline status`` tells a dead daemon from a live one."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from syncline.core.paths import run_temp

from .test_daemon_run import DEADLINE, wait_for
from .test_kill9 import contents


def _env(state: Path, crash: str | None = None) -> dict[str, str]:
    env = {**os.environ, "SYNCLINE_STATE_DIR": str(state)}
    env.pop("SYNCLINE_CRASH_AT", None)
    if crash is not None:
        env["SYNCLINE_CRASH_AT"] = crash
    return env


def _syncline(*args: str, state: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "syncline", *args], capture_output=True, text=True,
                          env=_env(state), timeout=DEADLINE, check=False)


def _daemon(base: Path, crash: str | None = None) -> subprocess.Popen[bytes]:
    with (base / "daemon.log").open("ab") as log:  # the child holds its own copy
        return subprocess.Popen([sys.executable, "-m", "syncline", "daemon", "--json", "--config",
                                 str(base / "daemon.toml"), "--state", str(base / "state")],
                                stdout=log, stderr=log, env=_env(base / "state", crash))


def _fill(root: Path, prefix: str, count: int, rng: random.Random) -> dict[str, bytes]:
    made = {}
    for i in range(count):
        rel = f"{prefix}{i % 5}/f{i:03d}.bin"
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        data = rng.randbytes(rng.choice([100, 5000, 60_000]))
        (root / rel).write_bytes(data)
        made[rel] = data
    return made


@pytest.mark.parametrize("crash", ["commit:40", "base:2"])
def test_kill9_mid_run_then_restart_converges_with_nothing_lost(tmp_path: Path, crash: str) -> None:
    rng = random.Random(13)
    local, remote, state = tmp_path / "local", tmp_path / "server", tmp_path / "state"
    local.mkdir()
    remote.mkdir()
    want = {**_fill(local, "mine", 120, rng), **_fill(remote, "theirs", 80, rng)}
    added = _syncline("folder", "add", str(local), "--remote", str(remote), "--config", str(tmp_path / "daemon.toml"),
                      state=state)
    assert added.returncode == 0, added.stderr
    killed = _daemon(tmp_path, crash)
    assert killed.wait(DEADLINE) == -signal.SIGKILL, (tmp_path / "daemon.log").read_text()
    stale = _syncline("status", "--state", str(state), state=state)
    assert stale.returncode == 3 and stale.stdout.strip() == "daemon not running"
    again = _daemon(tmp_path)
    try:
        wait_for(lambda: contents(local) == contents(remote) == want)
        # A live daemon reads as running, its folder in sync.
        shown = wait_for(lambda: _in_sync(_syncline("status", "--json", "--state", str(state), state=state)))
        assert shown["running"] and shown["pid"] == again.pid
    finally:
        again.send_signal(signal.SIGTERM)
        code = again.wait(DEADLINE)
    assert code == 0, (tmp_path / "daemon.log").read_text()
    for root in (local, remote):
        assert not [n for _, _, files in os.walk(root) for n in files if run_temp(n)]
    assert contents(local) == contents(remote) == want
    lines = [json.loads(line) for line in (tmp_path / "daemon.log").read_text().splitlines() if line.startswith("{")]
    assert lines[-1]["event"] == "stopped"


def _in_sync(proc: subprocess.CompletedProcess[str]) -> dict[str, object] | None:
    if proc.returncode != 0:
        return None
    data = json.loads(proc.stdout)
    return data if data["folders"] and all(f["state"] == "in sync" for f in data["folders"]) else None


def test_bad_input_is_one_line_and_no_traceback(tmp_path: Path) -> None:
    state = tmp_path / "state"
    config = tmp_path / "daemon.toml"
    config.write_text("[defaults]\ncheck_every = 'never'\n", encoding="utf-8")
    for args in (["daemon", "--config", str(config), "--state", str(state)],
                 ["folder", "add", str(tmp_path / "d"), "--remote", "R", "--config", str(config)],
                 ["folder", "list", "--config", str(config)],
                 ["folder", "remove", str(tmp_path / "d"), "--config", str(tmp_path / "none.toml")],
                 ["folder", "resume", str(tmp_path / "d"), "--config", str(config)]):
        started = time.monotonic()
        proc = _syncline(*args, state=state)
        assert proc.returncode == 2, (args, proc.stdout, proc.stderr)
        assert proc.stderr.count("\n") == 1 and proc.stderr.startswith("syncline: error: "), proc.stderr
        assert "Traceback" not in proc.stderr
        assert time.monotonic() - started < DEADLINE


def test_folder_add_list_remove_through_the_cli(tmp_path: Path) -> None:
    state, config = tmp_path / "state", str(tmp_path / "conf" / "daemon.toml")
    assert _syncline("folder", "add", str(tmp_path / "docs"), "--remote", "Documents", "--config", config,
                     state=state).returncode == 0
    listed = _syncline("folder", "list", "--json", "--config", config, state=state)
    assert json.loads(listed.stdout) == [{"local": str(tmp_path / "docs"), "remote": "Documents", "paused": False,
                                          "check_every": 3600.0}]
    resume = _syncline("folder", "resume", str(tmp_path / "docs"), "--config", config, "--state", str(state),
                       state=state)
    assert resume.returncode == 0 and "daemon not running" in resume.stdout
    assert _syncline("folder", "remove", str(tmp_path / "docs"), "--config", config, state=state).returncode == 0
    assert _syncline("folder", "list", "--config", config, state=state).stdout == ""
