"""Budget allocation: uniform ε/T, the adaptive Algorithm 2, and the invariant Σ ε_t ≤ ε."""
from __future__ import annotations

import math

import numpy as np
import pytest
try:  # hypothesis is a dev dependency; the seeded loop below covers the same property without it
    from hypothesis import given, settings
    from hypothesis import strategies as st
except ImportError:  # pragma: no cover
    given = None

from core.defenses.budget import (RiskProfile, adaptive_allocation, constant_allocation,
                                  importance, uniform_allocation)
from core.errors import InputError, ParameterError


@pytest.mark.parametrize("eps,T", [(1.0, 50), (0.1, 3), (10.0, 7), (1e-3, 13), (50.0, 1), (0.3, 30)])
def test_uniform_gives_eps_over_T_and_never_exceeds(eps, T):
    a = uniform_allocation(eps, T)
    assert len(a) == T
    assert a == pytest.approx([eps / T] * T, rel=1e-12)
    assert sum(a) <= eps and math.fsum(a) <= eps


def test_adaptive_hand_computed():
    # γ = 0.5·ASR + 0.5/max(AIT/N, 1/N); p = e^(−γ); ε_t = p·(ε − Σ previous)
    prof = RiskProfile((1.0, 0.0, 0.5), (10.0, 100.0, 0.0), 100)
    g = [0.5 * 1.0 + 0.5 / 0.1, 0.5 * 0.0 + 0.5 / 1.0, 0.5 * 0.5 + 0.5 / 0.01]
    eps = 10.0
    e1 = math.exp(-g[0]) * eps
    e2 = math.exp(-g[1]) * (eps - e1)
    e3 = math.exp(-g[2]) * (eps - e1 - e2)
    verbatim = adaptive_allocation(eps, prof, spend_remainder=False)
    assert verbatim == pytest.approx([e1, e2, e3], rel=1e-12)
    spent_all = adaptive_allocation(eps, prof)
    assert spent_all[:2] == pytest.approx([e1, e2], rel=1e-12)
    assert spent_all[2] == pytest.approx(eps - e1 - e2, rel=1e-12)
    assert importance(1.0, 10.0, 100) == pytest.approx(g[0])


def test_riskier_round_gets_a_smaller_share_of_what_is_left():
    calm = adaptive_allocation(1.0, RiskProfile((0.1, 0.1), (80.0, 80.0), 100), spend_remainder=False)
    risky = adaptive_allocation(1.0, RiskProfile((0.9, 0.1), (5.0, 80.0), 100), spend_remainder=False)
    assert risky[0] < calm[0]


def test_custom_weights_and_functions():
    prof = RiskProfile((0.4,), (50.0,), 100)
    a = adaptive_allocation(2.0, prof, alpha=1.0, f1=lambda a: 2 * a, spend_remainder=False)
    assert a[0] == pytest.approx(2.0 * math.exp(-0.8))
    with pytest.raises(ParameterError):
        adaptive_allocation(2.0, prof, alpha=0.7, beta=0.7)
    with pytest.raises(ParameterError):
        adaptive_allocation(2.0, prof, alpha=1.0, f1=lambda a: -1.0)    # γ < 0 would overspend


def test_profile_must_cover_the_run():
    with pytest.raises(InputError, match="covers 2 rounds"):
        adaptive_allocation(1.0, RiskProfile((0.1, 0.2), (3.0, 4.0), 10), rounds=5)
    with pytest.raises(InputError):
        RiskProfile((0.1, float("nan")), (3.0, 4.0), 10)
    assert len(adaptive_allocation(1.0, RiskProfile((0.1,) * 8, (3.0,) * 8, 10), rounds=5)) == 5


def _check_adaptive(asr, ait, eps, alpha, spend, iters):
    ait = [min(a, iters) for a in ait]
    a = adaptive_allocation(eps, RiskProfile(tuple(asr), tuple(ait), iters), alpha=alpha,
                            spend_remainder=spend)
    assert len(a) == len(asr)
    assert all(x >= 0 and math.isfinite(x) for x in a)
    assert sum(a) <= eps and math.fsum(a) <= eps
    assert all(sum(a[:t]) <= eps for t in range(len(a) + 1))
    if spend:
        assert math.fsum(a) == pytest.approx(eps, rel=1e-9)


def test_adaptive_never_allocates_more_than_eps_seeded_sweep():
    rng = np.random.default_rng(1)
    for _ in range(500):
        T = int(rng.integers(1, 80))
        _check_adaptive(rng.random(T).tolist(), rng.uniform(1, 500, T).tolist(),
                        float(10 ** rng.uniform(-4, 3)), float(rng.random()), bool(rng.random() < 0.5),
                        int(rng.integers(1, 500)))


if given is not None:
    profiles = st.integers(1, 60).flatmap(lambda T: st.tuples(
        st.lists(st.floats(0.0, 1.0), min_size=T, max_size=T),
        st.lists(st.floats(1.0, 500.0), min_size=T, max_size=T)))

    @settings(max_examples=300, deadline=None)
    @given(prof=profiles, eps=st.floats(1e-4, 1e3), alpha=st.floats(0.0, 1.0),
           spend=st.booleans(), iters=st.integers(1, 500))
    def test_adaptive_never_allocates_more_than_eps(prof, eps, alpha, spend, iters):
        _check_adaptive(prof[0], prof[1], eps, alpha, spend, iters)


def test_uniform_never_exceeds_over_a_seeded_sweep():
    rng = np.random.default_rng(0)
    for _ in range(2000):
        eps = float(10 ** rng.uniform(-4, 3))
        T = int(rng.integers(1, 200))
        a = uniform_allocation(eps, T)
        assert sum(a) <= eps and math.fsum(a) <= eps


def test_constant_allocation_gives_eps_every_round_and_refuses_nan_and_inf():
    assert constant_allocation(2.5, 4) == [2.5] * 4
    for bad in (math.nan, math.inf, 0.0):
        for fn in (constant_allocation, uniform_allocation):
            with pytest.raises(ParameterError):
                fn(bad, 3)
        with pytest.raises(ParameterError):
            adaptive_allocation(bad, RiskProfile((0.5,), (3.0,), 10))


def test_proportional_allocation_keeps_the_risk_order_and_spends_exactly_epsilon():
    from core.defenses.budget import proportional_allocation

    prof = RiskProfile(asr=(0.9, 0.5, 0.1), ait=(10.0, 50.0, 200.0), iters=200)
    alloc = proportional_allocation(6.0, prof)
    # by hand: p_t = exp(-(0.5·ASR + 0.5/max(AIT/200, 1/200)))
    p = [math.exp(-(0.5 * a + 0.5 / max(k / 200, 1 / 200))) for a, k in zip(prof.asr, prof.ait)]
    assert alloc == pytest.approx([6.0 * x / sum(p) for x in p])
    assert alloc[0] < alloc[1] < alloc[2] and math.fsum(alloc) <= 6.0
    assert math.fsum(alloc) == pytest.approx(6.0)
