"""Snapping onto the network (core.geo.snap) and shortest-path distances (core.geo.paths)."""
from __future__ import annotations

from pathlib import Path

import networkx as nx
import numpy as np
import pytest

from core.errors import InputError
from core.geo.distance import haversine
from core.geo.network import RoadNetwork
from core.geo.paths import distances_from, within_km
from core.geo.snap import Snapper, unique_segments

ROAD_NYC = Path(__file__).resolve().parents[2] / "shared/data/road_nyc"
needs_manhattan = pytest.mark.skipif(not (ROAD_NYC / "manhattan_nodes.csv").is_file(),
                                     reason=f"{ROAD_NYC} absent")


def _fixture_network(seed: int = 0) -> RoadNetwork:
    """A jittered 12x12 street grid (~1.3 x 1.3 km) with diagonals, a duplicate reversed edge,
    a zero-length edge, long edges and an isolated node."""
    rng = np.random.default_rng(seed)
    n = 12
    iy, ix = np.divmod(np.arange(n * n), n)
    lat = 40.75 + iy * 0.001 + rng.normal(0, 0.0001, n * n)
    lon = -73.99 + ix * 0.0013 + rng.normal(0, 0.0001, n * n)
    u, v = [], []
    for i in range(n * n):
        if i % n < n - 1 and rng.random() < 0.85:
            u.append(i); v.append(i + 1)
        if i // n < n - 1 and rng.random() < 0.85:
            u.append(i); v.append(i + n)
        if i % n < n - 1 and i // n < n - 1 and rng.random() < 0.1:
            u.append(i); v.append(i + n + 1)
    u += [v[0], 5, 0, 3]
    v += [u[0], 5, n * n - 1, n * n - 5]  # reversed duplicate, self-loop, two long edges
    lat = np.r_[lat, 40.7405]  # isolated node south of the grid
    lon = np.r_[lon, -73.985]
    return RoadNetwork("fixture", np.arange(lat.size), lat, lon, np.array(u), np.array(v), True)


def _reference(net: RoadNetwork, lat, lon):
    """Independent brute force in the network's projection: (snapped x, y, distance) per point."""
    proj = net.projection
    x, y = proj.to_xy(net.lat, net.lon)
    su, sv = unique_segments(net.edge_u, net.edge_v, net.n_nodes)
    ax, ay, bx, by = x[su], y[su], x[sv], y[sv]
    px, py = proj.to_xy(np.asarray(lat), np.asarray(lon))
    if px.size > 500:  # chunk to bound memory on big networks
        parts = [_reference(net, lat[i:i + 500], lon[i:i + 500]) for i in range(0, px.size, 500)]
        return (*(np.concatenate([p[k] for p in parts]) for k in range(3)), parts[0][3])
    px, py = px[:, None], py[:, None]
    dx, dy = bx - ax, by - ay
    l2 = dx * dx + dy * dy
    t = np.where(l2 > 0, ((px - ax) * dx + (py - ay) * dy) / np.where(l2 > 0, l2, 1), 0.0)
    t = np.clip(t, 0, 1)
    qx, qy = ax + t * dx, ay + t * dy
    d = np.hypot(px - qx, py - qy)
    j = np.argmin(d, axis=1)
    r = np.arange(j.size)
    return qx[r, j], qy[r, j], d[r, j], (ax, ay, bx, by)


def _random_points(net: RoadNetwork, n: int, rng, spread: float):
    b = net.bbox
    h, w = b.lat_max - b.lat_min, b.lon_max - b.lon_min
    lat = rng.uniform(b.lat_min - spread * h, b.lat_max + spread * h, n)
    lon = rng.uniform(b.lon_min - spread * w, b.lon_max + spread * w, n)
    return lat, lon


def _assert_matches_reference(net: RoadNetwork, lat, lon, snapper: Snapper | None = None):
    s = snapper or net.snapper
    slat, slon = s.snap(lat, lon)
    qx, qy, dref, _ = _reference(net, lat, lon)
    px, py = net.projection.to_xy(lat, lon)
    sx, sy = net.projection.to_xy(slat, slon)
    # same distance to the network as brute force, and the same point (no ties in random data)
    np.testing.assert_allclose(np.hypot(px - sx, py - sy), dref, rtol=0, atol=1e-6)
    np.testing.assert_allclose(sx, qx, rtol=0, atol=1e-6)
    np.testing.assert_allclose(sy, qy, rtol=0, atol=1e-6)
    # every snapped point lies on some segment
    assert _reference(net, slat, slon)[2].max() < 1e-6
    # and the Snapper's own brute force agrees exactly
    bx_, by_ = s.snap_xy_bruteforce(px, py)
    np.testing.assert_allclose(np.hypot(px - bx_, py - by_), dref, rtol=0, atol=1e-9)


@pytest.mark.parametrize("spread", [0.0, 0.3, 5.0])
def test_snap_equals_bruteforce_on_fixture(spread):
    net = _fixture_network()
    rng = np.random.default_rng(int(spread * 10))
    lat, lon = _random_points(net, 4000, rng, spread)
    _assert_matches_reference(net, lat, lon)


@pytest.mark.parametrize("cell_m", [8.0, 40.0, 5000.0])
@pytest.mark.parametrize("margin_m", [0.0, 2000.0])
def test_snap_exact_for_any_cell_size(cell_m, margin_m):
    net = _fixture_network(seed=3)
    s = net.build_snapper(cell_m=cell_m, margin_m=margin_m)
    lat, lon = _random_points(net, 2000, np.random.default_rng(7), 0.5)
    _assert_matches_reference(net, lat, lon, s)


def test_points_on_cell_boundaries_and_grid_edge():
    net = _fixture_network(seed=9)
    s = net.build_snapper(cell_m=37.0, margin_m=100.0)
    ny, nx = s.shape
    rng = np.random.default_rng(9)
    gx = s._x0 + rng.integers(0, nx + 1, 1500) * s.cell_m  # exactly on vertical grid lines
    gy = s._y0 + rng.uniform(-1, ny + 1, 1500) * s.cell_m
    ex = np.r_[s._x0, s._x0 + nx * s.cell_m, np.nextafter(s._x0 + nx * s.cell_m, -np.inf)]
    x, y = np.r_[gx, ex], np.r_[gy, np.full(3, s._y0 + 0.5 * ny * s.cell_m)]
    lat, lon = net.projection.to_latlon(x, y)
    _assert_matches_reference(net, lat, lon, s)


def test_single_straight_road():
    net = RoadNetwork("road", [1, 2], [40.75, 40.75], [-74.0, -73.99], [0], [1], True)
    lat, lon = net.snap([40.76, 40.74, 40.75], [-73.995, -74.1, -73.0])
    np.testing.assert_allclose(lat, 40.75, atol=1e-12)
    np.testing.assert_allclose(lon, [-73.995, -74.0, -73.99], atol=1e-12)


def test_points_on_network_stay_put_and_nodes_snap_to_themselves():
    net = _fixture_network()
    lat, lon = net.snap(net.lat, net.lon)
    assert np.max(haversine(lat, lon, net.lat, net.lon)) < 1e-6
    rng = np.random.default_rng(2)
    lat0, lon0 = net.snap(*_random_points(net, 500, rng, 0.2))
    lat1, lon1 = net.snap(lat0, lon0)  # idempotent: a projection
    assert np.max(haversine(lat0, lon0, lat1, lon1)) < 1e-6


def test_isolated_node_is_a_snap_target():
    net = _fixture_network()
    lat, lon = net.snap(40.7404, -73.9851)
    assert haversine(lat, lon, 40.7405, -73.985) < 1e-6


def test_shapes_nan_and_scalars():
    net = _fixture_network()
    lat = np.full((3, 4), 40.755)
    lon = np.linspace(-73.99, -73.98, 12).reshape(3, 4)
    slat, slon = net.snap(lat, lon)
    assert slat.shape == (3, 4) and slon.shape == (3, 4)
    lat[1, 2] = np.nan
    slat, slon = net.snap(lat, lon)
    assert np.isnan(slat[1, 2]) and np.isnan(slon[1, 2])
    assert np.isfinite(np.delete(slat.reshape(-1), 6)).all()
    slat, slon = net.snap(40.755, -73.985)
    assert np.shape(slat) == ()
    assert net.nearest_node([np.nan], [-73.98])[0] == -1
    empty = net.snap(np.zeros((0,)), np.zeros((0,)))
    assert empty[0].shape == (0,) and net.nearest_node([], []).shape == (0,)
    all_nan = net.snap([np.nan, np.inf], [1.0, 2.0])
    assert np.isnan(all_nan[0]).all()


def test_nearest_node_matches_bruteforce():
    net = _fixture_network()
    lat, lon = _random_points(net, 1000, np.random.default_rng(4), 0.5)
    got = net.nearest_node(lat, lon)
    x, y = net.projection.to_xy(net.lat, net.lon)
    px, py = net.projection.to_xy(lat, lon)
    want = np.argmin(np.hypot(px[:, None] - x, py[:, None] - y), axis=1)
    assert np.array_equal(got, want)


def test_snapper_in_metres_and_errors():
    s = Snapper([0.0, 0.0], [0.0, 0.0], [10.0, 0.0], [0.0, 10.0])  # an L: x-axis and y-axis legs
    qx, qy = s.snap_xy([5.0, -3.0, 20.0, 4.0], [1.0, 4.0, 20.0, 3.0])
    np.testing.assert_allclose(qx, [5.0, 0.0, 10.0, 4.0])
    np.testing.assert_allclose(qy, [0.0, 4.0, 0.0, 0.0])
    assert s.distance_xy(3.0, 4.0) == pytest.approx(3.0)
    with pytest.raises(InputError):
        s.snap(40.0, -74.0)  # no projection
    with pytest.raises(InputError):
        Snapper([], [], [], [])


def test_single_node_network():
    net = RoadNetwork("one", [1], [40.0], [-74.0], [], [], False)
    lat, lon = net.snap([40.01, 39.0], [-74.02, -75.0])
    np.testing.assert_allclose(lat, 40.0, atol=1e-12)
    np.testing.assert_allclose(lon, -74.0, atol=1e-12)


@needs_manhattan
def test_manhattan_snap_equals_bruteforce():
    from core.geo.formats.csv_pair import load_csv_pair
    net = load_csv_pair(ROAD_NYC / "manhattan_nodes.csv", ROAD_NYC / "manhattan_edges.csv")
    rng = np.random.default_rng(11)
    for spread in (0.0, 0.25, 3.0):
        lat, lon = _random_points(net, 1000, rng, spread)
        _assert_matches_reference(net, lat, lon)
    # points already on the streets (nodes) do not move
    assert np.max(haversine(*net.snap(net.lat, net.lon), net.lat, net.lon)) < 1e-6


# --- shortest paths --------------------------------------------------------------------------


def _path_network() -> RoadNetwork:
    rng = np.random.default_rng(5)
    n = 40
    lat = 40.75 + rng.uniform(0, 0.02, n)
    lon = -73.99 + rng.uniform(0, 0.02, n)
    u = rng.integers(0, n, 90)
    v = rng.integers(0, n, 90)
    u = np.r_[u, 3, 3]
    v = np.r_[v, 7, 7]  # parallel edges
    return RoadNetwork("paths", np.arange(n), lat, lon, u, v, True)


def test_distances_equal_networkx_dijkstra():
    net = _path_network()
    G = nx.Graph()
    G.add_nodes_from(range(net.n_nodes))
    for a, b, m in zip(net.edge_u, net.edge_v, net.length_m):
        if a != b and (not G.has_edge(a, b) or G[a][b]["w"] > m / 1000):
            G.add_edge(int(a), int(b), w=m / 1000)
    src = [0, 3, 17]
    D = distances_from(net, src)
    assert D.shape == (3, net.n_nodes)
    for k, s in enumerate(src):
        ref = nx.single_source_dijkstra_path_length(G, s, weight="w")
        for t in range(net.n_nodes):
            if t in ref:
                assert D[k, t] == pytest.approx(ref[t], rel=1e-12, abs=1e-12)
            else:
                assert np.isinf(D[k, t])
    # the cached networkx view gives the same numbers
    ref = nx.single_source_dijkstra_path_length(net.graph, 3, weight="weight")
    assert all(D[1, t] == pytest.approx(d, rel=1e-12, abs=1e-12) for t, d in ref.items())
    assert net.graph.nodes[3]["lat"] == net.lat[3]


def test_distances_are_symmetric_despite_one_way_edges():
    # 0 -> 1 -> 2 one-way chain: distances still symmetric (a privacy metric must be)
    net = RoadNetwork("chain", [0, 1, 2], [40.0, 40.001, 40.002], [-74.0] * 3, [0, 1], [1, 2], True)
    D = distances_from(net, [0, 2])
    assert D[0, 2] == pytest.approx(D[1, 0]) == pytest.approx(0.2224, rel=1e-3)


def test_within_km():
    net = _path_network()
    src = [0, 5]
    got = within_km(net, src, 0.8)
    D = distances_from(net, src).min(axis=0)
    assert np.array_equal(got, np.flatnonzero(D <= 0.8))
    assert set(src) <= set(got.tolist())
    assert np.array_equal(within_km(net, 0, 0.0), [0])
    with pytest.raises(InputError):
        within_km(net, [0], -1.0)
    with pytest.raises(InputError):
        distances_from(net, [net.n_nodes])


def test_query_within_the_margin_answers_near_points_and_skips_far_ones():
    snapper = _fixture_network().snapper
    rng = np.random.default_rng(3)
    ax, ay, bx, by = snapper.segments_xy()
    lo, hi = min(ax.min(), bx.min()) - 3000, max(ax.max(), bx.max()) + 3000
    x, y = rng.uniform(lo, hi, 3000), rng.uniform(lo, hi, 3000)
    full = snapper.query_xy(x, y)
    near = snapper.query_xy(x, y, within=200.0)
    d = np.hypot(full[0] - x, full[1] - y)
    answered = np.isfinite(near[0])
    assert (d > snapper.margin_m).sum() > 100           # far points exist, and are skipped
    assert np.all(answered[d <= 200.0])                  # every point within 200 m is answered
    np.testing.assert_array_equal(near[2][answered], full[2][answered])
    assert np.all(near[2][~answered] == -1)
    # a radius beyond the margin falls back to the exact answer everywhere
    np.testing.assert_array_equal(snapper.query_xy(x, y, within=1e9)[2], full[2])


@pytest.mark.parametrize("chunk", [20_000, 97])
def test_centre_distances_are_the_exact_distances_of_the_cell_centres(chunk, monkeypatch):
    import core.geo.snap as snap

    monkeypatch.setattr(snap, "_CENTRE_CHUNK", chunk)   # 97: many chunks, a short last one
    snapper = _fixture_network(seed=2).build_snapper()
    d = snapper.centre_distances()
    ny, nx = snapper.shape
    g = snapper.grid()
    ids = np.arange(nx * ny)
    cx, cy = g.x0 + (ids % nx + 0.5) * g.cell_m, g.y0 + (ids // nx + 0.5) * g.cell_m
    np.testing.assert_allclose(d, snapper.distance_xy(cx, cy), atol=1e-9)
    assert snapper.centre_distances() is d      # computed once, kept
