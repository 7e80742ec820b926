"""Preprocessing (DESIGN.md §2): duplicates, min-gap thinning, seeded user selection,
the Normalizer."""
from __future__ import annotations

import numpy as np
import pytest

from core.data.preprocess import Normalizer, clean_trajectory, preprocess, select_users
from core.data.trajectory import Trajectory, TrajectoryDataset
from core.errors import InputError, ParameterError
from core.geo.bbox import BBox

MIN = 60


def traj(user: str, minutes: list[float], lat: list[float], lon: list[float] | None = None):
    lon = lon if lon is not None else [-74.0 + 0.001 * i for i in range(len(lat))]
    return Trajectory(user, (np.asarray(minutes) * MIN).astype(np.int64),
                      np.asarray(lat, dtype=np.float64), np.asarray(lon, dtype=np.float64))


def test_consecutive_duplicates_dropped_others_kept():
    # A A B B A: the repeated A's collapse, the later return to A is a new visit
    tr = traj("u", [0, 20, 40, 60, 80], [1, 1, 2, 2, 1], [5, 5, 6, 6, 5])
    out = clean_trajectory(tr, min_gap_minutes=0)
    assert out.t.tolist() == [0, 40 * MIN, 80 * MIN]
    assert out.lat.tolist() == [1, 2, 1]


def test_min_gap_thinning_is_greedy_from_first_point():
    tr = traj("u", [0, 5, 9, 10, 19, 21, 30], [0, 1, 2, 3, 4, 5, 6])
    out = clean_trajectory(tr, min_gap_minutes=10)
    # 0 kept; 5, 9 too close; 10 kept (exactly 10 min); 19 too close; 21 kept; 30 too close
    assert (out.t // MIN).tolist() == [0, 10, 21]
    assert out.lat.tolist() == [0, 3, 5]
    assert len(clean_trajectory(tr, min_gap_minutes=0)) == 7


def test_clean_sorts_by_time():
    tr = traj("u", [30, 0, 10], [3, 1, 2])
    out = clean_trajectory(tr, 10)
    assert (out.t // MIN).tolist() == [0, 10, 30] and out.lat.tolist() == [1, 2, 3]


def test_preprocess_recomputes_bbox_and_rejects_negative_gap():
    ds = TrajectoryDataset.build("d", [traj("a", [0, 1], [1, 9]), traj("b", [0, 30], [2, 3])])
    out = preprocess(ds, 10)
    assert out.n_points == 3 and out.bbox.lat_max == 3
    assert out.meta["min_gap_minutes"] == 10
    with pytest.raises(ParameterError, match="min_gap_minutes"):
        preprocess(ds, -1)


def make_users(n: int, lengths: list[int] | None = None) -> TrajectoryDataset:
    lengths = lengths or [5 + i % 7 for i in range(n)]
    trs = [traj(f"u{i}", list(range(0, 10 * k, 10)), [40 + 0.01 * j for j in range(k)])
           for i, k in enumerate(lengths)]
    return TrajectoryDataset.build("users", trs)


def ids(trs):
    return [tr.user_id for tr in trs]


def test_select_users_deterministic_for_a_seed():
    ds = make_users(40)
    a = select_users(ds, 8, 7, np.random.default_rng(3))
    b = select_users(ds, 8, 7, np.random.default_rng(3))
    c = select_users(ds, 8, 7, np.random.default_rng(4))
    assert ids(a) == ids(b) and ids(a) != ids(c)
    assert all(len(tr) >= 7 for tr in a)
    assert len(set(ids(a))) == 8


def test_select_users_exclude():
    ds = make_users(10, [10] * 10)
    picked = select_users(ds, 9, 5, np.random.default_rng(0), exclude={"u3"})
    assert "u3" not in ids(picked) and len(picked) == 9


def test_select_users_too_few_names_counts():
    ds = make_users(6, [3, 3, 8, 8, 8, 3])
    with pytest.raises(InputError, match=r"has 3 users with at least 8 points.*4 clients"):
        select_users(ds, 4, 8, np.random.default_rng(0))
    with pytest.raises(ParameterError, match="n_clients"):
        select_users(ds, 0, 8, np.random.default_rng(0))


def test_normalizer_round_trip_exact():
    rng = np.random.default_rng(0)
    bbox = BBox(40.5573, 40.9876, -74.2708, -73.6920)
    latlon = np.stack([rng.uniform(bbox.lat_min, bbox.lat_max, 1000),
                       rng.uniform(bbox.lon_min, bbox.lon_max, 1000)], axis=1)
    norm = Normalizer(bbox)
    z = norm.normalize(latlon)
    assert z.min() >= 0 and z.max() <= 1
    back = norm.denormalize(z)
    # exact up to one rounding of a float64 (1e-12 degrees is about 0.1 micrometre)
    np.testing.assert_allclose(back, latlon, rtol=0, atol=1e-12)
    corners = np.array([[bbox.lat_min, bbox.lon_min], [bbox.lat_max, bbox.lon_max]])
    assert norm.normalize(corners).tolist() == [[0.0, 0.0], [1.0, 1.0]]
    assert norm.denormalize(norm.normalize(corners)).tolist() == corners.tolist()
    # batch shapes (rounds, window, 2) work too
    assert norm.denormalize(norm.normalize(latlon.reshape(10, 100, 2))).shape == (10, 100, 2)


def test_normalizer_degenerate_bbox():
    norm = Normalizer(BBox(40.0, 40.0, -74.0, -73.0))
    z = norm.normalize(np.array([[40.0, -73.5]]))
    assert np.isfinite(z).all()
    np.testing.assert_allclose(norm.denormalize(z), [[40.0, -73.5]], rtol=0, atol=1e-12)


def test_unique_rows_equals_numpy_unique_on_rows():
    from core.data.trajectory import unique_rows
    rng = np.random.default_rng(0)
    lat = rng.integers(0, 6, 3000) * 0.5 - 1.0
    lon = rng.integers(0, 6, 3000) * -0.25
    lat[:5] = -0.0                                   # -0.0 and 0.0 are one place
    want = np.unique(np.stack([lat, lon], axis=1), axis=0)
    np.testing.assert_array_equal(unique_rows(lat, lon), want)
    assert unique_rows(np.array([]), np.array([])).shape == (0, 2)
