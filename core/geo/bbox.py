"""A latitude/longitude bounding box: the extent of a dataset or a road network."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class BBox:
    """A latitude/longitude bounding box in degrees; part of the shared model specification."""

    lat_min: float
    lat_max: float
    lon_min: float
    lon_max: float

    @staticmethod
    def of(lat: np.ndarray, lon: np.ndarray) -> "BBox":
        return BBox(float(np.min(lat)), float(np.max(lat)), float(np.min(lon)), float(np.max(lon)))

    def contains(self, lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
        return ((lat >= self.lat_min) & (lat <= self.lat_max)
                & (lon >= self.lon_min) & (lon <= self.lon_max))

    @property
    def center(self) -> tuple[float, float]:
        return (0.5 * (self.lat_min + self.lat_max), 0.5 * (self.lon_min + self.lon_max))
