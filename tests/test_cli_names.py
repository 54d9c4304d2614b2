"""Odd names in every output: escaped in text as rsync escapes them, strict and lossless in JSON."""

from __future__ import annotations

import base64
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from .cli_helpers import run

NAMES = [b"new\nline.txt", b"latin1-\xe9t.txt", b"back\\#012slash", b"esc\x1b[31mred", b"plain.txt"]
ESCAPED = ["new\\#012line.txt", "latin1-\\#351t.txt", "back\\#134#012slash", "esc\\#033[31mred", "plain.txt"]


def _make(root: Path, names: list[bytes] = NAMES) -> None:
    root.mkdir(parents=True, exist_ok=True)
    for name in names:
        with open(os.fsencode(root) + b"/" + name, "wb") as fh:
            fh.write(b"content of " + name)


def _unescape(text: str) -> bytes:
    """rsync's escaping undone: ``\\#ooo`` is the byte ``ooo`` (octal)."""
    raw = text.encode("utf-8")
    return re.sub(rb"\\#([0-7]{3})", lambda m: bytes([int(m.group(1), 8)]), raw)


def _strict(text: str) -> Any:
    """Parse JSON as a strict parser would: the text must be UTF-8 and hold no lone surrogate."""
    text.encode("utf-8")  # a raw byte that is not UTF-8 (decoded by surrogateescape) fails here

    def check(value: Any) -> Any:
        if isinstance(value, str):
            value.encode("utf-8")  # "\udce9" in the JSON text parses to a lone surrogate: fails here
        elif isinstance(value, dict):
            for v in value.values():
                check(v)
        elif isinstance(value, list):
            for v in value:
                check(v)
        return value

    return check(json.loads(text))


def _name(obj: dict[str, Any], key: str = "path") -> bytes:
    """The exact bytes of a name in syncline's JSON: ``K_b64`` when present, else ``K`` as UTF-8."""
    if f"{key}_b64" in obj:
        return base64.b64decode(obj[f"{key}_b64"])
    return str(obj[key]).encode("utf-8")


def test_text_output_escapes_names_as_rsync_does(tmp_path: Path) -> None:
    src = tmp_path / "src"
    _make(src)
    proc = run("sync", "-n", src, tmp_path / "dst")
    assert proc.returncode == 0
    lines = proc.stdout.splitlines()
    assert lines[:-1] == [f">f+++++++++ {e}" for e in sorted(ESCAPED, key=_unescape)]
    assert sorted(_unescape(ln[12:]) for ln in lines[:-1]) == sorted(NAMES)  # the escaping is lossless
    index = tmp_path / "i.slidx"
    assert run("index", src, "-o", index, "-q").returncode == 0
    shown = run("index", "show", index).stdout.splitlines()
    assert len(shown) == len(NAMES) + 2 and sorted(ln.rsplit(" ", 1)[1] for ln in shown[1:-1]) == sorted(ESCAPED)
    assert run("sync", src, tmp_path / "dst", "-q").returncode == 0
    for name in NAMES[:2]:
        os.unlink(os.fsencode(src) + b"/" + name)
    diff = run("diff", index, src).stdout.splitlines()
    assert diff == ["- latin1-\\#351t.txt", "- new\\#012line.txt", "2 deleted"]
    _make(tmp_path / "a", NAMES[:2])
    (tmp_path / "b").mkdir()
    two_way = run("sync", "--two-way", "-n", tmp_path / "a", tmp_path / "b").stdout.splitlines()
    assert two_way[:2] == ["A -> B  >f+++++++++ latin1-\\#351t.txt", "A -> B  >f+++++++++ new\\#012line.txt"]
    for out in (proc.stdout, shown, diff, two_way):
        assert "\x1b" not in str(out) and "\udce9" not in str(out)


def test_errors_and_notices_escape_names(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    os.mkfifo(os.fsencode(src) + b"/fifo-\xe9\nx")
    proc = run("sync", src, tmp_path / "dst")
    assert proc.returncode == 0
    notes = [ln for ln in proc.stderr.splitlines() if ln.startswith("syncline: note:")]
    assert len(notes) == 1 and "fifo-\\#351\\#012x" in notes[0], proc.stderr
    proc = run("sync", "--json", src, tmp_path / "dst")
    out = _strict(proc.stdout)
    assert len(out["notices"]) == 1 and b"fifo-\xe9\nx" in base64.b64decode(out["notices_b64"][0])
    assert proc.stderr == ""


def test_json_output_is_strict_and_lossless(tmp_path: Path) -> None:
    src = tmp_path / "src"
    _make(src)
    os.symlink(b"target-\xff", os.fsencode(src) + b"/link-\xfe")
    everything = {*NAMES, b"link-\xfe"}
    plan = _strict(run("sync", "-n", "--json", src, tmp_path / "dst").stdout)["plan"]
    assert {_name(a) for a in plan} == everything
    index = tmp_path / "i.slidx"
    assert run("index", src, "-o", index, "-q").returncode == 0
    rows = [_strict(line) for line in run("index", "show", "--json", index).stdout.splitlines()[1:]]
    assert {_name(r) for r in rows} == everything
    assert [_name(r, "target") for r in rows if r["kind"] == "symlink"] == [b"target-\xff"]
    empty = tmp_path / "empty"
    empty.mkdir()
    changes = _strict(run("diff", "--json", empty, src).stdout)["changes"]
    assert {_name(c) for c in changes} == everything
    (tmp_path / "b").mkdir()
    two_way = _strict(run("sync", "--two-way", "--json", src, tmp_path / "b").stdout)
    assert two_way["to_b"]["copied"] == len(NAMES)
    far = tmp_path / "far.slidx"
    assert run("index", empty, "-o", far, "-q").returncode == 0
    delta = tmp_path / "d.slar"
    assert run("archive", src, "--against", far, "-o", delta, "-q").returncode == 0
    ops = [_strict(line) for line in run("archive", "show", "--json", delta).stdout.splitlines()[1:]]
    assert {_name(o) for o in ops} == everything


def test_watch_of_non_utf8_folders_runs_and_logs_them_losslessly(tmp_path: Path) -> None:
    raw_src = os.fsencode(tmp_path) + b"/src-\xe9\xff"
    raw_dst = os.fsencode(tmp_path) + b"/dst-\xfa"
    os.makedirs(raw_src + b"/dir-\xfe")
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    proc = subprocess.Popen([os.fsencode(sys.executable), b"-m", b"syncline", b"watch", b"--json", raw_src, raw_dst],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    pushed = raw_dst + b"/dir-\xfe/new-\xfd"
    try:
        deadline = time.monotonic() + 120
        while not os.path.isdir(raw_dst + b"/dir-\xfe") and time.monotonic() < deadline:
            time.sleep(0.05)
        with open(raw_src + b"/dir-\xfe/new-\xfd", "wb") as fh:
            fh.write(b"x")
        while not os.access(pushed, os.F_OK) and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0 and os.access(pushed, os.F_OK), err
    events = [_strict(line.decode("utf-8")) for line in out.splitlines()]
    assert [e["event"] for e in events][:2] == ["watching", "catch-up"] and events[-1]["event"] == "stopped"
    assert all(_name(e, "source") == raw_src for e in events if "source" in e), events
    assert [_name(e, "target") for e in events if "target" in e] == [raw_dst], events
    assert [base64.b64decode(t) for t in events[0]["targets_b64"]] == [raw_dst]
