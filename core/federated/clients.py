"""Clients' training windows (DESIGN.md §2).

A window with start s is the points [s, s+W) with target point s+W. Which windows a client
trains on in round t (1-based) is the training protocol, public like the architecture:

- `streaming` (the paper's): windows j < B start at s = t−1+j; the window slides by one point
  per round, so each point is seen in several rounds.
- `history` (what deployed next-location FL does): all the client's windows so far, starts
  0..t−1, or the last H of them when H > 0.

`round_starts` is the one place this is decided; `window_points` turns starts into trajectory
indices. Rounds, attacks and reports all derive window indices from these two functions.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
import torch

from core.data.preprocess import Normalizer
from core.data.timeslots import standard_offset_s, time_slots
from core.data.trajectory import Trajectory
from core.errors import ParameterError

PROTOCOLS = ("streaming", "history")


def round_starts(round_t: int, protocol: str = "streaming", batch: int = 1,
                 history: int = 0) -> np.ndarray:
    """(B_t,) ascending window starts a client trains on in round t (1-based).

    streaming: t−1+j for j < `batch`. history: 0..t−1, or the last `history` of them when
    `history` > 0 (`batch` does not apply). Every client of a round shares them.
    """
    if round_t < 1:
        raise ParameterError("round", round_t, ">= 1")
    if protocol == "streaming":
        return round_t - 1 + np.arange(batch)
    if protocol == "history":
        first = max(0, round_t - history) if history > 0 else 0
        return np.arange(first, round_t)
    raise ParameterError("protocol", protocol, f"one of {', '.join(PROTOCOLS)}")


def window_points(starts: np.ndarray, window: int) -> np.ndarray:
    """(B, W+1) trajectory indices of the windows starting at `starts` (B,): window points,
    then the target."""
    return np.asarray(starts)[:, None] + np.arange(window + 1)[None, :]


@dataclass(frozen=True)
class ClientPopulation:
    """Selected users' trajectories, in lat/lon and normalised coordinates.

    `points[k]` is client k's (n_k, 2) normalised [lat, lon]; `latlon[k]` the same in degrees;
    `times[k]` its (n_k,) UTC seconds, from which `window_slots` derives DeepMove's time slots.
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

    def windows(self, clients: np.ndarray, starts: np.ndarray,
                window: int) -> tuple[torch.Tensor, torch.Tensor]:
        """x (K, B, W, 2) and y (K, B, 2), float32 normalised: the windows starting at `starts`
        (B,) of the given client indices."""
        idx = window_points(starts, window)                      # (B, W+1)
        seq = np.stack([self.points[k][idx] for k in clients])  # (K, B, W+1, 2)
        t = torch.as_tensor(seq, dtype=torch.float32)
        return t[:, :, :window], t[:, :, window]

    @cached_property
    def _slots(self) -> tuple[np.ndarray, ...]:
        """Every client's point slots, computed once (the round loop reads them every round)."""
        offset = standard_offset_s(self.normalizer.bbox.center[1])
        return tuple(time_slots(t, offset) for t in self.times)

    def point_slots(self, k: int) -> np.ndarray:
        """(n_k,) int64 time slot (`core.data.timeslots`) of each of client k's points. The UTC
        offset is the standard one at the dataset bbox's central longitude (one per dataset)."""
        return self._slots[k]

    def window_slots(self, clients: np.ndarray, starts: np.ndarray, window: int) -> torch.Tensor:
        """(K, B, W) int64 time slots of the window points of `windows(clients, starts,
        window)`, parallel to its x."""
        idx = window_points(starts, window)[:, :window]           # (B, W)
        return torch.as_tensor(np.stack([self.point_slots(int(k))[idx] for k in clients]))

    def round_batch(self, clients: np.ndarray, round_t: int, window: int, batch: int = 1,
                    protocol: str = "streaming", history: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
        """Round t's training windows under `protocol` (see `round_starts`): x (K, B_t, W, 2),
        y (K, B_t, 2)."""
        return self.windows(clients, round_starts(round_t, protocol, batch, history), window)

    def heldout_clients(self, first_point: int, window: int, per_client: int) -> np.ndarray:
        """(N,) client index of each row of `heldout_windows` (same arguments, same order)."""
        counts = [max(0, min(len(p) - window, first_point + per_client) - first_point)
                  for p in self.points]
        return np.repeat(np.arange(self.n_clients), counts)

    def heldout_windows(self, first_point: int, window: int, per_client: int) -> tuple[np.ndarray, np.ndarray]:
        """Windows after the training range, for utility: x (N, W, 2) normalised, target (N, 2) lat/lon.

        `first_point` is the first start after training (`FedConfig.heldout_start`)."""
        xs, ys = [], []
        for pts, ll in zip(self.points, self.latlon):
            for s in range(first_point, min(len(pts) - window, first_point + per_client)):
                xs.append(pts[s:s + window])
                ys.append(ll[s + window])
        if not xs:
            return np.zeros((0, window, 2)), np.zeros((0, 2))
        return np.stack(xs), np.stack(ys)
