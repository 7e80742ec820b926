"""Attack metrics (DESIGN.md §4; the paper's §5.1 after Wei et al. [20]).

- error = haversine(reconstructed, true) in metres;
- ASR = share of attacked points with error < threshold (500 m by default);
- AIT = per point, the first attack iteration whose error is < threshold (the cap N if never).
"""
from __future__ import annotations

import numpy as np

from core.geo.distance import haversine

ASR_THRESHOLD_M = 500.0


def errors_m(rec_latlon: np.ndarray, true_latlon: np.ndarray) -> np.ndarray:
    """Element-wise error in metres between (..., 2) [lat, lon] arrays."""
    return haversine(true_latlon[..., 0], true_latlon[..., 1], rec_latlon[..., 0], rec_latlon[..., 1])


def asr(errors: np.ndarray, threshold_m: float = ASR_THRESHOLD_M) -> float:
    """Attack success rate: share of points reconstructed within `threshold_m` metres."""
    e = np.asarray(errors, dtype=float).ravel()
    return float(np.mean(e < threshold_m)) if e.size else float("nan")


def ait_summary(first_hit: np.ndarray, cap: int) -> dict[str, float]:
    """AIT from per-point first successful iteration (-1 = never): mean with the cap for
    failures, mean over successes only, and the success count."""
    fh = np.asarray(first_hit).ravel()
    ok = fh >= 0
    capped = np.where(ok, fh, cap)
    return {"ait": float(capped.mean()) if fh.size else float("nan"),
            "ait_success": float(fh[ok].mean()) if ok.any() else float("nan"),
            "n_success": int(ok.sum())}
