"""Sweep wall time: the same defense sweep run serially, in local worker processes and on a local
Ray instance, in ONE run (so the ratios share the machine's load), plus one paper-scale cell's
cost for projecting big studies (docs/scale.md).

    python bench/bench_sweep.py                       # serial, local, ray (if installed)
    python bench/bench_sweep.py --executors serial,local --paper-cell

Every executor runs the same cells with the same seeds; the script checks that their results are
identical and prints wall seconds, the speed-up over serial and the 1-minute load average before
and after each run. Nothing is read from or written to the cell store (every cell really runs).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

SWEEP = dict(clients=10, rounds=10, iters=100, defenses=["dpsgd", "geoi"],
             epsilons=[1.0, 5.0, 10.0])
PAPER_CELL = dict(clients=100, rounds=50, iters=200, defense="dpsgd", epsilon=5.0)


def load() -> float:
    return round(os.getloadavg()[0], 2)


def run_sweep(executor: str, processes: int, sweep: dict) -> dict:
    from core.experiments.config import RunConfig
    from core.experiments.defenses import compare_defenses

    cfg = RunConfig.build(**sweep, executor=executor,
                          processes=0 if executor == "serial" else processes)
    before, t0 = load(), time.perf_counter()
    doc = compare_defenses(cfg)  # no cell store: every cell runs
    wall = time.perf_counter() - t0
    cells = [doc["defenses"]["none"]] + [c for n, by in doc["defenses"].items() if n != "none"
                                         for c in by.values()]
    return {"executor": executor, "wall_s": round(wall, 2), "cells": len(cells),
            "cell_s_sum": round(sum(c["seconds"] for c in cells), 2),
            "load_before": before, "load_after": load(), "doc": doc}


def paper_cell() -> dict:
    """One cell at the paper's scale (100 clients, 50 rounds, 200 iterations, ST-GIA vs DP-SGD)."""
    from core.experiments.config import RunConfig
    from core.experiments.single import run_attack

    before, t0 = load(), time.perf_counter()
    doc = run_attack(RunConfig.build(**PAPER_CELL))
    return {"config": PAPER_CELL, "wall_s": round(time.perf_counter() - t0, 2),
            "run_s": doc["summary"]["wall_seconds"], "load_before": before, "load_after": load()}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--executors", default="serial,local,ray")
    ap.add_argument("--processes", type=int, default=0, help="workers (0 = one per core)")
    ap.add_argument("--paper-cell", action="store_true", help="also time one paper-scale cell")
    ap.add_argument("--repeat", type=int, default=1,
                    help="run the executors in turn this many times (ratios per round)")
    for name in ("clients", "rounds", "iters"):
        ap.add_argument(f"--{name}", type=int, default=SWEEP[name],
                        help=f"cell size (default {SWEEP[name]}; larger cells shrink the fixed "
                             "start-up share)")
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    from core.threads import set_threads

    set_threads()
    names = [n for n in args.executors.split(",") if n]
    if "ray" in names:
        try:
            import ray  # noqa: F401
        except ImportError:
            print("ray not installed: skipping it (pip install -r requirements-ray.txt)")
            names.remove("ray")
    sweep = {**SWEEP, "clients": args.clients, "rounds": args.rounds, "iters": args.iters}
    print(f"{os.cpu_count()} cores; sweep {sweep} (+ the undefended cell)")
    runs = []
    from core.experiments.grid import results_only

    for rep in range(args.repeat):  # executors in turn, so each ratio's runs are close in time
        batch = [run_sweep(n, args.processes, sweep) for n in names]
        ref = batch[0]
        for r in batch:
            same = results_only(r["doc"]) == results_only(runs[0]["doc"] if runs else ref["doc"])
            r["round"] = rep + 1
            r["speedup"] = round(ref["wall_s"] / r["wall_s"], 2)
            r["same_results_as_" + names[0]] = same
            print(f"[{rep + 1}] {r['executor']:<7} wall {r['wall_s']:7.1f} s  {r['cells']} cells "
                  f"(sum of cell times {r['cell_s_sum']:.1f} s)  speed-up ×{r['speedup']:.2f}  "
                  f"load {r['load_before']} → {r['load_after']}  identical results: {same}",
                  flush=True)
        runs += batch
    ref = runs[0]
    out = {"cores": os.cpu_count(), "sweep": sweep,
           "runs": [{k: v for k, v in r.items() if k != "doc"} for r in runs]}
    if args.paper_cell:
        out["paper_cell"] = paper_cell()
        print(f"paper-scale cell {PAPER_CELL}: {out['paper_cell']['wall_s']} s wall "
              f"(load {out['paper_cell']['load_before']} → {out['paper_cell']['load_after']})")
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=1))
    return 0 if all(r["same_results_as_" + ref["executor"]] for r in runs) else 1


if __name__ == "__main__":
    sys.exit(main())
