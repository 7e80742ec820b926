"""The Attack lab's work: data -> `prepare` -> defense -> `runner.run` -> the attack document,
with a live partial document after every round (for the map and charts while it runs)."""
from __future__ import annotations

import dataclasses
import functools
import tempfile

from core.attacks import registry as attacks
from core.attacks.spec import AttackSpec
from core.experiments.config import RunConfig
from core.experiments.report import reconstructions, round_rows
from ui.data import DataChoice, load_roads, load_trajectories
from ui.jobcore import Job

# ST-GIA's components as the dashboard names them -> AttackSpec field and `without` name
COMPONENTS = {"init": ("previous", "initialisation"), "mapping": ("mapping", "mapping"),
              "calibration": ("calibration", "calibration")}


def attack_spec(name: str, init: bool = True, mapping: bool = True,
                calibration: bool = True) -> AttackSpec:
    """The registered attack with some of its ST-GIA components switched off (ablation)."""
    spec = attacks.get(name)
    for key, on in (("init", init), ("mapping", mapping), ("calibration", calibration)):
        field, component = COMPONENTS[key]
        if not on and getattr(spec, field):
            spec = spec.without(component)
    return spec


def has_components(name: str) -> dict[str, bool]:
    spec = attacks.get(name)
    return {k: bool(getattr(spec, f)) for k, (f, _) in COMPONENTS.items()}


def partial_doc(result, name: str, config: dict) -> dict:
    """Rows and reconstructions of the rounds finished so far (utility lags one round)."""
    return {"config": config, "rounds": round_rows(result, name),
            "reconstructions": reconstructions(result, name), "live": True}


def build_defense(cfg: RunConfig, prep, job: Job, private: bool):
    """None for no defense; otherwise the defense with what the run supplies (roads, and for
    `adaptive` its risk profile from a proxy run, kept in a throw-away directory for private data)."""
    if cfg.defense == "none":
        return None, None
    try:
        from core.experiments.defense_setup import make_defense
    except ImportError:
        from core.defenses import registry as defenses
        return defenses.make(cfg.defense, cfg.epsilon), None
    tmp = tempfile.TemporaryDirectory(prefix="st-gia-profile-") if private else None

    def proxy_progress(ev: dict) -> None:
        job.message = f"risk profile for the adaptive defense: proxy round {ev.get('round')}"
        job.done, job.total = ev.get("round", 0), cfg.rounds

    d = make_defense(cfg.defense, cfg.epsilon, prep, cache_dir=tmp.name if tmp else None,
                     progress=proxy_progress)
    return d, tmp


def run_attack(job: Job, cfg: RunConfig, spec: AttackSpec, choice: DataChoice) -> dict:
    """The worker for one attack run (bind with functools.partial; see `ui.jobs.start`)."""
    from core.data.load import summarize
    from core.experiments import runner
    from core.experiments.report import attack_json
    from core.experiments.setup import prepare

    job.status, job.message = "preparing", "loading data and choosing clients…"
    raw = load_trajectories(choice)
    roads = load_roads(choice)
    run_cfg = dataclasses.replace(cfg, dataset=choice.dataset_name(), roads=choice.roads_name())
    prep = prepare(run_cfg, raw=raw, roads=roads) if raw is not None else prepare(run_cfg)
    job.extra["roads"] = prep.roads
    job.extra["dataset"] = summarize(prep.dataset)
    job.total = run_cfg.rounds
    defense, tmp = build_defense(run_cfg, prep, job, choice.private)
    job.status, job.message = "running", "training and attacking"
    cfg_doc = dict(run_cfg.to_dict(), attack=spec.name)

    def progress(ev: dict) -> None:
        res = ev.get("result")
        if res is not None:
            job.partial = partial_doc(res, spec.name, cfg_doc)
        job.event(ev, done=ev.get("round", 0), total=ev.get("rounds", run_cfg.rounds))

    try:
        result = runner.run(prep, {spec.name: spec}, defense, progress=progress,
                            should_stop=job.should_stop)
    finally:
        if tmp is not None:
            tmp.cleanup()
    doc = attack_json(result, spec.name)
    doc["config"] = dict(doc["config"], attack_spec=dataclasses.asdict(spec))
    if defense is not None:
        doc["allocation"] = [float(a) for a in getattr(defense, "allocation", [])]
    return doc


def attack_work(cfg: RunConfig, spec: AttackSpec, choice: DataChoice):
    """`run_attack` bound to its arguments: a picklable work function for `ui.jobs.start`."""
    return functools.partial(run_attack, cfg=cfg, spec=spec, choice=choice)


def save_attack(store):
    def save(job: Job, doc: dict) -> str:
        return store.save("attack", doc, owner=job.owner, private=job.private, title=job.title,
                          status="stopped" if doc.get("stopped") else "done")
    return save
