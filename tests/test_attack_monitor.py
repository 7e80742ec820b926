"""The AIT monitor (core.attacks.monitor.FirstHits): block testing gives the first hits an
iteration-by-iteration test gives, for consecutive and irregular iteration numbers and per shard."""
from __future__ import annotations

import pytest
import torch

from core.attacks.monitor import FirstHits

RADIUS2 = 0.05 ** 2


def _within(diff: torch.Tensor) -> torch.Tensor:
    return (diff * diff).sum(-1) < RADIUS2


def _reference(its, xs, locs, truth):
    """First hits tested after every iteration (what the monitor replaced)."""
    first = torch.full(truth.shape[:-1], -1, dtype=torch.long)
    for i, x, loc in zip(its, xs, locs):
        hit = _within(torch.cat([x, loc[:, :, None]], 2) - truth)
        first.masked_fill_((first < 0) & hit, i + 1)
    return first


def _walk(n: int, K: int = 6, B: int = 2, W: int = 3, seed: int = 0):
    """Dummies drifting towards the truth with noise: points enter and leave the radius."""
    g = torch.Generator().manual_seed(seed)
    truth = torch.rand(K, B, W + 1, 2, generator=g)
    z = truth + torch.randn(K, B, W + 1, 2, generator=g) * 0.3
    xs, ys = [], []
    for _ in range(n):
        z = truth + (z - truth) * 0.97 + torch.randn(z.shape, generator=g) * 0.01
        xs.append(z[:, :, :W].clone())
        ys.append(z[:, :, W].clone())
    return truth, xs, ys


@pytest.mark.parametrize("block", [1, 7, 50, 500])
def test_block_tests_give_the_per_iteration_first_hits(block):
    truth, xs, ys = _walk(120)
    first = torch.full(truth.shape[:-1], -1, dtype=torch.long)
    mon = FirstHits(first, truth, _within, lambda y: y, lambda kept, rows: kept, last=119,
                    block=block)
    for i, (x, y) in enumerate(zip(xs, ys)):
        mon(i, x, y, slice(None))
    ref = _reference(range(120), xs, ys, truth)
    assert (ref > 1).sum() > 10 and (ref > 60).sum() > 0 and (ref < 0).sum() > 0
    assert torch.equal(first, ref)


def test_irregular_iterations_and_the_start_without_a_last_iteration():
    """The Levenberg–Marquardt path: a call before optimising (i = −1), then uneven steps."""
    truth, xs, ys = _walk(40, seed=1)
    its = [-1] + [3 * k + 2 for k in range(39)]
    fixed = ys[-1]
    first = torch.full(truth.shape[:-1], -1, dtype=torch.long)
    mon = FirstHits(first, truth, _within, None, lambda kept, rows: fixed[rows], last=None)
    for i, x in zip(its, xs):
        mon(i, x, None, slice(None))
    assert torch.equal(first, _reference(its, xs, [fixed] * 40, truth))
    assert (first == 0).sum() > 0 or (first > 0).sum() > 0


def test_each_shard_keeps_its_own_block_and_fills_its_own_rows():
    truth, xs, ys = _walk(60, K=8, seed=2)
    first = torch.full(truth.shape[:-1], -1, dtype=torch.long)
    labels = torch.stack(ys)             # kept labels are looked up per shard's rows
    mon = FirstHits(first, truth, _within, lambda y: y, lambda kept, rows: kept, last=59,
                    block=16)
    for rows in (slice(0, 3), slice(3, 8)):
        for i, x in enumerate(xs):
            mon(i, x[rows], labels[i][rows], rows)
    assert torch.equal(first, _reference(range(60), xs, ys, truth))


def test_a_label_that_never_reaches_the_truth_leaves_minus_one():
    truth, xs, ys = _walk(30, seed=3)
    far = [y + 10.0 for y in ys]
    first = torch.full(truth.shape[:-1], -1, dtype=torch.long)
    mon = FirstHits(first, truth, _within, lambda y: y, lambda kept, rows: kept, last=29, block=8)
    for i, (x, y) in enumerate(zip(xs, far)):
        mon(i, x, y, slice(None))
    assert (first[..., -1] == -1).all()
    assert torch.equal(first, _reference(range(30), xs, far, truth))


def test_flush_tests_a_block_left_unfinished():
    """A caller that stops before iteration `last` still gets the hits it has recorded."""
    truth, xs, ys = _walk(40, seed=4)
    first = torch.full(truth.shape[:-1], -1, dtype=torch.long)
    mon = FirstHits(first, truth, _within, lambda y: y, lambda kept, rows: kept, last=99, block=16)
    for i, (x, y) in enumerate(zip(xs, ys)):
        mon(i, x, y, slice(None))
    mon.flush()
    assert torch.equal(first, _reference(range(40), xs, ys, truth))
