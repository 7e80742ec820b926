"""The band mapping (`core.geo.band.BandQuery.map_inplace`) as one compiled loop (numba).

The numpy formulation costs a few dozen array operations per call whatever the number of
points; the mapping runs after every attack iteration, so that fixed cost is most of its time.
This is the same computation point by point, in the same floating-point order (so the same
result to the last bit: tested against the numpy path): metres from normalised coordinates,
the padded grid cell, the cell's open flag, the candidate segments' projections (first minimum
kept, as numpy's argmin), and the move when the distance lies in (near, far].

`cache=True`: compiled once per machine (~1 s) and loaded from numba's cache afterwards.
"""
from __future__ import annotations

import math

import numpy as np
from numba import njit


@njit(cache=True, nogil=True)
def map_band(z: np.ndarray, aff: np.ndarray, grid: np.ndarray, open_: np.ndarray,
             start: np.ndarray, count: np.ndarray, cand: np.ndarray, ax: np.ndarray,
             ay: np.ndarray, dx: np.ndarray, dy: np.ndarray, inv: np.ndarray, near: float,
             far: float) -> None:  # pragma: no cover - compiled; tested through BandQuery
    """In place on z (M, 2) [lat, lon] normalised, float64. aff = (sx, ox, sy, oy): metres
    x = lon·sx + ox, y = lat·sy + oy. grid = (x0, y0, cell, nx, ny) of the padded table."""
    sx, ox, sy, oy = aff[0], aff[1], aff[2], aff[3]
    x0, y0, cell, nx, ny = grid[0], grid[1], grid[2], grid[3], grid[4]
    width = int(nx) + 2
    for r in range(z.shape[0]):
        px = z[r, 1] * sx + ox
        py = z[r, 0] * sy + oy
        fx = (px - x0) / cell
        fy = (py - y0) / cell
        # np.fmax/np.fmin: NaN yields the other operand (the border)
        fx = -1.0 if not fx >= -1.0 else fx
        fx = nx if not fx <= nx else fx
        fy = -1.0 if not fy >= -1.0 else fy
        fy = ny if not fy <= ny else fy
        c = int(fy + 1.0) * width + int(fx + 1.0)
        if not open_[c]:
            continue
        s, n = start[c], count[c]
        best, bt, bj = np.inf, 0.0, -1
        for j in range(s, s + n):
            g = cand[j]
            ex = px - ax[g]
            ey = py - ay[g]
            t = (ex * dx[g] + ey * dy[g]) * inv[g]
            t = 0.0 if t < 0.0 else (1.0 if t > 1.0 else t)
            ex -= t * dx[g]
            ey -= t * dy[g]
            d2 = ex * ex + ey * ey
            if d2 < best:
                best, bt, bj = d2, t, g
        d = math.sqrt(best)
        if d > near and d <= far:
            qx = ax[bj] + bt * dx[bj]
            qy = ay[bj] + bt * dy[bj]
            z[r, 0] = (qy - oy) / sy
            z[r, 1] = (qx - ox) / sx
