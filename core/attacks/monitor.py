"""The AIT monitor: the first iteration at which each dummy point lies within the ASR radius.

AIT (paper §5.1, DESIGN.md §5) needs, for every reconstructed point, the first attack iteration
after which it was within the threshold of the truth — so the dummies must be looked at after
every iteration. Testing them there costs a dozen small tensor operations per iteration; here
an iteration only copies the dummies into a block buffer, and a block of iterations is tested
at once (same first hits: the earliest hit in a block is the earliest among its iterations).

Evaluation only: the truth never reaches the attack. The monitor is called as
`monitor(i, x, y, rows)` (`core.attacks.engine.invert`); with shards each process monitors its
own rows, so `first` must then be in shared memory, and each process keeps its own buffers.
"""
from __future__ import annotations

from typing import Callable

import torch
from torch import Tensor

BLOCK = 50  # iterations tested at once


class FirstHits:
    """Fills `first` (K, B, W+1) int64 (−1 = not yet) with the first iteration (1-based; 0 = the
    start) at which each window point and target lay within the radius.

    truth (K, B, W+1, 2) normalised; `within(diff)` -> bool (...,) whether differences (..., 2)
    lie within the radius; `keep(y)` what to record of the dummy label per iteration (None: the
    target's location never changes), `locate(kept, rows)` -> (..., B, 2) target locations from a
    block of kept labels (or from None). Blocks are tested when full, at iteration `last`, and
    at once for the pre-optimisation call (i = −1); `last=None` tests every call.
    """

    def __init__(self, first: Tensor, truth: Tensor, within: Callable[[Tensor], Tensor],
                 keep: Callable[[Tensor], Tensor] | None,
                 locate: Callable[[Tensor | None, slice], Tensor], last: int | None,
                 block: int = BLOCK) -> None:
        self.first, self.truth, self.within = first, truth, within
        self.keep, self.locate, self.last = keep, locate, last
        self.block = block if last is not None else 1
        self._bufs: dict[tuple[int | None, int | None], _Block] = {}

    def __call__(self, i: int, x: Tensor, y: Tensor, rows: slice) -> None:
        key = (rows.start, rows.stop)
        kept = None if self.keep is None else self.keep(y)
        buf = self._bufs.get(key)
        if buf is None:
            buf = self._bufs[key] = _Block(self.block, x, kept, rows)
        buf.add(i, x, kept)
        if buf.n == self.block or i == self.last or i < 0:
            self._test(buf, rows)

    def flush(self) -> None:
        """Test whatever blocks this process still holds (none after an inversion that reached
        iteration `last`; a safeguard for a caller that stopped early)."""
        for buf in self._bufs.values():
            if buf.n:
                self._test(buf, buf.rows)

    def _test(self, buf: "_Block", rows: slice) -> None:
        n = buf.n
        x = buf.x[:n]                                                 # (n, k, B, W, 2)
        loc = self.locate(None if buf.y is None else buf.y[:n], rows)
        loc = loc.expand(n, *loc.shape[-3:]) if loc.dim() == 3 else loc  # (n, k, B, 2)
        hit = self.within(torch.cat([x, loc.unsqueeze(-2)], -2) - self.truth[rows])
        mine = self.first[rows]                                       # a view into `first`
        new = (mine < 0) & hit.any(0)
        its = torch.tensor(buf.its, dtype=mine.dtype)
        mine.copy_(torch.where(new, its[hit.to(torch.uint8).argmax(0)] + 1, mine))
        buf.reset()


class _Block:
    """Dummies and kept labels of up to `size` iterations of rows `rows`, and their iteration
    numbers."""

    def __init__(self, size: int, x: Tensor, kept: Tensor | None, rows: slice) -> None:
        self.rows = rows
        self.x = x.new_empty((size, *x.shape))
        self.y = None if kept is None else kept.new_empty((size, *kept.shape))
        self.its: list[int] = []
        self.n = 0

    def add(self, i: int, x: Tensor, kept: Tensor | None) -> None:
        self.x[self.n].copy_(x)
        if kept is not None:
            self.y[self.n].copy_(kept)
        self.its.append(i)
        self.n += 1

    def reset(self) -> None:
        self.its.clear()
        self.n = 0
