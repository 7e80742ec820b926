"""Reference baselines for next-location utility (DESIGN.md §4, issue 10 item 1).

A model's recall@5 cannot be read alone: beside it, on the *same* held-out windows, four
predictors that need no learning:

- ``persistence``: the k vocabulary points nearest the current location (the last window point);
- ``user_top5``: the user's own k most frequent locations among that client's training points;
- ``global_top5``: the k most frequent locations over all clients' training points;
- ``transition``: a first-order transition table fitted on the clients' training points
  (consecutive training points of a client: current -> next, counts pooled over clients); the k
  most frequent successors of the current location. When the current location has fewer than
  k known successors (or none: never seen in training, or only as a client's last training
  point), the remaining slots are filled with the persistence candidates, nearest first,
  skipping locations already listed.

Only training points enter any table: held-out windows (their current point included) are never
counted. Locations are vocabulary indices (`core.metrics.utility.VocabIndex`); every ranking
breaks ties by vocabulary index (smaller first). Empty slots are -1 and never hit (a user with
fewer than k distinct training locations gets fewer user_top5 candidates).
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from core.geo.distance import haversine
from core.metrics.utility import VocabIndex, hit_rates

BASELINES = ("persistence", "user_top5", "global_top5", "transition")


def top_by_group(group: np.ndarray, item: np.ndarray, n_groups: int, k: int) -> np.ndarray:
    """(n_groups, k) the k most frequent items of each group, ties by item index; -1 pads.

    Parameters
    ----------
    group, item : (M,) non-negative integer observations (group g saw item i once per row).
    """
    out = np.full((n_groups, k), -1, dtype=np.int64)
    if len(group) == 0:
        return out
    pairs, counts = np.unique(np.stack([group, item], axis=1), axis=0, return_counts=True)
    order = np.lexsort((pairs[:, 1], -counts, pairs[:, 0]))
    g, it = pairs[order, 0], pairs[order, 1]
    rank = np.arange(len(g)) - np.searchsorted(g, g, side="left")
    keep = rank < k
    out[g[keep], rank[keep]] = it[keep]
    return out


def persistence_topk(index: VocabIndex, current_latlon: np.ndarray, k: int) -> np.ndarray:
    """(N, k) the k vocabulary points nearest each current location (itself first)."""
    return _pad(index.k_nearest(current_latlon, k), k)


def user_topk(train_idx: Sequence[np.ndarray], client: np.ndarray, k: int) -> np.ndarray:
    """(N, k) each window's client's k most frequent training locations."""
    group = np.concatenate([np.full(len(t), c) for c, t in enumerate(train_idx)] or [[]])
    item = np.concatenate([np.asarray(t) for t in train_idx] or [[]])
    table = top_by_group(group.astype(np.int64), item.astype(np.int64), len(train_idx), k)
    return table[np.asarray(client, dtype=np.int64)]


def global_topk(train_idx: Sequence[np.ndarray], n: int, k: int) -> np.ndarray:
    """(N, k) the k most frequent locations over all clients' training points, for every row."""
    item = np.concatenate([np.asarray(t) for t in train_idx] or [[]]).astype(np.int64)
    return np.repeat(top_by_group(np.zeros_like(item), item, 1, k), n, axis=0)


def transition_pairs(train_idx: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """(current, next) location indices of consecutive training points, pooled over clients."""
    cur = [np.asarray(t)[:-1] for t in train_idx if len(t) > 1]
    nxt = [np.asarray(t)[1:] for t in train_idx if len(t) > 1]
    if not cur:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    return np.concatenate(cur).astype(np.int64), np.concatenate(nxt).astype(np.int64)


def transition_topk(train_idx: Sequence[np.ndarray], current_idx: np.ndarray,
                    fallback: np.ndarray, n_vocab: int, k: int) -> np.ndarray:
    """(N, k) the k most frequent training successors of each current location, then `fallback`.

    `fallback` (N, k) fills the slots left when fewer than k successors are known, in its own
    order and without repeating a successor (with persistence as fallback it always has enough).
    """
    cur, nxt = transition_pairs(train_idx)
    succ = top_by_group(cur, nxt, n_vocab, k)[np.asarray(current_idx, dtype=np.int64)]
    return _fill(succ, fallback, k)


def _fill(first: np.ndarray, then: np.ndarray, k: int) -> np.ndarray:
    """Row-wise: the valid entries of `first`, then those of `then` not already present; k kept."""
    cand = np.concatenate([first, then], axis=1)
    dup = (cand[:, :, None] == cand[:, None, :]) & np.tri(cand.shape[1], k=-1, dtype=bool)[None]
    valid = (cand >= 0) & ~dup.any(axis=2)
    order = np.argsort(~valid, axis=1, kind="stable")
    out = np.take_along_axis(np.where(valid, cand, -1), order, axis=1)[:, :k]
    return _pad(out, k)


def _pad(top: np.ndarray, k: int) -> np.ndarray:
    """Right-pad (N, j) candidates with -1 to (N, k) (a vocabulary smaller than k)."""
    return np.pad(top, ((0, 0), (0, k - top.shape[1])), constant_values=-1)


def baseline_candidates(train_latlon: Sequence[np.ndarray], heldout_client: np.ndarray,
                        heldout_current: np.ndarray, vocab: np.ndarray,
                        k: int = 5) -> dict[str, np.ndarray]:
    """The four baselines' (N, k) ranked candidate location indices (-1 = empty slot).

    Parameters are those of `baselines`.
    """
    return _candidates(VocabIndex(vocab), train_latlon, heldout_client, heldout_current, k)


def _candidates(index: VocabIndex, train_latlon: Sequence[np.ndarray], heldout_client: np.ndarray,
                heldout_current: np.ndarray, k: int) -> dict[str, np.ndarray]:
    train_idx = [index.nearest(t) if len(t) else np.zeros(0, np.int64) for t in train_latlon]
    current = np.asarray(heldout_current, dtype=np.float64).reshape(-1, 2)
    n = len(current)
    persist = persistence_topk(index, current, k) if n else np.zeros((0, k), np.int64)
    current_idx = persist[:, 0] if n else np.zeros(0, np.int64)
    return {"persistence": persist,
            "user_top5": user_topk(train_idx, heldout_client, k),
            "global_top5": global_topk(train_idx, n, k),
            "transition": transition_topk(train_idx, current_idx, persist, len(index), k)}


def baselines(train_latlon: Sequence[np.ndarray], heldout_client: np.ndarray,
              heldout_current: np.ndarray, heldout_next: np.ndarray, vocab: np.ndarray,
              k: int = 5) -> dict[str, dict[str, float]]:
    """recall@k, acc@1 and median top-1 error of the four baselines on held-out windows.

    See the module docstring (and DESIGN.md §4) for what each baseline predicts.

    Parameters
    ----------
    train_latlon : per client, the (n_k, 2) [lat, lon] points it trained on, in time order.
    heldout_client : (N,) client index (into `train_latlon`) of each held-out window.
    heldout_current : (N, 2) [lat, lon] of each window's last point.
    heldout_next : (N, 2) true next [lat, lon].
    vocab : (V, 2) [lat, lon] of the candidate locations; points map to their nearest row.
    k : candidates per prediction (the names keep "top5" whatever k is).

    Returns
    -------
    ``{name: {"recall_at_<k>", "acc_at_1", "median_error_m"}}`` for name in `BASELINES`;
    ``median_error_m`` is the haversine distance from the first candidate to the truth.
    """
    index = VocabIndex(vocab)
    nxt = np.asarray(heldout_next, dtype=np.float64).reshape(-1, 2)
    true_idx = index.nearest(nxt) if len(nxt) else np.zeros(0, np.int64)
    tops = _candidates(index, train_latlon, heldout_client, heldout_current, k)
    return {name: {**hit_rates(top, true_idx), "median_error_m": _median_error(index, top, nxt)}
            for name, top in tops.items()}


def _median_error(index: VocabIndex, top: np.ndarray, true_latlon: np.ndarray) -> float:
    """Median haversine metres from each row's first candidate to the truth (empty rows skipped)."""
    ok = top[:, 0] >= 0 if len(top) else np.zeros(0, bool)
    if not ok.any():
        return float("nan")
    p, t = index.vocab[top[ok, 0]], true_latlon[ok]
    return float(np.median(haversine(p[:, 0], p[:, 1], t[:, 0], t[:, 1])))
