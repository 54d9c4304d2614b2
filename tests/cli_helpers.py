"""Running the real ``syncline`` command in a subprocess, optionally as an unprivileged user."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

NOBODY = 65534


def run(*args: str | os.PathLike[str], user: int | None = None, timeout: float = 120,
        env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run ``python -m syncline ARGS``; ``user`` switches to that uid first (when we are root)."""
    full_env = {**os.environ, **(env or {})}
    full_env.setdefault("PYTHONDONTWRITEBYTECODE", "1")
    argv = [str(a) for a in args]
    if user is not None and os.geteuid() == 0:
        return _run_forked_as(user, argv, full_env, timeout)
    cmd = [sys.executable, "-m", "syncline", *argv]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=full_env,
                          errors="surrogateescape", check=False)


def _preload() -> None:
    """Import every module the CLI may need: after dropping privileges the child may not be able to read
    the interpreter's standard library (it lives under /root here)."""
    import _strptime  # noqa: F401  (snapshot labels are checked against date formats)
    import concurrent.futures.thread  # noqa: F401
    import difflib  # noqa: F401  (click's "no such option" message)
    import encodings.ascii  # codecs are looked up by import on first use
    import encodings.latin_1  # noqa: F401
    import importlib
    import pkgutil

    import rich.console
    import rich.progress  # noqa: F401

    import syncline

    for mod in pkgutil.walk_packages(syncline.__path__, "syncline."):
        if not mod.name.endswith("__main__"):
            importlib.import_module(mod.name)


def _run_forked_as(uid: int, argv: list[str], env: dict[str, str], timeout: float) -> subprocess.CompletedProcess[str]:
    """Fork, drop to ``uid`` and run the CLI in the child: the interpreter under /root may not be
    executable by that user, but a forked child already has it loaded."""
    import select
    import signal
    import time

    _preload()
    out_r, out_w = os.pipe()
    err_r, err_w = os.pipe()
    pid = os.fork()
    if pid == 0:  # child
        code = 70
        try:
            os.dup2(out_w, 1)
            os.dup2(err_w, 2)
            os.setgroups([])
            os.setgid(uid)
            os.setuid(uid)
            os.environ.clear()
            os.environ.update(env)
            sys.stdout = open(1, "w", closefd=False)  # noqa: SIM115
            sys.stderr = open(2, "w", closefd=False)  # noqa: SIM115
            from syncline.cli.main import main

            try:
                main(argv)
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else 1
            sys.stdout.flush()
            sys.stderr.flush()
        except BaseException:
            import traceback

            os.write(2, traceback.format_exc().encode())
        finally:
            os._exit(code)
    os.close(out_w)
    os.close(err_w)
    chunks: dict[int, list[bytes]] = {out_r: [], err_r: []}
    deadline = time.monotonic() + timeout
    open_fds = [out_r, err_r]
    while open_fds:
        left = deadline - time.monotonic()
        if left <= 0:
            os.kill(pid, signal.SIGKILL)
            break
        ready, _, _ = select.select(open_fds, [], [], left)
        for fd in ready:
            data = os.read(fd, 65536)
            if data:
                chunks[fd].append(data)
            else:
                open_fds.remove(fd)
                os.close(fd)
    for fd in open_fds:
        os.close(fd)
    _, status = os.waitpid(pid, 0)
    code = os.waitstatus_to_exitcode(status)
    out = b"".join(chunks[out_r]).decode(errors="surrogateescape")
    err = b"".join(chunks[err_r]).decode(errors="surrogateescape")
    return subprocess.CompletedProcess(["syncline", *argv], code, out, err)


def run_json(*args: str | os.PathLike[str], **kw: Any) -> tuple[int, dict[str, Any]]:
    proc = run(*args, "--json", **kw)
    return proc.returncode, json.loads(proc.stdout)


def give_to(path: Path, uid: int) -> None:
    """chown -R (no-op when we are not root: the tree is ours already)."""
    if os.geteuid() != 0:
        return
    for dirpath, dirnames, filenames in os.walk(path):
        os.chown(dirpath, uid, uid)
        for name in dirnames + filenames:
            os.chown(os.path.join(dirpath, name), uid, uid, follow_symlinks=False)


def assert_one_line_error(proc: subprocess.CompletedProcess[str], *words: str) -> None:
    """A user mistake: exit 2, one ``syncline: error:`` line, no traceback."""
    assert proc.returncode == 2, (proc.returncode, proc.stdout, proc.stderr)
    assert "Traceback" not in proc.stderr
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("syncline: error:"), proc.stderr
    for w in words:
        assert w in lines[0], (w, lines[0])
