"""A stand-in road network over known locations (venues) when no road data is available: each
location joined to its k nearest neighbours, plus the fewest shortest bridges that connect the graph."""
from __future__ import annotations

import numpy as np

from core.errors import InputError, check_range
from core.geo.distance import LocalProjection
from core.geo.network import RoadNetwork
from core.geo.snap import unique_int


def _bridge_components(xy: np.ndarray, u: np.ndarray, v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Shortest extra edges that make the graph connected: a minimum spanning tree over components,
    using Delaunay edges as the bridges (they contain the Euclidean MST)."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components, minimum_spanning_tree

    n = xy.shape[0]
    adj = coo_matrix((np.ones(u.size), (u, v)), shape=(n, n))
    ncomp, label = connected_components(adj, directed=False)
    if ncomp <= 1:
        return u[:0], v[:0]
    try:
        from scipy.spatial import Delaunay
        tri = Delaunay(xy).simplices
        cand = np.concatenate([tri[:, [0, 1]], tri[:, [1, 2]], tri[:, [0, 2]]])
    except Exception:  # collinear or too few points: the sorted chain contains the EMST
        order = np.lexsort((xy[:, 1], xy[:, 0]))
        cand = np.column_stack([order[:-1], order[1:]])
    a, b = cand[:, 0], cand[:, 1]
    cross = label[a] != label[b]
    a, b = a[cross], b[cross]
    w = np.hypot(*(xy[a] - xy[b]).T) + 1e-9  # > 0: csgraph ignores zero weights
    # cheapest candidate per component pair, then an MST over the components
    ca, cb = np.minimum(label[a], label[b]), np.maximum(label[a], label[b])
    order = np.lexsort((w, cb, ca))
    first = order[np.r_[True, (ca[order][1:] != ca[order][:-1]) | (cb[order][1:] != cb[order][:-1])]]
    mst = minimum_spanning_tree(coo_matrix((w[first], (ca[first], cb[first])), shape=(ncomp, ncomp))).tocoo()
    pick = {(int(r), int(c)) for r, c in zip(mst.row, mst.col)}
    sel = np.array([(int(ca[i]), int(cb[i])) in pick or (int(cb[i]), int(ca[i])) in pick for i in first])
    return a[first][sel], b[first][sel]


def from_locations(lat, lon, k: int = 4, connect: bool = True, name: str = "locations") -> RoadNetwork:
    """A stand-in road network over known locations (venues) when no road data is available.

    Duplicate locations are merged (first occurrence kept, in input order). Each location is joined
    to its `k` nearest neighbours (haversine ranks them; a cKDTree on locally projected metres finds
    them), undirected. With `connect`, the fewest shortest extra edges are added to make the graph
    connected, so shortest-path distances (GeoGI, PGEM) are finite.
    """
    check_range("k", k, low=1)
    lat = np.asarray(lat, dtype=np.float64).reshape(-1)
    lon = np.asarray(lon, dtype=np.float64).reshape(-1)
    if lat.shape != lon.shape:
        raise InputError(f"lat and lon have different lengths ({lat.size}, {lon.size})")
    if lat.size == 0:
        raise InputError("no locations to build a network from")
    bad = np.flatnonzero(~((np.abs(lat) <= 90) & (np.abs(lon) <= 180)))
    if bad.size:
        raise InputError(f"location {int(bad[0])} ({lat[bad[0]]}, {lon[bad[0]]}) is not a valid lat/lon")
    _, first = np.unique(np.stack([lat, lon], axis=1), axis=0, return_index=True)
    keep = np.sort(first)
    lat, lon = lat[keep], lon[keep]
    n = lat.size
    from scipy.spatial import cKDTree

    proj = LocalProjection(0.5 * (lat.min() + lat.max()), 0.5 * (lon.min() + lon.max()))
    xy = np.column_stack(proj.to_xy(lat, lon))
    kk = min(int(k), n - 1)
    if kk > 0:
        _, nb = cKDTree(xy).query(xy, k=kk + 1)
        u = np.repeat(np.arange(n), kk)
        v = nb[:, 1:].reshape(-1)
        a, b = np.minimum(u, v), np.maximum(u, v)
        key = unique_int(a * n + b)
        u, v = key // n, key % n
    else:
        u = v = np.zeros(0, dtype=np.int64)
    if connect and n > 1:
        bu, bv = _bridge_components(xy, u, v)
        u, v = np.concatenate([u, bu]), np.concatenate([v, bv])
    return RoadNetwork(name, np.arange(n, dtype=np.int64), lat, lon, u, v, directed=False)
