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
from core.experiments.report import attack_json, reconstructions, round_rows
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
               cache_dir: str | None = None) -> dict:
    """Train and attack every round with the configured attack and defense; the run document.

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


def run_defense_maps(cfg: RunConfig, progress: Progress | None = None,
                     should_stop: ShouldStop | None = None, prep: Prepared | None = None,
                     cache_dir: str | None = None) -> dict:
    """The same clients attacked by the configured attack under each defense of
    `sweep.defenses` (with "none" for reference) at ε = `defense.epsilon`."""
    spec = attack_spec(cfg)
    prep = prep or prepare(cfg)
    T = cfg.federation.rounds
    names = ["none"] + [n for n in cfg.sweep.defenses if n != "none"]
    runs: dict[str, dict] = {}
    for i, name in enumerate(names):
        if should_stop is not None and should_stop():
            break
        run_cfg = cfg.with_(defense=name, epsilon=None if name == "none" else cfg.defense.epsilon)
        run_prep = prep.with_config(run_cfg)
        defense = None if name == "none" else configured_defense(run_prep, cache_dir=cache_dir)
        result = runner.run(run_prep, {spec.name: spec}, defense,
                            progress=_steps(progress, offset=i * T, total=T * len(names),
                                            label=name),
                            should_stop=should_stop)
        runs[name] = attack_json(result, spec.name)
    return {"config": cfg.to_dict(), "attack": spec.name, "runs": runs,
            "stopped": bool(should_stop and should_stop())}


def _steps(progress: Progress | None, offset: int = 0, total: int | None = None,
           label: str | None = None) -> Progress | None:
    """Runner events -> events with a step counter over the whole experiment."""
    if progress is None:
        return None

    def forward(ev: dict) -> None:
        extra = {"run": label} if label else {}
        progress({**ev, **extra, "step": offset + ev["round"], "total": total or ev["rounds"]})
    return forward
