"""Location defenses: the client perturbs every location it feeds the model (DESIGN.md §5).

Each round t the client's window points and target are replaced, before local training, by the
output of a location mechanism run with that round's budget ε_t (per km):

* `GeoIDefense`  — planar Laplace (Geo-I, Andrés et al. 2013), optionally truncated to the data's
  bounding box and/or snapped to the road network (both post-processing);
* `GeoGIDefense` — graph exponential mechanism over all road nodes (GeoGI, Takagi et al.);
* `AdaptiveDefense` — the paper's strategy (Algorithm 2): adaptive ε_t from a risk profile and
  PGEM (Eq. 13), the graph exponential mechanism restricted to the user's constraint domain.

Budget accounting. Within a round a client draws the mechanism once per *distinct* location it
feeds (with B > 1 a point appears in several windows; it gets one noisy copy, not several), so every
trajectory point is released at most once per round with ε_t. A point stays in the sliding window
for W+1 rounds and is perturbed afresh each time, so over the run it is released with at most
Σ_t ε_t ≤ ε: the per-user, whole-run budget composes sequentially over rounds. Geo-indistinguishability
is a per-location guarantee: two true locations d km apart give output distributions within e^(ε·d).

Road networks. GeoGI, PGEM and Geo-I with snapping need `roads`. `start()` raises an InputError when
they are missing; `core.experiments.defense_setup.make_defense` supplies the run's network, or — for a
dataset without one — a stand-in built by `core.geo.loaders.from_locations` over the dataset's
public venue locations.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import torch
from torch import Tensor

from core.defenses.budget import (RiskProfile, adaptive_allocation, f1_identity, f2_scaled,
                                  uniform_allocation)
from core.defenses.mechanisms import (DistanceCache, gem_probabilities, offset_latlon,
                                      planar_laplace_offsets, sample_gem)
from core.errors import InputError, check_range
from core.federated.defense_hook import ClientDefense

_ROWS_PER_CHUNK = 256  # distance rows held at once while sampling (bounds memory on big graphs)


@dataclass
class LocationDefense(ClientDefense):
    """Shared plumbing: budget per round, de-duplication, normalised <-> lat/lon, roads."""

    roads: object | None = None               # core.geo.network.RoadNetwork
    distances: DistanceCache | None = None    # shared shortest-path cache (built if None)
    population: object | None = field(default=None, init=False, repr=False)

    @property
    def wants_roads(self) -> bool:
        return True

    def allocate(self, rounds: int) -> list[float]:
        return uniform_allocation(self.epsilon, rounds)

    def start(self, rounds: int, population) -> None:
        self.population = population
        if self.wants_roads and self.roads is None:
            raise InputError(
                f"defense {self.name!r} needs a road network (option roads=...): build it with "
                f"core.experiments.defense_setup.make_defense(name, epsilon, prepared), which passes "
                f"the run's network (--roads, or the demo's), else a graph over the dataset's venues")
        if self.roads is not None and self.distances is None and self.wants_roads:
            self.distances = DistanceCache(self.roads)
        elif self.distances is not None and self.distances.net is not self.roads:
            raise InputError("the distance cache belongs to a different road network")
        self.allocation = self.allocate(rounds)
        self.prepare(population)

    def prepare(self, population) -> None:
        """Per-population precomputation (PGEM: constraint domains)."""

    def mechanism(self, latlon: np.ndarray, owners: np.ndarray, epsilon: float,
                  rng: np.random.Generator) -> np.ndarray:
        """(n, 2) true [lat, lon] of clients `owners` (population indices) -> (n, 2) outputs."""
        raise NotImplementedError

    def perturb_inputs(self, round_t: int, clients: np.ndarray, x: Tensor, y: Tensor,
                       rng: np.random.Generator) -> tuple[Tensor, Tensor]:
        if self.population is None:
            raise RuntimeError(f"{type(self).__name__}.start() must run before perturb_inputs()")
        eps_t = self.allocation[round_t - 1]
        K, B, W = x.shape[:3]
        seq = torch.cat([x, y[:, :, None]], 2).detach().cpu().numpy().astype(np.float64)
        seq = seq.reshape(K, B * (W + 1), 2)                       # (K, P, 2) normalised
        uniq, owners, inverse, base = [], [], [], 0
        for row, k in enumerate(np.asarray(clients).tolist()):     # distinct locations per client
            u, inv = np.unique(seq[row], axis=0, return_inverse=True)
            uniq.append(u)
            owners.append(np.full(len(u), k, dtype=np.int64))
            inverse.append(inv.reshape(-1) + base)
            base += len(u)
        norm = self.population.normalizer
        out = self.mechanism(norm.denormalize(np.concatenate(uniq)), np.concatenate(owners),
                             eps_t, rng)
        z = norm.normalize(out)[np.concatenate(inverse)].reshape(K, B, W + 1, 2)
        z = torch.as_tensor(z, dtype=x.dtype)
        return z[:, :, :W].contiguous(), z[:, :, W].contiguous()

    def _nodes_latlon(self, idx: np.ndarray) -> np.ndarray:
        return np.stack([self.roads.lat[idx], self.roads.lon[idx]], axis=1)


@dataclass
class GeoIDefense(LocationDefense):
    """Planar Laplace with ε_t per km on every location (mean displacement 2/ε_t km).

    clip: truncate to the dataset's bounding box (Andrés et al.'s truncated mechanism: an output
        outside the region of interest is remapped to its nearest point in the region — in
        normalised coordinates, a clamp to [0, 1]²). Post-processing; on by default so the
        model never sees coordinates hundreds of bbox-widths away.
    snap: move each output to the nearest point on the road network (post-processing).
    """

    name: str = "geoi"
    clip: bool = True
    snap: bool = False

    @property
    def wants_roads(self) -> bool:
        return self.snap

    def mechanism(self, latlon, owners, epsilon, rng):
        out = offset_latlon(latlon, planar_laplace_offsets(epsilon, len(latlon), rng))
        if self.clip:
            b = self.population.normalizer.bbox
            out[:, 0] = np.clip(out[:, 0], b.lat_min, b.lat_max)
            out[:, 1] = np.clip(out[:, 1], b.lon_min, b.lon_max)
        if self.snap:
            lat, lon = self.roads.snap(out[:, 0], out[:, 1])
            out = np.stack([lat, lon], axis=1)
        return out


def _sample_rows(cache: DistanceCache, sources: np.ndarray, columns: np.ndarray | None,
                 epsilon: float, rng: np.random.Generator) -> np.ndarray:
    """Graph-mechanism draws for each source node over `columns` (None: all nodes) -> column idx."""
    out = np.empty(len(sources), dtype=np.int64)
    for s in range(0, len(sources), _ROWS_PER_CHUNK):
        d = cache.rows(sources[s:s + _ROWS_PER_CHUNK])
        if columns is not None:
            d = d[:, columns]
        out[s:s + _ROWS_PER_CHUNK] = sample_gem(d, epsilon, rng)
    return out


@dataclass
class GeoGIDefense(LocationDefense):
    """Graph exponential mechanism over all road nodes: Pr[v] ∝ exp(−ε_t·d_G(x, v)/2).

    Each location is first mapped to its nearest road node x; d_G is the shortest-path distance in
    km (edges two-way, `core.geo.paths`).
    """

    name: str = "geogi"

    def probabilities(self, source_node: int, epsilon: float) -> np.ndarray:
        """(n_nodes,) output distribution for input node `source_node` (for tests and plots)."""
        return gem_probabilities(self.distances.rows([source_node])[0], epsilon)

    def mechanism(self, latlon, owners, epsilon, rng):
        src = np.asarray(self.roads.nearest_node(latlon[:, 0], latlon[:, 1]), dtype=np.int64)
        return self._nodes_latlon(_sample_rows(self.distances, src, None, epsilon, rng))


@dataclass
class AdaptiveDefense(LocationDefense):
    """The paper's adaptive strategy (Algorithm 2): adaptive budget + PGEM (Eq. 13).

    profile: per-round ASR/AIT of an undefended ST-GIA run on a proxy population
        (`core.experiments.defense_setup.risk_profile` computes and caches it).
    alpha, beta, f1, f2, spend_remainder: the allocation (`core.defenses.budget`).
    radius_km: the default constraint domain of user k is every road node within `radius_km`
        (shortest path) of a node nearest to one of k's visited locations (its whole trajectory).
    domains: optional explicit constraint domains, one sorted array of node indices per client.

    PGEM uses d_G on the whole road graph restricted to outputs in the domain. d_G is a metric, so
    for two inputs x, x' every output's likelihood ratio is ≤ e^(ε_t·d_G(x, x')); the paper's
    guarantee is stated for inputs in the domain, where the user's own points always lie.
    Caveat (as in the paper): the default domain is derived from the user's own trajectory, so
    its extent — which outputs can ever appear — is not covered by ε; a user-chosen `domains`
    (e.g. "the whole campus") avoids that.
    """

    name: str = "adaptive"
    profile: RiskProfile | None = None
    alpha: float = 0.5
    beta: float | None = None
    f1: Callable[[float], float] = f1_identity
    f2: Callable[[float, int], float] = f2_scaled
    spend_remainder: bool = True
    radius_km: float = 2.0
    domains: list[np.ndarray] | None = None
    client_domains: list[np.ndarray] | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        check_range("radius_km", self.radius_km, 0.0)

    def allocate(self, rounds: int) -> list[float]:
        if self.profile is None:
            raise InputError("defense 'adaptive' needs a risk profile (per-round ASR/AIT of an "
                             "undefended proxy run): build it with core.experiments.defense_setup."
                             "make_defense(...) or pass profile=RiskProfile(...)")
        return adaptive_allocation(self.epsilon, self.profile, rounds, self.alpha, self.beta,
                                   self.f1, self.f2, self.spend_remainder)

    def prepare(self, population) -> None:
        """The constraint domain of every client: given `domains`, else the R-km default."""
        from core.geo.paths import within_km

        if self.domains is not None:
            if len(self.domains) != population.n_clients:
                raise InputError(f"{len(self.domains)} constraint domains for "
                                 f"{population.n_clients} clients")
            self.client_domains = [np.unique(np.asarray(d, dtype=np.int64)) for d in self.domains]
            return
        doms = []
        for ll in population.latlon:
            nodes = np.unique(self.roads.nearest_node(ll[:, 0], ll[:, 1]))
            doms.append(within_km(self.roads, nodes, self.radius_km))
        self.client_domains = doms

    def probabilities(self, client: int, source_node: int, epsilon: float) -> np.ndarray:
        """PGEM's output distribution over `client_domains[client]` for input `source_node`."""
        return gem_probabilities(self.distances.rows([source_node])[0][self.client_domains[client]],
                                 epsilon)

    def mechanism(self, latlon, owners, epsilon, rng):
        src = np.asarray(self.roads.nearest_node(latlon[:, 0], latlon[:, 1]), dtype=np.int64)
        self.distances.prefetch(src)                              # one Dijkstra for all new sources
        out = np.empty(len(src), dtype=np.int64)
        for k in np.unique(owners).tolist():                     # one domain per client
            sel = np.flatnonzero(owners == k)
            dom = self.client_domains[k]
            out[sel] = dom[_sample_rows(self.distances, src[sel], dom, epsilon, rng)]
        return self._nodes_latlon(out)
