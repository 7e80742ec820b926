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

Time slots (`slot_emb`, `core.data.timeslots`) leak the same way: ∇slot_emb is non-zero only
in the rows of the slots the client's inputs were visited at. Each input point's slot is found
with its location — the unknown locations and slots are assigned jointly (every pair of
assignments scored; when that product exceeds `MAX_JOINT`, alternately: locations with a
first slot guess, slots given them, locations again) — and kept; a slot whose first reading
was not decisive is solved once more in the client's next round (`_recheck_slots`). `leak` records per round the
share of input points whose recovered slot is the true one (`slot_accuracy`, the time-of-visit
leak). Scoring only recomputes the windows from the first one with an unknown point or target
(earlier windows' losses do not depend on the candidate; they enter once per client).

State across rounds: a client's points are consecutive (`core.federated.clients`), so after the
first round only the newest target is unknown; points found once are kept (`loc`), as ST-GIA
keeps its previous reconstruction (Eq. 6). With client-side noise (DP-SGD) every row is
non-zero: the candidates are the n rows of largest norm, n = the upload's distinct input
points (public, from the protocol); `leak` records, per round, how much of the true visited set
those rows still contain.
"""
from __future__ import annotations

import itertools
from typing import NamedTuple

import numpy as np
import torch
from torch import Tensor

from core.federated.clients import window_points
from core.federated.rounds import RoundRecord
from core.models.deepmove import embed_indices, head, location_index
from core.models.recurrent import ModelSpec

MAX_ASSIGNMENTS = 4096  # candidate orders scored per client (W = 5 needs 5^5 = 3125)
MAX_JOINT = MAX_ASSIGNMENTS  # (location, slot) assignment pairs scored jointly, else alternate
CHUNK_PROBLEMS = 4096   # (client, assignment) pairs per batched evaluation (memory bound)
MAX_RESOLVE = 2         # kept points re-solved per client and round when their rows are missing
DECISIVE = 100.0        # a best candidate this many times closer than the runner-up is final


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


def dominant_slots(slot_grad: Tensor, shape: tuple[int, int, int]) -> Tensor:
    """(K, B, W) each client's time slot of largest gradient-row norm (slot_grad (K, S, Ds)),
    at every position: a single guess of the slots for attacks that do not recover them."""
    best = slot_grad.norm(dim=-1).argmax(dim=1)                          # (K,)
    return best.view(-1, 1, 1).expand(*shape).clone()


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


class Unknowns(NamedTuple):
    """One table's part of a group's problem: the input points (m,) to assign, the candidate rows
    (k, n) with the unexplained revealed ones first, and how many of those must be used."""

    points: np.ndarray
    rows: Tensor
    must_use: int


class RowAttack:
    """The embedding-row attack over a whole run (state per client and trajectory point)."""

    def __init__(self, model: ModelSpec, window: int, n_clients: int, n_points: int) -> None:
        self.model, self.window = model, window
        self.loc = np.full((n_clients, n_points), -1, dtype=np.int64)   # vocabulary index found
        self.slot = np.full((n_clients, n_points), -1, dtype=np.int64)  # time slot found (inputs)
        self.slot_final = np.zeros((n_clients, n_points), dtype=bool)    # slot re-checked once
        self.leak: list[dict] = []

    def attack(self, rec: RoundRecord) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Recover every point of the record's upload (locations, and the inputs' time slots).

        Returns the points (P,) ascending, their locations (K, P, 2) normalised, and which of
        them were found this round (K, P) (the others were known from earlier rounds)."""
        W = self.window
        idx = window_points(rec.starts, W)                              # (B, W+1)
        pts = np.unique(idx)
        inputs = np.unique(idx[:, :W])
        m = len(inputs)
        grad, sgrad = rec.uploads["loc_emb"], rec.uploads["slot_emb"]
        rows, valid = candidate_rows(grad, m)
        srows, svalid = candidate_rows(sgrad, m)
        before = self.loc[rec.clients][:, pts]                          # (K, P)
        exact = (grad.norm(dim=-1) == 0).any(dim=1)                    # (K,) no noise on the rows
        unknown_in = self._unknown_inputs(rec.clients, inputs, rows, valid, exact)
        free = _unexplained(self.loc[rec.clients][:, inputs], rows, valid, unknown_in)
        s_unknown = self.slot[rec.clients][:, inputs] < 0
        s_free = _unexplained(self.slot[rec.clients][:, inputs], srows, svalid, s_unknown)
        # clients grouped by which inputs are unknown and how many revealed rows are unexplained
        # (and by their number of distinct revealed slots: the slot candidates, no padding)
        key = np.concatenate([unknown_in, free.sum(1).numpy()[:, None],
                              s_unknown, s_free.sum(1).numpy()[:, None],
                              svalid.sum(1).clamp_min(1).numpy()[:, None]], axis=1)
        patterns, group = np.unique(key, axis=0, return_inverse=True)
        for g, pattern in enumerate(patterns):
            members = np.flatnonzero(group.ravel() == g)
            loc_part = Unknowns(inputs[pattern[:m].astype(bool)],
                                _free_first(rows[members], free[members]), int(pattern[m]))
            slot_part = Unknowns(inputs[pattern[m + 1:2 * m + 1].astype(bool)],
                                 _free_first(srows[members], s_free[members])[:, :pattern[-1]],
                                 int(pattern[-2]))
            self._solve_group(rec, members, idx, loc_part, slot_part)
        self._recheck_slots(rec, idx, inputs, rows, srows, svalid, s_unknown)
        self._record_leak(rec, grad, m, idx)
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

    def _recheck_slots(self, rec: RoundRecord, idx: np.ndarray, inputs: np.ndarray, rows: Tensor,
                       srows: Tensor, svalid: Tensor, new: np.ndarray) -> None:
        """Re-solve, once, the slot of every input point found in an earlier round whose first
        reading was not decisive (`_search`; `slot_final` marks the others): a client's newest
        point is the last window's input, which no window attends to yet, and after some
        training its slot can barely move the gradient (candidate distances at float noise;
        presumably saturated GRU gates);
        a round later it is also a history key that the next window attends to, and its slot
        shows. Locations and the other slots stay fixed (one slot assignment per candidate)."""
        slot = self.slot[rec.clients][:, inputs]
        again = (slot >= 0) & ~new & ~self.slot_final[rec.clients][:, inputs]      # (K, m)
        if not again.any():
            return
        free = _unexplained(slot, srows, svalid, again)
        key = np.concatenate([again, free.sum(1).numpy()[:, None],
                              svalid.sum(1).clamp_min(1).numpy()[:, None]], axis=1)
        patterns, group = np.unique(key, axis=0, return_inverse=True)
        none = torch.zeros(1, 0, dtype=torch.long)
        m = len(inputs)
        for g, pattern in enumerate(patterns):
            points = inputs[pattern[:m].astype(bool)]
            if not len(points):
                continue
            members = np.flatnonzero(group.ravel() == g)
            clients = rec.clients[members]
            part = Unknowns(points, _free_first(srows[members], free[members])[:, :pattern[-1]],
                            int(pattern[-2]))
            sc = torch.as_tensor(assignments(part.rows.shape[1], len(points), part.must_use))
            seq = (torch.as_tensor(self.loc[clients]), torch.as_tensor(self.slot[clients]))
            loc = Unknowns(inputs_none(), rows[members], 0)
            seq, _ = self._search(rec, members, idx, seq, (loc, none), (part, sc))
            self.slot[clients] = seq[1].numpy()
            self.slot_final[clients[:, None], points[None, :]] = True

    def _record_leak(self, rec: RoundRecord, grad: Tensor, n: int, idx: np.ndarray) -> None:
        """Per-round mean share of the true (pre-defense) visited inputs among the top-n rows,
        and of the input points whose recovered time slot is the true one."""
        true_idx = location_index(rec.x_true, self.model).reshape(len(rec.clients), -1)
        recall = row_recall(grad, true_idx, n)
        entry = {"round": rec.round, "row_recall": float(recall.mean()), "rows": n}
        if rec.slots_true is not None:
            found = self.slot[rec.clients][:, idx[:, :self.window]]       # (K, B, W)
            entry["slot_accuracy"] = float((found == rec.slots_true.numpy()).mean())
        self.leak.append(entry)

    def _solve_group(self, rec: RoundRecord, members: np.ndarray, idx: np.ndarray,
                     loc: Unknowns, slot: Unknowns) -> None:
        """Clients `members` share their unknown input points and their numbers of unexplained
        revealed rows: score every assignment of the unknown locations and slots to candidate
        rows that uses all unexplained ones (and the target it implies); keep the best."""
        clients = rec.clients[members]
        seq = (torch.as_tensor(self.loc[clients]), torch.as_tensor(self.slot[clients]))
        lc = torch.as_tensor(assignments(loc.rows.shape[1], len(loc.points), loc.must_use))
        sc = torch.as_tensor(assignments(slot.rows.shape[1], len(slot.points), slot.must_use))
        if len(lc) * len(sc) <= MAX_JOINT:
            seq, decisive = self._search(rec, members, idx, seq, (loc, lc), (slot, sc))
            # a clear winner needs no second look at its slots (`_recheck_slots`)
            self.slot_final[clients[decisive.numpy()][:, None], slot.points[None, :]] = True
        else:  # alternate: locations with a first slot guess, slots given them, locations again
            none = torch.zeros(1, 0, dtype=torch.long)
            seq, _ = self._search(rec, members, idx, seq, (loc, lc), (slot, sc[:1]))
            seq, _ = self._search(rec, members, idx, seq,
                                  (loc._replace(points=inputs_none()), none), (slot, sc))
            seq, _ = self._search(rec, members, idx, seq, (loc, lc),
                                  (slot._replace(points=inputs_none()), none))
        self.loc[clients], self.slot[clients] = seq[0].numpy(), seq[1].numpy()

    def _search(self, rec: RoundRecord, members: np.ndarray, idx: np.ndarray,
                seq: tuple[Tensor, Tensor], loc: tuple[Unknowns, Tensor],
                slot: tuple[Unknowns, Tensor]) -> tuple[tuple[Tensor, Tensor], Tensor]:
        """Best (location, slot) sequences (k, n_points) over every pair of a location
        assignment (A1, m1) and a slot assignment (A2, m2), scored in chunks; and whether each
        client's best is decisive (the runner-up's distance > `DECISIVE` × the best's)."""
        (lu, lc), (su, sc) = loc, slot
        k, A2 = len(members), len(sc)
        total = len(lc) * A2
        first = self._first_window(seq[0], idx, lu.points, su.points)
        base = self._fixed_part(rec, members, idx, seq, first)
        best_d = torch.full((k,), float("inf"))
        top2 = torch.full((k, 2), float("inf"))
        best_loc, best_slot = seq[0].clone(), seq[1].clone()
        for part in torch.split(torch.arange(total), max(1, CHUNK_PROBLEMS // k)):
            li, si = part // A2, part % A2
            cl = seq[0][:, None, :].repeat(1, len(part), 1)                  # (k, a, n_points)
            cs = seq[1][:, None, :].repeat(1, len(part), 1)
            if len(lu.points):
                cl[:, :, torch.as_tensor(lu.points)] = lu.rows[:, lc[li]]    # (k, a, m1)
            if len(su.points):
                cs[:, :, torch.as_tensor(su.points)] = su.rows[:, sc[si]]    # (k, a, m2)
            d, filled = self._score(rec, members, idx, cl, cs, lu.rows, su.rows, first, base)
            top2 = torch.cat([top2, d], 1).topk(2, dim=1, largest=False).values
            dmin, pick = d.min(1)
            better = dmin < best_d
            best_d = torch.where(better, dmin, best_d)
            best_loc[better] = filled[better, pick[better]]
            best_slot[better] = cs[better, pick[better]]
        return (best_loc, best_slot), top2[:, 1] > DECISIVE * top2[:, 0]

    def _first_window(self, loc: Tensor, idx: np.ndarray, loc_points: np.ndarray,
                      slot_points: np.ndarray) -> int:
        """The first window with an unknown input point (location or slot) or an unknown target
        for any client of the group: windows before it do not depend on the candidates."""
        W = self.window
        unknown_in = np.isin(idx[:, :W], np.concatenate([loc_points, slot_points])).any(1)
        unknown_t = (loc[:, torch.as_tensor(idx[:, W])] < 0).any(0).numpy()   # (B,)
        hit = np.flatnonzero(unknown_in | unknown_t)
        return int(hit[0]) if len(hit) else idx.shape[0] - 1

    def _fixed_part(self, rec: RoundRecord, members: np.ndarray, idx: np.ndarray,
                    seq: tuple[Tensor, Tensor], first: int) -> tuple[Tensor, Tensor] | None:
        """For windows b < `first` (all known): ∂(Σ_b CE_b / B)/∂e (k, B, W, E) and Σ_b softmax
        (k, V), once per client. None when there are no such windows."""
        if first == 0:
            return None
        W, B = self.window, idx.shape[0]
        inp = torch.as_tensor(idx[:first, :W])
        win, swin = seq[0][:, inp], seq[1][:, inp]                               # (k, first, W)
        e = embed_indices(rec.params, win, swin).detach().requires_grad_(True)
        logits = head(rec.params, win, e, self.model)                            # (k, first, V)
        targets = seq[0][:, torch.as_tensor(idx[:first, W])]
        loss = torch.nn.functional.cross_entropy(logits.flatten(0, 1), targets.flatten(),
                                                 reduction="sum") / B
        (g_e,) = torch.autograd.grad(loss, [e])
        pad = g_e.new_zeros(len(members), B - first, W, g_e.shape[-1])
        return torch.cat([g_e, pad], dim=1), torch.softmax(logits.detach(), -1).sum(1)

    def _score(self, rec: RoundRecord, members: np.ndarray, idx: np.ndarray, cl: Tensor,
               cs: Tensor, lrows: Tensor, srows: Tensor, first: int,
               base: tuple[Tensor, Tensor] | None) -> tuple[Tensor, Tensor]:
        """Gradient-matching distance (k, a) of each candidate (location sequence cl, slot
        sequence cs: (k, a, n_points)) with its implied target filled in, over both tables'
        candidate rows; and the filled location sequences."""
        k, a, _ = cl.shape
        W, B = self.window, idx.shape[0]
        inp = torch.as_tensor(idx[:, :W])
        win = cl[:, :, inp].reshape(k * a, B, W)                                # (k·a, B, W)
        swin = cs[:, :, inp].reshape(k * a, B, W)
        e = embed_indices(rec.params, win, swin).detach().requires_grad_(True)  # (k·a, B, W, E)
        logits = head(rec.params, win, e, self.model, first)                    # (k·a, B', V)
        targets = cl[:, :, torch.as_tensor(idx[first:, W])].reshape(k * a, B - first)  # −1: unknown
        g_bias = rec.uploads["out_bias"][members].repeat_interleave(a, dim=0)  # (k·a, V)
        probs = torch.softmax(logits.detach(), -1).sum(1)
        known_counts = None
        if base is not None:
            probs = probs + base[1].repeat_interleave(a, dim=0)
            known_counts = self._counts(cl[:, :, torch.as_tensor(idx[:first, W])].reshape(k * a, -1),
                                        g_bias.shape[1])
        targets, scale = self._targets(probs / B, targets, g_bias, B, known_counts)
        loss = torch.nn.functional.cross_entropy(logits.flatten(0, 1), targets.flatten(),
                                                 reduction="sum") / B
        (g_e,) = torch.autograd.grad(loss, [e])                                # (k·a, B, W, E)
        if base is not None:
            g_e = g_e + base[0].repeat_interleave(a, dim=0)
        D = rec.params["loc_emb"].shape[-1]
        d = self._row_distance(g_e[..., :D], win, lrows.repeat_interleave(a, dim=0),
                               _rows_of(rec.uploads["loc_emb"][members], lrows, a), scale) \
            + self._row_distance(g_e[..., D:], swin, srows.repeat_interleave(a, dim=0),
                                 _rows_of(rec.uploads["slot_emb"][members], srows, a), scale)
        filled = cl.clone()
        last = int(idx[-1, W])
        filled[:, :, last] = targets.view(k, a, -1)[:, :, -1]
        return d.view(k, a), filled

    @staticmethod
    def _counts(targets: Tensor, V: int) -> Tensor:
        """(n, V) how often each class is a (known) target among `targets` (n, b)."""
        return torch.zeros(len(targets), V).scatter_add_(1, targets.clamp_min(0),
                                                         (targets >= 0).float())

    def _targets(self, mean_probs: Tensor, targets: Tensor, g_bias: Tensor, B: int,
                 extra_counts: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """Fill unknown targets (−1) of the scored windows (n, B') from the output bias, given
        mean_probs (n, V) = (1/B) Σ_b softmax(o_b) over all B windows and the counts of the known
        targets of the windows not scored; returns the targets (n, B') and f̂ (n, 1)."""
        known = targets >= 0
        counts = self._counts(targets, mean_probs.shape[1])
        if extra_counts is not None:
            counts = counts + extra_counts
        a = mean_probs - counts / B                                             # (n, V)
        label = (g_bias - a).argmin(1)                                          # most negative
        unknown = (~known).sum(1, keepdim=True).float()
        full = a.scatter_add(1, label[:, None], -unknown / B)                   # the whole ∇b
        scale = (g_bias * full).sum(1, keepdim=True) / (full * full).sum(1, keepdim=True).clamp_min(1e-12)
        return torch.where(known, targets, label[:, None]), scale

    @staticmethod
    def _row_distance(g_e: Tensor, win: Tensor, rows: Tensor, true: Tensor, scale: Tensor) -> Tensor:
        """‖f̂·(dummy rows) − (uploaded rows `true` (n, R, D))‖² over the candidate rows (n, R),
        per problem.

        The dummy's gradient of row v is the sum of ∂L/∂e over the positions fed row v
        (padded duplicate rows count twice on both sides alike)."""
        n, R = rows.shape
        hit = (win.reshape(n, -1, 1) == rows[:, None, :])                       # (n, B·W, R)
        dummy = torch.einsum("npr,npd->nrd", hit.float(), g_e.reshape(n, -1, g_e.shape[-1]))
        diff = (scale[:, :, None] * dummy - true).pow(2).sum(-1)                # (n, R)
        return diff.sum(1)


def _rows_of(upload: Tensor, rows: Tensor, a: int) -> Tensor:
    """Rows `rows` (k, R) of each client's table gradient (k, V, D), repeated for its a
    candidates -> (k·a, R, D) (gathered first: the whole table is V/R times larger)."""
    picked = upload[torch.arange(len(rows))[:, None], rows]
    return picked.repeat_interleave(a, dim=0)


def inputs_none() -> np.ndarray:
    """No points to assign (a table held fixed in one step of the alternating search)."""
    return np.zeros(0, dtype=np.int64)


def _unexplained(kept: np.ndarray, rows: Tensor, valid: Tensor, unknown: np.ndarray) -> Tensor:
    """(K, n) revealed (non-zero) candidate rows that no kept input point (kept (K, m) row
    indices; `unknown` (K, m) marks the ones being re-solved) accounts for."""
    kept = np.where(unknown, -1, kept)
    used = (torch.as_tensor(kept)[:, None, :] == rows[:, :, None]).any(-1)      # (K, n)
    return valid & ~used


def _free_first(rows: Tensor, free: Tensor) -> Tensor:
    """(k, n) candidate rows with the unexplained revealed ones first (stable otherwise)."""
    order = torch.argsort((~free).int(), dim=1, stable=True)
    return rows.gather(1, order)
