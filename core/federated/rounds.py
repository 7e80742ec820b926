"""The single federated round loop (Flower's `Strategy.start` shape, DESIGN.md §8).

Every round: sample clients → build their windows → client defense perturbs inputs → local
training (FedSGD: one gradient; FedAvg: E local steps, upload Δ/(E·η_local), i.e. gradient units)
→ defense privatises the update → the server sees the uploads (yielded as a `RoundRecord` for the
curious server to attack) → aggregation and the server step → utility of the new global model.
Per-client work is batched: one forward/backward for all clients of the round.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterator

import numpy as np
import torch
from torch import Tensor

from core.errors import ParameterError, check_range
from core.federated.aggregation import ServerAdam, sgd_step, weighted_mean
from core.federated.clients import ClientPopulation
from core.federated.defense_hook import ClientDefense
from core.models.recurrent import ModelSpec, init_params, per_client_grads

ALGORITHMS = ("fedsgd", "fedavg")
SERVER_OPTIMIZERS = ("sgd", "adam")


@dataclass(frozen=True)
class FedConfig:
    """Federation settings. Defaults make FedSGD converge visibly within 50 rounds."""

    rounds: int = 50
    window: int = 1
    batch: int = 1
    algorithm: str = "fedsgd"
    server_lr: float = 0.1  # NYC W=1: 0.05 still improving at round 50, 0.2 flat after ~10, 2.0 diverges
    local_lr: float = 0.1
    local_steps: int = 5
    clients_per_round: int = 0  # 0 = all clients every round
    seed: int = 0
    server_optimizer: str = "sgd"  # sgd | adam (FedAdam)

    def __post_init__(self) -> None:
        check_range("rounds", self.rounds, 1, 10_000)
        check_range("window", self.window, 1, 50)
        check_range("batch", self.batch, 1, 64)
        check_range("server_lr", self.server_lr, 0.0, low_open=True)
        check_range("local_lr", self.local_lr, 0.0, low_open=True)
        check_range("local_steps", self.local_steps, 1, 1000)
        check_range("clients_per_round", self.clients_per_round, 0)
        if self.server_optimizer not in SERVER_OPTIMIZERS:
            raise ParameterError("server_optimizer", self.server_optimizer, f"one of {SERVER_OPTIMIZERS}")
        if self.algorithm not in ALGORITHMS:
            raise ParameterError("algorithm", self.algorithm, f"one of {ALGORITHMS}")

    @property
    def min_points(self) -> int:
        """Points a user needs to take part in every round."""
        return self.rounds + self.window + self.batch


@dataclass(frozen=True)
class RoundRecord:
    """What happened in one round. `params`, `clients` and `uploads` are the server's view;
    `x_true`/`y_true` (normalised, before any defense) exist only for evaluating attacks."""

    round: int
    params: dict[str, Tensor]
    clients: np.ndarray
    uploads: dict[str, Tensor]
    x_true: Tensor
    y_true: Tensor
    epsilon_round: float
    epsilon_spent: float


def _local_update(params: dict[str, Tensor], x: Tensor, y: Tensor, spec: ModelSpec,
                  cfg: FedConfig) -> dict[str, Tensor]:
    """One upload per client in gradient units: the gradient (FedSGD) or Δ/(E·η) (FedAvg)."""
    if cfg.algorithm == "fedsgd":
        return per_client_grads(params, x, y, spec)
    K = x.shape[0]
    local = {n: p.detach().unsqueeze(0).repeat(K, *([1] * p.dim())) for n, p in params.items()}
    for _ in range(cfg.local_steps):  # all clients' local models step together (batched)
        g = per_client_grads({n: v.requires_grad_(True) for n, v in local.items()}, x, y, spec)
        local = {n: (v - cfg.local_lr * g[n]).detach() for n, v in local.items()}
    scale = cfg.local_steps * cfg.local_lr
    return {n: (params[n].unsqueeze(0) - local[n]) / scale for n in params}


def _sample_clients(n: int, per_round: int, rng: np.random.Generator) -> np.ndarray:
    if per_round <= 0 or per_round >= n:
        return np.arange(n)
    return np.sort(rng.choice(n, size=per_round, replace=False))


def run_rounds(pop: ClientPopulation, spec: ModelSpec, cfg: FedConfig,
               defense: ClientDefense | None = None,
               labels: Callable[[Tensor], Tensor] | None = None,
               after_round: Callable[[int, dict[str, Tensor]], None] | None = None,
               ) -> Iterator[RoundRecord]:
    """Run the federation, yielding each round's record before the server applies it.

    `labels` maps normalised targets (K, B, 2) to class indices for the classification head.
    `after_round(t, params)` sees the new global model (utility evaluation).
    """
    defense = defense or ClientDefense()
    rng = np.random.default_rng(cfg.seed)
    gen = torch.Generator().manual_seed(cfg.seed)
    params = init_params(spec, gen)
    defense.start(cfg.rounds, pop)
    server_adam = ServerAdam(cfg.server_lr) if cfg.server_optimizer == "adam" else None
    for t in range(1, cfg.rounds + 1):
        clients = _sample_clients(pop.n_clients, cfg.clients_per_round, rng)
        x, y = pop.round_batch(clients, t, cfg.window, cfg.batch)
        x_in, y_in = defense.perturb_inputs(t, clients, x, y, rng)
        target = labels(y_in) if labels is not None else y_in
        uploads = defense.privatize(t, _local_update(params, x_in, target, spec, cfg), gen)
        eps_t = defense.allocation[t - 1] if defense.allocation else 0.0
        yield RoundRecord(t, params, clients, {n: u.detach() for n, u in uploads.items()},
                          x, y, eps_t, defense.spent(t))
        mean_update = weighted_mean(uploads)
        if server_adam is not None:
            params = server_adam.step(params, mean_update)
        else:
            lr = cfg.server_lr if cfg.algorithm == "fedsgd" else cfg.local_steps * cfg.local_lr
            params = sgd_step(params, mean_update, lr)
        if after_round is not None:
            after_round(t, params)
