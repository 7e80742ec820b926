"""Issue 11's attack parts on a tiny world: the relative residual, the residual-aware
calibration, the initialisation gate, Levenberg–Marquardt windows and the label override."""
from dataclasses import replace

import numpy as np
import pytest
import torch

from attack_fixtures import grid_network, population_on
from core.attacks import registry
from core.attacks.analytic import regression_target
from core.attacks.calibration import Calibrator
from core.attacks.engine import Problem, invert
from core.attacks.levenberg import invert_lm
from core.attacks.residual import relative_residual
from core.attacks.session import AttackSession
from core.errors import ParameterError
from core.federated.rounds import FedConfig, run_rounds
from core.models.recurrent import ModelSpec


def _round(window: int, n_clients: int = 6, seed: int = 1):
    net = grid_network()
    pop, model = population_on(net, n_clients=n_clients, seed=seed), ModelSpec()
    rec = next(run_rounds(pop, model, FedConfig(rounds=1, window=window)))
    return net, pop, model, rec


def test_relative_residual_is_zero_at_the_truth_and_grows_away_from_it():
    _, _, model, rec = _round(window=3)
    y = rec.y_true[:, :, None, :].squeeze(2)
    at_truth = relative_residual(rec.params, rec.x_true, y, rec.uploads, model)
    off = relative_residual(rec.params, rec.x_true + 0.05, y, rec.uploads, model)
    assert at_truth.max() < 1e-8
    assert (off > 1e3 * at_truth.clamp_min(1e-12)).all()


def test_mean_calibration_is_eq_9():
    cal = Calibrator(1, 3, "mean")
    cal.add(np.array([0]), np.array([0, 1]), np.array([[[0.0, 0.0], [1.0, 1.0]]]), np.array([5.0]))
    cal.add(np.array([0]), np.array([1, 2]), np.array([[[3.0, 3.0], [2.0, 2.0]]]), np.array([0.1]))
    est = cal.estimate(np.array([0]), np.array([0, 1, 2]))[0]
    np.testing.assert_allclose(est, [[0, 0], [2, 2], [2, 2]])


def test_residual_calibration_keeps_the_best_matching_recovery_and_averages_ties():
    cal = Calibrator(1, 2, "residual")
    z = lambda a, b: np.array([[[a, a], [b, b]]])  # noqa: E731
    cal.add(np.array([0]), np.array([0, 1]), z(1.0, 1.0), np.array([1e-3]))
    cal.add(np.array([0]), np.array([0, 1]), z(5.0, 5.0), np.array([1e-2]))   # worse: ignored
    np.testing.assert_allclose(cal.estimate(np.array([0]), np.array([0, 1]))[0], [[1, 1], [1, 1]])
    cal.add(np.array([0]), np.array([0, 1]), z(3.0, 3.0), np.array([1e-3]))   # tie: averaged
    cal.add(np.array([0]), np.array([1]), np.array([[[9.0, 9.0]]]), np.array([1e-6]))  # better
    np.testing.assert_allclose(cal.estimate(np.array([0]), np.array([0, 1]))[0], [[2, 2], [9, 9]])


def test_converged_calibration_keeps_a_good_estimate_that_the_mean_and_residual_rules_lose():
    # The NYC case: a point's first recovery (a round's target) is right although its upload
    # was not matched; the next upload is not matched either, has a smaller residual, and
    # puts the point 2 units away. Eq. 9 moves the estimate halfway, `residual` replaces it;
    # `converged` keeps it, as an unmatched upload is no evidence against it.
    pt, good, bad = np.array([0]), np.array([[[1.0, 1.0]]]), np.array([[[3.0, 3.0]]])
    est = {}
    for mode in ("mean", "residual", "converged"):
        cal = Calibrator(1, 1, mode)
        cal.add(np.array([0]), pt, good, np.array([1e-3]))
        cal.add(np.array([0]), pt, bad, np.array([1e-5]))
        est[mode] = cal.estimate(np.array([0]), pt)[0, 0]
    np.testing.assert_allclose(est["mean"], [2, 2])
    np.testing.assert_allclose(est["residual"], [3, 3])
    np.testing.assert_allclose(est["converged"], [1, 1])


def test_converged_calibration_replaces_with_and_averages_only_matched_recoveries():
    cal = Calibrator(1, 3, "converged")
    z = lambda *v: np.array([[[a, a] for a in v]])  # noqa: E731
    pts = np.array([0, 1, 2])
    cal.add(np.array([0]), pts[:2], z(1.0, 1.0), np.array([1e-3]))  # first: kept, unmatched
    cal.add(np.array([0]), pts[1:], z(5.0, 5.0), np.array([1e-6]))  # matched (= CONVERGED)
    np.testing.assert_allclose(cal.estimate(np.array([0]), pts)[0], [[1, 1], [5, 5], [5, 5]])
    cal.add(np.array([0]), pts[1:], z(7.0, 7.0), np.array([1e-6]))  # matched tie: averaged
    cal.add(np.array([0]), pts[1:], z(9.0, 9.0), np.array([2e-6]))  # worse: ignored
    np.testing.assert_allclose(cal.estimate(np.array([0]), pts)[0], [[1, 1], [6, 6], [6, 6]])
    cal.add(np.array([0]), pts[:1], z(4.0), np.array([1e-8]))       # matched and better
    np.testing.assert_allclose(cal.estimate(np.array([0]), pts)[0], [[4, 4], [6, 6], [6, 6]])


def test_st_gia_calibrates_by_converged_recoveries_and_every_rule_is_a_choice():
    from core.experiments.config import CALIBRATION_MODES
    assert registry.get("st-gia").calibrate == "converged"
    assert registry.get("st-gia+").calibrate == "residual"
    assert CALIBRATION_MODES == ("own", "mean", "residual", "converged")
    assert registry.get("st-gia").with_calibration("mean").calibrate == "mean"


def test_calibration_mode_is_validated():
    with pytest.raises(ValueError, match="calibration mode"):
        Calibrator(1, 1, "median")
    with pytest.raises(ParameterError, match="calibrate"):
        replace(registry.get("st-gia"), calibrate="median")


def test_levenberg_marquardt_recovers_a_window_that_adam_does_not_in_the_same_budget():
    _, _, model, rec = _round(window=4, n_clients=6)
    K = len(rec.clients)
    y = regression_target(rec.params, rec.uploads)[:, None, :]
    x0 = y[:, :, None, :].expand(K, 1, 4, 2).clone()     # every point starts at the target
    prob = Problem(rec.params, rec.uploads, x0, y, torch.zeros(K, 1, 4, dtype=torch.bool), True)
    spec = registry.get("st-gia+")
    x_lm, _, loss = invert_lm(spec, model, prob, 200)
    x_adam, _, _ = invert(replace(spec, optimizer="adam"), model, prob, 200)
    err_lm = (x_lm - rec.x_true).norm(dim=-1)
    err_adam = (x_adam - rec.x_true).norm(dim=-1)
    assert err_lm.median() < 1e-4 and loss.median() < 1e-10
    assert err_lm.median() < err_adam.median()


def test_levenberg_marquardt_keeps_known_points_and_refuses_a_joint_label():
    _, _, model, rec = _round(window=3, n_clients=3)
    K = len(rec.clients)
    y = regression_target(rec.params, rec.uploads)[:, None, :]
    known = torch.zeros(K, 1, 3, dtype=torch.bool)
    known[:, :, 0] = True
    x0 = y[:, :, None, :].expand(K, 1, 3, 2).clone()
    x0[:, :, 0] = rec.x_true[:, :, 0]
    x, _, _ = invert_lm(registry.get("st-gia+"), model,
                        Problem(rec.params, rec.uploads, x0, y, known, True), 120)
    assert torch.equal(x[:, :, 0], rec.x_true[:, :, 0])
    with pytest.raises(ValueError, match="label known"):
        invert_lm(registry.get("st-gia+"), model,
                  Problem(rec.params, rec.uploads, x0, y, known, False), 10)


def test_the_initialisation_gate_drops_a_badly_matched_previous_reconstruction():
    net, pop, model, rec = _round(window=1, n_clients=2)
    spec = replace(registry.get("st-gia"), init_gate=1e-5)
    sess = AttackSession(spec, model, pop.normalizer, pop.n_clients, 20, 1, 10, 0)
    rec2 = replace(rec, round=2, starts=rec.starts + 1)
    good = np.full((1, 2, 2), 0.25)
    sess.prev = {int(rec.clients[0]): (1, rec.starts, good, 1e-8),
                 int(rec.clients[1]): (1, rec.starts, good, 1e-2)}
    x0 = sess._x0(rec2, None)
    assert torch.allclose(x0[0, 0], torch.full((1, 2), 0.25))      # trusted: slid by one point
    assert not torch.allclose(x0[1, 0], torch.full((1, 2), 0.25))  # gated: random start
    ungated = AttackSession(replace(spec, init_gate=None), model, pop.normalizer, pop.n_clients,
                            20, 1, 10, 0)
    ungated.prev = sess.prev
    assert torch.allclose(ungated._x0(rec2, None)[1, 0], torch.full((1, 2), 0.25))


def test_label_override_names_what_ran():
    dlg = registry.get("dlg")
    assert dlg.with_label("own") is dlg
    a = dlg.with_label("analytic")
    assert a.label == "analytic" and a.name == "dlg:analytic"
    with pytest.raises(ParameterError, match="label"):
        dlg.with_label("both")
