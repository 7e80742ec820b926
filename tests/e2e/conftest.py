"""Fixtures of the browser tests: a dashboard server on a free port with its own run store, and
Debian's chromium via Playwright (module-scoped)."""
from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request

import pytest

from tests.e2e.helpers import AVAILABLE, BROWSER_ARGS, CHROMIUM, ROOT, SKIP_REASON, free_port

if AVAILABLE:
    from playwright.sync_api import sync_playwright


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """A dashboard server on a free localhost port with its own run store."""
    if not AVAILABLE:
        pytest.skip(SKIP_REASON)
    port = free_port()
    tmp = tmp_path_factory.mktemp("e2e")
    env = dict(os.environ, ST_GIA_STORE=str(tmp / "runs.sqlite"), ST_GIA_CACHE=str(tmp / "cache"))
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true",
         "--server.port", str(port), "--server.address", "127.0.0.1",
         "--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none"],
        cwd=ROOT, env=env, stdout=open(tmp / "server.log", "wb"), stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    t0 = time.time()
    while time.time() - t0 < 60:
        try:
            if urllib.request.urlopen(f"{url}/_stcore/health", timeout=2).read() == b"ok":
                break
        except OSError:
            time.sleep(0.3)
    else:
        proc.terminate()
        pytest.fail("streamlit did not start: " + (tmp / "server.log").read_text()[-2000:])
    yield url
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()


@pytest.fixture(scope="module")
def browser():
    if not AVAILABLE:
        pytest.skip(SKIP_REASON)
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=BROWSER_ARGS)
        yield b
        b.close()


