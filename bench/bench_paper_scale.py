"""The paper-scale CLI run, end to end, against a baseline checkout in the same run.

Run: python bench/bench_paper_scale.py [--baseline DIR] [--repeats 3] [--rounds 50]
         [--workers 1]

Times the command a user types (issue 12's target: ≤ 20 s wall on this 2-core machine)

    python -m core attack --dataset demo --attack st-gia --clients 100 --rounds 50 --window 1
        --iters 200 --seed 0

as a fresh process (start-up included), `--repeats` times, alternating with the same command
in `--baseline` (another checkout, e.g. `git worktree add --detach ../base <commit>`) so both
see the same machine load. Prints per run the wall and CPU (user + sys) seconds, then medians,
the ratios baseline/this, the load average, and whether both produced the same mean ASR.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parents[1]


def command(rounds: int, workers: int, out: Path) -> list[str]:
    return [sys.executable, "-m", "core", "attack", "--dataset", "demo", "--attack", "st-gia",
            "--clients", "100", "--rounds", str(rounds), "--window", "1", "--iters", "200",
            "--seed", "0", "--workers", str(workers), "--json", str(out)]


def run_once(tree: Path, cmd: list[str]) -> tuple[float, float]:
    """(wall s, CPU s of the child) for one fresh process run in `tree`."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    done = subprocess.run(cmd, cwd=tree, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                          text=True, env={**os.environ, "PYTHONPATH": str(tree)})
    if done.returncode:
        sys.exit(f"{' '.join(cmd)} failed in {tree}:\n{done.stderr[-2000:]}")
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--baseline", type=Path, help="another checkout to compare against")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--rounds", type=int, default=50)
    ap.add_argument("--workers", type=int, default=1)
    a = ap.parse_args(argv)
    trees = {"this": HERE} | ({"baseline": a.baseline.resolve()} if a.baseline else {})
    times: dict[str, list[tuple[float, float]]] = {k: [] for k in trees}
    asr: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(a.repeats):
            for name, tree in trees.items():
                out = Path(tmp) / f"{name}.json"
                wall, cpu = run_once(tree, command(a.rounds, a.workers, out))
                times[name].append((wall, cpu))
                asr[name] = json.loads(out.read_text())["summary"]["mean_asr"]
                print(f"repeat {r + 1} {name:8s} wall {wall:6.2f} s  cpu {cpu:6.2f} s  "
                      f"load {os.getloadavg()[0]:.2f}", flush=True)
    med = {k: (statistics.median(w for w, _ in v), statistics.median(c for _, c in v))
           for k, v in times.items()}
    for k, (w, c) in med.items():
        print(f"{k:8s} median wall {w:6.2f} s  median cpu {c:6.2f} s  mean ASR {asr[k]}")
    if "baseline" in med:
        print(f"ratio baseline/this: wall ×{med['baseline'][0] / med['this'][0]:.2f}, "
              f"cpu ×{med['baseline'][1] / med['this'][1]:.2f}; same mean ASR: "
              f"{asr['this'] == asr['baseline']}")
    print(f"target ≤ 20 s wall (quiet machine): this run's median {med['this'][0]:.2f} s")


if __name__ == "__main__":
    main()
