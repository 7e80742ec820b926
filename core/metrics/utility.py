"""Utility of the global model: recall@k of next-location prediction and prediction error.

With the regression head the prediction is a point; candidate locations (the vocabulary) are
ranked by their distance to it, and a hit is the true next location among the k nearest
(DESIGN.md §4). With the classification head candidates are ranked by logit.
"""
from __future__ import annotations

import numpy as np
from scipy.spatial import cKDTree

from core.geo.distance import LocalProjection


def recall_at_k(pred_latlon: np.ndarray, true_latlon: np.ndarray, vocab_latlon: np.ndarray,
                k: int = 5) -> float:
    """Share of predictions whose true location is among the k vocabulary points nearest to them.

    The true location is identified with its nearest vocabulary point (it is one, for data whose
    vocabulary was built from the same points).
    """
    if len(pred_latlon) == 0:
        return float("nan")
    proj = LocalProjection(*vocab_latlon.mean(axis=0))
    tree = cKDTree(np.stack(proj.to_xy(vocab_latlon[:, 0], vocab_latlon[:, 1]), axis=1))
    _, true_idx = tree.query(np.stack(proj.to_xy(true_latlon[:, 0], true_latlon[:, 1]), axis=1))
    _, top = tree.query(np.stack(proj.to_xy(pred_latlon[:, 0], pred_latlon[:, 1]), axis=1),
                        k=min(k, len(vocab_latlon)))
    top = np.asarray(top).reshape(len(pred_latlon), -1)
    return float(np.mean((top == true_idx[:, None]).any(axis=1)))


def recall_at_k_logits(logits: np.ndarray, true_idx: np.ndarray, k: int = 5) -> float:
    """Classification head: share of rows whose true class is among the k largest logits."""
    top = np.argsort(-logits, axis=1)[:, :k]
    return float(np.mean((top == true_idx[:, None]).any(axis=1)))
