"""Splitting a budget over T rounds (sequential composition, DESIGN.md §5).

* Constant (scope "round", the paper's reading): ε_t = ε every round; the run composes to T·ε.
* Uniform (the baselines, scope "total"): ε_t = ε/T.
* Adaptive (the paper's Algorithm 2, Eqs. 10–12): ε_t = exp(−γ[t])·(ε − Σ_{j<t} ε_j) with
  γ[t] = α·F1(ASR[t]) + β/F2(AIT[t]), α + β = 1. Defaults (the paper leaves them open): F1(a) = a,
  F2(k) = max(k/N, 1/N) with N the attack's iteration cap, α = β = 0.5. A riskier round (higher
  ASR, lower AIT) has a larger γ, so it gets a smaller share of what is left: more noise.

  Algorithm 2 as written never spends the last ε·Π(1 − p_t) of the budget. With
  `spend_remainder=True` (the default here) the last round also receives that remainder, so
  Σ ε_t = ε exactly; with False the allocation is Algorithm 2 verbatim. Either way the guarantee is
  the same (≤ ε); the remainder only buys the last round some utility.

Every allocation is checked to sum to at most ε in floating point (Python's left-to-right `sum`, the
one `ClientDefense.spent` uses, and `math.fsum`); the excess of a rounding overshoot (a few ulps)
is taken off the last entry.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Callable, Sequence

import numpy as np

from core.errors import InputError, ParameterError, check_range


@dataclass(frozen=True)
class RiskProfile:
    """Per-round attack risk from an undefended ST-GIA run on a proxy population.

    asr[t]: share of attacked points within the success radius; ait[t]: mean first-success
    iteration with the cap `iters` for failures (so 1 ≤ ait ≤ iters).
    """

    asr: tuple[float, ...]
    ait: tuple[float, ...]
    iters: int
    meta: dict | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "asr", tuple(float(a) for a in self.asr))
        object.__setattr__(self, "ait", tuple(float(a) for a in self.ait))
        if len(self.asr) != len(self.ait):
            raise InputError(f"risk profile: {len(self.asr)} ASR values but {len(self.ait)} AIT values")
        check_range("iters", self.iters, 1)
        bad = [v for v in self.asr + self.ait if not math.isfinite(v)]
        if bad:
            raise InputError(f"risk profile has non-finite values ({bad[0]}); rerun the proxy attack")

    def __len__(self) -> int:
        return len(self.asr)

    def to_dict(self) -> dict:
        return asdict(self)

    @staticmethod
    def from_dict(d: dict) -> "RiskProfile":
        return RiskProfile(tuple(d["asr"]), tuple(d["ait"]), int(d["iters"]), d.get("meta"))


def f1_identity(asr: float) -> float:
    """Default F1: the attack success rate itself."""
    return float(asr)


def f2_scaled(ait: float, iters: int) -> float:
    """Default F2: AIT as a fraction of the iteration cap, floored at 1/N (so β/F2 ≤ β·N)."""
    return max(ait / iters, 1.0 / iters)


def cap_to_budget(alloc: list[float], epsilon: float) -> list[float]:
    """Lower the last entries until both `sum` and `math.fsum` are ≤ ε.

    Rounding can push a sum a few ulps of ε over; the excess comes off the last positive entry
    (at least one ulp of that entry per step, so the loop ends after a few steps).
    """
    alloc = [max(float(a), 0.0) for a in alloc]
    i = len(alloc) - 1
    while i >= 0 and (sum(alloc) > epsilon or math.fsum(alloc) > epsilon):
        excess = max(sum(alloc), math.fsum(alloc)) - epsilon
        if alloc[i] <= excess:
            alloc[i] = 0.0
            i -= 1
        else:
            alloc[i] = min(float(np.nextafter(alloc[i], 0.0)), alloc[i] - excess)
    return alloc


def uniform_allocation(epsilon: float, rounds: int) -> list[float]:
    """ε/T every round."""
    check_range("epsilon", epsilon, 0.0, low_open=True)
    check_range("rounds", rounds, 1)
    return cap_to_budget([epsilon / rounds] * rounds, epsilon)


def constant_allocation(epsilon: float, rounds: int) -> list[float]:
    """ε every round (scope "round": each round's release gets the whole ε)."""
    check_range("epsilon", epsilon, 0.0, low_open=True)
    check_range("rounds", rounds, 1)
    return [float(epsilon)] * int(rounds)


def importance(asr: float, ait: float, iters: int, alpha: float = 0.5, beta: float = 0.5,
               f1: Callable[[float], float] = f1_identity,
               f2: Callable[[float, int], float] = f2_scaled) -> float:
    """γ[t] = α·F1(ASR[t]) + β/F2(AIT[t]) (paper Eq. 10)."""
    g = alpha * f1(asr) + beta / f2(ait, iters)
    if not (g >= 0.0 and math.isfinite(g)):
        raise ParameterError("gamma", g, "a finite value >= 0 (check F1, F2: F1 >= 0, F2 > 0)")
    return float(g)


def _checked(epsilon: float, profile: RiskProfile, rounds: int | None, alpha: float,
             beta: float | None) -> tuple[int, float]:
    """Validate an allocation's inputs; (rounds, beta) with their defaults filled in."""
    check_range("epsilon", epsilon, 0.0, low_open=True)
    rounds = len(profile) if rounds is None else rounds
    check_range("rounds", rounds, 1)
    if len(profile) < rounds:
        raise InputError(f"risk profile covers {len(profile)} rounds, the run has {rounds}; "
                         f"compute the profile with the run's number of rounds")
    beta = 1.0 - alpha if beta is None else beta
    check_range("alpha", alpha, 0.0, 1.0)
    check_range("beta", beta, 0.0, 1.0)
    if abs(alpha + beta - 1.0) > 1e-9:
        raise ParameterError("alpha+beta", alpha + beta, "1 (the paper's weights sum to one)")
    return rounds, beta


def adaptive_allocation(epsilon: float, profile: RiskProfile, rounds: int | None = None,
                        alpha: float = 0.5, beta: float | None = None,
                        f1: Callable[[float], float] = f1_identity,
                        f2: Callable[[float, int], float] = f2_scaled,
                        spend_remainder: bool = True) -> list[float]:
    """Algorithm 2 lines 1–3 over the first `rounds` rounds of the risk profile."""
    rounds, beta = _checked(epsilon, profile, rounds, alpha, beta)
    alloc: list[float] = []
    for t in range(rounds):
        remaining = max(epsilon - math.fsum(alloc), 0.0)           # ε' (line 2)
        p = math.exp(-importance(profile.asr[t], profile.ait[t], profile.iters,
                                 alpha, beta, f1, f2))              # Eq. 11, p in (0, 1]
        alloc.append(p * remaining)                                 # Eq. 12 (line 3)
    if spend_remainder:
        alloc[-1] = max(epsilon - math.fsum(alloc[:-1]), 0.0)
    return cap_to_budget(alloc, epsilon)


def proportional_allocation(epsilon: float, profile: RiskProfile, rounds: int | None = None,
                            alpha: float = 0.5, beta: float | None = None,
                            f1: Callable[[float], float] = f1_identity,
                            f2: Callable[[float, int], float] = f2_scaled) -> list[float]:
    """This project's variant of Algorithm 2 (not the paper's): the same importance
    p_t = exp(−γ[t]) (Eqs. 10–11), but ε_t = ε · p_t / Σ_s p_s — shares of the whole budget
    instead of shares of what is left.

    Why: Algorithm 2 gives round t the fraction p_t of the *remaining* budget, so a safe early
    round (p ≈ 0.6) drains most of ε and every later round is left with almost nothing, whatever
    its risk; and a risky round (p ≈ e^-5) gets almost nothing, whatever is left. Normalised
    shares keep the paper's ordering (riskier round → smaller ε_t) without starving any round,
    and spend exactly ε.
    """
    rounds, beta = _checked(epsilon, profile, rounds, alpha, beta)
    w = [math.exp(-importance(profile.asr[t], profile.ait[t], profile.iters, alpha, beta, f1, f2))
         for t in range(rounds)]
    total = math.fsum(w)
    return cap_to_budget([epsilon * x / total for x in w], epsilon)


def spent_curve(alloc: Sequence[float]) -> list[float]:
    """Budget spent after each round (sequential composition)."""
    return [float(sum(alloc[:t])) for t in range(1, len(alloc) + 1)]
