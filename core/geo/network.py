"""The road network type: nodes with coordinates, directed or undirected straight-segment edges.

Loaders live in `core.geo.loaders`; snapping (ST-GIA's mapping step) in `core.geo.snap`.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

from core.data.trajectory import BBox
from core.geo.distance import haversine


@dataclass(frozen=True)
class RoadNetwork:
    """Nodes (index i has id node_ids[i] at lat[i], lon[i]) and edges edge_u[j] -> edge_v[j] (indices).

    Edges are straight segments; `length_m` is each edge's haversine length in metres.
    """

    name: str
    node_ids: np.ndarray
    lat: np.ndarray
    lon: np.ndarray
    edge_u: np.ndarray
    edge_v: np.ndarray
    directed: bool = True

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
