"""pytest: the presence of this file puts the repository root on sys.path, so tests import `core`."""

import os

# One torch thread, as the CLI and the dashboard use: the tensors are small and spin-waiting
# OpenMP threads collapse when another process (a streamlit server under test) shares the cores.
os.environ.setdefault("ST_GIA_TORCH_THREADS", "1")
try:
    import torch

    torch.set_num_threads(int(os.environ["ST_GIA_TORCH_THREADS"]))
except ImportError:  # pragma: no cover - torch is a requirement
    pass
