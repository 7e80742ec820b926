"""Fixtures of the browser tests: a dashboard server on a free port with its own run store and
data directory (module-scoped, see `helpers.dashboard`), and Debian's chromium via Playwright."""
from __future__ import annotations

import pytest

from tests.e2e.helpers import (AVAILABLE, BROWSER_ARGS, CHROMIUM, SKIP_REASON, ServerDidNotStart,
                               dashboard)

if AVAILABLE:
    from playwright.sync_api import sync_playwright


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """A dashboard server shared by the tests of a module; its url."""
    if not AVAILABLE:
        pytest.skip(SKIP_REASON)
    try:
        with dashboard(tmp_path_factory.mktemp("e2e")) as (url, _proc):
            yield url
    except ServerDidNotStart as e:
        pytest.fail(str(e))


@pytest.fixture(scope="module")
def browser():
    if not AVAILABLE:
        pytest.skip(SKIP_REASON)
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=BROWSER_ARGS)
        yield b
        b.close()
