"""Preprocessing per DESIGN.md §2: duplicate removal, time thinning, seeded user selection,
min–max normalisation with an exact inverse."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from core.data.trajectory import Trajectory, TrajectoryDataset
from core.errors import InputError, check_range
from core.geo.bbox import BBox


def clean_trajectory(tr: Trajectory, min_gap_minutes: float = 10.0) -> Trajectory:
    """Sort by time, drop consecutive duplicate locations, keep points >= min_gap apart.

    Thinning is greedy from the first point: a point is kept when it is at least
    `min_gap_minutes` after the last kept point (the paper's "roughly 10-minute increments").
    """
    order = np.argsort(tr.t, kind="stable")
    t, lat, lon = tr.t[order], tr.lat[order], tr.lon[order]
    if len(t) == 0:
        return Trajectory(tr.user_id, t, lat, lon)
    same = np.zeros(len(t), dtype=bool)
    same[1:] = (lat[1:] == lat[:-1]) & (lon[1:] == lon[:-1])
    t, lat, lon = t[~same], lat[~same], lon[~same]
    gap = int(round(min_gap_minutes * 60))
    keep = np.zeros(len(t), dtype=bool)
    last = None
    for i, ti in enumerate(t.tolist()):  # sequential by nature; n is per user, small
        if last is None or ti - last >= gap:
            keep[i] = True
            last = ti
    return Trajectory(tr.user_id, t[keep], lat[keep], lon[keep])


def preprocess(ds: TrajectoryDataset, min_gap_minutes: float = 10.0) -> TrajectoryDataset:
    """Clean every trajectory; bbox and vocabulary are recomputed on what remains."""
    check_range("min_gap_minutes", min_gap_minutes, 0.0)
    trs = [clean_trajectory(tr, min_gap_minutes) for tr in ds.trajectories]
    trs = [tr for tr in trs if len(tr) > 0]
    if not trs:
        raise InputError(f"dataset {ds.name!r} has no points left after preprocessing")
    meta = dict(ds.meta, min_gap_minutes=min_gap_minutes)
    return TrajectoryDataset.build(ds.name, trs, meta)


def select_users(ds: TrajectoryDataset, n_clients: int, min_points: int,
                 rng: np.random.Generator, exclude: set[str] | None = None) -> list[Trajectory]:
    """Choose `n_clients` users with at least `min_points` points, uniformly with `rng`."""
    check_range("n_clients", n_clients, 1)
    exclude = exclude or set()
    eligible = [tr for tr in ds.trajectories if len(tr) >= min_points and tr.user_id not in exclude]
    if len(eligible) < n_clients:
        raise InputError(
            f"dataset {ds.name!r} has {len(eligible)} users with at least {min_points} points "
            f"(rounds + window + 1), fewer than the {n_clients} clients asked for; "
            f"lower clients, rounds or window")
    idx = rng.choice(len(eligible), size=n_clients, replace=False)
    return [eligible[i] for i in sorted(idx.tolist())]


@dataclass(frozen=True)
class Normalizer:
    """Min–max normalisation of [lat, lon] to [0, 1]² over the dataset bbox, with exact inverse."""

    bbox: BBox

    def _span(self) -> tuple[float, float]:
        # a degenerate bbox (all points on one line) would divide by zero
        return (max(self.bbox.lat_max - self.bbox.lat_min, 1e-9),
                max(self.bbox.lon_max - self.bbox.lon_min, 1e-9))

    def normalize(self, latlon: np.ndarray) -> np.ndarray:
        """(…, 2) [lat, lon] degrees -> (…, 2) in [0, 1] over the bbox."""
        s_lat, s_lon = self._span()
        out = np.empty_like(np.asarray(latlon, dtype=np.float64))
        out[..., 0] = (latlon[..., 0] - self.bbox.lat_min) / s_lat
        out[..., 1] = (latlon[..., 1] - self.bbox.lon_min) / s_lon
        return out

    def denormalize(self, z: np.ndarray) -> np.ndarray:
        """Exact inverse of `normalize`."""
        s_lat, s_lon = self._span()
        out = np.empty_like(np.asarray(z, dtype=np.float64))
        out[..., 0] = z[..., 0] * s_lat + self.bbox.lat_min
        out[..., 1] = z[..., 1] * s_lon + self.bbox.lon_min
        return out
