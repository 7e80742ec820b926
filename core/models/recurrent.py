"""LSTM / GRU next-location models as pure functions of a parameter dict.

Why functional: the federated round and the attack both need *per-client* gradients for a whole
round at once. All clients share the global weights, so we give every client its own copy of the
parameters (a leading dimension K, "expanded weights"), run one batched forward, and one backward
of the summed loss yields every client's gradient exactly — client k's loss touches only copy k.
This also supports double backward (`create_graph=True`), which gradient matching needs.
A hand-written cell batches cleanly; `torch.func.vmap` over `nn.LSTM` falls back to a slow path
(DESIGN.md §9).

Shapes (nanoGPT style): K clients, B windows per client, W window length, H hidden units,
C = 2 outputs (regression: normalised lat, lon) or the vocabulary size (classification).

Input scale (DESIGN.md §2): the cell sees z = 0.5 + (x − 0.5)·s for the min–max normalised
window x. s is a fixed, public part of the architecture (the server knows it, so attacks keep
optimising x). s = 1 is the paper's model exactly; at s = 1 a whole city spans one unit and
the LSTM cannot tell apart venues 100 m apart, s = 20 is about one unit per 2.4 km on NYC.
Parameters follow `nn.LSTM`/`nn.GRU` naming and gate order (LSTM: i, f, g, o; GRU: r, z, n).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
from torch import Tensor

from core.errors import ParameterError

CELLS = ("lstm", "gru", "deepmove")  # deepmove: `core.models.deepmove` (embeddings + attention)
HEADS = ("regression", "classification")


@dataclass(frozen=True)
class ModelSpec:
    """Architecture shared by clients and server (the server knows it: DESIGN.md §3)."""

    cell: str = "lstm"
    hidden: int = 16
    head: str = "regression"
    n_classes: int = 0  # vocabulary size, classification head only
    input_scale: float = 1.0  # s: the cell sees 0.5 + (x − 0.5)·s (module docstring)
    # embedding models: (V, 2) normalised vocabulary, row v = location v (public, like the bbox)
    locations: Tensor | None = field(default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        if self.cell not in CELLS:
            raise ParameterError("model", self.cell, f"one of {CELLS}")
        if self.head not in HEADS:
            raise ParameterError("head", self.head, f"one of {HEADS}")
        if self.hidden < 1:
            raise ParameterError("hidden", self.hidden, ">= 1")
        if self.head == "classification" and self.n_classes < 2:
            raise ParameterError("n_classes", self.n_classes, ">= 2 for the classification head")
        if not (math.isfinite(self.input_scale) and self.input_scale > 0):
            raise ParameterError("input_scale", self.input_scale, "a finite number > 0")
        if self.cell == "deepmove" and self.head != "classification":
            raise ParameterError("head", self.head, "classification with the deepmove model")

    @property
    def n_gates(self) -> int:
        return 4 if self.cell == "lstm" else 3

    @property
    def n_out(self) -> int:
        return 2 if self.head == "regression" else self.n_classes


def init_params(spec: ModelSpec, generator: torch.Generator) -> dict[str, Tensor]:
    """PyTorch's default init: U(-1/sqrt(H), 1/sqrt(H)) for the cell and U(-1/sqrt(fan_in), ..) for the head."""
    if spec.cell == "deepmove":
        from core.models import deepmove
        return deepmove.init_params(spec, generator)
    h, g = spec.hidden, spec.n_gates * spec.hidden
    k = 1.0 / math.sqrt(h)

    def u(*shape: int) -> Tensor:
        return (torch.rand(*shape, generator=generator) * 2 - 1) * k

    return {"weight_ih": u(g, 2), "weight_hh": u(g, h), "bias_ih": u(g), "bias_hh": u(g),
            "out_weight": u(spec.n_out, h), "out_bias": u(spec.n_out)}


def _mm(x: Tensor, w: Tensor) -> Tensor:
    """x (K, B, in) @ w.T where w is (out, in) shared or (K, out, in) per client -> (K, B, out)."""
    if w.dim() == 2:
        return x @ w.T
    return torch.einsum("kbi,koi->kbo", x, w)


def _bias(b: Tensor) -> Tensor:
    return b if b.dim() == 1 else b[:, None, :]


def scale_input(x: Tensor, spec: ModelSpec) -> Tensor:
    """The fixed public input scale: z = 0.5 + (x − 0.5)·s (same shape as x).

    s = 1 returns x itself, so the paper's model is reproduced bit for bit."""
    if spec.input_scale == 1.0:
        return x
    return 0.5 + (x - 0.5) * spec.input_scale


def last_hidden(params: dict[str, Tensor], x: Tensor, spec: ModelSpec) -> Tensor:
    """Run the cell over the normalised window x (K, B, W, 2), fed as 0.5 + (x − 0.5)·s;
    return the last hidden state (K, B, H)."""
    x = scale_input(x, spec)
    K, B, W, _ = x.shape
    h = x.new_zeros(K, B, spec.hidden)
    c = x.new_zeros(K, B, spec.hidden)
    b_ih, b_hh = _bias(params["bias_ih"]), _bias(params["bias_hh"])
    for t in range(W):
        gi = _mm(x[:, :, t, :], params["weight_ih"]) + b_ih
        gh = _mm(h, params["weight_hh"]) + b_hh
        if spec.cell == "lstm":
            i, f, g, o = (gi + gh).chunk(4, dim=-1)
            c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
            h = torch.sigmoid(o) * torch.tanh(c)
        else:
            ir, iz, in_ = gi.chunk(3, dim=-1)
            hr, hz, hn = gh.chunk(3, dim=-1)
            r, z = torch.sigmoid(ir + hr), torch.sigmoid(iz + hz)
            n = torch.tanh(in_ + r * hn)
            h = (1 - z) * n + z * h
    return h


def forward(params: dict[str, Tensor], x: Tensor, spec: ModelSpec,
            slots: Tensor | None = None) -> Tensor:
    """x (K, B, W, 2) normalised window (before the input scale) -> output (K, B, C).

    `slots` (K, B, W) int64: the window points' time slots (`core.data.timeslots`), read by the
    deepmove model only (required there); the LSTM and GRU ignore them."""
    if spec.cell == "deepmove":
        from core.models import deepmove
        return deepmove.forward(params, x, spec, slots)
    h = last_hidden(params, x, spec)
    return _mm(h, params["out_weight"]) + _bias(params["out_bias"])


def per_sample_loss(out: Tensor, y: Tensor, spec: ModelSpec) -> Tensor:
    """(K, B) losses. Regression: ½‖out − y‖² (so ∂L/∂out = out − y, the δ of DESIGN.md §3);
    classification: cross-entropy with integer targets y (K, B)."""
    if spec.head == "regression":
        return 0.5 * ((out - y) ** 2).sum(-1)
    if y.dtype.is_floating_point:  # soft labels (dummy labels optimised jointly, DLG-style)
        return -(torch.softmax(y, -1) * torch.log_softmax(out, -1)).sum(-1)
    return torch.nn.functional.cross_entropy(out.flatten(0, 1), y.flatten(), reduction="none").view(y.shape)


def expand(params: dict[str, Tensor], K: int) -> dict[str, Tensor]:
    """K independent leaf copies of the shared parameters (the expanded-weights trick)."""
    # expand is a stride-0 view (no copy); its gradient still has one row per client
    return {n: p.detach().unsqueeze(0).expand(K, *p.shape).requires_grad_(True)
            for n, p in params.items()}


def per_client_grads(params: dict[str, Tensor], x: Tensor, y: Tensor, spec: ModelSpec,
                     create_graph: bool = False, slots: Tensor | None = None) -> dict[str, Tensor]:
    """Gradient of each client's mean loss over its B windows, for all K clients at once.

    `params` are either shared (no leading K: they are expanded here) or already per client
    (leading K, e.g. FedAvg local models). `slots` (K, B, W): see `forward`.
    Returns {name: (K, *shape)}.
    """
    K = x.shape[0]
    per_client = params["out_bias"].dim() == 2
    p = params if per_client else expand(params, K)
    loss = per_sample_loss(forward(p, x, spec, slots), y, spec).mean(dim=1).sum()
    names = list(p)
    grads = torch.autograd.grad(loss, [p[n] for n in names], create_graph=create_graph)
    return dict(zip(names, grads))
