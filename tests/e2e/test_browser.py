"""End to end: `streamlit run app.py` driven by headless Chromium (Debian's package) via Playwright.

Runs the one-click demo on the Home page, waits until it has finished (no loading skeleton left,
the "Saved as run" line shown), takes a screenshot into tests/artifacts/ and checks that the map
iframe really drew Leaflet (offline: Leaflet is inlined) and that the plotly charts are there;
checks that the configuration lives in the URL, that a reload keeps the session's private runs
(and a shared link does not open them), and that stopping the server keeps a running run.

Every wait is for the state the test asserts (an element, a value, a URL, a file), never a fixed
time: the machines are shared and a busy one is slow, not wrong.
Skipped when chromium or playwright is missing.
"""
from __future__ import annotations

import re
import signal

import pytest

from core.store import RunStore
from tests.e2e.helpers import ARTIFACTS, AVAILABLE, SKIP_REASON, WAIT_MS, dashboard, settle

if AVAILABLE:
    from playwright.sync_api import expect

pytestmark = [pytest.mark.e2e, pytest.mark.skipif(not AVAILABLE, reason=SKIP_REASON)]


def map_frame(page):
    el = page.wait_for_selector('iframe[title*="st_folium"]', timeout=WAIT_MS)
    return el.content_frame()


def saved_run_id(page) -> str:
    """Wait for the "Saved as run `ID`" line of a finished run; its id."""
    line = page.get_by_text("Saved as run").first
    line.wait_for(timeout=300_000)
    found = re.search(r"Saved as run\s+`?([0-9a-f]{12})", line.inner_text())
    assert found, line.inner_text()
    return found.group(1)


def test_demo_run_in_the_browser(server, browser):
    page = browser.new_page(viewport={"width": 1400, "height": 1800})
    page.goto(f"{server}/?clients=6&rounds=4&iters=40")
    settle(page)
    run = page.get_by_role("button", name="Run the demo")
    run.wait_for(timeout=180_000)  # the server's first page run imports torch: slow under load
    run.click()
    saved_run_id(page)
    settle(page)
    frame = map_frame(page)
    # the polylines are drawn (canvas renderer): Leaflet has layers on the map
    frame.wait_for_function("() => typeof L === 'object' && window.map"
                            " && document.querySelector('.leaflet-container')"
                            " && Object.keys(window.map._layers).length > 5", timeout=WAIT_MS)
    expect(frame.locator(".leaflet-control-layers")).to_have_count(1, timeout=WAIT_MS)
    # plotly has drawn its charts (an svg per chart), not just the placeholders
    page.wait_for_selector('[data-testid="stPlotlyChart"] .js-plotly-plot .main-svg',
                           timeout=WAIT_MS)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "e2e_home_demo.png"), full_page=True)
    assert page.locator('[data-testid="stException"]').count() == 0
    page.close()


def test_every_page_renders(server, browser):
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    for path in ("attack_lab", "defenses", "attack_comparison", "learn", "history"):
        page.goto(f"{server}/{path}?learn_iters=20")
        page.wait_for_selector("h1", timeout=WAIT_MS)
        settle(page)
        assert page.locator('[data-testid="stException"]').count() == 0, path
    page.close()


def test_configuration_lives_in_the_url(server, browser):
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.goto(f"{server}/attack_lab?clients=7&attack=dlg")
    settle(page)
    page.wait_for_selector("h1", timeout=WAIT_MS)
    # the sidebar may still be on its first render: wait for the URL's value to arrive
    expect(page.get_by_role("spinbutton", name="Clients")).to_have_value("7", timeout=WAIT_MS)
    rounds = page.get_by_role("spinbutton", name="Rounds")
    rounds.fill("9")
    rounds.press("Enter")
    expect(page).to_have_url(re.compile(r"[?&]rounds=9(&|$)"), timeout=WAIT_MS)
    assert "clients=7" in page.url and "attack=dlg" in page.url
    expect(page.get_by_role("spinbutton", name="Clients")).to_have_value("7")
    page.close()


def test_private_runs_survive_a_reload_and_a_link_does_not_share_them(server, browser):
    me = browser.new_context(viewport={"width": 1400, "height": 1200})
    page = me.new_page()
    page.goto(f"{server}/attack_lab?source=server&path=trips.csv&clients=3&rounds=2&iters=5")
    settle(page)
    expect(page.get_by_role("textbox", name="Path on the server")).to_have_value(
        "trips.csv", timeout=WAIT_MS)
    page.get_by_role("button", name="Run", exact=True).click()
    run_id = saved_run_id(page)

    link = f"{server}/history?run={run_id}"
    for step in ("link", "reload"):   # opened from the link, then after a reload of the page
        page.goto(link) if step == "link" else page.reload()
        settle(page)
        expect(page.get_by_text(f"run {run_id}", exact=False)).to_be_visible(timeout=WAIT_MS)
        expect(page.get_by_text("private to its workspace")).to_be_visible(timeout=WAIT_MS)
    page.goto(f"{server}/history")
    settle(page)
    expect(page.locator('[data-testid="stDataFrame"]')).to_have_count(1, timeout=WAIT_MS)
    assert page.get_by_text("No runs yet").count() == 0
    # the workspace is in a cookie of this site only, never in the URL
    cookies = {c["name"]: c for c in me.cookies()}
    assert cookies["st_gia_workspace"]["value"] not in page.url
    assert cookies["st_gia_workspace"]["sameSite"] == "Strict"

    # another visitor with the same link: a message, not the run
    other = browser.new_context(viewport={"width": 1400, "height": 1000})
    theirs = other.new_page()
    theirs.goto(link)
    settle(theirs)
    expect(theirs.get_by_text("private to another session")).to_be_visible(timeout=WAIT_MS)
    assert theirs.get_by_text("private to its workspace").count() == 0
    other.close()
    me.close()


def test_stopping_the_server_saves_the_running_run_as_stopped(browser, tmp_path):
    with dashboard(tmp_path) as (url, proc):
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(f"{url}/attack_lab?clients=3&rounds=50&iters=100")
        settle(page)
        expect(page.get_by_role("spinbutton", name="Rounds")).to_have_value("50",
                                                                             timeout=WAIT_MS)
        page.get_by_role("button", name="Run", exact=True).click()
        # the job's progress label "… — done/total · s": wait for two finished rounds
        page.wait_for_function(
            "() => { const m = document.body.innerText.match(/— (\\d+)\\/(\\d+)/);"
            " return m && +m[1] >= 2; }", timeout=WAIT_MS)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=120) is not None
        page.close()
    store = RunStore(tmp_path / "runs.sqlite")
    [info] = store.list("another visitor")   # a demo run: public
    doc = store.get(info.id, "another visitor")
    assert info.status == "stopped" and doc["stopped"] is True
    assert 2 <= len(doc["rounds"]) < 50
