"""Render a `Report` as ONE self-contained HTML file: opens offline, prints cleanly to PDF.

- plotly.js is inlined once per document: the vendored *basic* bundle (scatter, bar, pie;
  1.2 MB, `assets/vendor/plotly/`) rather than plotly.py's full 4.8 MB bundle; the report's
  charts use only those trace types.
- folium maps come from `core.viz.offline.offline_map` (Leaflet inlined, no tiles) and are
  embedded as `<iframe srcdoc>`, so each map keeps its own page and scripts.
- `@media print`: no page break inside a figure or a map, readable widths, no controls.
"""
from __future__ import annotations

import html
from functools import lru_cache
from pathlib import Path

import folium
import plotly.graph_objects as go

from core.reports.content import Report, Section

PLOTLY_BASIC = Path(__file__).resolve().parents[2] / "assets" / "vendor" / "plotly" / "plotly-basic.min.js"
PLOT_CONFIG = {"displaylogo": False, "responsive": True,
               "modeBarButtonsToRemove": ["toImage", "sendDataToCloud"]}

CSS = """
body{font-family:-apple-system,"Segoe UI",Helvetica,Arial,sans-serif;color:#222;max-width:960px;
 margin:0 auto;padding:24px;line-height:1.5;font-size:16px}
h1{font-size:1.6em;margin-bottom:.2em}h2{font-size:1.25em;margin-top:1.6em;border-bottom:1px solid #ddd}
.headline{font-size:1.35em;background:#fbeaea;border-left:6px solid #c0392b;padding:14px 18px;
 margin:18px 0}
.headline .number{font-weight:700;color:#c0392b}
.meta{color:#666;font-size:.9em}
figure{margin:12px 0;break-inside:avoid;page-break-inside:avoid}
figcaption{color:#444;font-size:.92em;margin-top:4px}
iframe.map{width:100%;height:460px;border:1px solid #ccc}
table{border-collapse:collapse;margin:10px 0;font-size:.92em;break-inside:avoid}
th,td{border:1px solid #ccc;padding:4px 8px;text-align:left;vertical-align:top}
th{background:#f3f3f3}
.chart{width:100%;height:360px}
@media print{
 body{max-width:none;padding:0;font-size:11pt}
 .headline{-webkit-print-color-adjust:exact;print-color-adjust:exact}
 h2{break-after:avoid;page-break-after:avoid}
 .modebar-container{display:none!important}
 iframe.map{height:400px}
 .chart{width:17cm}
}
"""


@lru_cache(maxsize=1)
def plotly_js() -> str:
    """The vendored plotly.js basic bundle (shipped with the app)."""
    return PLOTLY_BASIC.read_text(encoding="utf-8")


def _script(js: str) -> str:
    return "<script>" + js.replace("</script", "<\\/script") + "</script>"


def figure_html(fig: go.Figure, div_id: str) -> str:
    """One chart, drawn by the page's (single) plotly.js."""
    fig = go.Figure(fig)
    fig.update_layout(height=fig.layout.height or 360, autosize=True, width=None,
                      margin=dict(l=70, r=70, t=60, b=60))  # room for both axes when printed
    body = fig.to_html(full_html=False, include_plotlyjs=False, div_id=div_id, config=PLOT_CONFIG)
    return f'<figure class="figure">{body}</figure>'


def map_html(m: folium.Map, caption: str, title: str) -> str:
    """A folium map in its own frame (`srcdoc`): Leaflet and the map script stay in that frame."""
    doc = m.get_root().render()
    return (f'<figure class="map"><iframe class="map" title="{html.escape(title)}" '
            f'srcdoc="{html.escape(doc, quote=True)}"></iframe>'
            f"<figcaption>{html.escape(caption)}</figcaption></figure>")


def table_html(rows: list[dict]) -> str:
    if not rows:
        return ""
    cols = list(rows[0])
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in cols)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(r.get(c, '')))}</td>" for c in cols)
                   + "</tr>" for r in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def section_html(sec: Section, index: int) -> str:
    parts = [f"<section><h2>{html.escape(sec.title)}</h2>"]
    if len(sec.paragraphs) > 1 and sec.title.startswith("Limits"):
        parts.append("<ul>" + "".join(f"<li>{html.escape(p)}</li>" for p in sec.paragraphs) + "</ul>")
    else:
        parts += [f"<p>{html.escape(p)}</p>" for p in sec.paragraphs]
    for j, (caption, m) in enumerate(sec.maps):
        parts.append(map_html(m, caption, f"map {index}.{j}"))
    for j, fig in enumerate(sec.figures):
        parts.append(figure_html(fig, f"chart-{index}-{j}"))
    if sec.table:
        parts.append(table_html(sec.table))
    return "".join(parts) + "</section>"


def render(report: Report, generated: str = "") -> str:
    """The whole document as one string."""
    h = report.headline
    sentence = html.escape(h.text).replace(
        "{number}", f'<span class="number" id="headline-number" data-value="'
                    f'{"" if h.number is None else repr(h.number)}">{html.escape(h.shown)}</span>')
    needs_plotly = any(s.figures for s in report.sections)
    head = (f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
            f"<meta name='viewport' content='width=device-width, initial-scale=1'>"
            f"<title>{html.escape(report.title)}</title><style>{CSS}</style>"
            + (_script(plotly_js()) if needs_plotly else "") + "</head><body>")
    top = (f"<h1>{html.escape(report.title)}</h1>"
           f"<p class='meta'>ST-GIA Lab · {html.escape(report.kind)}"
           + (f" · {html.escape(generated)}" if generated else "") + "</p>"
           f"<p class='headline' id='headline'>{sentence}</p>")
    body = "".join(section_html(s, i) for i, s in enumerate(report.sections))
    return head + top + body + "</body></html>"
