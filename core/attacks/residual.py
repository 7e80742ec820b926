"""How well a reconstruction explains its upload: the relative gradient-matching residual.

r = ‖∇w(x', y') − ∇w‖² / ‖∇w‖² over all parameters (the squared L2 of paper Eq. 8, divided by
the upload's own squared norm), per client. It is the same quantity whatever distance an attack
optimised (cosine, Gaussian kernel, …) and comparable across rounds, whose uploads shrink as the
model trains; 0 means the dummy reproduces the upload exactly. The calibration's `residual` rule
and ST-GIA's initialisation gate read it (`core.attacks.calibration`, `core.attacks.session`).
"""
from __future__ import annotations

import torch
from torch import Tensor

from core.attacks.distances import l2_squared
from core.models.recurrent import ModelSpec, per_client_grads


def relative_residual(params: dict[str, Tensor], x: Tensor, y: Tensor,
                      uploads: dict[str, Tensor], model: ModelSpec,
                      slots: Tensor | None = None) -> Tensor:
    """(K,) relative residual of dummies x (K, B, W, 2), labels y against uploads {name: (K, …)}
    (`slots` (K, B, W): the dummies' time slots, embedding models only)."""
    with torch.enable_grad():
        g = per_client_grads(params, x.detach(), y.detach(), model, slots=slots)
    num = l2_squared({n: g[n].detach() for n in uploads}, uploads)
    den = sum(u.reshape(u.shape[0], -1).pow(2).sum(1) for u in uploads.values())
    return num / den.clamp_min(1e-30)
