"""Band queries on the snapping grid (core.geo.band): only points that may lie in the band are
queried, and those get the exact nearest network point."""
from __future__ import annotations

import numpy as np
import pytest

from core.geo.band import BandQuery
from test_geo_snap import _fixture_network


def _points(snapper, n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Points over and well beyond the grid (so some fall outside it), plus non-finite ones."""
    rng = np.random.default_rng(seed)
    ax, ay, bx, by = snapper.segments_xy()
    lo = min(ax.min(), bx.min(), ay.min(), by.min()) - 1500
    hi = max(ax.max(), bx.max(), ay.max(), by.max()) + 1500
    x, y = rng.uniform(lo, hi, n), rng.uniform(lo, hi, n)
    x[:3], y[3] = (np.nan, np.inf, -np.inf), np.nan
    return x, y


@pytest.mark.parametrize("near,far", [(50.0, 200.0), (0.0, 30.0), (10.0, 400.0)])
def test_every_point_in_the_band_is_answered_exactly(near, far):
    snapper = _fixture_network(seed=1).snapper
    band = BandQuery(snapper, near, far)
    x, y = _points(snapper, 20000, seed=2)
    rows, qx, qy, d = band(x, y)
    exact = snapper.distance_xy(x, y)
    in_band = (exact > near) & (exact <= far)
    answered = np.zeros(x.size, dtype=bool)
    answered[rows] = True
    assert in_band.sum() > 500 and (~answered).sum() > 1000
    assert np.all(answered[in_band])               # nothing that could move is skipped
    assert not answered[:4].any()                  # non-finite points: never queried
    fx, fy, _ = snapper.query_xy(x[rows], y[rows])
    np.testing.assert_allclose(qx, fx, atol=1e-9)
    np.testing.assert_allclose(qy, fy, atol=1e-9)
    np.testing.assert_allclose(d, exact[rows], atol=1e-6)


def test_skipped_cells_lie_wholly_outside_the_band():
    snapper = _fixture_network(seed=4).snapper
    band = BandQuery(snapper, 50.0, 200.0)
    x, y = _points(snapper, 20000, seed=5)
    rows, *_ = band(x, y)
    skipped = np.setdiff1d(np.arange(4, x.size), rows)
    exact = snapper.distance_xy(x[skipped], y[skipped])
    assert np.all((exact <= 50.0 + 1e-9) | (exact > 200.0))


def test_a_band_beyond_the_grid_margin_is_refused():
    snapper = _fixture_network().snapper
    with pytest.raises(ValueError, match="margin"):
        BandQuery(snapper, 50.0, snapper.margin_m + 1.0)


def test_no_point_in_an_open_cell_gives_empty_arrays():
    snapper = _fixture_network().snapper
    rows, qx, qy, d = BandQuery(snapper, 50.0, 200.0)(np.array([np.nan]), np.array([1e9]))
    assert rows.size == qx.size == qy.size == d.size == 0


def _affine_points(snapper, n: int, seed: int):
    """Normalised [lat, lon] points over and around the grid, an affine map to the snapper's
    metres (as the attack's mapper has), and the points in metres."""
    x, y = _points(snapper, n, seed)
    aff = (1500.0, x[np.isfinite(x)].min(), 1700.0, y[np.isfinite(y)].min())  # sx, ox, sy, oy
    z = np.stack([(y - aff[3]) / aff[2], (x - aff[1]) / aff[0]], 1)
    return z, aff


@pytest.mark.parametrize("compiled", [False, True])
def test_map_inplace_moves_exactly_the_points_in_the_band(compiled):
    snapper = _fixture_network(seed=6).snapper
    band = BandQuery(snapper, 50.0, 200.0)
    if compiled and band._kernel is None:
        pytest.skip("numba is not installed")
    z, (sx, ox, sy, oy) = _affine_points(snapper, 20000, seed=7)
    out = z.copy()
    band.map_inplace(out, (sx, ox, sy, oy), compiled=compiled)
    x, y = z[:, 1] * sx + ox, z[:, 0] * sy + oy
    qx, qy, _ = snapper.query_xy(x, y)
    d = np.hypot(qx - x, qy - y)
    move = (d > 50.0) & (d <= 200.0)
    assert move.sum() > 500 and (~move).sum() > 1000
    np.testing.assert_array_equal(out[~move], z[~move])             # untouched, NaN included
    np.testing.assert_allclose(out[move, 0], (qy[move] - oy) / sy, rtol=0, atol=1e-12)
    np.testing.assert_allclose(out[move, 1], (qx[move] - ox) / sx, rtol=0, atol=1e-12)


def test_the_compiled_mapping_equals_the_numpy_one_to_the_last_bit():
    snapper = _fixture_network(seed=8).snapper
    band = BandQuery(snapper, 50.0, 200.0)
    if band._kernel is None:
        pytest.skip("numba is not installed")
    z, aff = _affine_points(snapper, 20000, seed=9)
    a, b = z.copy(), z.copy()
    band.map_inplace(a, aff, compiled=True)
    band.map_inplace(b, aff, compiled=False)
    assert np.array_equal(a, b, equal_nan=True) and not np.array_equal(a, z, equal_nan=True)
