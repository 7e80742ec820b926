"""DP-SGD on each client's upload (local DP-SGD; DESIGN.md §5, written like Opacus's
`DPOptimizer.pre_step`: one method per step of the math).

Every round each client (1) clips its whole update — all parameters together — to L2 norm C and
(2) adds Gaussian noise N(0, σ²C²) to every coordinate, drawing from the round's
`torch.Generator`. The noise is on each client's *own* upload, before it leaves the device: the
curious server only ever sees the noisy update (unlike central DP-SGD, where a trusted aggregator
adds noise once to the sum). One user = one client, so each user's data passes through T noisy
steps with sampling rate 1 (every client every round; with client sampling the guarantee only
improves, and we do not claim the amplification).

σ is the smallest noise multiplier for which Opacus's accountant (RDP by default) certifies
(ε, δ = 1e-5) after T such steps.

Adjacency. The accountant's guarantee is for a clipped contribution of L2 sensitivity C: the
user's upload versus no upload (add/remove), the convention of DP-SGD and of DESIGN.md §5, which
is the default here. A curious server that sees each upload individually may instead compare two
different data sets of the same user (replace-one): two clipped uploads can differ by 2C. With
`replace_adjacency=True` the noise is calibrated to sensitivity 2C (σ doubled), so the same
(ε, δ) holds for any change of the user's data. The per-round `allocation` is reported as the nominal uniform
share ε/T (what the dashboard shows); the formal guarantee is the accountant's (ε, δ) for the
whole run, which Rényi composition makes tighter than adding up ε/T.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import torch
from torch import Tensor

from core.defenses.budget import uniform_allocation
from core.errors import check_range
from core.federated.defense_hook import ClientDefense

DEFAULT_DELTA = 1e-5


@lru_cache(maxsize=256)
def noise_multiplier(epsilon: float, delta: float, steps: int, accountant: str = "rdp") -> float:
    """σ such that `steps` full-batch Gaussian steps are (ε, δ)-DP under `accountant`.

    Pure function of its arguments (cached: the accountant's search takes ~0.1–1 s).
    """
    from opacus.accountants.utils import get_noise_multiplier

    return float(get_noise_multiplier(target_epsilon=float(epsilon), target_delta=float(delta),
                                      sample_rate=1.0, steps=int(steps), accountant=accountant))


@dataclass
class DPSGDDefense(ClientDefense):
    """Clip each client's update to `clip_norm` and add N(0, (σ·clip_norm)²) per coordinate."""

    name: str = "dpsgd"
    clip_norm: float = 1.0
    delta: float = DEFAULT_DELTA
    accountant: str = "rdp"
    replace_adjacency: bool = False
    sigma: float | None = None  # noise multiplier, set by start() from the accountant

    def __post_init__(self) -> None:
        check_range("clip_norm", self.clip_norm, 0.0, low_open=True)
        check_range("delta", self.delta, 0.0, 1.0, low_open=True)

    def start(self, rounds: int, population) -> None:
        self.allocation = uniform_allocation(self.epsilon, rounds)
        sigma = noise_multiplier(self.epsilon, self.delta, rounds, self.accountant)
        self.sigma = 2.0 * sigma if self.replace_adjacency else sigma  # sensitivity 2C vs C

    # --- the math, one step per method (Opacus pre_step style) -----------------------------------

    @staticmethod
    def per_client_norms(updates: dict[str, Tensor]) -> Tensor:
        """(K,) L2 norm of each client's update over all parameters."""
        sq = [u.reshape(u.shape[0], -1).pow(2).sum(1) for u in updates.values()]
        return torch.stack(sq, 0).sum(0).sqrt()

    def clip(self, updates: dict[str, Tensor]) -> dict[str, Tensor]:
        """Scale each client's update by min(1, C/(‖u‖ + 1e-6)) (Opacus's clip factor)."""
        norms = self.per_client_norms(updates)
        factor = (self.clip_norm / (norms + 1e-6)).clamp(max=1.0)
        return {n: u * factor.view(-1, *([1] * (u.dim() - 1))) for n, u in updates.items()}

    def add_noise(self, updates: dict[str, Tensor], gen: torch.Generator) -> dict[str, Tensor]:
        """u + N(0, (σ·C)²) per coordinate, from `gen`."""
        std = self.sigma * self.clip_norm
        return {n: u + std * torch.randn(u.shape, generator=gen, dtype=u.dtype)
                for n, u in updates.items()}

    def privatize(self, round_t: int, updates: dict[str, Tensor],
                  gen: torch.Generator) -> dict[str, Tensor]:
        if self.sigma is None:
            raise RuntimeError("DPSGDDefense.start() must run before privatize()")
        return self.add_noise(self.clip(updates), gen)
