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
