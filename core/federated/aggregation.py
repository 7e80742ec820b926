"""Server-side aggregation (McMahan et al. 2017): FedSGD averages gradients; FedAvg averages deltas."""
from __future__ import annotations

import torch
from torch import Tensor


def weighted_mean(updates: dict[str, Tensor], weights: Tensor | None = None) -> dict[str, Tensor]:
    """Average per-client updates {name: (K, ...)} over K, optionally weighted (e.g. by samples)."""
    out = {}
    for name, u in updates.items():
        if weights is None:
            out[name] = u.mean(dim=0)
        else:
            w = (weights / weights.sum()).to(u.dtype).view(-1, *([1] * (u.dim() - 1)))
            out[name] = (w * u).sum(dim=0)
    return out


def sgd_step(params: dict[str, Tensor], grad: dict[str, Tensor], lr: float) -> dict[str, Tensor]:
    """w ← w − η·g for every parameter; returns new tensors (the old ones stay valid)."""
    return {n: (p - lr * grad[n]).detach() for n, p in params.items()}


class ServerAdam:
    """Adam on the server over the aggregated update (FedAdam, Reddi et al. 2021, Alg. 2).

    Clients still upload plain gradients (what the attacker sees is unchanged); only the server's
    step differs. State lives in the instance, one per run.
    """

    def __init__(self, lr: float, beta1: float = 0.9, beta2: float = 0.999, eps: float = 1e-8) -> None:
        self.lr, self.b1, self.b2, self.eps = lr, beta1, beta2, eps
        self.m: dict[str, Tensor] = {}
        self.v: dict[str, Tensor] = {}
        self.t = 0

    def step(self, params: dict[str, Tensor], grad: dict[str, Tensor]) -> dict[str, Tensor]:
        self.t += 1
        out = {}
        for n, p in params.items():
            g = grad[n]
            self.m[n] = self.b1 * self.m.get(n, torch.zeros_like(g)) + (1 - self.b1) * g
            self.v[n] = self.b2 * self.v.get(n, torch.zeros_like(g)) + (1 - self.b2) * g * g
            m_hat = self.m[n] / (1 - self.b1 ** self.t)
            v_hat = self.v[n] / (1 - self.b2 ** self.t)
            out[n] = (p - self.lr * m_hat / (v_hat.sqrt() + self.eps)).detach()
        return out
