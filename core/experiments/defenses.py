"""The defense sweep behind Table 5 / Fig. 5: the undefended run once, then every defense at every
ε, each a full federated run attacked by ST-GIA through `runner.run`, the same loop as the
undefended one (the defense is a hook, DESIGN.md §8). Building one defense (roads, risk profile)
lives in `core.experiments.defense_setup`.
"""
from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from core.attacks import registry as attacks
from core.defenses import registry as defenses
from core.defenses.budget import RiskProfile
from core.defenses.mechanisms import DistanceCache
from core.errors import InputError
from core.experiments import runner
from core.experiments.defense_setup import (PROFILE_ATTACK, cache_root, make_defense,
                                            profile_key, risk_profile, roads_for)
from core.experiments.setup import Prepared

Progress = Callable[[dict], None]

DEFAULT_EPSILONS = (1.0, 5.0, 10.0, 20.0, 50.0)
DEFAULT_DEFENSES = ("dpsgd", "geoi", "geogi", "adaptive")


# --- the sweep -----------------------------------------------------------------------------------

def eps_key(eps: float) -> str:
    return f"{eps:g}"


def _mean(values: Sequence[float]) -> float | None:
    v = [float(x) for x in values if x is not None and not math.isnan(float(x))]
    return round(float(np.mean(v)), 6) if v else None


def summarize(result: runner.RunResult, attack: str = PROFILE_ATTACK) -> dict:
    """Means over rounds of ASR, recall@5 and median prediction error, plus the final values."""
    ras = result.attacks[attack]
    ut = result.utility
    return {"asr": _mean([r.asr for r in ras]),
            "recall_at_5": _mean([u["recall_at_5"] for u in ut]),
            "median_pred_error_m": _mean([u["median_pred_error_m"] for u in ut]),
            "final_recall_at_5": _mean([ut[-1]["recall_at_5"]]) if ut else None,
            "asr_per_round": [round(float(r.asr), 6) for r in ras],
            "seconds": round(result.seconds, 3)}


def compare_defenses(prep: Prepared, names: Sequence[str] = DEFAULT_DEFENSES,
                     epsilons: Sequence[float] = DEFAULT_EPSILONS,
                     profile: RiskProfile | None = None, cache_dir: str | Path | None = None,
                     progress: Progress | None = None,
                     options: dict[str, dict] | None = None) -> dict:
    """Undefended baseline once, then every defense at every ε; each a full attacked run.

    `progress` receives {"step", "total", "run", "round", "asr", ...}: one step per round of
    every run (the proxy run for the risk profile included when it is not cached).
    Returns the documented JSON document (see `core.cli.compare_defenses`).
    """
    t0 = time.perf_counter()
    options = options or {}
    for n in names:
        if n not in defenses.names() or n == "none":
            raise InputError(f"unknown defense {n!r}; choose from "
                             f"{', '.join(x for x in defenses.names() if x != 'none')}")
    spec = attacks.get(PROFILE_ATTACK)
    T = prep.fed.rounds
    needs_roads = any(n != "dpsgd" for n in names)
    roads = roads_for(prep) if needs_roads else None
    dist = DistanceCache(roads) if roads is not None else None
    if "adaptive" in names and profile is None:
        cached = (Path(cache_dir) if cache_dir else cache_root() / "risk_profiles")
        proxy_runs = 0 if (cached / f"{profile_key(prep)}.json").is_file() else 1
    else:
        proxy_runs = 0
    total = T * (1 + proxy_runs + len(names) * len(epsilons))
    state = {"done": 0, "label": "none"}

    def prog(ev: dict) -> None:
        if progress is not None:
            progress({**ev, "step": state["done"] + ev["round"], "total": total,
                      "attack": state["label"]})

    def finish_run() -> None:
        state["done"] += T

    cfg = {k: v for k, v in prep.config.to_dict().items() if k not in ("defense", "epsilon")}
    doc: dict = {"config": {**cfg, "attack": PROFILE_ATTACK,
                            "defenses": list(names), "epsilons": [float(e) for e in epsilons],
                            "roads_used": getattr(roads, "name", None)},
                 "defenses": {}}
    res = runner.run(prep, {PROFILE_ATTACK: spec}, None, progress=prog)
    finish_run()
    doc["defenses"]["none"] = summarize(res)
    if "adaptive" in names:
        state["label"] = "risk profile (proxy run)"
        if profile is None:
            profile = risk_profile(prep, cache_dir, progress=prog)
            if proxy_runs:
                finish_run()
        doc["risk_profile"] = {"asr": list(profile.asr), "ait": list(profile.ait),
                               "iters": profile.iters,
                               "proxy_users": (profile.meta or {}).get("proxy_users")}
    for name in names:
        doc["defenses"][name] = {}
        for eps in epsilons:
            state["label"] = f"{name} eps={eps_key(eps)}"
            d = make_defense(name, eps, prep, profile=profile, roads=roads, distances=dist,
                             **options.get(name, {}))
            res = runner.run(prep, {PROFILE_ATTACK: spec}, d, progress=prog)
            finish_run()
            row = summarize(res)
            row["allocation"] = [float(a) for a in d.allocation]
            row["spent"] = float(res.budget[-1]["epsilon_spent"]) if res.budget else 0.0
            if getattr(d, "sigma", None) is not None:
                row["noise_multiplier"] = float(d.sigma)
            doc["defenses"][name][eps_key(eps)] = row
    doc["frontier"] = frontier(doc)
    doc["wall_seconds"] = round(time.perf_counter() - t0, 3)
    return doc


# --- tables and the privacy–utility frontier --------------------------------------------------

LABELS = {"none": "None", "dpsgd": "DPSGD", "geoi": "GeoI", "geogi": "GeoGI", "adaptive": "Ours (adaptive)"}


def _fmt(v) -> str:
    return "–" if v is None else f"{v:.3f}"


def markdown_tables(doc: dict) -> str:
    """Table 5 layout (rows: defenses, columns: ε) for ASR, then the same for recall@5."""
    eps = [eps_key(e) for e in doc["config"]["epsilons"]]
    names = [n for n in doc["defenses"] if n != "none"]
    base = doc["defenses"]["none"]
    out = []
    for key, title in (("asr", "Attack success rate (mean over rounds)"),
                       ("recall_at_5", "recall@5 (mean over rounds)")):
        lines = [f"**{title}** — undefended: {_fmt(base[key])}", "",
                 "| ε | " + " | ".join(eps) + " |", "|---|" + "---|" * len(eps)]
        for n in names:
            lines.append(f"| {LABELS.get(n, n)} | "
                         + " | ".join(_fmt(doc["defenses"][n][e][key]) for e in eps) + " |")
        out.append("\n".join(lines))
    return "\n\n".join(out) + "\n"


def frontier(doc: dict, bin_width: float = 0.1) -> dict:
    """Privacy–utility points per defense, the Pareto front (low ASR, high recall@5), and per
    ASR bin of width `bin_width` the defense with the highest recall@5 ("comparable ASR")."""
    pts = []
    for n, by_eps in doc["defenses"].items():
        if n == "none":
            continue
        for e, row in by_eps.items():
            if row["asr"] is not None and row["recall_at_5"] is not None:
                pts.append({"defense": n, "epsilon": float(e), "asr": row["asr"],
                            "recall_at_5": row["recall_at_5"]})
    pareto = [p for p in pts
              if not any((q["asr"] <= p["asr"] and q["recall_at_5"] >= p["recall_at_5"])
                         and (q["asr"] < p["asr"] or q["recall_at_5"] > p["recall_at_5"])
                         for q in pts)]
    bins: dict[str, dict] = {}
    for p in pts:
        lo = math.floor(p["asr"] / bin_width) * bin_width
        key = f"{lo:.2f}-{lo + bin_width:.2f}"
        if key not in bins or p["recall_at_5"] > bins[key]["recall_at_5"]:
            bins[key] = p
    return {"points": pts, "pareto": sorted(pareto, key=lambda p: p["asr"]),
            "best_by_asr_bin": dict(sorted(bins.items()))}


def frontier_text(doc: dict) -> str:
    fr = doc["frontier"]
    lines = ["Privacy–utility frontier (ASR ↓, recall@5 ↑):"]
    by_def: dict[str, list] = {}
    for p in fr["points"]:
        by_def.setdefault(p["defense"], []).append(p)
    for n, ps in by_def.items():
        lines.append(f"  {LABELS.get(n, n):<16} " + "  ".join(
            f"ε={p['epsilon']:g}:({p['asr']:.3f}, {p['recall_at_5']:.3f})" for p in ps))
    lines.append("  Pareto front: " + ", ".join(
        f"{LABELS.get(p['defense'], p['defense'])} ε={p['epsilon']:g}" for p in fr["pareto"]))
    lines.append("  Highest recall@5 at comparable ASR:")
    for b, p in fr["best_by_asr_bin"].items():
        lines.append(f"    ASR {b}: {LABELS.get(p['defense'], p['defense'])} ε={p['epsilon']:g} "
                     f"(recall@5 {p['recall_at_5']:.3f})")
    return "\n".join(lines)
