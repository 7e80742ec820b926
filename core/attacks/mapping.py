"""ST-GIA's mapping step (paper §3.2, Alg. 1 line 11): project dummy points onto the map prior.

The paper: "if the outcome of an attack iteration falls outside the road network, we map the
position x' to its nearest point on the network" — a dummy off the streets, within the area the
road data cover, goes to the nearest point on an edge segment. Where the paper is silent, and
what we chose:

- Coverage. A road file covers an area (e.g. Manhattan), a check-in set a larger one (58 % of
  Foursquare NYC check-ins lie outside the Manhattan graph). A dummy farther than `cover_m` from
  every road is outside the area the road data describe and is left where the gradient put it:
  dragging it onto the nearest Manhattan road would move a Brooklyn point kilometres. 200 m:
  on NYC, 51 % of the venues lie within 150 m of a Manhattan road and the next 1 % only between
  150 m and 1 km (a clear gap: the covered venues are the ones within ~150 m).
- On the network. A road is a street with its frontage, not a line: a dummy within
  `on_road_m` (50 m; half of the covered NYC venues lie within 8 m of a street centreline, 49 %
  of all venues within 50 m) is already on the network and is not moved. Snapping a converging
  dummy onto the centreline every iteration only fights the gradient near the answer (measured:
  it cost the full attack ~0.01 mean ASR against "no mapping" on NYC and on the demo).
- No road network: the known venues are the prior (nearest venue), DESIGN.md §3.
- `roads+venues` (an option, not the paper): whichever of road point and venue is nearer. Venues
  are discrete, so once the gradient signal weakens a dummy whose Adam step is shorter than half
  the venue spacing is snapped back every iteration and stays at a wrong venue (measured on NYC:
  it cost ST-GIA's ablation its mapping gain).

It is a projection under no-grad, not a loss term.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.spatial import cKDTree

from core.data.preprocess import Normalizer
from core.geo.band import BandQuery
from core.geo.distance import LocalProjection

# A dummy farther than this from every road is outside the road data's coverage (see above).
COVER_M = 200.0
# A dummy this close to a road is on the network (a street and its frontage), not outside it.
ON_ROAD_M = 50.0


@dataclass
class Mapper:
    """Callable (M, 2) normalised -> (M, 2) normalised: each point on the prior (see module)."""

    normalizer: Normalizer
    roads: object | None = None           # RoadNetwork (has .snap(lat, lon) -> (lat, lon))
    venues: np.ndarray | None = None      # (m, 2) [lat, lon]
    cover_m: float = COVER_M              # roads only: farther points are not mapped
    on_road_m: float = ON_ROAD_M          # roads only: nearer points are already on the network

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
        # roads only, with the network's own index: the whole step in its metres (fast path)
        snapper = getattr(self.roads, "snapper", None) if self._tree is None else None
        self._band = None
        if getattr(snapper, "projection", None) is not None and self.cover_m <= snapper.margin_m:
            self._band = BandQuery(snapper, self.on_road_m, self.cover_m)
            self._aff = _metres_affine(self.normalizer, snapper.projection)

    def __call__(self, z: np.ndarray) -> np.ndarray:
        if self._band is not None:
            return self._roads_only(z)
        ll = self.normalizer.denormalize(z.reshape(-1, 2))
        x, y = self._proj.to_xy(ll[:, 0], ll[:, 1])
        out = ll.copy()
        if self._tree is None:   # roads only (the paper): within coverage, nearest road point
            best = np.full(len(x), self.cover_m)
        else:                    # venues, or the nearer of venue and road point
            best, i = self._tree.query(np.stack([x, y], 1))
            out = self.venues[i]
        if self.roads is not None:
            # only points whose bbox distance beats the current best can go to a road
            need = self._box_distance(x, y) <= best
            if need.any():
                rlat, rlon = self.roads.snap(ll[need, 0], ll[need, 1])
                rx, ry = self._proj.to_xy(rlat, rlon)
                d = np.hypot(rx - x[need], ry - y[need])
                closer = d <= best[need]
                if self._tree is None:  # roads only: a dummy on the network stays where it is
                    closer &= d > self.on_road_m
                rows = np.flatnonzero(need)[closer]
                out[rows] = np.stack([rlat[closer], rlon[closer]], 1)
        return self.normalizer.normalize(out).reshape(z.shape)

    def _roads_only(self, z: np.ndarray) -> np.ndarray:
        """The paper's rule (roads only) in the road index's metres: a dummy between `on_road_m`
        and `cover_m` from the network goes to its nearest road point, every other stays as is.
        Same rule as the general path, with one affine map each way and the exact query only
        for points that may lie in that band (`core.geo.band`); it runs every iteration."""
        out = np.array(z.reshape(-1, 2), dtype=np.float64)
        self._band.map_inplace(out, self._aff)
        return out.reshape(z.shape)

    def _box_distance(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Distance (m) from each point to the road network's bbox; 0 inside it."""
        x0, x1, y0, y1 = self._road_box
        dx = np.maximum(np.maximum(x0 - x, 0.0), x - x1)
        dy = np.maximum(np.maximum(y0 - y, 0.0), y - y1)
        return np.hypot(dx, dy)


def _metres_affine(normalizer: Normalizer, projection: LocalProjection) -> np.ndarray:
    """(sx, ox, sy, oy) taking normalised [lat, lon] to a road index's metres: x = lon·sx + ox,
    y = lat·sy + oy. The min–max normalisation and the equirectangular projection are both
    affine per axis, so their composition is one scale and one offset per axis."""
    ll = normalizer.denormalize(np.array([[0.0, 0.0], [1.0, 1.0]]))
    x, y = projection.to_xy(ll[:, 0], ll[:, 1])
    return np.array([x[1] - x[0], x[0], y[1] - y[0], y[0]], dtype=np.float64)
