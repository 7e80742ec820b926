"""A curious server's attack over a whole run: state across rounds around the one engine.

Per round it builds the inversion problem (initialisation — random, or ST-GIA's previous-round
reconstruction slid by one point, paper Eq. 6 —, labels, chained known points, restarts), runs
`engine.invert`, keeps the best restart per client, calibrates (Eq. 9) and scores the round
(ASR, AIT, error). Ground truth is used for scoring and the AIT monitor only, never to attack.
"""
from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from core.attacks.analytic import classification_label, regression_target
from core.attacks.calibration import Calibrator
from core.attacks.engine import Problem, invert
from core.attacks.spec import AttackSpec
from core.data.preprocess import Normalizer
from core.federated.clients import window_points
from core.federated.rounds import RoundRecord
from core.geo.distance import EARTH_RADIUS_M
from core.metrics.attack import ASR_THRESHOLD_M, ait_summary, asr, errors_m
from core.models.recurrent import ModelSpec


@dataclass(frozen=True)
class RoundAttack:
    """One round's outcome. Arrays are per attacked client (K) and per point P = B·(W+1)
    (the B windows' points, then targets, in `point_idx` order)."""

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


class AttackSession:
    """Attacks every round of one federated run with one attack recipe."""

    def __init__(self, spec: AttackSpec, model: ModelSpec, normalizer: Normalizer, n_clients: int,
                 n_points: int, window: int, batch: int, iters: int, seed: int,
                 mapper=None, vocab: np.ndarray | None = None,
                 threshold_m: float = ASR_THRESHOLD_M) -> None:
        self.spec, self.model, self.norm = spec, model, normalizer
        self.window, self.batch, self.iters, self.threshold = window, batch, iters, threshold_m
        self.mapper, self.vocab = mapper, vocab  # vocab: (C, 2) normalised, classification head
        self.gen = torch.Generator().manual_seed(seed)
        self.calib = Calibrator(n_clients, n_points)
        self.known = np.full((n_clients, n_points, 2), np.nan)   # analytic targets (chain)
        self.prev: dict[int, tuple[int, np.ndarray]] = {}        # client -> (round, (B, W+1, 2))
        self.records: dict[int, RoundRecord] = {}                # kept rounds (retro)
        bb = normalizer.bbox
        k = np.pi * EARTH_RADIUS_M / 180
        self._m_per_unit = torch.tensor([(bb.lat_max - bb.lat_min) * k,
                                         (bb.lon_max - bb.lon_min) * k * np.cos(np.radians(bb.center[0]))])

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
        """Dummy labels y0, whether they are fixed (analytic), and the target's normalised location."""
        K, B = len(rec.clients), self.batch
        if self.spec.label == "analytic" and B == 1:
            if self.model.head == "regression":
                y = regression_target(rec.params, rec.uploads)[:, None, :]
                return y, True, y
            lab = classification_label(rec.uploads)[:, None]
            return lab, True, torch.as_tensor(self.vocab, dtype=torch.float32)[lab]
        c = self.model.n_out
        return torch.randn(K, B, c, generator=self.gen), False, None

    def _x0(self, rec: RoundRecord, y_loc: Tensor | None) -> Tensor:
        K, B, W = len(rec.clients), self.batch, self.window
        kind = "uniform" if self.spec.init == "target" else self.spec.init
        x0 = self._random((K, B, W, 2), kind)
        if y_loc is not None and self.spec.init == "target":
            x0 = y_loc[:, :, None, :].expand(K, B, W, 2).clone()
        if self.spec.previous:  # ST-GIA: previous reconstruction slid by one point (Eq. 6)
            for row, c in enumerate(rec.clients.tolist()):
                if c in self.prev and self.prev[c][0] == rec.round - 1:
                    x0[row] = torch.as_tensor(self.prev[c][1][:, 1:], dtype=torch.float32)
        return x0

    def _known(self, rec: RoundRecord, idx: np.ndarray, x0: Tensor) -> Tensor:
        K, B, W = len(rec.clients), self.batch, self.window
        mask = torch.zeros(K, B, W, dtype=torch.bool)
        if not self.spec.chain:
            return mask
        kn = self.known[rec.clients][:, idx[:, :W]]                  # (K, B, W, 2)
        has = ~np.isnan(kn[..., 0])
        mask = torch.as_tensor(has)
        x0[mask] = torch.as_tensor(kn[has], dtype=torch.float32)
        return mask

    # ---- one round ------------------------------------------------------------------------
    def attack_round(self, rec: RoundRecord) -> RoundAttack:
        """Attack one round's uploads; with `retro`, then revisit kept rounds (see `_retro`)."""
        t0 = time.perf_counter()
        idx = window_points(rec.round, self.window, self.batch)
        z, first, y_loc, free = self._solve(rec, idx)
        self._learn(rec, idx, z, y_loc, free)
        ra = self._score(rec, idx, z, first, time.perf_counter() - t0)
        if self.spec.retro and self.window > 1:
            self.records[rec.round] = rec
            self.records.pop(rec.round - self.window, None)
            self._retro(rec.round)
        return ra

    def _solve(self, rec: RoundRecord, idx: np.ndarray):
        """Run the engine on one record: (z (K, B, W+1, 2) normalised, first hits, y_loc,
        free window points per window (K, B))."""
        K, B, W, R = len(rec.clients), self.batch, self.window, self.spec.restarts
        y0, y_fixed, y_loc = self._labels(rec)
        x0 = self._x0(rec, y_loc)
        known = self._known(rec, idx, x0)
        rep = lambda t: t.repeat_interleave(R, dim=0) if R > 1 else t  # noqa: E731
        x0r = rep(x0)
        if R > 1:  # restarts 1.. jitter the free points; restart 0 keeps the plain start
            jitter = torch.randn(x0r.shape, generator=self.gen) * 0.05
            jitter.view(K, R, *x0.shape[1:])[:, 0] = 0
            x0r = x0r + jitter * ~rep(known)[..., None]
        prob = Problem(rec.params, {n: rep(u) for n, u in rec.uploads.items()}, x0r, rep(y0),
                       rep(known), y_fixed)
        truth_r = rep(torch.cat([rec.x_true, rec.y_true[:, :, None]], dim=2))  # (K·R, B, W+1, 2)
        first = torch.full((K * R, B, W + 1), -1, dtype=torch.long)

        def monitor(i: int, x: Tensor, y: Tensor) -> None:
            z = torch.cat([x, self._target_loc(y, y_fixed, y_loc, R)[:, :, None]], dim=2)
            err = (((z - truth_r) * self._m_per_unit).pow(2).sum(-1)).sqrt()
            first[(first < 0) & (err < self.threshold)] = i + 1

        x, y, loss = invert(self.spec, self.model, prob, self.iters, self.mapper, monitor)
        best = loss.view(K, R).argmin(dim=1) + torch.arange(K) * R
        z = torch.cat([x[best], self._target_loc(y, y_fixed, y_loc, R)[best][:, :, None]], dim=2)
        free = (~known).sum(-1).numpy()
        return z.numpy().astype(np.float64), first[best].numpy(), y_loc, free

    def _learn(self, rec: RoundRecord, idx: np.ndarray, z: np.ndarray, y_loc: Tensor | None,
               free: np.ndarray) -> None:
        """Remember what later rounds may reuse: the previous reconstruction (ST-GIA init) and,
        for chaining attacks, exact analytic targets and points that were the only free point
        of their window (a W = 1-like, well-determined problem)."""
        for row, c in enumerate(rec.clients.tolist()):
            self.prev[c] = (rec.round, z[row])
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
            rec = self.records.get(r)
            if rec is None:
                continue
            idx = window_points(r, self.window, self.batch)
            kn = self.known[rec.clients][:, idx[:, :self.window], 0]
            if not np.isnan(kn).any():
                continue
            z, _, y_loc, free = self._solve(rec, idx)
            self.calib.add(rec.clients, idx.reshape(-1), z.reshape(len(rec.clients), -1, 2))
            self._learn(rec, idx, z, y_loc, free)

    def final_estimate(self, clients: np.ndarray, point_idx: np.ndarray) -> np.ndarray:
        """(K, P, 2) lat/lon: the attacker's best estimate now — exact/solved points where known
        (chaining attacks), else the calibrated mean (or the latest recovery without calibration)."""
        est = self.calib.estimate(clients, point_idx) if self.spec.calibration else \
            self.calib.latest[clients][:, point_idx]
        if self.spec.chain:
            kn = self.known[clients][:, point_idx]
            has = ~np.isnan(kn[..., 0])
            est[has] = kn[has]
        return self.norm.denormalize(est)

    def _target_loc(self, y: Tensor, y_fixed: bool, y_loc: Tensor | None, R: int) -> Tensor:
        """Normalised location of the dummy target (regression value, or the label's location)."""
        if y_fixed:
            return y_loc.repeat_interleave(R, dim=0) if R > 1 else y_loc
        if self.model.head == "regression":
            return y
        return torch.as_tensor(self.vocab, dtype=torch.float32)[y.argmax(-1)]

    def _score(self, rec: RoundRecord, idx: np.ndarray, z: np.ndarray, first: np.ndarray,
               seconds: float) -> RoundAttack:
        K = len(rec.clients)
        flat_idx = idx.reshape(-1)
        zf = z.reshape(K, -1, 2)
        self.calib.add(rec.clients, flat_idx, zf)
        est_ll = self.final_estimate(rec.clients, flat_idx)
        truth = torch.cat([rec.x_true, rec.y_true[:, :, None]], dim=2).numpy().reshape(K, -1, 2)
        true_ll = self.norm.denormalize(truth.astype(np.float64))
        err = errors_m(est_ll, true_ll)
        ait = ait_summary(first.reshape(K, -1), self.iters)
        return RoundAttack(rec.round, rec.clients, flat_idx, true_ll, self.norm.denormalize(zf),
                           est_ll, err, first.reshape(K, -1), asr(err, self.threshold),
                           ait["ait"], ait["ait_success"], float(np.median(err)), seconds)
