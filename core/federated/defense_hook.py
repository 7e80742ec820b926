"""The client-side defense hook. "No defense" is a defense that changes nothing, so defended and
undefended runs share one code path (Flower's DP-by-wrapping, DESIGN.md §8).

A defense may perturb the client's inputs before training (location mechanisms: Geo-I, GeoGI,
PGEM) and/or privatise the update after it (DP-SGD: clip and add noise). Randomness comes from
the explicit generators it is handed.

Life cycle. A defense is built with its budget and options (`core.defenses.registry.make`), then
started once with everything the run supplies, bundled in one frozen `DefenseContext`
(`core.experiments.defense_setup.make_defense` does both). A class declares what it needs from
the context in the class variable `needs` (e.g. `frozenset({"roads"})`); `start` refuses a
context that lacks any of it. The round loop takes a started defense; the base `ClientDefense()`
(no defense) works unstarted.

Budget scope (DESIGN.md §5). `scope="total"`: ε is the user's budget for the whole run and the
rounds compose to it. `scope="round"` (the paper's reading and its authors' code): every round's
release gets ε. Whatever the scope, a started defense reports `allocation` (ε_t per round),
`spent(t)` (what the first t rounds compose to) and `epsilon_total` (what the whole run
composes to); each defense module states its composition rule.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np
import torch
from torch import Tensor

from core.errors import InputError, ParameterError

SCOPES = ("round", "total")

# What each context entry is, for the error naming a missing one.
_WHAT = {
    "roads": "a road network (roads)",
    "distances": "a shortest-path distance cache (distances)",
    "profile": "a risk profile (profile: per-round ASR/AIT of an undefended proxy run)",
}


@dataclass(frozen=True)
class DefenseContext:
    """What a run supplies to a defense when it starts.

    rounds: T, the number of federated rounds. population: the `ClientPopulation` the defense
    protects (client k = population index k). roads: `core.geo.network.RoadNetwork`. distances:
    a `core.defenses.mechanisms.DistanceCache` over `roads`, shared between defenses of one sweep.
    profile: the adaptive strategy's `core.defenses.budget.RiskProfile`.
    """

    rounds: int
    population: object
    roads: object | None = None
    distances: object | None = None
    profile: object | None = None

    def __post_init__(self) -> None:
        if isinstance(self.rounds, bool) or not isinstance(self.rounds, (int, np.integer)) \
                or self.rounds < 1:
            raise ParameterError("rounds", self.rounds, "an integer >= 1")
        if self.distances is not None and self.roads is not None \
                and getattr(self.distances, "net", None) is not self.roads:
            raise InputError("the distance cache belongs to a different road network than `roads`")

    def provides(self) -> frozenset[str]:
        """Names of the optional entries that are present."""
        return frozenset(k for k in _WHAT if getattr(self, k) is not None)


def check_epsilon(epsilon: float, name: str = "epsilon") -> float:
    """ε as a float, refusing anything but a finite number > 0 (NaN and inf name no guarantee;
    Opacus would silently return its search cap σ = 10 for them, DESIGN.md §9)."""
    try:
        value = float(epsilon)
    except (TypeError, ValueError):
        raise ParameterError(name, epsilon, "a finite number > 0") from None
    if not (math.isfinite(value) and value > 0.0):
        raise ParameterError(name, epsilon, "a finite number > 0 (NaN and inf give no guarantee)")
    return value


@dataclass
class ClientDefense:
    """Base defense: identity. Subclasses override `start`, `perturb_inputs` and/or `privatize`.

    scope: "total" (ε per user over the run; the default, so a directly built defense keeps that
    meaning) or "round" (ε for every round's release). `allocation` is filled by `start`.
    """

    needs: ClassVar[frozenset[str]] = frozenset()

    name: str = "none"
    epsilon: float = float("inf")
    scope: str = "total"
    allocation: list[float] = field(default_factory=list, init=False)

    def __post_init__(self) -> None:
        if self.scope not in SCOPES:
            raise ParameterError("scope", self.scope, f"one of {', '.join(SCOPES)}")

    # --- life cycle -----------------------------------------------------------------------------

    def requirements(self) -> frozenset[str]:
        """What this instance needs from its context (the class's `needs`, unless options change
        it, e.g. Geo-I needs roads only when it snaps)."""
        return self.needs

    def check_context(self, ctx: DefenseContext) -> None:
        """Raise InputError naming every required context entry that is missing."""
        missing = sorted(self.requirements() - ctx.provides())
        if missing:
            what = "; ".join(_WHAT.get(m, m) for m in missing)
            raise InputError(
                f"defense {self.name!r} needs {what} in its DefenseContext: build it with "
                f"core.experiments.defense_setup.make_defense(name, epsilon, prepared), which "
                f"supplies the run's road network (else a graph over the dataset's venues) and "
                f"the risk profile (an undefended proxy run, cached)")

    def start(self, ctx: DefenseContext) -> None:
        """Called once before round 1 with what the run supplies."""
        self.check_context(ctx)

    # --- the hooks ------------------------------------------------------------------------------

    def perturb_inputs(self, round_t: int, clients: np.ndarray, x: Tensor, y: Tensor,
                       rng: np.random.Generator,
                       point_idx: np.ndarray | None = None) -> tuple[Tensor, Tensor]:
        """x (K, B, W, 2), y (K, B, 2) normalised -> what the client trains on.

        point_idx: optional (B, W+1) (or (K, B, W+1)) trajectory indices of the window points
        then the target, so a defense can recognise a point it has seen in an earlier round.
        """
        return x, y

    def privatize(self, round_t: int, updates: dict[str, Tensor],
                  gen: torch.Generator) -> dict[str, Tensor]:
        """Per-client updates {name: (K, ...)} -> what the client uploads."""
        return updates

    # --- accounting -----------------------------------------------------------------------------

    def round_epsilon(self, round_t: int) -> float:
        """ε_t of round t (1-based); a clear error if the defense was not started for it."""
        if not self.allocation:
            raise RuntimeError(
                f"{type(self).__name__} has not been started: the round loop takes a started "
                f"defense (core.experiments.defense_setup.make_defense, or "
                f"defense.start(DefenseContext(rounds, population, ...)))")
        if not 1 <= round_t <= len(self.allocation):
            raise InputError(f"round {round_t} is outside the {len(self.allocation)} rounds "
                             f"defense {self.name!r} was started for")
        return self.allocation[round_t - 1]

    def spent(self, round_t: int) -> float:
        """What each user's releases of the first `round_t` rounds compose to.

        Default rule, sequential composition: Σ_{s ≤ t} ε_s (Python's left-to-right `sum`, the
        one `core.defenses.budget.cap_to_budget` checks). No defense spends nothing: 0.
        """
        return float(sum(self.allocation[:round_t])) if self.allocation else 0.0

    @property
    def epsilon_total(self) -> float:
        """What the whole run composes to: spent(T). No defense (nothing allocated) claims no
        guarantee at all: inf."""
        return self.spent(len(self.allocation)) if self.allocation else math.inf
