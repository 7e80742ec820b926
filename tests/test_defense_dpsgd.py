"""DP-SGD on the client's upload: clipping, noise scale and the accountant's σ."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from opacus.accountants.utils import get_noise_multiplier

from core.defenses import registry
from core.defenses.dpsgd import DPSGDDefense, noise_multiplier


def _updates(K=64, seed=0):
    g = torch.Generator().manual_seed(seed)
    scale = torch.logspace(-2, 2, K)                   # norms from far below to far above C
    return {"w": torch.randn(K, 5, 7, generator=g) * scale[:, None, None],
            "b": torch.randn(K, 3, generator=g) * scale[:, None]}


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


def test_noise_std_is_sigma_times_c_and_comes_from_the_generator():
    d = DPSGDDefense(epsilon=10.0, clip_norm=0.7)
    d.start(50, None)
    zero = {"w": torch.zeros(200, 1000)}
    noisy = d.add_noise(zero, torch.Generator().manual_seed(1))["w"]
    n = noisy.numel()
    std = float(noisy.std())
    target = d.sigma * 0.7
    assert abs(std - target) < 4 * target / np.sqrt(2 * n)          # SE of the sample std
    assert abs(float(noisy.mean())) < 4 * target / np.sqrt(n)
    again = d.add_noise(zero, torch.Generator().manual_seed(1))["w"]
    assert torch.equal(noisy, again)                                # explicit generator, no global RNG
    torch.manual_seed(123)                                          # global RNG is irrelevant
    assert torch.equal(d.add_noise(zero, torch.Generator().manual_seed(1))["w"], noisy)


def test_privatize_is_clip_then_noise():
    d = DPSGDDefense(epsilon=5.0)
    d.start(10, None)
    up = _updates()
    out = d.privatize(1, up, torch.Generator().manual_seed(7))
    expected = d.add_noise(d.clip(up), torch.Generator().manual_seed(7))
    for k in up:
        assert torch.equal(out[k], expected[k])


@pytest.mark.parametrize("eps,steps", [(10.0, 50), (1.0, 50), (5.0, 10)])
def test_sigma_equals_the_accountants_value(eps, steps):
    expected = get_noise_multiplier(target_epsilon=eps, target_delta=1e-5, sample_rate=1.0,
                                    steps=steps, accountant="rdp")
    assert noise_multiplier(eps, 1e-5, steps) == expected
    d = registry.make("dpsgd", eps)
    d.start(steps, None)
    assert d.sigma == expected
    assert d.allocation == pytest.approx([eps / steps] * steps)
    assert sum(d.allocation) <= eps


def test_sigma_pinned_value_from_the_design_notes():
    assert noise_multiplier(10.0, 1e-5, 50) == pytest.approx(3.75, abs=0.01)


def test_replace_adjacency_doubles_the_noise():
    a = DPSGDDefense(epsilon=10.0)
    b = DPSGDDefense(epsilon=10.0, replace_adjacency=True)
    a.start(50, None), b.start(50, None)
    assert b.sigma == 2 * a.sigma
