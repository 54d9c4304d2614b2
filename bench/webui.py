#!/usr/bin/env python3
"""The server's web page on a cheap phone (issue 16): Debian's chromium, headless, at 360x800 with its
CPU slowed 4x (CDP ``Emulation.setCPUThrottlingRate``), against a real ``syncline serve`` on 127.0.0.1.

    python bench/webui.py [--reps 5] [--files 10000] [--rows 2500] [--upload-mib 100] [--profile] [--data DIR]

Each repetition, in a fresh browser context (an empty cache):

- first visit: navigation to the login form usable, the requests and the bytes the browser received
  (compressed, headers included: CDP ``Network.loadingFinished`` ``encodedDataLength``); then a repeat
  visit in the same context (the cache revalidates: 304s);
- log in through the form until the folders list is shown;
- open a folder of ``--files`` files until its first rows are visible (the page lists 500 at a time),
  the JS heap then (CDP ``Runtime.getHeapUsage``, before and after a forced GC) and the DOM's nodes;
  then "Show more" until ``--rows`` are listed (0: every file), each click timed, and the heap again;
- upload one ``--upload-mib`` MiB file (fresh random bytes each time) through the page, with ``curl -T``
  (one PUT) and with ``rclone copyto`` (vendor owncloud) to the same server's WebDAV, in a rotated order,
  with the CPU NOT slowed (the page's throughput is then the browser's and the server's, not a phone's).

No peer web page is measured (none is installed here); the uploads have curl and rclone beside the
page. ``--profile``: one more pass after the timed ones, its last "Show more" under CDP's CPU profiler
(the functions with the most self time). ``--intl``: only the cost of the Intl calls files.js makes per
row (a date formatted, the sort), as written and with one shared formatter, on a blank slowed page.
Results: medians with min-max, the load average, and bench/results/webui-*.json.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import queue
import random
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

USER, PASSWORD = "bench", "bench-password-long"
CHROMIUM = os.environ.get("SYNCLINE_CHROMIUM", "/usr/lib/chromium/chromium")
SYNCLINE = str(Path(sys.executable).with_name("syncline"))
RESULTS = Path(__file__).resolve().parent / "results"
BIG, UP = "Big", "Up"
THROTTLE = 4
VIEWPORT = {"width": 360, "height": 800}
ROWS = "ul[aria-label='Files and folders'] > li"  # a folder's rows (the folders list is a ul.list too)
WAIT_MS = 300_000  # generous: a slowed page on a busy machine; every wait is for a condition


def run(args: list[str], stdin: str = "", env: dict[str, str] | None = None) -> str:
    done = subprocess.run(args, input=stdin, capture_output=True, text=True, timeout=3600,
                          env={**os.environ, **(env or {})})
    if done.returncode != 0:
        raise RuntimeError(f"{args[:2]} failed: {(done.stdout + done.stderr)[-2000:]}")
    return done.stdout


class Server:
    """``syncline serve`` on ``data`` with the user ``bench``, as a process on 127.0.0.1."""

    def __init__(self, data: Path) -> None:
        run([SYNCLINE, "user", "add", USER, "--password-stdin", "--data", str(data)], stdin=PASSWORD + "\n")
        self.proc = subprocess.Popen([SYNCLINE, "serve", "--data", str(data), "--listen", "127.0.0.1:0"],
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                     env={**os.environ, "PYTHONUNBUFFERED": "1"})
        lines: queue.Queue[str] = queue.Queue()
        out = self.proc.stdout
        threading.Thread(target=lambda: [lines.put(line) for line in out or ()], daemon=True).start()
        self.url, seen, end = "", "", time.monotonic() + 60
        while "on a device" not in seen:
            try:
                line = lines.get(timeout=max(0.1, end - time.monotonic()))
            except queue.Empty:
                self.stop()
                raise RuntimeError("the server did not start: " + seen) from None
            seen += line
            if m := re.search(r"server on (\S+) ", line):
                self.url = m[1]

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=60)


def seed(server: Server, work: Path, files: int) -> None:
    """``files`` small files (100 B-2 KiB) in one server folder ``Big``, through syncline's own protocol
    (batched: fast; not timed), and an empty folder ``Up`` for the uploads."""
    tree = work / "seed"
    tree.mkdir()
    rng = random.Random(1)
    for i in range(files):
        (tree / f"file-{i:05d}.txt").write_bytes(rng.randbytes(rng.randint(100, 2048)))
    env = {"SYNCLINE_STATE_DIR": str(work / "seeder" / "state"), "XDG_CONFIG_HOME": str(work / "seeder" / "config")}
    run([SYNCLINE, "connect", server.url, "--user", USER, "--password-stdin", "--device", "seed"],
        stdin=PASSWORD + "\n", env=env)
    run([SYNCLINE, "sync", str(tree), f"{server.url}/{BIG}"], env=env)
    with dav(server) as client:
        made = client.request("MKCOL", UP)
        if made.status_code != 201:
            raise RuntimeError(f"MKCOL {UP}: {made.status_code} {made.text[:200]}")


def dav(server: Server) -> httpx.Client:
    return httpx.Client(base_url=f"{server.url}/remote.php/dav/files/{USER}/", auth=(USER, PASSWORD), timeout=600)


class Wire:
    """What a page received, from CDP's Network domain: responses by status, bytes on the wire."""

    def __init__(self, cdp: Any) -> None:
        self.statuses: list[int] = []
        self.bytes = 0
        # The status on the wire (a revalidation's 304; responseReceived gives the cached 200).
        cdp.on("Network.responseReceivedExtraInfo", lambda e: self.statuses.append(int(e["statusCode"])))
        cdp.on("Network.loadingFinished", self._finished)
        cdp.send("Network.enable")

    def _finished(self, event: dict[str, Any]) -> None:
        self.bytes += int(event["encodedDataLength"])

    def take(self) -> tuple[int, int, int]:
        """(requests, bytes received, 304s) since the last take."""
        out = (len(self.statuses), self.bytes, sum(1 for s in self.statuses if s == 304))
        self.statuses, self.bytes = [], 0
        return out


def slowed(context: Any) -> tuple[Any, Any, Wire]:
    """A new page of ``context`` with its CPU slowed ``THROTTLE`` times: (page, its CDP session, its Wire)."""
    page = context.new_page()
    cdp = context.new_cdp_session(page)
    cdp.send("Emulation.setCPUThrottlingRate", {"rate": THROTTLE})
    cdp.send("Performance.enable")
    return page, cdp, Wire(cdp)


def timed(action: Callable[[], Any]) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def heap(cdp: Any) -> tuple[float, float, int]:
    """(JS heap used MB, the same after a forced GC, DOM nodes)."""
    used = cdp.send("Runtime.getHeapUsage")["usedSize"]
    cdp.send("HeapProfiler.collectGarbage")
    after = cdp.send("Runtime.getHeapUsage")["usedSize"]
    metrics = {m["name"]: m["value"] for m in cdp.send("Performance.getMetrics")["metrics"]}
    return used / 1e6, after / 1e6, int(metrics["Nodes"])


# What a folder's rows cost per row in files.js: a date formatted by ``toLocaleString`` with options (an
# Intl.DateTimeFormat made for each call) against one shared formatter, and the sort by ``localeCompare``
# with options against one shared Intl.Collator, on names in order (as the listing comes) and shuffled.
INTL_JS = """(n) => {
  const out = {};
  const ms = Array.from({length: n}, (_, i) => 1765000000000 + i * 60000);
  const opts = {dateStyle: "medium", timeStyle: "short"};
  let t = performance.now();
  for (const m of ms) new Date(m).toLocaleString(undefined, opts);
  out.date_toLocaleString = performance.now() - t;
  const fmt = new Intl.DateTimeFormat(undefined, opts);
  t = performance.now();
  for (const m of ms) fmt.format(new Date(m));
  out.date_shared_format = performance.now() - t;
  const names = Array.from({length: n}, (_, i) => `file-${String(i).padStart(5, "0")}.txt`);
  const shuffled = names.map((x) => [Math.random(), x]).sort((a, b) => a[0] - b[0]).map((x) => x[1]);
  const byName = (a, b) => a.localeCompare(b, undefined, {numeric: true, sensitivity: "base"});
  t = performance.now();
  [...names].sort(byName);
  out.sort_localeCompare_in_order = performance.now() - t;
  t = performance.now();
  [...shuffled].sort(byName);
  out.sort_localeCompare_shuffled = performance.now() - t;
  const collator = new Intl.Collator(undefined, {numeric: true, sensitivity: "base"});
  t = performance.now();
  [...shuffled].sort(collator.compare);
  out.sort_shared_collator_shuffled = performance.now() - t;
  return out;
}"""


def intl_probe(browser: Any, reps: int, sizes: tuple[int, ...] = (2500, 10_000)) -> dict[str, dict[str, list[float]]]:
    """``INTL_JS`` on a blank page slowed like the others, ``reps`` times for each size: ms by case."""
    context = browser.new_context(viewport=VIEWPORT)
    try:
        page, _, _ = slowed(context)
        page.goto("about:blank")
        out: dict[str, dict[str, list[float]]] = {str(n): {} for n in sizes}
        for _ in range(reps):
            for n in sizes:
                for case, took in page.evaluate(INTL_JS, n).items():
                    out[str(n)].setdefault(case, []).append(took)
        return out
    finally:
        context.close()


def self_times(profile: dict[str, Any], top: int = 10) -> list[tuple[str, float]]:
    """The functions of a CDP CPU profile with the most self time: [("name file:line", ms)]."""
    by_id = {n["id"]: n["callFrame"] for n in profile["nodes"]}
    spent: dict[str, float] = {}
    for node, delta in zip(profile["samples"], profile["timeDeltas"], strict=True):
        frame = by_id[node]
        where = f"{frame['functionName'] or '(anonymous)'} {frame['url'].rsplit('/', 1)[-1]}:{frame['lineNumber'] + 1}"
        spent[where] = spent.get(where, 0.0) + delta / 1000
    return sorted(spent.items(), key=lambda kv: -kv[1])[:top]


def page_rep(browser: Any, server: Server, upto: int, profile: bool = False) -> dict[str, Any]:
    """One repetition of the page's steps, slowed, in a fresh context: "Show more" until ``upto`` rows are
    listed (``profile``: the last "Show more" under CDP's CPU profiler, its top functions by self time
    under ``"profile"``)."""
    r: dict[str, Any] = {}
    context = browser.new_context(viewport=VIEWPORT)
    context.set_default_timeout(WAIT_MS)
    try:
        page, cdp, wire = slowed(context)
        login = page.get_by_role("button", name="Log in")
        r["first_s"] = timed(lambda: (page.goto(server.url + "/"), login.wait_for()))
        r["first_requests"], r["first_bytes"], _ = wire.take()
        again, _, wire2 = slowed(context)
        r["repeat_s"] = timed(lambda: (again.goto(server.url + "/"),
                                       again.get_by_role("button", name="Log in").wait_for()))
        r["repeat_requests"], r["repeat_bytes"], r["repeat_304"] = wire2.take()
        again.close()

        page.get_by_label("User name").fill(USER)
        page.get_by_label("Password").fill(PASSWORD)
        r["login_s"] = timed(lambda: (login.click(), page.get_by_role("link", name=BIG, exact=True).wait_for()))
        wire.take()

        rows = page.locator(ROWS)
        r["folder_s"] = timed(lambda: (page.get_by_role("link", name=BIG, exact=True).click(), rows.first.wait_for()))
        more = page.get_by_role("button", name="Show more")
        more.wait_for()
        r["folder_rows"] = rows.count()
        r["folder_requests"], r["folder_bytes"], _ = wire.take()
        r["heap_mb"], r["heap_gc_mb"], r["nodes"] = heap(cdp)

        clicks: list[float] = []

        def show_all() -> None:
            while (shown := rows.count()) < upto:
                last = profile and shown + 500 >= upto
                if last:
                    cdp.send("Profiler.enable")
                    cdp.send("Profiler.start")
                clicks.append(timed(lambda: (more.click(), page.wait_for_function(
                    f"() => document.querySelectorAll({ROWS!r}).length > {shown}", timeout=WAIT_MS))))
                if last:
                    r["profile"] = self_times(cdp.send("Profiler.stop")["profile"])

        r["all_s"] = timed(show_all)
        r["click_first_s"], r["click_last_s"] = clicks[0], clicks[-1]
        r["all_requests"], r["all_bytes"], _ = wire.take()
        r["all_heap_mb"], r["all_heap_gc_mb"], r["all_nodes"] = heap(cdp)
    finally:
        context.close()
    return r


def upload_page(browser: Any, server: Server, path: Path) -> float:
    """Seconds from picking ``path`` in the page's upload input to its row saying done (CPU not slowed)."""
    context = browser.new_context(viewport=VIEWPORT)
    context.set_default_timeout(WAIT_MS)
    try:
        page = context.new_page()
        page.goto(server.url + "/")
        page.get_by_label("User name").fill(USER)
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Log in").click()
        page.get_by_role("link", name=UP, exact=True).click()
        picker = page.get_by_label("Upload files")
        picker.wait_for(state="attached")
        done = page.get_by_text(re.compile(r"^done · "))
        return timed(lambda: (picker.set_input_files(str(path)), done.wait_for()))
    finally:
        context.close()


def upload_curl(server: Server, path: Path) -> float:
    url = f"{server.url}/remote.php/dav/files/{USER}/{UP}/{path.name}"
    return timed(lambda: run(["curl", "-sS", "--fail", "-u", f"{USER}:{PASSWORD}", "-T", str(path), url]))


def upload_rclone(server: Server, path: Path) -> float:
    obscured = run(["rclone", "obscure", PASSWORD]).strip()
    return timed(lambda: run(["rclone", "copyto", str(path), f":webdav:{UP}/{path.name}",
                              f"--webdav-url={server.url}/remote.php/dav/files/{USER}/",
                              "--webdav-vendor=owncloud", f"--webdav-user={USER}", f"--webdav-pass={obscured}"],
                             env={"RCLONE_CONFIG": "/dev/null"}))


def check_arrived(server: Server, name: str, size: int) -> None:
    with dav(server) as client:
        got = client.request("PROPFIND", f"{UP}/{name}", headers={"Depth": "0"})
    if got.status_code != 207 or f"<d:getcontentlength>{size}<" not in got.text.replace("D:", "d:"):
        raise RuntimeError(f"{name} did not arrive whole: {got.status_code} {got.text[:300]}")


def cell(xs: list[float], digits: int = 2) -> str:
    return f"{statistics.median(xs):.{digits}f} ({min(xs):.{digits}f}-{max(xs):.{digits}f})"


def launch(playwright: Any) -> Any:
    return playwright.chromium.launch(executable_path=CHROMIUM, headless=True,
                                      args=["--disable-gpu", "--no-sandbox"] if os.geteuid() == 0 else [])


def intl_main(reps: int) -> int:
    from playwright.sync_api import sync_playwright

    loads = [os.getloadavg()[0]]
    with sync_playwright() as playwright:
        browser = launch(playwright)
        try:
            got = intl_probe(browser, reps)
        finally:
            browser.close()
    loads.append(os.getloadavg()[0])
    print(f"\n{reps} repetitions, CPU slowed {THROTTLE}x, load average {loads[0]:.2f} before, {loads[1]:.2f} after\n")
    print("| rows | case | ms |")
    print("|---|---|---|")
    for n, cases in got.items():
        for case, xs in cases.items():
            print(f"| {int(n):,} | {case} | {cell(xs, 0)} |")
    RESULTS.mkdir(exist_ok=True)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    (RESULTS / f"webui-intl-{stamp}.json").write_text(json.dumps(
        {"reps": reps, "throttle": THROTTLE, "loads": loads, "ms": got}, indent=1))
    print(f"\nreproduce: python bench/webui.py --intl --reps {reps}")
    return 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--files", type=int, default=10_000)
    ap.add_argument("--upload-mib", type=int, default=100)
    ap.add_argument("--data", type=Path, default=None, help="work folder (default: a temp dir, removed)")
    ap.add_argument("--rows", type=int, default=2500,
                    help="Show more until this many rows are listed (0: all; 10,000 takes minutes on a slowed page)")
    ap.add_argument("--intl", action="store_true",
                    help="only the cost of files.js's per-row Intl calls on a blank slowed page (no server)")
    ap.add_argument("--profile", action="store_true",
                    help="one more pass, after the timed ones: the last Show more under the CPU profiler")
    args = ap.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # stop the server and the browser on a kill too
    upto = min(args.rows or args.files, args.files)
    if not os.access(CHROMIUM, os.X_OK):
        print(f"no chromium at {CHROMIUM} (apt-get install chromium, or set SYNCLINE_CHROMIUM)", file=sys.stderr)
        return 2
    from playwright.sync_api import sync_playwright

    if args.intl:
        return intl_main(args.reps)
    work = Path(args.data or tempfile.mkdtemp(prefix="bench-webui-"))
    (work / "data").mkdir(parents=True, exist_ok=True)
    size = args.upload_mib * 1024 * 1024
    loads: list[float] = [os.getloadavg()[0]]
    server = Server(work / "data")
    pages: list[dict[str, Any]] = []
    profiled: list[tuple[str, float]] = []
    uploads: dict[str, list[float]] = {"page": [], "curl": [], "rclone": []}
    orders: list[list[str]] = []
    try:
        seed(server, work, args.files)
        print(f"set up: {args.files:,} files in {BIG} on {server.url}", file=sys.stderr)
        rng = random.Random(2)
        with sync_playwright() as playwright:
            browser = launch(playwright)
            try:
                for rep in range(args.reps):
                    pages.append(page_rep(browser, server, upto))
                    names = list(uploads)
                    order = names[rep % 3:] + names[:rep % 3]
                    orders.append(order)
                    for name in order:
                        path = work / f"{name}-{rep}.bin"
                        path.write_bytes(rng.randbytes(size))  # fresh bytes: no upload finds them stored
                        subprocess.run(["sync"], check=False)
                        took = {"page": lambda p=path: upload_page(browser, server, p),
                                "curl": lambda p=path: upload_curl(server, p),
                                "rclone": lambda p=path: upload_rclone(server, p)}[name]()
                        check_arrived(server, path.name, size)
                        uploads[name].append(size / took / 1e6)
                        path.unlink()
                    loads.append(os.getloadavg()[0])
                    print(f"rep {rep + 1}/{args.reps} (load {loads[-1]:.2f}): {pages[-1]}", file=sys.stderr)
                if args.profile:
                    profiled = page_rep(browser, server, upto, profile=True)["profile"]
            finally:
                browser.close()
    finally:
        server.stop()
        if args.data is None:
            shutil.rmtree(work, ignore_errors=True)

    def col(key: str) -> list[float]:
        return [p[key] for p in pages]

    print(f"\n{args.reps} repetitions, chromium at {VIEWPORT['width']}x{VIEWPORT['height']}, CPU slowed "
          f"{THROTTLE}x; load average {min(loads):.2f}-{max(loads):.2f} (before and after each repetition)\n")
    print("| step | s | requests | KB received | heap MB (after GC) | DOM nodes |")
    print("|---|---|---|---|---|---|")
    print(f"| first visit: login form usable | {cell(col('first_s'))} | {statistics.median(col('first_requests')):.0f} "
          f"| {cell([b / 1e3 for b in col('first_bytes')], 1)} | | |")
    print(f"| repeat visit (304s: {statistics.median(col('repeat_304')):.0f}) | {cell(col('repeat_s'))} | "
          f"{statistics.median(col('repeat_requests')):.0f} | {cell([b / 1e3 for b in col('repeat_bytes')], 1)} | | |")
    print(f"| log in: folders shown | {cell(col('login_s'))} | | | | |")
    print(f"| open {args.files:,} files: first {statistics.median(col('folder_rows')):.0f} rows | "
          f"{cell(col('folder_s'))} | {statistics.median(col('folder_requests')):.0f} | "
          f"{cell([b / 1e3 for b in col('folder_bytes')], 1)} | {cell(col('heap_mb'), 1)} "
          f"({cell(col('heap_gc_mb'), 1)}) | {statistics.median(col('nodes')):.0f} |")
    print(f"| Show more until {upto:,} listed | {cell(col('all_s'))} | "
          f"{statistics.median(col('all_requests')):.0f} | {cell([b / 1e3 for b in col('all_bytes')], 1)} | "
          f"{cell(col('all_heap_mb'), 1)} ({cell(col('all_heap_gc_mb'), 1)}) | "
          f"{statistics.median(col('all_nodes')):.0f} |")
    print(f"| one Show more: the first (500 -> 1,000 rows) | {cell(col('click_first_s'))} | | | | |")
    print(f"| one Show more: the last (-> {upto:,} rows) | {cell(col('click_last_s'))} | | | | |")
    print(f"\nUpload of one {args.upload_mib} MiB file (CPU not slowed), MB/s:\n")
    print("| client | MB/s |")
    print("|---|---|")
    for name, xs in uploads.items():
        print(f"| {name} | {cell(xs, 1)} |")
    if profiled:
        print("\nThe last Show more under the CPU profiler (slowed), self time by function:\n")
        for where, ms in profiled:
            print(f"    {ms:8.0f} ms  {where}")
    RESULTS.mkdir(exist_ok=True)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    (RESULTS / f"webui-{stamp}.json").write_text(json.dumps(
        {"reps": args.reps, "files": args.files, "rows": upto, "upload_mib": args.upload_mib, "throttle": THROTTLE,
         "viewport": VIEWPORT, "loads": loads, "orders": orders, "pages": pages, "uploads_mb_s": uploads,
         "profile_last_show_more": profiled,
         "commit": run(["git", "-C", str(Path(__file__).parent), "rev-parse", "--short", "HEAD"]).strip()},
        indent=1))
    print(f"\nreproduce: python bench/webui.py --reps {args.reps} --files {args.files} --rows {args.rows} "
          f"--upload-mib {args.upload_mib}{' --profile' if args.profile else ''}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
