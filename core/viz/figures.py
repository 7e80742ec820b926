"""Plotly figures for the dashboard (pure builders: documents in, `go.Figure` out, no display).

Inputs are the documented JSON shapes: attack round rows (`core.experiments.report.round_rows`),
compare-attacks `{"attacks": {name: {"rounds": [...]}}}`, ablation `{"variants": {...}}` and
compare-defenses `{"defenses": {"none": {...}, name: {eps: {...}}}}`.
"""
from __future__ import annotations

import math

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from core.viz.labels import d3_format, label

ASR_COLOR = "#d62728"
ERR_COLOR = "#1f77b4"
UTIL_COLOR = "#2ca02c"
BUDGET_COLOR = "#9467bd"
LAYOUT = dict(margin=dict(l=10, r=10, t=50, b=10), height=340,
              legend=dict(orientation="h", yanchor="top", y=-0.2, x=0))
BASELINE_LABELS = {"persistence": "persistence (5 nearest places)",
                   "user_top5": "user's own top 5", "global_top5": "global top 5",
                   "transition": "transition table"}
UTILITY = "final_recall_at_5"  # what the trade-off reads: the final global model's recall@5


def _label(doc: dict, name: str) -> str:
    """A defense's display name as the document spells it (older documents: its key)."""
    return doc.get("labels", {}).get(name, name)


def _utility_key(doc: dict) -> str:
    """Documents written before the final-model utility existed carry the per-round mean."""
    base = doc.get("defenses", {}).get("none", {})
    return UTILITY if isinstance(base, dict) and UTILITY in base else "recall_at_5"


def _val(v) -> float:
    """A cell as a float: a number, or a sweep-over-seeds cell {"mean": x, ...}; NaN if missing."""
    if isinstance(v, dict):
        v = v.get("mean")
    return float("nan") if v is None else float(v)


def _col(rows: list[dict], key: str) -> list[float]:
    return [_val(r.get(key)) for r in rows]


# log axes: full numbers ("4,000", "0.12") instead of plotly's digit-only minor labels
LOG_TICKS = dict(type="log", tickformat=",.3~r", minor=dict(showgrid=False))


def _round_axis(fig: go.Figure, rounds: list, **kwargs) -> None:
    """x = training round: whole rounds only (no 1.5), at most ~12 labels."""
    n = len(set(rounds))
    fig.update_xaxes(title_text="round", dtick=max(1, math.ceil(n / 12)) if n else None,
                     tick0=1, **kwargs)


def _vline_label(fig: go.Figure, x: float, text: str, color: str, log_x: bool = False) -> None:
    """A dashed vertical line with a label at its top; on a log x axis annotations take
    log10(x) (plotly's convention), which `add_vline(annotation_text=...)` gets wrong."""
    fig.add_vline(x=x, line=dict(color=color, dash="dash"))
    fig.add_annotation(x=math.log10(x) if log_x else x, y=1, yref="paper", text=text,
                       showarrow=False, xanchor="left", yanchor="bottom", font=dict(color=color))


def rounds_figure(rows: list[dict], threshold_m: float = 500.0) -> go.Figure:
    """ASR (left axis) and median reconstruction error in metres (right, log) per round."""
    fig = make_subplots(specs=[[{"secondary_y": True}]])
    x = [r["round"] for r in rows]
    fig.add_trace(go.Scatter(x=x, y=_col(rows, "asr"), name="ASR", mode="lines+markers",
                             line=dict(color=ASR_COLOR)), secondary_y=False)
    fig.add_trace(go.Scatter(x=x, y=_col(rows, "median_error_m"), name="median error (m)",
                             mode="lines+markers", line=dict(color=ERR_COLOR, dash="dot")),
                  secondary_y=True)
    fig.update_yaxes(title_text=f"ASR (error < {threshold_m:g} m)", range=[0, 1.05],
                     hoverformat=".3f", secondary_y=False)
    fig.update_yaxes(title_text="median error (m)", secondary_y=True, hoverformat=",.0f",
                     **LOG_TICKS)
    _round_axis(fig, x)
    fig.update_layout(title="Attack success and error per round", **LAYOUT)
    return fig


def error_cdf(errors_m, threshold_m: float = 500.0) -> go.Figure:
    """Empirical CDF of per-point reconstruction errors (log x), threshold marked."""
    e = np.sort(np.asarray([v for v in errors_m if v is not None], dtype=float))
    e = e[np.isfinite(e)]
    fig = go.Figure()
    if e.size:
        y = np.arange(1, e.size + 1) / e.size
        fig.add_trace(go.Scatter(x=np.maximum(e, 0.1), y=y, mode="lines", name="points",
                                 line=dict(color=ERR_COLOR, shape="hv")))
        share = float(np.mean(e < threshold_m))
        _vline_label(fig, threshold_m, f"{threshold_m:g} m: {share:.0%} of points", ASR_COLOR,
                     log_x=True)
    fig.update_xaxes(title_text="reconstruction error (m)", hoverformat=",.0f", **LOG_TICKS)
    fig.update_yaxes(title_text="share of points", range=[0, 1.02])
    fig.update_layout(title="Error CDF (final estimates)", showlegend=False, **LAYOUT)
    return fig


def ait_figure(rows: list[dict], iters: int | None = None) -> go.Figure:
    """Attack iteration time per round: mean over points (cap for failures) and over successes."""
    x = [r["round"] for r in rows]
    fig = go.Figure()
    fig.add_trace(go.Bar(x=x, y=_col(rows, "ait"), name="AIT (failures count as the cap)",
                         marker_color=ERR_COLOR))
    if any(r.get("ait_success") is not None for r in rows):
        fig.add_trace(go.Scatter(x=x, y=_col(rows, "ait_success"), name="AIT over successes",
                                 mode="lines+markers", line=dict(color=ASR_COLOR)))
    if iters:
        fig.add_hline(y=iters, line=dict(color="grey", dash="dot"),
                      annotation_text=f"budget {iters} iterations")
    _round_axis(fig, x)
    fig.update_yaxes(title_text="iterations to < threshold")
    fig.update_layout(title="AIT: iterations until a point is found", **LAYOUT)
    return fig


def utility_figure(rows: list[dict]) -> go.Figure:
    """Model utility (recall@5) per round, and the privacy budget spent so far when defended."""
    fig = make_subplots(specs=[[{"secondary_y": True}]])
    x = [r["round"] for r in rows]
    fig.add_trace(go.Scatter(x=x, y=_col(rows, "recall_at_5"), name="recall@5",
                             mode="lines+markers", line=dict(color=UTIL_COLOR)), secondary_y=False)
    spent = _col(rows, "epsilon_spent")
    if any(v and v > 0 for v in spent if not math.isnan(v)):
        fig.add_trace(go.Scatter(x=x, y=spent, name="ε spent", mode="lines",
                                 line=dict(color=BUDGET_COLOR, dash="dash")), secondary_y=True)
        fig.add_trace(go.Bar(x=x, y=_col(rows, "epsilon_round"), name="ε this round",
                             marker_color=BUDGET_COLOR, opacity=0.35), secondary_y=True)
        fig.update_yaxes(title_text="ε", secondary_y=True)
    fig.update_yaxes(title_text="recall@5", range=[0, 1.02], hoverformat=".3f", secondary_y=False)
    _round_axis(fig, x)
    fig.update_layout(title="Utility of the global model", **LAYOUT)
    return fig


# ---- attack comparison and ablation (paper Tables 3/4, Fig. 4) --------------------------------

def series_figure(series: dict[str, list[dict]], key: str = "asr",
                  title: str = "ASR per round",
                  errors: dict[str, list[dict]] | None = None) -> go.Figure:
    """One line per attack (or ablation variant) of `key` over rounds; `errors`: per name, rows
    of 95 % CI half-widths (several seeds), drawn as error bars."""
    fig = go.Figure()
    for name, rows in series.items():
        err = (errors or {}).get(name)
        bars = (dict(type="data", array=[0.0 if math.isnan(v) else v for v in _col(err, key)],
                     visible=True) if err else None)
        fig.add_trace(go.Scatter(x=[r["round"] for r in rows], y=_col(rows, key), name=name,
                                 mode="lines+markers", error_y=bars))
    _round_axis(fig, [r["round"] for rows in series.values() for r in rows])
    fig.update_yaxes(title_text=label(key), range=[0, 1.05] if key == "asr" else None,
                     hoverformat=d3_format(key), **(LOG_TICKS if key.endswith("_m") else {}))
    fig.update_layout(title=title, **{**LAYOUT, "height": 380})
    return fig


def attacks_figure(doc: dict, key: str = "asr") -> go.Figure:
    return series_figure({n: b.get("rounds", []) for n, b in doc.get("attacks", {}).items()}, key,
                         f"{key.upper()} per round, six attacks on the same uploads")


def mean_table(series: dict[str, list[dict]], keys: tuple[str, ...] = ("asr", "ait")) -> list[dict]:
    """[{"name", "mean_asr", "mean_ait", ...}] — the Tables 3/4 view of per-round series."""
    out = []
    for name, rows in series.items():
        row = {"name": name}
        for k in keys:
            vals = [v for v in _col(rows, k) if not math.isnan(v)]
            row[f"mean_{k}"] = float(np.mean(vals)) if vals else None
        out.append(row)
    return out


def ablation_figure(doc: dict) -> go.Figure:
    """Mean ASR per ST-GIA variant (paper Fig. 4): the full attack and each component off."""
    table = mean_table({n: b.get("rounds", []) for n, b in doc.get("variants", {}).items()})
    names = [r["name"] for r in table]
    vals = [r["mean_asr"] if r["mean_asr"] is not None else float("nan") for r in table]
    colors = [ASR_COLOR if i == 0 else "#ff9896" for i in range(len(names))]
    fig = go.Figure(go.Bar(x=names, y=vals, marker_color=colors,
                           text=[f"{v:.2f}" for v in vals], textposition="outside"))
    fig.update_yaxes(title_text="mean ASR", range=[0, 1.1])
    fig.update_layout(title="Ablation: what each ST-GIA component contributes", **LAYOUT)
    return fig


# ---- defenses (paper Table 5, Fig. 5) ---------------------------------------------------------

def defense_matrix(doc: dict, metric: str = "asr") -> tuple[list[str], list[str], np.ndarray, float]:
    """(defense names, ε labels, values (D, E), undefended value) from a compare-defenses doc."""
    defs = doc.get("defenses", {})
    base = defs.get("none", {})
    base_v = _val(base.get(metric)) if isinstance(base, dict) else float("nan")
    names = [n for n, b in defs.items() if n != "none" and isinstance(b, dict)]
    eps = sorted({e for n in names for e in defs[n]}, key=float)
    z = np.full((len(names), len(eps)), np.nan)
    for i, n in enumerate(names):
        for j, e in enumerate(eps):
            cell = defs[n].get(e)
            if isinstance(cell, dict):
                z[i, j] = _val(cell.get(metric))
    return names, eps, z, base_v


def defense_heatmap(doc: dict, metric: str = "asr") -> go.Figure:
    """Table 5 as a heatmap: defense × ε, colour = ASR (or recall@5 of the final model)."""
    metric = _utility_key(doc) if metric != "asr" else metric
    names, eps, z, base = defense_matrix(doc, metric)
    scale = "Reds" if metric == "asr" else "Greens"
    fig = go.Figure(go.Heatmap(z=z, x=[f"ε={e}" for e in eps],
                               y=[_label(doc, n) for n in names], colorscale=scale,
                               zmin=0, zmax=1, text=np.round(z, 3), texttemplate="%{text}",
                               colorbar=dict(title=metric)))
    label = "ASR" if metric == "asr" else "recall@5 (final model)"
    scope = "per round" if doc.get("config", {}).get("epsilon_scope") == "round" else "total"
    fig.update_yaxes(autorange="reversed")  # the table's row order, top to bottom
    fig.update_layout(title=f"{label} per defense and ε ({scope}) (undefended: "
                            f"{base:.3f})" if not math.isnan(base) else f"{label} per defense and ε",
                      **LAYOUT)
    return fig


def frontier_figure(doc: dict) -> go.Figure:
    """Privacy–utility frontier (Fig. 5): x = ASR (lower is more private), y = recall@5 of the
    final global model; the undefended run as a star and the reference predictors (which need
    no federated model at all) as dotted horizontal lines."""
    names, eps, asr_z, base_asr = defense_matrix(doc, "asr")
    _, _, rec_z, base_rec = defense_matrix(doc, _utility_key(doc))
    fig = go.Figure()
    for i, n in enumerate(names):
        ok = ~(np.isnan(asr_z[i]) | np.isnan(rec_z[i]))
        fig.add_trace(go.Scatter(x=asr_z[i][ok], y=rec_z[i][ok], mode="lines+markers+text",
                                 name=_label(doc, n),
                                 text=[f"ε={e}" for e, k in zip(eps, ok) if k],
                                 textposition="top center"))
    if not (math.isnan(base_asr) or math.isnan(base_rec)):
        fig.add_trace(go.Scatter(x=[base_asr], y=[base_rec], mode="markers+text",
                                 name="No defense", text=["no defense"], textposition="bottom center",
                                 marker=dict(symbol="star", size=14, color="black")))
    for i, (b, v) in enumerate((doc.get("baselines") or {}).items()):
        if v is not None:
            fig.add_hline(y=v, line=dict(color="grey", dash="dot", width=1),
                          annotation_text=f"{BASELINE_LABELS.get(b, b)} {v:.3f}",
                          annotation_position="top left" if i % 2 == 0 else "bottom right",
                          annotation_font_size=11)
    fig.update_xaxes(title_text="ASR (attack success, lower = more private)", range=[-0.02, 1.02],
                     hoverformat=".3f")
    fig.update_yaxes(title_text="recall@5 of the final model (higher = more useful)",
                     hoverformat=".3f")
    fig.update_layout(title="Privacy–utility frontier", **{**LAYOUT, "height": 400})
    return fig


def allocation_figure(allocations: dict[str, list[float]], epsilon: float) -> go.Figure:
    """Per-round budget ε_t of each strategy (e.g. adaptive vs uniform ε/T), cumulative dashed."""
    fig = make_subplots(specs=[[{"secondary_y": True}]])
    for name, alloc in allocations.items():
        a = np.asarray(alloc, dtype=float)
        x = np.arange(1, len(a) + 1)
        fig.add_trace(go.Bar(x=x, y=a, name=f"{name}: ε per round", opacity=0.7), secondary_y=False)
        fig.add_trace(go.Scatter(x=x, y=np.cumsum(a), name=f"{name}: spent", mode="lines",
                                 line=dict(dash="dash")), secondary_y=True)
    fig.add_hline(y=epsilon, line=dict(color="grey", dash="dot"), secondary_y=True,
                  annotation_text=f"budget of the run: {epsilon:g}")
    _round_axis(fig, list(range(1, max((len(a) for a in allocations.values()), default=0) + 1)))
    fig.update_yaxes(title_text="ε_t", secondary_y=False)
    fig.update_yaxes(title_text="ε spent", secondary_y=True)
    fig.update_layout(title=f"Budget allocation over rounds (run budget {epsilon:g})", barmode="group",
                      **LAYOUT)
    return fig


# ---- the Learn page ---------------------------------------------------------------------------

def inversion_trace_figure(error_m, loss) -> go.Figure:
    """Distance of the dummy to the truth (m) and the gradient-matching loss, per iteration."""
    fig = make_subplots(specs=[[{"secondary_y": True}]])
    x = np.arange(len(error_m))
    fig.add_trace(go.Scatter(x=x, y=np.maximum(np.asarray(error_m, float), 0.1),
                             name="dummy's distance to the truth (m)",
                             line=dict(color=ASR_COLOR)), secondary_y=False)
    fig.add_trace(go.Scatter(x=x, y=np.maximum(np.asarray(loss, float), 1e-12),
                             name="gradient distance ‖∇w′ − ∇w‖²",
                             line=dict(color=ERR_COLOR, dash="dot")), secondary_y=True)
    fig.update_yaxes(title_text="metres", secondary_y=False, **LOG_TICKS)
    fig.update_yaxes(title_text="matching loss", type="log", exponentformat="power",
                     showgrid=False, secondary_y=True)
    fig.update_xaxes(title_text="iteration")
    fig.update_layout(title="Gradient inversion, iteration by iteration", **LAYOUT)
    return fig


def laplace_figure(epsilon_per_km: float) -> go.Figure:
    """Planar Laplace (Geo-I) displacement: r has density ε² r e^(−ε r), mean 2/ε km."""
    eps = float(epsilon_per_km)
    mean_m = 2000.0 / eps
    r_km = np.linspace(0, 8 / eps, 300)
    dens = eps ** 2 * r_km * np.exp(-eps * r_km)
    fig = go.Figure(go.Scatter(x=r_km * 1000, y=dens / 1000, mode="lines", fill="tozeroy",
                               line=dict(color=BUDGET_COLOR), name="displacement density"))
    fig.add_vline(x=mean_m, line=dict(color="black", dash="dash"),
                  annotation_text=f"mean {mean_m:,.0f} m")
    fig.update_xaxes(title_text="distance between the true and the reported location (m)")
    fig.update_yaxes(title_text="density (per m)")
    fig.update_layout(title=f"Geo-indistinguishability noise at ε = {eps:g} per km", showlegend=False,
                      **LAYOUT)
    return fig


def calibration_figure(rows: list[dict], threshold_m: float = 500.0) -> go.Figure:
    """One point's recoveries over the rounds that see it: each round's own estimate vs the
    calibrated one (mean of all recoveries so far, paper Eq. 9)."""
    x = [r["round"] for r in rows]
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=x, y=_col(rows, "raw_error_m"), name="this round's recovery",
                             mode="lines+markers", line=dict(color="#ff9896", dash="dot")))
    fig.add_trace(go.Scatter(x=x, y=_col(rows, "calibrated_error_m"), name="calibrated (mean so far)",
                             mode="lines+markers", line=dict(color=ASR_COLOR)))
    fig.add_hline(y=threshold_m, line=dict(color="grey", dash="dash"))
    fig.add_annotation(x=1, xref="paper", y=math.log10(threshold_m), text=f"{threshold_m:g} m",
                       showarrow=False, xanchor="right", yanchor="bottom")  # log y: log10
    fig.update_xaxes(title_text="round", dtick=1)
    fig.update_yaxes(title_text="error (m)", **LOG_TICKS)
    fig.update_layout(title="Calibration: averaging the recoveries of one point", **LAYOUT)
    return fig
