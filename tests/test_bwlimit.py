"""Bandwidth limits end to end: ``syncline sync --bwlimit`` uploading and downloading 4 MiB through a real
server process on 127.0.0.1 no faster than the limit, bytes intact; and the daemon setting the limits of
its config at each load, without a restart."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from syncline.engine.replicas.remote import save_credentials
from syncline.engine.replicas.remote.ratelimit import RateLimits
from syncline.services.daemon import Daemon, Timing

from .cli_helpers import assert_one_line_error, run
from .conftest import write
from .test_remote_process import REPO, Process, server  # noqa: F401 - the real server process fixture

MiB = 1 << 20
SIZE = 4 * MiB
LIMIT = MiB  # "1MB/s", "1024" (KiB/s)
# A limit is never beaten by more than this: the clock can only make a run slower than its limit.
TOLERANCE = 1.2


def test_sync_bwlimit_paces_an_upload_and_a_download_through_a_real_server(
        tmp_path: Path, server: Process) -> None:  # noqa: F811
    state = tmp_path / "state"
    save_credentials(state, server.credentials())
    env = {**os.environ, "PYTHONPATH": str(REPO / "src"), "SYNCLINE_STATE_DIR": str(state)}
    folder = f"{server.url}/Big"

    def timed(*args: str | Path) -> float:
        start = time.monotonic()
        done = subprocess.run([sys.executable, "-m", "syncline", "sync", *map(str, args)], capture_output=True,
                              text=True, env=env, timeout=300, check=False)
        elapsed = time.monotonic() - start
        assert done.returncode == 0, done.stdout + done.stderr
        return elapsed

    src, dst = tmp_path / "src", tmp_path / "dst"
    data = os.urandom(SIZE)  # no chunk repeats: every byte crosses
    write(src, "big.bin", data)
    write(src, "small.txt", "small")
    up = timed("--bwlimit", "1MB/s", src, folder)
    assert SIZE / up <= LIMIT * TOLERANCE, f"uploaded at {SIZE / up / MiB:.2f} MiB/s over a limit of 1 MiB/s"
    down = timed("--bwlimit", "1024", folder, dst)
    assert SIZE / down <= LIMIT * TOLERANCE, f"downloaded at {SIZE / down / MiB:.2f} MiB/s over a limit of 1 MiB/s"
    assert (dst / "big.bin").read_bytes() == data and (dst / "small.txt").read_text() == "small"


@pytest.mark.parametrize(("command", "value", "words"), [
    ("sync", "2Mbit", ["--bwlimit", "'2Mbit' is not a rate", "2MB/s", "KiB/s"]),
    ("sync", "100B/s", ["--bwlimit", "is not a rate"]),
    ("sync", "1MB/s", ["--bwlimit paces transfers with a server", "every folder here is local", "ionice"]),
    ("watch", "1MB/s", ["--bwlimit paces transfers with a server", "every folder here is local"]),
])
def test_a_bwlimit_that_cannot_apply_is_one_line(tmp_path: Path, command: str, value: str, words: list[str]) -> None:
    src = tmp_path / "src"
    write(src, "a.txt", "a")
    proc = run(command, "--bwlimit", value, src, tmp_path / "dst")
    assert_one_line_error(proc, *words)
    assert not (tmp_path / "dst").exists()


def wait_for(what: Callable[[], Any], deadline: float = 60.0) -> None:
    end = time.monotonic() + deadline
    while not what():
        if time.monotonic() > end:
            pytest.fail(f"still not so after {deadline} s")
        time.sleep(0.05)


def test_the_daemon_sets_its_configs_limits_at_each_load_and_lifts_them_at_its_end(tmp_path: Path) -> None:
    config = tmp_path / "daemon.toml"
    config.write_text("[defaults]\nmax_upload_rate = \"2MB/s\"\n", encoding="utf-8")
    limits = RateLimits()
    daemon = Daemon(config, tmp_path / "state", limits=limits, timing=Timing(config_every=0.1))
    stop = threading.Event()
    thread = threading.Thread(target=daemon.run, args=(stop,), daemon=True)
    thread.start()
    try:
        wait_for(lambda: limits.rates() == (2 * MiB, 0))
        bucket, _ = limits.buckets("https://box:8765")
        assert bucket is not None
        config.write_text("[defaults]\nmax_upload_rate = 500\nmax_download_rate = \"1.5MiB/s\"\n", encoding="utf-8")
        wait_for(lambda: limits.rates() == (500 << 10, 1.5 * MiB))
        assert bucket.rate == 500 << 10  # the same bucket, retuned: a transfer under way slows from its next slice
        config.write_text("[defaults]\nmax_upload_rate = \"fast\"\n", encoding="utf-8")
        wait_for(lambda: "max_upload_rate" in (daemon.status.snapshot().get("config_error") or ""))
        assert limits.rates() == (500 << 10, 1.5 * MiB)  # a file that does not load changes nothing
        config.write_text("# no limits\n", encoding="utf-8")
        wait_for(lambda: limits.rates() == (0, 0))
        config.write_text("[defaults]\nmax_download_rate = \"1MB/s\"\n", encoding="utf-8")
        wait_for(lambda: limits.rates() == (0, MiB))
    finally:
        stop.set()
        thread.join(60)
    assert not thread.is_alive() and limits.rates() == (0, 0)
