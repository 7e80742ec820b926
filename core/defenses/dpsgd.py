"""DP-SGD on each client's upload (local DP-SGD; DESIGN.md §5, written like Opacus's
`DPOptimizer.pre_step`: one method per step of the math).

Every round each client (1) clips its whole update — all parameters together — to L2 norm C and
(2) adds Gaussian noise N(0, σ²C²) to every coordinate, drawing from the round's
`torch.Generator`. The noise is on each client's *own* upload, before it leaves the device: the
curious server only ever sees the noisy update (unlike central DP-SGD, where a trusted aggregator
adds noise once to the sum). One user = one client, so each user's data passes through T noisy
steps with sampling rate q = 1 (every client every round; with client sampling the guarantee only
improves, and we do not claim the amplification).

The noise multiplier σ, by scope:

* scope="total" — (ε, δ) for the whole run: σ is the smallest multiplier for which Opacus's
  accountant (RDP by default) certifies (ε, δ) after T steps at q = 1
  (`opacus.accountants.utils.get_noise_multiplier`). `allocation` reports the nominal uniform
  share ε/T; `epsilon_total` is the asked ε (the accountant's value for σ is within 0.01 below).
  An ε below what the accountant can certify (about 0.1 at δ = 1e-5, whatever T) is refused with
  an InputError naming the smallest feasible ε.
* scope="round" — (ε, δ) for every round, as the paper's authors' public code does: the classical
  Gaussian mechanism σ = √(2 ln(1.25/δ))/ε (noise std σ·C; Dwork & Roth 2014, Thm. A.1), with no
  composition across rounds. Its proof covers ε < 1 only; for larger ε the per-round (ε, δ) claim
  is the authors' convention, not a theorem. `allocation` is ε every round, and `epsilon_total`
  is what T such steps really compose to: the RDP accountant's ε for that σ over T steps at δ.

In both scopes `spent(t)` is the accountant's ε for σ after t steps (Rényi composition, tighter
than adding per-round ε's); NaN and infinite ε are refused (Opacus would return its search cap
σ = 10 for them, DESIGN.md §9).

Adjacency. The guarantee is for a clipped contribution of L2 sensitivity C: the user's upload
versus no upload (add/remove), the convention of DP-SGD and of DESIGN.md §5, which is the default
here. A curious server that sees each upload individually may instead compare two different data
sets of the same user (replace-one): two clipped uploads can differ by 2C. With
`replace_adjacency=True` the noise is calibrated to sensitivity 2C (σ doubled), so the same
(ε, δ) holds for any change of the user's data.
"""
from __future__ import annotations

import math
import warnings
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Iterator

import torch
from torch import Tensor

from core.defenses.budget import constant_allocation, uniform_allocation
from core.errors import InputError, check_range
from core.federated.defense_hook import ClientDefense, DefenseContext, check_epsilon

DEFAULT_DELTA = 1e-5
EPSILON_TOLERANCE = 0.01   # Opacus's default search precision for get_noise_multiplier
_MIN_EPS_RTOL = 1e-4       # relative precision of the smallest feasible ε


# --- the accountant ------------------------------------------------------------------------------

@contextmanager
def _quiet() -> Iterator[None]:
    """Opacus warns when the best RDP order is at the end of its grid (tiny or huge σ): expected
    here, and the bound stays valid, so the warning is not shown."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Optimal order is the", category=UserWarning)
        yield


@lru_cache(maxsize=4096)
def accountant_epsilon(sigma: float, delta: float, steps: int, accountant: str = "rdp") -> float:
    """ε after `steps` full-batch (q = 1) Gaussian steps with noise multiplier σ, at δ."""
    if steps <= 0:
        return 0.0
    from opacus.accountants import create_accountant

    acct = create_accountant(mechanism=accountant)
    acct.history = [(float(sigma), 1.0, int(steps))]
    with _quiet():
        return float(acct.get_epsilon(delta=float(delta)))


def _feasible(epsilon: float, delta: float, steps: int, accountant: str) -> bool:
    try:
        _opacus_sigma(epsilon, delta, steps, accountant)
    except ValueError:
        return False
    return True


def _opacus_sigma(epsilon: float, delta: float, steps: int, accountant: str) -> float:
    from opacus.accountants.utils import get_noise_multiplier

    with _quiet():
        return float(get_noise_multiplier(target_epsilon=float(epsilon), target_delta=float(delta),
                                          sample_rate=1.0, steps=int(steps), accountant=accountant,
                                          epsilon_tolerance=EPSILON_TOLERANCE))


@lru_cache(maxsize=256)
def min_feasible_epsilon(delta: float, steps: int, accountant: str = "rdp") -> float:
    """The smallest ε for which the accountant finds a σ (bisection on log ε; the returned value
    is feasible and within a relative 1e-4 of the threshold)."""
    hi = 1.0
    while not _feasible(hi, delta, steps, accountant):
        hi *= 2.0
        if hi > 1e6:
            raise InputError(f"the {accountant} accountant certifies no ε <= 1e6 at δ={delta:g}")
    lo = hi / 2.0
    while _feasible(lo, delta, steps, accountant) and lo > 1e-12:
        hi, lo = lo, lo / 2.0
    while hi / lo > 1.0 + _MIN_EPS_RTOL:
        mid = math.sqrt(lo * hi)
        lo, hi = (lo, mid) if _feasible(mid, delta, steps, accountant) else (mid, hi)
    return hi


def _round_up(x: float, digits: int = 4) -> float:
    """x rounded up to `digits` significant digits (so the printed ε is itself feasible)."""
    scale = 10.0 ** (digits - 1 - math.floor(math.log10(x)))
    return math.ceil(x * scale) / scale


@lru_cache(maxsize=256)
def noise_multiplier(epsilon: float, delta: float, steps: int, accountant: str = "rdp") -> float:
    """σ such that `steps` full-batch Gaussian steps are (ε, δ)-DP under `accountant` (scope total).

    Pure function of its arguments (cached: the accountant's search takes ~1 ms–1 s). An ε the
    accountant cannot certify raises InputError naming the smallest feasible ε.
    """
    epsilon = check_epsilon(epsilon)
    check_range("delta", delta, 0.0, 1.0, low_open=True)
    check_range("steps", steps, 1)
    try:
        return _opacus_sigma(epsilon, delta, steps, accountant)
    except ValueError as exc:
        if "too low" not in str(exc):
            raise
        low = _round_up(min_feasible_epsilon(float(delta), int(steps), accountant))
        raise InputError(
            f"DP-SGD: ε={epsilon:g} is below what the {accountant} accountant can certify for "
            f"{steps} rounds at δ={delta:g}; the smallest feasible ε is {low:g} (take a larger "
            f"ε, a larger δ, or --epsilon-scope round)") from None


def gaussian_sigma(epsilon: float, delta: float) -> float:
    """The classical Gaussian mechanism's multiplier σ = √(2 ln(1.25/δ))/ε (scope round; noise
    std σ·C for sensitivity C). Dwork & Roth 2014, Thm. A.1, whose proof needs ε < 1."""
    epsilon = check_epsilon(epsilon)
    check_range("delta", delta, 0.0, 1.0, low_open=True)
    return math.sqrt(2.0 * math.log(1.25 / delta)) / epsilon


# --- the defense ---------------------------------------------------------------------------------

@dataclass
class DPSGDDefense(ClientDefense):
    """Clip each client's update to `clip_norm` and add N(0, (σ·clip_norm)²) per coordinate."""

    name: str = "dpsgd"
    clip_norm: float = 1.0
    delta: float = DEFAULT_DELTA
    accountant: str = "rdp"
    replace_adjacency: bool = False
    sigma: float | None = field(default=None, init=False)  # applied multiplier, set by start()

    def __post_init__(self) -> None:
        super().__post_init__()
        self.epsilon = check_epsilon(self.epsilon)
        check_range("clip_norm", self.clip_norm, 0.0, low_open=True)
        check_range("delta", self.delta, 0.0, 1.0, low_open=True)

    @property
    def sensitivity(self) -> float:
        """L2 sensitivity in units of C: 1 (add/remove) or 2 (replace-one)."""
        return 2.0 if self.replace_adjacency else 1.0

    def start(self, ctx: DefenseContext) -> None:
        self.check_context(ctx)
        T = ctx.rounds
        if self.scope == "total":
            self.allocation = uniform_allocation(self.epsilon, T)
            base = noise_multiplier(self.epsilon, self.delta, T, self.accountant)
        else:
            self.allocation = constant_allocation(self.epsilon, T)
            base = gaussian_sigma(self.epsilon, self.delta)
        self.sigma = self.sensitivity * base          # sensitivity 2C doubles the noise

    # --- accounting ------------------------------------------------------------------------------

    def spent(self, round_t: int) -> float:
        """The accountant's ε after `round_t` steps of this σ (noise relative to the sensitivity)."""
        if self.sigma is None or round_t <= 0:
            return 0.0
        steps = min(int(round_t), len(self.allocation))
        return accountant_epsilon(self.sigma / self.sensitivity, self.delta, steps, self.accountant)

    @property
    def epsilon_total(self) -> float:
        """Scope total: the asked ε. Scope round: the accountant's ε over all T rounds."""
        if self.sigma is None:
            return math.inf
        return self.epsilon if self.scope == "total" else self.spent(len(self.allocation))

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
            raise RuntimeError("DPSGDDefense has not been started: the round loop takes a started "
                               "defense (core.experiments.defense_setup.make_defense, or "
                               "defense.start(DefenseContext(rounds, population)))")
        self.round_epsilon(round_t)                    # a round it was started for
        return self.add_noise(self.clip(updates), gen)
