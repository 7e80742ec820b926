"""The traced matching step (core.attacks.compiled): equal to the eager closed form bit for bit,
one trace per problem structure, and the problem's tensors taken as inputs, not baked in."""
from dataclasses import replace

import pytest
import torch

from core.attacks import matching, registry
from core.attacks.compiled import StepCache
from core.attacks.engine import Problem, invert
from core.models.recurrent import ModelSpec
from test_matching_grad import _problem


def _float32(prob: Problem) -> Problem:
    f = lambda t: t.float() if t.is_floating_point() else t  # noqa: E731
    return Problem({n: f(p) for n, p in prob.params.items()},
                   {n: f(t) for n, t in prob.target.items()}, f(prob.x0), f(prob.y0),
                   prob.known_mask, prob.y_fixed)


def _matching(spec, model, prob) -> matching.LSTMMatching:
    return matching.LSTMMatching(spec, model, prob.params, prob.target,
                                 prob.y0.dtype.is_floating_point, prob.x0.shape[2])


def _assert_equal(a, b) -> None:
    for u, v in zip(a, b):
        assert (u is None) == (v is None)
        if u is not None:
            assert torch.equal(u, v)


@pytest.mark.parametrize("head", ["regression", "classification"])
@pytest.mark.parametrize("W,B", [(1, 1), (3, 2)])
@pytest.mark.parametrize("name", registry.names())
def test_traced_step_equals_the_eager_closed_form(name, head, W, B):
    model = ModelSpec() if head == "regression" else ModelSpec(head="classification", n_classes=6)
    spec = registry.get(name)
    if spec.regularizer is not None:
        spec = replace(spec, reg_weight=0.3)
    y_kind = "fixed" if spec.label == "analytic" else "float"
    prob = _float32(_problem(model, 6, B, W, y_kind, seed=3))
    if not matching.supported(spec, model, prob.params, prob.y0, prob.target):
        return
    m, need_y = _matching(spec, model, prob), not prob.y_fixed
    cache = StepCache()
    traced = cache.step(m, prob.x0, prob.y0, need_y)
    assert cache.traced == 1
    for x in (prob.x0, prob.x0 + 0.3):
        _assert_equal(traced(x, prob.y0), m(x, prob.y0, need_y))


@pytest.mark.parametrize("head", ["regression", "classification"])
def test_one_trace_serves_later_problems_with_their_own_weights(head):
    """Rounds bring new weights and uploads: the same trace must compute with them (a trace
    that baked in the first problem's tensors would return the first problem's gradients)."""
    model = ModelSpec() if head == "regression" else ModelSpec(head="classification", n_classes=5)
    spec = registry.get("st-gia")
    cache = StepCache()
    for seed in (0, 1, 2):
        prob = _float32(_problem(model, 8, 1, 1, "float", seed=seed))
        m = _matching(spec, model, prob)
        _assert_equal(cache.step(m, prob.x0, prob.y0, True)(prob.x0, prob.y0),
                      m(prob.x0, prob.y0, True))
    assert cache.traced == 1


def test_inversions_are_the_same_traced_or_eager():
    model = ModelSpec()
    spec = registry.get("st-gia")
    prob = _float32(_problem(model, 10, 1, 1, "float", seed=4))
    cache = StepCache()
    got = invert(spec, model, prob, 30, steps=cache)
    ref = invert(spec, model, prob, 30)
    assert cache.traced == 1
    _assert_equal(got, ref)


def test_a_disabled_cache_runs_eagerly():
    model = ModelSpec()
    prob = _float32(_problem(model, 4, 1, 1, "float"))
    m = _matching(registry.get("dlg"), model, prob)
    cache = StepCache(enabled=False)
    _assert_equal(cache.step(m, prob.x0, prob.y0, True)(prob.x0, prob.y0), m(prob.x0, prob.y0, True))
    assert cache.traced == 0
