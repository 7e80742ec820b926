"""Attack comparisons on ONE shared training run: the paper's Tables 3/4 and its ablation (Fig. 4).

Both experiments train the federation once and let several attack recipes attack the same
recorded uploads (`runner.run`), so every attack sees the same clients, global models, seeds and
iteration budget; only the recipe differs.

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
from core.experiments.config import COMPONENTS, PAPER_ATTACKS, RunConfig
from core.experiments.defense_setup import configured_defense
from core.experiments.report import round_rows, run_summary
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
                    prep: Prepared | None = None, cache_dir: str | None = None) -> dict:
    """ASR/AIT per round of the attacks in `sweep.attacks` on one shared training run (Tables 3/4)."""
    return run_specs(cfg, comparison_specs(cfg), "attacks", progress, should_stop, prep,
                     cache_dir)


def comparison_specs(cfg: RunConfig) -> dict[str, AttackSpec]:
    """The attacks of `sweep.attacks`, each told the label as `attack.label` says (`both`: each
    twice, once jointly optimised and once analytic, for a like-for-like table)."""
    labels = ("joint", "analytic") if cfg.attack.label == "both" else (cfg.attack.label,)
    specs = [registry.get(n).with_label(lab).with_calibration(cfg.attack.calibration)
             for n in cfg.sweep.attacks for lab in labels]
    return {s.name: s for s in specs}


def ablation(cfg: RunConfig, progress: Progress | None = None,
             should_stop: Callable[[], bool] | None = None, prep: Prepared | None = None,
             cache_dir: str | None = None) -> dict:
    """`sweep.base` and the same attack without each of `sweep.components`, on one shared
    training run (Fig. 4)."""
    if cfg.attack.label == "both":
        raise ParameterError("label", "both", "own, joint or analytic (both: compare-attacks only)")
    specs = [s.with_label(cfg.attack.label).with_calibration(cfg.attack.calibration)
             for s in ablation_specs(cfg.sweep.base, cfg.sweep.components).values()]
    specs = {s.name: s for s in specs}
    return run_specs(cfg, specs, "variants", progress, should_stop, prep, cache_dir)


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
        vals = [v for v in by_round.values() if v is not None]
        mean = sum(vals) / len(vals) if vals else None
        cells = [_fmt(by_round.get(c), digits) for c in cols]
        lines.append(f"| {name} | " + " | ".join(cells)
                     + f" | {_fmt(mean, digits)} | {_fmt(e['summary']['wall_seconds'], 1)} |")
    return head + "\n".join(lines)


def markdown_report(doc: dict) -> str:
    """ASR table, AIT table and the run's wall time, as written next to the JSON."""
    key, _ = _group(doc)
    cfg = doc["config"]
    title = "Attack comparison" if key == "attacks" else f"Ablation of {cfg.get('base', 'st-gia')}"
    setting = (f"dataset {cfg['dataset']}, {cfg['clients']} clients, {doc['rounds_run']} rounds, "
               f"window {cfg['window']}, {cfg['iters']} iterations, seed {cfg['seed']}, "
               f"defense {cfg['defense']}, success radius {cfg['threshold_m']:g} m")
    return (f"## {title}\n\n{setting}\n\n### ASR\n\n{markdown_table(doc, 'asr')}\n\n"
            f"### AIT (mean first successful iteration, cap {cfg['iters']})\n\n"
            f"{markdown_table(doc, 'ait', 1)}\n\nwall time {doc['wall_seconds']:.1f} s "
            "(one training run shared by all rows)\n")


def csv_text(doc: dict) -> str:
    """Long format, every round: attack (or variant), round, asr, ait, … ."""
    key, entries = _group(doc)
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow([key[:-1]] + list(ROUND_KEYS))
    for name, e in entries.items():
        for r in e["rounds"]:
            w.writerow([name] + ["" if r.get(k) is None else r[k] for k in ROUND_KEYS])
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
    return series_figure({n: e["rounds"] for n, e in entries.items()}, metric,
                         f"{title}: {metric.upper()} per round ({cfg['dataset']}, "
                         f"{cfg['clients']} clients, {cfg['iters']} iterations)")


def write_outputs(doc: dict, json_path: str | Path, figure: bool = True) -> list[Path]:
    """Write JSON and, next to it (same stem), .md and .csv — and .html: the stakeholder report
    (`core.reports`), whose charts use the 1.2 MB plotly.js basic bundle inlined once (plotly.py's
    own `write_html(include_plotlyjs=True)` inlines the full 4.8 MB bundle for one chart)."""
    import json

    from core.files import write_atomic

    path = Path(json_path)
    write_atomic(path, json.dumps(doc, indent=1))  # temporary file, then rename
    written = [path]
    for suffix, text in ((".md", markdown_report(doc)), (".csv", csv_text(doc))):
        p = path.with_suffix(suffix)
        p.write_text(text)
        written.append(p)
    if figure:
        try:
            from core.reports import build_report
        except ImportError:  # plotly or folium missing
            return written
        p = path.with_suffix(".html")
        p.write_text(build_report(doc), encoding="utf-8")
        written.append(p)
    return written


def _spec_dict(spec: AttackSpec) -> dict:
    from dataclasses import asdict

    return asdict(spec)
