"""The five baseline attacks (paper Table 1, DESIGN.md §3) and ST-GIA on one shared tiny fixture.

- every registered recipe runs through the one engine and returns reconstructions of the right
  shape: inside the bbox for attacks with mapping or a box constraint, finite for the others;
- the recipes are the paper's (distance, initialisation, label, extra);
- DLG recovers a single window on a tiny model to within a few metres;
- iDLG's analytic label is exact for both heads;
- SAPAG's Gaussian-kernel distance and InvGrad's cosine distance equal hand-computed values.
"""
import dataclasses
import math

import numpy as np
import pytest
import torch

from core.attacks import registry
from core.attacks.analytic import classification_label, regression_target
from core.attacks.distances import cosine, gaussian_kernel, l2_squared
from core.attacks.engine import Problem, invert
from core.data.trajectory import Trajectory, TrajectoryDataset
from core.experiments import runner
from core.experiments.config import RunConfig
from core.experiments.setup import prepare
from core.models.recurrent import ModelSpec, init_params, per_client_grads

BASELINES = ("dlg", "idlg", "invgrad", "cpl", "sapag")
ROUNDS, WINDOW, CLIENTS = 2, 2, 4
# ~2.2 km × 2.6 km around Chicago's Loop; bbox widths in metres, for error conversion
LAT0, LON0, SPAN = 41.87, -87.65, 0.02


def tiny_dataset(n_users: int = 5, n_points: int = 10, seed: int = 0) -> TrajectoryDataset:
    """A handful of synthetic trajectories over 30 venues, one point every 15 minutes."""
    rng = np.random.default_rng(seed)
    venues = np.stack([LAT0 + SPAN * rng.random(30), LON0 + SPAN * rng.random(30)], 1)
    trs = []
    for u in range(n_users):
        v = venues[rng.integers(0, len(venues), n_points)]
        t = 1_700_000_000 + 900 * np.arange(n_points, dtype=np.int64)
        trs.append(Trajectory(f"u{u}", t, v[:, 0].copy(), v[:, 1].copy()))
    return TrajectoryDataset.build("tiny", trs)


@pytest.fixture(scope="module")
def shared_run():
    """One tiny federated run (4 clients, 2 rounds, window 2) attacked by every registered attack."""
    cfg = RunConfig.build(dataset="tiny", clients=CLIENTS, rounds=ROUNDS, window=WINDOW, iters=5, hidden=8)
    prep = prepare(cfg, raw=tiny_dataset())
    specs = {n: registry.get(n) for n in registry.names()}
    return prep, runner.run(prep, specs)


def test_every_attack_returns_reconstructions_of_the_right_shape(shared_run):
    prep, result = shared_run
    bb = prep.normalizer.bbox
    tol = 1e-6  # degrees; float32 round-off of normalised coordinates
    assert set(result.attacks) == set(registry.names()) >= set(BASELINES) | {"st-gia"}
    for name, rounds in result.attacks.items():
        spec = registry.get(name)
        assert [ra.round for ra in rounds] == list(range(1, ROUNDS + 1)), name
        for ra in rounds:
            for arr in (ra.raw_latlon, ra.est_latlon):
                assert arr.shape == (CLIENTS, WINDOW + 1, 2), name
                assert np.isfinite(arr).all(), name
            assert ra.errors_m.shape == (CLIENTS, WINDOW + 1)
            assert 0.0 <= ra.asr <= 1.0 and 0.0 <= ra.ait <= 5
            if spec.mapping or spec.box:
                for arr in (ra.raw_latlon, ra.est_latlon):
                    assert (arr[..., 0] >= bb.lat_min - tol).all(), name
                    assert (arr[..., 0] <= bb.lat_max + tol).all(), name
                    assert (arr[..., 1] >= bb.lon_min - tol).all(), name
                    assert (arr[..., 1] <= bb.lon_max + tol).all(), name
            if spec.mapping:  # mapped window points lie on the prior (venues here: no roads)
                mapper = prep.mapper()
                z = prep.normalizer.normalize(ra.raw_latlon[:, :WINDOW].reshape(-1, 2))
                assert np.allclose(mapper(z), z, atol=1e-6), name


def test_analytic_label_attacks_recover_the_target_exactly(shared_run):
    """iDLG, InvGrad and CPL infer the label: the reconstructed target is the true one."""
    _, result = shared_run
    for name in ("idlg", "invgrad", "cpl"):
        for ra in result.attacks[name]:
            assert ra.errors_m[:, -1].max() < 0.05, name  # metres


@pytest.mark.parametrize("name, distance, init, label, extra", [
    ("dlg", "l2", "gaussian", "joint", {}),
    ("idlg", "l2", "uniform", "analytic", {}),
    ("invgrad", "cosine", "gaussian", "analytic",
     {"regularizer": "tv", "optimizer": "signed-adam", "box": True}),
    ("cpl", "l2", "geometric", "analytic", {"regularizer": "cpl"}),
    ("sapag", "gaussian", "constant", "joint", {}),
])
def test_recipes_follow_table_1(name, distance, init, label, extra):
    spec = registry.get(name)
    assert (spec.distance, spec.init, spec.label) == (distance, init, label)
    for field, value in extra.items():
        assert getattr(spec, field) == value, (name, field)
    # baselines have none of ST-GIA's components and no enhancement
    assert not (spec.previous or spec.mapping or spec.calibration or spec.chain)
    assert spec.restarts == 1
    assert spec.reg_weight > 0 if spec.regularizer else spec.reg_weight == 0


def test_dlg_recovers_a_single_window_within_metres():
    """W = 1, one client, label optimised jointly from N(0, 1): DLG finds window and target."""
    model = ModelSpec(hidden=8)
    g = torch.Generator().manual_seed(3)
    params = init_params(model, g)
    x, y = torch.rand(1, 1, 1, 2, generator=g), torch.rand(1, 1, 2, generator=g)
    uploads = per_client_grads(params, x, y, model)
    prob = Problem(params, uploads, torch.randn(1, 1, 1, 2, generator=g),
                   torch.randn(1, 1, 2, generator=g), torch.zeros(1, 1, 1, dtype=torch.bool), False)
    spec = dataclasses.replace(registry.get("dlg"), lr=0.3)
    xr, yr, _ = invert(spec, model, prob, iters=300)
    m_per_unit = 7_000.0  # a 7 km bbox, as the demo city's
    assert (xr - x).abs().max().item() * m_per_unit < 5.0
    assert (yr - y).abs().max().item() * m_per_unit < 5.0


def test_idlg_label_is_exact_for_both_heads():
    g = torch.Generator().manual_seed(0)
    # regression head: the closed-form target equals the true target
    reg = ModelSpec(hidden=16)
    params = init_params(reg, g)
    x, y = torch.rand(6, 1, 3, 2, generator=g), torch.rand(6, 1, 2, generator=g)
    got = regression_target(params, per_client_grads(params, x, y, reg))
    assert torch.allclose(got, y[:, 0], atol=1e-5)
    # classification head: the negative entry of the output-bias gradient is the true class
    cls = ModelSpec(hidden=16, head="classification", n_classes=11)
    params = init_params(cls, g)
    labels = torch.randint(0, 11, (6, 1), generator=g)
    got = classification_label(per_client_grads(params, x, labels, cls))
    assert torch.equal(got, labels[:, 0])


def _grads(a, b):
    return {"a": torch.tensor(a, dtype=torch.float64), "b": torch.tensor(b, dtype=torch.float64)}


def test_gaussian_kernel_and_cosine_match_hand_computed_values():
    true = _grads([[1.0, 2.0], [0.0, 1.0]], [[0.0, 0.0, 3.0], [1.0, 1.0, 1.0]])
    dummy = _grads([[1.0, 3.0], [0.0, 1.0]], [[0.0, 0.0, 0.0], [2.0, 1.0, 1.0]])
    # SAPAG: Σ_l w_l (1 − exp(−‖Δ_l‖² / σ_l)), w ∝ 1/(l+1) → (2/3, 1/3), σ_l = n_l·Var(∇w_l)
    # row 0: σ_a = 2·0.25 = 0.5, ‖Δ_a‖² = 1; σ_b = 3·2 = 6, ‖Δ_b‖² = 9
    # row 1: Δ_a = 0; σ_b = 3·0 → clamped to 1e-12, ‖Δ_b‖² = 1 → term 1
    want0 = 2 / 3 * (1 - math.exp(-1 / 0.5)) + 1 / 3 * (1 - math.exp(-9 / 6))
    want1 = 2 / 3 * 0.0 + 1 / 3 * 1.0
    got = gaussian_kernel(dummy, true)
    assert got.shape == (2,)
    assert got[0].item() == pytest.approx(want0, rel=1e-6)  # weights are float32
    assert got[1].item() == pytest.approx(want1, rel=1e-6)
    # InvGrad: 1 − cos over all parameters concatenated
    # row 0: t = [1,2,0,0,3], d = [1,3,0,0,0]: 1 − 7/√(14·10)
    # row 1: t = [0,1,1,1,1], d = [0,1,2,1,1]: 1 − 5/√(4·7)
    got = cosine(dummy, true)
    assert got[0].item() == pytest.approx(1 - 7 / math.sqrt(140), rel=1e-12)
    assert got[1].item() == pytest.approx(1 - 5 / math.sqrt(28), rel=1e-12)
    # and identical gradients are at distance 0 for all three
    for dist in (gaussian_kernel, cosine, l2_squared):
        assert dist(true, true).abs().max().item() < 1e-12
    assert l2_squared(dummy, true).tolist() == [10.0, 1.0]
