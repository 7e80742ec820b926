"""Attack comparisons on the same training run: the paper's Tables 3/4 and its ablation (Fig. 4).

Every attack sees the same clients, global models, uploads, seeds and iteration budget; only the
recipe differs. Each attack (or ablation variant) × seed is one cell of a grid
(`core.experiments.grid`): the cell trains the federation — deterministic in the seed, so every
cell sees the same uploads — and attacks it with its one recipe (`run_specs`), so the attacks run
in parallel and a rerun reuses the cells that finished.

- `compare_attacks(cfg)`: ASR and AIT per round of the attacks in `cfg.sweep.attacks` (default
  DLG, iDLG, InvGrad, CPL, SAPAG and ST-GIA).
- `ablation(cfg)`: `cfg.sweep.base`, and the same attack with each of `cfg.sweep.components`
  (initialisation, mapping, calibration) switched off in turn via `AttackSpec.without`.

Each returns a plain dict ready for JSON:
`{"config", "attacks" | "variants": {name: {"rounds": [...], "summary": {...}}}, "wall_seconds", ...}`.
`markdown_table`, `csv_text`, `asr_figure` and `write_outputs` turn it into the paper's table
layout (rows = attacks, columns = rounds 1, 10, 20, …), a long CSV, and a plotly figure.
Progress goes through a callback, so the dashboard calls the same functions as the CLI.
"""
from __future__ import annotations

import csv
import io
import time
from pathlib import Path
from typing import Callable, Sequence

from core.attacks import registry
from core.attacks.spec import AttackSpec
from core.errors import ParameterError
from core.experiments import runner
from core.experiments.config import COMPONENTS, RunConfig
from core.experiments.defense_setup import configured_defense
from core.experiments.grid import Cell, CellStore, cell_config, ordered, run_grid
from core.experiments.report import round_rows, run_summary
from core.experiments.seeds import mean_dict, mean_rows, pm, seeds_of
from core.experiments.setup import Prepared, prepare

Progress = Callable[[dict], None]

# Per-round metrics kept in the comparison documents (the runner's rows carry more);
# `asr_final`: the round's points scored with the attacker's end-of-run estimates, when reported.
ROUND_KEYS = ("round", "asr", "ait", "ait_success", "median_error_m", "asr_final", "recall_at_5",
              "attack_seconds")
GROUP_KEYS = ("attacks", "variants")


def ablation_specs(base: str = "st-gia", components: Sequence[str] = COMPONENTS) -> dict[str, AttackSpec]:
    """The full attack and one variant per component switched off, keyed by name."""
    if not registry.is_st_gia(base):
        raise ParameterError("base", base, "an ST-GIA variant (st-gia, st-gia+): only they have "
                             "initialisation, mapping and calibration to switch off")
    spec = registry.get(base)
    specs = {spec.name: spec}
    for comp in components:
        v = spec.without(comp)
        specs[v.name] = v
    return specs


def run_specs(cfg: RunConfig, specs: dict[str, AttackSpec], group: str = "attacks",
              progress: Progress | None = None, should_stop: Callable[[], bool] | None = None,
              prep: Prepared | None = None, cache_dir: str | None = None) -> dict:
    """Train once per `cfg`, attack every round with every spec; the comparison document."""
    if group not in GROUP_KEYS:
        raise ValueError(f"group must be one of {GROUP_KEYS}")
    t0 = time.perf_counter()
    prep = prep or prepare(cfg)
    defense = None if cfg.defense.defense == "none" else configured_defense(prep, cache_dir=cache_dir)
    result = runner.run(prep, specs, defense, progress=step_progress(progress, len(specs)),
                        should_stop=should_stop)
    entries = {}
    for name, spec in specs.items():
        seconds = sum(ra.seconds for ra in result.attacks[name])  # this attack's own time
        rows = [r.to_dict() for r in round_rows(result, name)]
        entries[name] = {"spec": spec.to_dict(),
                         "rounds": [{k: r[k] for k in ROUND_KEYS if k in r} for r in rows],
                         "summary": run_summary(result, name, seconds).to_dict()}
    return {"config": cfg.to_dict(), group: entries, "stopped": result.stopped,
            "rounds_run": len(result.budget), "wall_seconds": round(time.perf_counter() - t0, 3)}


def compare_attacks(cfg: RunConfig, progress: Progress | None = None,
                    should_stop: Callable[[], bool] | None = None,
                    prep: Prepared | None = None, cache_dir: str | None = None,
                    store: CellStore | None = None) -> dict:
    """ASR/AIT per round of the attacks in `sweep.attacks` (Tables 3/4): one grid cell per
    attack and seed, each on its own copy of the same deterministic training run. With
    `attack.label` = both, each attack twice: label optimised jointly and analytic (a
    like-for-like table)."""
    labels = ("joint", "analytic") if cfg.attack.label == "both" else (cfg.attack.label,)
    overrides = [{"attack": n, "label": lab} for n in cfg.sweep.attacks for lab in labels]
    return grid_specs(cfg, _named(cfg, overrides), "attacks", progress, should_stop, prep,
                      cache_dir, store)


def ablation(cfg: RunConfig, progress: Progress | None = None,
             should_stop: Callable[[], bool] | None = None, prep: Prepared | None = None,
             cache_dir: str | None = None, store: CellStore | None = None) -> dict:
    """`sweep.base` and the same attack without each of `sweep.components` (Fig. 4): one grid
    cell per variant and seed, each on its own copy of the same training run."""
    base, comps = cfg.sweep.base, cfg.sweep.components
    if cfg.attack.label == "both":
        raise ParameterError("label", "both", "own, joint or analytic (both: compare-attacks only)")
    ablation_specs(base, comps)  # checks the base
    overrides = [{"attack": base}] + [{"attack": base, "disable": (c,)} for c in comps]
    return grid_specs(cfg, _named(cfg, overrides), "variants", progress, should_stop, prep,
                      cache_dir, store)


def _named(cfg: RunConfig, overrides: list[dict]) -> dict[str, dict]:
    """Each cell's overrides keyed by the name of the attack it runs (`single.attack_spec`:
    components switched off, label and calibration overrides in the name)."""
    from core.experiments.single import attack_spec

    return {attack_spec(cell_config(cfg, **o)).name: o for o in overrides}


def grid_specs(cfg: RunConfig, overrides: dict[str, dict], group: str,
               progress: Progress | None = None, should_stop: Callable[[], bool] | None = None,
               prep: Prepared | None = None, cache_dir: str | None = None,
               store: CellStore | None = None) -> dict:
    """Run one cell per (name, seed) — `overrides[name]` set on the cell's config — and build
    the comparison document (`run_specs`' shape; with several seeds every number is the mean
    across seeds, `ci95` beside it and `per_seed` the seeds' own entries)."""
    t0 = time.perf_counter()
    seeds = seeds_of(cfg)
    cells = [Cell("entry", cell_config(cfg, seed=s, **over),
                  name + (f" seed {s}" if len(seeds) > 1 else ""))
             for s in seeds for name, over in overrides.items()]
    g = run_grid(cells, cfg, source=prep, context={"cache_dir": cache_dir}, progress=progress,
                 should_stop=should_stop, store=store)
    by_name: dict[str, list[tuple[int, dict]]] = {}
    for cell, value in ordered(g):
        by_name.setdefault(value["name"], []).append((cell.seed, value))
    entries = {n: _seed_entry(by_name[n]) for n in overrides if n in by_name}
    doc = {"config": cfg.to_dict(), group: entries, "stopped": g.stopped,
           "rounds_run": max((v["rounds_run"] for vs in by_name.values() for _, v in vs),
                             default=0),
           "wall_seconds": round(time.perf_counter() - t0, 3), "grid": g.info()}
    if len(seeds) > 1:
        doc["seeds"] = list(seeds)
    return doc


def _seed_entry(values: list[tuple[int, dict]]) -> dict:
    """One attack's entry: the seed's own, or the mean across seeds with `ci95` and `per_seed`."""
    if len(values) == 1:
        return values[0][1]["entry"]
    entries = [v["entry"] for _, v in values]
    rounds, rounds_ci = mean_rows([e["rounds"] for e in entries])
    summary, summary_ci = mean_dict([e["summary"] for e in entries])
    return {"spec": entries[0]["spec"], "rounds": rounds, "summary": summary,
            "ci95": {"rounds": rounds_ci, "summary": summary_ci},
            "per_seed": {str(s): v["entry"] for s, v in values}}


def step_progress(progress: Progress | None, n_specs: int) -> Progress | None:
    """Adapt the runner's per-(round, attack) events to a step counter over rounds × attacks."""
    if progress is None:
        return None
    seen = {"n": 0}

    def forward(event: dict) -> None:
        seen["n"] += 1
        progress({**event, "step": seen["n"], "total": event.get("rounds", 0) * n_specs})
    return forward


# ---- tables and figures ---------------------------------------------------------------------
def _group(doc: dict) -> tuple[str, dict]:
    for key in GROUP_KEYS:
        if key in doc:
            return key, doc[key]
    raise KeyError(f"document has none of {GROUP_KEYS}")


def table_rounds(rounds: Sequence[int]) -> list[int]:
    """The paper's columns: round 1 and every 10th round that was run, plus the last round."""
    rounds = sorted(set(rounds))
    if not rounds:
        return []
    cols = [r for r in rounds if r == 1 or r % 10 == 0]
    if rounds[-1] not in cols:
        cols.append(rounds[-1])
    return cols


def _fmt(v: float | None, digits: int = 3) -> str:
    return "–" if v is None else f"{v:.{digits}f}"


def markdown_table(doc: dict, metric: str = "asr", digits: int = 3) -> str:
    """Rows = attacks (or variants), columns = rounds 1, 10, 20, … (paper Tables 3/4), plus
    the mean over all rounds run and each attack's own wall time."""
    key, entries = _group(doc)
    all_rounds = sorted({r["round"] for e in entries.values() for r in e["rounds"]})
    cols = table_rounds(all_rounds)
    label = "attack" if key == "attacks" else "variant"
    head = (f"| {label} \\ round ({metric.upper()}) | " + " | ".join(str(c) for c in cols)
            + " | mean | seconds |\n|---|" + "---:|" * (len(cols) + 2) + "\n")
    lines = []
    for name, e in entries.items():
        by_round = {r["round"]: r[metric] for r in e["rounds"]}
        ci = {r["round"]: r.get(metric) for r in e.get("ci95", {}).get("rounds", [])}
        vals = [v for v in by_round.values() if v is not None]
        mean = sum(vals) / len(vals) if vals else None
        cells = [pm(by_round.get(c), ci.get(c), digits) for c in cols]
        if "ci95" in e:  # several seeds: the mean over rounds of each seed, then across seeds
            mean_text = pm(e["summary"].get(f"mean_{metric}"),
                           e["ci95"]["summary"].get(f"mean_{metric}"), digits)
        else:
            mean_text = _fmt(mean, digits)
        lines.append(f"| {name} | " + " | ".join(cells)
                     + f" | {mean_text} | {_fmt(e['summary']['wall_seconds'], 1)} |")
    note = ("\n\nmean ± 95 % CI (Student t) across seeds " + ", ".join(map(str, doc["seeds"]))
            if doc.get("seeds") else "")
    return head + "\n".join(lines) + note


def markdown_report(doc: dict) -> str:
    """ASR table, AIT table and the run's wall time, as written next to the JSON."""
    key, _ = _group(doc)
    cfg = doc["config"]
    title = "Attack comparison" if key == "attacks" else f"Ablation of {cfg.get('base', 'st-gia')}"
    seeds = ("seeds " + ",".join(map(str, doc["seeds"])) if doc.get("seeds")
             else f"seed {cfg['seed']}")
    setting = (f"dataset {cfg['dataset']}, {cfg['clients']} clients, {doc['rounds_run']} rounds, "
               f"window {cfg['window']}, {cfg['iters']} iterations, {seeds}, "
               f"defense {cfg['defense']}, success radius {cfg['threshold_m']:g} m")
    return (f"## {title}\n\n{setting}\n\n### ASR\n\n{markdown_table(doc, 'asr')}\n\n"
            f"### AIT (mean first successful iteration, cap {cfg['iters']})\n\n"
            f"{markdown_table(doc, 'ait', 1)}\n\nwall time {doc['wall_seconds']:.1f} s "
            "(every row attacks the same deterministic training run)\n")


def csv_text(doc: dict) -> str:
    """Long format, every round: attack (or variant), round, asr, ait, … ."""
    key, entries = _group(doc)
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    seeds = any("ci95" in e for e in entries.values())
    ci_keys = [k for k in ROUND_KEYS if k != "round"] if seeds else []
    w.writerow([key[:-1]] + list(ROUND_KEYS) + [f"{k}_ci95" for k in ci_keys])
    for name, e in entries.items():
        ci = {r["round"]: r for r in e.get("ci95", {}).get("rounds", [])}
        for r in e["rounds"]:
            c = ci.get(r["round"], {})
            w.writerow([name] + ["" if r.get(k) is None else r[k] for k in ROUND_KEYS]
                       + ["" if c.get(k) is None else c[k] for k in ci_keys])
    return buf.getvalue()


def asr_figure(doc: dict, metric: str = "asr"):
    """A plotly figure of `metric` per round, one line per attack/variant (None without plotly)."""
    try:
        from core.viz.figures import series_figure
    except ImportError:  # plotly missing
        return None
    key, entries = _group(doc)
    cfg = doc["config"]
    title = "Attack comparison" if key == "attacks" else f"Ablation of {cfg.get('base', 'st-gia')}"
    errors = {n: e["ci95"]["rounds"] for n, e in entries.items() if "ci95" in e} or None
    seeds = f", mean ± 95 % CI over {len(doc['seeds'])} seeds" if doc.get("seeds") else ""
    return series_figure({n: e["rounds"] for n, e in entries.items()}, metric,
                         f"{title}: {metric.upper()} per round ({cfg['dataset']}, "
                         f"{cfg['clients']} clients, {cfg['iters']} iterations{seeds})",
                         errors=errors)


def write_outputs(doc: dict, json_path: str | Path) -> list[Path]:
    """Write JSON and, next to it (same stem), .md and .csv; the CLI adds the .html report
    (`core.reports`, one layer up)."""
    import json

    from core.files import write_atomic

    path = Path(json_path)
    write_atomic(path, json.dumps(doc, indent=1))  # temporary file, then rename
    written = [path]
    for suffix, text in ((".md", markdown_report(doc)), (".csv", csv_text(doc))):
        p = path.with_suffix(suffix)
        p.write_text(text)
        written.append(p)
    return written


def _spec_dict(spec: AttackSpec) -> dict:
    from dataclasses import asdict

    return asdict(spec)
