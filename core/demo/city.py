"""The demo city's streets and venues: a generated, Chicago-like street grid (no file, no network).

The model, as a teacher would explain it
----------------------------------------
Chicago's streets form a near-regular grid with wide "arterial" streets at regular intervals and a
few old diagonal avenues (Milwaukee, Ogden, Archer) that cut across the grid towards downtown.
The demo city copies that structure, about 6.6 km east–west by 7.4 km north–south, centred on
lat 41.88, lon -87.66 (the Near West Side), so a map of the data looks like a city:

1. **Grid.** Street positions along each axis are a running sum of block lengths drawn uniformly
   in 150–250 m, so blocks differ in size. Every intersection is then moved by a few metres of
   Gaussian noise, so streets are not ruler-straight. Each block side is one street segment.
2. **Arterials.** Every 5th street in each direction (from a random offset) is an arterial.
3. **Missing streets.** About 7 % of the local (non-arterial) segments are removed at random
   (dead ends, parks, rail yards), so the graph is not a full lattice.
4. **Diagonal avenues.** Two straight arterials run from the north-west and south-west edges of
   the city to a downtown intersection. Where one crosses a street a new intersection node is
   created (or an existing one is reused when the crossing is within 20 m of it).
5. **Connectivity.** Only the largest connected component is kept, so every place can reach
   every other place.
6. **Venues.** A few hundred places sit on street segments (each splits its segment, becoming a
   node of degree 2, just as a house number does in OpenStreetMap data):
   - *work* places cluster around a downtown core (a Gaussian of about 0.9 km around a point
     ~1.8 km east of the centre, plus a thin spread everywhere else),
   - *homes* spread over the local streets, thinner downtown,
   - *leisure* venues (cafés, shops, gyms, bars) line the arterials, a little denser downtown.

Geometry is built in metres on a local equirectangular projection and converted to lat/lon at
the end; that map is affine, so a point interpolated on a segment in metres lies exactly on the
same segment in lat/lon. The street graph is a `core.geo.network.RoadNetwork` with one entry per
undirected segment (`directed=False`).

All randomness comes from the `numpy.random.Generator` passed in; there is no module state.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from core.geo.distance import LocalProjection
from core.geo.network import RoadNetwork

CENTER_LAT, CENTER_LON = 41.88, -87.66
WIDTH_M, HEIGHT_M = 6600.0, 7400.0            # east–west, north–south extent of the grid
BLOCK_MIN_M, BLOCK_MAX_M = 150.0, 250.0       # block length range
NODE_JITTER_M = 4.0                           # std of the per-intersection position noise
ARTERIAL_EVERY = 5                            # every n-th street is an arterial
P_REMOVE_LOCAL = 0.07                         # share of local segments removed
CROSSING_SNAP_M = 20.0                        # reuse an intersection this close to a crossing
DOWNTOWN_XY_M = (1800.0, 200.0)               # downtown core, metres east/north of the centre
WORK_CORE_SIGMA_M = 900.0
MIN_VENUE_EDGE_M = 60.0                       # venues only on segments at least this long

HOME, WORK, LEISURE = 0, 1, 2
VENUE_KINDS = ("home", "work", "leisure")


@dataclass(frozen=True)
class DemoCity:
    """The street network plus what the simulation needs to know about it.

    `x`, `y` are node coordinates in metres (east, north) on `projection`; `arterial[j]` tells
    whether edge j of `network` is an arterial; venue i is node `venue_node[i]` of kind
    `venue_kind[i]` (HOME, WORK or LEISURE).
    """

    network: RoadNetwork
    projection: LocalProjection
    x: np.ndarray
    y: np.ndarray
    arterial: np.ndarray
    venue_node: np.ndarray
    venue_kind: np.ndarray
    downtown_xy: tuple[float, float]

    def venues_of(self, kind: int) -> np.ndarray:
        """Indices (into venue_node) of the venues of one kind."""
        return np.flatnonzero(self.venue_kind == kind)


def build_city(rng: np.random.Generator, n_home: int = 144, n_work: int = 80,
               n_leisure: int = 96) -> DemoCity:
    """Generate the street network and place the venues (see the module docstring)."""
    x, y, eu, ev, art = _grid(rng)
    # diagonal avenues from the north-west and south-west edges to a downtown intersection
    d_node = _nearest(x, y, *DOWNTOWN_XY_M)
    xmin, xmax, ymin, ymax = x.min(), x.max(), y.min(), y.max()
    nw = _nearest(x, y, xmin + rng.uniform(0.0, 0.3) * (xmax - xmin), ymax)
    sw = _nearest(x, y, xmin, ymin + rng.uniform(0.0, 0.3) * (ymax - ymin))
    for a in (nw, sw):
        x, y, eu, ev, art = _add_avenue(x, y, eu, ev, art, a, d_node)
    eu, ev, art = _dedupe_edges(eu, ev, art)
    x, y, eu, ev, art = _largest_component(x, y, eu, ev, art)
    x, y, eu, ev, art, vnode, vkind = _place_venues(rng, x, y, eu, ev, art,
                                                    (n_home, n_work, n_leisure))
    proj = LocalProjection(CENTER_LAT, CENTER_LON)
    lat, lon = proj.to_latlon(x, y)
    net = RoadNetwork("demo", np.arange(len(x), dtype=np.int64), np.asarray(lat, np.float64),
                      np.asarray(lon, np.float64), eu.astype(np.int64), ev.astype(np.int64),
                      directed=False)
    return DemoCity(net, proj, x, y, art, vnode, vkind, DOWNTOWN_XY_M)


# --- the grid ------------------------------------------------------------------------------------

def _axis(rng: np.random.Generator, span: float) -> np.ndarray:
    """Street positions along one axis: running sum of random block lengths, centred on 0."""
    gaps = rng.uniform(BLOCK_MIN_M, BLOCK_MAX_M, size=int(span / BLOCK_MIN_M) + 2)
    pos = np.concatenate([[0.0], np.cumsum(gaps)])
    pos = pos[: int(np.searchsorted(pos, span)) + 1]
    return pos - 0.5 * pos[-1]


def _grid(rng: np.random.Generator):
    xs, ys = _axis(rng, WIDTH_M), _axis(rng, HEIGHT_M)
    nc, nr = len(xs), len(ys)
    gx, gy = np.meshgrid(xs, ys)                       # (nr, nc); node id = r * nc + c
    x = gx.ravel() + rng.normal(0.0, NODE_JITTER_M, nr * nc)
    y = gy.ravel() + rng.normal(0.0, NODE_JITTER_M, nr * nc)
    ids = np.arange(nr * nc).reshape(nr, nc)
    off_r, off_c = rng.integers(0, ARTERIAL_EVERY, size=2)
    rows, cols = np.indices((nr, nc))
    # east–west segments lie on a row, north–south segments on a column
    h_u, h_v = ids[:, :-1].ravel(), ids[:, 1:].ravel()
    h_art = ((rows[:, :-1] - off_r) % ARTERIAL_EVERY == 0).ravel()
    v_u, v_v = ids[:-1, :].ravel(), ids[1:, :].ravel()
    v_art = ((cols[:-1, :] - off_c) % ARTERIAL_EVERY == 0).ravel()
    eu, ev = np.concatenate([h_u, v_u]), np.concatenate([h_v, v_v])
    art = np.concatenate([h_art, v_art])
    keep = art | (rng.random(len(eu)) >= P_REMOVE_LOCAL)
    return x, y, eu[keep], ev[keep], art[keep]


def _nearest(x: np.ndarray, y: np.ndarray, px: float, py: float) -> int:
    return int(np.argmin((x - px) ** 2 + (y - py) ** 2))


# --- editing the graph ---------------------------------------------------------------------------

def _split_edges(eu, ev, art, splits: list[tuple[int, float, int]]):
    """Replace each edge named in `splits` (edge, fraction along it, new node) by a chain."""
    if not splits:
        return eu, ev, art
    by_edge: dict[int, list[tuple[float, int]]] = {}
    for e, f, n in splits:
        by_edge.setdefault(e, []).append((f, n))
    keep = np.ones(len(eu), dtype=bool)
    keep[list(by_edge)] = False
    au, av, aa = [], [], []
    for e in sorted(by_edge):
        chain = [int(eu[e])] + [n for _, n in sorted(by_edge[e])] + [int(ev[e])]
        au += chain[:-1]
        av += chain[1:]
        aa += [bool(art[e])] * (len(chain) - 1)
    return (np.concatenate([eu[keep], np.asarray(au, dtype=eu.dtype)]),
            np.concatenate([ev[keep], np.asarray(av, dtype=ev.dtype)]),
            np.concatenate([art[keep], np.asarray(aa, dtype=bool)]))


def _add_avenue(x, y, eu, ev, art, a: int, b: int):
    """Add a straight arterial from node a to node b, with an intersection at every crossing."""
    ax, ay, bx, by = x[a], y[a], x[b], y[b]
    px, py, qx, qy = x[eu], y[eu], x[ev], y[ev]
    dx, dy = bx - ax, by - ay
    ex, ey = qx - px, qy - py
    denom = dx * ey - dy * ex
    with np.errstate(divide="ignore", invalid="ignore"):
        r = ((px - ax) * ey - (py - ay) * ex) / denom      # position along the avenue
        s = ((px - ax) * dy - (py - ay) * dx) / denom      # position along the crossed edge
    hit = (np.abs(denom) > 1e-9) & (r >= 0) & (r <= 1) & (s >= 0) & (s <= 1)
    seg_len = np.hypot(ex, ey)
    crossings: list[tuple[float, int]] = [(0.0, a), (1.0, b)]
    splits: list[tuple[int, float, int]] = []
    new_x, new_y = [], []
    n0 = len(x)
    for j in np.flatnonzero(hit):
        sj, lj = float(s[j]), float(seg_len[j])
        if sj * lj < CROSSING_SNAP_M:
            node = int(eu[j])
        elif (1.0 - sj) * lj < CROSSING_SNAP_M:
            node = int(ev[j])
        else:
            node = n0 + len(new_x)
            new_x.append(px[j] + sj * ex[j])
            new_y.append(py[j] + sj * ey[j])
            splits.append((int(j), sj, node))
        crossings.append((float(r[j]), node))
    eu, ev, art = _split_edges(eu, ev, art, splits)
    x = np.concatenate([x, np.asarray(new_x)])
    y = np.concatenate([y, np.asarray(new_y)])
    chain: list[int] = []
    for _, node in sorted(crossings):
        if node in chain:                 # a snapped crossing revisits a node: cut the loop
            del chain[chain.index(node) + 1:]
        else:
            chain.append(node)
    cu = np.asarray(chain[:-1], dtype=eu.dtype)
    cv = np.asarray(chain[1:], dtype=ev.dtype)
    return (x, y, np.concatenate([eu, cu]), np.concatenate([ev, cv]),
            np.concatenate([art, np.ones(len(cu), dtype=bool)]))


def _dedupe_edges(eu, ev, art):
    """One entry per undirected segment, no self-loops; a segment is arterial if any copy is."""
    lo, hi = np.minimum(eu, ev), np.maximum(eu, ev)
    ok = lo != hi
    lo, hi, art = lo[ok], hi[ok], art[ok]
    key = lo.astype(np.int64) * (int(hi.max()) + 1) + hi
    uniq, first, inv = np.unique(key, return_index=True, return_inverse=True)
    a = np.zeros(len(uniq), dtype=bool)
    np.logical_or.at(a, inv, art)
    return lo[first], hi[first], a


def _largest_component(x, y, eu, ev, art):
    n = len(x)
    g = coo_matrix((np.ones(len(eu)), (eu, ev)), shape=(n, n))
    _, labels = connected_components(g, directed=False)
    big = np.argmax(np.bincount(labels))
    keep = labels == big
    new_id = np.full(n, -1, dtype=np.int64)
    new_id[keep] = np.arange(int(keep.sum()))
    ek = keep[eu] & keep[ev]
    return x[keep], y[keep], new_id[eu[ek]], new_id[ev[ek]], art[ek]


# --- venues --------------------------------------------------------------------------------------

def _place_venues(rng, x, y, eu, ev, art, counts: tuple[int, int, int]):
    """Put venues on distinct segments, splitting each at a random point in its middle half."""
    length = np.hypot(x[ev] - x[eu], y[ev] - y[eu])
    mx, my = 0.5 * (x[eu] + x[ev]), 0.5 * (y[eu] + y[ev])
    d2 = (mx - DOWNTOWN_XY_M[0]) ** 2 + (my - DOWNTOWN_XY_M[1]) ** 2
    core = np.exp(-d2 / (2 * WORK_CORE_SIGMA_M ** 2))
    weights = {
        HOME: (1.0 - 0.7 * np.exp(-d2 / (2 * 700.0 ** 2))) * np.where(art, 0.3, 1.0),
        WORK: (6.0 * core + 0.25) * np.where(art, 1.5, 1.0),
        LEISURE: np.where(art, 1.0, 0.08) * (1.0 + 1.5 * np.exp(-d2 / (2 * 1500.0 ** 2))),
    }
    free = length >= MIN_VENUE_EDGE_M
    kinds, edges = [], []
    for kind, count in zip((WORK, HOME, LEISURE), (counts[1], counts[0], counts[2])):
        w = weights[kind] * length * free
        count = min(int(count), int(np.count_nonzero(w)))
        chosen = rng.choice(len(eu), size=count, replace=False, p=w / w.sum())
        free[chosen] = False
        edges.append(chosen)
        kinds.append(np.full(count, kind, dtype=np.int8))
    edges_all, kinds_all = np.concatenate(edges), np.concatenate(kinds)
    frac = rng.uniform(0.25, 0.75, size=len(edges_all))
    n0 = len(x)
    vnode = n0 + np.arange(len(edges_all))
    vx = x[eu[edges_all]] + frac * (x[ev[edges_all]] - x[eu[edges_all]])
    vy = y[eu[edges_all]] + frac * (y[ev[edges_all]] - y[eu[edges_all]])
    splits = [(int(e), float(f), int(n)) for e, f, n in zip(edges_all, frac, vnode)]
    eu, ev, art = _split_edges(eu, ev, art, splits)
    return (np.concatenate([x, vx]), np.concatenate([y, vy]), eu, ev, art,
            vnode.astype(np.int64), kinds_all)
