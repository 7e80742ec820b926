"""Gradient distances D(∇w', ∇w) per client (paper Eq. 1, 8). Each returns a (K,) tensor.

Inputs are dicts {name: (K, *shape)} of dummy and true per-client gradients.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import torch
from torch import Tensor

Grads = dict[str, Tensor]


def _flat(g: Tensor) -> Tensor:
    return g.reshape(g.shape[0], -1)


def l2_squared(dummy: Grads, true: Grads) -> Tensor:
    """Σ_layers ‖∇w' − ∇w‖² (DLG, iDLG, CPL, ST-GIA; paper Eq. 8 / Alg. 1 line 9)."""
    return sum(_flat(dummy[n] - true[n]).pow(2).sum(1) for n in true)


def cosine(dummy: Grads, true: Grads) -> Tensor:
    """1 − cos(∇w', ∇w) over all parameters concatenated (InvGrad, Geiping et al. 2020)."""
    d = torch.cat([_flat(dummy[n]) for n in true], 1)
    t = torch.cat([_flat(true[n]) for n in true], 1)
    return 1 - (d * t).sum(1) / (d.norm(dim=1) * t.norm(dim=1) + 1e-12)


def gaussian_kernel(dummy: Grads, true: Grads) -> Tensor:
    """SAPAG (Wang et al. 2020): Σ_l w_l (1 − exp(−‖∇w'_l − ∇w_l‖² / σ_l)).

    σ_l is set from the true gradient's variance in layer l (per client, scaled by its size),
    and the weights w_l fall with depth: the first layers weigh most (here w_l = 1/(l+1),
    normalised), following the paper's "weights decreasing with depth".
    """
    names = list(true)
    weights = torch.tensor([1.0 / (i + 1) for i in range(len(names))])
    weights = weights / weights.sum()
    total = 0.0
    for w, n in zip(weights, names):
        t = _flat(true[n])
        sigma = (t.var(dim=1, unbiased=False) * t.shape[1]).clamp_min(1e-12)
        total = total + w * (1 - torch.exp(-_flat(dummy[n] - true[n]).pow(2).sum(1) / sigma))
    return total


DISTANCES: dict[str, Callable[[Grads, Grads], Tensor]] = {
    "l2": l2_squared, "cosine": cosine, "gaussian": gaussian_kernel,
}


# ---- closed-form ∂D/∂G (the engine's fast path, `core.attacks.matching`) -------------------
# A distance is prepared once per problem from the true gradients, layer by layer (K, n_l) in
# parameter order, and `zero[l]` marking layers whose dummy gradient is structurally zero (e.g.
# weight_hh for a one-point window: h_0 = 0), which then cost nothing per iteration. The prepared
# distance takes the dummy gradients of the other layers flattened (K, P) and returns
# (D (K,), ∂D/∂G (K, P)); what depends on the true gradients alone (norms, σ_l, the zero
# layers' constant terms) is computed once and kept as its `state`, passed to a pure function
# of (G, *state) — so a traced step (`core.attacks.compiled`) can take the state as inputs.


@dataclass(frozen=True)
class PreparedDistance:
    """D and ∂D/∂G at G (K, P): `fn(G, *state)`, the state computed once per problem."""

    fn: Callable[..., tuple[Tensor, Tensor]]
    state: tuple[Tensor, ...]

    def __call__(self, g: Tensor) -> tuple[Tensor, Tensor]:
        return self.fn(g, *self.state)

    def with_state(self, state: Sequence[Tensor]) -> "PreparedDistance":
        return PreparedDistance(self.fn, tuple(state))


def _live(true: Sequence[Tensor], zero: Sequence[bool]) -> Tensor:
    return torch.cat([t for t, z in zip(true, zero) if not z], 1)


def l2_squared_grad(true: Sequence[Tensor], zero: Sequence[bool]) -> PreparedDistance:
    """D = ‖G − T‖², ∂D/∂G = 2(G − T) (`l2_squared`); zero layers add ‖T_l‖²."""
    t = _live(true, zero)
    const = sum((tl.pow(2).sum(1) for tl, z in zip(true, zero) if z), t.new_zeros(t.shape[0]))
    return PreparedDistance(_l2_d, (t, const))


def _l2_d(g: Tensor, t: Tensor, const: Tensor) -> tuple[Tensor, Tensor]:
    diff = g - t
    return (diff * diff).sum(1) + const, 2 * diff    # x·x: pow(x, 2) is a slower kernel


def cosine_grad(true: Sequence[Tensor], zero: Sequence[bool]) -> PreparedDistance:
    """D = 1 − ⟨G, T⟩/(‖G‖‖T‖ + ε), ∂D/∂G = −T/den + ⟨G, T⟩‖T‖ G/(‖G‖ den²) (`cosine`)."""
    t = _live(true, zero)
    return PreparedDistance(_cosine_d, (t, torch.cat(list(true), 1).norm(dim=1, keepdim=True)))


def _cosine_d(g: Tensor, t: Tensor, t_norm: Tensor) -> tuple[Tensor, Tensor]:
    num = (g * t).sum(1, keepdim=True)
    g_norm = g.norm(dim=1, keepdim=True)
    den = g_norm * t_norm + 1e-12
    grad = -t / den + (num * t_norm / (den * den)) * g / g_norm.clamp_min(1e-30)
    return (1 - num / den)[:, 0], grad


def gaussian_kernel_grad(true: Sequence[Tensor], zero: Sequence[bool]) -> PreparedDistance:
    """D = Σ_l w_l(1 − exp(−e_l/σ_l)), e_l = ‖G_l − T_l‖²; ∂D/∂G_l = w_l e^{−e_l/σ_l}·2(G_l − T_l)/σ_l
    (`gaussian_kernel`: the same weights and σ_l)."""
    n = len(true)
    weights = torch.tensor([1.0 / (i + 1) for i in range(n)])
    weights = (weights / weights.sum()).to(true[0].dtype)
    sigma = torch.stack([(tl.var(dim=1, unbiased=False) * tl.shape[1]).clamp_min(1e-12)
                         for tl in true], 1)                                    # (K, L)
    live = [i for i in range(n) if not zero[i]]
    const = sum((weights[i] * (1 - torch.exp(-true[i].pow(2).sum(1) / sigma[:, i]))
                 for i in range(n) if zero[i]), sigma.new_zeros(sigma.shape[0]))
    layer = torch.repeat_interleave(torch.arange(len(live)),
                                    torch.tensor([true[i].shape[1] for i in live]))  # (P,)
    return PreparedDistance(_gaussian_d, (_live(true, zero), weights[live], sigma[:, live],
                                          const, layer))


def _gaussian_d(g: Tensor, t: Tensor, w: Tensor, sg: Tensor, const: Tensor,
                layer: Tensor) -> tuple[Tensor, Tensor]:
    diff = g - t
    e = torch.zeros_like(sg).index_add_(1, layer, diff * diff)                      # (K, L')
    k = torch.exp(-e / sg)
    coef = w * k / sg
    return (w * (1 - k)).sum(1) + const, 2 * diff * coef[:, layer]


DISTANCE_GRADS: dict[str, Callable[[Sequence[Tensor], Sequence[bool]], PreparedDistance]] = {
    "l2": l2_squared_grad, "cosine": cosine_grad, "gaussian": gaussian_kernel_grad,
}
