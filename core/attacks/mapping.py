"""ST-GIA's mapping step (paper §3.2, Alg. 1 line 11): project dummy points onto the map prior.

The prior is the road network (nearest point on an edge) and/or the known venues (nearest
venue). With both, each point goes to whichever is nearer: inside the network's coverage roads
are dense and win; outside it (e.g. check-ins in Brooklyn with a Manhattan-only graph) the
venues are the only prior, so a point is not dragged kilometres onto the wrong road.
It is a projection under no-grad, not a loss term.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.spatial import cKDTree

from core.data.preprocess import Normalizer
from core.geo.distance import LocalProjection


@dataclass
class Mapper:
    """Callable (M, 2) normalised -> (M, 2) normalised, nearest point of the prior."""

    normalizer: Normalizer
    roads: object | None = None           # RoadNetwork (has .snap(lat, lon) -> (lat, lon))
    venues: np.ndarray | None = None      # (m, 2) [lat, lon]

    def __post_init__(self) -> None:
        if self.roads is None and (self.venues is None or len(self.venues) == 0):
            raise ValueError("Mapper needs a road network or known venues")
        self._proj = LocalProjection(*self.normalizer.bbox.center)
        self._tree = None
        if self.roads is not None:  # the network's bbox in metres: a lower bound on road distance
            bb = self.roads.bbox
            bx, by = self._proj.to_xy(np.array([bb.lat_min, bb.lat_max]),
                                      np.array([bb.lon_min, bb.lon_max]))
            self._road_box = (bx.min(), bx.max(), by.min(), by.max())
        if self.venues is not None and len(self.venues):
            self._vxy = np.stack(self._proj.to_xy(self.venues[:, 0], self.venues[:, 1]), 1)
            self._tree = cKDTree(self._vxy)

    def __call__(self, z: np.ndarray) -> np.ndarray:
        ll = self.normalizer.denormalize(z.reshape(-1, 2))
        x, y = self._proj.to_xy(ll[:, 0], ll[:, 1])
        out = ll.copy()
        best = np.full(len(x), np.inf)
        if self._tree is not None:
            best, i = self._tree.query(np.stack([x, y], 1))
            out = self.venues[i]
        if self.roads is not None:
            # only points whose nearest venue is farther than the network's bbox can go to a road
            need = self._box_distance(x, y) < best
            if need.any():
                rlat, rlon = self.roads.snap(ll[need, 0], ll[need, 1])
                rx, ry = self._proj.to_xy(rlat, rlon)
                closer = np.hypot(rx - x[need], ry - y[need]) < best[need]
                rows = np.flatnonzero(need)[closer]
                out[rows] = np.stack([rlat[closer], rlon[closer]], 1)
        return self.normalizer.normalize(out).reshape(z.shape)

    def _box_distance(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Distance (m) from each point to the road network's bbox; 0 inside it."""
        x0, x1, y0, y1 = self._road_box
        dx = np.maximum(np.maximum(x0 - x, 0.0), x - x1)
        dy = np.maximum(np.maximum(y0 - y, 0.0), y - y1)
        return np.hypot(dx, dy)
