"""Nearest road points for only the points whose distance to the network may lie in a band.

ST-GIA's mapping step (`core.attacks.mapping`) moves a dummy only when its distance to the roads
lies in (near, far] (off the street, inside the road data), and it runs after every attack
iteration on every dummy. Most dummies are either on a street or far outside the road data, so
the exact nearest-point query (`core.geo.snap.Snapper`) is needed for a few only. `BandQuery`
decides that per grid cell, once: with the cell's centre distance d_c and half-diagonal h, every
point of the cell lies between max(d_c − h, 0) and d_c + h from the network (the distance to a
set is 1-Lipschitz), so a cell whose interval misses (near, far] holds no point that could move.
A point outside the grid is farther than the grid's margin from every segment; the band must end
within the margin (`far ≤ margin_m`), so such points never need the query either.

Per call this is a lookup in one padded table (the border stands for "outside the grid" and
non-finite points) and the grid query on the points it leaves open. `map_inplace` applies the
mapping rule itself; it runs as one compiled loop (`core.geo.band_kernel`, numba) when numba is
installed — the numpy formulation costs a few dozen array operations per call whatever the
number of points (measured on recorded paper-scale calls: ~80 µs, ~170 µs inside the run,
against ~12–25 µs per call) — and as numpy otherwise; both give the same result to the last bit (tested).
"""
from __future__ import annotations

import numpy as np

from core.geo.snap import Snapper


class BandQuery:
    """Callable (x, y) metres -> (rows, qx, qy, d): for the points `rows` that may lie in
    (near, far] from the network, their nearest network point and its distance (m). Points
    not in `rows` lie certainly outside the band (or are not finite)."""

    def __init__(self, snapper: Snapper, near: float, far: float) -> None:
        g = snapper.grid()
        if not 0.0 <= near < far <= g.margin_m:
            raise ValueError(f"band ({near}, {far}] m must lie within the grid's margin "
                             f"({g.margin_m} m)")
        self._g = g
        ny, nx = g.shape
        h = g.cell_m * np.sqrt(0.5)
        d = snapper.centre_distances()
        open_ = ((d + h > near) & (np.maximum(d - h, 0.0) <= far)).reshape(ny, nx)
        # padded by one cell on every side: index 0 and n+1 stand for "outside the grid"
        self._open = np.pad(open_, 1).reshape(-1)
        self._start = np.pad(g.start.reshape(ny, nx), 1).reshape(-1)
        self._count = np.pad(g.count.reshape(ny, nx), 1).reshape(-1)
        self._nx, self._ny = nx, ny
        self.near, self.far = float(near), float(far)
        self._kernel = _load_kernel()
        self._kernel_args = (np.array([g.x0, g.y0, g.cell_m, nx, ny], dtype=np.float64),
                             self._open, self._start, self._count, g.cand_seg, *g.cols,
                             self.near, self.far)

    def map_inplace(self, z: np.ndarray, aff: np.ndarray | tuple[float, float, float, float],
                    compiled: bool = True) -> None:
        """Move, in place, each point of z (M, 2) [lat, lon] float64 whose distance to the
        network lies in (near, far] to its nearest network point. `aff` = (sx, ox, sy, oy)
        takes z to the network's metres: x = lon·sx + ox, y = lat·sy + oy (and back). With
        `compiled=False` (or without numba) the numpy formulation runs."""
        if compiled and self._kernel is not None and z.flags.c_contiguous:
            self._kernel(z, np.asarray(aff, dtype=np.float64), *self._kernel_args)
            return
        sx, ox, sy, oy = aff
        rows, qx, qy, d = self(z[:, 1] * sx + ox, z[:, 0] * sy + oy)
        move = (d > self.near) & (d <= self.far)
        if move.any():
            r = rows[move]
            z[r, 0] = (qy[move] - oy) / sy
            z[r, 1] = (qx[move] - ox) / sx

    def cells(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Padded row-major cell of each point; the border for points outside the grid and for
        NaN (np.fmax returns the number when one operand is NaN)."""
        g = self._g
        fx = np.fmin(np.fmax((x - g.x0) / g.cell_m, -1.0), float(self._nx)) + 1.0
        fy = np.fmin(np.fmax((y - g.y0) / g.cell_m, -1.0), float(self._ny)) + 1.0
        return fy.astype(np.intp) * (self._nx + 2) + fx.astype(np.intp)

    def __call__(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray,
                                                              np.ndarray, np.ndarray]:
        cell = self.cells(x, y)
        rows = self._open.take(cell).nonzero()[0]
        if rows.size == 0:
            empty = np.empty(0)
            return rows, empty, empty, empty
        cell, px, py = cell.take(rows), x.take(rows), y.take(rows)
        start, cnt = self._start.take(cell), self._count.take(cell)
        # every candidate list, padded by repeating its last entry (harmless for an argmin);
        # array methods rather than np.* wrappers: this runs after every attack iteration
        k = int(cnt.max())
        sg = self._g.cand_seg.take(start[:, None] + np.minimum(np.arange(k), cnt[:, None] - 1))
        ax, ay, dx, dy, inv = (c.take(sg) for c in self._g.cols)
        ex, ey = px[:, None] - ax, py[:, None] - ay
        t = ((ex * dx + ey * dy) * inv).clip(0.0, 1.0)
        ex -= t * dx
        ey -= t * dy
        d2 = ex * ex + ey * ey
        best = d2.argmin(1) + np.arange(0, d2.size, k)      # flat index of each row's nearest
        tb = t.take(best)
        qx = ax.take(best) + tb * dx.take(best)
        qy = ay.take(best) + tb * dy.take(best)
        return rows, qx, qy, np.sqrt(d2.take(best))


def _load_kernel():
    """The compiled band mapping, or None without numba (the numpy path runs instead)."""
    try:
        from core.geo.band_kernel import map_band
    except ImportError:
        return None
    return map_band
