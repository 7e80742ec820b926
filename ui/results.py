"""Showing result documents: metrics, the reconstruction map and the plotly charts.

The map and figure builders are `core.viz`; this module only lays them out and adds the widgets
(client picker, round slider, layer toggles).
"""
from __future__ import annotations

import math

import streamlit as st
from streamlit_folium import st_folium

from core.viz import figures, maps
from core.viz.labels import help_text

MAP_HEIGHT = 500


def _fmt(v, spec: str = ".3f", unit: str = "") -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "–"
    return f"{v:{spec}}{unit}"


def show_map(m, key: str, height: int = MAP_HEIGHT) -> None:
    """A folium map via streamlit-folium; no callbacks, so panning never reruns the app."""
    st_folium(m, key=key, height=height, use_container_width=True, returned_objects=[])


def metrics(doc: dict) -> None:
    rows = doc.get("rounds", [])
    if not rows:
        st.info("No finished round yet.")
        return
    last = rows[-1]
    asr = [r["asr"] for r in rows if r.get("asr") is not None]
    recall = [r["recall_at_5"] for r in rows if r.get("recall_at_5") is not None]
    thr = doc["config"].get("threshold_m", 500)
    cols = st.columns(5)
    cols[0].metric("Rounds finished", f"{last.get('round', len(rows))}/"
                   f"{doc['config'].get('rounds', len(rows))}",
                   help="training rounds finished out of the run's rounds")
    cols[1].metric("ASR, last round", _fmt(last.get("asr"), ".2f"),
                   help=f"attack success rate of round {last.get('round', len(rows))}: share of "
                        f"that round's places the server reconstructed within {thr:g} m; lower "
                        "is more private")
    cols[2].metric("Mean ASR", _fmt(sum(asr) / len(asr) if asr else None, ".2f"),
                   help=help_text("mean_asr"))
    cols[3].metric("Median error, last round", _fmt(last.get("median_error_m"), ",.0f", " m"),
                   help="median distance between a true place and the server's reconstruction "
                        "in the last round; lower = worse for privacy")
    base = (doc.get("summary") or {}).get("baselines") or {}
    persistence = base.get("persistence")
    cols[4].metric("recall@5 (utility)", _fmt(recall[-1] if recall else None, ".3f"),
                   delta=None if persistence is None or not recall else
                   f"{recall[-1] - persistence:+.3f} vs persistence",
                   delta_color="normal",
                   help="share of held-out next locations among the model's top 5 guesses, "
                        "for the global model after the latest round; higher = more useful. "
                        "'persistence' guesses the 5 known places nearest the current one and "
                        "needs no model at all")
    if recall and persistence is not None and recall[-1] < persistence:
        st.caption(utility_reading(recall[-1], base, doc["config"]))
    spent = last.get("epsilon_spent")
    cfg = doc["config"]
    if cfg.get("defense", "none") != "none":
        alloc = doc.get("allocation") or [r.get("epsilon_round") for r in rows]
        scope = cfg.get("epsilon_scope", "total")
        st.caption(f"Defense **{cfg['defense']}**, ε = {cfg.get('epsilon')} "
                   f"{'per round' if scope == 'round' else 'per user for the whole run'}: "
                   f"composed total {_fmt(spent, '.3g')} after {len(rows)} rounds; per-round "
                   "allocation " + ", ".join(_fmt(a, ".3g") for a in alloc[:12])
                   + (" …" if len(alloc) > 12 else ""))


def utility_reading(recall: float, baselines: dict, cfg: dict) -> str:
    """Why a model's recall@5 can sit below a predictor that needs no model, in plain words."""
    parts = ", ".join(f"{k.replace('_', ' ')} {v:.3f}" for k, v in baselines.items() if v is not None)
    why = ("the paper's model regresses one point from raw coordinates after one window per "
           "round; try the realistic preset (classification head, all windows so far)"
           if cfg.get("head", "regression") == "regression" else
           "too few rounds or too much noise for the model to learn where people go")
    return (f"recall@5 {recall:.3f} is below what simple predictors reach on the same windows "
            f"({parts}): {why}.")


def _user_label(recon: dict) -> dict[int, str]:
    return {c["client"]: f"user {c['user_id']} (client {c['client']})" for c in recon.get("clients", [])}


def reconstruction_panel(doc: dict, roads=None, key: str = "res", tiles: str = "none",
                         live: bool = False) -> None:
    """The map: one client or all, true vs reconstructed, error lines, roads, round slider."""
    recon = doc.get("reconstructions") or {}
    if not recon.get("clients"):
        st.info("The map appears after the first round.")
        return
    labels = _user_label(recon)
    options = ["all"] + sorted(labels)
    c1, c2 = st.columns([2, 3])
    client = c1.selectbox("Show", options, index=1 if len(options) > 2 else 0, key=f"{key}_client",
                          format_func=lambda c: "all clients" if c == "all" else labels[c])
    rounds = maps.rounds_of(recon)
    round_ = None
    if len(rounds) > 1 and not live:
        picked = c2.slider("After round", rounds[0], rounds[-1], rounds[-1], key=f"{key}_round",
                           help="how the reconstruction evolves: estimates as they stood after "
                                "this round (calibration averages every recovery of a point); "
                                "the last position shows the attacker's final estimates")
        round_ = None if picked == rounds[-1] else picked
    elif live and rounds:
        c2.caption(f"Live map: estimates after round {rounds[-1]} (the map refreshes less often "
                   "than the numbers above)")
    m = maps.reconstruction_map(recon, roads, client=None if client == "all" else client,
                                round_=round_, tiles=tiles)
    show_map(m, key=f"{key}_map")
    st.caption(map_caption(roads is not None))


def map_caption(roads: bool) -> str:
    """The legend of a reconstruction map (roads only when they are drawn)."""
    return ("Blue: true trajectory · red dashed: the server's reconstruction · grey dotted: "
            "error lines" + (" · light grey: road network" if roads else
                             " · no road network for this data, so none is drawn")
            + ". Toggle layers at the top right.")


def report_button(doc: dict, key: str, stem: str = "st-gia-report", roads=None,
                  container=None) -> None:
    """'Download report': the stakeholder HTML report of `doc`, built when clicked."""
    from core.reports import build_report

    def make() -> str:
        try:
            return build_report(doc, roads, generated=f"from the dashboard ({stem})")
        except Exception as exc:  # noqa: BLE001 - a document the report cannot read
            return (f"<!DOCTYPE html><meta charset='utf-8'><p>The report could not be built "
                    f"from this result: {type(exc).__name__}: {exc}</p>")
    (container or st).download_button(
        "Download report", make, file_name=f"{stem}.html", mime="text/html",
        icon=":material/description:", key=f"{key}_report", on_click="ignore",
        help="one HTML file for readers outside the field: the result in plain words, a map, "
             "the curves, the settings and the limits; opens offline and prints to PDF")


def charts(doc: dict, key: str = "res") -> None:
    rows = doc.get("rounds", [])
    if not rows:
        return
    cfg = doc["config"]
    thr = cfg.get("threshold_m", 500.0)
    errs = [p["error_m"] for c in (doc.get("reconstructions") or {}).get("clients", [])
            for p in c["points"]]
    t1, t2, t3, t4 = st.tabs(["ASR & error per round", "Error CDF", "AIT", "Utility & budget"])
    with t1:
        st.plotly_chart(figures.rounds_figure(rows, thr), key=f"{key}_rounds")
    with t2:
        st.plotly_chart(figures.error_cdf(errs, thr), key=f"{key}_cdf")
    with t3:
        st.plotly_chart(figures.ait_figure(rows, cfg.get("iters")), key=f"{key}_ait")
    with t4:
        st.plotly_chart(figures.utility_figure(rows), key=f"{key}_util")


def attack_result(doc: dict, roads=None, key: str = "res", tiles: str = "none",
                  live: bool = False) -> None:
    """Everything about one attack run."""
    report_button(doc, key, roads=roads)
    metrics(doc)
    reconstruction_panel(doc, roads, key, tiles, live)
    charts(doc, key)


def demo_roads():
    """The demo city's road network (generated, not user data: cached for all sessions)."""
    return _demo_roads()


@st.cache_resource(show_spinner=False)
def _demo_roads():
    from core.experiments.config import RunConfig
    from core.experiments.setup import load_inputs

    return load_inputs(RunConfig())[1]


def roads_for_doc(doc: dict):
    """Road network to draw under a stored document: the demo's; others are not reloaded."""
    cfg = doc.get("config", {})
    return demo_roads() if cfg.get("dataset") == "demo" and not cfg.get("roads") else None


def attack_job_summary(job, show_dataset: bool = False, key: str = "res") -> None:
    """The fast part of an attack job's panel: progress line, error or metrics. The document it
    showed is kept for the slow part, so the map never shows a later round than the numbers."""
    from ui import jobs

    jobs.progress_line(job)
    if show_dataset and job.extra.get("dataset"):
        with st.expander("Dataset"):
            st.json(job.extra["dataset"], expanded=True)
    if job.error:
        st.error(job.error)
        return
    doc = job.partial if job.running else job.doc
    if doc:
        st.session_state[f"{key}_live_doc"] = doc
        metrics(doc)


def attack_job_details(job, key: str, tiles: str = "none") -> None:
    """The slow part: the reconstruction map, the charts and where the run was saved."""
    doc = st.session_state.get(f"{key}_live_doc") if job.running else job.doc
    if job.error or not doc:
        return
    if not job.running:
        report_button(doc, key, stem=f"st-gia-{job.run_id or 'run'}", roads=job.extra.get("roads"))
    reconstruction_panel(doc, job.extra.get("roads"), key=key, tiles=tiles, live=job.running)
    charts(doc, key=key)
    if job.run_id:
        private = " (private to this session)" if job.private else ""
        st.caption(f"Saved as run `{job.run_id}`{private} — reopen, compare or download it in History.")
