"""Screenshots of every dashboard page for the docs: `python tests/e2e/screenshots.py [OUT_DIR]`.

Starts `streamlit run app.py` on a free port with a throw-away run store, drives Debian's chromium
with Playwright (runs a small experiment on each page and waits for it to finish), and writes
docs/screenshots/<page>.png, downscaled and palette-quantised so they stay small.
"""
from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:   # run as a script: `tests.e2e.helpers` is found from the repo root
    sys.path.insert(0, str(ROOT))

from playwright.sync_api import sync_playwright  # noqa: E402

from tests.e2e.helpers import BROWSER_ARGS, CHROMIUM, dashboard  # noqa: E402
from tests.e2e.helpers import settle as script_done  # noqa: E402

WAIT = 300_000


# pages whose screenshot shows a finished run: (page, query string, its run button)
RUN_PAGES = (("attack_lab", "clients=10&rounds=10", "Run"),
             ("defenses", "clients=5&rounds=5&iters=40", "Run sweep"),
             ("attack_comparison", "clients=8&rounds=8&iters=80", "Run comparison"))


def settle(page) -> None:
    """Wait for the state a screenshot shows: the script has run, no skeleton is left, every
    plotly chart has drawn its svg and every map has drawn Leaflet (no fixed-time waits)."""
    script_done(page, WAIT)
    page.wait_for_selector("h1", timeout=WAIT)
    # no script running (Streamlit's "Running…/Stop" widget gone): nothing shown faded as stale
    page.wait_for_function("() => !document.querySelector('[data-testid=\"stStatusWidget\"]')",
                           timeout=WAIT)
    page.wait_for_function(
        "() => [...document.querySelectorAll('[data-testid=\"stPlotlyChart\"]')]"
        ".every(c => c.querySelector('.main-svg'))", timeout=WAIT)
    for el in page.query_selector_all('iframe[title*="st_folium"]'):
        el.content_frame().wait_for_selector(".leaflet-container", timeout=WAIT)


def shrink(path: Path, scale: float = 0.55) -> None:
    from PIL import Image

    im = Image.open(path).convert("RGB")
    im = im.resize((int(im.width * scale), int(im.height * scale)), Image.LANCZOS)
    im.quantize(colors=128, method=Image.Quantize.MEDIANCUT).save(path, optimize=True)


def report_shot(browser, page, out: Path) -> None:
    """The run's report as the Download report button gives it, opened from disk."""
    button = page.get_by_role("button", name="Download report").first
    button.wait_for(timeout=WAIT)
    with page.expect_download(timeout=WAIT) as dl:
        button.click()
    html = out / "_report.html"  # .html: chromium renders a file by its extension
    dl.value.save_as(str(html))
    view = browser.new_page(viewport={"width": 1000, "height": 1400})
    view.goto(html.resolve().as_uri())
    view.wait_for_selector(".js-plotly-plot .main-svg", timeout=WAIT)
    view.frame_locator("iframe.map").locator(".leaflet-container").wait_for(timeout=WAIT)
    path = out / "report.png"
    view.screenshot(path=str(path), full_page=True)
    shrink(path)
    print("wrote", path, path.stat().st_size // 1024, "KB", flush=True)
    view.close()
    html.unlink()


def main(out: Path, only: set[str] | None = None) -> None:
    """Every page (or the pages in `only`: home, attack_lab, defenses, attack_comparison, learn,
    history; "home" also shoots the report)."""
    out.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix="st-gia-shots-"))
    try:
        with dashboard(tmp, start_timeout_s=60, log=False, data=False) as (url, _proc), \
                sync_playwright() as p:
            b = p.chromium.launch(executable_path=CHROMIUM, args=BROWSER_ARGS)
            # Streamlit scrolls inside its main container: a tall viewport captures the whole page
            page = b.new_page(viewport={"width": 1280, "height": 2300})

            def wanted(name: str) -> bool:
                return only is None or name in only

            def shot(name: str) -> None:
                settle(page)
                path = out / f"{name}.png"
                page.screenshot(path=str(path), full_page=True)
                shrink(path)
                print("wrote", path, path.stat().st_size // 1024, "KB", flush=True)

            if wanted("home"):
                page.goto(f"{url}/")
                settle(page)
                page.get_by_role("button", name="Run the demo").click()
                page.get_by_text("Saved as run").wait_for(timeout=WAIT)
                shot("home")
                report_shot(b, page, out)

            for name, query, button in RUN_PAGES:   # open, run, wait for the saved run
                if wanted(name):
                    page.goto(f"{url}/{name}?{query}")
                    settle(page)
                    page.get_by_role("button", name=button, exact=True).click()
                    page.get_by_text("Saved as run").first.wait_for(timeout=WAIT)
                    shot(name)

            if wanted("learn"):
                page.goto(f"{url}/learn")
                page.get_by_text("AIT: iterations to a successful attack").wait_for(timeout=WAIT)
                page.get_by_role("button", name="Show calibration on one point").click()
                page.get_by_text("seen in rounds").wait_for(timeout=WAIT)
                shot("learn")

            if wanted("history"):
                page.goto(f"{url}/history")
                settle(page)
                grid = page.locator('[data-testid="stDataFrame"]').first
                box = grid.bounding_box()
                page.mouse.click(box["x"] + 18, box["y"] + 54)   # select the newest run
                page.wait_for_function("() => location.search.includes('run=')", timeout=WAIT)
                shot("history")
            b.close()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "docs" / "screenshots",
         set(sys.argv[2:]) or None)
