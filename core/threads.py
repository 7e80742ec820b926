"""How many threads torch uses in a run: one by default (`ST_GIA_TORCH_THREADS` overrides).

The tensors are small, and OpenMP threads that spin-wait collapse when another process shares
the two cores (measured: a 200-iteration round went from 0.7 s to 10–30 s with 2 threads under
load). The CLI calls it once per run and every sweep cell's worker once per cell.
"""
from __future__ import annotations

import os


def set_threads() -> None:
    """Set torch's intra-op threads from `ST_GIA_TORCH_THREADS` (default 1)."""
    import torch

    torch.set_num_threads(max(1, int(os.environ.get("ST_GIA_TORCH_THREADS", "1"))))
