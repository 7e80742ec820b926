"""Closed-form leaks of a one-point window (DESIGN §3): the window point from the first layer's
gradients, the target from the output layer's — exact without noise, for both heads and cells."""
from __future__ import annotations

import pytest
import torch

from core.attacks.analytic import classification_label, first_layer_input, regression_target
from core.models.recurrent import ModelSpec, init_params, per_client_grads


@pytest.mark.parametrize("cell", ["lstm", "gru"])
@pytest.mark.parametrize("scale", [1.0, 20.0])
def test_first_layer_gives_the_window_point_exactly(cell, scale):
    gen = torch.Generator().manual_seed(0)
    spec = ModelSpec(cell, 16, "regression", input_scale=scale)
    params = init_params(spec, gen)
    x = torch.rand(5, 1, 1, 2, generator=gen)            # K = 5 clients, one one-point window
    y = torch.rand(5, 1, 2, generator=gen)
    up = per_client_grads(params, x, y, spec)
    assert torch.allclose(first_layer_input(up, scale), x[:, 0, 0], atol=1e-4)
    assert torch.allclose(regression_target(params, up), y[:, 0], atol=1e-4)


def test_classification_label_and_point():
    gen = torch.Generator().manual_seed(1)
    spec = ModelSpec("lstm", 8, "classification", n_classes=30, input_scale=20.0)
    params = init_params(spec, gen)
    x = torch.rand(4, 1, 1, 2, generator=gen)
    labels = torch.tensor([[3], [7], [0], [29]])
    up = per_client_grads(params, x, labels, spec)
    assert classification_label(up).tolist() == [3, 7, 0, 29]
    assert torch.allclose(first_layer_input(up, 20.0), x[:, 0, 0], atol=1e-4)


def test_a_wrong_scale_is_caught():
    """Undoing the wrong input scale puts the point elsewhere: the scale is part of the model."""
    gen = torch.Generator().manual_seed(2)
    spec = ModelSpec("lstm", 8, "regression", input_scale=20.0)
    params = init_params(spec, gen)
    x = torch.rand(3, 1, 1, 2, generator=gen)
    up = per_client_grads(params, x, torch.rand(3, 1, 2, generator=gen), spec)
    assert not torch.allclose(first_layer_input(up, 1.0), x[:, 0, 0], atol=1e-2)
