"""Sharding one inversion's rows over worker processes (both cores for one round).

Nothing couples the rows of an inversion (clients × restarts), so `invert` may split them into
contiguous shards: shard 0 runs in the calling process, shards 1.. in forked children. The
problem, the starting dummies (drawn by the caller: RNG consumption does not depend on the
sharding) and the mapper are inherited by the fork; each shard runs the very same engine
(`engine._invert_rows`) on its rows, so results equal one process's.

The AIT monitor sees all rows of every iteration, in order, as without sharding: children write
iteration i's dummies into shared-memory slot i mod S and post a token; the parent writes its
own rows there and hands iteration i to the monitor once every child has posted it, then
acknowledges, which frees the slot for iteration i + S. With S slots (up to 32, a few MB) the
shards drift apart by up to S iterations before one waits for the other (a per-iteration
barrier costs a wake-up per step, ruinous on a loaded machine). Without a monitor the shards
run freely.

Workers: `resolve_workers(0)` ("auto") is ST_GIA_WORKERS if set, else 1 inside a worker process
or a non-main thread (a sweep's cells, the dashboard's job thread), else the usable cores. The
configuration's default is 1 (`AttackConfig.workers`): measured on the paper-scale run (100
clients, W = 1, ST-GIA), the calling process's CPU time per 10 rounds was 4.4 s sharded over 2
vs 4.1 s alone — each iteration's fixed costs (mapper call, monitor, kernel launches) do not
shrink with the rows — so sharding pays only for larger rounds (more clients or restarts).
"""
from __future__ import annotations

import gc
import multiprocessing
import os
import select
import signal
import threading
from collections import deque
from typing import Callable

import numpy as np
import torch
from torch import Tensor

# Below this many rows per shard a fork (~10–20 ms) costs more than it saves.
MIN_ROWS_PER_SHARD = 16
MAX_SLOTS, SLOT_BYTES = 32, 8 << 20  # monitor ring: at most 32 iterations, about 8 MB
ENV_WORKERS = "ST_GIA_WORKERS"

Monitor = Callable[[int, Tensor, Tensor], None]
RowsFn = Callable[[object, slice, Monitor | None], tuple[Tensor, Tensor, Tensor]]


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


def run_sharded(shards: list[slice], x0: Tensor, y0: Tensor, iters: int, rows_fn: RowsFn,
                prob: object, monitor: Monitor | None) -> tuple[Tensor, Tensor, Tensor]:
    """Run `rows_fn(prob, rows, monitor)` for every shard (shard 0 here, the others in forked
    children) and concatenate (x, y, loss rows); the monitor sees whole batches (module doc)."""
    K = x0.shape[0]
    row_bytes = x0.numel() * x0.element_size() + y0.numel() * y0.element_size()
    n_slots = int(max(2, min(MAX_SLOTS, iters, SLOT_BYTES // max(1, row_bytes))))
    slots_x = torch.empty(n_slots, *x0.shape, dtype=x0.dtype).share_memory_()
    slots_y = torch.empty(n_slots, *y0.shape, dtype=y0.dtype).share_memory_()
    out_x = torch.empty(x0.shape, dtype=x0.dtype).share_memory_()
    out_y = torch.empty(y0.shape, dtype=y0.dtype).share_memory_()
    out_loss = torch.empty(K, dtype=torch.float32).share_memory_()
    gc.freeze()  # the collector would otherwise touch (and copy) every shared heap page
    children = [_fork(rows, rows_fn, prob, monitor is not None, (slots_x, slots_y),
                      (out_x, out_y, out_loss)) for rows in shards[1:]]
    gc.unfreeze()
    try:
        relay = None if monitor is None else _Relay(shards[0], children, slots_x, slots_y, monitor)
        x, y, loss = rows_fn(prob, shards[0], relay)
        if relay is not None:
            relay.drain()
        out_x[shards[0]], out_y[shards[0]], out_loss[shards[0]] = x, y, loss.to(out_loss.dtype)
        for child in children:
            child.finish()
    except BaseException:
        for child in children:
            child.kill()
        raise
    return out_x.clone(), out_y.clone(), out_loss.clone().to(loss.dtype)


class _Child:
    """A forked shard: its pid, the pipe it posts tokens on (b"i" per iteration, b"f" when its
    result is written, b"e" + message on failure) and the pipe it reads acknowledgements from."""

    def __init__(self, pid: int, done_r: int, ack_w: int) -> None:
        self.pid, self.done_r, self.ack_w = pid, done_r, ack_w
        self.ready, self.finished = 0, False   # iteration tokens not yet consumed; b"f" seen

    def poll(self, block: bool) -> bool:
        """Read what the child posted (waiting for at least one byte if `block`)."""
        if not block and not select.select([self.done_r], [], [], 0)[0]:
            return False
        data = os.read(self.done_r, 65536)
        if not data or b"e" in data:
            self._fail(data)
        self.ready += data.count(b"i")
        self.finished = self.finished or b"f" in data
        return True

    def ack(self) -> None:
        try:
            os.write(self.ack_w, b"a")
        except BrokenPipeError:  # the child has all it needs and exited; finish() checks it
            pass

    def finish(self) -> None:
        while not self.finished:
            self.poll(block=True)
        os.waitpid(self.pid, 0)
        self._close()

    def _fail(self, data: bytes) -> None:
        msg = data[data.index(b"e"):] if b"e" in data else b""
        while True:
            more = os.read(self.done_r, 65536)
            if not more:
                break
            msg += more
        os.waitpid(self.pid, 0)
        self._close()
        text = msg[1:].decode(errors="replace") if msg else "exited without a result"
        raise RuntimeError(f"attack shard worker (pid {self.pid}) failed: {text}")

    def kill(self) -> None:
        try:
            os.kill(self.pid, signal.SIGKILL)
            os.waitpid(self.pid, 0)
        except (ProcessLookupError, ChildProcessError):
            pass
        self._close()

    def _close(self) -> None:
        for fd in (self.done_r, self.ack_w):
            try:
                os.close(fd)
            except OSError:
                pass


class _Relay:
    """The parent's side of the monitor: its own rows go into slot i mod S; iteration i is handed
    to the monitor (in order) once every child has posted it — checked without waiting, so the
    parent only waits when it is S iterations ahead of a child, or at the end (`drain`)."""

    def __init__(self, rows: slice, children: list[_Child], slots_x: Tensor, slots_y: Tensor,
                 monitor: Monitor) -> None:
        self.rows, self.children, self.monitor = rows, children, monitor
        self.slots_x, self.slots_y = slots_x, slots_y
        self.pending: deque[int] = deque()

    def __call__(self, i: int, x: Tensor, y: Tensor) -> None:
        n = len(self.slots_x)
        if len(self.pending) == n:   # slot i mod S still holds the oldest undelivered iteration
            self._deliver(block=True)
        self.slots_x[i % n, self.rows], self.slots_y[i % n, self.rows] = x, y
        self.pending.append(i)
        while self.pending and self._deliver(block=False):
            pass

    def drain(self) -> None:
        while self.pending:
            self._deliver(block=True)

    def _deliver(self, block: bool) -> bool:
        for child in self.children:
            while child.ready == 0:
                if not child.poll(block):
                    return False
        i = self.pending.popleft()
        for child in self.children:
            child.ready -= 1
        n = len(self.slots_x)
        self.monitor(i, self.slots_x[i % n], self.slots_y[i % n])
        for child in self.children:
            child.ack()
        return True


def _fork(rows: slice, rows_fn: RowsFn, prob: object, monitored: bool,
          slots: tuple[Tensor, Tensor], outs: tuple[Tensor, Tensor, Tensor]) -> _Child:
    done_r, done_w = os.pipe()
    ack_r, ack_w = os.pipe()
    pid = os.fork()
    if pid:  # parent
        os.close(done_w)
        os.close(ack_r)
        return _Child(pid, done_r, ack_w)
    os.close(done_r)  # child: never returns
    os.close(ack_w)
    code = 0
    try:
        torch.set_num_threads(1)  # the parent's intra-op thread pool did not survive the fork
        gc.disable()  # short-lived: no collections that would copy the inherited heap
        def post(i: int, x: Tensor, y: Tensor) -> None:
            n_slots = len(slots[0])
            if i >= n_slots and os.read(ack_r, 1) != b"a":   # slot i mod S is free again
                os._exit(0)                                   # the parent went away
            s = i % n_slots
            slots[0][s, rows], slots[1][s, rows] = x, y
            os.write(done_w, b"i")

        x, y, loss = rows_fn(prob, rows, post if monitored else None)
        outs[0][rows], outs[1][rows], outs[2][rows] = x, y, loss.to(outs[2].dtype)
        os.write(done_w, b"f")
    except BaseException as exc:  # noqa: BLE001 — reported to the parent, then exit
        try:
            os.write(done_w, b"e" + repr(exc).encode()[:4000])
        except OSError:
            pass
        code = 1
    os._exit(code)

