"""Gradient distances D(∇w', ∇w) per client (paper Eq. 1, 8). Each returns a (K,) tensor.

Inputs are dicts {name: (K, *shape)} of dummy and true per-client gradients.
"""
from __future__ import annotations

from typing import Callable

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
