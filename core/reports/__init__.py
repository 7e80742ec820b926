"""Stakeholder reports: one self-contained HTML file per result document.

    from core.reports import build_report
    html = build_report(doc)            # any result document (attack, comparison, sweep, maps)

`core.reports.content` maps a document to what the report says; `core.reports.html` renders it.
"""
from __future__ import annotations

from core.reports.content import Report, kind_of, report_content
from core.reports.html import render


def build_report(doc: dict, roads=None, tiles: str = "none", generated: str = "") -> str:
    """The HTML report of `doc` (roads: a road network to draw under the maps, optional)."""
    return render(report_content(doc, roads, tiles), generated)


def default_roads(doc: dict):
    """The demo city's roads when `doc` ran on the demo (generated, cheap); None otherwise."""
    from core.reports.content import kind_of as _kind

    inner = doc
    if _kind(doc) == "defense-maps":
        inner = next(iter((doc.get("runs") or {}).values()), {})
    cfg = inner.get("config") or {}
    if cfg.get("dataset") != "demo" or cfg.get("roads"):
        return None
    from core.experiments.config import RunConfig
    from core.experiments.setup import load_inputs

    return load_inputs(RunConfig())[1]


__all__ = ["Report", "build_report", "default_roads", "kind_of", "report_content"]
