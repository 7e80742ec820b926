"""Sharding one inversion's rows over worker processes (both cores for one round).

Nothing couples the rows of an inversion (clients × restarts), so `invert` may split them into
contiguous shards: shard 0 runs in the calling process, shards 1.. in forked children. The
problem, the starting dummies (drawn by the caller: RNG consumption does not depend on the
sharding) and the mapper are inherited by the fork; each shard runs the very same engine
(`engine._invert_rows`) on its rows, so results equal one process's.

The AIT monitor sees all rows every iteration, as without sharding: children write iteration
i's dummies into shared-memory slot i mod S and post a token; the parent fills its own rows,
waits for the tokens, calls the monitor on the whole batch and acknowledges, which frees the
slot for iteration i + S. S slots (up to 32, a few MB) let the shards drift apart by S
iterations before one waits for the other. Without a monitor the shards run freely.

Workers: `resolve_workers(0)` ("auto") is the number of usable cores in a top-level run and 1
inside a worker process or a non-main thread (a sweep's cells, the dashboard's job thread);
ST_GIA_WORKERS=1 in the environment forces one process everywhere.
"""
from __future__ import annotations

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
    children = [_fork(rows, rows_fn, prob, monitor is not None, (slots_x, slots_y),
                      (out_x, out_y, out_loss)) for rows in shards[1:]]
    try:
        mine = _parent_monitor(shards[0], children, slots_x, slots_y, monitor)
        x, y, loss = rows_fn(prob, shards[0], mine)
        out_x[shards[0]], out_y[shards[0]], out_loss[shards[0]] = x, y, loss.to(out_loss.dtype)
        for child in children:
            child.finish()
    except BaseException:
        for child in children:
            child.kill()
        raise
    return out_x.clone(), out_y.clone(), out_loss.clone().to(loss.dtype)


class _Child:
    """A forked shard: its pid, the pipes it posts tokens on and reads acknowledgements from."""

    def __init__(self, pid: int, done_r: int, ack_w: int) -> None:
        self.pid, self.done_r, self.ack_w = pid, done_r, ack_w

    def wait_token(self) -> None:
        tok = os.read(self.done_r, 1)
        if tok != b"i":
            self._fail(tok)

    def ack(self) -> None:
        try:
            os.write(self.ack_w, b"a")
        except BrokenPipeError:  # the child has all it needs and exited; finish() checks it
            pass

    def finish(self) -> None:
        tok = os.read(self.done_r, 1)
        if tok != b"f":
            self._fail(tok)
        os.waitpid(self.pid, 0)
        self._close()

    def _fail(self, tok: bytes) -> None:
        msg = b""
        while tok:
            msg += tok
            tok = os.read(self.done_r, 65536)
        os.waitpid(self.pid, 0)
        self._close()
        text = msg[1:].decode(errors="replace") if msg[:1] == b"e" else "exited without a result"
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


def _parent_monitor(rows: slice, children: list[_Child], slots_x: Tensor, slots_y: Tensor,
                    monitor: Monitor | None) -> Monitor | None:
    if monitor is None:
        return None

    def mine(i: int, x: Tensor, y: Tensor) -> None:
        s = i % len(slots_x)
        slots_x[s, rows], slots_y[s, rows] = x, y
        for child in children:
            child.wait_token()
        monitor(i, slots_x[s], slots_y[s])
        for child in children:
            child.ack()
    return mine


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

