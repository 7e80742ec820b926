"""The stakeholder report in Chromium: opened from disk it makes no network request at all (every
request but the file itself is recorded and aborted), its headline number is the run's JSON, its
charts and map draw, and it prints to PDF. Skipped when chromium or playwright is missing."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.e2e.helpers import ARTIFACTS, AVAILABLE, ROOT, SKIP_REASON

pytestmark = [pytest.mark.e2e, pytest.mark.skipif(not AVAILABLE, reason=SKIP_REASON)]

SWEEP = ROOT / "docs" / "results" / "def_demo_paper_round.json"


def cli(*args: str) -> None:
    subprocess.run([sys.executable, "-m", "core", *args], cwd=ROOT, check=True,
                   capture_output=True, timeout=600)


@pytest.fixture(scope="module")
def attack_report(tmp_path_factory) -> tuple[dict, Path]:
    tmp = tmp_path_factory.mktemp("report")
    doc_path, html = tmp / "run.json", tmp / "run.html"
    cli("attack", "--dataset", "demo", "--clients", "4", "--rounds", "2", "--iters", "30",
        "--json", str(doc_path), "--quiet")
    cli("report", str(doc_path), "--out", str(html))
    return json.loads(doc_path.read_text()), html


def open_offline(browser, html: Path):
    """The report's page with every request recorded; anything but the file itself is aborted."""
    page = browser.new_page(viewport={"width": 1100, "height": 1400})
    requests: list[str] = []
    errors: list[str] = []
    page.on("request", lambda r: requests.append(r.url))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    me = html.resolve().as_uri()
    page.route("**/*", lambda route: route.continue_() if route.request.url == me
               else route.abort())
    page.goto(me)
    page.wait_for_load_state("load")
    return page, requests, errors, me


def network(requests: list[str], me: str) -> list[str]:
    """Requests that would leave the file: anything but the report itself and inline data."""
    return [u for u in requests if u != me and not u.startswith(("data:", "about:", "blob:"))]


def test_attack_report_opens_offline_with_the_runs_number(browser, attack_report):
    doc, html = attack_report
    page, requests, errors, me = open_offline(browser, html)
    page.wait_for_selector(".js-plotly-plot .main-svg", timeout=60_000)
    shown = float(page.get_attribute("#headline-number", "data-value"))
    assert shown == pytest.approx(doc["summary"]["first_round_asr"])
    assert page.text_content("#headline-number") == f"{100 * shown:.0f} %"
    assert page.locator(".js-plotly-plot").count() == 2          # attack and utility curves
    frame = page.frame_locator("iframe.map")
    frame.locator(".leaflet-container").wait_for(timeout=30_000)  # Leaflet inlined, drawn
    page.pdf(path=str(html.with_suffix(".pdf")))                  # prints
    assert html.with_suffix(".pdf").stat().st_size > 10_000
    assert network(requests, me) == [] and errors == []
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "e2e_report.png"), full_page=True)
    page.close()


def test_sweep_report_opens_offline_with_the_sweeps_number(browser, tmp_path):
    html = tmp_path / "sweep.html"
    cli("report", str(SWEEP), "--out", str(html))
    doc = json.loads(SWEEP.read_text())
    page, requests, errors, me = open_offline(browser, html)
    page.wait_for_selector(".js-plotly-plot .main-svg", timeout=60_000)
    shown = float(page.get_attribute("#headline-number", "data-value"))
    assert shown == pytest.approx(doc["defenses"]["none"]["asr"])
    assert "metres" in page.text_content("body") or " m on average" in page.text_content("body")
    assert network(requests, me) == [] and errors == []
    page.close()
