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

from core.attacks import matching
from core.attacks.compiled import StepCache
from core.attacks.distances import DISTANCES
from core.attacks.shards import Monitor, run_sharded, shard_bounds
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
    `slots` (K, B, W) int64: the dummies' time slots, fixed (embedding models only, which need
    them: `core.models.deepmove`; None for the LSTM/GRU).
    """

    params: dict[str, Tensor]
    target: dict[str, Tensor]
    x0: Tensor
    y0: Tensor
    known_mask: Tensor
    y_fixed: bool
    slots: Tensor | None = None


def _regularizer(spec: AttackSpec, model: ModelSpec, params: dict[str, Tensor], x: Tensor,
                 y: Tensor, slots: Tensor | None = None) -> Tensor:
    if spec.regularizer is None:
        return x.new_zeros(x.shape[0])
    if spec.regularizer == "tv":  # total variation along the window (InvGrad)
        return (x[:, :, 1:] - x[:, :, :-1]).abs().sum((1, 2, 3))
    if spec.regularizer == "cpl":  # label-based regulariser α‖F(x') − ŷ‖² (CPL, Wei et al.)
        out = forward(params, x, model, slots)
        target = y if model.head == "regression" else torch.softmax(y, -1)
        pred = out if model.head == "regression" else torch.softmax(out, -1)
        return (pred - target).pow(2).sum((1, 2))
    raise ValueError(f"unknown regularizer {spec.regularizer!r}")


def lr_at(spec: AttackSpec, iters: int, i: int) -> float:
    """Learning rate of iteration i: `spec.lr`·DECAY^(milestones ≤ i) — torch's MultiStepLR
    (milestones counted with multiplicity) without building a torch.optim scheduler."""
    return spec.lr * DECAY ** sum(1 for f in DECAY_AT if max(1, int(f * iters)) <= i)


class Adam:
    """Adam (Kingma & Ba 2015) on one flat tensor, op for op torch.optim.Adam's single-tensor
    path (defaults β = (0.9, 0.999), ε = 1e-8), so results match it bit for bit. Hand-written:
    building a torch.optim optimiser imports torch._dynamo (~1.7 s) and costs per-step
    bookkeeping the engine does not need."""

    def __init__(self, param: Tensor, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8) -> None:
        self.param, self.betas, self.eps, self.t = param, betas, eps, 0
        self.m = torch.zeros_like(param)
        self.v = torch.zeros_like(param)

    def step(self, grad: Tensor, lr: float) -> None:
        b1, b2 = self.betas
        self.t += 1
        self.m.lerp_(grad, 1 - b1)
        self.v.mul_(b2).addcmul_(grad, grad, value=1 - b2)
        step_size = lr / (1 - b1 ** self.t)
        denom = (self.v.sqrt() / (1 - b2 ** self.t) ** 0.5).add_(self.eps)
        self.param.addcdiv_(self.m, denom, value=-step_size)


def invert(spec: AttackSpec, model: ModelSpec, prob: Problem, iters: int,
           mapper: Callable[[np.ndarray], np.ndarray] | None = None,
           monitor: Monitor | None = None, autograd: bool = False, workers: int = 1,
           steps: StepCache | None = None) -> tuple[Tensor, Tensor, Tensor]:
    """Optimise the dummies; returns (x, y, final matching loss per row (K,)).

    `monitor(i, x, y, rows)` sees rows `rows` of the dummies after iteration i (evaluation
    only: AIT); it must neither keep nor modify them (they are the live buffers). With
    `workers` > 1 the rows are split over that many processes (`core.attacks.shards`; same
    result) and each calls the monitor for its own rows: what it records must be in shared memory.
    The matching loss's gradient is closed form (`core.attacks.matching`) where that module
    covers the problem, else — or with `autograd=True`, the reference — double backward.
    `steps` keeps the closed-form step traced across calls (`core.attacks.compiled`; a caller
    inverting round after round passes its own); without it the step runs eagerly.
    """
    if prob.y_fixed and bool(prob.known_mask.all()):
        iters = 0  # nothing left to optimise: every point is known (chained analytic targets)
    shards = shard_bounds(prob.x0.shape[0], workers) if workers > 1 and iters > 0 else []
    if len(shards) < 2:
        return _invert_rows(spec, model, prob, iters, mapper, _on_rows(monitor, slice(None)),
                            autograd, steps)

    def rows_fn(p: Problem, rows: slice) -> tuple[Tensor, Tensor, Tensor]:
        return _invert_rows(spec, model, _rows(p, rows), iters, mapper, _on_rows(monitor, rows),
                            autograd, steps)
    return run_sharded(shards, prob.x0, prob.y0, rows_fn, prob)


def _on_rows(monitor: Monitor | None, rows: slice) -> Callable[[int, Tensor, Tensor], None] | None:
    """The monitor bound to one shard's rows."""
    if monitor is None:
        return None
    return lambda i, x, y: monitor(i, x, y, rows)


def _rows(prob: Problem, rows: slice) -> Problem:
    """The sub-problem of rows `rows` (shared weights stay shared)."""
    return Problem(prob.params, {n: t[rows] for n, t in prob.target.items()}, prob.x0[rows],
                   prob.y0[rows], prob.known_mask[rows], prob.y_fixed,
                   None if prob.slots is None else prob.slots[rows])


def _invert_rows(spec: AttackSpec, model: ModelSpec, prob: Problem, iters: int,
                 mapper: Callable[[np.ndarray], np.ndarray] | None,
                 monitor: Callable[[int, Tensor, Tensor], None] | None,
                 autograd: bool, steps: StepCache | None = None) -> tuple[Tensor, Tensor, Tensor]:
    """`invert` on one process: `iters` Adam steps on the closed-form (or autograd) gradient,
    each followed by the projection and the monitor."""
    # x and y live in one flat buffer so that Adam, the sign step and the clamps are one op each
    nx = prob.x0.numel()
    flat = torch.cat([prob.x0.reshape(-1)] + ([] if prob.y_fixed else [prob.y0.reshape(-1)]))
    x = flat[:nx].view_as(prob.x0)
    y = prob.y0.clone() if prob.y_fixed else flat[nx:].view_as(prob.y0)
    known = prob.known_mask[..., None]
    fast = not autograd and matching.supported(spec, model, prob.params, y, prob.target)
    step = _closed_form_step(spec, model, prob, y, steps) if fast else \
        _autograd_step(spec, model, prob)
    loss_rows = torch.zeros(x.shape[0])
    if iters == 0 and monitor is not None:
        monitor(-1, prob.x0, y)
    opt = Adam(flat)
    project = _projector(spec, x, y, flat, prob.y_fixed, model, mapper)
    any_known = bool(prob.known_mask.any())
    lrs = [lr_at(spec, iters, i) for i in range(iters)]
    with torch.no_grad():
        for i in range(iters):
            loss_rows, gx, gy = step(x, y)
            gx = gx.masked_fill(known, 0.0) if any_known else gx
            grad = gx.reshape(-1) if prob.y_fixed else torch.cat([gx.reshape(-1), gy.reshape(-1)])
            if spec.optimizer == "signed-adam":  # InvGrad feeds Adam the sign of the gradient
                grad = grad.sign()
            opt.step(grad, lrs[i])
            if project is not None:
                project()
            if monitor is not None:
                monitor(i, torch.where(known, prob.x0, x) if any_known else x, y)
    return torch.where(known, prob.x0, x), y.clone(), loss_rows


Step = Callable[[Tensor, Tensor], tuple[Tensor, Tensor, Tensor]]


def _closed_form_step(spec: AttackSpec, model: ModelSpec, prob: Problem, y: Tensor,
                      steps: StepCache | None = None) -> Step:
    """(x, y) -> (loss rows, ∂M/∂x, ∂M/∂y) from the hand-derived gradient (known points fixed),
    traced when `steps` is given."""
    loss_fn = matching.LSTMMatching(spec, model, prob.params, prob.target,
                                    y.dtype.is_floating_point, prob.x0.shape[2])
    known = prob.known_mask[..., None]
    need_y, any_known = not prob.y_fixed, bool(prob.known_mask.any())
    call = (steps or StepCache(enabled=False)).step(loss_fn, prob.x0, y, need_y)
    if not any_known:
        return call

    def step(x: Tensor, y: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        return call(torch.where(known, prob.x0, x), y)
    return step


def _autograd_step(spec: AttackSpec, model: ModelSpec, prob: Problem) -> Step:
    """The reference: generic double backward through `per_client_grads(create_graph=True)`."""
    known = prob.known_mask[..., None]
    distance = DISTANCES[spec.distance]

    def step(x: Tensor, y: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        with torch.enable_grad():
            xg = x.detach().requires_grad_(True)
            yg = y.detach().requires_grad_(not prob.y_fixed)
            xi = torch.where(known, prob.x0, xg)
            grads = per_client_grads(prob.params, xi, yg, model, create_graph=True,
                                     slots=prob.slots)
            loss_rows = distance(grads, prob.target) + spec.reg_weight * _regularizer(
                spec, model, prob.params, xi, yg, prob.slots)
            free = [xg] + ([] if prob.y_fixed else [yg])
            g = torch.autograd.grad(loss_rows.sum(), free)
        return loss_rows.detach(), g[0], (g[1] if len(g) > 1 else None)
    return step


def _projector(spec: AttackSpec, x: Tensor, y: Tensor, flat: Tensor, y_fixed: bool,
               model: ModelSpec, mapper: Callable[[np.ndarray], np.ndarray] | None
               ) -> Callable[[], None] | None:
    """The per-iteration projection, in place on the live buffers (no grad): the box
    constraint and/or the mapping onto the map prior. Built once per inversion; None if the
    attack has neither."""
    box, mapping = spec.box, spec.mapping and mapper is not None
    if not (box or mapping):
        return None
    y_too = not y_fixed and model.head == "regression"   # a regression label is a location
    # x, then y when it is a location too, are one contiguous run of `flat`: one (M, 2) numpy
    # view of the live buffer, made once, so an iteration costs one mapper call
    pts = flat.detach().numpy()[:x.numel() + (y.numel() if y_too else 0)].reshape(-1, 2)

    def project() -> None:
        if box:
            x.clamp_(0.0, 1.0)
            if y_too:
                y.clamp_(0.0, 1.0)
        if mapping:
            pts[:] = mapper(pts.astype(np.float64))
    return project
