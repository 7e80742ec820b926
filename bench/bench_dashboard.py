"""Dashboard latency: the core calls the Attack lab / Home demo makes, timed.

    python bench/bench_dashboard.py [--reps 3] [--clients 20] [--rounds 20] [--iters N]

For the default dashboard configuration (embedded demo city, `ui.forms.DEFAULTS`) it times
the Attack lab's experiment (`core.experiments.single.run_attack`) exactly as the page's worker
thread does, including building the live partial document after every round (what the page shows
while it runs). Reported, as medians over `--reps` repetitions after one warm-up run (the server
process pays torch's lazy imports once, on its first run):

- first round on screen: from the click (prepare included) to the first round's live document;
- total: from the click to the final attack document;
- the ratio of each to a baseline: the same run with 1 client.

Targets (DESIGN/brief): first round <= 3 s, total <= 15 s on the 2-core project machine.

--fresh-server measures the first round as a freshly started server serves it: the dashboard's
worker fork server is started with its preload list (`ui.jobs.PRELOAD`, as `app.py` does at
server start; its start-up time is printed separately), then one job process is launched from
it exactly as a click does, and the time from the click to the first round's live document is
reported (median over --reps fresh fork servers).
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from core.experiments.config import RunConfig  # noqa: E402


def dashboard_defaults() -> dict:
    """ui.forms.DEFAULTS without importing Streamlit's page machinery when unavailable."""
    try:
        from ui.forms import DEFAULTS
        return dict(DEFAULTS)
    except Exception:  # noqa: BLE001
        return dict(clients=20, rounds=20, iters=60)


def one_run(cfg: RunConfig) -> tuple[float, float, float]:
    """(first round on screen, total, attack seconds) for one dashboard run: the Attack lab's
    experiment with a live partial document built after every round, as the page does."""
    from core.experiments.single import partial_doc, run_attack

    t0 = time.perf_counter()
    first: list[float] = []
    cfg_doc = cfg.to_dict()

    def progress(ev: dict) -> None:
        partial_doc(ev["result"], ev["attack"], cfg_doc)
        if not first:
            first.append(time.perf_counter() - t0)

    doc = run_attack(cfg, progress=progress)
    total = time.perf_counter() - t0
    return first[0], total, sum(r["attack_seconds"] or 0.0 for r in doc["rounds"])


def _fresh_job(conn, cfg: RunConfig, t_click: float) -> None:
    """The job process's work: the Attack lab's run until its first round's live document."""
    from core.experiments.single import partial_doc, run_attack

    class _First(Exception):
        pass

    def progress(ev: dict) -> None:
        partial_doc(ev["result"], ev["attack"], cfg.to_dict())
        conn.send(time.time() - t_click)
        raise _First

    try:
        run_attack(cfg, progress=progress)
    except _First:
        pass
    conn.close()


def fresh_server(cfg: RunConfig) -> tuple[float, float]:
    """(fork server start-up with the dashboard's preload, click -> first round on screen)."""
    import multiprocessing as mp

    from ui.jobs import PRELOAD, _no_main_module

    ctx = mp.get_context("forkserver")
    ctx.set_forkserver_preload(PRELOAD)
    mp.forkserver._forkserver._stop()  # a new fork server: nothing preloaded yet
    t0 = time.time()
    warm = ctx.Process(target=time.sleep, args=(0,), daemon=True)
    with _no_main_module():
        warm.start()
    warm.join()
    start_up = time.time() - t0
    reader, writer = ctx.Pipe(duplex=False)
    t_click = time.time()
    import bench_dashboard  # the job function by an importable name (not __main__)
    proc = ctx.Process(target=bench_dashboard._fresh_job, args=(writer, cfg, t_click), daemon=True)
    with _no_main_module():
        proc.start()
    writer.close()
    first = reader.recv()
    proc.join(60)
    return start_up, first


def measure(cfg: RunConfig, reps: int) -> dict:
    runs = [one_run(cfg) for _ in range(reps)]
    return {"first": statistics.median(r[0] for r in runs),
            "total": statistics.median(r[1] for r in runs),
            "attack": statistics.median(r[2] for r in runs),
            "all_first": [round(r[0], 2) for r in runs], "all_total": [round(r[1], 2) for r in runs]}


def main(argv: list[str] | None = None) -> int:
    d = dashboard_defaults()
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--reps", type=int, default=3)
    p.add_argument("--clients", type=int, default=d["clients"])
    p.add_argument("--rounds", type=int, default=d["rounds"])
    p.add_argument("--iters", type=int, default=d["iters"])
    p.add_argument("--attack", default="st-gia")
    p.add_argument("--fresh-server", action="store_true",
                   help="only the first round on a freshly started server (module docstring)")
    args = p.parse_args(argv)
    import torch

    from ui.jobcore import torch_threads
    torch_threads()  # the dashboard's worker setting (ST_GIA_TORCH_THREADS, default 1)
    cfg = RunConfig.build(clients=args.clients, rounds=args.rounds, iters=args.iters,
                          attack=args.attack)
    base = RunConfig.build(clients=1, rounds=args.rounds, iters=args.iters, attack=args.attack)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {os.cpu_count()} CPUs, "
          f"load average {os.getloadavg()[0]:.2f}")
    if args.fresh_server:
        runs = [fresh_server(cfg) for _ in range(args.reps)]
        first = statistics.median(r[1] for r in runs)
        print(f"fresh server ({cfg.federation.clients} clients, {cfg.attack.iters} iterations, "
              f"{cfg.attack.attack}): fork server start-up {[round(r[0], 2) for r in runs]} s, "
              f"click -> first round on screen {[round(r[1], 2) for r in runs]} s; median "
              f"{first:.2f} s (target <= 3 s: {'met' if first <= 3.0 else 'NOT met'}); "
              f"load average {os.getloadavg()[0]:.2f}")
        return 0
    t0 = time.perf_counter()
    cold = one_run(cfg)
    print(f"warm-up (cold process) run: first round {cold[0]:.2f} s, total {cold[1]:.2f} s "
          f"(wall incl. warm-up {time.perf_counter() - t0:.1f} s)")
    m = measure(cfg, args.reps)
    b = measure(base, args.reps)
    f = cfg.federation
    print(f"\ndefault dashboard run: demo, {f.clients} clients, {f.rounds} rounds, "
          f"{cfg.attack.iters} iterations, {cfg.attack.attack}; medians over {args.reps} reps")
    print(f"| run | first round on screen (s) | total (s) | attack part (s) |")
    print(f"|---|---:|---:|---:|")
    print(f"| default ({f.clients} clients) | {m['first']:.2f} | {m['total']:.2f} | {m['attack']:.2f} |")
    print(f"| baseline (1 client) | {b['first']:.2f} | {b['total']:.2f} | {b['attack']:.2f} |")
    print(f"| ratio | {m['first'] / b['first']:.2f} | {m['total'] / b['total']:.2f} | "
          f"{m['attack'] / b['attack']:.2f} |")
    print(f"\nall reps: default first {m['all_first']} total {m['all_total']}; "
          f"baseline first {b['all_first']} total {b['all_total']}")
    ok = m["first"] <= 3.0 and m["total"] <= 15.0
    print(f"targets (first <= 3 s, total <= 15 s): {'met' if ok else 'NOT met'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
