"""The road network type: nodes with coordinates, directed or undirected straight-segment edges.

Loaders live in `core.geo.loaders` (formats in `core.geo.formats`); the snapping index it builds
(ST-GIA's mapping step) in `core.geo.snap`; shortest-path distances over its `csgraph_km` (GeoGI,
PGEM) in `core.geo.paths`, which builds on this module and not the other way round.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING

import numpy as np
from scipy.sparse import csr_matrix

from core.errors import InputError
from core.geo.bbox import BBox
from core.geo.distance import LocalProjection, haversine
from core.geo.snap import Snapper, unique_segments

if TYPE_CHECKING:
    import networkx as nx

# Weight given to zero-length edges (coincident nodes): csgraph treats a stored 0 as "no edge" in
# some code paths, so coincident nodes are joined by a negligible positive length instead.
_ZERO_KM = 1e-12


@dataclass(frozen=True)
class RoadNetwork:
    """Nodes (index i has id node_ids[i] at lat[i], lon[i]) and edges edge_u[j] -> edge_v[j] (indices).

    Edges are straight segments; `length_m` is each edge's haversine length in metres. `directed`
    records whether the source listed one-way edges; snapping and distances treat every edge as a
    two-way segment (see `core.geo.paths` for why).

    The arrays are coerced on construction (float64 coordinates, int64 indices) and checked for
    matching lengths and in-range edge indices. Derived structures (snapper, distance graph,
    networkx graph) are built on first use and cached on the instance.
    """

    name: str
    node_ids: np.ndarray
    lat: np.ndarray
    lon: np.ndarray
    edge_u: np.ndarray
    edge_v: np.ndarray
    directed: bool = True

    def __post_init__(self) -> None:
        # frozen dataclass: object.__setattr__ is the sanctioned way to normalise fields
        lat = np.asarray(self.lat, dtype=np.float64).reshape(-1)
        lon = np.asarray(self.lon, dtype=np.float64).reshape(-1)
        eu = np.asarray(self.edge_u, dtype=np.int64).reshape(-1)
        ev = np.asarray(self.edge_v, dtype=np.int64).reshape(-1)
        ids = np.asarray(self.node_ids).reshape(-1)
        if not (lat.shape == lon.shape == ids.shape):
            raise InputError(f"road network {self.name!r}: node_ids, lat, lon lengths differ "
                             f"({ids.shape[0]}, {lat.shape[0]}, {lon.shape[0]})")
        if eu.shape != ev.shape:
            raise InputError(f"road network {self.name!r}: edge_u and edge_v lengths differ "
                             f"({eu.shape[0]}, {ev.shape[0]})")
        n = lat.shape[0]
        if eu.size and (min(eu.min(), ev.min()) < 0 or max(eu.max(), ev.max()) >= n):
            raise InputError(f"road network {self.name!r}: edge endpoint index outside [0, {n})")
        for k, v in (("lat", lat), ("lon", lon), ("edge_u", eu), ("edge_v", ev), ("node_ids", ids)):
            object.__setattr__(self, k, v)

    @cached_property
    def length_m(self) -> np.ndarray:
        return haversine(self.lat[self.edge_u], self.lon[self.edge_u],
                         self.lat[self.edge_v], self.lon[self.edge_v])

    @property
    def n_nodes(self) -> int:
        return int(self.lat.shape[0])

    @property
    def n_edges(self) -> int:
        return int(self.edge_u.shape[0])

    @cached_property
    def bbox(self) -> BBox:
        return BBox.of(self.lat, self.lon)

    # --- derived, cached ------------------------------------------------------------------------

    @cached_property
    def projection(self) -> LocalProjection:
        """Local metric projection around the bbox centre (used by snapping)."""
        return LocalProjection(*self.bbox.center)

    def build_snapper(self, cell_m: float | None = None, margin_m: float | None = None) -> Snapper:
        """A new `Snapper` over the undirected, de-duplicated segments in the local projection
        (`cell_m`, `margin_m`: grid parameters, see `Snapper`; the defaults suit a city)."""
        if self.n_nodes == 0:
            raise InputError(f"road network {self.name!r} has no nodes")
        x, y = self.projection.to_xy(self.lat, self.lon)
        u, v = unique_segments(self.edge_u, self.edge_v, self.n_nodes)
        return Snapper(x[u], y[u], x[v], y[v], projection=self.projection, node_x=x, node_y=y,
                       cell_m=cell_m, margin_m=margin_m)

    @cached_property
    def snapper(self) -> Snapper:
        """The spatial index behind `snap` and `nearest_node`; built once (~0.1-1 s per city)."""
        return self.build_snapper()

    def snap(self, lat, lon) -> tuple[np.ndarray, np.ndarray]:
        """Nearest point on the network (on any edge segment) for each (lat, lon); same shape out.

        Non-finite inputs give NaN. Exact in the local metric projection (see `core.geo.snap`).
        """
        return self.snapper.snap(lat, lon)

    def nearest_node(self, lat, lon) -> np.ndarray:
        """Index of the nearest node for each (lat, lon); same shape as the input, int64."""
        return self.snapper.nearest_node(lat, lon)

    def _undirected_edges(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(a, b, km) with a < b, one row per node pair, the shortest edge's length in km.

        Every edge counts as two-way (`core.geo.paths` says why); self-loops are dropped, and
        zero-length edges get a negligible positive length so sparse graphs keep them.
        """
        a = np.minimum(self.edge_u, self.edge_v)
        b = np.maximum(self.edge_u, self.edge_v)
        km = self.length_m / 1000.0
        ok = a != b
        a, b, km = a[ok], b[ok], km[ok]
        order = np.lexsort((km, b, a))
        a, b, km = a[order], b[order], km[order]
        first = np.r_[True, (a[1:] != a[:-1]) | (b[1:] != b[:-1])]
        return a[first], b[first], np.maximum(km[first], _ZERO_KM)

    @cached_property
    def csgraph_km(self) -> csr_matrix:
        """Symmetric (n_nodes, n_nodes) sparse adjacency over every node pair joined by an edge,
        weights in km (what `core.geo.paths` runs Dijkstra on)."""
        a, b, km = self._undirected_edges()
        n = self.n_nodes
        return csr_matrix((np.concatenate([km, km]), (np.concatenate([a, b]), np.concatenate([b, a]))),
                          shape=(n, n))

    @cached_property
    def graph(self) -> "nx.Graph":
        """Undirected networkx Graph: nodes are indices (attrs id, lat, lon), edges carry
        `length_m` and `weight` (km), the same weights as `csgraph_km`; parallel edges keep the
        shortest."""
        import networkx as nx

        G = nx.Graph(name=self.name)
        G.add_nodes_from((i, {"id": self.node_ids[i], "lat": float(self.lat[i]),
                              "lon": float(self.lon[i])}) for i in range(self.n_nodes))
        a, b, km = self._undirected_edges()
        G.add_edges_from((int(u), int(v), {"weight": float(w), "length_m": float(w) * 1000.0})
                         for u, v, w in zip(a, b, km))
        return G
