"""Shortest-path distances over a road network, in km (GeoGI and PGEM, DESIGN §5).

Distances treat every edge as two-way. A location-privacy metric has to be symmetric: GeoGI's
guarantee bounds the output distributions of x and x' by exp(eps * d(x, x')) in *both* directions, and
PGEM's constraint domain "nodes within R km of a visited place" should not depend on which way a
one-way street runs — people walk, and the adversary reasons about places, not driving routes.
The graph is the network's own `RoadNetwork.csgraph_km`: edge weight = haversine length / 1000,
parallel edges keep the shortest, self-loops are dropped (`RoadNetwork.graph` has the same weights).
"""
from __future__ import annotations

import numpy as np
from scipy.sparse.csgraph import dijkstra

from core.errors import InputError, check_range
from core.geo.network import RoadNetwork


def _sources(net: RoadNetwork, node_indices) -> np.ndarray:
    idx = np.atleast_1d(np.asarray(node_indices)).reshape(-1)
    if idx.size == 0:
        raise InputError("no source nodes given")
    if not np.issubdtype(idx.dtype, np.integer):
        raise InputError(f"node indices must be integers, got dtype {idx.dtype}")
    if idx.min() < 0 or idx.max() >= net.n_nodes:
        raise InputError(f"node index outside [0, {net.n_nodes}) for network {net.name!r}")
    return idx.astype(np.int64)


def distances_from(net: RoadNetwork, node_indices) -> np.ndarray:
    """(len(sources), n_nodes) shortest-path distances in km (inf where unreachable)."""
    idx = _sources(net, node_indices)
    return np.atleast_2d(dijkstra(net.csgraph_km, directed=False, indices=idx))


def within_km(net: RoadNetwork, node_indices, radius_km: float) -> np.ndarray:
    """Sorted indices of the nodes within `radius_km` (shortest path) of any source node.

    One multi-source Dijkstra pruned at the radius — PGEM's default constraint domain.
    """
    check_range("radius_km", radius_km, low=0.0)
    idx = _sources(net, node_indices)
    d = dijkstra(net.csgraph_km, directed=False, indices=idx, min_only=True, limit=float(radius_km))
    return np.flatnonzero(d <= radius_km)
