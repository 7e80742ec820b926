"""Benchmark ST-GIA's mapping step: snapping batches of 100 points onto the Manhattan road graph.

Run: /work/venv/bin/python bench/bench_snapping.py [--reps 300] [--batch 100] [--roads SPEC]

Compares, on the same batches in the same run, the median time per batch of
  * the grid index (`Snapper.snap_xy`, metres) and the lat/lon API (`RoadNetwork.snap`),
  * the brute-force vectorised projection onto every segment (`Snapper.snap_xy_bruteforce`),
  * shapely's STRtree nearest + line_locate_point/line_interpolate_point,
for points uniform inside the network bbox, and with 10 % of each batch outside it (up to one bbox
size beyond the edge). It also checks that the grid and STRtree answers equal brute force.
Falls back to a generated street grid when /work/shared/data/road_nyc is absent.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from core.geo.network import RoadNetwork  # noqa: E402
from core.geo.snap import Snapper, unique_segments  # noqa: E402

ROAD_NYC = ROOT.parent / "shared" / "data" / "road_nyc"


def generated_grid(n: int = 64, seed: int = 0) -> RoadNetwork:
    """A jittered n x n street grid (~80 m x 250 m blocks, like Manhattan's), both directions."""
    rng = np.random.default_rng(seed)
    iy, ix = np.divmod(np.arange(n * n), n)
    lat = 40.70 + iy * 0.0023 + rng.normal(0, 1e-4, n * n)
    lon = -74.02 + ix * 0.0010 + rng.normal(0, 1e-4, n * n)
    i = np.arange(n * n)
    right, up = i[i % n < n - 1], i[i // n < n - 1]
    u, v = np.r_[right, up], np.r_[right + 1, up + n]
    return RoadNetwork("generated-grid", i, lat, lon, np.r_[u, v], np.r_[v, u], True)


def load_network(spec: str | None) -> RoadNetwork:
    from core.geo.formats.csv_pair import load_csv_pair
    from core.geo.loaders import load_road_network

    if spec:
        return load_road_network(spec)
    nodes, edges = ROAD_NYC / "manhattan_nodes.csv", ROAD_NYC / "manhattan_edges.csv"
    if nodes.is_file() and edges.is_file():
        return load_csv_pair(nodes, edges)
    print(f"[skip] {ROAD_NYC} absent: benchmarking a generated grid graph instead")
    return generated_grid()


def make_batches(snapper: Snapper, n_batches: int, batch: int, outside_share: float,
                 rng: np.random.Generator) -> list[tuple[np.ndarray, np.ndarray]]:
    """Points uniform in the segments' bbox; `outside_share` of each batch in a ring beyond it."""
    ax, ay, bx, by = snapper.segments_xy()
    xs, ys = np.r_[ax, bx], np.r_[ay, by]
    lo, hi = np.array([xs.min(), ys.min()]), np.array([xs.max(), ys.max()])
    size = hi - lo
    n_out = int(round(outside_share * batch))
    out = []
    for _ in range(n_batches):
        p = lo + rng.random((batch, 2)) * size
        k = 0
        while k < n_out:  # rejection-sample the ring [lo - size, hi + size] minus the bbox
            q = lo - size + rng.random(2) * 3 * size
            if np.any(q < lo) or np.any(q > hi):
                p[k] = q
                k += 1
        out.append((p[:, 0].copy(), p[:, 1].copy()))
    return out


def time_method(fn, batches, reps: int) -> float:
    """Median wall time (ms) of fn(x, y) over `reps` calls cycling through the batches."""
    fn(*batches[0])  # warm-up
    times = []
    for r in range(reps):
        x, y = batches[r % len(batches)]
        t0 = time.perf_counter_ns()
        fn(x, y)
        times.append(time.perf_counter_ns() - t0)
    return statistics.median(times) / 1e6


def strtree_snapper(snapper: Snapper):
    """shapely 2 STRtree over the same segments; returns (snap function, build seconds) or None."""
    try:
        import shapely
    except ImportError:
        return None
    ax, ay, bx, by = snapper.segments_xy()
    t0 = time.perf_counter()
    coords = np.stack([np.column_stack([ax, ay]), np.column_stack([bx, by])], axis=1)  # (n, 2, 2)
    lines = shapely.linestrings(coords)
    tree = shapely.STRtree(lines)
    build = time.perf_counter() - t0

    def snap(x, y):
        pts = shapely.points(x, y)
        _, j = tree.query_nearest(pts, all_matches=False)
        near = lines[j]
        q = shapely.line_interpolate_point(near, shapely.line_locate_point(near, pts))
        return shapely.get_x(q), shapely.get_y(q)

    return snap, build


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--reps", type=int, default=300, help="timed calls per method (>= 200)")
    ap.add_argument("--batch", type=int, default=100)
    ap.add_argument("--roads", default=None, help="road network spec (default: Manhattan CSV pair)")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    net = load_network(args.roads)
    u, _ = unique_segments(net.edge_u, net.edge_v, net.n_nodes)
    t0 = time.perf_counter()
    snapper = net.snapper
    build = time.perf_counter() - t0
    print(f"network {net.name}: {net.n_nodes} nodes, {net.n_edges} edges "
          f"({'directed' if net.directed else 'undirected'}), {u.size} undirected segments")
    print(f"grid index: {snapper.shape[1]}x{snapper.shape[0]} cells of {snapper.cell_m:.1f} m, "
          f"{snapper.mean_candidates:.1f} candidates/cell on average, built in {build:.2f} s")
    st = strtree_snapper(snapper)
    if st is not None:
        print(f"shapely STRtree built in {st[1]:.3f} s")
    proj = net.projection

    def latlon_api(x, y):  # what the attack calls: lat/lon in, lat/lon out
        return net.snap(*proj.to_latlon(x, y))

    methods = {"grid index (Snapper.snap_xy)": snapper.snap_xy,
               "grid index (RoadNetwork.snap, lat/lon)": latlon_api,
               "brute force (vectorised)": snapper.snap_xy_bruteforce}
    if st is not None:
        methods["shapely STRtree nearest"] = st[0]

    rng = np.random.default_rng(args.seed)
    print(f"\nmedian ms per batch of {args.batch} points over {args.reps} repetitions")
    for label, share in (("inside bbox", 0.0), ("10% outside bbox", 0.1)):
        batches = make_batches(snapper, 50, args.batch, share, rng)
        res = {name: time_method(fn, batches, args.reps) for name, fn in methods.items()}
        brute = res["brute force (vectorised)"]
        print(f"\n[{label}]")
        for name, ms in res.items():
            print(f"  {name:40s} {ms:8.3f} ms   speed-up vs brute force x{brute / ms:7.1f}")
        # correctness on every benchmark point
        x = np.concatenate([b[0] for b in batches])
        y = np.concatenate([b[1] for b in batches])
        gx, gy = snapper.snap_xy(x, y)
        bx, by = snapper.snap_xy_bruteforce(x, y)
        d_grid, d_brute = np.hypot(x - gx, y - gy), np.hypot(x - bx, y - by)
        print(f"  check on {x.size} points: grid == brute force: max |dpoint| = "
              f"{np.max(np.hypot(gx - bx, gy - by)):.2e} m, max |ddistance| = "
              f"{np.max(np.abs(d_grid - d_brute)):.2e} m")
        if st is not None:
            sx, sy = st[0](x, y)
            print(f"  check: STRtree distance - brute force distance: max "
                  f"{np.max(np.abs(np.hypot(x - sx, y - sy) - d_brute)):.2e} m")
        assert np.max(np.abs(d_grid - d_brute)) < 1e-6, "grid index disagrees with brute force"


if __name__ == "__main__":
    main()
