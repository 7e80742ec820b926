"""The road network type: nodes with coordinates, directed or undirected straight-segment edges.

Loaders live in `core.geo.loaders`; snapping (ST-GIA's mapping step) in `core.geo.snap`;
shortest-path distances (GeoGI, PGEM) in `core.geo.paths`.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING

import numpy as np

from core.data.trajectory import BBox
from core.errors import InputError
from core.geo.distance import LocalProjection, haversine

if TYPE_CHECKING:  # imported lazily at run time: snap/paths import this module's type only for hints
    import networkx as nx
    import scipy.sparse

    from core.geo.snap import Snapper


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

    @cached_property
    def snapper(self) -> "Snapper":
        """The spatial index behind `snap` and `nearest_node`; built once (~0.1-1 s per city)."""
        from core.geo.snap import Snapper
        return Snapper.from_network(self)

    def snap(self, lat, lon) -> tuple[np.ndarray, np.ndarray]:
        """Nearest point on the network (on any edge segment) for each (lat, lon); same shape out.

        Non-finite inputs give NaN. Exact in the local metric projection (see `core.geo.snap`).
        """
        return self.snapper.snap(lat, lon)

    def nearest_node(self, lat, lon) -> np.ndarray:
        """Index of the nearest node for each (lat, lon); same shape as the input, int64."""
        return self.snapper.nearest_node(lat, lon)

    @cached_property
    def csgraph_km(self) -> "scipy.sparse.csr_matrix":
        """Symmetric sparse adjacency with edge lengths in km (see `core.geo.paths`)."""
        from core.geo.paths import undirected_csgraph_km
        return undirected_csgraph_km(self)

    @cached_property
    def graph(self) -> "nx.Graph":
        """Undirected networkx Graph: nodes are indices (attrs id, lat, lon), edges carry
        `length_m` and `weight` (km); parallel edges keep the shortest."""
        from core.geo.paths import to_networkx
        return to_networkx(self)
