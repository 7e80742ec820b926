"""The RoadNetwork type (core.geo.network) and the k-NN stand-in over known locations (core.geo.knn,
re-exported by core.geo.loaders)."""
from __future__ import annotations

import networkx as nx
import numpy as np
import pytest

from core.errors import InputError
from core.geo.loaders import from_locations
from core.geo.network import RoadNetwork


# --- RoadNetwork -----------------------------------------------------------------------------


def test_roadnetwork_direct_construction_and_lengths():
    net = RoadNetwork("t", [10, 11], [40.0, 40.001], [-74.0, -74.0], [0], [1], False)
    assert net.n_nodes == 2 and net.n_edges == 1 and not net.directed
    assert net.lat.dtype == np.float64 and net.edge_u.dtype == np.int64
    assert net.length_m[0] == pytest.approx(111.2, rel=1e-3)


def test_roadnetwork_rejects_bad_arrays():
    with pytest.raises(InputError, match="outside"):
        RoadNetwork("t", [1, 2], [40.0, 40.1], [-74.0, -74.1], [0], [2], True)
    with pytest.raises(InputError, match="lengths differ"):
        RoadNetwork("t", [1, 2], [40.0], [-74.0, -74.1], [0], [1], True)


# --- from_locations --------------------------------------------------------------------------


def test_from_locations_knn():
    rng = np.random.default_rng(1)
    lat = 40.75 + rng.uniform(0, 0.02, 200)
    lon = -73.99 + rng.uniform(0, 0.02, 200)
    net = from_locations(lat, lon, k=4)
    assert net.n_nodes == 200 and not net.directed
    deg = np.bincount(np.concatenate([net.edge_u, net.edge_v]), minlength=200)
    assert deg.min() >= 4
    pairs = set(zip(np.minimum(net.edge_u, net.edge_v).tolist(), np.maximum(net.edge_u, net.edge_v).tolist()))
    assert len(pairs) == net.n_edges  # no duplicates
    # each node's 4 nearest (haversine) are among its neighbours
    from core.geo.distance import haversine
    for i in range(0, 200, 37):
        d = haversine(lat[i], lon[i], lat, lon)
        nearest = np.argsort(d)[1:5]
        assert all((min(i, j), max(i, j)) in pairs for j in nearest)
    assert nx.is_connected(net.graph)


def test_from_locations_connects_clusters_and_merges_duplicates():
    lat = np.r_[np.full(5, 40.70) + np.arange(5) * 1e-3, np.full(5, 40.80) + np.arange(5) * 1e-3, 40.70]
    lon = np.r_[np.full(5, -74.00), np.full(5, -73.90), -74.00]  # last one duplicates the first
    net = from_locations(lat, lon, k=2)
    assert net.n_nodes == 10
    assert nx.is_connected(net.graph)
    assert not nx.is_connected(from_locations(lat, lon, k=2, connect=False).graph)
    collinear = from_locations([40.0, 40.001, 40.002, 40.5], [-74.0, -74.0, -74.0, -74.0], k=1)
    assert nx.is_connected(collinear.graph)
    single = from_locations([40.0], [-74.0])
    assert (single.n_nodes, single.n_edges) == (1, 0)
    with pytest.raises(InputError):
        from_locations([95.0], [-74.0])
    with pytest.raises(InputError):
        from_locations([], [])
