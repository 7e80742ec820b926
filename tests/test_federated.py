"""FedSGD/FedAvg aggregation against hand-computed values (Flower's Prepare/Execute/Assert)."""
import numpy as np
import torch

from core.data.preprocess import Normalizer
from core.data.trajectory import Trajectory
from core.federated.aggregation import sgd_step, weighted_mean
from core.federated.clients import ClientPopulation, round_starts, window_points
from core.federated.rounds import FedConfig, run_rounds
from core.geo.bbox import BBox
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


def test_round_starts_for_both_protocols():
    assert round_starts(3).tolist() == [2]
    assert round_starts(3, "streaming", batch=2).tolist() == [2, 3]
    assert round_starts(1, "history").tolist() == [0]
    assert round_starts(4, "history").tolist() == [0, 1, 2, 3]
    assert round_starts(4, "history", history=2).tolist() == [2, 3]
    assert round_starts(2, "history", history=5).tolist() == [0, 1]
    assert window_points(np.array([0, 2]), 2).tolist() == [[0, 1, 2], [2, 3, 4]]
    import pytest

    from core.errors import ParameterError
    with pytest.raises(ParameterError, match="protocol"):
        round_starts(1, "nope")


def test_fed_config_protocol_validation_and_ranges():
    import pytest

    from core.errors import ParameterError
    with pytest.raises(ParameterError, match="batch"):
        FedConfig(protocol="history", batch=2)
    with pytest.raises(ParameterError, match="history"):
        FedConfig(protocol="streaming", history=3)
    with pytest.raises(ParameterError, match="protocol"):
        FedConfig(protocol="sliding")
    s = FedConfig(rounds=10, window=2, batch=3)
    h = FedConfig(rounds=10, window=2, protocol="history")
    assert s.min_points == 15 and h.min_points == 13
    # held-out windows start right after the last training target
    assert s.heldout_start == int(window_points(s.starts(10), 2)[-1, -1]) + 1 == 14
    assert h.heldout_start == int(window_points(h.starts(10), 2)[-1, -1]) + 1 == 12


def test_history_uploads_are_the_mean_of_per_window_gradients():
    pop, spec = _population(n_points=14), ModelSpec(hidden=4, input_scale=20.0)
    cfg = FedConfig(rounds=4, window=2, protocol="history", server_optimizer="adam")
    recs = list(run_rounds(pop, spec, cfg))
    assert [r.starts.tolist() for r in recs] == [[0], [0, 1], [0, 1, 2], [0, 1, 2, 3]]
    rec = recs[-1]
    assert rec.x_true.shape == (3, 4, 2, 2) and rec.y_true.shape == (3, 4, 2)
    per_window = []
    for s in rec.starts:  # each window alone, as the single-window gradient
        x, y = pop.windows(np.arange(3), np.array([s]), 2)
        per_window.append(per_client_grads(rec.params, x, y, spec))
    for name, u in rec.uploads.items():
        mean = torch.stack([g[name] for g in per_window]).mean(0)
        assert torch.allclose(u, mean, atol=1e-6), name
    # the last H windows only
    last2 = list(run_rounds(pop, spec, FedConfig(rounds=4, window=2, protocol="history", history=2)))
    assert [r.starts.tolist() for r in last2] == [[0], [0, 1], [1, 2], [2, 3]]


def test_history_fedavg_one_local_step_uploads_the_history_gradient():
    pop, spec = _population(n_points=14), ModelSpec(hidden=4)
    sgd = list(run_rounds(pop, spec, FedConfig(rounds=3, window=1, protocol="history")))
    avg = list(run_rounds(pop, spec, FedConfig(rounds=3, window=1, protocol="history",
                                               algorithm="fedavg", local_steps=1)))
    for a, b in zip(sgd, avg):
        assert a.starts.tolist() == b.starts.tolist()
        for name in a.uploads:
            assert torch.allclose(a.uploads[name], b.uploads[name], atol=1e-5)
