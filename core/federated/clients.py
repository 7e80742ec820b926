"""Clients' training windows (DESIGN.md §2).

Round t (1-based), window j < B of client k: points [s, s+W) with s = t-1+j, target point s+W.
The window slides by one point per round, so each point is seen in several rounds.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from core.data.preprocess import Normalizer
from core.data.trajectory import Trajectory


def window_points(round_t: int, window: int, batch: int) -> np.ndarray:
    """(B, W+1) trajectory indices of round t's windows: window points, then the target."""
    starts = round_t - 1 + np.arange(batch)
    return starts[:, None] + np.arange(window + 1)[None, :]


@dataclass(frozen=True)
class ClientPopulation:
    """Selected users' trajectories, in lat/lon and normalised coordinates.

    `points[k]` is client k's (n_k, 2) normalised [lat, lon]; `latlon[k]` the same in degrees.
    """

    user_ids: tuple[str, ...]
    latlon: tuple[np.ndarray, ...]
    points: tuple[np.ndarray, ...]
    times: tuple[np.ndarray, ...]
    normalizer: Normalizer

    @staticmethod
    def from_trajectories(trs: list[Trajectory], normalizer: Normalizer) -> "ClientPopulation":
        ll = tuple(tr.latlon() for tr in trs)
        return ClientPopulation(tuple(tr.user_id for tr in trs), ll,
                                tuple(normalizer.normalize(a) for a in ll),
                                tuple(tr.t for tr in trs), normalizer)

    @property
    def n_clients(self) -> int:
        return len(self.user_ids)

    def round_batch(self, clients: np.ndarray, round_t: int, window: int,
                    batch: int) -> tuple[torch.Tensor, torch.Tensor]:
        """x (K, B, W, 2) and y (K, B, 2), float32 normalised, for the given client indices."""
        idx = window_points(round_t, window, batch)
        seq = np.stack([self.points[k][idx] for k in clients])  # (K, B, W+1, 2)
        t = torch.as_tensor(seq, dtype=torch.float32)
        return t[:, :, :window], t[:, :, window]

    def heldout_windows(self, first_point: int, window: int, per_client: int) -> tuple[np.ndarray, np.ndarray]:
        """Windows after the training range, for utility: x (N, W, 2) normalised, target (N, 2) lat/lon."""
        xs, ys = [], []
        for pts, ll in zip(self.points, self.latlon):
            for s in range(first_point, min(len(pts) - window, first_point + per_client)):
                xs.append(pts[s:s + window])
                ys.append(ll[s + window])
        if not xs:
            return np.zeros((0, window, 2)), np.zeros((0, 2))
        return np.stack(xs), np.stack(ys)
