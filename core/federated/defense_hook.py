"""The client-side defense hook. "No defense" is a defense that changes nothing, so defended and
undefended runs share one code path (Flower's DP-by-wrapping, DESIGN.md §8).

A defense may perturb the client's inputs before training (location mechanisms: Geo-I, GeoGI,
PGEM) and/or privatise the update after it (DP-SGD: clip and add noise). Randomness comes from
the explicit generators it is handed.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
from torch import Tensor


@dataclass
class ClientDefense:
    """Base defense: identity. Subclasses override `perturb_inputs` and/or `privatize`."""

    name: str = "none"
    epsilon: float = float("inf")
    allocation: list[float] = field(default_factory=list)

    def start(self, rounds: int, population) -> None:
        """Called once before round 1 (e.g. to allocate the budget over `rounds`)."""

    def perturb_inputs(self, round_t: int, clients: np.ndarray, x: Tensor, y: Tensor,
                       rng: np.random.Generator) -> tuple[Tensor, Tensor]:
        """x (K, B, W, 2), y (K, B, 2) normalised -> what the client trains on."""
        return x, y

    def privatize(self, round_t: int, updates: dict[str, Tensor],
                  gen: torch.Generator) -> dict[str, Tensor]:
        """Per-client updates {name: (K, ...)} -> what the client uploads."""
        return updates

    def spent(self, round_t: int) -> float:
        """Budget spent by each user after `round_t` rounds (sequential composition)."""
        return float(sum(self.allocation[:round_t])) if self.allocation else 0.0
