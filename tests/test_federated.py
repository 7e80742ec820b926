"""FedSGD/FedAvg aggregation against hand-computed values (Flower's Prepare/Execute/Assert)."""
import numpy as np
import torch

from core.data.preprocess import Normalizer
from core.data.trajectory import BBox, Trajectory
from core.federated.aggregation import sgd_step, weighted_mean
from core.federated.clients import ClientPopulation
from core.federated.rounds import FedConfig, run_rounds
from core.models.recurrent import ModelSpec, per_client_grads


def _population(n_clients=3, n_points=12) -> ClientPopulation:
    rng = np.random.default_rng(0)
    trs = [Trajectory(str(k), np.arange(n_points) * 600, 40.7 + 0.01 * rng.random(n_points),
                      -74.0 + 0.01 * rng.random(n_points)) for k in range(n_clients)]
    return ClientPopulation.from_trajectories(trs, Normalizer(BBox(40.7, 40.71, -74.0, -73.99)))


def test_weighted_mean_and_step_hand_computed():
    # Prepare
    updates = {"w": torch.tensor([[1.0, 2.0], [3.0, 6.0]])}
    params = {"w": torch.tensor([10.0, 10.0])}
    # Execute
    plain = weighted_mean(updates)
    weighted = weighted_mean(updates, torch.tensor([1.0, 3.0]))
    stepped = sgd_step(params, plain, lr=0.5)
    # Assert
    assert torch.allclose(plain["w"], torch.tensor([2.0, 4.0]))
    assert torch.allclose(weighted["w"], torch.tensor([2.5, 5.0]))
    assert torch.allclose(stepped["w"], torch.tensor([9.0, 8.0]))


def test_fedsgd_round_applies_mean_gradient():
    pop, spec = _population(), ModelSpec(hidden=4)
    cfg = FedConfig(rounds=2, window=2, server_lr=0.5)
    seen = []
    recs = []
    for rec in run_rounds(pop, spec, cfg, after_round=lambda t, p: seen.append(p)):
        recs.append(rec)
    x, y = pop.round_batch(np.arange(3), 1, 2, 1)
    g = per_client_grads(recs[0].params, x, y, spec)
    for name, p in recs[0].params.items():
        expected = p - 0.5 * g[name].mean(0)
        assert torch.allclose(seen[0][name], expected, atol=1e-6)
        assert torch.allclose(recs[1].params[name], expected, atol=1e-6)


def test_fedavg_with_one_local_step_uploads_the_gradient():
    pop, spec = _population(), ModelSpec(hidden=4)
    sgd = next(run_rounds(pop, spec, FedConfig(rounds=1, window=1)))
    avg = next(run_rounds(pop, spec, FedConfig(rounds=1, window=1, algorithm="fedavg",
                                               local_steps=1, local_lr=0.1)))
    for name in sgd.uploads:
        assert torch.allclose(sgd.uploads[name], avg.uploads[name], atol=1e-5)


def test_windows_slide_by_one_point_per_round():
    pop = _population()
    x1, y1 = pop.round_batch(np.array([0]), 1, 3, 1)
    x2, _ = pop.round_batch(np.array([0]), 2, 3, 1)
    assert torch.allclose(x2[0, 0, :2], x1[0, 0, 1:])
    assert torch.allclose(x2[0, 0, 2], y1[0, 0])


def test_client_sampling_is_seeded():
    pop, spec = _population(n_clients=6), ModelSpec(hidden=4)
    cfg = FedConfig(rounds=3, window=1, clients_per_round=2, seed=5)
    a = [r.clients.tolist() for r in run_rounds(pop, spec, cfg)]
    b = [r.clients.tolist() for r in run_rounds(pop, spec, cfg)]
    assert a == b and all(len(c) == 2 for c in a)


def test_server_adam_first_step_moves_each_weight_by_lr():
    from core.federated.aggregation import ServerAdam
    params = {"w": torch.tensor([1.0, -2.0])}
    out = ServerAdam(lr=0.1).step(params, {"w": torch.tensor([3.0, -0.5])})
    # bias-corrected first Adam step is lr * sign(g)
    assert torch.allclose(out["w"], torch.tensor([0.9, -1.9]), atol=1e-6)
