"""The closed-form matching-loss gradient (`core.attacks.matching`) against autograd's double
backward, the engine's reference path; and the hand-written Adam against torch.optim.Adam."""
from dataclasses import replace

import pytest
import torch

from core.attacks import matching, registry
from core.attacks.engine import Adam, Problem, _autograd_step, _closed_form_step, invert, lr_at
from core.models.recurrent import ModelSpec, init_params, per_client_grads

DISTANCES = ("l2", "cosine", "gaussian")


def _problem(model: ModelSpec, K: int, B: int, W: int, y_kind: str, seed: int = 0,
             known: bool = False) -> Problem:
    """A float64 problem: true uploads from random windows, dummies elsewhere."""
    g = torch.Generator().manual_seed(seed)
    params = {n: p.double() for n, p in init_params(model, g).items()}
    x_true = torch.rand(K, B, W, 2, generator=g, dtype=torch.float64)
    if model.head == "regression":
        y_true = torch.rand(K, B, 2, generator=g, dtype=torch.float64)
    else:
        y_true = torch.randint(0, model.n_classes, (K, B), generator=g)
    target = {n: v.detach() for n, v in per_client_grads(params, x_true, y_true, model).items()}
    x0 = torch.rand(K, B, W, 2, generator=g, dtype=torch.float64)
    if y_kind == "float":
        y0 = torch.randn(K, B, model.n_out, generator=g, dtype=torch.float64)
    else:  # fixed labels: the true ones (analytic inference is exact)
        y0 = y_true
    mask = torch.rand(K, B, W, generator=g) < 0.3 if known else torch.zeros(K, B, W, dtype=torch.bool)
    return Problem(params, target, x0, y0, mask, y_kind != "float")


def _compare(spec, model, prob):
    y = prob.y0.clone()
    assert matching.supported(spec, model, prob.params, y, prob.target)
    fast = _closed_form_step(spec, model, prob, y)(prob.x0.clone(), y)
    ref = _autograd_step(spec, model, prob)(prob.x0.clone(), y)
    known = prob.known_mask[..., None]
    torch.testing.assert_close(fast[0], ref[0], rtol=1e-9, atol=1e-12)
    torch.testing.assert_close(fast[1].masked_fill(known, 0), ref[1], rtol=1e-6, atol=1e-10)
    if not prob.y_fixed:
        torch.testing.assert_close(fast[2], ref[2], rtol=1e-6, atol=1e-10)


@pytest.mark.parametrize("distance", DISTANCES)
@pytest.mark.parametrize("W,B", [(1, 1), (3, 1), (2, 3)])
@pytest.mark.parametrize("scale", [1.0, 20.0])
def test_closed_form_matches_autograd_regression(distance, W, B, scale):
    model = ModelSpec(input_scale=scale)
    spec = replace(registry.get("dlg"), distance=distance)
    for y_kind in ("float", "fixed"):
        _compare(spec, model, _problem(model, 5, B, W, y_kind, seed=W + B))


@pytest.mark.parametrize("distance", DISTANCES)
@pytest.mark.parametrize("W,B", [(1, 1), (3, 2)])
def test_closed_form_matches_autograd_classification(distance, W, B):
    model = ModelSpec(head="classification", n_classes=7)
    spec = replace(registry.get("dlg"), distance=distance)
    for y_kind in ("float", "fixed"):
        _compare(spec, model, _problem(model, 4, B, W, y_kind, seed=W))


@pytest.mark.parametrize("head", ["regression", "classification"])
@pytest.mark.parametrize("W", [1, 4])
@pytest.mark.parametrize("name", registry.names())
def test_closed_form_matches_autograd_for_every_recipe(name, head, W):
    """Every registered attack that runs the engine, on both heads, with known (chained) points."""
    model = ModelSpec() if head == "regression" else ModelSpec(head="classification", n_classes=6)
    spec = registry.get(name)
    spec = replace(spec, reg_weight=spec.reg_weight or 0.0) if spec.regularizer is None else \
        replace(spec, reg_weight=0.3)  # a weight large enough to test the regulariser's part
    y_kind = "fixed" if spec.label == "analytic" else "float"
    prob = _problem(model, 4, 1, W, y_kind, seed=7, known=spec.chain)
    if not matching.supported(spec, model, prob.params, prob.y0, prob.target):
        # CPL with an integer class label: autograd is the path (and the regulariser needs a float label)
        assert spec.regularizer == "cpl" and head == "classification"
        return
    _compare(spec, model, prob)


def test_gru_and_per_client_weights_fall_back_to_autograd():
    model = ModelSpec(cell="gru")
    prob = _problem(ModelSpec(), 2, 1, 1, "float")
    params = init_params(model, torch.Generator().manual_seed(0))
    assert not matching.supported(registry.get("dlg"), model, params, prob.y0, prob.target)
    per_client = {n: p.expand(2, *p.shape) for n, p in prob.params.items()}
    assert not matching.supported(registry.get("dlg"), ModelSpec(), per_client, prob.y0, prob.target)


def test_invert_closed_form_and_autograd_agree_over_a_run():
    """Whole optimisations (Adam, schedule, box, signed steps) agree in float64."""
    model = ModelSpec()
    for name in ("dlg", "invgrad", "sapag", "cpl"):
        spec = registry.get(name)
        prob = _problem(model, 3, 1, 2, "fixed" if spec.label == "analytic" else "float", seed=3)
        a = invert(spec, model, prob, 30)
        b = invert(spec, model, prob, 30, autograd=True)
        tol = 1e-4 if spec.optimizer == "signed-adam" else 1e-7  # sign() is discontinuous
        torch.testing.assert_close(a[0], b[0], rtol=tol, atol=tol)


def test_hand_written_adam_and_schedule_match_torch_optim_bit_for_bit():
    g = torch.Generator().manual_seed(0)
    p0 = torch.randn(50, generator=g)
    grads = [torch.randn(50, generator=g) for _ in range(40)]
    spec = registry.get("dlg")
    ref = p0.clone().requires_grad_(True)
    opt = torch.optim.Adam([ref], lr=spec.lr)
    sched = torch.optim.lr_scheduler.MultiStepLR(opt, milestones=[20, 30, 36], gamma=0.3)
    mine = p0.clone()
    adam = Adam(mine)
    for i, gr in enumerate(grads):
        ref.grad = gr.clone()
        opt.step()
        sched.step()
        adam.step(gr, lr_at(spec, 40, i))
    assert torch.equal(mine, ref.detach())


@pytest.mark.parametrize("distance", DISTANCES)
@pytest.mark.parametrize("W", [1, 2])
def test_closed_form_matches_autograd_on_noisy_uploads(distance, W):
    """DP-SGD noise makes even weight_hh's upload non-zero for a one-point window (whose dummy
    gradient there is structurally zero: a constant in the loss, skipped by the closed form)."""
    model = ModelSpec()
    spec = replace(registry.get("dlg"), distance=distance)
    prob = _problem(model, 3, 1, W, "float", seed=11)
    g = torch.Generator().manual_seed(1)
    noisy = {n: t + 0.05 * torch.randn(t.shape, generator=g, dtype=t.dtype) for n, t in prob.target.items()}
    _compare(spec, model, replace(prob, target=noisy))
