"""The pages' one work function: data from the browser (upload or server path) -> `prepare` ->
the registered experiment (`core.experiments.registry`) -> its document. No experiment logic
lives here; this module only adapts the data source and the job's progress.

No Streamlit here: it runs in the worker process (`ui.jobs`).
"""
from __future__ import annotations

import functools
import tempfile

from core.experiments.config import RunConfig
from core.experiments.registry import EXPERIMENTS
from ui.data import DataChoice, load_roads, load_trajectories
from ui.jobcore import Job


def run_experiment(job: Job, name: str, cfg: RunConfig, choice: DataChoice) -> dict:
    """The worker for any experiment (bind with `experiment_work`)."""
    from core.data.load import summarize
    from core.experiments.setup import prepare
    from core.experiments.single import partial_doc

    exp = EXPERIMENTS[name]
    exp.check(cfg)
    job.status, job.message = "preparing", "loading data and choosing clients…"
    raw = load_trajectories(choice, cfg.data)
    roads = load_roads(choice, cfg.data)
    # cells one after another in this worker (a daemonic process has no children of its own):
    # per-round progress, and a stop keeps the finished cells
    cfg = cfg.with_(dataset=choice.dataset_name(), roads=choice.roads_name(), executor="serial")
    prep = prepare(cfg, raw=raw, roads=roads) if raw is not None else prepare(cfg)
    job.extra["roads"] = prep.roads
    job.extra["dataset"] = summarize(prep.dataset)
    job.status, job.message = "running", "training and attacking"
    cfg_doc = cfg.to_dict()

    def progress(ev: dict) -> None:
        res = ev.get("result")
        if name == "attack" and res is not None:  # the live map and charts
            job.partial = partial_doc(res, ev["attack"], cfg_doc)
        job.event(ev, done=ev.get("step", 0), total=ev.get("total", 0))
        job.message = f"{ev.get('run') or ev.get('attack', '')}: round {ev.get('round')}"

    # private data: the adaptive defense's proxy risk profile stays out of the shared disk cache
    tmp = tempfile.TemporaryDirectory(prefix="st-gia-profile-") if choice.private else None
    try:
        return exp(cfg, progress=progress, should_stop=job.should_stop, prep=prep,
                   cache_dir=tmp.name if tmp else None)
    finally:
        if tmp is not None:
            tmp.cleanup()


def experiment_work(name: str, cfg: RunConfig, choice: DataChoice):
    """`run_experiment` bound to its arguments: a picklable work function for `ui.jobs.start`."""
    return functools.partial(run_experiment, name=name, cfg=cfg, choice=choice)


def _summary(kind: str, doc: dict) -> dict:
    if kind == "defense-maps":
        return {n: d.get("summary", {}).get("mean_asr") for n, d in doc.get("runs", {}).items()}
    if kind == "compare-defenses":
        return {"wall_seconds": doc.get("wall_seconds")}
    if kind == "attack":
        return {}
    group = doc.get("attacks") or doc.get("variants") or {}
    return {n: b.get("summary", {}).get("mean_asr") for n, b in group.items()}


def save_doc(store, kind: str):
    """Save a finished (or stopped) job's document in the run store."""
    def save(job: Job, doc: dict) -> str:
        return store.save(kind, doc, owner=job.owner, private=job.private, title=job.title,
                          status="stopped" if doc.get("stopped") else "done",
                          summary=_summary(kind, doc))
    return save
