"""Closed-form gradient of the gradient-matching loss with respect to the dummies (LSTM).

The engine minimises, per row k (client × restart), the matching loss (paper Eq. 7/8)

    M_k(x, y) = D(G_k(x, y), T_k) + α·R(x, y),      G_k = ∇_θ (1/B) Σ_b L(F_θ(x_kb), y_kb),

and needs ∇_x M and ∇_y M. Generic autograd does it by double backward through the per-client
gradient graph (`per_client_grads(..., create_graph=True)`); at the paper's sizes that is
hundreds of tiny autograd nodes per iteration. Here it is derived by hand:

1. Forward the LSTM once (shared weights), then backpropagate through time by hand to get G
   (Hochreiter & Schmidhuber's cell, PyTorch gate order i, f, g, o).
2. V = ∂D/∂G in closed form (`core.attacks.distances.DISTANCE_GRADS`).
3. Chain rule with V held fixed: ∇_x M = ∇_x ⟨V, G(x, y)⟩, and ⟨V, G⟩ = (1/B) Σ_b ∂_ε L(θ + εV)
   is a directional derivative of the loss along the parameter direction V (per row): a
   tangent (forward-mode) pass through the cell, φ_b = ∂L/∂out · ȯut (Pearlmutter 1994, the
   R-operator). ∇_x φ is then one hand-written reverse sweep over the primal and tangent
   recurrences (below: Ā adjoint of gate values, Ǡ of gate tangents).

Everything is one batch over rows (K) and windows (B); the W time steps are the only loop.
`supported` says which problems this covers; the engine keeps autograd for the rest and as the
reference the tests compare against (~1e-6 relative).
"""
from __future__ import annotations

import copy
from dataclasses import dataclass

import torch
from torch import Tensor

from core.attacks.distances import DISTANCE_GRADS, PreparedDistance
from core.attacks.spec import AttackSpec
from core.models.recurrent import ModelSpec

NAMES = ("weight_ih", "weight_hh", "bias_ih", "bias_hh", "out_weight", "out_bias")


def supported(spec: AttackSpec, model: ModelSpec, params: dict[str, Tensor], y: Tensor,
              target: dict[str, Tensor]) -> bool:
    """Whether the closed form covers this problem: LSTM, shared (global) weights, the six
    standard parameters, a distance with a closed-form ∂D/∂G, and a regulariser it derives
    (CPL's needs a float label, as the autograd path does)."""
    return (model.cell == "lstm" and params["out_bias"].dim() == 1
            and tuple(target) == NAMES and tuple(params) == NAMES
            and spec.distance in DISTANCE_GRADS
            and spec.regularizer in (None, "tv", "cpl")
            and (spec.regularizer != "cpl" or y.dtype.is_floating_point))


@dataclass
class _Forward:
    """Per-step cache of the primal pass: z_t (K,B,2), activated gates A_t (K,B,4H) and their
    views (i, f, g, o), the derivative A'_t and dA'/dA, cell c_t, tanh(c_t), 1 − tanh²(c_t),
    o_t·(1 − tanh²(c_t)), hidden h_t; h/c lists start with h_0 = c_0 = None. The derived terms
    are cached because the gradient, tangent and reverse passes all reuse them."""

    z: list[Tensor]
    A: list[Tensor]
    gates: list[tuple[Tensor, Tensor, Tensor, Tensor]]
    dA: list[Tensor]
    d2A: list[Tensor]
    c: list[Tensor | None]
    T: list[Tensor]
    Tp: list[Tensor]
    oTp: list[Tensor]
    h: list[Tensor | None]
    out: Tensor


@dataclass
class _Tangent:
    """Per-step cache of the tangent pass: ȧ_t, Ȧ_t (K,B,4H) and its gate views, ċ_t (list
    starts with ċ_0 = None) and the output's tangent u = ȯut (K,B,C)."""

    ad: list[Tensor]
    gates: list[tuple[Tensor, Tensor, Tensor, Tensor]]
    cd: list[Tensor | None]
    u: Tensor


class LSTMMatching:
    """The matching loss and its closed-form gradient for one inversion problem.

    Built once per `invert` call (constants: transposed weights, the gate masks, the prepared
    distance); `__call__(x, y)` returns (loss rows (K,), ∂M/∂x, ∂M/∂y or None).
    The tensors are small, so time goes to per-operation overhead: fused forms (addcmul,
    baddbmm) and the cached terms above keep the operation count down.
    """

    def __init__(self, spec: AttackSpec, model: ModelSpec, params: dict[str, Tensor],
                 target: dict[str, Tensor], y_float: bool, window: int) -> None:
        self.model, self.H, self.s = model, model.hidden, model.input_scale
        p = {n: params[n].detach() for n in NAMES}
        self.W_ih, self.W_hh, self.V = p["weight_ih"], p["weight_hh"], p["out_weight"]
        self.W_ihT, self.W_hhT, self.VT = self.W_ih.T, self.W_hh.T, self.V.T
        self.b = p["bias_ih"] + p["bias_hh"]
        self.v = p["out_bias"]
        H = self.H
        # t = 1 on the g gate (tanh), 0 on i, f, o (sigmoid). With s = σ(two·a):
        # A = two·s − t (tanh(a) = 2σ(2a) − 1), A' = two²·s(1 − s), dA'/dA = 1 − 2A − t
        self.tmask = torch.zeros(4 * H, dtype=self.W_ih.dtype)
        self.tmask[2 * H:3 * H] = 1.0
        self.two = 1.0 + self.tmask
        self.four = self.two * self.two
        self.neg_t, self.one_t = -self.tmask, 1.0 - self.tmask
        self.one = torch.ones((), dtype=self.W_ih.dtype)
        # a one-point window never multiplies weight_hh (h_0 = 0): its gradient is 0, skipped
        self.hh = window > 1
        zero = [n == "weight_hh" and not self.hh for n in NAMES]
        live = [n for n, z in zip(NAMES, zero) if not z]
        self.sizes = [target[n][0].numel() for n in live]
        self.shapes = {n: tuple(target[n].shape[1:]) for n in live}
        true = [target[n].reshape(target[n].shape[0], -1) for n in NAMES]
        self.distance: PreparedDistance = DISTANCE_GRADS[spec.distance](true, zero)
        self.reg, self.alpha = spec.regularizer, spec.reg_weight
        self.y_float = y_float
        # everything that fixes the sequence of operations besides the input shapes
        self.key = (model.cell, model.hidden, model.head, model.n_classes, self.s, spec.distance,
                    self.reg, self.alpha, y_float, window, tuple(self.sizes))

    # ---- the problem's tensors, exchangeable (a traced step takes them as inputs) ----------
    _PROBLEM = ("W_ih", "W_hh", "V", "W_ihT", "W_hhT", "VT", "b", "v")

    def tensors(self) -> tuple[Tensor, ...]:
        """The tensors that change from problem to problem (weights, prepared distance)."""
        return tuple(getattr(self, n) for n in self._PROBLEM) + self.distance.state

    def rebind(self, tensors: tuple[Tensor, ...]) -> "LSTMMatching":
        """A copy computing with `tensors` (as from `tensors()`) instead of its own."""
        new = copy.copy(self)
        n = len(self._PROBLEM)
        for name, t in zip(self._PROBLEM, tensors[:n]):
            setattr(new, name, t)
        new.distance = self.distance.with_state(tensors[n:])
        return new

    # ---- primal ---------------------------------------------------------------------------
    def _forward(self, x: Tensor) -> _Forward:
        """The cell over x (K,B,W,2) with shared weights (`recurrent.last_hidden`, by hand)."""
        z_all = x if self.s == 1.0 else 0.5 + (x - 0.5) * self.s
        f = _Forward([], [], [], [], [], [None], [], [], [], [None], x)
        H = self.H
        for t in range(x.shape[2]):
            z = z_all.select(2, t)
            a = torch.addmm(self.b, z.reshape(-1, 2), self.W_ihT).view(*z.shape[:2], 4 * H)
            if f.h[-1] is not None:
                a = a + f.h[-1] @ self.W_hhT
            sig = torch.sigmoid(a * self.two)
            A = torch.addcmul(self.neg_t, sig, self.two)
            i, fg, g, o = A.split(H, -1)
            c = i * g if f.c[-1] is None else torch.addcmul(i * g, fg, f.c[-1])
            T = torch.tanh(c)
            Tp = torch.addcmul(self.one, T, T, value=-1.0)  # 1 − tanh²(c)
            f.z.append(z); f.A.append(A); f.gates.append((i, fg, g, o))
            f.dA.append(torch.addcmul(sig, sig, sig, value=-1.0).mul_(self.four))
            f.d2A.append(torch.add(self.one_t, A, alpha=-2.0))
            f.c.append(c); f.T.append(T); f.Tp.append(Tp); f.oTp.append(o * Tp); f.h.append(o * T)
        f.out = f.h[-1] @ self.VT + self.v
        return f

    def _delta(self, out: Tensor, y: Tensor) -> tuple[Tensor, Tensor | None, Tensor | None]:
        """δ = ∂L/∂out per window, and (p, q) = (softmax(out), the target distribution) for the
        classification head (soft labels softmax(y), or one-hot integer labels)."""
        if self.model.head == "regression":
            return out - y, None, None
        p = torch.softmax(out, -1)
        if self.y_float:
            q = torch.softmax(y, -1)
        else:
            q = torch.zeros_like(p).scatter_(-1, y[..., None], 1.0)
        return p - q, p, q

    def _grads(self, f: _Forward, delta: Tensor) -> Tensor:
        """Per-row gradient of the mean loss over B, flattened in `NAMES` order (K, P):
        backpropagation through time by hand. `delta` comes already divided by B."""
        K = delta.shape[0]
        gV = _bmm(delta.transpose(1, 2), f.h[-1])                # (K, C, H)
        gv = _sum_windows(delta)
        dh = delta @ self.V                                      # (K, B, H)
        dc = None
        gWi = gWh = gb = None
        for t in range(len(f.A) - 1, -1, -1):
            i, fg, g, o = f.gates[t]
            dc = dh * f.oTp[t] if dc is None else torch.addcmul(dc, dh, f.oTp[t])
            c_prev = f.c[t]
            dA = torch.cat([dc * g, dc * c_prev if c_prev is not None else torch.zeros_like(dc),
                            dc * i, dh * f.T[t]], -1)
            da = dA.mul_(f.dA[t])                                # (K, B, 4H)
            daT = da.transpose(1, 2)
            gWi = _bmm(daT, f.z[t]) if gWi is None else gWi + _bmm(daT, f.z[t])
            gb_t = _sum_windows(da)
            gb = gb_t if gb is None else gb + gb_t
            if f.h[t] is not None:
                gWh = torch.bmm(daT, f.h[t]) if gWh is None else torch.baddbmm(gWh, daT, f.h[t])
                dh = da @ self.W_hh
                dc = dc * fg
        hh = [gWh.reshape(K, -1)] if self.hh else []
        return torch.cat([gWi.reshape(K, -1)] + hh + [gb, gb, gV.reshape(K, -1), gv], 1)

    def _split(self, flat: Tensor) -> dict[str, Tensor]:
        """∂D/∂G (K, P) -> per parameter (weight_hh absent for one-point windows)."""
        K = flat.shape[0]
        return {n: v if len(s) == 1 else v.reshape(K, *s)      # 1-d parameters: already (K, n)
                for (n, s), v in zip(self.shapes.items(), flat.split(self.sizes, 1))}

    # ---- the matching loss and its gradient -------------------------------------------------
    def __call__(self, x: Tensor, y: Tensor, need_y: bool) -> tuple[Tensor, Tensor, Tensor | None]:
        """(M (K,), ∂M/∂x (K,B,W,2), ∂M/∂y or None) at the dummies x, y (module docstring)."""
        f = self._forward(x)
        delta, p, q = self._delta(f.out, y)
        B = x.shape[1]
        loss, Vflat = self.distance(self._grads(f, delta / B if B > 1 else delta))
        V = self._split(Vflat)
        tan = self._tangent(f, V)
        ubar, rbar = (delta / B, tan.u / B) if B > 1 else (delta, tan.u)  # adjoints of ȯut, δ
        obar, ybar = self._out_adjoint(rbar, f.out, y, p, q, need_y)
        if self.reg is not None:
            loss = loss + self.alpha * self._reg_value(x, f.out, y, p, q)
        gx = self._reverse(f, tan, V, obar, ubar)
        if self.reg == "tv":
            gx = gx + self.alpha * _tv_grad(x)
        return loss, gx, ybar

    def _tangent(self, f: _Forward, V: dict[str, Tensor]) -> "_Tangent":
        """Forward-mode pass along the per-row parameter direction V: ȧ_t, Ȧ_t, ċ_t and ȯut."""
        WdT, Ud, Vd = V["weight_ih"].transpose(1, 2), V.get("weight_hh"), V["out_weight"]
        bd = (V["bias_ih"] + V["bias_hh"]).unsqueeze(1)
        H = self.H
        tan = _Tangent([], [], [None], f.out)
        hd = None
        for t in range(len(f.A)):
            ad = _bmm(f.z[t], WdT) + bd
            if f.h[t] is not None:
                ad = torch.baddbmm(ad, f.h[t], Ud.transpose(1, 2)) + hd @ self.W_hhT
            Ad = f.dA[t] * ad
            i, fg, g, o = f.gates[t]
            di, dfg, dg, do = Ad.split(H, -1)
            cd = torch.addcmul(di * g, i, dg)
            if tan.cd[-1] is not None:
                cd = torch.addcmul(torch.addcmul(cd, dfg, f.c[t]), fg, tan.cd[-1])
            hd = torch.addcmul(do * f.T[t], f.oTp[t], cd)
            tan.ad.append(ad); tan.gates.append((di, dfg, dg, do)); tan.cd.append(cd)
        tan.u = torch.baddbmm(V["out_bias"].unsqueeze(1), f.h[-1], Vd.transpose(1, 2)) + hd @ self.VT
        return tan

    def _reverse(self, f: _Forward, tan: "_Tangent", V: dict[str, Tensor], obar: Tensor,
                 ubar: Tensor) -> Tensor:
        """Reverse sweep over the primal and tangent recurrences from the adjoints of out (ō)
        and ȯut (ū): returns ∂φ/∂x (K,B,W,2). Ā / Ǡ: adjoints of the gates and their tangents."""
        Wd, Ud, Vd = V["weight_ih"], V.get("weight_hh"), V["out_weight"]
        hbar = torch.baddbmm(obar @ self.V, ubar, Vd)
        hdbar = ubar @ self.V
        cbar = cdbar = None
        xbar = []
        for t in range(len(f.A) - 1, -1, -1):
            T, Tp, cd = f.T[t], f.Tp[t], tan.cd[t + 1]
            i, fg, g, o = f.gates[t]
            di, dfg, dg, do = tan.gates[t]
            # h = o·tanh(c),  ḣ = ȯ·tanh(c) + o·(1 − tanh²c)·ċ
            q = hdbar * o
            o_bar = torch.addcmul(hbar * T, hdbar * Tp, cd)
            od_bar = hdbar * T
            Tbar = torch.addcmul(torch.addcmul(hbar * o, hdbar, do), q * T, cd, value=-2.0)
            cbar = Tbar * Tp if cbar is None else torch.addcmul(cbar, Tbar, Tp)
            cdbar = q * Tp if cdbar is None else torch.addcmul(cdbar, q, Tp)
            # c = f·c₋ + i·g,  ċ = ḟ·c₋ + f·ċ₋ + i̇·g + i·ġ
            c_prev, cd_prev = f.c[t], tan.cd[t]
            if c_prev is None:
                f_bar = fd_bar = torch.zeros_like(cbar)
            else:
                f_bar = torch.addcmul(cbar * c_prev, cdbar, cd_prev)
                fd_bar = cdbar * c_prev
            Abar = torch.cat([torch.addcmul(cbar * g, cdbar, dg), f_bar,
                              torch.addcmul(cbar * i, cdbar, di), o_bar], -1)
            Adbar = torch.cat([cdbar * g, fd_bar, cdbar * i, od_bar], -1)
            # Ȧ = A'(a)·ȧ:  ǡ = Ǡ·A',  ā = (Ā + Ǡ·ȧ·dA'/dA)·A'
            dA = f.dA[t]
            adbar = Adbar * dA
            abar = torch.addcmul(Abar, Adbar * tan.ad[t], f.d2A[t]).mul_(dA)
            # a = W_ih z + W_hh h₋ + b,  ȧ = Ẇ_ih z + Ẇ_hh h₋ + W_hh ḣ₋ + ḃ
            zbar = torch.baddbmm(abar @ self.W_ih, adbar, Wd)
            xbar.append(zbar * self.s if self.s != 1.0 else zbar)
            if f.h[t] is not None:
                hbar = torch.baddbmm(abar @ self.W_hh, adbar, Ud)
                hdbar = adbar @ self.W_hh
                cbar, cdbar = cbar * fg + cdbar * dfg, cdbar * fg
        return torch.stack(xbar[::-1], 2) if len(xbar) > 1 else xbar[0].unsqueeze(2)

    def _out_adjoint(self, rbar: Tensor, out: Tensor, y: Tensor, p: Tensor | None,
                     q: Tensor | None, need_y: bool) -> tuple[Tensor, Tensor | None]:
        """Adjoints of out and y from δ's adjoint r̄ (δ = out − y, or softmax(out) − q) and,
        with CPL, from α Σ‖F(x) − ŷ‖² (regression: F(x) − y; classification: p − softmax(y))."""
        if self.model.head == "regression":
            if self.reg == "cpl":
                rbar = rbar + 2 * self.alpha * (out - y)
            return rbar, (-rbar if need_y else None)
        pbar = rbar if self.reg != "cpl" else rbar + 2 * self.alpha * (p - q)
        obar = p * (pbar - (p * pbar).sum(-1, keepdim=True))
        if not (need_y and self.y_float):
            return obar, None
        return obar, -q * (pbar - (q * pbar).sum(-1, keepdim=True))

    def _reg_value(self, x: Tensor, out: Tensor, y: Tensor, p: Tensor | None,
                   q: Tensor | None) -> Tensor:
        if self.reg == "tv":
            return (x[:, :, 1:] - x[:, :, :-1]).abs().sum((1, 2, 3))
        e = out - y if self.model.head == "regression" else p - q
        return e.pow(2).sum((1, 2))


def _tv_grad(x: Tensor) -> Tensor:
    """∂/∂x Σ_t |x_{t+1} − x_t| (sign(0) = 0, as autograd's abs)."""
    s = torch.sign(x[:, :, 1:] - x[:, :, :-1])
    g = torch.zeros_like(x)
    g[:, :, 1:] += s
    g[:, :, :-1] -= s
    return g


def _sum_windows(t: Tensor) -> Tensor:
    """t.sum(1) over the B windows (K, B, n) -> (K, n); a view when B = 1 (a reduction kernel
    over one element costs more than the rest of a typical operation)."""
    return t.squeeze(1) if t.shape[1] == 1 else t.sum(1)


def _bmm(a: Tensor, b: Tensor) -> Tensor:
    """torch.bmm(a, b) for (K, n, k) @ (K, k, m). With k ≤ 2 (a one-window outer product, or
    the 2-d input) a broadcast multiply-and-sum: on batches of tiny matrices bmm's per-matrix
    cost dominates (measured at K = 100: 2–3× slower for these shapes)."""
    k = a.shape[-1]
    if k == 1:
        return a * b
    if k == 2:
        return (a.unsqueeze(-1) * b.unsqueeze(-3)).sum(-2)
    return torch.bmm(a, b)
