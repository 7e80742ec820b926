"""The closed-form matching step, traced once per problem structure and reused across rounds.

Per iteration the engine's closed-form gradient (`core.attacks.matching`) is ~100 operations on
tensors of a few thousand numbers, so the time goes to Python and PyTorch's per-operation
dispatch, not to arithmetic. A TorchScript trace (`torch.jit.trace`) of the step replays the
same operations from a graph without the Python layer: measured ×1.47 per call on the
paper-scale problem (100 clients, W = 1; 844 → 573 µs in an alternating microbenchmark;
`bench/bench_attack.py` prints traced against eager), with outputs equal bit for bit. A trace is specific to the operation sequence (the problem's structure, `LSTMMatching.key`)
and the input shapes, and takes the problem's weights and prepared distance as inputs, so one
trace serves every round of a run; building it costs ~0.1 s.

TorchScript is deprecated upstream in favour of `torch.compile`, which would need seconds of
compilation per run (and `torch._dynamo`'s import) — more than a whole paper-scale run spends in
the matching step. The torch version is pinned (requirements.txt); where tracing is unavailable
or fails the step runs eagerly (same results). `StepCache` belongs to one attack session: no
module-level state, so concurrent dashboard sessions never share traces.
"""
from __future__ import annotations

import warnings
from typing import Callable

import torch
from torch import Tensor

from core.attacks.matching import LSTMMatching

Step = Callable[[Tensor, Tensor], tuple[Tensor, Tensor, Tensor | None]]


class StepCache:
    """Traced matching steps of one attack session, by structure and shapes."""

    def __init__(self, enabled: bool = True) -> None:
        self.enabled = enabled and hasattr(torch.jit, "trace")
        self._traces: dict[tuple, Callable[..., tuple[Tensor, ...]]] = {}
        self.traced = 0  # traces built (diagnostics, tests)

    def step(self, m: LSTMMatching, x: Tensor, y: Tensor, need_y: bool) -> Step:
        """(x, y) -> (loss rows, ∂M/∂x, ∂M/∂y or None) for the problem `m`, as `m(x, y, need_y)`."""
        if not self.enabled:
            return lambda xx, yy: m(xx, yy, need_y)
        key = (m.key, tuple(x.shape), tuple(y.shape), y.dtype, need_y)
        fn = self._traces.get(key)
        tensors = m.tensors()
        if fn is None:
            fn = self._trace(m, x, y, need_y, tensors)
            if fn is None:
                self.enabled = False
                return lambda xx, yy: m(xx, yy, need_y)
            self._traces[key] = fn
            self.traced += 1
        if need_y:
            return lambda xx, yy: fn(xx, yy, *tensors)
        return lambda xx, yy: (*fn(xx, yy, *tensors), None)

    @staticmethod
    def _trace(m: LSTMMatching, x: Tensor, y: Tensor, need_y: bool,
               tensors: tuple[Tensor, ...]) -> Callable[..., tuple[Tensor, ...]] | None:
        def step(xx: Tensor, yy: Tensor, *ts: Tensor) -> tuple[Tensor, ...]:
            loss, gx, gy = m.rebind(ts)(xx, yy, need_y)
            return (loss, gx, gy) if need_y else (loss, gx)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # the deprecation notice (module docstring)
                with torch.no_grad():
                    return torch.jit.trace(step, (x, y, *tensors), check_trace=False)
        except Exception:  # noqa: BLE001 — tracing is an optimisation: run eagerly instead
            return None
