"""Haversine and the local metric projection (core.geo.distance)."""
from __future__ import annotations

import numpy as np
import pytest

from core.geo.distance import EARTH_RADIUS_M, LocalProjection, haversine


def test_jfk_lax_great_circle():
    # JFK (40.6413, -73.7781) to LAX (33.9416, -118.4085): ~3,983 km great circle
    d = haversine(40.6413, -73.7781, 33.9416, -118.4085)
    assert d == pytest.approx(3_983_000, rel=0.005)


def test_one_degree_of_latitude():
    assert haversine(0.0, 0.0, 1.0, 0.0) == pytest.approx(111_195, rel=1e-3)
    assert haversine(40.0, -74.0, 41.0, -74.0) == pytest.approx(np.pi * EARTH_RADIUS_M / 180, rel=1e-12)


def test_zero_distance_and_symmetry():
    assert haversine(40.75, -73.99, 40.75, -73.99) == 0.0
    a = haversine(40.7, -74.0, 40.8, -73.9)
    assert haversine(40.8, -73.9, 40.7, -74.0) == pytest.approx(a, rel=1e-15)


def test_antipodal_is_half_circumference_not_nan():
    assert haversine(0.0, 0.0, 0.0, 180.0) == pytest.approx(np.pi * EARTH_RADIUS_M, rel=1e-12)


def test_broadcasting():
    lat = np.array([[40.7], [40.8]])          # (2, 1)
    lon = np.array([-74.0, -73.9, -73.8])     # (3,)
    d = haversine(lat, lon, 40.75, -73.95)
    assert d.shape == (2, 3)
    for i in range(2):
        for j in range(3):
            assert d[i, j] == pytest.approx(haversine(lat[i, 0], lon[j], 40.75, -73.95), rel=1e-12)


def test_projection_round_trip_exact():
    rng = np.random.default_rng(0)
    proj = LocalProjection(40.78, -73.97)
    lat = rng.uniform(40.6, 40.9, 1000)
    lon = rng.uniform(-74.1, -73.8, 1000)
    lat2, lon2 = proj.to_latlon(*proj.to_xy(lat, lon))
    assert np.max(np.abs(lat2 - lat)) < 1e-9
    assert np.max(np.abs(lon2 - lon)) < 1e-9


def test_projection_origin_is_zero():
    proj = LocalProjection(40.78, -73.97)
    x, y = proj.to_xy(40.78, -73.97)
    assert x == 0.0 and y == 0.0


@pytest.mark.parametrize("bearing_deg", [0, 30, 45, 90, 135, 180, 250, 315])
def test_projection_distance_matches_haversine_at_5km(bearing_deg):
    lat0, lon0 = 40.78, -73.97
    proj = LocalProjection(lat0, lon0)
    b = np.radians(bearing_deg)
    x, y = 5000 * np.sin(b), 5000 * np.cos(b)
    lat, lon = proj.to_latlon(x, y)
    assert haversine(lat0, lon0, lat, lon) == pytest.approx(5000.0, rel=1e-3)
    # between two points 5 km apart, both off the origin
    lat1, lon1 = proj.to_latlon(-2000.0, 1500.0)
    lat2, lon2 = proj.to_latlon(-2000.0 + x, 1500.0 + y)
    assert haversine(lat1, lon1, lat2, lon2) == pytest.approx(5000.0, rel=1e-3)
