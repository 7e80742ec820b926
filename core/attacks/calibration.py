"""Calibration from multiple recoveries (paper §3.3, Eq. 9).

A true point is reconstructed once per upload that contains it (as a window point or as the
target); its estimate is the mean of its reconstructions so far — over the t rounds that saw it
while t < |T_s|, then over all |T_s| of them.
"""
from __future__ import annotations

import numpy as np


class Calibrator:
    """Running sums of reconstructions per (client, trajectory point)."""

    def __init__(self, n_clients: int, n_points: int) -> None:
        self.sum = np.zeros((n_clients, n_points, 2))
        self.count = np.zeros((n_clients, n_points), dtype=np.int64)
        self.latest = np.full((n_clients, n_points, 2), np.nan)

    def add(self, clients: np.ndarray, point_idx: np.ndarray, z: np.ndarray) -> None:
        """Record reconstructions z (K, P, 2) of points point_idx (P,) of each client."""
        for k, zk in zip(clients, z):  # per client; np.add.at handles repeated indices
            np.add.at(self.sum[k], point_idx, zk)
            np.add.at(self.count[k], point_idx, 1)
            self.latest[k, point_idx] = zk

    def estimate(self, clients: np.ndarray, point_idx: np.ndarray) -> np.ndarray:
        """(K, P, 2) mean of all recoveries of each point so far."""
        s = self.sum[clients][:, point_idx]
        c = self.count[clients][:, point_idx][..., None]
        return s / np.maximum(c, 1)
