"""Location mechanisms, checked like cryptography: each statistical or privacy check is a function
that takes the mechanism, passes on the real one and is shown to FAIL on a deliberately broken one.

* planar Laplace (Geo-I): radius ~ Gamma(2, 1/ε), angle uniform, mean displacement 2/ε km;
* graph exponential mechanism (GeoGI) and PGEM: probabilities equal exp(−ε·d/2)/Σ exactly,
  empirical frequencies pass a chi-square test, and every output's likelihood ratio between two
  inputs is ≤ e^(ε·d_G) (over inputs in the domain for PGEM).
"""
from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch
from scipy import stats

from core.data.preprocess import Normalizer
from core.data.trajectory import Trajectory
from core.defenses.location import AdaptiveDefense, GeoGIDefense, GeoIDefense
from core.defenses.mechanisms import (DistanceCache, gem_probabilities, planar_laplace_offsets,
                                      planar_laplace_radius, sample_gem)
from core.defenses.budget import RiskProfile, adaptive_allocation
from core.errors import InputError
from core.federated.clients import ClientPopulation
from core.federated.defense_hook import ClientDefense, DefenseContext
from core.geo.bbox import BBox
from core.geo.distance import haversine
from core.geo.network import RoadNetwork

N_SAMPLES = 20_000
ALPHA = 0.01


# --- helpers --------------------------------------------------------------------------------------

def small_graph() -> RoadNetwork:
    """7 nodes: a path 0-1-2-3-4 plus a spur 2-5-6 and a shortcut 1-5 (irregular spacing)."""
    lat = np.array([41.880, 41.884, 41.889, 41.893, 41.900, 41.889, 41.889])
    lon = np.array([-87.630, -87.630, -87.630, -87.630, -87.630, -87.624, -87.617])
    eu = np.array([0, 1, 2, 3, 2, 5, 1])
    ev = np.array([1, 2, 3, 4, 5, 6, 5])
    return RoadNetwork("small", np.arange(7), lat, lon, eu, ev, directed=False)


def floyd_warshall_km(net: RoadNetwork) -> np.ndarray:
    """All-pairs shortest paths by hand (independent of scipy's Dijkstra)."""
    n = net.n_nodes
    d = np.full((n, n), np.inf)
    np.fill_diagonal(d, 0.0)
    for u, v, m in zip(net.edge_u, net.edge_v, net.length_m):
        d[u, v] = d[v, u] = min(d[u, v], m / 1000.0)
    for k in range(n):
        d = np.minimum(d, d[:, k:k + 1] + d[k:k + 1, :])
    return d


def population(net: RoadNetwork, nodes_per_client: list[list[int]]) -> ClientPopulation:
    trs = [Trajectory(str(k), np.arange(len(ns)) * 900, net.lat[ns], net.lon[ns])
           for k, ns in enumerate(nodes_per_client)]
    b = net.bbox
    pad = 0.01
    return ClientPopulation.from_trajectories(
        trs, Normalizer(BBox(b.lat_min - pad, b.lat_max + pad, b.lon_min - pad, b.lon_max + pad)))


# --- planar Laplace -------------------------------------------------------------------------------

def planar_laplace_ok(sampler, eps: float, n: int = N_SAMPLES, seed: int = 1) -> bool:
    """True iff `sampler(eps, n, rng) -> (n, 2) offsets in metres` looks like the planar Laplace:
    radius (km) ~ Gamma(2, 1/ε) and angle ~ U[0, 2π) by KS at level ALPHA, and the mean
    displacement within 4 standard errors of 2/ε km."""
    off = np.asarray(sampler(eps, n, np.random.default_rng(seed)))
    r_km = np.hypot(off[:, 0], off[:, 1]) / 1000.0
    theta = np.mod(np.arctan2(off[:, 1], off[:, 0]), 2 * np.pi)
    p_r = stats.kstest(r_km, stats.gamma(a=2, scale=1 / eps).cdf).pvalue
    p_t = stats.kstest(theta, stats.uniform(0, 2 * np.pi).cdf).pvalue
    se = np.sqrt(2) / eps / np.sqrt(n)
    return bool(p_r > ALPHA and p_t > ALPHA and abs(r_km.mean() - 2 / eps) < 4 * se)


def _exp_radius_sampler(eps, n, rng):  # broken: radius ~ Exponential(ε), a 1-D Laplace habit
    r = rng.exponential(1 / eps, n) * 1000
    t = rng.uniform(0, 2 * np.pi, n)
    return np.stack([r * np.cos(t), r * np.sin(t)], 1)


def _doubled_eps_sampler(eps, n, rng):  # broken: uses 2ε
    return planar_laplace_offsets(2 * eps, n, rng)


def _half_circle_sampler(eps, n, rng):  # broken: angle only in [0, π)
    off = planar_laplace_offsets(eps, n, rng)
    off[:, 1] = np.abs(off[:, 1])
    return off


@pytest.mark.parametrize("eps", [0.5, 2.0, 10.0])
def test_planar_laplace_matches_gamma_and_uniform_angle(eps):
    assert planar_laplace_ok(planar_laplace_offsets, eps)


@pytest.mark.parametrize("broken", [_exp_radius_sampler, _doubled_eps_sampler, _half_circle_sampler])
def test_planar_laplace_check_rejects_broken_samplers(broken):
    assert not planar_laplace_ok(broken, 2.0)


def test_planar_laplace_radius_is_inverse_cdf():
    # C_ε(r) = 1 − (1 + εr)e^(−εr) evaluated at the sampled radius gives back a uniform
    eps = 3.0
    r = planar_laplace_radius(eps, N_SAMPLES, np.random.default_rng(5))
    u = 1 - (1 + eps * r) * np.exp(-eps * r)
    assert stats.kstest(u, "uniform").pvalue > ALPHA
    assert (r >= 0).all() and np.isfinite(r).all()


def test_geoi_defense_displacements_in_metres_follow_the_planar_laplace():
    """Through the whole hook: normalised in -> lat/lon -> noise -> normalised out, measured with
    haversine. ε_t = ε/T per km; no truncation so the law is untouched."""
    lat0, lon0 = 41.88, -87.63
    pop = ClientPopulation.from_trajectories(
        [Trajectory("u", np.arange(4) * 900, np.full(4, lat0), np.full(4, lon0) + 1e-4 * np.arange(4))],
        Normalizer(BBox(41.6, 42.1, -87.9, -87.4)))
    rounds, eps = 4, 8.0                                           # ε_t = 2 per km, mean 1 km
    d = GeoIDefense(epsilon=eps, clip=False)
    d.start(DefenseContext(rounds, pop))
    x, y = pop.round_batch(np.zeros(N_SAMPLES, dtype=int), 1, 1, 1)  # the same client, many rows
    x, y = x.double(), y.double()                                  # float64 in, float64 out

    def via_hook(eps_t, n, rng):
        # every row is a separate upload, so each gets its own draw
        clients = np.zeros(n, dtype=int)
        d.allocation = [eps_t] * rounds
        xo, _ = d.perturb_inputs(1, clients, x[:n], y[:n], rng)
        ll = pop.normalizer.denormalize(xo[:, 0, 0].numpy().astype(np.float64))
        true = pop.latlon[0][0]
        dist = haversine(true[0], true[1], ll[:, 0], ll[:, 1])
        ang = np.arctan2((ll[:, 0] - true[0]), (ll[:, 1] - true[1]) * np.cos(np.radians(true[0])))
        return np.stack([dist * np.cos(ang), dist * np.sin(ang)], 1)

    assert planar_laplace_ok(via_hook, 2.0)
    assert not planar_laplace_ok(lambda e, n, r: via_hook(2 * e, n, r), 2.0)


def test_geoi_truncation_keeps_points_in_the_bbox_and_snapping_puts_them_on_roads():
    net = small_graph()
    pop = population(net, [[0, 1, 2, 3], [4, 5, 6, 2]])
    x, y = pop.round_batch(np.arange(2), 2, 2, 1)
    d = GeoIDefense(epsilon=0.5, snap=True)                      # ε_t = 0.125: km-scale noise
    d.start(DefenseContext(2, pop, roads=net))
    xo, yo = d.perturb_inputs(2, np.arange(2), x, y, np.random.default_rng(0))
    z = torch.cat([xo, yo[:, :, None]], 2).numpy().reshape(-1, 2).astype(np.float64)
    assert (z >= -1e-6).all() and (z <= 1 + 1e-6).all()
    ll = pop.normalizer.denormalize(z)
    slat, slon = net.snap(ll[:, 0], ll[:, 1])
    assert np.allclose(haversine(ll[:, 0], ll[:, 1], slat, slon), 0.0, atol=0.05)


# --- graph exponential mechanism ------------------------------------------------------------------

def geo_indistinguishable(prob, inputs, eps: float, dist_km: np.ndarray) -> bool:
    """True iff for every pair of inputs (x, x') and every output v:
    Pr[M(x) = v] ≤ e^(ε·d(x, x'))·Pr[M(x') = v]   (relative slack 1e-9 for rounding)."""
    for a, b in itertools.permutations(inputs, 2):
        p, q = prob(a), prob(b)
        if np.any(p > np.exp(eps * dist_km[a, b]) * q * (1 + 1e-9) + 1e-300):
            return False
    return True


def _geogi(net, eps=2.0, rounds=1):
    pop = population(net, [[0, 1, 2, 3, 4, 5, 6]])
    d = GeoGIDefense(epsilon=eps * rounds)
    d.start(DefenseContext(rounds, pop, roads=net))
    return d, pop


def test_geogi_probabilities_equal_the_formula_exactly():
    net = small_graph()
    D = floyd_warshall_km(net)
    d, _ = _geogi(net)
    for eps in (0.1, 1.0, 7.5):
        for x in range(net.n_nodes):
            w = np.exp(-eps * D[x] / 2)
            np.testing.assert_allclose(d.probabilities(x, eps), w / w.sum(), rtol=1e-12, atol=0)


def test_geogi_empirical_frequencies_chi_square():
    net = small_graph()
    d, pop = _geogi(net, eps=1.5)
    x = 2
    latlon = np.repeat([[net.lat[x], net.lon[x]]], N_SAMPLES, axis=0)
    out = d.mechanism(latlon, np.zeros(N_SAMPLES, dtype=int), 1.5, np.random.default_rng(3))
    node = net.nearest_node(out[:, 0], out[:, 1])
    assert np.allclose(net.lat[node], out[:, 0]) and np.allclose(net.lon[node], out[:, 1])
    obs = np.bincount(node, minlength=net.n_nodes)
    exp = d.probabilities(x, 1.5) * N_SAMPLES
    assert stats.chisquare(obs, exp).pvalue > ALPHA
    # and the same test rejects draws from the mechanism with ε instead of ε/2
    bad = sample_gem(np.repeat(floyd_warshall_km(net)[x:x + 1], N_SAMPLES, 0), 3.0,
                     np.random.default_rng(3))
    assert stats.chisquare(np.bincount(bad, minlength=net.n_nodes), exp).pvalue < ALPHA


def test_geogi_likelihood_ratios_bounded_and_broken_mechanism_caught():
    net = small_graph()
    D = floyd_warshall_km(net)
    d, _ = _geogi(net)
    for eps in (0.3, 2.0, 9.0):
        assert geo_indistinguishable(lambda x: d.probabilities(x, eps), range(net.n_nodes), eps, D)
        broken = lambda x: gem_probabilities(D[x], 2 * eps)   # exp(−ε·d): ε instead of ε/2
        assert not geo_indistinguishable(broken, range(net.n_nodes), eps, D)


def test_geogi_zero_budget_is_uniform_and_unreachable_nodes_never_output():
    lat = np.array([41.88, 41.89, 41.90, 41.95])
    lon = np.array([-87.63, -87.63, -87.63, -87.60])
    net = RoadNetwork("two-parts", np.arange(4), lat, lon, np.array([0, 1]), np.array([1, 2]))
    cache = DistanceCache(net)
    row = cache.rows([0])[0]
    np.testing.assert_allclose(gem_probabilities(row, 0.0), [1 / 3, 1 / 3, 1 / 3, 0.0])
    draws = sample_gem(np.repeat(row[None], 3000, 0), 5.0, np.random.default_rng(0))
    assert set(draws.tolist()) <= {0, 1, 2}


def test_distance_cache_computes_each_source_once_and_matches_hand_distances():
    net = small_graph()
    cache = DistanceCache(net)
    rows = cache.rows([3, 1, 3])
    np.testing.assert_allclose(rows, floyd_warshall_km(net)[[3, 1, 3]], rtol=1e-12)
    assert (cache.misses, cache.hits, len(cache)) == (2, 0, 2)
    cache.rows([1, 6])
    assert (cache.misses, cache.hits) == (3, 1)
    small = DistanceCache(net, max_bytes=8 * net.n_nodes * 2)   # room for 2 rows: LRU eviction
    small.rows([0]), small.rows([1]), small.rows([2])
    assert len(small) == 2 and small.rows([0]).shape == (1, 7)


# --- PGEM -----------------------------------------------------------------------------------------

PROFILE = RiskProfile((0.5, 0.2), (20.0, 60.0), 100)


def _pgem(net, domains=None, radius_km=2.0, traj=((0, 1, 2),)):
    pop = population(net, [list(t) for t in traj])
    d = AdaptiveDefense(epsilon=4.0, radius_km=radius_km, domains=domains)
    d.start(DefenseContext(2, pop, roads=net, profile=PROFILE))
    return d, pop


def test_pgem_probabilities_equal_the_restricted_formula():
    net = small_graph()
    D = floyd_warshall_km(net)
    dom = np.array([0, 1, 2, 5])
    d, _ = _pgem(net, domains=[dom])
    for eps in (0.2, 1.0, 6.0):
        for x in dom:
            w = np.exp(-eps * D[x, dom] / 2)                       # Eq. 13: normaliser over C only
            np.testing.assert_allclose(d.probabilities(0, x, eps), w / w.sum(), rtol=1e-12, atol=0)


def test_pgem_empirical_frequencies_and_outputs_stay_in_the_domain():
    net = small_graph()
    dom = np.array([0, 1, 2, 5])
    d, pop = _pgem(net, domains=[dom])
    x = 1
    latlon = np.repeat([[net.lat[x], net.lon[x]]], N_SAMPLES, axis=0)
    out = d.mechanism(latlon, np.zeros(N_SAMPLES, dtype=int), 2.0, np.random.default_rng(9))
    node = net.nearest_node(out[:, 0], out[:, 1])
    assert set(np.unique(node).tolist()) <= set(dom.tolist())
    obs = np.array([(node == v).sum() for v in dom])
    assert stats.chisquare(obs, d.probabilities(0, x, 2.0) * N_SAMPLES).pvalue > ALPHA


def test_pgem_likelihood_ratios_bounded_over_domain_inputs_and_broken_caught():
    net = small_graph()
    D = floyd_warshall_km(net)
    dom = np.array([0, 1, 2, 3, 5])
    d, _ = _pgem(net, domains=[dom])
    for eps in (0.5, 3.0):
        assert geo_indistinguishable(lambda x: d.probabilities(0, x, eps), dom.tolist(), eps, D)
        broken = lambda x: gem_probabilities(D[x, dom], 2 * eps)
        assert not geo_indistinguishable(broken, dom.tolist(), eps, D)


def test_pgem_default_domain_is_nodes_within_radius_of_the_visited_nodes():
    net = small_graph()
    D = floyd_warshall_km(net)
    for r in (0.0, 0.5, 0.8, 1.5):
        d, _ = _pgem(net, radius_km=r, traj=((0, 1),))
        expected = np.flatnonzero(D[[0, 1]].min(0) <= r)
        np.testing.assert_array_equal(d.client_domains[0], expected)
    d.start(DefenseContext(2, population(net, [[6]]), roads=net, profile=PROFILE))  # recomputed
    np.testing.assert_array_equal(d.client_domains[0], np.flatnonzero(D[6] <= 1.5))


def test_location_defenses_need_roads_and_adaptive_needs_a_profile():
    net = small_graph()
    pop = population(net, [[0, 1, 2]])
    with pytest.raises(InputError, match="road network"):
        GeoGIDefense(epsilon=1.0).start(DefenseContext(2, pop))
    with pytest.raises(InputError, match="risk profile"):
        AdaptiveDefense(epsilon=1.0).start(DefenseContext(2, pop, roads=net))
    with pytest.raises(InputError, match="road network"):
        GeoIDefense(epsilon=1.0, snap=True).start(DefenseContext(2, pop))
    GeoIDefense(epsilon=1.0).start(DefenseContext(2, pop))     # Geo-I without snapping: no roads
    assert GeoGIDefense.needs == {"roads"} and AdaptiveDefense.needs == {"roads", "profile"}
    assert GeoIDefense(epsilon=1.0, snap=True).requirements() == {"roads"}


# --- scope: which ε each round's draws use, and what the run reports ----------------------------

def _line_population(n_points: int = 6) -> ClientPopulation:
    lat0, lon0 = 41.88, -87.63
    tr = Trajectory("u", np.arange(n_points) * 900, np.full(n_points, lat0),
                    np.full(n_points, lon0) + 1e-3 * np.arange(n_points))
    return ClientPopulation.from_trajectories([tr], Normalizer(BBox(41.6, 42.1, -87.9, -87.4)))


def _hook_offsets(d, pop, round_t: int, n: int, rng) -> np.ndarray:
    """(n, 2) [east, north] metres of the hook's output for the first window point of round t,
    each row a separate upload of client 0."""
    clients = np.zeros(n, dtype=int)
    x, y = pop.round_batch(clients, round_t, 1, 1)
    xo, _ = d.perturb_inputs(round_t, clients, x.double(), y.double(), rng)
    ll = pop.normalizer.denormalize(xo[:, 0, 0].numpy().astype(np.float64))
    true = pop.latlon[0][round_t - 1]
    dist = haversine(true[0], true[1], ll[:, 0], ll[:, 1])
    ang = np.arctan2(ll[:, 0] - true[0], (ll[:, 1] - true[1]) * np.cos(np.radians(true[0])))
    return np.stack([dist * np.cos(ang), dist * np.sin(ang)], 1)


@pytest.mark.parametrize("scope,eps,wrong", [("round", 2.0, 0.5), ("total", 8.0, 8.0)])
def test_geoi_draws_at_the_scopes_per_round_epsilon(scope, eps, wrong):
    """ε_t = ε per round (scope round) or ε/T (scope total): the displacement law at round 3 is
    the planar Laplace at 2 per km in both cases, and the other reading's ε is rejected."""
    pop = _line_population()
    d = GeoIDefense(epsilon=eps, clip=False, scope=scope)
    d.start(DefenseContext(4, pop))
    assert d.allocation == pytest.approx([2.0] * 4, rel=1e-12)
    sampler = lambda e, n, rng: _hook_offsets(d, pop, 3, n, rng)  # noqa: E731 (ignores e)
    assert planar_laplace_ok(sampler, 2.0)
    assert not planar_laplace_ok(sampler, wrong)


@pytest.mark.parametrize("cls", [GeoIDefense, GeoGIDefense])
def test_uniform_mechanisms_report_allocation_spent_and_total_per_scope(cls):
    net = small_graph()
    pop = population(net, [[0, 1, 2, 3, 4]])
    eps, T = 3.0, 4
    r = cls(epsilon=eps, scope="round")
    r.start(DefenseContext(T, pop, roads=net))
    assert r.allocation == [eps] * T
    assert [r.spent(t) for t in range(T + 1)] == [t * eps for t in range(T + 1)]
    assert r.epsilon_total == T * eps
    t_ = cls(epsilon=eps)                                            # default scope: total
    t_.start(DefenseContext(T, pop, roads=net))
    assert t_.scope == "total" and t_.allocation == pytest.approx([eps / T] * T, rel=1e-12)
    assert t_.epsilon_total == pytest.approx(eps, rel=1e-12) and t_.epsilon_total <= eps


def test_adaptive_round_scope_spreads_T_eps_by_algorithm_2():
    net = small_graph()
    pop = population(net, [[0, 1, 2]])
    eps, T = 4.0, 2
    r = AdaptiveDefense(epsilon=eps, scope="round")
    r.start(DefenseContext(T, pop, roads=net, profile=PROFILE))
    assert r.allocation == adaptive_allocation(T * eps, PROFILE, T)
    assert np.mean(r.allocation) == pytest.approx(eps, rel=1e-12)   # comparable with uniform at ε
    assert r.allocation[0] < eps < r.allocation[1]                  # round 1 is riskier in PROFILE
    assert r.epsilon_total == pytest.approx(T * eps, rel=1e-12)
    t_ = AdaptiveDefense(epsilon=eps, scope="total")
    t_.start(DefenseContext(T, pop, roads=net, profile=PROFILE))
    assert t_.allocation == adaptive_allocation(eps, PROFILE, T)
    assert t_.epsilon_total <= eps
    assert r.allocation == pytest.approx([T * a for a in t_.allocation], rel=1e-12)


# --- reuse: a point perturbed once pays once -----------------------------------------------------

def _feed(d, pop, rounds: int, window: int = 1, batch: int = 1, reuse_idx: bool = True, seed=0):
    """Streaming rounds 1..rounds for client 0; returns per round {point index: released [lat, lon]}
    and checks that copies of one point within a round are identical."""
    rng = np.random.default_rng(seed)
    out = []
    for t in range(1, rounds + 1):
        idx = (t - 1 + np.arange(batch))[:, None] + np.arange(window + 1)[None, :]  # (B, W+1)
        seq = torch.as_tensor(pop.points[0][idx][None], dtype=torch.float64)      # (1, B, W+1, 2)
        xo, yo = d.perturb_inputs(t, np.array([0]), seq[:, :, :window], seq[:, :, window], rng,
                                  point_idx=idx if reuse_idx else None)
        z = torch.cat([xo, yo[:, :, None]], 2)[0].numpy().reshape(-1, 2)
        ll = pop.normalizer.denormalize(z)
        released: dict[int, np.ndarray] = {}
        for i, p in zip(idx.reshape(-1).tolist(), ll):
            if i in released:
                np.testing.assert_array_equal(released[i], p)      # one noisy copy per round
            released[i] = p
        out.append(released)
    return out


@pytest.mark.parametrize("cls", [GeoIDefense, GeoGIDefense])
def test_reuse_feeds_the_same_noisy_point_and_pays_once(cls):
    net = small_graph()
    pop = population(net, [[0, 1, 2, 3, 4, 5, 6]])
    ctx = DefenseContext(4, pop, roads=net)
    reuse = cls(epsilon=0.5, scope="round", reuse=True)
    reuse.start(ctx)
    rel = _feed(reuse, pop, 4, window=2, batch=2)
    for t in range(1, 4):
        for i in set(rel[t]) & set(rel[t - 1]):                     # points seen in round t-1 too
            np.testing.assert_array_equal(rel[t][i], rel[t - 1][i])
    assert reuse.epsilon_per_point == 0.5                          # every point paid ε once
    fresh = cls(epsilon=0.5, scope="round")
    fresh.start(ctx)
    rel = _feed(fresh, pop, 4, window=2, batch=2)
    changed = [not np.array_equal(rel[1][i], rel[0][i]) for i in set(rel[1]) & set(rel[0])]
    assert any(changed)                                            # drawn afresh each round
    # point 3 is fed in rounds 1..4 (W + B = 4 rounds): it pays 4·ε
    assert fresh.epsilon_per_point == pytest.approx(4 * 0.5)
    assert reuse.epsilon_total == fresh.epsilon_total == 4 * 0.5   # per-user Σ_t ε_t either way


def test_reuse_is_forgotten_on_restart_and_needs_point_indices():
    pop = _line_population()
    d = GeoIDefense(epsilon=1.0, scope="round", reuse=True, clip=False)
    d.start(DefenseContext(3, pop))
    first = _feed(d, pop, 1, seed=1)[0]
    d.start(DefenseContext(3, pop))
    again = _feed(d, pop, 1, seed=2)[0]
    assert not np.array_equal(first[0], again[0])
    with pytest.raises(InputError, match="point_idx"):
        _feed(d, pop, 1, reuse_idx=False)
    x, y = pop.round_batch(np.array([0]), 1, 1, 1)
    with pytest.raises(InputError, match="shape"):
        d.perturb_inputs(1, np.array([0]), x, y, np.random.default_rng(0),
                         point_idx=np.array([[0, 1, 2]]))
    plain = GeoIDefense(epsilon=1.0)
    plain.start(DefenseContext(3, pop))
    _feed(plain, pop, 2, reuse_idx=False)                          # no indices: fine, untracked
    assert plain.epsilon_per_point is None


# --- life cycle -------------------------------------------------------------------------------------

def test_no_defense_works_unstarted_and_claims_nothing():
    d = ClientDefense()
    x, y = torch.zeros(2, 1, 1, 2), torch.zeros(2, 1, 2)
    assert d.perturb_inputs(1, np.arange(2), x, y, np.random.default_rng(0)) == (x, y)
    up = {"w": torch.ones(2, 3)}
    assert d.privatize(1, up, torch.Generator()) is up
    assert d.spent(5) == 0.0 and d.epsilon_total == float("inf") and d.allocation == []


def test_location_defense_must_be_started_for_the_round():
    pop = _line_population()
    d = GeoIDefense(epsilon=1.0)
    x, y = pop.round_batch(np.array([0]), 1, 1, 1)
    with pytest.raises(RuntimeError, match="not been started"):
        d.perturb_inputs(1, np.array([0]), x, y, np.random.default_rng(0))
    d.start(DefenseContext(2, pop))
    with pytest.raises(InputError, match="round 3"):
        d.perturb_inputs(3, np.array([0]), x, y, np.random.default_rng(0))


def test_context_is_frozen_validated_and_its_distance_cache_is_shared():
    import dataclasses

    net = small_graph()
    pop = population(net, [[0, 1, 2]])
    cache = DistanceCache(net)
    ctx = DefenseContext(2, pop, roads=net, distances=cache)
    with pytest.raises(dataclasses.FrozenInstanceError):
        ctx.rounds = 3
    d = GeoGIDefense(epsilon=1.0)
    d.start(ctx)
    assert d.distances is cache and d.roads is net
    with pytest.raises(InputError, match="different road network"):
        DefenseContext(2, pop, roads=small_graph(), distances=cache)
    with pytest.raises(InputError):
        DefenseContext(0, pop)
