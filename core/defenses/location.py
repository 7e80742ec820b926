"""Location defenses: the client perturbs every location it feeds the model (DESIGN.md §5).

Each round t the client's window points and target are replaced, before local training, by the
output of a location mechanism run with that round's budget ε_t (per km):

* `GeoIDefense`  — planar Laplace (Geo-I, Andrés et al. 2013), optionally truncated to the data's
  bounding box and/or snapped to the road network (both post-processing);
* `GeoGIDefense` — graph exponential mechanism over all road nodes (GeoGI, Takagi et al.);
* `AdaptiveDefense` — the paper's strategy (Algorithm 2): adaptive ε_t from a risk profile
  (Eqs. 10–12) and PGEM (Eq. 13), the graph exponential mechanism restricted to the user's
  constraint domain.

Allocation (ε_t per round). scope="total": ε is the user's budget for the run; uniform ε/T
(Geo-I, GeoGI) or Algorithm 2 over ε (adaptive). scope="round" (the paper's reading; its authors'
code draws Geo-I noise afresh every round at ε): ε_t = ε every round (Geo-I, GeoGI); the adaptive
strategy distributes T·ε by Algorithm 2, so its mean per round is ε and it is compared with the
uniform mechanisms at the same per-round ε.

Accounting. Geo-indistinguishability is a per-location guarantee: a mechanism run at ε per km
gives, for two true locations d km apart, output distributions within a factor e^(ε·d).

* Per point. Within a round a client draws the mechanism once per *distinct* trajectory point it
  feeds (with B > 1, or the history protocol, a point appears in several windows; it gets one
  noisy copy, not several). A point fed in rounds R(p) is released once per round, so it pays
  Σ_{t ∈ R(p)} ε_t: with the streaming protocol a point stays in the sliding window for up to
  W + B rounds. With `reuse=True` the client perturbs each point once — the first round it is
  fed, at that round's ε_t — and feeds the same noisy point in every later round; re-using a
  released value is post-processing, so the point pays ε_{first(p)} once. Points are recognised by
  their trajectory index (`point_idx`, which `reuse` requires). When the round loop passes
  `point_idx`, what each point has paid is tracked and `epsilon_per_point` reports the largest.
* Per user. Round t's release perturbs each of its points independently at ε_t, so for two
  trajectories X, X' its likelihood ratio is ≤ exp(ε_t·Σ_i d(x_i, x'_i)): each round is
  ε_t-geo-indistinguishable for the user's trajectory under the summed (ℓ1) distance, and rounds
  compose sequentially to Σ_t ε_t — `epsilon_total` (`spent(t)` after t rounds): ε in total
  scope, T·ε in round scope, with or without reuse. That is the figure every result reports.
  Grouping the same product by point instead of by round gives a bound that is never larger: the
  run is (max_p paid(p))-geo-indistinguishable under ℓ1, i.e. `epsilon_per_point` — which is where
  reuse pays off (ε_t once per point instead of up to W + B times).

Road networks. GeoGI, PGEM and Geo-I with snapping need `roads` in the `DefenseContext`;
`core.experiments.defense_setup.make_defense` supplies the run's network, or — for a dataset
without one — a stand-in built by `core.geo.loaders.from_locations` over the dataset's public
venue locations.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, ClassVar

import numpy as np
import torch
from torch import Tensor

from core.defenses.budget import (RiskProfile, adaptive_allocation, constant_allocation,
                                  f1_identity, f2_scaled, proportional_allocation,
                                  uniform_allocation)
from core.defenses.mechanisms import (DistanceCache, gem_probabilities, offset_latlon,
                                      planar_laplace_offsets, sample_gem)
from core.errors import InputError, check_range
from core.federated.defense_hook import ClientDefense, DefenseContext, check_epsilon

_ROWS_PER_CHUNK = 256  # distance rows held at once while sampling (bounds memory on big graphs)


@dataclass
class PointLedger:
    """Per client, per trajectory point: the released (noisy) [lat, lon] (NaN until released;
    kept only with reuse) and the ε per km the point has paid so far."""

    released: list[np.ndarray]   # client k: (n_k, 2)
    paid: list[np.ndarray]       # client k: (n_k,)
    tracked: bool = False        # True once a round passed point indices

    @staticmethod
    def for_population(population) -> "PointLedger":
        n = [len(p) for p in population.points]
        return PointLedger([np.full((m, 2), np.nan) for m in n], [np.zeros(m) for m in n])

    def max_paid(self) -> float | None:
        if not self.tracked:
            return None
        return float(max((p.max() for p in self.paid if p.size), default=0.0))


@dataclass
class LocationDefense(ClientDefense):
    """Shared plumbing: allocation, de-duplication, reuse, normalised <-> lat/lon, roads.

    reuse: perturb each trajectory point once and feed the same noisy point in later rounds
        (see the module docstring for its accounting); needs the round loop's `point_idx`.
    """

    needs: ClassVar[frozenset[str]] = frozenset({"roads"})

    reuse: bool = False
    roads: object | None = field(default=None, init=False, repr=False, compare=False)
    distances: DistanceCache | None = field(default=None, init=False, repr=False, compare=False)
    population: object | None = field(default=None, init=False, repr=False, compare=False)
    ledger: PointLedger | None = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        super().__post_init__()
        self.epsilon = check_epsilon(self.epsilon)

    # --- start ----------------------------------------------------------------------------------

    def start(self, ctx: DefenseContext) -> None:
        self.check_context(ctx)
        self.population = ctx.population
        self.roads = ctx.roads
        self.distances = ctx.distances if ctx.distances is not None else (
            DistanceCache(ctx.roads) if ctx.roads is not None else None)
        self.allocation = self.allocate(ctx)
        self.ledger = PointLedger.for_population(ctx.population)
        self.prepare(ctx)

    def allocate(self, ctx: DefenseContext) -> list[float]:
        """ε/T per round (scope total) or ε per round (scope round)."""
        if self.scope == "total":
            return uniform_allocation(self.epsilon, ctx.rounds)
        return constant_allocation(self.epsilon, ctx.rounds)

    def prepare(self, ctx: DefenseContext) -> None:
        """Per-population precomputation (PGEM: constraint domains)."""

    # --- the mechanism --------------------------------------------------------------------------

    def mechanism(self, latlon: np.ndarray, owners: np.ndarray, epsilon: float,
                  rng: np.random.Generator) -> np.ndarray:
        """(n, 2) true [lat, lon] of clients `owners` (population indices) -> (n, 2) outputs."""
        raise NotImplementedError

    @property
    def epsilon_per_point(self) -> float | None:
        """The most any single trajectory point has paid so far (ε per km), or None when the
        round loop did not pass point indices."""
        return None if self.ledger is None else self.ledger.max_paid()

    # --- the hook -------------------------------------------------------------------------------

    def perturb_inputs(self, round_t: int, clients: np.ndarray, x: Tensor, y: Tensor,
                       rng: np.random.Generator,
                       point_idx: np.ndarray | None = None) -> tuple[Tensor, Tensor]:
        eps_t = self.round_epsilon(round_t)
        K, B, W = x.shape[:3]
        seq = torch.cat([x, y[:, :, None]], 2).detach().cpu().numpy().astype(np.float64)
        seq = seq.reshape(K, B * (W + 1), 2)                        # (K, P, 2) normalised
        idx = _point_indices(point_idx, K, B, W)                    # (K, P) or None
        if idx is None and self.reuse:
            raise InputError(f"defense {self.name!r} with reuse=True needs the trajectory indices "
                             f"of the window points (perturb_inputs(..., point_idx=...))")
        clients = np.asarray(clients, dtype=np.int64).reshape(-1)
        rows = [_distinct(seq[r], None if idx is None else idx[r]) for r in range(K)]
        fresh = [self._fresh(k, pid, len(first))
                 for k, (first, _, pid) in zip(clients.tolist(), rows)]
        norm = self.population.normalizer
        todo = [seq[r][first[f]] for r, ((first, _, _), f) in enumerate(zip(rows, fresh))]
        owners = np.concatenate([np.full(len(v), k, dtype=np.int64) for k, v in zip(clients, todo)])
        out = (self.mechanism(norm.denormalize(np.concatenate(todo)), owners, eps_t, rng)
               if owners.size else np.empty((0, 2)))
        z = np.empty_like(seq)
        pos = 0
        for r, k in enumerate(clients.tolist()):
            first, inv, pid = rows[r]
            f = fresh[r]
            vals = np.empty((len(first), 2))
            vals[f] = out[pos:pos + int(f.sum())]
            pos += int(f.sum())
            if pid is not None:
                vals[~f] = self._record(k, pid, f, vals, eps_t)
            z[r] = vals[inv]
        z = norm.normalize(z.reshape(-1, 2)).reshape(K, B, W + 1, 2)
        z = torch.as_tensor(z, dtype=x.dtype)
        return z[:, :, :W].contiguous(), z[:, :, W].contiguous()

    def _fresh(self, client: int, pid: np.ndarray | None, n: int) -> np.ndarray:
        """(n,) which of a row's n distinct points draw the mechanism now (all, unless reused)."""
        if pid is None:
            return np.ones(n, dtype=bool)
        released = self.ledger.released[client]
        if pid.size and (pid.min() < 0 or pid.max() >= len(released)):
            raise InputError(f"point index out of range for client {client} "
                             f"({len(released)} trajectory points)")
        return np.isnan(released[pid, 0]) if self.reuse else np.ones(len(pid), dtype=bool)

    def _record(self, client: int, pid: np.ndarray, fresh: np.ndarray, vals: np.ndarray,
                eps_t: float) -> np.ndarray:
        """Book the fresh draws (ε_t per point; store them with reuse); return the reused values."""
        ledger = self.ledger
        ledger.tracked = True
        ledger.paid[client][pid[fresh]] += eps_t
        if self.reuse:
            ledger.released[client][pid[fresh]] = vals[fresh]
        return ledger.released[client][pid[~fresh]]

    def _nodes_latlon(self, idx: np.ndarray) -> np.ndarray:
        return np.stack([self.roads.lat[idx], self.roads.lon[idx]], axis=1)


def _point_indices(point_idx: np.ndarray | None, K: int, B: int, W: int) -> np.ndarray | None:
    """(B, W+1) or (K, B, W+1) trajectory indices -> (K, B·(W+1)) int64, or None."""
    if point_idx is None:
        return None
    idx = np.asarray(point_idx, dtype=np.int64)
    if idx.shape not in ((B, W + 1), (K, B, W + 1)):
        raise InputError(f"point_idx has shape {idx.shape}; expected ({B}, {W + 1}) or "
                         f"({K}, {B}, {W + 1}) for x of shape ({K}, {B}, {W}, 2)")
    return np.broadcast_to(idx, (K, B, W + 1)).reshape(K, B * (W + 1))


def _distinct(values: np.ndarray, ids: np.ndarray | None
              ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Distinct points of one client's row: (first position of each, inverse map, their point
    indices). Without indices, points are distinct by coordinates."""
    if ids is None:
        _, first, inv = np.unique(values, axis=0, return_index=True, return_inverse=True)
        return first, inv.reshape(-1), None
    pid, first, inv = np.unique(ids, return_index=True, return_inverse=True)
    return first, inv.reshape(-1), pid


@dataclass
class GeoIDefense(LocationDefense):
    """Planar Laplace with ε_t per km on every location (mean displacement 2/ε_t km).

    clip: truncate to the dataset's bounding box (Andrés et al.'s truncated mechanism: an output
        outside the region of interest is remapped to its nearest point in the region — in
        normalised coordinates, a clamp to [0, 1]²). Post-processing; on by default so the
        model never sees coordinates hundreds of bbox-widths away.
    snap: move each output to the nearest point on the road network (post-processing; needs
        roads).
    """

    needs: ClassVar[frozenset[str]] = frozenset()

    name: str = "geoi"
    clip: bool = True
    snap: bool = False

    def requirements(self) -> frozenset[str]:
        return self.needs | ({"roads"} if self.snap else set())

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
    """The paper's adaptive strategy (Algorithm 2): adaptive budget (Eqs. 10–12) + PGEM (Eq. 13).

    Needs `roads` and `profile` (per-round ASR/AIT of an undefended ST-GIA run on a proxy
    population, `core.experiments.defense_setup.risk_profile`) in its context.

    alpha, beta, f1, f2, spend_remainder: the allocation (`core.defenses.budget`).
        scope="total": Algorithm 2 over ε. scope="round": Algorithm 2 over T·ε — the total the
        uniform mechanisms spend at ε per round — so the mean ε_t is ε (exactly, with
        spend_remainder) and results at the same ε compare like with like; riskier rounds get
        less than ε, safer ones more.
    radius_km: the default constraint domain of user k is every road node within `radius_km`
        (shortest path) of a node nearest to one of k's visited locations (its whole trajectory).
    domains: optional explicit constraint domains, one array of node indices per client.

    PGEM uses d_G on the whole road graph restricted to outputs in the domain. d_G is a metric, so
    for two inputs x, x' every output's likelihood ratio is ≤ e^(ε_t·d_G(x, x')); the paper's
    guarantee is stated for inputs in the domain, where the user's own points always lie.
    Caveat (as in the paper): the default domain is derived from the user's own trajectory, so
    its extent — which outputs can ever appear — is not covered by ε; a user-chosen `domains`
    (e.g. "the whole campus") avoids that.
    """

    needs: ClassVar[frozenset[str]] = frozenset({"roads", "profile"})

    name: str = "adaptive"
    alpha: float = 0.5
    beta: float | None = None
    f1: Callable[[float], float] = f1_identity
    f2: Callable[[float, int], float] = f2_scaled
    spend_remainder: bool = True
    radius_km: float = 2.0
    domains: list[np.ndarray] | None = None
    profile: RiskProfile | None = field(default=None, init=False, repr=False, compare=False)
    client_domains: list[np.ndarray] | None = field(default=None, init=False, repr=False,
                                                     compare=False)

    def __post_init__(self) -> None:
        super().__post_init__()
        check_range("radius_km", self.radius_km, 0.0)

    def allocate(self, ctx: DefenseContext) -> list[float]:
        """Algorithm 2 lines 1–3 over ε (scope total) or T·ε (scope round)."""
        self.profile = ctx.profile
        return adaptive_allocation(self._budget(ctx), ctx.profile, ctx.rounds, self.alpha,
                                   self.beta, self.f1, self.f2, self.spend_remainder)

    def _budget(self, ctx: DefenseContext) -> float:
        return self.epsilon if self.scope == "total" else self.epsilon * ctx.rounds

    def prepare(self, ctx: DefenseContext) -> None:
        """The constraint domain of every client: given `domains`, else the R-km default."""
        from core.geo.paths import within_km

        population = ctx.population
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


@dataclass
class ProportionalAdaptiveDefense(AdaptiveDefense):
    """The adaptive strategy with this project's allocation: the same risk importance and
    PGEM, but ε_t ∝ exp(−γ[t]) over the whole budget (`budget.proportional_allocation`) instead of
    Algorithm 2's share of the remainder. Not in the paper; compared beside it in Table 5."""

    name: str = "adaptive-prop"

    def allocate(self, ctx: DefenseContext) -> list[float]:
        self.profile = ctx.profile
        return proportional_allocation(self._budget(ctx), ctx.profile, ctx.rounds, self.alpha,
                                       self.beta, self.f1, self.f2)
