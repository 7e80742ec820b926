"""Sweeps as grids of independent cells, run by an executor, each finished cell stored.

A **cell** is one full federated run that depends on nothing but its own configuration: its
seed, attack (with components switched off, for the ablation), defense and ε. Cells never share
state, so they run in any order, in any process, on any machine, and give the same numbers
(same seed → same result on every executor). What a cell is, per experiment:

| experiment       | one cell                                   | returns                       |
|------------------|--------------------------------------------|-------------------------------|
| attack           | one seed                                   | the attack document           |
| compare-attacks  | one attack × one seed                      | that attack's entry           |
| ablation         | one variant (component off) × one seed     | that variant's entry          |
| compare-defenses | one defense × one ε × one seed (+ none)    | the `SweepCell`               |
| defense-maps     | one defense × one seed (+ none)            | the attack document           |

compare-attacks and ablation used to let all attacks attack one shared training run. A cell is
now one attack on its own copy of that run: training is deterministic in the seed and the attacks
only observe the uploads (each attack has its own generator), so the per-attack cells give
exactly the numbers of the shared run (tested), while the attacks — nearly all of the cost —
run in parallel. The price is re-training per attack, a small share of a cell.

**Executors** (`--executor`): `local` (default) runs cells in worker processes
(`concurrent.futures.ProcessPoolExecutor`, forked from a single-threaded process such as the
CLI, else from a fork server; one torch thread each, `--processes`
workers, default one per core); `serial` runs them one after another in this process (with
per-round progress and stopping between rounds: the dashboard's worker uses it); `ray` submits
them to a Ray cluster (`--ray-address`, else a local instance; `requirements-ray.txt`).

**Cell store** (`CellStore`): each finished cell is written, atomically, as it completes, to
`$ST_GIA_CACHE/cells/<key[:2]>/<key>.json` (default `~/.cache/st-gia-lab/cells`). The key is the
SHA-256 of the cell's kind, its configuration (execution fields and the sweep's lists left out:
they do not change a cell), the dataset's and road files' path, size and mtime, and the code
version (a hash of every `core/**/*.py`), so a changed input or code never reuses a stale cell. Rerunning a
command reuses the cells it finds ("reused N of M cells") and the document equals an
uninterrupted run's (timings aside). A grid of one cell runs in this process and is not stored
(a single run keeps its per-round progress and partial result when stopped, as before).
"""
from __future__ import annotations

import hashlib
import json
import os
import time
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable, Iterator, Protocol, Sequence

from core.errors import InputError, ParameterError
from core.experiments.config import SECTIONS, RunConfig, section_fields

Progress = Callable[[dict], None]
ShouldStop = Callable[[], bool]
KINDS = ("run", "entry", "defense", "profile")
POLL_SECONDS = 0.5
CORE_DIR = Path(__file__).resolve().parents[1]
PROJECT_DIR = CORE_DIR.parent


# ---- cells -------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Cell:
    """One independent run: `kind` says what it returns (see the module table), `config` is
    everything that determines it, `label` names it in progress and tables."""

    kind: str
    config: RunConfig
    label: str = ""

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"cell kind must be one of {KINDS}, not {self.kind!r}")

    @property
    def seed(self) -> int:
        return self.config.federation.seed

    def key(self) -> str:
        """Hex digest of what the cell's result depends on (see the module docstring)."""
        from core.experiments.defense_setup import _dataset_fingerprint

        roads = (self.config.data.roads or "").split(",")
        doc = {"kind": self.kind, "config": self.config.to_dict(), "code": code_version(),
               "data": _dataset_fingerprint(self.config.data.dataset),
               "roads": [_dataset_fingerprint(r) for r in roads if r]}
        return hashlib.sha256(json.dumps(doc, sort_keys=True, default=str).encode()).hexdigest()


# What says how a run went rather than what it computed: left out when results are compared
# across executors, resumptions and seeds ("same seed, same numbers").
RUN_FACTS = frozenset({"wall_seconds", "seconds", "attack_seconds", "grid", "executor",
                       "processes", "ray_address"})


def results_only(doc: Any) -> Any:
    """A document without run facts (timings, how the cells ran): what must match."""
    if isinstance(doc, dict):
        return {k: results_only(v) for k, v in doc.items() if k not in RUN_FACTS}
    if isinstance(doc, list):
        return [results_only(v) for v in doc]
    return doc


def cell_config(cfg: RunConfig, **values: Any) -> RunConfig:
    """`cfg` with `values` set and the sweep section (lists, seeds, executor) at its defaults:
    a cell's configuration, the same whichever sweep (or executor) it belongs to."""
    sweep = {f.name for f in section_fields(SECTIONS["sweep"])}
    keep = {k: v for k, v in cfg.explicit().items() if k not in sweep}
    return RunConfig.build(cfg.preset, **{**keep, **values})


@lru_cache(maxsize=1)
def code_version() -> str:
    """Hash of every Python source under `core/`: a code change invalidates stored cells."""
    h = hashlib.sha256()
    for p in sorted(CORE_DIR.rglob("*.py")):
        h.update(str(p.relative_to(CORE_DIR)).encode())
        h.update(p.read_bytes())
    return h.hexdigest()[:16]


# ---- the cell store ----------------------------------------------------------------------------

@dataclass(frozen=True)
class CellStore:
    """Finished cells on disk, one JSON file per cell key, written atomically."""

    root: Path

    @staticmethod
    def default() -> "CellStore":
        from core.experiments.defense_setup import cache_root

        return CellStore(cache_root() / "cells")

    def path(self, key: str) -> Path:
        return Path(self.root) / key[:2] / f"{key}.json"

    def get(self, key: str) -> Any | None:
        """The stored result of cell `key` (None if absent or unreadable)."""
        p = self.path(key)
        try:
            doc = json.loads(p.read_text())
            return doc["result"] if doc.get("key") == key else None
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def put(self, cell: Cell, key: str, result: Any) -> None:
        p = self.path(key)
        p.parent.mkdir(parents=True, exist_ok=True)
        tmp = p.with_name(f"{p.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps({"key": key, "kind": cell.kind, "label": cell.label,
                                   "code": code_version(), "config": cell.config.to_dict(),
                                   "result": result}))
        os.replace(tmp, p)  # a killed run never leaves half a cell


# ---- running one cell (in whichever process the executor picks) --------------------------------

@lru_cache(maxsize=4)
def _prepared_base(base: RunConfig):
    from core.experiments.setup import prepare

    return prepare(base)


def _prep_for(cell: Cell, source):
    """The cell's prepared run: from the in-memory `source` (data the caller loaded), else loaded
    from the configuration (memoised per process: the cells of a sweep share their data)."""
    if source is not None:
        return source.for_config(cell.config)
    base = RunConfig(cell.config.preset, cell.config.data, cell.config.model,
                     cell.config.federation, evaluation=cell.config.evaluation)
    return _prepared_base(base).with_config(cell.config)


def run_cell(cell: Cell, source=None, context: dict | None = None,
             progress: Progress | None = None, should_stop: ShouldStop | None = None) -> dict:
    """Run one cell: {"value": its result (JSON-ready), "complete": ran every round (a stop
    that lands after the last round still leaves a complete cell)}."""
    from core.threads import set_threads

    set_threads()
    prep = _prep_for(cell, source)
    value, complete = _KIND_RUNNERS[cell.kind](cell, prep, context or {}, progress, should_stop)
    return {"value": json.loads(json.dumps(value)), "complete": complete}


def _run_attack(cell: Cell, prep, context: dict, progress, should_stop) -> tuple[dict, bool]:
    from core.experiments.single import attack_run

    doc = attack_run(cell.config, progress, should_stop, prep=prep,
                     cache_dir=context.get("cache_dir"))
    return doc, len(doc["rounds"]) == cell.config.federation.rounds


def _run_entry(cell: Cell, prep, context: dict, progress, should_stop) -> tuple[dict, bool]:
    from core.experiments.compare import run_specs
    from core.experiments.single import attack_spec

    spec = attack_spec(cell.config)
    doc = run_specs(cell.config, {spec.name: spec}, "attacks", progress, should_stop, prep,
                    context.get("cache_dir"))
    return {"name": spec.name, "entry": doc["attacks"][spec.name],
            "rounds_run": doc["rounds_run"]}, doc["rounds_run"] == cell.config.federation.rounds


def _run_defense(cell: Cell, prep, context: dict, progress, should_stop) -> tuple[dict, bool]:
    from core.defenses.budget import RiskProfile
    from core.defenses.mechanisms import DistanceCache
    from core.experiments import defenses, runner
    from core.experiments.defense_setup import roads_for

    d = cell.config.defense
    ctx: dict = {"cache_dir": context.get("cache_dir")}
    if d.defense not in ("none", "dpsgd"):
        roads = roads_for(prep)
        ctx.update(roads=roads, distances=DistanceCache(roads))
    profile = (context.get("profiles") or {}).get(str(cell.seed))
    if profile is not None:
        ctx["profile"] = RiskProfile.from_dict(profile)
    sc = defenses.run_cell(prep, d.defense, d.epsilon, ctx, progress, should_stop)
    value = {"cell": sc.to_dict(), "baselines": runner.baselines(prep),
             "roads_used": getattr(ctx.get("roads"), "name", None)}
    return value, len(sc.asr_per_round) == cell.config.federation.rounds


def _run_profile(cell: Cell, prep, context: dict, progress, should_stop) -> tuple[dict, bool]:
    from core.experiments.defense_setup import risk_profile

    return risk_profile(prep, context.get("cache_dir"), progress=progress).to_dict(), True


_KIND_RUNNERS = {"run": _run_attack, "entry": _run_entry, "defense": _run_defense,
                 "profile": _run_profile}


# ---- executors ---------------------------------------------------------------------------------

Task = Callable[..., dict]


class Executor(Protocol):
    """Runs `fn(cell, source, context)` for every cell; yields (index, result) as each ends."""

    name: str

    def run(self, fn: Task, cells: Sequence[Cell], source, context: dict,
            progress_of: Callable[[int], Progress | None],
            should_stop: ShouldStop | None) -> Iterator[tuple[int, dict]]: ...


@dataclass(frozen=True)
class SerialExecutor:
    """One cell after another in this process, with per-round progress and stopping."""

    name: str = "serial"

    def run(self, fn, cells, source, context, progress_of, should_stop):
        for i, cell in enumerate(cells):
            if should_stop is not None and should_stop():
                return
            yield i, fn(cell, source, context, progress_of(i), should_stop)


def _worker_init() -> None:
    """A cell worker: one torch thread (N workers on N cores; no nested pools), and Ctrl-C goes
    to the parent, which ends the workers itself."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    os.environ.setdefault("ST_GIA_TORCH_THREADS", "1")
    os.environ["ST_GIA_WORKERS"] = "1"  # a run's own sharding stays off inside a cell worker


# imported once by the fork server, so each cell worker starts warm (torch takes seconds)
PRELOAD = ["torch", "numpy", "scipy.spatial", "core.experiments.runner",
           "core.experiments.compare", "core.experiments.defenses", "core.experiments.grid"]


def _mp_context():
    """fork when this process runs no other Python thread (the CLI): workers start at once and
    warm, with everything this process imported (the fork server first imports torch and the
    core again: ~3 s before any cell starts, measured as most of a sweep's fixed cost once the
    cells took seconds). The attack's row shards (`core.attacks.shards`) fork the same way. A
    process with threads (the dashboard's server) uses the fork server: forking there could copy
    a lock another thread holds."""
    import multiprocessing as mp
    import threading

    if threading.active_count() == 1 and "fork" in mp.get_all_start_methods():
        return mp.get_context("fork")
    try:
        ctx = mp.get_context("forkserver")
        ctx.set_forkserver_preload(PRELOAD)  # no effect once the server runs
        return ctx
    except ValueError:  # no forkserver on this platform
        return mp.get_context("spawn")


@dataclass(frozen=True)
class LocalExecutor:
    """Cells in `processes` worker processes (0: one per core) on this machine."""

    processes: int = 0
    name: str = "local"

    def workers(self, n_cells: int) -> int:
        return max(1, min(self.processes or os.cpu_count() or 1, n_cells))

    def run(self, fn, cells, source, context, progress_of, should_stop):
        pool = ProcessPoolExecutor(self.workers(len(cells)), mp_context=_mp_context(),
                                   initializer=_worker_init)
        try:
            futures = {pool.submit(fn, c, source, context): i for i, c in enumerate(cells)}
            yield from _as_completed(futures, should_stop)
        finally:
            _end_pool(pool)


def _as_completed(futures: dict, should_stop: ShouldStop | None) -> Iterator[tuple[int, dict]]:
    pending = set(futures)
    while pending:
        if should_stop is not None and should_stop():
            return
        done, pending = wait(pending, timeout=POLL_SECONDS, return_when=FIRST_COMPLETED)
        for f in sorted(done, key=futures.get):
            yield futures[f], f.result()


def _end_pool(pool: ProcessPoolExecutor) -> None:
    """Stop a pool now: queued cells are cancelled, running ones ended (their results are not
    wanted: a stopped or interrupted sweep keeps the cells that finished)."""
    procs = list((getattr(pool, "_processes", None) or {}).values())
    pool.shutdown(wait=False, cancel_futures=True)
    for p in procs:
        if p.is_alive():
            p.terminate()
    for p in procs:
        p.join(timeout=10)


@dataclass(frozen=True)
class RayExecutor:
    """Cells as Ray tasks (one CPU each) on the cluster at `address`, else on a local instance
    with `processes` CPUs (0: all). Every node needs the project at the same path (it is put on
    the workers' PYTHONPATH) and, for files, the data at the same path."""

    address: str | None = None
    processes: int = 0
    name: str = "ray"

    def run(self, fn, cells, source, context, progress_of, should_stop):
        ray = _import_ray()
        started = not ray.is_initialized()
        if started:
            env = {"PYTHONPATH": os.pathsep.join(filter(None, [str(PROJECT_DIR),
                                                               os.environ.get("PYTHONPATH")])),
                   "ST_GIA_TORCH_THREADS": "1", "ST_GIA_WORKERS": "1"}
            kwargs: dict = {"num_cpus": self.processes or None} if self.address is None else {}
            try:
                ray.init(address=self.address, runtime_env={"env_vars": env},
                         log_to_driver=False, include_dashboard=False, **kwargs)
            except (ConnectionError, RuntimeError, ValueError) as exc:
                raise InputError(f"--ray-address {self.address!r}: cannot join a Ray cluster "
                                 f"there ({exc}); start one with `ray start --head`, or leave "
                                 "--ray-address out for a local instance") from None
        try:
            remote = ray.remote(num_cpus=1, max_retries=0)(fn)
            src, ctx = ray.put(source), ray.put(context)
            refs = {remote.remote(c, src, ctx): i for i, c in enumerate(cells)}
            pending = list(refs)
            while pending:
                if should_stop is not None and should_stop():
                    for r in pending:
                        ray.cancel(r, force=True)
                    return
                done, pending = ray.wait(pending, num_returns=1, timeout=POLL_SECONDS)
                for r in done:
                    yield refs[r], ray.get(r)
        finally:
            if started:
                ray.shutdown()


def _import_ray():
    try:
        import ray
    except ImportError:
        raise InputError("--executor ray needs Ray: pip install -r requirements-ray.txt "
                         "(or use --executor local)") from None
    return ray


def executor_for(cfg: RunConfig) -> Executor:
    """The executor the sweep section names; execution fields that do not apply are errors."""
    s = cfg.sweep
    if s.ray_address is not None and s.executor != "ray":
        raise ParameterError("ray_address", s.ray_address, f"nothing with executor {s.executor!r} "
                             "(only with --executor ray)")
    if s.executor == "serial":
        if s.processes:
            raise ParameterError("processes", s.processes, "0 with executor 'serial'")
        return SerialExecutor()
    if s.executor == "ray":
        if s.processes and s.ray_address is not None:
            raise ParameterError("processes", s.processes, "0 when joining a Ray cluster "
                                 "(the cluster decides its CPUs)")
        return RayExecutor(s.ray_address, s.processes)
    return LocalExecutor(s.processes)


# ---- running a grid ----------------------------------------------------------------------------

@dataclass
class GridRun:
    """The outcome of a grid: results by cell index (finished cells only), how many were reused
    from the store, whether it was stopped, and the executor that ran it."""

    cells: list[Cell]
    results: dict[int, Any] = field(default_factory=dict)
    reused: int = 0
    stopped: bool = False
    executor: str = "serial"
    seconds: float = 0.0

    def info(self) -> dict:
        """The document's `grid` entry (run facts, not results: left out of comparisons)."""
        return {"cells": len(self.cells), "finished": len(self.results), "reused": self.reused,
                "executor": self.executor, "seconds": round(self.seconds, 3)}


def run_grid(cells: Sequence[Cell], cfg: RunConfig, *, source=None, context: dict | None = None,
             progress: Progress | None = None, should_stop: ShouldStop | None = None,
             store: CellStore | None = None, steps_per_cell: int | None = None,
             step_offset: int = 0, total_steps: int | None = None) -> GridRun:
    """Run every cell not already in `store` with the configured executor, storing each as it
    finishes. Progress: {"step", "total", "run", "round", ...}, one step per round of every
    cell (a cell on another process reports once, when it ends)."""
    t0 = time.perf_counter()
    cells = list(cells)
    T = steps_per_cell or cfg.federation.rounds
    total = total_steps or step_offset + T * len(cells)
    grid = GridRun(cells)
    single = len(cells) == 1
    store = None if single else store
    keys = [c.key() for c in cells] if store is not None else [None] * len(cells)
    for i, k in enumerate(keys):
        hit = store.get(k) if store is not None else None
        if hit is not None:
            grid.results[i] = hit
    grid.reused = len(grid.results)
    done = {"steps": step_offset + T * grid.reused}
    _report(progress, done["steps"], total, grid)
    todo = [i for i in range(len(cells)) if i not in grid.results]
    executor = executor_for(cfg)  # checks the execution fields even for one cell
    executor = SerialExecutor() if single else executor
    grid.executor = executor.name

    def progress_of(j: int) -> Progress | None:
        if progress is None:
            return None
        base = done["steps"]
        label = cells[todo[j]].label
        return lambda ev: progress({**ev, "step": base + ev["round"], "total": total,
                                    "run": label, "attack": ev.get("attack") or label})

    for j, out in executor.run(run_cell, [cells[i] for i in todo], source, context or {},
                               progress_of, should_stop):
        i = todo[j]
        if not out["complete"]:
            grid.stopped = True
            if not single:
                continue  # a cell stopped part-way is not a finished cell
        grid.results[i] = out["value"]
        if store is not None:
            store.put(cells[i], keys[i], out["value"])
        done["steps"] += T
        if progress is not None and executor.name != "serial":  # serial reported every round
            progress({"step": done["steps"], "total": total, "run": cells[i].label,
                      "attack": cells[i].label, "round": T, "cells_done": len(grid.results),
                      "cells": len(cells)})
    grid.stopped = (grid.stopped or len(grid.results) < len(cells)
                    or bool(should_stop and should_stop()))
    grid.seconds = time.perf_counter() - t0
    return grid


def _report(progress: Progress | None, step: int, total: int, grid: GridRun) -> None:
    if progress is not None and grid.reused:
        progress({"step": step, "total": total, "run": "stored cells", "round": 0,
                  "reused": grid.reused, "cells": len(grid.cells)})


def ordered(grid: GridRun) -> Iterator[tuple[Cell, Any]]:
    """(cell, result) of the finished cells in grid order (the document's order)."""
    for i, cell in enumerate(grid.cells):
        if i in grid.results:
            yield cell, grid.results[i]
