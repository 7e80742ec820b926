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
from core.data.trajectory import BBox, Trajectory
from core.defenses.location import AdaptiveDefense, GeoGIDefense, GeoIDefense
from core.defenses.mechanisms import (DistanceCache, gem_probabilities, planar_laplace_offsets,
                                      planar_laplace_radius, sample_gem)
from core.defenses.budget import RiskProfile
from core.errors import InputError
from core.federated.clients import ClientPopulation
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
    d.start(rounds, pop)
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
    d = GeoIDefense(epsilon=0.5, roads=net, snap=True)          # ε_t = 0.125: km-scale noise
    d.start(2, pop)
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
    d = GeoGIDefense(epsilon=eps * rounds, roads=net)
    d.start(rounds, pop)
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
    d = AdaptiveDefense(epsilon=4.0, roads=net, profile=PROFILE, radius_km=radius_km,
                        domains=domains)
    d.start(2, pop)
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
    d.start(2, population(net, [[6]]))                          # a reused instance recomputes
    np.testing.assert_array_equal(d.client_domains[0], np.flatnonzero(D[6] <= 1.5))


def test_location_defenses_need_roads_and_adaptive_needs_a_profile():
    net = small_graph()
    pop = population(net, [[0, 1, 2]])
    with pytest.raises(InputError, match="road network"):
        GeoGIDefense(epsilon=1.0).start(2, pop)
    with pytest.raises(InputError, match="risk profile"):
        AdaptiveDefense(epsilon=1.0, roads=net).start(2, pop)
    GeoIDefense(epsilon=1.0).start(2, pop)                     # Geo-I without snapping: no roads
