"""The location mechanisms behind the defenses, as plain functions (paper §4, DESIGN.md §5).

* Planar Laplace (Andrés et al. 2013, ε-geo-indistinguishability in the plane): density
  ∝ exp(−ε·r); the angle is uniform and the radius has CDF C_ε(r) = 1 − (1 + εr)·e^(−εr), i.e. a
  Gamma(2, 1/ε) law with mean 2/ε. It is sampled by inverting C_ε with the Lambert W function's
  branch −1: r = −(1/ε)·(W₋₁((p − 1)/e) + 1), p ~ U[0, 1).
* Graph exponential mechanism (GeoGI, Takagi et al.; PGEM, the paper's Eq. 13): given the input's
  road node x and a candidate set V, output v ∈ V with Pr[v] ∝ exp(−ε·d_G(x, v)/2), d_G the
  shortest-path distance in km. Because d_G is a metric on the whole graph, |d_G(x, v) − d_G(x', v)|
  ≤ d_G(x, x'), so numerator and normaliser each move by at most e^(ε·d/2): the likelihood ratio of
  any output for inputs x, x' is ≤ e^(ε·d_G(x, x')) — for any candidate set V.
* `DistanceCache`: shortest-path rows computed only from source nodes actually used, one
  multi-source Dijkstra per batch of new sources, kept (LRU, byte-capped) for later rounds — a
  sliding window reuses W of its W+1 points in the next round.

Units: ε per km everywhere; Laplace offsets in metres in a local projection (x east, y north).
Randomness only from the `numpy.random.Generator` passed in.
"""
from __future__ import annotations

from collections import OrderedDict
from typing import TYPE_CHECKING

import numpy as np
from scipy.special import lambertw

from core.errors import InputError, ParameterError, check_range
from core.geo.distance import EARTH_RADIUS_M

if TYPE_CHECKING:
    from core.geo.network import RoadNetwork

# Metres per degree of latitude on the mean-radius sphere: the constant LocalProjection uses.
_M_PER_DEG = np.pi * EARTH_RADIUS_M / 180.0


# --- planar Laplace ---------------------------------------------------------------------------

def planar_laplace_radius(epsilon: float, size: int | tuple[int, ...],
                          rng: np.random.Generator) -> np.ndarray:
    """Radii (km) of the planar Laplace with parameter `epsilon` per km: Gamma(2, 1/ε).

    Inverse-CDF sampling: C_ε(r) = 1 − (1 + εr)e^(−εr) = p  ⇔  r = −(W₋₁((p − 1)/e) + 1)/ε.
    p ∈ [0, 1) maps (p − 1)/e into [−1/e, 0), the domain of branch −1 (W₋₁(−1/e) = −1 gives r = 0).
    """
    check_range("epsilon", epsilon, 0.0, low_open=True)
    p = rng.random(size)
    w = lambertw((p - 1.0) / np.e, k=-1).real  # real on [−1/e, 0); .real drops a 0j imaginary part
    return np.maximum(-(w + 1.0) / epsilon, 0.0)


def planar_laplace_offsets(epsilon: float, n: int, rng: np.random.Generator) -> np.ndarray:
    """(n, 2) planar Laplace displacements [east, north] in metres (ε per km)."""
    r_m = planar_laplace_radius(epsilon, n, rng) * 1000.0
    theta = rng.uniform(0.0, 2.0 * np.pi, n)
    return np.stack([r_m * np.cos(theta), r_m * np.sin(theta)], axis=1)


def offset_latlon(latlon: np.ndarray, offsets_m: np.ndarray) -> np.ndarray:
    """Move each [lat, lon] by its [east, north] offset in metres.

    Each point uses `LocalProjection` centred on itself (x = Δlon·k·cos(lat₀), y = Δlat·k with
    k = metres per degree), so the noise is planar in metres wherever the data lie; written out
    vectorised because LocalProjection takes a scalar origin.
    """
    latlon = np.asarray(latlon, dtype=np.float64)
    lat = latlon[:, 0] + offsets_m[:, 1] / _M_PER_DEG
    lon = latlon[:, 1] + offsets_m[:, 0] / (_M_PER_DEG * np.cos(np.radians(latlon[:, 0])))
    return np.stack([lat, lon], axis=1)


# --- graph exponential mechanism --------------------------------------------------------------

def gem_log_weights(dist_km: np.ndarray, epsilon: float) -> np.ndarray:
    """Unnormalised log-probabilities −ε·d/2 (−inf where unreachable) of the graph mechanism.

    ε = 0 gives the uniform distribution over the reachable candidates (the ε → 0 limit).
    """
    check_range("epsilon", epsilon, 0.0)
    if not np.isfinite(epsilon):
        raise ParameterError("epsilon", epsilon, "a finite number >= 0")
    d = np.asarray(dist_km, dtype=np.float64)
    reach = np.isfinite(d)
    if not reach.any(axis=-1).all():
        raise InputError("graph mechanism: no candidate is reachable from the input's node "
                         "(the constraint domain lies in another component of the road network)")
    return np.where(reach, -0.5 * epsilon * np.where(reach, d, 0.0), -np.inf)


def gem_probabilities(dist_km: np.ndarray, epsilon: float) -> np.ndarray:
    """Output probabilities Pr[v] = exp(−ε·d(x, v)/2) / Σ_u exp(−ε·d(x, u)/2), row-wise."""
    logw = gem_log_weights(dist_km, epsilon)
    logw = logw - logw.max(axis=-1, keepdims=True)  # stable: the largest weight becomes 1
    w = np.exp(logw)
    return w / w.sum(axis=-1, keepdims=True)


def sample_gem(dist_km: np.ndarray, epsilon: float, rng: np.random.Generator) -> np.ndarray:
    """One draw per row of `dist_km` (P, M): the column index of the output candidate.

    Inverse CDF with one uniform per row: the first index whose cumulative weight exceeds u·total.
    Zero-weight (unreachable) candidates are never chosen (the CDF is flat across them).
    """
    d = np.atleast_2d(dist_km)
    logw = gem_log_weights(d, epsilon)
    logw = logw - logw.max(axis=1, keepdims=True)
    cdf = np.cumsum(np.exp(logw), axis=1)
    u = rng.random(d.shape[0]) * cdf[:, -1]
    return np.minimum((cdf <= u[:, None]).sum(axis=1), d.shape[1] - 1)


class DistanceCache:
    """Shortest-path rows d_G(source, ·) in km, computed on demand and kept for reuse.

    Only sources actually queried are computed (one multi-source Dijkstra per batch of new
    sources); rows are kept in LRU order up to `max_bytes` (float64 rows, so probabilities match
    the formula to the last bit). `hits`/`misses` count row look-ups, for benchmarks.
    """

    def __init__(self, net: "RoadNetwork", max_bytes: int = 128 * 2**20) -> None:
        self.net = net
        self.max_rows = max(1, int(max_bytes // (8 * max(net.n_nodes, 1))))
        self._rows: OrderedDict[int, np.ndarray] = OrderedDict()
        self.hits = self.misses = 0

    def prefetch(self, sources) -> None:
        """Compute the rows of all not-yet-cached `sources` in one multi-source Dijkstra."""
        src = np.unique(np.asarray(sources, dtype=np.int64).reshape(-1))
        new = [s for s in src.tolist() if s not in self._rows]
        if new and len(new) + len(self._rows) <= self.max_rows:
            self._store(self._compute(np.array(new, dtype=np.int64)))

    def _compute(self, new: np.ndarray) -> dict[int, np.ndarray]:
        from core.geo.paths import distances_from

        self.misses += int(new.size)
        return dict(zip(new.tolist(), distances_from(self.net, new))) if new.size else {}

    def _store(self, fresh: dict[int, np.ndarray]) -> None:
        for s, row in fresh.items():
            self._rows[s] = row
        while len(self._rows) > self.max_rows:
            self._rows.popitem(last=False)

    def rows(self, sources) -> np.ndarray:
        """(len(sources), n_nodes) distances in km from each source node index."""
        src = np.asarray(sources, dtype=np.int64).reshape(-1)
        uniq = np.unique(src)
        new = np.array([s for s in uniq.tolist() if s not in self._rows], dtype=np.int64)
        self.hits += int(uniq.size - new.size)
        fresh = self._compute(new)
        out = np.empty((src.size, self.net.n_nodes))
        for i, s in enumerate(src.tolist()):
            row = fresh.get(s)
            if row is None:
                row = self._rows[s]
                self._rows.move_to_end(s)
            out[i] = row
        self._store(fresh)
        return out

    def __len__(self) -> int:
        return len(self._rows)
