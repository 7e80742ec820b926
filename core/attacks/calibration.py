"""Calibration from multiple recoveries (paper §3.3, Eq. 9), and a residual-aware variant.

A true point is reconstructed once per upload that contains it (as a window point or as the
target). Two rules turn its recoveries into one estimate:

- `mean` (Eq. 9): the mean of its reconstructions so far — over the t rounds that saw it while
  t < |T_s|, then over all |T_s| of them.
- `residual`: the recovery whose final gradient-matching residual was smallest (the relative
  residual ‖∇w' − ∇w‖² / ‖∇w‖² of the upload it came from, `core.attacks.residual`). A recovery
  whose dummy gradient did not match the upload is not evidence, so it cannot drag a good
  estimate away: a later recovery replaces the kept one only when it matches its upload better.
  Ties (equal residuals, e.g. two exact recoveries) are averaged.
"""
from __future__ import annotations

import numpy as np

MODES = ("mean", "residual")
# Residuals within this factor of each other count as a tie (averaged, not replaced).
TIE = 1.0 + 1e-6


class Calibrator:
    """Per (client, trajectory point): running sums for Eq. 9, the best-matching recovery, the
    latest one."""

    def __init__(self, n_clients: int, n_points: int, mode: str = "mean") -> None:
        if mode not in MODES:
            raise ValueError(f"calibration mode must be one of {MODES}, not {mode!r}")
        self.mode = mode
        self.sum = np.zeros((n_clients, n_points, 2))
        self.count = np.zeros((n_clients, n_points), dtype=np.int64)
        self.latest = np.full((n_clients, n_points, 2), np.nan)
        self.best_sum = np.zeros((n_clients, n_points, 2))
        self.best_count = np.zeros((n_clients, n_points), dtype=np.int64)
        self.best_residual = np.full((n_clients, n_points), np.inf)

    def add(self, clients: np.ndarray, point_idx: np.ndarray, z: np.ndarray,
            residual: np.ndarray | None = None) -> None:
        """Record reconstructions z (K, P, 2) of points point_idx (P,) of each client, with the
        relative matching residual (K,) of the upload each client's recoveries came from."""
        res = np.full(len(clients), np.inf) if residual is None else np.asarray(residual, float)
        for k, zk, rk in zip(clients, z, res):  # per client; np.add.at handles repeated indices
            np.add.at(self.sum[k], point_idx, zk)
            np.add.at(self.count[k], point_idx, 1)
            self.latest[k, point_idx] = zk
            self._keep_best(k, point_idx, zk, rk)

    def _keep_best(self, k: int, point_idx: np.ndarray, zk: np.ndarray, rk: float) -> None:
        """Replace the kept recovery where rk is clearly smaller, average where it ties
        (point_idx holds distinct points, as `session.collapse_points` makes them)."""
        old = self.best_residual[k, point_idx]
        new = (self.best_count[k, point_idx] == 0) | (rk * TIE < old)
        tie = ~new & (rk <= old * TIE)
        p_new, p_tie = point_idx[new], point_idx[tie]
        self.best_sum[k, p_new], self.best_count[k, p_new] = zk[new], 1
        self.best_residual[k, p_new] = rk
        self.best_sum[k, p_tie] += zk[tie]
        self.best_count[k, p_tie] += 1

    def estimate(self, clients: np.ndarray, point_idx: np.ndarray) -> np.ndarray:
        """(K, P, 2) the calibrated estimate of each point so far (the mode's rule)."""
        if self.mode == "residual":
            s, c = self.best_sum, self.best_count
        else:
            s, c = self.sum, self.count
        return s[clients][:, point_idx] / np.maximum(c[clients][:, point_idx], 1)[..., None]
