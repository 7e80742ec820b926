"""Workers for the experiment pages: compare-attacks, ablation, compare-defenses (core modules
imported lazily: they may not be installed yet), and one user's run under each defense."""
from __future__ import annotations

import dataclasses
import functools
import importlib

from core.errors import InputError
from core.experiments.config import RunConfig
from ui.data import DataChoice, load_roads, load_trajectories
from ui.jobcore import Job, Stopped


class Unavailable(InputError):
    """A core experiment module that has not landed yet."""


def experiment(module: str, func: str):
    """`core.experiments.<module>.<func>`, or Unavailable with a message for the page."""
    try:
        mod = importlib.import_module(f"core.experiments.{module}")
    except ModuleNotFoundError as exc:
        if exc.name != f"core.experiments.{module}":
            raise
        raise Unavailable(f"core.experiments.{module} is not available in this installation "
                          "yet; load a result JSON written by the CLI instead") from None
    fn = getattr(mod, func, None)
    if fn is None:
        raise Unavailable(f"core.experiments.{module}.{func} is not available yet; load a result "
                          "JSON instead")
    return fn


def available(module: str, func: str) -> bool:
    try:
        experiment(module, func)
        return True
    except Unavailable:
        return False


def _prepared(cfg: RunConfig, choice: DataChoice):
    from core.experiments.setup import prepare

    raw = load_trajectories(choice)
    roads = load_roads(choice)
    cfg = dataclasses.replace(cfg, dataset=choice.dataset_name(), roads=choice.roads_name())
    return prepare(cfg, raw=raw, roads=roads) if raw is not None else prepare(cfg)


def run_comparison(job: Job, kind: str, cfg: RunConfig, choice: DataChoice,
                   names: list[str] | None = None) -> dict:
    """kind: compare-attacks (`names`: attacks) or ablation."""
    fn = experiment("compare", "compare_attacks" if kind == "compare-attacks" else "ablation")
    job.status, job.message = "preparing", "loading data and choosing clients…"
    prep = _prepared(cfg, choice)
    n_specs = len(names) if kind == "compare-attacks" else 4
    job.total = prep.config.rounds * n_specs
    job.status, job.message = "running", "training once, attacking with every recipe"
    count = {"n": 0}

    def progress(ev: dict) -> None:
        count["n"] += 1
        job.event(ev, done=count["n"])
        job.message = f"round {ev.get('round')}: {ev.get('attack')}"

    kwargs = dict(progress=progress, should_stop=job.should_stop, prep=prep)
    if kind == "compare-attacks":
        return fn(prep.config, names, **kwargs)
    return fn(prep.config, **kwargs)


def run_defenses(job: Job, cfg: RunConfig, choice: DataChoice, names: list[str],
                 epsilons: list[float]) -> dict:
    """The defense × ε sweep (Table 5 / Fig. 5). It has no stop hook, so Stop abandons it."""
    import tempfile

    fn = experiment("defenses", "compare_defenses")
    job.status, job.message = "preparing", "loading data and choosing clients…"
    prep = _prepared(cfg, choice)
    job.status, job.message = "running", "undefended baseline"

    def progress(ev: dict) -> None:
        if job.should_stop():
            raise Stopped()
        job.event(ev, done=ev.get("step", 0), total=ev.get("total", 0))
        job.message = f"{ev.get('attack', '')}: round {ev.get('round')}"

    # private data: the adaptive defense's proxy profile stays out of the shared disk cache
    tmp = tempfile.TemporaryDirectory(prefix="st-gia-profile-") if choice.private else None
    try:
        return fn(prep, names, epsilons, progress=progress,
                  **({"cache_dir": tmp.name} if tmp else {}))
    finally:
        if tmp is not None:
            tmp.cleanup()


def run_defense_maps(job: Job, cfg: RunConfig, choice: DataChoice, names: list[str],
                     epsilon: float) -> dict:
    """The same clients attacked by ST-GIA under each defense at one ε (side-by-side maps)."""
    from core.attacks import registry as attacks
    from core.experiments import runner
    from core.experiments.report import attack_json

    job.status, job.message = "preparing", "loading data and choosing clients…"
    prep = _prepared(cfg, choice)
    job.extra["roads"] = prep.roads
    spec = attacks.get("st-gia")
    T = prep.config.rounds
    job.total = T * len(names)
    runs: dict[str, dict] = {}
    try:
        from core.experiments.defense_setup import make_defense
    except ImportError:
        make_defense = None
    for i, name in enumerate(names):
        if job.should_stop():
            break
        eps = None if name == "none" else epsilon
        job.status, job.message = "running", f"{name}: preparing the defense"
        if name == "none":
            d = None
        elif make_defense is not None:
            d = make_defense(name, eps, prep)
        else:
            from core.defenses import registry as defenses
            d = defenses.make(name, eps)

        def progress(ev: dict, i=i, name=name) -> None:
            job.event(ev, done=i * T + ev.get("round", 0))
            job.message = f"{name}: round {ev.get('round')}"

        res = runner.run(dataclasses.replace(prep, config=dataclasses.replace(
            prep.config, defense=name, epsilon=eps)), {"st-gia": spec}, d,
            progress=progress, should_stop=job.should_stop)
        doc = attack_json(res, "st-gia")
        if d is not None:
            doc["allocation"] = [float(a) for a in getattr(d, "allocation", [])]
        runs[name] = doc
    return {"config": dict(prep.config.to_dict(), defenses=names, epsilon=epsilon),
            "runs": runs, "stopped": job.should_stop()}


def comparison_work(kind: str, cfg: RunConfig, choice: DataChoice, names=None):
    return functools.partial(run_comparison, kind=kind, cfg=cfg, choice=choice, names=names)


def defenses_work(cfg: RunConfig, choice: DataChoice, names: list[str], epsilons: list[float]):
    return functools.partial(run_defenses, cfg=cfg, choice=choice, names=names, epsilons=epsilons)


def defense_maps_work(cfg: RunConfig, choice: DataChoice, names: list[str], epsilon: float):
    return functools.partial(run_defense_maps, cfg=cfg, choice=choice, names=names,
                             epsilon=epsilon)


def save_doc(store, kind: str):
    def save(job: Job, doc: dict) -> str:
        summary = {}
        if kind == "defense-maps":
            summary = {n: d.get("summary", {}).get("mean_asr") for n, d in doc.get("runs", {}).items()}
        elif kind == "compare-defenses":
            summary = {"wall_seconds": doc.get("wall_seconds")}
        else:
            group = doc.get("attacks") or doc.get("variants") or {}
            summary = {n: b.get("summary", {}).get("mean_asr") for n, b in group.items()}
        return store.save(kind, doc, owner=job.owner, private=job.private, title=job.title,
                          status="stopped" if doc.get("stopped") else "done", summary=summary)
    return save
