"""The embedded demo city (core.demo): determinism, size, eligibility, on-network points, time
sampling; and `resolve_dataset`, which names a dataset as "demo" or a file."""
from __future__ import annotations

import calendar
from datetime import datetime

import numpy as np
import pytest
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from core.data.preprocess import preprocess
from core.demo.city import HOME
from core.demo.resolve import resolve_dataset
from core.demo.world import make_demo_city, make_demo_world
from core.errors import InputError, ParameterError
from core.geo.distance import LocalProjection, haversine
from core.geo.network import RoadNetwork

# Monday 2024-03-04 00:00 in Chicago (CST, UTC-6)
T0 = calendar.timegm(datetime(2024, 3, 4, 6, 0).timetuple())


@pytest.fixture(scope="module")
def world():
    return make_demo_world(seed=0)


@pytest.fixture(scope="module")
def demo(world):
    return world.dataset, world.network


def _same(a, b) -> bool:
    return a.shape == b.shape and bool(np.array_equal(a, b))


def test_public_function_returns_raw_dataset_and_network(demo):
    ds, net = make_demo_city()
    ref_ds, ref_net = demo
    assert ds.name == "demo"
    assert ds.n_users == 240
    assert len({tr.user_id for tr in ds.trajectories}) == ds.n_users
    assert net.directed is False
    assert ds.n_points == ref_ds.n_points and net.n_nodes == ref_net.n_nodes
    for tr in ds.trajectories:
        assert tr.t.dtype == np.int64 and tr.lat.dtype == np.float64 and tr.lon.dtype == np.float64
        assert len(tr.t) == len(tr.lat) == len(tr.lon)
    # raw: staying somewhere repeats the place, so preprocessing removes many points
    assert preprocess(ds, min_gap_minutes=10).n_points < ds.n_points


def test_same_seed_identical_different_seed_differs(demo):
    ds, net = demo
    ds2, net2 = make_demo_city(seed=0)
    for name in ("lat", "lon", "edge_u", "edge_v", "node_ids"):
        assert _same(getattr(net, name), getattr(net2, name))
    assert ds.n_users == ds2.n_users
    for a, b in zip(ds.trajectories, ds2.trajectories):
        assert a.user_id == b.user_id
        assert _same(a.t, b.t) and _same(a.lat, b.lat) and _same(a.lon, b.lon)

    ds3, net3 = make_demo_city(seed=1)
    assert not _same(net.lat, net3.lat)
    assert any(not _same(a.t, b.t) or not _same(a.lat, b.lat)
               for a, b in zip(ds.trajectories, ds3.trajectories))


def test_small_parameters_and_bad_parameters():
    ds, _ = make_demo_city(seed=3, n_residents=10, days=2)
    assert ds.n_users == 10
    lo, hi = ds.time_span()
    assert T0 <= lo and hi < T0 + 2 * 86400
    with pytest.raises(InputError):
        make_demo_city(n_residents=0)
    with pytest.raises(InputError):
        make_demo_city(days=0)


def test_city_size_location_and_connectivity(demo):
    _, net = demo
    b = net.bbox
    width = haversine(b.center[0], b.lon_min, b.center[0], b.lon_max)
    height = haversine(b.lat_min, b.center[1], b.lat_max, b.center[1])
    assert 5_000 <= width <= 10_000 and 5_000 <= height <= 10_000
    assert abs(b.center[0] - 41.88) < 0.02 and abs(b.center[1] + 87.66) < 0.03
    assert 1_000 <= net.n_nodes <= 2_500
    assert net.n_edges > net.n_nodes            # a grid with loops, not a tree
    g = coo_matrix((np.ones(net.n_edges), (net.edge_u, net.edge_v)),
                   shape=(net.n_nodes, net.n_nodes))
    n_comp, _ = connected_components(g, directed=False)
    assert n_comp == 1
    assert net.length_m.min() > 5.0             # no degenerate segments
    assert np.all(net.edge_u != net.edge_v)
    key = np.minimum(net.edge_u, net.edge_v) * net.n_nodes + np.maximum(net.edge_u, net.edge_v)
    assert len(np.unique(key)) == net.n_edges   # one entry per undirected segment
    # block-scale streets: most segments between 20 and 300 m, median near a short block side
    assert 80.0 < np.median(net.length_m) < 260.0 and net.length_m.max() < 400.0


def test_enough_eligible_users_after_preprocess(demo):
    ds, _ = demo
    clean = preprocess(ds, min_gap_minutes=10)
    counts = np.array([len(tr) for tr in clean.trajectories])
    # 100 clients x 50 rounds with window 5 need rounds + window + 1 = 56 points
    assert np.sum(counts >= 56) >= 200
    # the raw fixes already respect the 10-minute spacing: thinning removes nothing
    assert clean.n_points == preprocess(ds, min_gap_minutes=0).n_points


def test_every_point_lies_on_the_road_network(demo):
    ds, net = demo
    proj = LocalProjection(*net.bbox.center)
    ax, ay = proj.to_xy(net.lat[net.edge_u], net.lon[net.edge_u])
    bx, by = proj.to_xy(net.lat[net.edge_v], net.lon[net.edge_v])
    dx, dy = bx - ax, by - ay
    len2 = dx * dx + dy * dy
    locs = ds.locations                          # the distinct points of the dataset
    px, py = proj.to_xy(locs[:, 0], locs[:, 1])
    worst = 0.0
    for i in range(0, len(px), 400):             # brute force, point x segment, in chunks
        qx, qy = px[i:i + 400, None], py[i:i + 400, None]
        s = np.clip(((qx - ax) * dx + (qy - ay) * dy) / len2, 0.0, 1.0)
        d = np.hypot(qx - (ax + s * dx), qy - (ay + s * dy)).min(axis=1)
        worst = max(worst, float(d.max()))
    assert worst < 1.0


def test_times_increase_and_fixes_are_ten_minutes_apart_while_moving(world):
    ds, city = world.dataset, world.city
    vlat = city.network.lat[city.venue_node]
    vlon = city.network.lon[city.venue_node]
    venue_keys = set(zip(vlat.tolist(), vlon.tolist()))
    to_moved, in_trip = [], []
    for tr in ds.trajectories:
        gap = np.diff(tr.t)
        assert np.all(gap > 0)
        assert tr.t[0] >= T0 and tr.t[-1] < T0 + 7 * 86400
        assert gap.max() <= 1260                 # a fix at least every 21 minutes, always
        moved = (np.diff(tr.lat) != 0) | (np.diff(tr.lon) != 0)   # moved[i]: fix i+1 is new
        assert moved.sum() > 20
        to_moved.append(gap[moved])
        # a fix away from every venue was taken on the way (arrivals and stays are at venues)
        on_way = np.array([k not in venue_keys for k in zip(tr.lat.tolist(), tr.lon.tolist())])
        in_trip.append(gap[on_way[1:]])
    g, g_in = np.concatenate(to_moved), np.concatenate(in_trip)
    # scheduled fixes while travelling come every 10-11 minutes ...
    assert len(g_in) > 1000 and g_in.min() >= 600 and g_in.max() <= 660
    # ... and the arrival fix replaces a scheduled one, so any move takes 10-21 minutes
    assert g.min() >= 600 and g.max() <= 1260
    assert np.median(g) <= 900


def test_residents_sleep_at_home(world):
    """A routine check a teacher can read: between 04:00 and 05:30 local, people are at home."""
    ds, city = world.dataset, world.city
    lat, lon = city.network.lat, city.network.lon
    at_home, total = 0, 0
    for tr, res in zip(ds.trajectories, world.residents):
        node = city.venue_node[res.home]
        assert city.venue_kind[res.home] == HOME
        local_h = ((tr.t - T0) % 86400) / 3600.0   # CST hours; Sunday (CDT) is an hour later
        night = (local_h >= 4.0) & (local_h < 5.5)
        total += int(night.sum())
        at_home += int(np.sum(night & (tr.lat == lat[node]) & (tr.lon == lon[node])))
    assert total > 0 and at_home / total > 0.99


# --- resolve_dataset: "demo" or a file ----------------------------------------------------------


def test_resolve_demo():
    ds, roads = resolve_dataset("demo")
    assert ds.n_users >= 2 and isinstance(roads, RoadNetwork)
    with pytest.raises(ParameterError):
        resolve_dataset("demo", fmt="csv")


def test_resolve_missing_file(tmp_path):
    with pytest.raises(InputError, match="demo"):
        resolve_dataset(str(tmp_path / "nope.csv"))
