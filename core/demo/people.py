"""The demo city's residents: routine-driven days, routed on the streets, logged like a phone.

The model, as a teacher would explain it
----------------------------------------
Human mobility is highly regular: most people spend most of their time at a handful of places
(home, work, a few favourite spots) and move between them at habitual times. That regularity is
exactly what makes location traces identifying, and what a gradient inversion attack can exploit.

**Residents.** Each resident has
- a *home* (several residents may share a building) and a *work place* (bigger employers, drawn
  with log-normal sizes, attract more people),
- 2–4 *favourite leisure venues*: the first is near work (where lunch is taken), the others are
  drawn by a gravity rule (nearer to home is likelier, weight exp(-distance / 1.5 km)),
- 3 *errand places* (shops, gym) near home, drawn by the same rule with a 0.8 km scale,
- a *travel mode* fixing a door-to-door speed: car 15–25 km/h, bike 11–17 km/h or bus 8–13 km/h
  (45 / 25 / 30 % of residents); in the weekday rush hours traffic slows cars and buses to
  55–75 % of that; trips under 1 km are walked at 4.5–5.5 km/h; each trip varies by ±15 %,
- personal habits: when they leave home (06:45–09:15), how long they work (7.5–9.5 h), and how
  likely they are to stop for coffee, have a meeting elsewhere, go out for lunch, run an errand,
  or go out in the evening (each a personal probability, drawn once per resident).

**Days** (local Chicago time; the week starts Monday 2024-03-04 and crosses the switch to
daylight saving time on Sunday 10 March, which the UTC timestamps respect):
- *weekdays*: home → (maybe a coffee stop) → work → (maybe a morning meeting at another work
  place and back) → (maybe lunch at the favourite near work and back) → (maybe an afternoon
  meeting and back) → work until the end of the working day → (maybe an errand, then maybe an
  evening at a favourite venue) → home → (sometimes out again for the evening) → home;
- *weekends*: 3–5 outings from home, each to a favourite (or, one time in five, a new leisure
  venue), sometimes chained with a second stop, then back home.
Every stay lasts at least 15 minutes; when a plan is late (traffic, long lunch) later steps shift.

**Movement.** Trips follow the cheapest route on the street graph (Dijkstra from the venues
only, with arterials counted at 0.8 of their length, so routes prefer them as real ones do) and
advance along the route polyline at constant speed.

**Logging.** The phone records a fix every 10–11 minutes all day (600–660 s, uniformly), and one
fix on arrival at each stop. A scheduled fix falling in the 10 minutes before an arrival is
replaced by the arrival fix, so the raw stream already honours the paper's "roughly 10-minute
increments" and preprocessing keeps every movement. While a resident stays somewhere, fixes repeat
the place exactly (preprocessing later drops these consecutive duplicates). Every fix lies on a
street node or segment, so ST-GIA's map-matching prior is meaningful.

All randomness comes from the `numpy.random.Generator` passed in; there is no module state.
"""
from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import dijkstra

from core.data.trajectory import Trajectory
from core.demo.city import HOME, LEISURE, WORK, DemoCity

START_DATE = date(2024, 3, 4)          # a Monday
TIMEZONE = "America/Chicago"
FIX_MIN_S, FIX_MAX_S = 600, 660        # interval between scheduled fixes
MIN_STAY_S = 15 * 60
WALK_MAX_M = 1000.0
ARTERIAL_COST = 0.8
HOUR = 3600.0
RUSH_SLOWDOWN = (0.55, 0.75)          # speed factor for cars and buses in the rush hour
MODES = (("car", 0.45, 15.0, 25.0), ("bike", 0.25, 11.0, 17.0), ("bus", 0.30, 8.0, 13.0))


@dataclass(frozen=True)
class Resident:
    """A resident's places (venue indices into the city's venue arrays) and habits."""

    user_id: str
    home: int
    work: int
    favourites: tuple[int, ...]        # favourites[0] is the lunch place near work
    errand_places: tuple[int, ...]
    mode: str
    speed_mps: float
    walk_mps: float
    leave_home_s: float                # usual local time of leaving for work, seconds after 00:00
    work_hours_s: float
    p_coffee: float
    p_visit: float
    p_lunch: float
    p_errand: float
    p_evening: float
    p_out_again: float


def chicago_utc_offset_hours(day: date) -> int:
    """UTC offset of Chicago at noon of `day` (US rule since 2007: DST from the 2nd Sunday of
    March to the 1st Sunday of November). Self-contained, so no time-zone database is needed."""
    mar1, nov1 = date(day.year, 3, 1), date(day.year, 11, 1)
    dst_start = mar1 + timedelta(days=(6 - mar1.weekday()) % 7 + 7)
    dst_end = nov1 + timedelta(days=(6 - nov1.weekday()) % 7)
    return -5 if dst_start <= day < dst_end else -6


def local_day_origin(day: date) -> int:
    """UTC epoch seconds such that origin + s is local time s (seconds after midnight) on `day`;
    exact for every s after 02:00, when a daylight-saving switch has happened."""
    return calendar.timegm(day.timetuple()) - chicago_utc_offset_hours(day) * 3600


def make_residents(rng: np.random.Generator, city: DemoCity, n: int) -> list[Resident]:
    """Draw homes, work places, favourites, modes and habits for `n` residents."""
    homes, works, leis = city.venues_of(HOME), city.venues_of(WORK), city.venues_of(LEISURE)
    vx, vy = city.x[city.venue_node], city.y[city.venue_node]
    size = rng.lognormal(0.0, 1.0, len(works))
    mode_p = np.array([m[1] for m in MODES])
    out = []
    for i in range(n):
        home = int(homes[rng.integers(len(homes))])
        work = int(works[rng.choice(len(works), p=size / size.sum())])
        n_fav = int(rng.integers(2, 5))
        d_work = np.hypot(vx[leis] - vx[work], vy[leis] - vy[work])
        lunch = int(leis[rng.choice(len(leis), p=_gravity(d_work, 400.0))])
        d_home = np.hypot(vx[leis] - vx[home], vy[leis] - vy[home])
        w = _gravity(d_home, 1500.0)
        w[leis == lunch] = 0.0
        others = rng.choice(len(leis), size=n_fav - 1, replace=False, p=w / w.sum())
        errands = rng.choice(len(leis), size=min(3, len(leis)), replace=False,
                             p=_gravity(d_home, 800.0))
        mode_i = int(rng.choice(len(MODES), p=mode_p))
        name, _, lo, hi = MODES[mode_i]
        out.append(Resident(
            user_id=f"u{i:04d}", home=home, work=work,
            favourites=(lunch,) + tuple(int(leis[k]) for k in others),
            errand_places=tuple(int(leis[k]) for k in errands),
            mode=name, speed_mps=rng.uniform(lo, hi) / 3.6, walk_mps=rng.uniform(4.5, 5.5) / 3.6,
            leave_home_s=rng.uniform(6.75, 9.25) * HOUR, work_hours_s=rng.uniform(7.5, 9.5) * HOUR,
            p_coffee=rng.uniform(0.25, 0.6), p_visit=rng.uniform(0.15, 0.5),
            p_lunch=rng.uniform(0.55, 0.95), p_errand=rng.uniform(0.4, 0.8),
            p_evening=rng.uniform(0.35, 0.7), p_out_again=rng.uniform(0.15, 0.45)))
    return out


def _gravity(d: np.ndarray, scale: float) -> np.ndarray:
    w = np.exp(-d / scale)
    return w / w.sum()


class _Router:
    """Cheapest routes between venues, from one multi-source Dijkstra run; routes are cached."""

    def __init__(self, city: DemoCity, sources: np.ndarray) -> None:
        net = city.network
        n = net.n_nodes
        length = np.hypot(city.x[net.edge_v] - city.x[net.edge_u],
                          city.y[net.edge_v] - city.y[net.edge_u])
        cost = length * np.where(city.arterial, ARTERIAL_COST, 1.0)
        g = coo_matrix((cost, (net.edge_u, net.edge_v)), shape=(n, n)).tocsr()
        self.sources = np.unique(sources)
        _, self.pred = dijkstra(g, directed=False, indices=self.sources, return_predecessors=True)
        self.row = {int(s): i for i, s in enumerate(self.sources)}
        self.x, self.y = city.x, city.y
        self.cache: dict[tuple[int, int], tuple[np.ndarray, np.ndarray, np.ndarray]] = {}

    def route(self, a: int, b: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(x, y, cumulative metres) of the route's vertices from node a to node b."""
        key = (a, b)
        hit = self.cache.get(key)
        if hit is not None:
            return hit
        pred = self.pred[self.row[a]]
        nodes = [b]
        while nodes[-1] != a:
            nodes.append(int(pred[nodes[-1]]))
        idx = np.asarray(nodes[::-1])
        x, y = self.x[idx], self.y[idx]
        cum = np.concatenate([[0.0], np.cumsum(np.hypot(np.diff(x), np.diff(y)))])
        self.cache[key] = (x, y, cum)
        return self.cache[key]


class _Itinerary:
    """A resident's continuous position over time, as breakpoints (t, x, y) to interpolate."""

    def __init__(self, res: Resident, city: DemoCity, router: _Router,
                 rng: np.random.Generator, t0: int) -> None:
        self.res, self.router, self.rng = res, router, rng
        self.vnode = city.venue_node
        self.x, self.y = city.x, city.y
        self.venue = res.home
        self.t = t0                                  # arrival time at the current venue
        self.T: list[np.ndarray] = [np.array([float(t0)])]
        self.X: list[np.ndarray] = [np.array([self.x[self.vnode[res.home]]])]
        self.Y: list[np.ndarray] = [np.array([self.y[self.vnode[res.home]]])]
        self.arrivals: list[int] = []

    def go(self, venue: int, depart: float, rush: bool = False) -> None:
        """Leave the current venue at `depart` (or after the minimum stay) and travel to `venue`;
        in the rush hour, cars and buses are slowed by traffic."""
        if venue == self.venue:
            return
        dep = int(max(round(depart), self.t + MIN_STAY_S))
        a, b = int(self.vnode[self.venue]), int(self.vnode[venue])
        x, y, cum = self.router.route(a, b)
        if cum[-1] < WALK_MAX_M:
            speed = self.res.walk_mps
        else:
            speed = self.res.speed_mps
            if rush and self.res.mode != "bike":
                speed *= self.rng.uniform(*RUSH_SLOWDOWN)
        duration = max(60, int(round(cum[-1] / (speed * self.rng.uniform(0.85, 1.15)))))
        self.T.append(dep + duration * (cum / cum[-1]))
        self.X.append(x)
        self.Y.append(y)
        self.venue, self.t = venue, dep + duration
        self.arrivals.append(self.t)


def _plan_week(it: _Itinerary, res: Resident, rng: np.random.Generator, leisure: np.ndarray,
               works: np.ndarray, days: int) -> None:
    favs = res.favourites
    for d in range(days):
        day = START_DATE + timedelta(days=d)
        o = local_day_origin(day)
        if day.weekday() < 5:
            leave = o + res.leave_home_s + rng.normal(0.0, 600.0)
            if rng.random() < res.p_coffee:
                it.go(favs[int(rng.integers(len(favs)))], leave, rush=True)
                leave = it.t + rng.uniform(10, 20) * 60
            it.go(res.work, leave, rush=True)
            start_work = it.t
            if rng.random() < res.p_visit:          # a morning meeting at another work place
                it.go(int(rng.choice(works)), o + rng.uniform(9.5, 11.0) * HOUR)
                it.go(res.work, it.t + rng.uniform(30, 90) * 60)
            if rng.random() < res.p_lunch:
                it.go(favs[0], o + rng.uniform(11.75, 13.0) * HOUR)
                it.go(res.work, it.t + rng.uniform(30, 60) * 60)
            if rng.random() < res.p_visit:          # an afternoon meeting
                it.go(int(rng.choice(works)), o + rng.uniform(13.5, 15.5) * HOUR)
                it.go(res.work, it.t + rng.uniform(30, 90) * 60)
            leave = start_work + res.work_hours_s + rng.normal(0.0, 900.0)
            if rng.random() < res.p_errand:
                it.go(res.errand_places[int(rng.integers(len(res.errand_places)))], leave,
                      rush=True)
                leave = it.t + rng.uniform(15, 30) * 60
            if rng.random() < res.p_evening:
                it.go(favs[int(rng.integers(len(favs)))], leave, rush=True)
                leave = it.t + rng.uniform(45, 150) * 60
            it.go(res.home, leave, rush=it.t < o + 19 * HOUR)
            if rng.random() < res.p_out_again and it.t < o + 20.5 * HOUR:
                it.go(favs[int(rng.integers(len(favs)))], it.t + rng.uniform(30, 90) * 60)
                it.go(res.home, it.t + rng.uniform(40, 120) * 60)
        else:
            n_out = int(rng.integers(3, 6))
            for start in np.sort(rng.uniform(9.5, 19.5, n_out)):
                if it.t > o + 21.5 * HOUR:
                    break
                first = favs[int(rng.integers(len(favs)))] if rng.random() < 0.8 \
                    else int(rng.choice(leisure))
                it.go(first, o + start * HOUR)
                if rng.random() < 0.35:
                    it.go(favs[int(rng.integers(len(favs)))], it.t + rng.uniform(30, 150) * 60)
                    it.go(res.home, it.t + rng.uniform(20, 90) * 60)
                else:
                    it.go(res.home, it.t + rng.uniform(30, 150) * 60)


def _sample(it: _Itinerary, rng: np.random.Generator, t0: int, t1: int):
    """Phone fixes in [t0, t1): scheduled every 600–660 s, plus one on each arrival."""
    T = np.concatenate(it.T)
    X = np.concatenate(it.X)
    Y = np.concatenate(it.Y)
    if T[-1] < t1:                                # stay at the last place until the end
        T, X, Y = np.append(T, float(t1)), np.append(X, X[-1]), np.append(Y, Y[-1])
    n = (t1 - t0) // FIX_MIN_S + 2
    ticks = t0 + int(rng.integers(0, FIX_MIN_S)) + np.cumsum(
        np.concatenate([[0], rng.integers(FIX_MIN_S, FIX_MAX_S + 1, n - 1)]))
    ticks = ticks[ticks < t1]
    arr = np.asarray([a for a in it.arrivals if a < t1], dtype=np.int64)
    if len(arr):
        k = np.searchsorted(arr, ticks, side="left")        # first arrival at or after the tick
        nxt = np.where(k < len(arr), arr[np.minimum(k, len(arr) - 1)], np.iinfo(np.int64).max)
        ticks = ticks[nxt - ticks >= FIX_MIN_S]
    t = np.sort(np.concatenate([ticks, arr])).astype(np.int64)
    return t, np.interp(t, T, X), np.interp(t, T, Y)


def simulate_residents(rng: np.random.Generator, city: DemoCity, n_residents: int,
                       days: int) -> tuple[list[Trajectory], list[Resident]]:
    """Simulate `days` days from START_DATE for `n_residents` residents; raw phone fixes."""
    residents = make_residents(rng, city, n_residents)
    leisure, works = city.venues_of(LEISURE), city.venues_of(WORK)
    # trips start only at venues: the residents' homes, any work place (meetings), any leisure
    # venue (favourites, errands, exploring); one Dijkstra run from each of those nodes
    used = sorted({r.home for r in residents} | set(works.tolist()) | set(leisure.tolist()))
    router = _Router(city, city.venue_node[np.asarray(used)])
    t0 = local_day_origin(START_DATE)
    t1 = local_day_origin(START_DATE + timedelta(days=days))
    trajectories = []
    for res in residents:
        it = _Itinerary(res, city, router, rng, t0)
        _plan_week(it, res, rng, leisure, works, days)
        t, x, y = _sample(it, rng, t0, t1)
        lat, lon = city.projection.to_latlon(x, y)
        trajectories.append(Trajectory(res.user_id, t, np.asarray(lat, np.float64),
                                       np.asarray(lon, np.float64)))
    return trajectories, residents
