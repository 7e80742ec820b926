"""The functional LSTM/GRU equal torch's modules, and batched per-client gradients are exact."""
import torch

from core.models.recurrent import ModelSpec, forward, init_params, per_client_grads


def _torch_modules(spec: ModelSpec, p: dict):
    rnn = (torch.nn.LSTM if spec.cell == "lstm" else torch.nn.GRU)(2, spec.hidden, batch_first=True)
    lin = torch.nn.Linear(spec.hidden, spec.n_out)
    with torch.no_grad():
        rnn.weight_ih_l0.copy_(p["weight_ih"]); rnn.weight_hh_l0.copy_(p["weight_hh"])
        rnn.bias_ih_l0.copy_(p["bias_ih"]); rnn.bias_hh_l0.copy_(p["bias_hh"])
        lin.weight.copy_(p["out_weight"]); lin.bias.copy_(p["out_bias"])
    return rnn, lin


def test_forward_and_per_client_grads_match_torch_modules():
    for cell in ("lstm", "gru"):
        spec = ModelSpec(cell=cell, hidden=8)
        p = init_params(spec, torch.Generator().manual_seed(0))
        rnn, lin = _torch_modules(spec, p)
        x, y = torch.rand(4, 2, 3, 2), torch.rand(4, 2, 2)
        out = forward(p, x, spec)
        ref = lin(rnn(x.view(8, 3, 2))[0][:, -1]).view(4, 2, 2)
        assert torch.allclose(out, ref, atol=1e-6)
        grads = per_client_grads(p, x, y, spec)
        for k in range(4):
            rnn.zero_grad(); lin.zero_grad()
            loss = 0.5 * ((lin(rnn(x[k])[0][:, -1]) - y[k]) ** 2).sum(-1).mean()
            loss.backward()
            assert torch.allclose(grads["weight_hh"][k], rnn.weight_hh_l0.grad, atol=1e-6)
            assert torch.allclose(grads["out_weight"][k], lin.weight.grad, atol=1e-6)


def test_double_backward_reaches_the_input():
    spec = ModelSpec()
    p = init_params(spec, torch.Generator().manual_seed(1))
    x = torch.rand(3, 1, 2, 2, requires_grad=True)
    g = per_client_grads(p, x, torch.rand(3, 1, 2), spec, create_graph=True)
    (gx,) = torch.autograd.grad(sum(v.pow(2).sum() for v in g.values()), x)
    assert gx.shape == x.shape and gx.abs().sum() > 0


def test_classification_head_cross_entropy_grads():
    spec = ModelSpec(head="classification", n_classes=7)
    p = init_params(spec, torch.Generator().manual_seed(2))
    x, y = torch.rand(2, 1, 1, 2), torch.tensor([[3], [5]])
    g = per_client_grads(p, x, y, spec)
    assert g["out_bias"].shape == (2, 7)
    assert torch.equal(g["out_bias"].argmin(1), y[:, 0])


def test_input_scale_one_is_the_paper_model_and_s_rescales_the_input():
    import pytest

    from core.errors import ParameterError
    base = ModelSpec(hidden=8)
    p = init_params(base, torch.Generator().manual_seed(3))
    x = torch.rand(3, 2, 4, 2)
    # s = 1: bit-identical to the model without the option (the paper's)
    assert torch.equal(forward(p, x, ModelSpec(hidden=8, input_scale=1.0)), forward(p, x, base))
    # s = 20: the cell sees 0.5 + (x − 0.5)·20
    scaled = ModelSpec(hidden=8, input_scale=20.0)
    assert torch.allclose(forward(p, x, scaled), forward(p, 0.5 + (x - 0.5) * 20, base), atol=1e-6)
    for bad in (0.0, -1.0, float("nan"), float("inf")):
        with pytest.raises(ParameterError, match="input_scale"):
            ModelSpec(input_scale=bad)
