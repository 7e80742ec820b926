"""A curious server's attack over a whole run: state across rounds around the one engine.

Per round it builds the inversion problem (initialisation — random, or ST-GIA's previous-round
reconstruction slid by one point, paper Eq. 6 —, labels, chained known points, restarts), runs
`engine.invert`, keeps the best restart per client, calibrates (Eq. 9) and scores the round
(ASR, AIT, error). Ground truth is used for scoring and the AIT monitor only, never to attack.

Which windows an upload covers is public (the protocol, `core.federated.clients.round_starts`):
the session reads them from each record's `starts`, so the same session attacks the paper's
streaming protocol (one window per round, or B) and the history protocol (all windows so far).

Subtracting known windows (`AttackSpec.subtract_known`, DESIGN.md §3 "History protocol"): the
server keeps its reconstructions of a client's earlier windows. With a FedSGD upload
g = (1/B_t)·Σ_j ∇L_j it computes the gradients of its kept windows at the current global model
(batched over clients) and inverts the residual r = B_t·g − Σ_old ∇L_j(reconstruction) ≈ ∇L_new
as a single-window problem — the same code path as a streaming round, on a residual record. With
W = 1 the new window's point is the previous round's (analytic) target, so only the new target
is unknown and it follows from r in closed form (regression: `analytic.regression_target`;
classification: the output-bias sign, `analytic.classification_label`, and the class's
location); for W > 1 earlier targets fill the window. Kept windows are subtracted with the class
labels recovered for them (not labels re-derived from locations: two venues metres apart would
swap). Round 1 has nothing kept and is inverted normally; a client that missed rounds has
several unknown windows, inverted together with joint labels. Limits: the first W points are
never a target, so they stay what round 1 (to W) reconstructed; with the regression head their
error enters every later residual and grows as the model trains (the classification head's
sign rule absorbs it). With FedAvg the upload is Δ/(E·η), not a sum of per-window gradients at
the global model, so the subtraction is approximate; client-side noise (DP-SGD) passes
straight into the residual.

Scoring: a round's attacked points are the distinct points of all its windows (targets
included), each scored with the attacker's current estimate (the paper's st-gia on the history
protocol inverts the whole upload with B_t dummy windows, as for B > 1 on streaming).
"""
from __future__ import annotations

import time
from dataclasses import dataclass, replace
from typing import Callable, NamedTuple

import numpy as np
import torch
from torch import Tensor

from core.attacks.analytic import classification_label, first_layer_input, regression_target
from core.attacks.calibration import Calibrator
from core.attacks.compiled import StepCache
from core.attacks.embedding import RowAttack, dominant_slots
from core.attacks.engine import Problem, invert
from core.attacks.levenberg import invert_lm
from core.attacks.monitor import FirstHits
from core.attacks.residual import relative_residual
from core.attacks.spec import AttackSpec
from core.data.preprocess import Normalizer
from core.federated.clients import window_points
from core.federated.rounds import RoundRecord
from core.geo.distance import EARTH_RADIUS_M
from core.metrics.attack import ASR_THRESHOLD_M, ait_summary, asr, errors_m
from core.models.deepmove import is_embedding
from core.models.recurrent import ModelSpec, per_client_grads


@dataclass(frozen=True)
class RoundAttack:
    """One round's outcome. Arrays are per attacked client (K) and per point P: the distinct
    trajectory points the round's upload contains (every window's points and targets), in
    ascending `point_idx` order. `raw_latlon` is this round's reconstruction of each point (the
    mean over its windows; a point this round did not re-invert keeps the attacker's estimate),
    `est_latlon` the attacker's current estimate after calibration, the one scored.
    `slot_accuracy` (embedding-row attack only): the share of the round's input points whose
    time slot the attacker now holds is the true one (the time-of-visit leak)."""

    round: int
    clients: np.ndarray
    point_idx: np.ndarray
    true_latlon: np.ndarray
    raw_latlon: np.ndarray
    est_latlon: np.ndarray
    errors_m: np.ndarray
    first_hit: np.ndarray
    asr: float
    ait: float
    ait_success: float
    median_error_m: float
    seconds: float
    slot_accuracy: float | None = None  # embedding models, st-gia+: time slots read correctly


class Solution(NamedTuple):
    """One record's inversion. z (K, B, W+1, 2) normalised windows and targets; first (K, B,
    W+1) first-hit iterations; y_loc (K, B, 2) analytic target locations or None; free (K, B)
    free window points; labels (K, B) analytic classes or None; residual (K,) relative
    matching residual of each client's reconstruction (`core.attacks.residual`)."""

    z: np.ndarray
    first: np.ndarray
    y_loc: Tensor | None
    free: np.ndarray
    labels: Tensor | None
    residual: np.ndarray


def collapse_points(idx: np.ndarray, z: np.ndarray,
                    first: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Per-window values -> per distinct point.

    idx (B, W+1) trajectory indices, z (K, B, W+1, 2), first (K, B, W+1) first-hit iterations.
    Returns the points (P,) ascending, z averaged over each point's occurrences (K, P, 2) and the
    earliest hit over them (K, P) (−1: never)."""
    pts, inv = np.unique(idx.ravel(), return_inverse=True)
    K, n = z.shape[0], idx.size
    onehot = np.zeros((len(pts), n))
    onehot[inv, np.arange(n)] = 1.0
    zc = np.einsum("pn,knc->kpc", onehot, z.reshape(K, n, 2)) / onehot.sum(1)[None, :, None]
    if first is None:
        return pts, zc, None
    never = np.iinfo(np.int64).max
    ff = np.where(first.reshape(K, n) >= 0, first.reshape(K, n), never).astype(np.int64)
    fc = np.full((K, len(pts)), never, dtype=np.int64)
    np.minimum.at(fc, (slice(None), inv), ff)
    fc[fc == never] = -1
    return pts, zc, fc


class AttackSession:
    """Attacks every round of one federated run with one attack recipe.

    n_points: the longest trajectory (state is kept per client and trajectory point).
    vocab: (C, 2) normalised locations of the classification head's classes.
    """

    def __init__(self, spec: AttackSpec, model: ModelSpec, normalizer: Normalizer, n_clients: int,
                 n_points: int, window: int, iters: int, seed: int,
                 mapper: Callable[[np.ndarray], np.ndarray] | None = None,
                 vocab: np.ndarray | None = None, threshold_m: float = ASR_THRESHOLD_M,
                 workers: int = 1) -> None:
        self.spec, self.model, self.norm = spec, model, normalizer
        self.workers = workers  # processes per inversion (`core.attacks.shards`), same results
        self.window, self.iters, self.threshold = window, iters, threshold_m
        self.mapper, self.vocab = mapper, vocab  # vocab: (C, 2) normalised, classification head
        self.gen = torch.Generator().manual_seed(seed)
        self.steps = StepCache()  # the matching step, traced once per run (core.attacks.compiled)
        self.calib = Calibrator(n_clients, n_points, spec.calibrate)
        self.known = np.full((n_clients, n_points, 2), np.nan)   # analytic targets (chain)
        # client -> (round, window starts (B,), reconstruction (B, W+1, 2), residual) of its last
        # inversion (ST-GIA's initialisation, Eq. 6)
        self.prev: dict[int, tuple[int, np.ndarray, np.ndarray, float]] = {}
        self.done = np.zeros(n_clients, dtype=np.int64)           # 1 + last window start inverted
        self.labels = np.full((n_clients, n_points), -1, dtype=np.int64)  # analytic classes (−1: none)
        self.records: dict[int, list[RoundRecord]] = {}           # kept (residual) records (retro)
        # embedding models: the analytic attack reads the embedding rows (core.attacks.embedding)
        self.rows = RowAttack(model, window, n_clients, n_points) \
            if spec.closed_form and is_embedding(model) else None
        bb = normalizer.bbox
        k = np.pi * EARTH_RADIUS_M / 180
        m_per_unit = torch.tensor([(bb.lat_max - bb.lat_min) * k,
                                   (bb.lon_max - bb.lon_min) * k * np.cos(np.radians(bb.center[0]))])
        self._m2_per_unit2 = m_per_unit ** 2  # metres² per normalised unit², per axis

    # ---- problem construction -------------------------------------------------------------
    def _random(self, shape: tuple[int, ...], kind: str) -> Tensor:
        g = self.gen
        if kind == "gaussian":
            return torch.randn(*shape, generator=g) * self.spec.init_scale
        if kind == "uniform":
            return torch.rand(*shape, generator=g)
        if kind == "constant":
            return torch.full(shape, 0.5)
        if kind == "geometric":  # CPL: one random point repeated along the window
            p = torch.rand(*shape[:-2], 1, shape[-1], generator=g)
            return p.expand(*shape).clone()
        raise ValueError(f"unknown init {kind!r}")

    def _labels(self, rec: RoundRecord) -> tuple[Tensor, bool, Tensor | None]:
        """Dummy labels y0, whether they are fixed (analytic), and the target's normalised location.

        Analytic labels need a single window (B = 1); otherwise they are optimised jointly."""
        K, B = len(rec.clients), len(rec.starts)
        if self.spec.label == "analytic" and B == 1:
            if self.model.head == "regression":
                y = regression_target(rec.params, rec.uploads)[:, None, :]
                return y, True, y
            lab = classification_label(rec.uploads)[:, None]
            return lab, True, self._vocab_t()[lab]
        c = self.model.n_out
        return torch.randn(K, B, c, generator=self.gen), False, None

    def _slot_guess(self, uploads: dict[str, Tensor], shape: tuple[int, int, int]) -> Tensor | None:
        """Time slots (K, B, W) for the coordinate-optimising attacks' dummies on an embedding
        model (None for the LSTM/GRU): these attacks invert coordinates only, so every position
        gets the slot whose embedding row is largest in the upload (`embedding.dominant_slots`);
        the row attack (`st-gia+`) recovers each point's slot instead."""
        if not is_embedding(self.model):
            return None
        return dominant_slots(uploads["slot_emb"], shape)

    def _vocab_t(self) -> Tensor:
        if self.vocab is None:
            raise ValueError("the classification head needs the vocabulary (vocab=...)")
        return torch.as_tensor(self.vocab, dtype=torch.float32)

    def _x0(self, rec: RoundRecord, y_loc: Tensor | None) -> Tensor:
        K, B, W = len(rec.clients), len(rec.starts), self.window
        kind = "uniform" if self.spec.init == "target" else self.spec.init
        x0 = self._random((K, B, W, 2), kind)
        if y_loc is not None and self.spec.init == "target":
            x0 = y_loc[:, :, None, :].expand(K, B, W, 2).clone()
        if self.spec.previous:  # ST-GIA (Eq. 6): the previous round's reconstruction
            starts = rec.starts.tolist()
            for row, c in enumerate(rec.clients.tolist()):
                prev = self.prev.get(c)
                if prev is None or prev[0] != rec.round - 1 or not self._trusted(prev[3]):
                    continue
                pos = {int(s): j for j, s in enumerate(prev[1].tolist())}
                for j, s in enumerate(starts):
                    if s - 1 in pos:   # slid by one point (streaming: every window)
                        x0[row, j] = torch.as_tensor(prev[2][pos[s - 1], 1:], dtype=torch.float32)
                    elif s in pos:     # history: the same window, reconstructed last round
                        x0[row, j] = torch.as_tensor(prev[2][pos[s], :W], dtype=torch.float32)
        return x0

    def _trusted(self, residual: float) -> bool:
        """Whether a previous reconstruction is good enough to start from (`init_gate`)."""
        return self.spec.init_gate is None or residual <= self.spec.init_gate

    def _known(self, rec: RoundRecord, idx: np.ndarray, x0: Tensor) -> Tensor:
        K, B, W = len(rec.clients), len(rec.starts), self.window
        mask = torch.zeros(K, B, W, dtype=torch.bool)
        if not self.spec.chain:
            return mask
        kn = self.known[rec.clients][:, idx[:, :W]]                  # (K, B, W, 2)
        has = ~np.isnan(kn[..., 0])
        mask = torch.as_tensor(has)
        x0[mask] = torch.as_tensor(kn[has], dtype=torch.float32)
        return mask

    def _hits(self, diff: Tensor) -> Tensor:
        """Whether normalised differences (..., 2) lie within the threshold, in the bbox's local
        metric scale (the AIT monitor's and the online scoring's one formula; the reported errors
        use haversine). Squared distances against the squared threshold: it runs every iteration."""
        return (diff * diff * self._m2_per_unit2.to(diff.dtype)).sum(-1) < self.threshold ** 2

    # ---- one round ------------------------------------------------------------------------
    def attack_round(self, rec: RoundRecord) -> RoundAttack:
        """Attack one round's uploads and score every distinct point they contain; with `retro`,
        then revisit kept rounds (see `_retro`)."""
        t0 = time.perf_counter()
        idx = window_points(rec.starts, self.window)                 # (B, W+1)
        if self.rows is not None:
            pts, raw, first = self._attack_rows(rec, idx)
        elif self.spec.subtract_known:
            pts, raw, first = self._attack_subtracting(rec)
        else:
            pts, raw, first = self._invert_record(rec)
        ra = self._score(rec, idx, pts, raw, first, time.perf_counter() - t0)
        if self.rows is not None and "slot_accuracy" in self.rows.leak[-1]:
            ra = replace(ra, slot_accuracy=self.rows.leak[-1]["slot_accuracy"])
        if self.spec.retro and self.window > 1:
            self.records.pop(rec.round - self.window, None)
            self._retro(rec.round)
        return ra

    def _attack_rows(self, rec: RoundRecord, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Embedding models (`core.attacks.embedding`): points read off the upload with no
        iterations; each point is calibrated once, when it is found (Eq. 9 over one recovery)."""
        pts, z, new = self.rows.attack(rec)
        patterns, group = np.unique(new, axis=0, return_inverse=True)
        for g, mask in enumerate(patterns):
            rows = np.flatnonzero(group.ravel() == g)
            if mask.any():
                self.calib.add(rec.clients[rows], pts[mask], z[rows][:, mask])
        hit = self._hits(torch.as_tensor(z - self._truth_norm(rec, idx))).numpy()
        return pts, z, np.where(hit, 0, -1)

    def _invert_record(self, rec: RoundRecord) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Invert every window of `rec` in one batched optimisation, remember what later rounds
        reuse, and calibrate (one recovery per point and upload). Returns the points (P,), their
        reconstruction (K, P, 2) normalised and first hits (K, P)."""
        idx = window_points(rec.starts, self.window)
        sol = self._solve(rec, idx)
        self._learn(rec, idx, sol)
        pts, zc, fc = collapse_points(idx, sol.z, sol.first)
        self.calib.add(rec.clients, pts, zc, sol.residual)
        if self.spec.retro and self.window > 1:
            self.records.setdefault(rec.round, []).append(rec)
        return pts, zc, fc

    def _attack_subtracting(self, rec: RoundRecord) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Subtract the kept windows' gradients and invert what remains (module docstring).

        Windows with start < `done[c]` are kept; the others (the newest one when the client
        took part in the previous round) are unknown. Clients are grouped by their number of
        unknown windows u — one group, hence one optimisation, when every client takes part in
        every round. Returns the round's points (P,), reconstruction (K, P, 2), first hits (K, P).
        """
        idx = window_points(rec.starts, self.window)
        pts = np.unique(idx)
        K, B = len(rec.clients), len(rec.starts)
        n_unknown = (rec.starts[None, :] >= self.done[rec.clients][:, None]).sum(1)   # (K,)
        inverted: list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = []
        for u in np.unique(n_unknown).tolist():
            if u == 0:   # nothing new in this upload (the record was attacked already)
                continue
            rows = np.flatnonzero(n_unknown == u)
            sub = rec if u == B and len(rows) == K else self._residual_record(rec, rows, u)
            p_u, z_u, f_u = self._invert_record(sub)
            inverted.append((rows, p_u, z_u, f_u))
        # points not re-inverted this round keep the attacker's estimate; "found" at iteration 0
        raw = self._estimate(rec.clients, pts)
        truth = self._truth_norm(rec, idx)
        first = np.where(self._hits(torch.as_tensor(raw - truth)).numpy(), 0, -1)
        col = {int(p): j for j, p in enumerate(pts.tolist())}
        for rows, p_u, z_u, f_u in inverted:
            cols = np.array([col[int(p)] for p in p_u])
            raw[rows[:, None], cols[None, :]] = z_u
            first[rows[:, None], cols[None, :]] = f_u
        return pts, raw, first

    def _residual_record(self, rec: RoundRecord, rows: np.ndarray, u: int) -> RoundRecord:
        """The record of the last u windows alone for clients `rows`: uploads in gradient units
        of their mean loss, (B_t·g − Σ_kept ∇L_j(reconstruction)) / u, with the kept windows'
        gradients computed at the current global params, batched over clients."""
        B, W = len(rec.starts), self.window
        clients = rec.clients[rows]
        uploads = {n: v[rows] for n, v in rec.uploads.items()}
        if u < B:
            kept = window_points(rec.starts[:B - u], W)              # (B−u, W+1)
            est = self._estimate(clients, kept.ravel()).reshape(len(rows), B - u, W + 1, 2)
            est_t = torch.as_tensor(est, dtype=torch.float32)
            x_old, y_old = est_t[:, :, :W], est_t[:, :, W]           # (k, B−u, W, 2), (k, B−u, 2)
            target = y_old if self.model.head == "regression" else \
                self._kept_labels(clients, kept[:, -1], y_old)
            g_old = per_client_grads(rec.params, x_old, target, self.model,   # mean over B−u
                                     slots=self._slot_guess(uploads, (len(rows), B - u, W)))
            uploads = {n: ((B * v - (B - u) * g_old[n]) / u).detach() for n, v in uploads.items()}
        slots_true = None if rec.slots_true is None else rec.slots_true[rows][:, B - u:]
        return replace(rec, clients=clients, starts=rec.starts[B - u:], uploads=uploads,
                       x_true=rec.x_true[rows][:, B - u:], y_true=rec.y_true[rows][:, B - u:],
                       slots_true=slots_true)

    def _kept_labels(self, clients: np.ndarray, targets: np.ndarray, y_loc: Tensor) -> Tensor:
        """(k, n) class indices of kept windows' targets: the analytic label where one was
        recovered (exact even when two venues nearly coincide), else the nearest class to the
        estimated location y_loc (k, n, 2) (exact distances, not cdist's matmul shortcut)."""
        lab = self.labels[clients][:, targets]                       # (k, n)
        if (lab < 0).any():
            d = torch.cdist(y_loc.reshape(-1, 2).double(), self._vocab_t().double(),
                            compute_mode="donot_use_mm_for_euclid_dist")
            nearest = d.argmin(1).view(lab.shape).numpy()
            lab = np.where(lab < 0, nearest, lab)
        return torch.as_tensor(lab)

    def _solve(self, rec: RoundRecord, idx: np.ndarray) -> Solution:
        """Run the engine on one record (best restart per client)."""
        K, B, W, R = len(rec.clients), len(rec.starts), self.window, self.spec.restarts
        y0, y_fixed, y_loc = self._labels(rec)
        if self.spec.closed_form and W == 1 and B == 1 and y_fixed:
            return self._closed_form(rec, y0, y_loc)
        x0 = self._x0(rec, y_loc)
        known = self._known(rec, idx, x0)
        rep = lambda t: t.repeat_interleave(R, dim=0) if R > 1 else t  # noqa: E731
        x0r = rep(x0)
        if R > 1:  # restarts 1.. jitter the free points; restart 0 keeps the plain start
            jitter = torch.randn(x0r.shape, generator=self.gen) * 0.05
            jitter.view(K, R, *x0.shape[1:])[:, 0] = 0
            x0r = x0r + jitter * ~rep(known)[..., None]
        slots = self._slot_guess(rec.uploads, (K, B, W))
        prob = Problem(rec.params, {n: rep(u) for n, u in rec.uploads.items()}, x0r, rep(y0),
                       rep(known), y_fixed, None if slots is None else rep(slots))
        truth_r = rep(torch.cat([rec.x_true, rec.y_true[:, :, None]], dim=2))  # (K·R, B, W+1, 2)
        first = torch.full((K * R, B, W + 1), -1, dtype=torch.long)
        if self.workers > 1:  # shard workers record their rows' hits here (core.attacks.shards)
            first.share_memory_()
        lm = self.spec.optimizer == "lm" and y_fixed
        monitor = FirstHits(first, truth_r, self._hits, *self._label_record(y0, y_fixed, y_loc, R),
                            last=None if lm else self.iters - 1)
        if lm:
            x, y, loss = invert_lm(self.spec, self.model, prob, self.iters, self.mapper, monitor)
        else:
            x, y, loss = invert(self.spec, self.model, prob, self.iters, self.mapper, monitor,
                                workers=self.workers, steps=self.steps)
        monitor.flush()
        best = loss.view(K, R).argmin(dim=1) + torch.arange(K) * R
        z = torch.cat([x[best], self._target_loc(y, y_fixed, y_loc, R)[best][:, :, None]], dim=2)
        free = (~known).sum(-1).numpy()
        labels = y0 if y_fixed and self.model.head == "classification" else None
        res = relative_residual(rec.params, x[best], y[best], rec.uploads, self.model, slots)
        return Solution(z.numpy().astype(np.float64), first[best].numpy(), y_loc, free, labels,
                        res.numpy().astype(np.float64))

    def _closed_form(self, rec: RoundRecord, y0: Tensor, y_loc: Tensor) -> Solution:
        """A one-point window with an analytic label needs no optimisation: the point from the
        first layer's gradients, the target from the output layer's (`core.attacks.analytic`).
        Points within the radius count as found at iteration 0."""
        x = first_layer_input(rec.uploads, self.model.input_scale)           # (K, 2)
        z = torch.stack([x, y_loc[:, 0]], dim=1)[:, None]                    # (K, 1, 2, 2)
        truth = torch.cat([rec.x_true, rec.y_true[:, :, None]], dim=2)        # (K, 1, 2, 2)
        first = torch.where(self._hits(z - truth), 0, -1)
        labels = y0 if self.model.head == "classification" else None
        free = np.ones((len(rec.clients), 1), dtype=np.int64)  # its one unknown point: solved
        res = relative_residual(rec.params, x[:, None, None, :], y0, rec.uploads, self.model)
        return Solution(z.numpy().astype(np.float64), first.numpy(), y_loc, free, labels,
                        res.numpy().astype(np.float64))

    def _learn(self, rec: RoundRecord, idx: np.ndarray, sol: Solution) -> None:
        """Remember what later rounds may reuse: the previous reconstruction (ST-GIA init), the
        windows now kept and their analytic class labels (subtraction) and, for chaining
        attacks, exact analytic targets and points that were the only free point of their
        window (a W = 1-like, well-determined problem)."""
        z, y_loc, free, labels = sol.z, sol.y_loc, sol.free, sol.labels
        for row, c in enumerate(rec.clients.tolist()):
            self.prev[c] = (rec.round, rec.starts, z[row], float(sol.residual[row]))
        self.done[rec.clients] = np.maximum(self.done[rec.clients], int(rec.starts[-1]) + 1)
        if labels is not None:  # the class the client trained on, exactly (output-bias sign)
            self.labels[rec.clients[:, None], idx[:, -1][None, :]] = labels.numpy()
        if not self.spec.chain:
            return
        if y_loc is not None:  # analytic targets are exact
            self.known[rec.clients[:, None], idx[:, -1][None, :]] = y_loc.numpy()
        for row, b in zip(*np.nonzero(free == 1)):
            c = rec.clients[row]
            unknown = [j for j in range(self.window) if np.isnan(self.known[c, idx[b, j], 0])]
            if len(unknown) == 1:
                self.known[c, idx[b, unknown[0]]] = z[row, b, unknown[0]]

    def _retro(self, round_t: int) -> None:
        """Re-attack kept earlier rounds whose windows now have fewer unknown points, newest
        first, so a point solved alone in round t helps solve round t−1's remaining one, etc."""
        for r in range(round_t - 1, max(0, round_t - self.window), -1):
            for rec in self.records.get(r, []):
                idx = window_points(rec.starts, self.window)
                kn = self.known[rec.clients][:, idx[:, :self.window], 0]
                if not np.isnan(kn).any():
                    continue
                sol = self._solve(rec, idx)
                pts, zc, _ = collapse_points(idx, sol.z)
                self.calib.add(rec.clients, pts, zc, sol.residual)
                self._learn(rec, idx, sol)

    def _estimate(self, clients: np.ndarray, point_idx: np.ndarray) -> np.ndarray:
        """(K, P, 2) normalised: the attacker's best estimate now — exact/solved points where
        known (chaining attacks), else the calibrated mean (or the latest recovery without
        calibration)."""
        est = self.calib.estimate(clients, point_idx) if self.spec.calibration else \
            self.calib.latest[clients][:, point_idx]
        if self.spec.chain:
            kn = self.known[clients][:, point_idx]
            has = ~np.isnan(kn[..., 0])
            est[has] = kn[has]
        return est

    def final_estimate(self, clients: np.ndarray, point_idx: np.ndarray) -> np.ndarray:
        """(K, P, 2) lat/lon: the attacker's best estimate now (see `_estimate`)."""
        return self.norm.denormalize(self._estimate(clients, point_idx))

    def _label_record(self, y0: Tensor, y_fixed: bool, y_loc: Tensor | None, R: int) -> tuple[
            Callable[[Tensor], Tensor] | None, Callable[[Tensor | None, slice], Tensor]]:
        """For the AIT monitor (`FirstHits`): what to keep of the dummy label per iteration and
        how to turn kept labels into target locations (the label's class location, the
        regression value, or the fixed analytic target)."""
        if y_fixed:
            fixed = self._target_loc(y0, True, y_loc, R)
            return None, lambda _, rows: fixed[rows]
        if self.model.head == "regression":
            return (lambda y: y), (lambda kept, rows: kept)
        vocab = self._vocab_t()
        return (lambda y: y.argmax(-1)), (lambda kept, rows: vocab[kept])

    def _target_loc(self, y: Tensor, y_fixed: bool, y_loc: Tensor | None, R: int) -> Tensor:
        """Normalised location of the dummy target (regression value, or the label's location)."""
        if y_fixed:
            return y_loc.repeat_interleave(R, dim=0) if R > 1 else y_loc
        if self.model.head == "regression":
            return y
        return self._vocab_t()[y.argmax(-1)]

    def _truth_norm(self, rec: RoundRecord, idx: np.ndarray) -> np.ndarray:
        """(K, P, 2) normalised true location of each distinct point (evaluation only)."""
        K = len(rec.clients)
        _, first_at = np.unique(idx.ravel(), return_index=True)
        truth = torch.cat([rec.x_true, rec.y_true[:, :, None]], dim=2).numpy().reshape(K, -1, 2)
        return truth[:, first_at].astype(np.float64)

    def _score(self, rec: RoundRecord, idx: np.ndarray, pts: np.ndarray, raw: np.ndarray,
               first: np.ndarray, seconds: float) -> RoundAttack:
        """Score each distinct point of the upload with the attacker's current estimate."""
        est_ll = self.final_estimate(rec.clients, pts)
        true_ll = self.norm.denormalize(self._truth_norm(rec, idx))
        err = errors_m(est_ll, true_ll)
        ait = ait_summary(first, self.iters)
        return RoundAttack(rec.round, rec.clients, pts, true_ll, self.norm.denormalize(raw),
                           est_ll, err, first, asr(err, self.threshold),
                           ait["ait"], ait["ait_success"], float(np.median(err)), seconds)
