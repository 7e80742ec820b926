"""Levenberg–Marquardt gradient matching for windows with a known label (`optimizer="lm"`).

With the label known in closed form (the analytic target, `core.attacks.analytic`) a window of
W points has only 2W unknowns, while the upload gives hundreds of equations: the residual
r(x) = ∇w(x, y) − ∇w, one entry per parameter, is a small, heavily over-determined nonlinear
least-squares problem. Adam on ‖r‖² (paper Eq. 8) moves every coordinate by about its learning
rate per step whatever the curvature, so from a start kilometres away it needs most of its
budget to settle and often stops in a worse basin. Levenberg–Marquardt (Levenberg 1944;
Marquardt 1963; Nocedal & Wright, *Numerical Optimization*, §10.3) uses the Jacobian J = ∂r/∂x:
each step solves (JᵀJ + λ·diag(JᵀJ))·Δ = −Jᵀr, accepted when it lowers ‖r‖² (then λ shrinks
towards Gauss–Newton), refused otherwise (λ grows towards a short gradient step). Near the true
window it converges quadratically, so what decides the result is the start: the session gives it
several (restarts) and keeps the best residual.

Budget: one Jacobian of n free coordinates is n forward-mode products through the gradient,
about n evaluations of the matching loss and its gradient; an iteration costs n + 1 and the
loop stops when the attack's iteration budget is spent (DESIGN.md §3: one iteration = one
evaluation, whatever the optimiser). All rows (clients × restarts) are solved in one batch with
`torch.func.vmap`; the arithmetic is in float64 (the steps are tiny in normalised units).
"""
from __future__ import annotations

from typing import Callable

import numpy as np
import torch
from torch import Tensor
from torch.func import grad, jacfwd, vmap

from core.attacks.engine import Problem
from core.attacks.spec import AttackSpec
from core.models.recurrent import ModelSpec, forward, per_sample_loss

LAMBDA0 = 1e-3      # initial damping (relative to diag(JᵀJ))
LAMBDA_UP, LAMBDA_DOWN = 10.0, 0.3
LAMBDA_MAX = 1e8


def _residual_fn(params: dict[str, Tensor], model: ModelSpec) -> Callable[..., Tensor]:
    """r(x, y, target, ‖target‖) for ONE row: the flattened gradient mismatch, relative."""
    names = list(params)

    def loss(p: dict[str, Tensor], x: Tensor, y: Tensor) -> Tensor:
        return per_sample_loss(forward(p, x[None], model), y[None], model).mean()

    def r(x: Tensor, y: Tensor, target: dict[str, Tensor], norm: Tensor) -> Tensor:
        g = grad(loss)(params, x, y)
        return torch.cat([(g[n] - target[n]).reshape(-1) for n in names]) / norm

    return r


def invert_lm(spec: AttackSpec, model: ModelSpec, prob: Problem, iters: int,
              mapper: Callable[[np.ndarray], np.ndarray] | None = None,
              monitor: Callable[[int, Tensor, Tensor, slice], None] | None = None
              ) -> tuple[Tensor, Tensor, Tensor]:
    """Same contract as `engine.invert` for a fixed (analytic) label: returns (x, y, final
    squared relative residual per row). Known window points (`prob.known_mask`) stay fixed."""
    if not prob.y_fixed:
        raise ValueError("the Levenberg–Marquardt solver needs the label known (analytic)")
    params = {n: p.detach().double() for n, p in prob.params.items()}
    target = {n: t.detach().double() for n, t in prob.target.items()}
    y = prob.y0 if not prob.y0.is_floating_point() else prob.y0.double()
    r_fn = _residual_fn(params, model)
    res = vmap(r_fn)
    jac = vmap(jacfwd(r_fn, argnums=0))
    x = prob.x0.detach().double().clone()
    free = ~prob.known_mask[..., None].expand_as(x).reshape(x.shape[0], -1)   # (N, n)
    n_free = max(int(free.sum(1).max()), 1)
    lam = torch.full((x.shape[0],), LAMBDA0, dtype=torch.float64)
    norm = torch.cat([t.reshape(t.shape[0], -1) for t in target.values()], 1).norm(dim=1)
    norm = norm.clamp_min(1e-30)                      # per row, once (not per iteration)
    r = res(x, y, target, norm)
    cost = r.pow(2).sum(1)
    spent = 1
    if monitor is not None:
        monitor(-1, x.float(), prob.y0, slice(None))
    while spent + n_free + 1 <= max(iters, 1) and bool((lam < LAMBDA_MAX).any()):
        J = jac(x, y, target, norm).reshape(x.shape[0], r.shape[1], -1) * free[:, None, :]
        x_new = x + _lm_step(J, r, lam).view_as(x)
        r_new = res(x_new, y, target, norm)
        cost_new = r_new.pow(2).sum(1)
        better = cost_new < cost
        x = torch.where(better[:, None, None, None], x_new, x)
        r = torch.where(better[:, None], r_new, r)
        cost = torch.where(better, cost_new, cost)
        lam = torch.where(better, lam * LAMBDA_DOWN, lam * LAMBDA_UP)
        spent += n_free + 1
        if monitor is not None:
            monitor(spent - 1, x.float(), prob.y0, slice(None))
    if spec.mapping and mapper is not None:   # the map prior, once, on the converged window
        x = torch.as_tensor(mapper(x.reshape(-1, 2).numpy()), dtype=torch.float64).view_as(x)
        cost = res(x, y, target, norm).pow(2).sum(1)
    return x.float(), prob.y0, cost.float()


def _lm_step(J: Tensor, r: Tensor, lam: Tensor) -> Tensor:
    """Δ (N, n) solving (JᵀJ + λ·diag(JᵀJ) + εI)·Δ = −Jᵀr for every row at once."""
    JtJ = J.transpose(1, 2) @ J
    diag = torch.diagonal(JtJ, dim1=1, dim2=2)
    A = JtJ + torch.diag_embed(lam[:, None] * diag + 1e-12)
    return torch.linalg.solve(A, -(J.transpose(1, 2) @ r[..., None]))[..., 0]
