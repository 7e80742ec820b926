"""Utility of the global model: recall@k, acc@1 and median error of next-location prediction.

Locations are identified by their index in the vocabulary (the distinct points of the clients'
data, DESIGN.md §4): a point is mapped to its nearest vocabulary point in a local metric
projection (check-in coordinates repeat exactly, so a true location *is* a vocabulary point).

With the regression head the prediction is a point; vocabulary points are ranked by their
distance to it. With the classification head they are ranked by logit. In both, ties are broken
by vocabulary index (smaller first), so every ranking here is deterministic.
"""
from __future__ import annotations

import numpy as np
from scipy.spatial import cKDTree

from core.geo.distance import LocalProjection, haversine

# Distances closer than this (metres) count as tied; far below any venue spacing.
TIE_TOL_M = 1e-6


class VocabIndex:
    """Nearest-vocabulary-point queries: a KD-tree over the vocabulary in a local projection.

    Parameters
    ----------
    vocab : (V, 2) array of [lat, lon] degrees; row i is location i.
    """

    def __init__(self, vocab: np.ndarray) -> None:
        self.vocab = np.asarray(vocab, dtype=np.float64).reshape(-1, 2)
        if len(self.vocab) == 0:
            raise ValueError("empty vocabulary")
        self._proj = LocalProjection(*self.vocab.mean(axis=0))
        self._tree = cKDTree(self._xy(self.vocab))

    def __len__(self) -> int:
        return len(self.vocab)

    def _xy(self, latlon: np.ndarray) -> np.ndarray:
        ll = np.asarray(latlon, dtype=np.float64).reshape(-1, 2)
        return np.stack(self._proj.to_xy(ll[:, 0], ll[:, 1]), axis=1)

    def nearest(self, latlon: np.ndarray) -> np.ndarray:
        """(N,) index of the vocabulary point nearest each (N, 2) [lat, lon] row."""
        return self.k_nearest(latlon, 1)[:, 0]

    def k_nearest(self, latlon: np.ndarray, k: int) -> np.ndarray:
        """(N, min(k, V)) indices of the k nearest vocabulary points, nearest first.

        Distances within `TIE_TOL_M` of each other are tied and ordered by vocabulary index,
        including a tie across the k-th place, which is resolved exactly with a ball query.
        """
        xy = self._xy(latlon)
        k = min(int(k), len(self))
        kq = min(k + 1, len(self))
        d, idx = self._tree.query(xy, k=kq)
        d, idx = d.reshape(len(xy), kq), idx.reshape(len(xy), kq)
        idx, tie = _order_ties(d, idx)
        out = idx[:, :k].copy()
        if kq > k:  # the (k+1)-th ties the k-th: which of the tied points enter is decided here
            for r in np.flatnonzero(tie[:, k - 1] == tie[:, k]):
                out[r] = self._ball_k(xy[r], float(np.max(d[r])), k)
        return out

    def _ball_k(self, xy: np.ndarray, radius: float, k: int) -> np.ndarray:
        cand = np.asarray(self._tree.query_ball_point(xy, radius + 2 * TIE_TOL_M), dtype=np.int64)
        d = np.hypot(*(self._tree.data[cand] - xy).T)
        return _order_ties(d[None], cand[None])[0][0, :k]


def _order_ties(d: np.ndarray, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Row-wise sort of candidates by distance, equal distances (chains of gaps <= TIE_TOL_M)
    by index. Returns the sorted indices and each one's tie-group number."""
    order = np.lexsort((idx, d), axis=-1)
    d, idx = np.take_along_axis(d, order, 1), np.take_along_axis(idx, order, 1)
    tie = np.concatenate([np.zeros((len(d), 1), np.int64),
                          np.cumsum(np.diff(d, axis=1) > TIE_TOL_M, axis=1)], axis=1)
    order = np.lexsort((idx, tie), axis=-1)
    return np.take_along_axis(idx, order, 1), np.take_along_axis(tie, order, 1)


def topk_logits(logits: np.ndarray, k: int) -> np.ndarray:
    """(N, k) class indices of the k largest logits per row, ties by class index."""
    return np.argsort(-np.asarray(logits), axis=1, kind="stable")[:, :k]


def hit_rates(top: np.ndarray, true_idx: np.ndarray) -> dict[str, float]:
    """recall@k and acc@1 of ranked candidates.

    Parameters
    ----------
    top : (N, k) candidate location indices, best first; -1 marks an empty slot (never a hit).
    true_idx : (N,) index of the true next location.

    Returns
    -------
    ``{"recall_at_<k>": share of rows whose truth is among the candidates,
    "acc_at_1": share whose first candidate is the truth}`` (NaN for N = 0).
    """
    top = np.asarray(top)
    k = top.shape[1] if top.ndim == 2 else 1
    top = top.reshape(len(true_idx), k)
    if len(true_idx) == 0:
        return {f"recall_at_{k}": float("nan"), "acc_at_1": float("nan")}
    hit = (top == np.asarray(true_idx)[:, None]) & (top >= 0)
    return {f"recall_at_{k}": float(hit.any(axis=1).mean()), "acc_at_1": float(hit[:, 0].mean())}


def recall_at_k(pred_latlon: np.ndarray, true_latlon: np.ndarray, vocab_latlon: np.ndarray,
                k: int = 5) -> float:
    """Share of predictions whose true location is among the k vocabulary points nearest to them.

    The true location is identified with its nearest vocabulary point (it is one, for data whose
    vocabulary was built from the same points).
    """
    if len(pred_latlon) == 0:
        return float("nan")
    index = VocabIndex(vocab_latlon)
    top = index.k_nearest(pred_latlon, k)
    return float(np.mean((top == index.nearest(true_latlon)[:, None]).any(axis=1)))


def recall_at_k_logits(logits: np.ndarray, true_idx: np.ndarray, k: int = 5) -> float:
    """Classification head: share of rows whose true class is among the k largest logits."""
    top = topk_logits(logits, k)
    return float(np.mean((top == np.asarray(true_idx)[:, None]).any(axis=1)))


def prediction_metrics(true_latlon: np.ndarray, vocab: np.ndarray, *,
                       pred_latlon: np.ndarray | None = None, logits: np.ndarray | None = None,
                       k: int = 5) -> dict[str, float]:
    """recall@k, acc@1 and median error (metres) of a model's next-location predictions.

    Give exactly one of `pred_latlon` (regression head: vocabulary ranked by distance to the
    predicted point, acc@1 = the nearest vocabulary point is the truth, error measured from the
    predicted point itself) or `logits` (classification head over the vocabulary, class i =
    vocabulary row i: ranked by logit, error measured from the arg-max location). DESIGN.md §4.

    Parameters
    ----------
    true_latlon : (N, 2) true next [lat, lon]; mapped to its nearest vocabulary point.
    vocab : (V, 2) [lat, lon] of the candidate locations.
    pred_latlon : (N, 2) predicted [lat, lon], or None.
    logits : (N, V) class scores, or None.
    k : candidates counted for recall.

    Returns
    -------
    ``{"recall_at_<k>", "acc_at_1", "median_error_m"}`` (NaN for N = 0).
    """
    if (pred_latlon is None) == (logits is None):
        raise ValueError("give exactly one of pred_latlon and logits")
    true_latlon = np.asarray(true_latlon, dtype=np.float64).reshape(-1, 2)
    index = VocabIndex(vocab)
    if logits is not None:
        top = topk_logits(logits, k)
        point = index.vocab[top[:, 0]] if len(top) else np.zeros((0, 2))
    else:
        point = np.asarray(pred_latlon, dtype=np.float64).reshape(-1, 2)
        top = index.k_nearest(point, k)
    out = hit_rates(top, index.nearest(true_latlon) if len(true_latlon) else np.zeros(0, int))
    err = haversine(point[:, 0], point[:, 1], true_latlon[:, 0], true_latlon[:, 1])
    out["median_error_m"] = float(np.median(err)) if len(err) else float("nan")
    return out
