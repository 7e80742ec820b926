"""Helpers of the browser tests: where chromium is, starting a dashboard server (`dashboard`),
`settle`. Every wait is for a state (an element, a value, a URL), never a fixed time: the
machines are shared and a busy one is slow, not wrong."""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "tests" / "artifacts"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
BROWSER_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]
WAIT_MS = 120_000   # generous: a wait ends as soon as its state is reached

try:
    from playwright.sync_api import sync_playwright
except ImportError:  # pragma: no cover - depends on the machine
    sync_playwright = None

AVAILABLE = CHROMIUM is not None and sync_playwright is not None
SKIP_REASON = "needs Debian's chromium and the playwright package"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def trips_csv(n_users: int = 4, n_points: int = 30) -> str:
    """A small user,time,lat,lon file: a walk per user around Chicago, one point per 15 min."""
    lines = ["user,time,lat,lon"]
    for u in range(n_users):
        for i in range(n_points):
            lat = 41.88 + 0.004 * u + 0.0007 * i * (1 if u % 2 else -1)
            lon = -87.65 + 0.003 * u + 0.0005 * ((i * 7) % 11)
            lines.append(f"user{u},2024-05-01T{8 + i // 4:02d}:{15 * (i % 4):02d}:00Z,"
                         f"{lat:.6f},{lon:.6f}")
    return "\n".join(lines) + "\n"


class ServerDidNotStart(RuntimeError):
    pass


@contextmanager
def dashboard(tmp: Path, start_timeout_s: float = 120, log: bool = True, data: bool = True):
    """`streamlit run app.py` on a free localhost port with its own run store and cache, and (with
    `data`) a data directory holding trips.csv (`ST_GIA_DATA_DIRS`); yields (url, process). The
    server's output goes to tmp/server.log (or nowhere with log=False)."""
    tmp = Path(tmp)
    port = free_port()
    env = dict(os.environ, ST_GIA_STORE=str(tmp / "runs.sqlite"), ST_GIA_CACHE=str(tmp / "cache"))
    if data:
        (tmp / "data").mkdir(parents=True, exist_ok=True)
        (tmp / "data" / "trips.csv").write_text(trips_csv())
        env["ST_GIA_DATA_DIRS"] = str(tmp / "data")
    out = open(tmp / "server.log", "wb") if log else subprocess.DEVNULL
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true",
         "--server.port", str(port), "--server.address", "127.0.0.1",
         "--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none"],
        cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    if log:
        out.close()   # the child has its own copy
    url = f"http://127.0.0.1:{port}"
    t0 = time.time()
    while True:
        try:
            if urllib.request.urlopen(f"{url}/_stcore/health", timeout=2).read() == b"ok":
                break
        except OSError:
            pass
        if proc.poll() is not None or time.time() - t0 > start_timeout_s:
            proc.kill()
            proc.wait()
            tail = (tmp / "server.log").read_text()[-2000:] if log else ""
            raise ServerDidNotStart("streamlit did not start: " + tail)
        time.sleep(0.3)   # polling the health endpoint, not waiting for UI state
    try:
        yield url, proc
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def settle(page, timeout_ms: int = WAIT_MS) -> None:
    """Wait until Streamlit has rendered: its script has run, no loading skeleton is left."""
    page.wait_for_selector('[data-testid="stApp"]', timeout=timeout_ms)
    page.wait_for_function(
        "() => { const app = document.querySelector('[data-testid=\"stApp\"]');"
        " return app && app.dataset.testScriptState === 'notRunning'"
        " && document.querySelectorAll('[data-testid=\"stSkeleton\"]').length === 0; }",
        timeout=timeout_ms)
