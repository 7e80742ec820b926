"""DP-SGD on the client's upload: clipping, the noise law, σ in both scopes, the accountant.

Like the location mechanisms, the noise is checked against its formula by a check function that
is shown to FAIL on a deliberately broken defense (σ halved; the round-scope formula with ln(1/δ)
instead of ln(1.25/δ) is too close to catch statistically, so σ itself is pinned exactly).
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass

import pytest
import torch
from opacus.accountants import RDPAccountant
from opacus.accountants.utils import get_noise_multiplier

from core.defenses import registry
from core.defenses.dpsgd import (DPSGDDefense, gaussian_sigma, min_feasible_epsilon,
                                 noise_multiplier)
from core.errors import InputError, ParameterError
from core.federated.defense_hook import DefenseContext

DELTA = 1e-5


def ctx(rounds: int) -> DefenseContext:
    return DefenseContext(rounds, population=None)       # DP-SGD needs nothing else


def started(eps: float, rounds: int, **opts) -> DPSGDDefense:
    d = DPSGDDefense(epsilon=eps, **opts)
    d.start(ctx(rounds))
    return d


def rdp_epsilon(sigma: float, steps: int, delta: float = DELTA) -> float:
    """Opacus's RDP accountant, called directly: history [(σ, q=1, steps)]."""
    acct = RDPAccountant()
    acct.history = [(sigma, 1.0, steps)]
    return acct.get_epsilon(delta)


def _updates(K=64, seed=0):
    g = torch.Generator().manual_seed(seed)
    scale = torch.logspace(-2, 2, K)                   # norms from far below to far above C
    return {"w": torch.randn(K, 5, 7, generator=g) * scale[:, None, None],
            "b": torch.randn(K, 3, generator=g) * scale[:, None]}


# --- clipping and the noise law -------------------------------------------------------------------

def test_clip_bounds_every_client_norm_and_leaves_small_updates_alone():
    d = DPSGDDefense(epsilon=10.0, clip_norm=1.5)
    up = _updates()
    before = DPSGDDefense.per_client_norms(up)
    after = DPSGDDefense.per_client_norms(d.clip(up))
    assert (after <= 1.5 + 1e-6).all()
    small = before < 1.0
    assert small.any() and torch.allclose(after[small], before[small], rtol=1e-5)
    big = before > 3.0
    assert big.any() and torch.allclose(after[big], torch.full_like(after[big], 1.5), rtol=1e-5)
    # clipping is a rescaling: directions unchanged
    c = d.clip(up)
    cos = (c["w"] * up["w"]).flatten(1).sum(1) / (c["w"].flatten(1).norm(dim=1) * up["w"].flatten(1).norm(dim=1))
    assert torch.allclose(cos, torch.ones_like(cos), atol=1e-5)


def gaussian_noise_ok(defense, expected_std: float, n_clients: int = 200, dim: int = 1000) -> bool:
    """True iff `defense.privatize` on zero updates adds centred noise whose std matches
    `expected_std` (within 4 standard errors of the sample std and mean)."""
    zero = {"w": torch.zeros(n_clients, dim, dtype=torch.float64)}
    noisy = defense.privatize(1, zero, torch.Generator().manual_seed(1))["w"]
    n = noisy.numel()
    std, mean = float(noisy.std()), float(noisy.mean())
    return (abs(std - expected_std) < 4 * expected_std / math.sqrt(2 * n)
            and abs(mean) < 4 * expected_std / math.sqrt(n))


@dataclass
class _HalvedSigma(DPSGDDefense):
    """Broken on purpose: noise with σ/2."""

    def start(self, ctx):
        super().start(ctx)
        self.sigma /= 2


@pytest.mark.parametrize("eps,clip", [(0.5, 0.7), (5.0, 1.0), (20.0, 2.0)])
def test_round_scope_noise_std_is_the_gaussian_mechanisms_and_halved_sigma_is_caught(eps, clip):
    expected = math.sqrt(2 * math.log(1.25 / DELTA)) / eps * clip      # σ·C, written out here
    assert gaussian_noise_ok(started(eps, 10, clip_norm=clip, scope="round"), expected)
    assert not gaussian_noise_ok(started(eps, 10, clip_norm=clip, scope="round",
                                         replace_adjacency=True), expected)
    broken = _HalvedSigma(epsilon=eps, clip_norm=clip, scope="round")
    broken.start(ctx(10))
    assert not gaussian_noise_ok(broken, expected)


def test_total_scope_noise_std_is_the_accountants_sigma_and_halved_sigma_is_caught():
    expected = get_noise_multiplier(target_epsilon=10.0, target_delta=DELTA, sample_rate=1.0,
                                    steps=50, accountant="rdp") * 0.7
    assert gaussian_noise_ok(started(10.0, 50, clip_norm=0.7), expected)
    broken = _HalvedSigma(epsilon=10.0, clip_norm=0.7)
    broken.start(ctx(50))
    assert not gaussian_noise_ok(broken, expected)


def test_noise_comes_from_the_generator_only():
    d = started(10.0, 50, clip_norm=0.7)
    zero = {"w": torch.zeros(20, 100)}
    noisy = d.add_noise(zero, torch.Generator().manual_seed(1))["w"]
    assert torch.equal(d.add_noise(zero, torch.Generator().manual_seed(1))["w"], noisy)
    torch.manual_seed(123)                                          # global RNG is irrelevant
    assert torch.equal(d.add_noise(zero, torch.Generator().manual_seed(1))["w"], noisy)


def test_privatize_is_clip_then_noise():
    d = started(5.0, 10)
    up = _updates()
    out = d.privatize(1, up, torch.Generator().manual_seed(7))
    expected = d.add_noise(d.clip(up), torch.Generator().manual_seed(7))
    for k in up:
        assert torch.equal(out[k], expected[k])


def test_unstarted_or_out_of_range_use_fails_clearly():
    d = DPSGDDefense(epsilon=1.0)
    with pytest.raises(RuntimeError, match="not been started"):
        d.privatize(1, _updates(), torch.Generator())
    d.start(ctx(3))
    with pytest.raises(InputError, match="round 4"):
        d.privatize(4, _updates(), torch.Generator())


# --- σ and the reported budget, per scope ---------------------------------------------------------

@pytest.mark.parametrize("eps,steps", [(10.0, 50), (1.0, 50), (5.0, 10)])
def test_total_scope_sigma_equals_the_accountants_value(eps, steps):
    expected = get_noise_multiplier(target_epsilon=eps, target_delta=DELTA, sample_rate=1.0,
                                    steps=steps, accountant="rdp")
    assert noise_multiplier(eps, DELTA, steps) == expected
    d = registry.make("dpsgd", eps, scope="total")
    d.start(ctx(steps))
    assert d.sigma == expected
    assert d.allocation == pytest.approx([eps / steps] * steps)     # nominal uniform share
    assert sum(d.allocation) <= eps
    assert d.epsilon_total == eps                                   # the asked ε
    assert d.spent(steps) == pytest.approx(rdp_epsilon(expected, steps), rel=1e-12)
    assert eps - 0.01 - 1e-9 <= d.spent(steps) <= eps               # Opacus's search tolerance


def test_directly_built_defense_defaults_to_total_scope():
    assert DPSGDDefense(epsilon=1.0).scope == "total"
    assert registry.make("dpsgd", 1.0).scope == "total"


def test_sigma_pinned_value_from_the_design_notes():
    assert noise_multiplier(10.0, DELTA, 50) == pytest.approx(3.75, abs=0.01)


@pytest.mark.parametrize("eps,delta,steps", [(0.5, 1e-5, 10), (1.0, 1e-5, 50), (10.0, 1e-6, 20),
                                             (50.0, 1e-5, 3)])
def test_round_scope_sigma_allocation_and_composed_total(eps, delta, steps):
    d = started(eps, steps, scope="round", delta=delta)
    sigma = math.sqrt(2 * math.log(1.25 / delta)) / eps
    assert d.sigma == pytest.approx(sigma, rel=1e-15)
    assert gaussian_sigma(eps, delta) == pytest.approx(sigma, rel=1e-15)
    assert d.allocation == [eps] * steps
    total = rdp_epsilon(sigma, steps, delta)
    assert d.epsilon_total == pytest.approx(total, rel=1e-12)
    spent = [d.spent(t) for t in range(steps + 1)]
    assert spent[0] == 0.0 and spent[-1] == d.epsilon_total
    assert all(a < b for a, b in zip(spent, spent[1:]))             # strictly increasing
    assert spent[1] == pytest.approx(rdp_epsilon(sigma, 1, delta), rel=1e-12)


def test_round_scope_pinned_numbers():
    # σ = √(2 ln 125000)/ε; the RDP accountant over 50 steps at σ(ε=1)
    assert gaussian_sigma(1.0, 1e-5) == pytest.approx(4.8448052626, rel=1e-9)
    d = started(1.0, 50, scope="round")
    assert d.epsilon_total == pytest.approx(rdp_epsilon(4.8448052626, 50), rel=1e-8)
    assert 7.0 < d.epsilon_total < 50.0       # RDP composes well below 50·ε


def test_replace_adjacency_doubles_the_noise_and_keeps_the_budget():
    for scope in ("total", "round"):
        a, b = started(10.0, 50, scope=scope), started(10.0, 50, scope=scope,
                                                        replace_adjacency=True)
        assert b.sigma == 2 * a.sigma
        assert b.epsilon_total == a.epsilon_total and b.spent(7) == a.spent(7)


# --- refusals ---------------------------------------------------------------------------------------

@pytest.mark.filterwarnings("ignore:Optimal order is the")
def test_too_small_epsilon_names_the_smallest_feasible_one():
    with pytest.raises(InputError, match="smallest feasible ε is") as err:
        noise_multiplier(0.05, DELTA, 50)
    m = re.search(r"smallest feasible ε is ([0-9.eE+-]+)", str(err.value))
    low = float(m.group(1))
    assert low == pytest.approx(min_feasible_epsilon(DELTA, 50), rel=1e-3)
    assert noise_multiplier(low, DELTA, 50) > 0           # the printed ε itself is feasible
    # the threshold is real: just above it Opacus finds σ, just below it gives up
    get_noise_multiplier(target_epsilon=low * 1.001, target_delta=DELTA, sample_rate=1.0, steps=50)
    with pytest.raises(ValueError, match="too low"):
        get_noise_multiplier(target_epsilon=low * 0.99, target_delta=DELTA, sample_rate=1.0,
                             steps=50)
    with pytest.raises(InputError, match="smallest feasible"):
        started(0.05, 50, scope="total")
    started(0.05, 50, scope="round")          # the per-round Gaussian mechanism has no such floor


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf, 0.0, -1.0])
def test_nan_inf_and_nonpositive_epsilon_are_refused_everywhere(bad):
    for name in ("dpsgd", "geoi", "geogi", "adaptive"):
        with pytest.raises(ParameterError):
            registry.make(name, bad)
    with pytest.raises(ParameterError):
        DPSGDDefense(epsilon=bad)
    with pytest.raises(ParameterError):
        noise_multiplier(bad, DELTA, 50)        # Opacus alone would return σ = 10 for inf/NaN
    with pytest.raises(ParameterError):
        gaussian_sigma(bad, DELTA)


def test_bad_delta_and_scope_are_refused():
    for delta in (0.0, 1.5, math.nan):
        with pytest.raises(ParameterError):
            DPSGDDefense(epsilon=1.0, delta=delta)
    with pytest.raises(ParameterError, match="scope"):
        DPSGDDefense(epsilon=1.0, scope="epoch")

