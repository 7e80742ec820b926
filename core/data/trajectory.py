"""The trajectory dataset type (DESIGN.md §2): per user, time-sorted (t, lat, lon) arrays."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from core.geo.bbox import BBox


@dataclass(frozen=True)
class Trajectory:
    """One user's points, sorted by time. `t` is UTC seconds since the epoch (int64)."""

    user_id: str
    t: np.ndarray
    lat: np.ndarray
    lon: np.ndarray

    def __len__(self) -> int:
        return int(self.t.shape[0])

    def latlon(self) -> np.ndarray:
        """(n, 2) array of [lat, lon]."""
        return np.stack([self.lat, self.lon], axis=1)


@dataclass(frozen=True)
class TrajectoryDataset:
    """A set of user trajectories with the dataset's bbox and location vocabulary.

    `locations` is the (m, 2) array of distinct [lat, lon] points (venues) in the data.
    """

    name: str
    trajectories: tuple[Trajectory, ...]
    bbox: BBox
    locations: np.ndarray
    meta: dict = field(default_factory=dict)

    @property
    def n_users(self) -> int:
        return len(self.trajectories)

    @property
    def n_points(self) -> int:
        return int(sum(len(tr) for tr in self.trajectories))

    def time_span(self) -> tuple[int, int]:
        starts = [int(tr.t[0]) for tr in self.trajectories if len(tr)]
        ends = [int(tr.t[-1]) for tr in self.trajectories if len(tr)]
        return (min(starts), max(ends))

    @staticmethod
    def build(name: str, trajectories: list[Trajectory], meta: dict | None = None) -> "TrajectoryDataset":
        """Compute bbox and location vocabulary from the trajectories."""
        lat = np.concatenate([tr.lat for tr in trajectories])
        lon = np.concatenate([tr.lon for tr in trajectories])
        return TrajectoryDataset(name, tuple(trajectories), BBox.of(lat, lon),
                                 unique_rows(lat, lon), dict(meta or {}))


def unique_rows(lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
    """The distinct (lat, lon) pairs, sorted by lat then lon: `np.unique(..., axis=0)` by a
    lexsort (about 10× faster on the demo's 10⁵ points; start-up of every run)."""
    order = np.lexsort((lon, lat))
    pts = np.stack([lat[order], lon[order]], axis=1)
    keep = np.ones(len(pts), dtype=bool)
    keep[1:] = np.any(pts[1:] != pts[:-1], axis=1)
    return pts[keep]
