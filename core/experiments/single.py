"""One federated run attacked by one attack (the `attack` experiment), and the same clients
attacked under each defense at one ε (the `defense-maps` experiment: one user's trajectory side
by side on the pages).

Both are `runner.run` over a prepared run; they differ only in what they attack and with which
defense, so there is one round loop and one attack engine behind every experiment.
"""
from __future__ import annotations

from typing import Callable

from core.attacks import registry as attacks
from core.attacks.spec import AttackSpec
from core.errors import ParameterError
from core.experiments import runner
from core.experiments.config import RunConfig
from core.experiments.defense_setup import configured_defense
from core.experiments.grid import Cell, CellStore, cell_config, ordered, run_grid
from core.experiments.report import attack_json, reconstructions, round_rows
from core.experiments.seeds import mean_dict, mean_rows, seeds_of
from core.experiments.setup import Prepared, prepare

Progress = Callable[[dict], None]
ShouldStop = Callable[[], bool]


def attack_spec(cfg: RunConfig) -> AttackSpec:
    """The configured attack with the components in `disable` switched off (ablation)."""
    name = cfg.attack.attack
    spec = attacks.get(name)
    if cfg.attack.disable and not attacks.is_st_gia(name):
        raise ParameterError("disable", ",".join(cfg.attack.disable),
                             f"nothing for attack {name!r} (only ST-GIA variants have "
                             "components to switch off)")
    for component in cfg.attack.disable:
        spec = spec.without(component)
    if cfg.attack.label == "both":
        raise ParameterError("label", "both", "own, joint or analytic (both: compare-attacks only)")
    return spec.with_label(cfg.attack.label).with_calibration(cfg.attack.calibration)


def partial_doc(result: runner.RunResult, name: str, config: dict) -> dict:
    """A live document: rows and reconstructions of the rounds finished so far."""
    return {"config": config, "attack": name,
            "rounds": [r.to_dict() for r in round_rows(result, name)],
            "reconstructions": reconstructions(result, name), "live": True,
            "summary": {"baselines": dict(result.baselines)}}


def interrupted_doc(result: runner.RunResult, cfg: RunConfig, seconds: float) -> dict:
    """The run document of an `attack` run interrupted mid-round (Ctrl-C, SIGTERM): the rounds
    it finished, ``"stopped": true``. End-of-run scores (`asr_final`) need the attack session,
    which the interrupt unwound, so they are null; the reconstructions are the latest estimates."""
    spec = attack_spec(cfg)
    result.stopped = True
    result.seconds = seconds
    doc = attack_json(result, spec.name)
    doc["attack_spec"] = spec.to_dict()
    return doc


def run_attack(cfg: RunConfig, progress: Progress | None = None,
               should_stop: ShouldStop | None = None, prep: Prepared | None = None,
               cache_dir: str | None = None, store: CellStore | None = None) -> dict:
    """Train and attack every round with the configured attack and defense; the run document.

    One cell per seed (`core.experiments.grid`). With one seed the document is that run's
    (`attack_run`); with several, `rounds` and `summary` are the means across seeds, `ci95`
    their 95 % CI half-widths, `per_seed` each seed's rounds and summary, and the
    reconstructions (maps) those of the first seed.
    """
    attack_spec(cfg)  # a bad `disable` is refused before any data is read
    seeds = seeds_of(cfg)
    cells = [Cell("run", cell_config(cfg, seed=s), f"seed {s}") for s in seeds]
    g = run_grid(cells, cfg, source=prep, context={"cache_dir": cache_dir}, progress=progress,
                 should_stop=should_stop, store=store)
    runs = [(c.seed, v) for c, v in ordered(g)]
    if not runs:
        return {"config": cfg.to_dict(), "attack": attack_spec(cfg).name, "rounds": [],
                "summary": {}, "stopped": True, "grid": g.info()}
    doc = merge_seeds(runs, cfg.to_dict())
    doc["stopped"] = g.stopped
    doc["grid"] = g.info()
    return doc


def attack_run(cfg: RunConfig, progress: Progress | None = None,
               should_stop: ShouldStop | None = None, prep: Prepared | None = None,
               cache_dir: str | None = None) -> dict:
    """One run (one grid cell): train and attack every round.

    Progress events: {"step", "total", "round", "rounds", "attack", "asr", ..., "result"} where
    "result" is the live `RunResult` (for live maps; it never leaves the process).
    `cache_dir`: where the adaptive defense keeps its risk profile (default: the user cache).
    """
    spec = attack_spec(cfg)
    prep = prep or prepare(cfg)
    defense = None if cfg.defense.defense == "none" else configured_defense(prep, cache_dir=cache_dir)
    result = runner.run(prep, {spec.name: spec}, defense, progress=_steps(progress),
                        should_stop=should_stop)
    doc = attack_json(result, spec.name)
    doc["attack_spec"] = spec.to_dict()
    return doc


def merge_seeds(runs: list[tuple[int, dict]], config: dict) -> dict:
    """Run documents of several seeds -> the first seed's document (its maps) with `rounds` and
    `summary` the means across seeds, `ci95` and `per_seed` beside them; one seed: as it is."""
    doc = {**runs[0][1], "config": config}
    if len(runs) == 1:
        return doc
    rounds, rounds_ci = mean_rows([d["rounds"] for _, d in runs])
    summary, summary_ci = mean_dict([d["summary"] for _, d in runs])
    doc.update(rounds=rounds, summary=summary, ci95={"rounds": rounds_ci, "summary": summary_ci},
               per_seed={str(s): {"rounds": d["rounds"], "summary": d["summary"]} for s, d in runs},
               seeds=[s for s, _ in runs], reconstructions_seed=runs[0][0])
    return doc


def run_defense_maps(cfg: RunConfig, progress: Progress | None = None,
                     should_stop: ShouldStop | None = None, prep: Prepared | None = None,
                     cache_dir: str | None = None, store: CellStore | None = None) -> dict:
    """The same clients attacked by the configured attack under each defense of
    `sweep.defenses` (with "none" for reference) at ε = `defense.epsilon`: one cell per
    defense and seed; with several seeds each defense's rounds and summary are means across
    seeds (`merge_seeds`), its maps the first seed's."""
    spec = attack_spec(cfg)
    seeds = seeds_of(cfg)
    names = ["none"] + [n for n in cfg.sweep.defenses if n != "none"]
    eps = {n: None if n == "none" else cfg.defense.epsilon for n in names}
    cells = [Cell("run", cell_config(cfg, seed=s, defense=n, epsilon=eps[n]),
                  n + (f" seed {s}" if len(seeds) > 1 else "")) for s in seeds for n in names]
    g = run_grid(cells, cfg, source=prep, context={"cache_dir": cache_dir}, progress=progress,
                 should_stop=should_stop, store=store)
    by_name: dict[str, list[tuple[int, dict]]] = {}
    for cell, value in ordered(g):
        by_name.setdefault(cell.config.defense.defense, []).append((cell.seed, value))
    runs = {n: merge_seeds(by_name[n], cfg.with_(defense=n, epsilon=eps[n]).to_dict())
            for n in names if n in by_name}
    doc = {"config": cfg.to_dict(), "attack": spec.name, "runs": runs, "stopped": g.stopped,
           "grid": g.info()}
    if len(seeds) > 1:
        doc["seeds"] = list(seeds)
    return doc


def _steps(progress: Progress | None, offset: int = 0, total: int | None = None,
           label: str | None = None) -> Progress | None:
    """Runner events -> events with a step counter over the whole experiment."""
    if progress is None:
        return None

    def forward(ev: dict) -> None:
        extra = {"run": label} if label else {}
        progress({**ev, **extra, "step": offset + ev["round"], "total": total or ev["rounds"]})
    return forward
