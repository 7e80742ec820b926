"""Every page in Chromium, as a user goes: runs the demo on Home, downloads its report, then opens
each page from the app's own navigation. Fails on any request outside the dashboard's own
server and on any console error. Also: deep links on a fresh server show the app's navigation,
History puts `?run=ID` in the address, `/?run=ID` on Home opens the run.
Skipped when chromium or playwright is missing."""
from __future__ import annotations

import pytest

from tests.e2e.helpers import ARTIFACTS, AVAILABLE, SKIP_REASON, WAIT_MS, settle

pytestmark = [pytest.mark.e2e, pytest.mark.skipif(not AVAILABLE, reason=SKIP_REASON)]

PAGES = ["Attack lab", "Defense trade-offs", "Attack comparison & ablation", "Learn", "History",
         "Home"]
# On a deep link (/history) Streamlit's frontend first probes /history/_stcore/health and
# /history/_stcore/host-config to find its base path, then uses /_stcore/...: those two 404s
# are Streamlit's own, on the app's server, and only on a deep link.
BASE_PATH_PROBES = ("/_stcore/health", "/_stcore/host-config")


class Watch:
    """Requests leaving the app's server and console errors of one page."""

    def __init__(self, page, server: str) -> None:
        self.outside: list[str] = []
        self.errors: list[str] = []
        self.failed: list[str] = []
        local = (server, "data:", "blob:", "about:")
        page.on("request", lambda r: None if r.url.startswith(local) else self.outside.append(r.url))
        page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: self.errors.append(str(e)))
        page.on("response", lambda r: self.failed.append(r.url) if r.status >= 400 else None)


def nav_titles(page) -> list[str]:
    links = page.locator('[data-testid="stSidebarNav"] a')
    return [t.strip() for t in links.all_inner_texts()]


def wait_nav(page) -> None:
    page.wait_for_function(
        "() => [...document.querySelectorAll('[data-testid=\"stSidebarNav\"] a')]"
        ".some(a => a.innerText.includes('Defense trade-offs'))", timeout=60_000)


def test_deep_link_on_a_fresh_server_shows_the_apps_navigation(server, browser):
    page = browser.new_page(viewport={"width": 1024, "height": 900})
    page.goto(f"{server}/learn?learn_iters=20")   # the module's first page load: a fresh server
    settle(page)
    page.wait_for_selector("h1", timeout=60_000)
    wait_nav(page)
    titles = " ".join(nav_titles(page))
    assert "Defense trade-offs" in titles and "app" not in titles.split()
    page.close()


def test_every_page_after_a_demo_run_stays_on_the_apps_server(server, browser):
    page = browser.new_page(viewport={"width": 1024, "height": 1200})
    watch = Watch(page, server)
    page.goto(f"{server}/?clients=4&rounds=2&iters=30")
    settle(page)
    run = page.get_by_role("button", name="Run the demo")
    run.wait_for(timeout=180_000)  # the first run of a page imports torch: slow under load
    run.click()
    page.get_by_text("Saved as run").wait_for(timeout=300_000)
    settle(page)
    page.get_by_text("Saved as run").wait_for(timeout=60_000)
    report = page.get_by_role("button", name="Download report").first
    report.wait_for(timeout=120_000)
    with page.expect_download(timeout=120_000) as dl:
        report.click()
    html = dl.value.path().read_text(encoding="utf-8")
    assert 'id="headline-number"' in html and "http://" not in html.split("<body>", 1)[1][:2000]
    wait_nav(page)
    for title in PAGES:
        link = page.locator('[data-testid="stSidebarNav"] a', has_text=title).first
        path = link.evaluate("a => new URL(a.href).pathname")
        link.click()
        # the address changes when the server starts the page's script: then wait for it to end
        page.wait_for_function("p => location.pathname === p", arg=path, timeout=WAIT_MS)
        page.wait_for_function("() => [...document.querySelectorAll('h1')].some(h => h.innerText"
                               ".length > 0)", timeout=WAIT_MS)
        settle(page)
        assert page.locator('[data-testid="stException"]').count() == 0, title
    # Home (the last page) at 1,024 px: the diagram's text is readable, no link is cut
    page.wait_for_selector('[data-testid="stGraphVizChart"] svg text', timeout=60_000)
    smallest = page.evaluate("() => Math.min(...[...document.querySelectorAll("
                             "'[data-testid=\"stGraphVizChart\"] svg text')]"
                             ".map(t => t.getBoundingClientRect().height))")
    assert smallest >= 11, smallest
    cut = page.evaluate("() => [...document.querySelectorAll('[data-testid=\"stPageLink\"] a')]"
                        ".filter(a => a.scrollWidth > a.clientWidth + 1).map(a => a.innerText)")
    assert cut == [], cut
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "e2e_every_page.png"), full_page=True)
    assert watch.outside == [], watch.outside
    assert watch.errors == [], (watch.errors, watch.failed)
    page.close()


def test_history_links_runs_and_home_opens_them(server, browser):
    page = browser.new_page(viewport={"width": 1280, "height": 1200})
    page.goto(f"{server}/history")
    settle(page)
    page.wait_for_selector('[data-testid="stDataFrame"]', timeout=120_000)
    # the table is a canvas grid: select the first row by its row-selection checkbox column
    grid = page.locator('[data-testid="stDataFrame"]').first
    box = grid.bounding_box()
    page.mouse.click(box["x"] + 18, box["y"] + 54)
    page.wait_for_function("() => location.search.includes('run=')", timeout=60_000)
    run_id = page.url.split("run=")[1].split("&")[0]
    home = browser.new_page(viewport={"width": 1280, "height": 1200})
    watch = Watch(home, server)
    home.goto(f"{server}/?run={run_id}")
    settle(home)
    home.get_by_text(f"run `{run_id}`".replace("`", "")).first.wait_for(timeout=60_000)
    assert "history" in home.url and f"run={run_id}" in home.url
    assert watch.outside == []
    # only Streamlit's base-path probes of the deep link may fail
    assert all(u.endswith(BASE_PATH_PROBES) for u in watch.failed), watch.failed
    home.close()
    page.close()
