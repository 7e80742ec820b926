"""Sharding an inversion's rows over worker processes changes nothing but the wall time."""
import os
import threading

import numpy as np
import pytest
import torch

from attack_fixtures import grid_network, population_on
from core.attacks import registry
from core.attacks.engine import Problem, invert
from core.attacks.mapping import Mapper
from core.attacks.session import AttackSession
from core.attacks.shards import ENV_WORKERS, MIN_ROWS_PER_SHARD, resolve_workers, shard_bounds
from core.federated.rounds import FedConfig, run_rounds
from core.models.recurrent import ModelSpec, init_params, per_client_grads

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="sharding forks")


def test_invert_sharded_equals_one_process_and_the_monitor_sees_every_row():
    model = ModelSpec()
    g = torch.Generator().manual_seed(0)
    params = init_params(model, g)
    K, iters = 3 * MIN_ROWS_PER_SHARD, 40
    x, y = torch.rand(K, 1, 2, 2, generator=g), torch.rand(K, 1, 2, generator=g)
    up = {n: v.detach() for n, v in per_client_grads(params, x, y, model).items()}
    prob = Problem(params, up, torch.randn(K, 1, 2, 2, generator=g), torch.randn(K, 1, 2, generator=g),
                   torch.zeros(K, 1, 2, dtype=torch.bool), False)
    runs = {}
    for workers in (1, 2, 3):
        # every shard monitors its own rows, in its own process: records go to shared memory
        seen = torch.full((iters, K), float("nan"), dtype=torch.float64).share_memory_()
        calls = torch.zeros(iters, K, dtype=torch.long).share_memory_()

        def monitor(i, xx, yy, rows, seen=seen, calls=calls):
            seen[i, rows] = xx.double().sum((1, 2, 3)) + yy.double().sum((1, 2))
            calls[i, rows] += 1
        runs[workers] = (invert(registry.get("dlg"), model, prob, iters, None, monitor,
                                workers=workers), seen, calls)
    ref, ref_seen, _ = runs[1]
    for workers in (1, 2, 3):
        out, seen, calls = runs[workers]
        assert all(torch.equal(a, b) for a, b in zip(out, ref))
        assert bool((calls == 1).all())                 # every row, every iteration, once
        assert torch.equal(seen, ref_seen)


def test_session_results_do_not_depend_on_the_number_of_workers():
    """ST-GIA with mapping over 3 rounds: the same ASR, AIT and estimates with 1 or 2 processes."""
    net = grid_network()
    pop, model = population_on(net, n_clients=2 * MIN_ROWS_PER_SHARD, n_points=8, seed=2), ModelSpec()
    recs = list(run_rounds(pop, model, FedConfig(rounds=3, window=1)))
    out = {}
    for workers in (1, 2):
        sess = AttackSession(registry.get("st-gia"), model, pop.normalizer, pop.n_clients, 8, 1, 30,
                             0, Mapper(pop.normalizer, net, None), workers=workers)
        out[workers] = [sess.attack_round(r) for r in recs]
    for a, b in zip(out[1], out[2]):
        assert a.asr == b.asr and a.ait == b.ait
        assert np.array_equal(a.est_latlon, b.est_latlon) and np.array_equal(a.first_hit, b.first_hit)


def test_a_failing_shard_raises_in_the_caller():
    model = ModelSpec()
    K = 2 * MIN_ROWS_PER_SHARD
    params = init_params(model, torch.Generator().manual_seed(0))
    up = {n: torch.zeros(K, *p.shape) for n, p in params.items()}
    prob = Problem(params, up, torch.rand(K, 1, 1, 2), torch.rand(K, 1, 2),
                   torch.zeros(K, 1, 1, dtype=torch.bool), False)

    def bad_mapper(z: np.ndarray) -> np.ndarray:
        if os.getpid() != parent:
            raise ValueError("boom")
        return z
    parent = os.getpid()
    spec = registry.get("st-gia")
    with pytest.raises(RuntimeError, match="boom"):
        invert(spec, model, prob, 5, bad_mapper, lambda i, x, y, rows: None, workers=2)


def test_worker_count_resolution(monkeypatch):
    monkeypatch.delenv(ENV_WORKERS, raising=False)
    assert resolve_workers(3) == 3
    assert resolve_workers(0) >= 1
    monkeypatch.setenv(ENV_WORKERS, "1")
    assert resolve_workers(0) == 1
    monkeypatch.delenv(ENV_WORKERS)
    box = []
    t = threading.Thread(target=lambda: box.append(resolve_workers(0)))
    t.start(); t.join()
    assert box == [1]  # a job thread (the dashboard) runs in one process
    assert shard_bounds(MIN_ROWS_PER_SHARD, 4) == [slice(0, MIN_ROWS_PER_SHARD)]
    assert shard_bounds(100, 2) == [slice(0, 50), slice(50, 100)]
