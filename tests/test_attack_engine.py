"""The batched gradient-matching engine and ST-GIA's components on a tiny world."""
from dataclasses import replace

import numpy as np
import torch

from attack_fixtures import grid_network, population_on
from core.attacks import registry
from core.attacks.analytic import classification_label, regression_target
from core.attacks.calibration import Calibrator
from core.attacks.engine import Problem, invert
from core.attacks.mapping import COVER_M, ON_ROAD_M, Mapper
from core.attacks.session import AttackSession
from core.federated.rounds import FedConfig, run_rounds
from core.geo.distance import LocalProjection
from core.models.recurrent import ModelSpec, init_params, per_client_grads


def _session(spec, pop, net, model, window=1, iters=200, seed=0, mapper=True):
    m = Mapper(pop.normalizer, net, None) if mapper else None
    return AttackSession(spec, model, pop.normalizer, pop.n_clients, 20, window, iters, seed, m)


def test_st_gia_plus_recovers_a_single_window_within_metres():
    net = grid_network()
    pop, model = population_on(net, n_clients=1), ModelSpec()
    rec = next(run_rounds(pop, model, FedConfig(rounds=1, window=1)))
    ra = _session(registry.get("st-gia+"), pop, net, model).attack_round(rec)
    assert ra.errors_m.max() < 5.0, ra.errors_m


def test_paper_st_gia_recovers_a_single_window():
    net = grid_network()
    pop, model = population_on(net, n_clients=4, seed=3), ModelSpec()
    rec = next(run_rounds(pop, model, FedConfig(rounds=1, window=1)))
    ra = _session(registry.get("st-gia"), pop, net, model, iters=300).attack_round(rec)
    assert ra.asr >= 0.75, ra.errors_m


def test_mapping_puts_every_covered_dummy_on_the_network_and_leaves_the_rest():
    net = grid_network()
    pop, model = population_on(net, n_clients=3), ModelSpec()
    rec = next(run_rounds(pop, model, FedConfig(rounds=1, window=2)))
    mapper = Mapper(pop.normalizer, net, None)
    proj = LocalProjection(*net.bbox.center)
    ax, ay = proj.to_xy(net.lat[net.edge_u], net.lon[net.edge_u])
    bx, by = proj.to_xy(net.lat[net.edge_v], net.lon[net.edge_v])
    worst, far = [], []

    def monitor(i, x, y, rows):
        ll = pop.normalizer.denormalize(x.detach().numpy().reshape(-1, 2).astype(np.float64))
        px, py = proj.to_xy(ll[:, 0], ll[:, 1])
        dx, dy = bx - ax, by - ay
        t = np.clip(((px[:, None] - ax) * dx + (py[:, None] - ay) * dy) / (dx * dx + dy * dy), 0, 1)
        d = np.hypot(ax + t * dx - px[:, None], ay + t * dy - py[:, None]).min(1)
        worst.append(d[d < COVER_M].max(initial=0.0))  # covered dummies: on the network
        far.append(int((d >= COVER_M).sum()))

    spec = registry.get("st-gia")
    prob = Problem(rec.params, rec.uploads, torch.randn(3, 1, 2, 2), torch.randn(3, 1, 2),
                   torch.zeros(3, 1, 2, dtype=torch.bool), False)
    invert(spec, model, prob, 20, mapper, monitor)
    assert len(worst) == 20 and max(worst) <= ON_ROAD_M + 0.5  # metres (float32 coordinates)
    assert sum(far) > 0  # N(0, 1) dummies start far outside the grid: some stay outside


def test_mapper_moves_only_points_off_the_streets_inside_the_road_data():
    net = grid_network(n=6)
    pop = population_on(net, n_clients=2)
    mapper = Mapper(pop.normalizer, net, None)
    proj = LocalProjection(*pop.normalizer.bbox.center)
    rng = np.random.default_rng(5)
    z = rng.normal(0.5, 1.0, size=(400, 2))
    on_road = np.stack(net.snap(*pop.normalizer.denormalize(z[:20]).T), 1) + 1e-4  # ~10 m off
    z = np.concatenate([z, pop.normalizer.normalize(on_road)])
    ll = pop.normalizer.denormalize(z)
    rlat, rlon = net.snap(ll[:, 0], ll[:, 1])
    px, py = proj.to_xy(ll[:, 0], ll[:, 1])
    rx, ry = proj.to_xy(rlat, rlon)
    d = np.hypot(rx - px, ry - py)
    snapped = (d > ON_ROAD_M) & (d <= COVER_M)      # off the streets, inside the road data
    got = pop.normalizer.denormalize(mapper(z))
    assert snapped.sum() > 0 and (d <= ON_ROAD_M).sum() > 0 and (d > COVER_M).sum() > 0
    np.testing.assert_allclose(got[snapped], np.stack([rlat, rlon], 1)[snapped], atol=1e-9)
    np.testing.assert_allclose(got[~snapped], ll[~snapped], atol=1e-9)


class _SnapOnly:
    """A road network seen only through `snap` and `bbox`: forces the mapper's general path."""

    def __init__(self, net):
        self.snap, self.bbox = net.snap, net.bbox


def test_mapper_fast_path_moves_the_same_points_as_the_general_path():
    net = grid_network(n=6)
    pop = population_on(net, n_clients=2)
    fast, general = Mapper(pop.normalizer, net, None), Mapper(pop.normalizer, _SnapOnly(net), None)
    assert fast._band is not None and general._band is None
    z = np.random.default_rng(7).normal(0.5, 1.0, size=(2000, 2))
    a, b = fast(z), general(z)
    moved_a, moved_b = np.any(a != z, axis=1), np.any(np.abs(b - z) > 1e-9, axis=1)
    assert moved_a.sum() > 100 and (~moved_a).sum() > 100
    np.testing.assert_array_equal(moved_a, moved_b)
    np.testing.assert_allclose(a, b, atol=1e-9)


def test_calibration_averages_exactly_the_recoveries_of_each_point():
    cal = Calibrator(n_clients=2, n_points=5)
    cal.add(np.array([0, 1]), np.array([1, 2]), np.array([[[1, 1], [2, 2]], [[5, 5], [7, 7]]], float))
    cal.add(np.array([0]), np.array([2, 3]), np.array([[[4, 6], [9, 9]]], float))
    est = cal.estimate(np.array([0, 1]), np.array([1, 2, 3]))
    assert np.allclose(est[0], [[1, 1], [3, 4], [9, 9]])
    assert np.allclose(est[1, :2], [[5, 5], [7, 7]])


def test_label_inference_is_exact_on_both_heads():
    gen = torch.Generator().manual_seed(0)
    reg = ModelSpec()
    p = init_params(reg, gen)
    x, y = torch.rand(5, 1, 3, 2, generator=gen), torch.rand(5, 1, 2, generator=gen)
    y_hat = regression_target(p, per_client_grads(p, x, y, reg))
    assert torch.allclose(y_hat, y[:, 0], atol=1e-5)
    cls = ModelSpec(head="classification", n_classes=11)
    pc = init_params(cls, gen)
    lab = torch.randint(0, 11, (5, 1), generator=gen)
    assert torch.equal(classification_label(per_client_grads(pc, x, lab, cls)), lab[:, 0])


def test_chained_windows_need_no_iterations_after_round_w():
    net = grid_network()
    pop, model = population_on(net, n_clients=2, n_points=12), ModelSpec()
    sess = _session(registry.get("st-gia+"), pop, net, model, window=2, iters=30)
    results = [sess.attack_round(r) for r in run_rounds(pop, model, FedConfig(rounds=4, window=2))]
    # from round W+1 on, every window point was an earlier round's exact target
    assert results[-1].errors_m.max() < 1.0
    assert (results[-1].first_hit == 0).all()


def test_same_seed_same_result_different_seed_differs():
    net = grid_network()
    pop, model = population_on(net, n_clients=3), ModelSpec()
    spec = replace(registry.get("st-gia"), mapping=False)
    rec = next(run_rounds(pop, model, FedConfig(rounds=1, window=1)))
    a = _session(spec, pop, net, model, iters=20, seed=1).attack_round(rec).raw_latlon
    b = _session(spec, pop, net, model, iters=20, seed=1).attack_round(rec).raw_latlon
    c = _session(spec, pop, net, model, iters=20, seed=2).attack_round(rec).raw_latlon
    assert np.array_equal(a, b) and not np.array_equal(a, c)


def test_unknown_attack_lists_known_names():
    try:
        registry.get("nope")
    except ValueError as exc:
        assert "st-gia" in str(exc) and "dlg" in str(exc)
    else:
        raise AssertionError("unknown attack accepted")


def test_retro_pass_pins_down_round_one_after_round_w():
    from core.experiments.runner import final_scores
    net = grid_network()
    pop, model = population_on(net, n_clients=2, n_points=12, seed=4), ModelSpec()
    sess = _session(registry.get("st-gia+"), pop, net, model, window=3, iters=150)
    rounds = [sess.attack_round(r) for r in run_rounds(pop, model, FedConfig(rounds=4, window=3))]
    # after round W the first window's points were re-solved one unknown at a time
    assert sess.records and max(sess.records) == 4
    assert final_scores(sess, rounds[0])["asr_final"] == 1.0
    assert final_scores(sess, rounds[0])["median_error_final_m"] < 50.0


def test_mapper_returns_the_nearer_of_road_point_and_venue():
    net = grid_network(n=6)
    pop = population_on(net, n_clients=2)
    rng = np.random.default_rng(3)
    venues = np.stack([rng.uniform(40.74, 40.77, 40), rng.uniform(-74.0, -73.97, 40)], 1)
    mapper = Mapper(pop.normalizer, net, venues)
    z = rng.normal(0.5, 1.0, size=(500, 2))  # many points far outside the network
    got = pop.normalizer.denormalize(mapper(z))
    ll = pop.normalizer.denormalize(z)
    proj = LocalProjection(*pop.normalizer.bbox.center)
    px, py = proj.to_xy(ll[:, 0], ll[:, 1])
    rlat, rlon = net.snap(ll[:, 0], ll[:, 1])
    rx, ry = proj.to_xy(rlat, rlon)
    vx, vy = proj.to_xy(venues[:, 0], venues[:, 1])
    dv = np.hypot(vx[None] - px[:, None], vy[None] - py[:, None])
    want = np.where((np.hypot(rx - px, ry - py) < dv.min(1))[:, None],
                    np.stack([rlat, rlon], 1), venues[dv.argmin(1)])
    assert np.allclose(got, want, atol=1e-9)
