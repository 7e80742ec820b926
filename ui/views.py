"""Views of the experiment documents (compare-attacks, ablation, compare-defenses, defense maps),
shared by their pages and by History."""
from __future__ import annotations

import json

import streamlit as st

from core.errors import InputError
from core.store.export import defense_rows
from core.viz import figures, maps
from core.viz.labels import METRICS, label
from ui.results import map_caption, metrics, report_button, roads_for_doc, show_map


def column_config(rows: list[dict]) -> dict:
    """Readable headers, tooltips and rounded numbers for a table of document fields."""
    keys = {k for r in rows for k in r}
    out = {}
    for k in keys:
        m = METRICS.get(k)
        if m is None:
            out[k] = st.column_config.Column(label(k))
        elif m.fmt:
            out[k] = st.column_config.NumberColumn(m.label, help=m.help, format=m.fmt)
        else:
            out[k] = st.column_config.Column(m.label, help=m.help)
    return out


def table(rows: list[dict], key: str) -> None:
    """A document table with readable headers and rounded numbers."""
    st.dataframe(rows, hide_index=True, key=key, column_config=column_config(rows))


def _paper_table(doc: dict, metric: str) -> str | None:
    try:
        from core.experiments.compare import markdown_table
        return markdown_table(doc, metric)
    except Exception:  # noqa: BLE001 - the module may be missing or the document older
        return None


def comparison_view(doc: dict, key: str = "cmp") -> None:
    """compare-attacks (`attacks`) or ablation (`variants`) document."""
    group = "attacks" if "attacks" in doc else "variants"
    series = {n: b.get("rounds", []) for n, b in doc.get(group, {}).items()}
    if not series:
        st.info("The document has no results.")
        return
    cfg = doc.get("config", {})
    report_button(doc, key, stem=f"st-gia-{group}")
    st.caption(f"dataset {cfg.get('dataset')}, {cfg.get('clients')} clients, "
               f"{doc.get('rounds_run', cfg.get('rounds'))} rounds, window {cfg.get('window')}, "
               f"{cfg.get('iters')} iterations, defense {cfg.get('defense', 'none')}"
               + (" — stopped early" if doc.get("stopped") else ""))
    # several seeds: the lines are means, the bars 95 % CIs
    ci = {n: b["ci95"]["rounds"] for n, b in doc.get(group, {}).items() if "ci95" in b} or None
    if group == "variants":
        st.plotly_chart(figures.ablation_figure(doc), key=f"{key}_abl")
        st.plotly_chart(figures.series_figure(series, "asr", "ASR per round, per variant", ci),
                        key=f"{key}_abl_rounds")
    else:
        st.plotly_chart(figures.series_figure(series, "asr", "ASR per round (Tables 3/4)", ci),
                        key=f"{key}_asr")
        st.plotly_chart(figures.series_figure(series, "ait", "AIT per round", ci),
                        key=f"{key}_ait")
    paper = _paper_table(doc, "asr")
    if paper:
        st.markdown(paper)
        st.caption(f"ASR: {METRICS['asr'].help}. AIT: {METRICS['ait'].help}. Seconds: each "
                   "attack's own wall time.")
    else:
        table(figures.mean_table(series), key=f"{key}_table")


def epsilon_scope_text(scope: str, rounds: int) -> str:
    """One sentence on what ε means under `scope`, with a distance a reader can picture."""
    # planar Laplace with ε per km: mean displacement 2/ε km
    if scope == "round":
        return (f"**ε per round** (the paper's reading): every one of the {rounds} rounds' "
                "releases gets ε, so a whole run composes to up to "
                f"{rounds}·ε per user; for Geo-I, ε = 1 per km moves each point ~2 km on "
                "average in every round, ε = 10 about 200 m.")
    return (f"**ε per user over the whole run**: the {rounds} rounds share ε, so each round gets "
            f"about ε/{rounds}; for Geo-I that is ε = {rounds} per km for the whole run → ~2 km "
            "of noise per point per round.")


def defense_view(doc: dict, key: str = "def") -> None:
    """compare-defenses document: Table 5 heatmaps, the frontier, allocations, the table."""
    if not doc.get("defenses"):
        st.info("The document has no defenses.")
        return
    cfg = doc.get("config", {})
    report_button(doc, key, stem="st-gia-defenses")
    st.caption(f"dataset {cfg.get('dataset')}, {cfg.get('clients')} clients, {cfg.get('rounds')} "
               f"rounds, {cfg.get('iters')} attack iterations; attack {cfg.get('attack', 'st-gia')}")
    from core.experiments.defenses import reading

    st.markdown("\n".join(f"- {line}" for line in reading(doc)))
    t1, t2 = st.tabs(["ASR (Table 5)", "recall@5 of the final model"])
    with t1:
        st.plotly_chart(figures.defense_heatmap(doc, "asr"), key=f"{key}_hm_asr")
    with t2:
        st.plotly_chart(figures.defense_heatmap(doc, "recall_at_5"), key=f"{key}_hm_rec")
    st.plotly_chart(figures.frontier_figure(doc), key=f"{key}_frontier")
    allocs = {n: b for n, b in doc["defenses"].items() if n != "none" and isinstance(b, dict)}
    eps_all = sorted({e for b in allocs.values() for e in b}, key=float)
    if eps_all:
        eps = st.selectbox("Budget allocation at ε", eps_all, index=len(eps_all) - 1,
                           key=f"{key}_alloc_eps")
        series: dict[str, list] = {}
        for n, b in allocs.items():
            a = (b.get(eps) or {}).get("allocation")
            if a and a not in series.values():  # uniform mechanisms share one allocation
                series[doc.get("labels", {}).get(n, n)] = a
        if series:
            per_round = cfg.get("epsilon_scope") == "round"   # the run's budget: T·ε or ε
            budget = float(eps) * (int(cfg.get("rounds", 1)) if per_round else 1)
            st.plotly_chart(figures.allocation_figure(series, budget), key=f"{key}_alloc")
    table(defense_rows(doc), key=f"{key}_rows")


def defense_maps_view(doc: dict, key: str = "dmaps", tiles: str = "none") -> None:
    """One user's reconstruction under each defense, side by side."""
    runs = doc.get("runs", {})
    if not runs:
        st.info("No runs in the document.")
        return
    first = next(iter(runs.values()))
    clients = {c["client"]: f"user {c['user_id']} (client {c['client']})"
               for c in first.get("reconstructions", {}).get("clients", [])}
    if not clients:
        st.info("No reconstructions yet.")
        return
    roads = roads_for_doc(first)
    report_button(doc, key, stem="st-gia-defense-maps", roads=roads)
    client = st.selectbox("User", sorted(clients), format_func=clients.get, key=f"{key}_client")
    names = list(runs)
    frame = maps.client_bounds([d.get("reconstructions") or {} for d in runs.values()], client)
    for row in range(0, len(names), 2):
        cols = st.columns(2)
        for col, name in zip(cols, names[row:row + 2]):
            d = runs[name]
            with col:
                pts = [p for c in d["reconstructions"]["clients"] if c["client"] == client
                       for p in c["points"]]
                errs = sorted(p["error_m"] for p in pts)
                med = errs[len(errs) // 2] if errs else float("nan")
                eps = d["config"].get("epsilon")
                title = "no defense" if name == "none" else f"{name}, ε = {eps:g}"
                asr = d["summary"].get("mean_asr")
                st.markdown(f"**{title}** — this user's median error {med:,.0f} m; "
                            f"mean ASR {'–' if asr is None else f'{asr:.2f}'}",
                            help="median error: distance between this user's true and "
                                 "reconstructed places (lower = worse for privacy); mean ASR: "
                                 f"{METRICS['mean_asr'].help}")
                m = maps.reconstruction_map(d["reconstructions"], roads, client=client, tiles=tiles,
                                            bounds=frame)
                show_map(m, key=f"{key}_{name}", height=360)
    st.caption("Every map shows the same area at the same zoom. "
               + map_caption(roads is not None))


def load_json_upload(label: str, key: str, required: tuple[str, ...]) -> dict | None:
    """A result document from an uploaded JSON file (None if none / invalid, with an error)."""
    f = st.file_uploader(label, type=["json"], key=key)
    if f is None:
        return None
    try:
        doc = json.loads(f.getvalue().decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        st.error(f"{f.name}: not a JSON document ({exc})")
        return None
    if not isinstance(doc, dict) or not any(k in doc for k in required):
        st.error(f"{f.name}: expected a document with {' or '.join(repr(k) for k in required)}")
        return None
    st.subheader(f"Loaded: {f.name}")
    return doc


def attack_doc_view(doc: dict, key: str, tiles: str = "none") -> None:
    from ui.results import attack_result
    attack_result(doc, roads_for_doc(doc), key=key, tiles=tiles)


def any_view(kind: str, doc: dict, key: str, tiles: str = "none") -> None:
    """Dispatch on the stored run's kind."""
    if kind == "attack":
        attack_doc_view(doc, key, tiles)
    elif kind in ("compare-attacks", "ablation"):
        comparison_view(doc, key)
    elif kind == "compare-defenses":
        defense_view(doc, key)
    elif kind == "defense-maps":
        defense_maps_view(doc, key, tiles)
    else:
        st.json(doc, expanded=False)


__all__ = ["any_view", "comparison_view", "defense_maps_view", "defense_view", "metrics",
           "epsilon_scope_text", "load_json_upload"]
