"""The single federated round loop (Flower's `Strategy.start` shape, DESIGN.md §8).

Every round: sample clients → build their windows (the protocol's `round_starts`: streaming, the
paper's newest window; or history, all windows so far) and, beside them, the window points' time
slots (`ClientPopulation.window_slots`; read by the deepmove model only, never perturbed: location
mechanisms change coordinates) → client defense perturbs inputs → local
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
from core.federated.clients import PROTOCOLS, ClientPopulation, round_starts, window_points
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
    protocol: str = "streaming"  # streaming (the paper's) | history (all windows so far)
    history: int = 0  # history protocol: train on the last H windows (0 = all so far)

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
        if self.protocol not in PROTOCOLS:
            raise ParameterError("protocol", self.protocol, f"one of {', '.join(PROTOCOLS)}")
        check_range("history", self.history, 0, 10_000)
        if self.protocol == "streaming" and self.history != 0:
            raise ParameterError("history", self.history, "0 with the streaming protocol")
        if self.protocol == "history" and self.batch != 1:
            raise ParameterError("batch", self.batch, "1 with the history protocol (each round "
                                 "trains on all windows so far)")

    def starts(self, round_t: int) -> np.ndarray:
        """(B_t,) window starts of round t under this protocol (`clients.round_starts`)."""
        return round_starts(round_t, self.protocol, self.batch, self.history)

    @property
    def min_points(self) -> int:
        """Points a user needs to take part in every round (history: rounds + window + 1)."""
        return self.rounds + self.window + (self.batch if self.protocol == "streaming" else 1)

    @property
    def heldout_start(self) -> int:
        """First window start after the training range: its first point follows the last
        training target, so held-out windows never overlap what was trained on."""
        return int(self.starts(self.rounds)[-1]) + self.window + 1


@dataclass(frozen=True)
class RoundRecord:
    """What happened in one round. `params`, `clients`, `starts` and `uploads` are the server's
    view (the protocol is public, so the server knows which windows (B_t,) `starts` an upload
    covers; every client of the round shares them); `x_true` (K, B_t, W, 2) / `y_true`
    (K, B_t, 2) (normalised, before any defense) exist only for evaluating attacks, and so do
    `slots_true` (K, B_t, W), the time slots the clients fed in (no defense changes them)."""

    round: int
    params: dict[str, Tensor]
    clients: np.ndarray
    starts: np.ndarray
    uploads: dict[str, Tensor]
    x_true: Tensor
    y_true: Tensor
    epsilon_round: float
    epsilon_spent: float
    slots_true: Tensor | None = None


def _local_update(params: dict[str, Tensor], x: Tensor, y: Tensor, spec: ModelSpec,
                  cfg: FedConfig, slots: Tensor | None = None) -> dict[str, Tensor]:
    """One upload per client in gradient units: the gradient of its mean loss over its B_t
    windows (FedSGD) or Δ/(E·η) (FedAvg), for all K clients at once. `slots` (K, B_t, W): the
    windows' time slots (read by the deepmove model only)."""
    if cfg.algorithm == "fedsgd":
        return per_client_grads(params, x, y, spec, slots=slots)
    K = x.shape[0]
    local = {n: p.detach().unsqueeze(0).repeat(K, *([1] * p.dim())) for n, p in params.items()}
    for _ in range(cfg.local_steps):  # all clients' local models step together (batched)
        g = per_client_grads({n: v.requires_grad_(True) for n, v in local.items()}, x, y, spec,
                             slots=slots)
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
    server_adam = ServerAdam(cfg.server_lr) if cfg.server_optimizer == "adam" else None
    for t in range(1, cfg.rounds + 1):
        clients = _sample_clients(pop.n_clients, cfg.clients_per_round, rng)
        starts = cfg.starts(t)                                    # (B_t,)
        x, y = pop.windows(clients, starts, cfg.window)           # (K, B_t, W, 2), (K, B_t, 2)
        slots = pop.window_slots(clients, starts, cfg.window)     # (K, B_t, W), not perturbed
        x_in, y_in = defense.perturb_inputs(t, clients, x, y, rng,
                                            point_idx=window_points(starts, cfg.window))
        target = labels(y_in) if labels is not None else y_in
        uploads = defense.privatize(t, _local_update(params, x_in, target, spec, cfg, slots), gen)
        eps_t = defense.allocation[t - 1] if defense.allocation else 0.0
        yield RoundRecord(t, params, clients, starts, {n: u.detach() for n, u in uploads.items()},
                          x, y, eps_t, defense.spent(t), slots)
        mean_update = weighted_mean(uploads)
        if server_adam is not None:
            params = server_adam.step(params, mean_update)
        else:
            lr = cfg.server_lr if cfg.algorithm == "fedsgd" else cfg.local_steps * cfg.local_lr
            params = sgd_step(params, mean_update, lr)
        if after_round is not None:
            after_round(t, params)
