"""The single batched gradient-matching engine (paper Eq. 7, Alg. 1 lines 7–12).

The dummy windows and labels of all attacked clients of a round (times `restarts`) form one
batch — nothing couples clients — so one round costs one optimisation, not a loop over
clients. One iteration = one evaluation of the matching loss and its gradient, whatever the
attack, so the iteration budget means the same everywhere.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch
from torch import Tensor

from core.attacks.distances import DISTANCES
from core.attacks.spec import AttackSpec
from core.models.recurrent import ModelSpec, forward, per_client_grads

# Learning-rate decay points (fractions of the budget) and factor; InvGrad's schedule shape.
DECAY_AT = (0.5, 0.75, 0.9)
DECAY = 0.3


@dataclass
class Problem:
    """One round's inversion problem for K rows (clients × restarts).

    x0 (K, B, W, 2) and y0 (K, B, C) starting dummies; `known_mask` (K, B, W) marks window points
    held fixed at `x0` (chained analytic targets); `y_fixed` means y0 is the analytic label.
    """

    params: dict[str, Tensor]
    target: dict[str, Tensor]
    x0: Tensor
    y0: Tensor
    known_mask: Tensor
    y_fixed: bool


def _regularizer(spec: AttackSpec, model: ModelSpec, params: dict[str, Tensor], x: Tensor,
                 y: Tensor) -> Tensor:
    if spec.regularizer is None:
        return x.new_zeros(x.shape[0])
    if spec.regularizer == "tv":  # total variation along the window (InvGrad)
        return (x[:, :, 1:] - x[:, :, :-1]).abs().sum((1, 2, 3))
    if spec.regularizer == "cpl":  # label-based regulariser α‖F(x') − ŷ‖² (CPL, Wei et al.)
        out = forward(params, x, model)
        target = y if model.head == "regression" else torch.softmax(y, -1)
        pred = out if model.head == "regression" else torch.softmax(out, -1)
        return (pred - target).pow(2).sum((1, 2))
    raise ValueError(f"unknown regularizer {spec.regularizer!r}")


def _step_signs(spec: AttackSpec, free: list[Tensor]) -> None:
    if spec.optimizer == "signed-adam":  # InvGrad feeds Adam the sign of the gradient
        for v in free:
            if v.grad is not None:
                v.grad.sign_()


def invert(spec: AttackSpec, model: ModelSpec, prob: Problem, iters: int,
           mapper: Callable[[np.ndarray], np.ndarray] | None = None,
           monitor: Callable[[int, Tensor, Tensor], None] | None = None) -> tuple[Tensor, Tensor, Tensor]:
    """Optimise the dummies; returns (x, y, final matching loss per row (K,)).

    `monitor(i, x, y)` sees the dummies after iteration i (evaluation only: AIT).
    """
    known = prob.known_mask[..., None]
    if prob.y_fixed and bool(prob.known_mask.all()):
        iters = 0  # nothing left to optimise: every point is known (chained analytic targets)
    x = prob.x0.clone().requires_grad_(True)
    y = prob.y0.clone().requires_grad_(not prob.y_fixed)
    free = [x] + ([] if prob.y_fixed else [y])
    opt = torch.optim.Adam(free, lr=spec.lr)
    sched = torch.optim.lr_scheduler.MultiStepLR(
        opt, milestones=[max(1, int(f * iters)) for f in DECAY_AT], gamma=DECAY)
    distance = DISTANCES[spec.distance]
    loss_rows = torch.zeros(x.shape[0])
    if iters == 0 and monitor is not None:
        monitor(-1, prob.x0, y.detach())
    for i in range(iters):
        opt.zero_grad(set_to_none=True)
        xi = torch.where(known, prob.x0, x)
        grads = per_client_grads(prob.params, xi, y, model, create_graph=True)
        loss_rows = distance(grads, prob.target) + spec.reg_weight * _regularizer(
            spec, model, prob.params, xi, y)
        loss_rows.sum().backward()
        _step_signs(spec, free)
        opt.step()
        sched.step()
        with torch.no_grad():
            _project(spec, x, y, prob.y_fixed, model, mapper)
            if monitor is not None:
                monitor(i, torch.where(known, prob.x0, x), y)
    x_final = torch.where(known, prob.x0, x).detach()
    return x_final, y.detach(), loss_rows.detach()


def _project(spec: AttackSpec, x: Tensor, y: Tensor, y_fixed: bool, model: ModelSpec,
             mapper: Callable[[np.ndarray], np.ndarray] | None) -> None:
    """Box constraint and/or mapping onto the map prior, in place (no grad)."""
    if spec.box:
        x.clamp_(0.0, 1.0)
        if not y_fixed and model.head == "regression":
            y.clamp_(0.0, 1.0)
    if spec.mapping and mapper is not None:
        with_y = not y_fixed and model.head == "regression"
        pts = [x.detach().reshape(-1, 2)] + ([y.detach().reshape(-1, 2)] if with_y else [])
        mapped = torch.as_tensor(mapper(torch.cat(pts).numpy().astype(np.float64)), dtype=x.dtype)
        x.copy_(mapped[:x.numel() // 2].view_as(x))  # one mapper call for window and target
        if with_y:
            y.copy_(mapped[x.numel() // 2:].view_as(y))
