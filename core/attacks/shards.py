"""Sharding one inversion's rows over worker processes (both cores for one round).

Nothing couples the rows of an inversion (clients × restarts), so `invert` may split them into
contiguous shards: shard 0 runs in the calling process, shards 1.. in forked children. The
problem, the starting dummies (drawn by the caller: RNG consumption does not depend on the
sharding), the mapper and the monitor are inherited by the fork; each shard runs the very same
engine (`engine._invert_rows`) on its rows, so results equal one process's.

The AIT monitor runs in each shard on that shard's rows (`monitor(i, x, y, rows)`), so the
processes never wait for each other until the end; whatever a monitor records must therefore
live in shared memory (`Tensor.share_memory_()`, allocated before the fork). Results come back
through shared output tensors.

When shards pay: only when a round has many rows. Per iteration most of the time is fixed
per-operation cost (~100 small tensor operations and a mapper call, whatever the rows). Measured
on the paper-scale run (100 clients, W = 1, ST-GIA, quiet machine, docs/scale.md): with
`--workers 2` the wall time was not shorter (18.0 and 18.9 s against 15.8 and 16.3 s for one
process, which used ~16 s of CPU against 26–27 s for the two), so the default is 1.

Workers: `resolve_workers(0)` ("auto") is ST_GIA_WORKERS if set, else 1 inside a worker process
or a non-main thread (a sweep's cells, the dashboard's job thread), else the usable cores.
"""
from __future__ import annotations

import gc
import multiprocessing
import os
import signal
import threading
from typing import Callable

import numpy as np
import torch
from torch import Tensor

# Below this many rows per shard a fork (~10–20 ms) costs more than it saves.
MIN_ROWS_PER_SHARD = 16
ENV_WORKERS = "ST_GIA_WORKERS"

# monitor(i, x, y, rows): rows `rows` of the problem hold dummies x, y after iteration i
Monitor = Callable[[int, Tensor, Tensor, slice], None]
RowsFn = Callable[[object, slice], tuple[Tensor, Tensor, Tensor]]


def resolve_workers(requested: int = 0) -> int:
    """Worker processes for one inversion: `requested` if > 0; else ST_GIA_WORKERS if set;
    else 1 inside a worker process or a non-main thread, the usable cores otherwise."""
    if requested > 0:
        return requested
    env = os.environ.get(ENV_WORKERS, "").strip()
    if env:
        return max(1, int(env))
    if multiprocessing.parent_process() is not None or \
            threading.current_thread() is not threading.main_thread():
        return 1
    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1)


def shard_bounds(rows: int, workers: int) -> list[slice]:
    """Contiguous, near-equal row ranges: at most `workers`, each ≥ MIN_ROWS_PER_SHARD rows."""
    n = max(1, min(workers, rows // MIN_ROWS_PER_SHARD))
    edges = np.linspace(0, rows, n + 1).round().astype(int)
    return [slice(int(a), int(b)) for a, b in zip(edges[:-1], edges[1:])]


def run_sharded(shards: list[slice], x0: Tensor, y0: Tensor,
                rows_fn: RowsFn, prob: object) -> tuple[Tensor, Tensor, Tensor]:
    """Run `rows_fn(prob, rows)` for every shard (shard 0 here, the others in forked children)
    and concatenate (x, y, loss rows). `rows_fn` monitors its own rows (module docstring)."""
    K = x0.shape[0]
    out_x = torch.empty(x0.shape, dtype=x0.dtype).share_memory_()
    out_y = torch.empty(y0.shape, dtype=y0.dtype).share_memory_()
    out_loss = torch.empty(K, dtype=torch.float32).share_memory_()
    gc.freeze()  # the collector would otherwise touch (and copy) every shared heap page
    children = [_fork(rows, rows_fn, prob, (out_x, out_y, out_loss)) for rows in shards[1:]]
    gc.unfreeze()
    try:
        x, y, loss = rows_fn(prob, shards[0])
        out_x[shards[0]], out_y[shards[0]], out_loss[shards[0]] = x, y, loss.to(out_loss.dtype)
        for child in children:
            child.finish()
    except BaseException:
        for child in children:
            child.kill()
        raise
    return out_x.clone(), out_y.clone(), out_loss.clone().to(loss.dtype)


class _Child:
    """A forked shard: its pid and the pipe it reports on (b"f" when its result is written,
    b"e" + message on failure)."""

    def __init__(self, pid: int, done_r: int) -> None:
        self.pid, self.done_r = pid, done_r

    def finish(self) -> None:
        data = b""
        while True:
            more = os.read(self.done_r, 65536)
            if not more:
                break
            data += more
        os.waitpid(self.pid, 0)
        self._close()
        if data != b"f":
            text = data[1:].decode(errors="replace") if data[:1] == b"e" else "exited without a result"
            raise RuntimeError(f"attack shard worker (pid {self.pid}) failed: {text}")

    def kill(self) -> None:
        try:
            os.kill(self.pid, signal.SIGKILL)
            os.waitpid(self.pid, 0)
        except (ProcessLookupError, ChildProcessError):
            pass
        self._close()

    def _close(self) -> None:
        try:
            os.close(self.done_r)
        except OSError:
            pass


def _fork(rows: slice, rows_fn: RowsFn, prob: object,
          outs: tuple[Tensor, Tensor, Tensor]) -> _Child:
    done_r, done_w = os.pipe()
    pid = os.fork()
    if pid:  # parent
        os.close(done_w)
        return _Child(pid, done_r)
    os.close(done_r)  # child: never returns
    code = 0
    try:
        torch.set_num_threads(1)  # the parent's intra-op thread pool did not survive the fork
        gc.disable()  # short-lived: no collections that would copy the inherited heap
        x, y, loss = rows_fn(prob, rows)
        outs[0][rows], outs[1][rows], outs[2][rows] = x, y, loss.to(outs[2].dtype)
        os.write(done_w, b"f")
    except BaseException as exc:  # noqa: BLE001 — reported to the parent, then exit
        try:
            os.write(done_w, b"e" + repr(exc).encode()[:4000])
        except OSError:
            pass
        code = 1
    os._exit(code)
