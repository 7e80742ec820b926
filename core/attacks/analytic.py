"""What one sample's gradient gives away in closed form (DESIGN.md §3).

Regression head, one window (B = 1), loss ½‖o − y‖²: the output layer's gradients are
δ = o − y (bias) and δ·hᵀ (weight). Hence the last hidden state h = ∇W[i]/δ[i] (the row with
the largest |δ|), o = W·h + b from the known weights, and the target y = o − δ exactly.
Classification head: ∇b = softmax(o) − onehot(y), whose only negative entry is the true class
(the bias-sign rule; the weight-row trick of iDLG is unreliable on LSTMs).
A one-point window (W = 1, B = 1): the recurrent cell starts from h₀ = 0, so its input gates are
W_ih·z + b_ih + b_hh and the first layer's gradients are δ_g (bias_ih) and δ_g·zᵀ (weight_ih) for
every gate row g — the model's input z, hence the window point, in closed form.
"""
from __future__ import annotations

import torch
from torch import Tensor


def regression_target(params: dict[str, Tensor], uploads: dict[str, Tensor]) -> Tensor:
    """(K, 2) normalised target of each client's single window, from its upload alone."""
    delta = uploads["out_bias"]                   # (K, 2)
    gw = uploads["out_weight"]                    # (K, 2, H)
    i = delta.abs().argmax(dim=1)                 # the better-conditioned output row
    d_i = delta.gather(1, i[:, None])             # (K, 1)
    safe = torch.where(d_i.abs() > 0, d_i, torch.ones_like(d_i))
    h = gw[torch.arange(gw.shape[0]), i] / safe   # (K, H)
    out = h @ params["out_weight"].T + params["out_bias"]
    return out - delta


def first_layer_input(uploads: dict[str, Tensor], input_scale: float = 1.0) -> Tensor:
    """(K, 2) normalised window point of each client's one-point window, from its upload alone.

    z = Σ_g δ_g·(δ_g z) / Σ_g δ_g² (least squares over the gate rows, exact without noise), then
    the model's fixed input scale is undone: x = 0.5 + (z − 0.5)/s (`core.models.recurrent`).
    """
    gb = uploads["bias_ih"].double()                       # (K, G): δ
    gw = uploads["weight_ih"].double()                     # (K, G, 2): δ·zᵀ
    den = (gb * gb).sum(1, keepdim=True).clamp_min(1e-300)
    z = (gw * gb[..., None]).sum(1) / den
    return (0.5 + (z - 0.5) / input_scale).float()


def classification_label(uploads: dict[str, Tensor]) -> Tensor:
    """(K,) class index of each client's single window: the negative entry of ∇b."""
    return uploads["out_bias"].argmin(dim=1)
