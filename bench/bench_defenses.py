"""Sampling cost of the graph mechanisms (GeoGI, PGEM) on the Manhattan road graph.

Run: python bench/bench_defenses.py [--clients 100] [--rounds 10] [--naive-rounds 3]

Setting: `--clients` clients, each feeding W+1 = 2 locations per round (window 1 + target), the
window sliding by one point per round (so from round 2 on, one of each client's two points is
new). Each trajectory point is a random intersection plus ~20 m of jitter (no revisits: the
least favourable case for caching). We time `perturb_inputs` through the defense hook (snapping
to the nearest node, distances, sampling, back to normalised coordinates):

* round 1 (cold distance cache) and the median of later rounds (warm cache);
* PGEM's one-off constraint-domain precomputation in `start` (R = 2 km) is reported separately;
* the naive baseline — networkx single-source Dijkstra from every point, then exp(−ε·d/2)
  weights and a draw — in the same run, for the ratio.

Skips with a message when /work/shared/data/road_nyc is absent.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from core.data.preprocess import Normalizer  # noqa: E402
from core.data.trajectory import Trajectory  # noqa: E402
from core.defenses.budget import RiskProfile  # noqa: E402
from core.defenses.location import AdaptiveDefense, GeoGIDefense  # noqa: E402
from core.federated.clients import ClientPopulation  # noqa: E402
from core.federated.defense_hook import DefenseContext  # noqa: E402
from core.geo.bbox import BBox  # noqa: E402

DATA = Path("/work/shared/data/road_nyc")
NODES, EDGES = DATA / "manhattan_nodes.csv", DATA / "manhattan_edges.csv"


def population(net, n_clients: int, n_points: int, seed: int = 0) -> ClientPopulation:
    rng = np.random.default_rng(seed)
    trs = []
    for k in range(n_clients):
        nodes = rng.integers(0, net.n_nodes, n_points)
        jitter = rng.normal(0.0, 0.0002, (n_points, 2))          # ~20 m
        trs.append(Trajectory(str(k), np.arange(n_points) * 600,
                              net.lat[nodes] + jitter[:, 0], net.lon[nodes] + jitter[:, 1]))
    b = net.bbox
    return ClientPopulation.from_trajectories(trs, Normalizer(BBox(b.lat_min, b.lat_max,
                                                                   b.lon_min, b.lon_max)))


def time_defense(defense, ctx: DefenseContext) -> dict:
    pop, rounds = ctx.population, ctx.rounds
    t0 = time.perf_counter()
    defense.start(ctx)
    start_s = time.perf_counter() - t0
    clients = np.arange(pop.n_clients)
    rng = np.random.default_rng(1)
    per_round = []
    for t in range(1, rounds + 1):
        x, y = pop.round_batch(clients, t, 1, 1)
        t0 = time.perf_counter()
        defense.perturb_inputs(t, clients, x, y, rng)
        per_round.append(time.perf_counter() - t0)
    return {"start_s": start_s, "cold_s": per_round[0],
            "warm_median_s": statistics.median(per_round[1:]) if rounds > 1 else float("nan")}


def naive_round(G, net, pop, t: int, eps: float, rng: np.random.Generator) -> None:
    """Reference: networkx single-source Dijkstra from every point of the round, no reuse."""
    import networkx as nx

    for k in range(pop.n_clients):
        for p in pop.latlon[k][t - 1:t + 1]:
            src = int(net.nearest_node(p[0], p[1]))
            dist = nx.single_source_dijkstra_path_length(G, src, weight="weight")
            nodes = np.fromiter(dist.keys(), dtype=np.int64, count=len(dist))
            d = np.fromiter(dist.values(), dtype=np.float64, count=len(dist))
            w = np.exp(-0.5 * eps * (d - d.min()))
            nodes[rng.choice(len(w), p=w / w.sum())]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clients", type=int, default=100)
    ap.add_argument("--rounds", type=int, default=10)
    ap.add_argument("--naive-rounds", type=int, default=3)
    ap.add_argument("--epsilon", type=float, default=10.0, help="total budget (ε_t = ε/T for GeoGI)")
    args = ap.parse_args(argv)
    if not (NODES.is_file() and EDGES.is_file()):
        print(f"skipped: the Manhattan graph is not at {DATA}", file=sys.stderr)
        return 0
    from core.geo.formats.csv_pair import load_csv_pair

    net = load_csv_pair(NODES, EDGES)
    t0 = time.perf_counter()
    net.nearest_node(net.lat[:1], net.lon[:1])                   # build the snapper once
    _ = net.csgraph_km
    index_s = time.perf_counter() - t0
    T = args.rounds
    pop = population(net, args.clients, T + 2)
    print(f"Manhattan graph: {net.n_nodes} nodes, {net.n_edges} edges; {args.clients} clients x 2 "
          f"points per round, {T} rounds; snapper + csgraph build {index_s * 1000:.0f} ms (once)")

    geogi = time_defense(GeoGIDefense(epsilon=args.epsilon), DefenseContext(T, pop, roads=net))
    prof = RiskProfile(tuple(np.linspace(0.8, 0.2, T)), tuple(np.linspace(30, 150, T)), 200)
    pgem = time_defense(AdaptiveDefense(epsilon=args.epsilon),
                        DefenseContext(T, pop, roads=net, profile=prof))

    G = net.graph
    rng = np.random.default_rng(2)
    naive = []
    for t in range(1, args.naive_rounds + 1):
        t0 = time.perf_counter()
        naive_round(G, net, pop, t, args.epsilon / T, rng)
        naive.append(time.perf_counter() - t0)
    naive_s = statistics.median(naive)

    print(f"{'':<10}{'start':>12}{'round 1 (cold)':>18}{'later (warm, median)':>24}{'naive/ours (warm)':>20}")
    for name, r in (("GeoGI", geogi), ("PGEM", pgem)):
        print(f"{name:<10}{r['start_s'] * 1000:>10.1f}ms{r['cold_s'] * 1000:>16.1f}ms"
              f"{r['warm_median_s'] * 1000:>22.1f}ms{naive_s / r['warm_median_s']:>19.0f}x")
    print(f"{'naive':<10}{'':>12}{naive_s * 1000:>16.1f}ms{'':>24}   (nx Dijkstra per point, "
          f"median of {args.naive_rounds} rounds)")
    print(f"cold-round ratio naive/ours: GeoGI {naive_s / geogi['cold_s']:.0f}x, "
          f"PGEM {naive_s / pgem['cold_s']:.0f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
