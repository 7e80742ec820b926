"""Reading an embedding model's upload (DESIGN.md §3 "Embedding models"; `core.models.deepmove`).

For a model that looks locations up in a table E (V, D) (DeepMove, Feng et al., WWW 2018), the
gradient of the loss w.r.t. E is Σ_positions ∂L/∂e_pos scattered into the row of each position's
location: every row of a location the client did *not* feed in is exactly zero, under FedSGD
(one gradient) and FedAvg (a sum of local gradients) alike. So the server reads the set of
visited places off the upload with no optimisation. What is left to find:

1. the order of the window points among those revealed rows: gradient matching (paper Eq. 7,
   squared L2, Eq. 8) over the *discrete* candidates — every assignment of the unknown window
   points to revealed rows is scored in one batched evaluation and the best one kept (ST-GIA's
   mapping becomes "choose among the revealed rows");
2. the target: ∇b_out = mean_b softmax(o_b) − (1/B) Σ_b onehot(y_b). Given the inputs the
   server computes the softmax term itself, subtracts the targets it already knows (earlier
   windows' targets are later windows' inputs), and the unknown target is the most negative
   entry of what remains; a least-squares scale f̂ of the whole ∇b (1 without clipping, the
   clipping factor with DP-SGD) scales the dummy rows in step 1.

State across rounds: a client's points are consecutive (`core.federated.clients`), so after the
first round only the newest target is unknown; points found once are kept (`loc`), as ST-GIA
keeps its previous reconstruction (Eq. 6). With client-side noise (DP-SGD) every row is
non-zero: the candidates are the n rows of largest norm, n = the upload's distinct input
points (public, from the protocol); `leak` records, per round, how much of the true visited set
those rows still contain.
"""
from __future__ import annotations

import itertools

import numpy as np
import torch
from torch import Tensor

from core.federated.clients import window_points
from core.federated.rounds import RoundRecord
from core.models.deepmove import head, location_index, lookup
from core.models.recurrent import ModelSpec

MAX_ASSIGNMENTS = 4096  # candidate orders scored per client (W = 5 needs 5^5 = 3125)
CHUNK_PROBLEMS = 4096   # (client, assignment) pairs per batched evaluation (memory bound)
MAX_RESOLVE = 2         # kept points re-solved per client and round when their rows are missing


def candidate_rows(table_grad: Tensor, n: int) -> tuple[Tensor, Tensor]:
    """The n rows of largest norm of each client's embedding gradient (K, V, D).

    Returns their indices (K, n) and whether each is non-zero (K, n); zero rows (fewer distinct
    places than input points) are padded with the client's first row, so they add duplicates,
    never new places."""
    norms = table_grad.norm(dim=-1)                                    # (K, V)
    top, rows = norms.topk(min(n, norms.shape[1]), dim=1)
    valid = top > 0
    rows = torch.where(valid, rows, rows[:, :1])
    return rows, valid


def row_recall(table_grad: Tensor, true_idx: Tensor, n: int) -> Tensor:
    """(K,) share of each client's true input locations (indices (K, M)) among the n rows of
    largest norm of its embedding gradient — what is left of the leak under noise."""
    rows, _ = candidate_rows(table_grad, n)
    hit = (true_idx[:, :, None] == rows[:, None, :]).any(-1).float()       # (K, M)
    distinct = torch.zeros(table_grad.shape[:2]).scatter_(1, true_idx, 1.0)  # (K, V)
    found = torch.zeros_like(distinct).scatter_(1, true_idx, hit)
    return found.sum(1) / distinct.sum(1)


def assignments(n_candidates: int, m: int, must_use: int = 0) -> np.ndarray:
    """(A, m) ways to give m unknown points one of n candidate rows each, using every one of the
    first `must_use` rows (revealed rows no known point explains must be someone's location);
    A ≤ MAX_ASSIGNMENTS, in lexicographic order when capped."""
    need = set(range(min(must_use, m)))
    combos = (c for c in itertools.product(range(n_candidates), repeat=m) if need <= set(c))
    combos = list(itertools.islice(combos, MAX_ASSIGNMENTS))
    return np.array(combos, dtype=np.int64).reshape(len(combos), m)


class RowAttack:
    """The embedding-row attack over a whole run (state per client and trajectory point)."""

    def __init__(self, model: ModelSpec, window: int, n_clients: int, n_points: int) -> None:
        self.model, self.window = model, window
        self.loc = np.full((n_clients, n_points), -1, dtype=np.int64)  # vocabulary index found
        self.leak: list[dict] = []

    def attack(self, rec: RoundRecord) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Recover every point of the record's upload.

        Returns the points (P,) ascending, their locations (K, P, 2) normalised, and which of
        them were found this round (K, P) (the others were known from earlier rounds)."""
        W = self.window
        idx = window_points(rec.starts, W)                              # (B, W+1)
        pts = np.unique(idx)
        inputs = np.unique(idx[:, :W])
        grad = rec.uploads["loc_emb"]
        rows, valid = candidate_rows(grad, len(inputs))
        self._record_leak(rec, grad, len(inputs))
        before = self.loc[rec.clients][:, pts]                          # (K, P)
        exact = (grad.norm(dim=-1) == 0).any(dim=1)                    # (K,) no noise on the rows
        unknown_in = self._unknown_inputs(rec.clients, inputs, rows, valid, exact)
        # clients grouped by which inputs are unknown and how many revealed rows are unexplained
        key = np.concatenate([unknown_in, self._unexplained(rec.clients, inputs, rows, valid,
                                                            unknown_in)[:, None]], axis=1)
        patterns, group = np.unique(key, axis=0, return_inverse=True)
        for g, pattern in enumerate(patterns):
            members = np.flatnonzero(group.ravel() == g)
            self._solve_group(rec, members, inputs[pattern[:-1].astype(bool)], idx,
                              self._order_rows(rec.clients[members], inputs, rows[members],
                                               valid[members], unknown_in[members]),
                              int(pattern[-1]))
        vocab = self.model.locations.numpy().astype(np.float64)
        after = self.loc[rec.clients][:, pts]
        return pts, vocab[after], after != before

    def _unknown_inputs(self, clients: np.ndarray, inputs: np.ndarray, rows: Tensor,
                        valid: Tensor, exact: Tensor) -> np.ndarray:
        """(K, |inputs|) input points to solve: never found, or — when the client's rows are
        exact (some row is zero, so no noise) and at most `MAX_RESOLVE` kept points disagree —
        kept at a place whose row the upload does not show (a wrong target label, e.g. under
        FedAvg). Location mechanisms re-draw every point each round, and then the kept first
        recoveries stand (re-solving them all would be a combinatorial search)."""
        loc = self.loc[clients][:, inputs]
        shown = (torch.as_tensor(loc)[:, :, None] == torch.where(valid, rows, -2)[:, None, :]).any(-1)
        stale = (loc >= 0) & ~shown.numpy()
        recheck = exact.numpy() & (stale.sum(1) <= MAX_RESOLVE)
        return (loc < 0) | (stale & recheck[:, None])

    def _unexplained_mask(self, clients: np.ndarray, inputs: np.ndarray, rows: Tensor,
                          valid: Tensor, unknown_in: np.ndarray) -> Tensor:
        """(K, n) revealed (non-zero) rows that no kept input point accounts for."""
        kept = np.where(unknown_in, -1, self.loc[clients][:, inputs])
        used = (torch.as_tensor(kept)[:, None, :] == rows[:, :, None]).any(-1)   # (K, n)
        return valid & ~used

    def _unexplained(self, clients: np.ndarray, inputs: np.ndarray, rows: Tensor, valid: Tensor,
                     unknown_in: np.ndarray) -> np.ndarray:
        """(K,) number of revealed rows that no kept input point accounts for."""
        return self._unexplained_mask(clients, inputs, rows, valid, unknown_in).sum(1).numpy()

    def _order_rows(self, clients: np.ndarray, inputs: np.ndarray, rows: Tensor, valid: Tensor,
                    unknown_in: np.ndarray) -> Tensor:
        """(K, n) candidate rows with the unexplained revealed ones first (stable otherwise)."""
        free = self._unexplained_mask(clients, inputs, rows, valid, unknown_in)
        order = torch.argsort((~free).int(), dim=1, stable=True)
        return rows.gather(1, order)

    def _record_leak(self, rec: RoundRecord, grad: Tensor, n: int) -> None:
        """Per-round mean share of the true (pre-defense) visited inputs among the top-n rows."""
        true_idx = location_index(rec.x_true, self.model).reshape(len(rec.clients), -1)
        recall = row_recall(grad, true_idx, n)
        self.leak.append({"round": rec.round, "row_recall": float(recall.mean()), "rows": n})

    def _solve_group(self, rec: RoundRecord, members: np.ndarray, unknown: np.ndarray,
                     idx: np.ndarray, rows: Tensor, unexplained: int) -> None:
        """Clients `members` share their unknown input points `unknown` (m,) and their number of
        unexplained revealed rows (first in `rows`): score every assignment of the unknown points
        to candidate rows that uses all of those (and the target it implies); keep the best."""
        clients = rec.clients[members]
        combos = torch.as_tensor(assignments(rows.shape[1], len(unknown), unexplained))  # (A, m)
        seq = torch.as_tensor(self.loc[clients])                             # (k, n_points)
        best_d = torch.full((len(members),), float("inf"))
        best_seq = seq.clone()
        for part in torch.split(combos, max(1, CHUNK_PROBLEMS // len(members))):
            cand = seq[:, None, :].repeat(1, len(part), 1)                     # (k, a, n_points)
            if len(unknown):
                cand[:, :, torch.as_tensor(unknown)] = rows[:, part]            # (k, a, m)
            d, filled = self._score(rec, members, idx, cand, rows)
            better = d.min(1).values < best_d
            pick = d.argmin(1)
            best_d = torch.where(better, d.min(1).values, best_d)
            best_seq[better] = filled[better, pick[better]]
        self.loc[clients] = best_seq.numpy()

    def _score(self, rec: RoundRecord, members: np.ndarray, idx: np.ndarray, cand: Tensor,
               rows: Tensor) -> tuple[Tensor, Tensor]:
        """Gradient-matching distance (k, a) of each candidate sequence (k, a, n_points) with its
        implied target filled in, and the filled sequences."""
        k, a, _ = cand.shape
        W, B = self.window, idx.shape[0]
        win = cand[:, :, torch.as_tensor(idx[:, :W])].reshape(k * a, B, W)   # (k·a, B, W)
        e = lookup(rec.params["loc_emb"], win).detach().requires_grad_(True)
        logits = head(rec.params, win, e, self.model)                         # (k·a, B, V)
        targets = cand[:, :, torch.as_tensor(idx[:, W])].reshape(k * a, B)     # −1: unknown
        g_bias = rec.uploads["out_bias"][members].repeat_interleave(a, dim=0)  # (k·a, V)
        targets, scale = self._targets(logits.detach(), targets, g_bias)
        loss = torch.nn.functional.cross_entropy(logits.flatten(0, 1), targets.flatten(),
                                                 reduction="none").view(k * a, B).mean(1).sum()
        (g_e,) = torch.autograd.grad(loss, [e])                                # (k·a, B, W, D)
        d = self._row_distance(g_e, win, rows.repeat_interleave(a, dim=0),
                               rec.uploads["loc_emb"][members].repeat_interleave(a, dim=0), scale)
        filled = cand.clone()
        last = int(idx[-1, W])
        filled[:, :, last] = targets.view(k, a, B)[:, :, -1]
        return d.view(k, a), filled

    def _targets(self, logits: Tensor, targets: Tensor, g_bias: Tensor) -> tuple[Tensor, Tensor]:
        """Fill unknown targets (−1) from the output bias; returns them (n, B) and f̂ (n, 1)."""
        B, V = logits.shape[1], logits.shape[2]
        known = targets >= 0
        counts = torch.zeros(len(targets), V).scatter_add_(
            1, targets.clamp_min(0), known.float())                            # known targets
        a = torch.softmax(logits, -1).mean(1) - counts / B                      # (n, V)
        label = (g_bias - a).argmin(1)                                          # most negative
        unknown = (~known).sum(1, keepdim=True).float()
        full = a.scatter_add(1, label[:, None], -unknown / B)                   # the whole ∇b
        scale = (g_bias * full).sum(1, keepdim=True) / (full * full).sum(1, keepdim=True).clamp_min(1e-12)
        return torch.where(known, targets, label[:, None]), scale

    @staticmethod
    def _row_distance(g_e: Tensor, win: Tensor, rows: Tensor, upload: Tensor, scale: Tensor) -> Tensor:
        """‖f̂·(dummy rows) − (uploaded rows)‖² over the candidate rows (n, R), per problem.

        The dummy's gradient of row v is the sum of ∂L/∂e over the positions fed location v
        (padded duplicate rows count twice on both sides alike)."""
        n, R = rows.shape
        slot = (win.reshape(n, -1, 1) == rows[:, None, :])                     # (n, B·W, R)
        dummy = torch.einsum("npr,npd->nrd", slot.float(), g_e.reshape(n, -1, g_e.shape[-1]))
        true = upload[torch.arange(n)[:, None], rows]                           # (n, R, D)
        diff = (scale[:, :, None] * dummy - true).pow(2).sum(-1)                # (n, R)
        return diff.sum(1)
