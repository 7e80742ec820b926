"""The defense sweep behind Table 5 / Fig. 5: the undefended run once, then every defense at every
ε (and seed), each an independent cell of a grid (`core.experiments.grid`): a full federated
run attacked by ST-GIA through `runner.run`, the same loop as the
undefended one (the defense is a hook, DESIGN.md §8). Building one defense (roads, risk profile)
lives in `core.experiments.defense_setup`.
"""
from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Callable


from core.defenses import registry as defenses
from core.experiments import runner
from core.experiments.config import RunConfig
from core.experiments.defense_setup import configured_defense
from core.experiments.report import run_summary
from core.experiments.grid import Cell, CellStore, cell_config, ordered, run_grid
from core.experiments.results import SweepCell, num
from core.experiments.seeds import mean_dict, pm, seeds_of
from core.experiments.setup import Prepared
from core.experiments.single import attack_spec

Progress = Callable[[dict], None]
ShouldStop = Callable[[], bool]


def eps_key(eps: float) -> str:
    return f"{eps:g}"


def sweep_cells(cfg: RunConfig) -> list[tuple[str, float | None]]:
    """The grid: the undefended run, then every defense at every ε (independent cells)."""
    return [("none", None)] + [(d, float(e)) for d in cfg.sweep.defenses if d != "none"
                               for e in cfg.sweep.epsilons]


def run_cell(prep: Prepared, defense: str, epsilon: float | None, context: dict,
             progress: Progress | None = None, should_stop: ShouldStop | None = None) -> SweepCell:
    """One full federated run under `defense` at `epsilon`, attacked by the configured attack."""
    cfg = prep.config.with_(defense=defense, epsilon=epsilon)
    cell_prep = prep.with_config(cfg)
    spec = attack_spec(cfg)
    d = None if defense == "none" else configured_defense(cell_prep, **context)
    res = runner.run(cell_prep, {spec.name: spec}, d, progress=progress, should_stop=should_stop)
    s = run_summary(res, spec.name)
    return SweepCell(defense=defense, epsilon=epsilon, asr=s.mean_asr,
                     final_recall_at_5=s.final_recall_at_5, final_acc_at_1=s.final_acc_at_1,
                     recall_at_5=s.mean_recall_at_5,
                     median_pred_error_m=s.final_median_pred_error_m,
                     asr_per_round=[num(r.asr) for r in res.attacks[spec.name]],
                     allocation=list(res.allocation), epsilon_spent=s.epsilon_spent,
                     epsilon_total=s.epsilon_total, seconds=round(res.seconds, 3),
                     noise_multiplier=num(getattr(d, "sigma", None)))


def compare_defenses(cfg: RunConfig, progress: Progress | None = None,
                     should_stop: ShouldStop | None = None, prep: Prepared | None = None,
                     cache_dir: str | Path | None = None, store: CellStore | None = None) -> dict:
    """Table 5 / Fig. 5: every cell of `sweep_cells(cfg)` × seed, each a full attacked run and
    one cell of a grid (`core.experiments.grid`); the adaptive defense's risk profiles (one
    proxy run per seed, cached on disk) are computed first.

    `progress` receives {"step", "total", "run", "round", "asr", ...}: one step per round of
    every run (the proxy runs included). With several seeds every number is the mean across
    seeds, with `ci95` (half-widths) and `per_seed` beside it.
    Returns the documented JSON document (README, "Result documents").
    """
    t0 = time.perf_counter()
    seeds = seeds_of(cfg)
    T = cfg.federation.rounds
    pairs = sweep_cells(cfg)
    profiled = any("profile" in defenses.DEFENSES[d].needs for d in cfg.sweep.defenses)
    profile_cells = [Cell("profile", cell_config(cfg, seed=s), "risk profile (proxy run)"
                          + (f" seed {s}" if len(seeds) > 1 else "")) for s in seeds] if profiled else []
    cells = [Cell("defense", cell_config(cfg, seed=s, defense=name, epsilon=eps),
                  ("none" if eps is None else f"{name} eps={eps_key(eps)}")
                  + (f" seed {s}" if len(seeds) > 1 else ""))
             for s in seeds for name, eps in pairs]
    total = T * (len(profile_cells) + len(cells))
    context: dict = {"cache_dir": None if cache_dir is None else str(cache_dir)}
    doc: dict = {"config": cfg.to_dict(), "defenses": {},
                 "labels": {n: defenses.label(n) for n in ("none", *cfg.sweep.defenses)},
                 "roads_used": None}
    if profile_cells:
        pg = run_grid(profile_cells, cfg, source=prep, context=context, progress=progress,
                      should_stop=should_stop, total_steps=total)
        context["profiles"] = {str(c.seed): v for c, v in ordered(pg)}
        first = context["profiles"].get(str(seeds[0]))
        if first is not None:
            doc["risk_profile"] = {"asr": list(first["asr"]), "ait": list(first["ait"]),
                                   "iters": first["iters"],
                                   "proxy_users": (first.get("meta") or {}).get("proxy_users")}
        if pg.stopped:
            cells = []
    g = run_grid(cells, cfg, source=prep, context=context, progress=progress,
                 should_stop=should_stop, store=store, step_offset=T * len(profile_cells),
                 total_steps=total)
    _merge_cells(doc, g, len(seeds) > 1)
    doc["frontier"] = frontier(doc)
    doc["stopped"] = bool(g.stopped or (should_stop and should_stop()))
    doc["wall_seconds"] = round(time.perf_counter() - t0, 3)
    doc["grid"] = g.info()
    if len(seeds) > 1:
        doc["seeds"] = list(seeds)
    return doc


def _merge_cells(doc: dict, g, several: bool) -> None:
    """The finished cells into the document: `defenses` (Table 5 layout), baselines, roads."""
    by_pair: dict[tuple[str, str | None], list[tuple[int, dict]]] = {}
    baselines: dict[int, dict] = {}  # per seed (every cell of a seed has the same clients)
    for cell, value in ordered(g):
        d = cell.config.defense
        key = None if d.epsilon is None else eps_key(d.epsilon)
        by_pair.setdefault((d.defense, key), []).append((cell.seed, value["cell"]))
        baselines.setdefault(cell.seed, value["baselines"])
        doc["roads_used"] = doc["roads_used"] or value.get("roads_used")
    for (name, key), values in by_pair.items():
        row = _seed_cell(values) if several else values[0][1]
        if name == "none":
            doc["defenses"]["none"] = row
        else:
            doc["defenses"].setdefault(name, {})[key] = row
    nonempty = [b for b in baselines.values() if b]
    doc["baselines"] = (mean_dict(nonempty)[0] if several and nonempty
                        else (nonempty[0] if nonempty else {}))


def _seed_cell(values: list[tuple[int, dict]]) -> dict:
    """One defense at one ε over several seeds: the means, `ci95` and `per_seed`."""
    mean, ci = mean_dict([v for _, v in values])
    return {**mean, "ci95": ci, "per_seed": {str(s): v for s, v in values}}


# --- tables and the privacy–utility frontier --------------------------------------------------

UTILITY = "final_recall_at_5"  # the trade-off uses the final global model (issue 10)


def _fmt(v) -> str:
    return "–" if v is None else f"{v:.3f}"


def markdown_tables(doc: dict) -> str:
    """Table 5 layout (rows: defenses, columns: ε) for ASR, then the same for the final global
    model's recall@5, with the undefended run and the baselines beside them."""
    cfg = doc["config"]
    eps = [eps_key(e) for e in cfg["epsilons"]]
    names = [n for n in doc["defenses"] if n != "none"]
    base = doc["defenses"].get("none", {})
    scope = ("per round (every round's release gets ε)" if cfg.get("epsilon_scope") == "round"
             else "per user over the whole run")
    out = [f"ε {scope}; attack {cfg.get('attack')}, preset {cfg.get('preset')}"]
    for key, title in (("asr", "Attack success rate (mean over rounds)"),
                       (UTILITY, "recall@5 of the final global model")):
        lines = [f"**{title}** — undefended: {_cell_text(base, key)}", "",
                 "| ε | " + " | ".join(eps) + " |", "|---|" + "---|" * len(eps)]
        for n in names:
            lines.append(f"| {defenses.label(n)} | "
                         + " | ".join(_cell_text(doc["defenses"][n].get(e, {}), key) for e in eps)
                         + " |")
        out.append("\n".join(lines))
    if doc.get("seeds"):
        out.append("mean ± 95 % CI (Student t) across seeds " + ", ".join(map(str, doc["seeds"])))
    if doc.get("baselines"):
        out.append("Baselines (recall@5 on the same held-out windows): " + ", ".join(
            f"{k} {_fmt(v)}" for k, v in doc["baselines"].items()))
    return "\n\n".join(out) + "\n"


def _cell_text(row: dict, key: str) -> str:
    """A table cell: the value, with its 95 % CI half-width when the row is over seeds."""
    return pm(row.get(key), (row.get("ci95") or {}).get(key))


def frontier(doc: dict, bin_width: float = 0.1) -> dict:
    """Privacy–utility points per defense, the Pareto front (low ASR, high recall@5), and per
    ASR bin of width `bin_width` the defense with the highest recall@5 ("comparable ASR")."""
    pts = []
    for n, by_eps in doc["defenses"].items():
        if n == "none":
            continue
        for e, row in by_eps.items():
            if row["asr"] is not None and row.get(UTILITY) is not None:
                pts.append({"defense": n, "epsilon": float(e), "asr": row["asr"],
                            "recall_at_5": row[UTILITY]})
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
    lines = reading(doc) + ["", "Privacy–utility frontier (ASR ↓, recall@5 of the final model ↑):"]
    by_def: dict[str, list] = {}
    for p in fr["points"]:
        by_def.setdefault(p["defense"], []).append(p)
    for n, ps in by_def.items():
        lines.append(f"  {defenses.label(n):<16} " + "  ".join(
            f"ε={p['epsilon']:g}:({p['asr']:.3f}, {p['recall_at_5']:.3f})" for p in ps))
    lines.append("  Pareto front: " + ", ".join(
        f"{defenses.label(p['defense'])} ε={p['epsilon']:g}" for p in fr["pareto"]))
    lines.append("  Highest recall@5 at comparable ASR:")
    for b, p in fr["best_by_asr_bin"].items():
        lines.append(f"    ASR {b}: {defenses.label(p['defense'])} ε={p['epsilon']:g} "
                     f"(recall@5 {p['recall_at_5']:.3f})")
    return "\n".join(lines)


def reading(doc: dict) -> list[str]:
    """The sweep in plain words: what the undefended run leaks and learns against the baselines,
    each defense from its smallest to its largest ε, and who wins at comparable ASR."""
    defs, base = doc["defenses"], doc["defenses"].get("none", {})
    bl = doc.get("baselines") or {}
    out = []
    if base:
        line = (f"Without a defense the server reconstructs {_pct(base.get('asr'))} of the points "
                f"within the success radius; the final model's recall@5 is {_fmt(base.get(UTILITY))}")
        if "persistence" in bl:
            ratio = (base.get(UTILITY) or 0.0) / bl["persistence"] if bl["persistence"] else None
            line += (f", {ratio:.1f}× the persistence baseline ({_fmt(bl['persistence'])})"
                     if ratio is not None else "")
            if (base.get(UTILITY) or 0.0) < bl["persistence"]:
                line += " — below a predictor that needs no model, so no defense can buy utility here"
        out.append(line + ".")
    for name, cells in defs.items():
        if name == "none" or not cells:
            continue
        keys = sorted(cells, key=float)
        lo, hi = cells[keys[0]], cells[keys[-1]]
        out.append(f"{defenses.label(name)}: ASR {_pct(lo.get('asr'))} at ε = {keys[0]} and "
                   f"{_pct(hi.get('asr'))} at ε = {keys[-1]}; recall@5 {_fmt(lo.get(UTILITY))} → "
                   f"{_fmt(hi.get(UTILITY))}.")
    best = doc.get("frontier", {}).get("best_by_asr_bin", {})
    if best:
        wins: dict[str, int] = {}
        for p in best.values():
            wins[p["defense"]] = wins.get(p["defense"], 0) + 1
        leader = max(wins, key=wins.get)
        out.append(f"At comparable ASR (bins of 0.1), {defenses.label(leader)} keeps the most "
                   f"utility in {wins[leader]} of {len(best)} bins.")
    return out


def _pct(v) -> str:
    return "–" if v is None else f"{100 * v:.0f} %"
