"""Shortest-path distances over a road network, in km (GeoGI and PGEM, DESIGN §5).

Distances treat every edge as two-way. A location-privacy metric has to be symmetric: GeoGI's
guarantee bounds the output distributions of x and x' by exp(eps * d(x, x')) in *both* directions, and
PGEM's constraint domain "nodes within R km of a visited place" should not depend on which way a
one-way street runs — people walk, and the adversary reasons about places, not driving routes.
Edge weight = haversine length / 1000; parallel edges keep the shortest; self-loops are dropped.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import dijkstra

from core.errors import InputError, check_range

if TYPE_CHECKING:
    import networkx as nx

    from core.geo.network import RoadNetwork

# Weight given to zero-length edges (coincident nodes): csgraph treats a stored 0 as "no edge" in
# some code paths, so coincident nodes are joined by a negligible positive length instead.
_ZERO_KM = 1e-12


def _undirected_edges(net: "RoadNetwork") -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(a, b, km) with a < b, one row per node pair, the shortest edge's length."""
    a = np.minimum(net.edge_u, net.edge_v)
    b = np.maximum(net.edge_u, net.edge_v)
    km = net.length_m / 1000.0
    ok = a != b
    a, b, km = a[ok], b[ok], km[ok]
    order = np.lexsort((km, b, a))
    a, b, km = a[order], b[order], km[order]
    first = np.r_[True, (a[1:] != a[:-1]) | (b[1:] != b[:-1])]
    return a[first], b[first], np.maximum(km[first], _ZERO_KM)


def undirected_csgraph_km(net: "RoadNetwork") -> csr_matrix:
    """Symmetric (n_nodes, n_nodes) sparse adjacency, weights in km."""
    a, b, km = _undirected_edges(net)
    n = net.n_nodes
    return csr_matrix((np.concatenate([km, km]), (np.concatenate([a, b]), np.concatenate([b, a]))),
                      shape=(n, n))


def _sources(net: "RoadNetwork", node_indices) -> np.ndarray:
    idx = np.atleast_1d(np.asarray(node_indices)).reshape(-1)
    if idx.size == 0:
        raise InputError("no source nodes given")
    if not np.issubdtype(idx.dtype, np.integer):
        raise InputError(f"node indices must be integers, got dtype {idx.dtype}")
    if idx.min() < 0 or idx.max() >= net.n_nodes:
        raise InputError(f"node index outside [0, {net.n_nodes}) for network {net.name!r}")
    return idx.astype(np.int64)


def distances_from(net: "RoadNetwork", node_indices) -> np.ndarray:
    """(len(sources), n_nodes) shortest-path distances in km (inf where unreachable)."""
    idx = _sources(net, node_indices)
    return np.atleast_2d(dijkstra(net.csgraph_km, directed=False, indices=idx))


def within_km(net: "RoadNetwork", node_indices, radius_km: float) -> np.ndarray:
    """Sorted indices of the nodes within `radius_km` (shortest path) of any source node.

    One multi-source Dijkstra pruned at the radius — PGEM's default constraint domain.
    """
    check_range("radius_km", radius_km, low=0.0)
    idx = _sources(net, node_indices)
    d = dijkstra(net.csgraph_km, directed=False, indices=idx, min_only=True, limit=float(radius_km))
    return np.flatnonzero(d <= radius_km)


def to_networkx(net: "RoadNetwork") -> "nx.Graph":
    """Undirected networkx Graph over node indices (attrs `id`, `lat`, `lon`); edges carry
    `length_m` and `weight` (km), the same weights `distances_from` uses."""
    import networkx as nx

    G = nx.Graph(name=net.name)
    G.add_nodes_from((i, {"id": net.node_ids[i], "lat": float(net.lat[i]), "lon": float(net.lon[i])})
                     for i in range(net.n_nodes))
    a, b, km = _undirected_edges(net)
    G.add_edges_from((int(u), int(v), {"weight": float(w), "length_m": float(w) * 1000.0})
                     for u, v, w in zip(a, b, km))
    return G
