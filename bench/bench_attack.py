"""Attack throughput: the batched engine against a naive per-client loop, and the paper-scale run.

Run: python bench/bench_attack.py [--clients 1,10,100,1000] [--iters 10] [--paper-scale]
         [--workers 0] [--repeats 3]

The naive loop is written the way reference implementations (DLG, iDLG) do it: an nn.LSTM +
nn.Linear model, per client `torch.autograd.grad(..., create_graph=True)`, one client after
another. Both sides run the same number of gradient-matching iterations on the same uploads;
we report client-iterations per second (median of repeats) and the ratio, in the same run, for
the engine's closed-form gradient traced once (`core.attacks.compiled`, what an attack session
runs: the trace is built in a warm-up call, as a session builds it in its first round), the
same closed form run eagerly (an `invert` call without a step cache), and its autograd
reference path (double backward, what the engine did before). Throughput is given per wall second and per CPU
second of this process: on a shared machine the CPU-time figures move less with the load
(printed), the wall figures are what a user waits.

--paper-scale adds the paper-scale run (100 clients × 50 rounds × 200 iterations, W = 1) in
this process, with `--workers` processes per inversion (0 = auto: all cores), and the same run
with 1 worker for comparison when --workers is not 1.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from core.attacks import registry  # noqa: E402
from core.attacks.compiled import StepCache  # noqa: E402
from core.attacks.engine import Problem, invert  # noqa: E402
from core.models.recurrent import ModelSpec, init_params, per_client_grads  # noqa: E402


def naive_attack(params: dict, uploads: dict, K: int, iters: int, lr: float = 0.1) -> None:
    """Reference-style DLG loop: one client at a time, nn modules, create_graph per client."""
    lstm, lin = torch.nn.LSTM(2, 16, batch_first=True), torch.nn.Linear(16, 2)
    with torch.no_grad():
        lstm.weight_ih_l0.copy_(params["weight_ih"]); lstm.weight_hh_l0.copy_(params["weight_hh"])
        lstm.bias_ih_l0.copy_(params["bias_ih"]); lstm.bias_hh_l0.copy_(params["bias_hh"])
        lin.weight.copy_(params["out_weight"]); lin.bias.copy_(params["out_bias"])
    weights = [lstm.weight_ih_l0, lstm.weight_hh_l0, lstm.bias_ih_l0, lstm.bias_hh_l0,
               lin.weight, lin.bias]
    names = ["weight_ih", "weight_hh", "bias_ih", "bias_hh", "out_weight", "out_bias"]
    for k in range(K):
        x = torch.randn(1, 1, 2, requires_grad=True)
        y = torch.randn(1, 2, requires_grad=True)
        opt = torch.optim.Adam([x, y], lr=lr)
        for _ in range(iters):
            opt.zero_grad()
            out = lin(lstm(x)[0][:, -1])
            loss = 0.5 * ((out - y) ** 2).sum()
            grads = torch.autograd.grad(loss, weights, create_graph=True)
            d = sum(((g - uploads[n][k]) ** 2).sum() for g, n in zip(grads, names))
            d.backward()
            opt.step()


def batched_attack(params: dict, uploads: dict, K: int, iters: int, autograd: bool = False,
                   steps: StepCache | None = None) -> None:
    spec = registry.get("dlg")  # plain DLG recipe: same work per iteration as the naive loop
    prob = Problem(params, uploads, torch.randn(K, 1, 1, 2), torch.randn(K, 1, 2),
                   torch.zeros(K, 1, 1, dtype=torch.bool), False)
    invert(spec, ModelSpec(), prob, iters, autograd=autograd, steps=steps)


def throughput(fn, K: int, iters: int, repeats: int) -> tuple[float, float]:
    """(client-iterations per wall second, per CPU second of this process), medians."""
    wall, cpu = [], []
    for _ in range(repeats):
        t0, c0 = time.perf_counter(), time.process_time()
        fn(K, iters)
        wall.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    return K * iters / statistics.median(wall), K * iters / statistics.median(cpu)


def compare(clients: list[int], iters: int, repeats: int) -> None:
    spec = ModelSpec()
    gen = torch.Generator().manual_seed(0)
    params = init_params(spec, gen)
    print(f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs; "
          f"client-iterations/s per wall second (per CPU second); medians of {repeats}")
    print(f"{'clients':>8} {'engine traced':>18} {'engine eager':>18} {'engine autograd':>18} "
          f"{'naive':>14} {'ratio traced':>14} {'ratio eager':>14} {'ratio autograd':>15}")
    for K in clients:
        x, y = torch.rand(K, 1, 1, 2, generator=gen), torch.rand(K, 1, 2, generator=gen)
        up = {n: g.detach() for n, g in per_client_grads(params, x, y, spec).items()}
        naive_iters = max(1, iters if K <= 100 else iters // 5)  # keep the naive side bounded
        cache = StepCache()
        batched_attack(params, up, K, 1, steps=cache)  # builds the trace (a session's round 1)
        t = throughput(lambda k, i: batched_attack(params, up, k, i, steps=cache), K, iters,
                       repeats)
        b = throughput(lambda k, i: batched_attack(params, up, k, i), K, iters, repeats)
        a = throughput(lambda k, i: batched_attack(params, up, k, i, True), K, iters, repeats)
        n = throughput(lambda k, i: naive_attack(params, up, k, i), K, naive_iters,
                       1 if K >= 1000 else repeats)
        print(f"{K:>8} {t[0]:>9.0f} ({t[1]:>6.0f}) {b[0]:>9.0f} ({b[1]:>6.0f}) "
              f"{a[0]:>9.0f} ({a[1]:>6.0f}) {n[0]:>6.0f} ({n[1]:>5.0f}) "
              f"{t[0] / n[0]:>6.1f}x ({t[1] / n[1]:>4.0f}x) {b[0] / n[0]:>6.1f}x ({b[1] / n[1]:>4.0f}x) "
              f"{a[0] / n[0]:>6.1f}x ({a[1] / n[1]:>4.0f}x)", flush=True)


def paper_scale(dataset: str, roads: str | None, attack: str, workers: int) -> None:
    from core.attacks.shards import resolve_workers
    from core.experiments import runner
    from core.experiments.config import RunConfig
    from core.experiments.setup import prepare

    runs = [workers] if resolve_workers(workers) == 1 else [workers, 1]
    asr = []
    for w in runs:
        cfg = RunConfig.build(dataset=dataset, roads=roads, attack=attack, clients=100, rounds=50,
                              window=1, iters=200, seed=0, workers=w)
        t0, c0 = time.perf_counter(), time.process_time()
        prep = prepare(cfg)
        t1 = time.perf_counter()
        res = runner.run(prep, {attack: registry.get(attack)})
        t2, c2 = time.perf_counter(), time.process_time()
        r = res.attacks[attack]
        asr.append([a.asr for a in r])
        print(f"paper-scale {attack} on {dataset}, {resolve_workers(w)} worker(s), load average "
              f"{os.getloadavg()[0]:.2f}: 100 clients x 50 rounds x 200 iters: prepare "
              f"{t1 - t0:.1f} s, run {t2 - t1:.1f} s (attack {sum(a.seconds for a in r):.1f} s, "
              f"this process's CPU {c2 - c0:.1f} s); ASR round 1 {r[0].asr:.3f}, round 50 "
              f"{r[-1].asr:.3f}", flush=True)
    if len(asr) == 2:
        print(f"same per-round ASR with {resolve_workers(workers)} and 1 worker(s): {asr[0] == asr[1]}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--clients", default="1,10,100,1000")
    ap.add_argument("--iters", type=int, default=10)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--paper-scale", action="store_true")
    ap.add_argument("--dataset", default="demo")
    ap.add_argument("--roads", default=None)
    ap.add_argument("--attack", default="st-gia")
    ap.add_argument("--workers", type=int, default=1,
                    help="paper-scale: processes per inversion (0: auto; not 1: also the 1-worker run)")
    ap.add_argument("--threads", type=int, default=1, help="torch threads (1, as the CLI; 0: torch default)")
    a = ap.parse_args()
    if a.threads:
        torch.set_num_threads(a.threads)
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}")
    compare([int(c) for c in a.clients.split(",")], a.iters, a.repeats)
    if a.paper_scale:
        paper_scale(a.dataset, a.roads, a.attack, a.workers)


if __name__ == "__main__":
    main()
