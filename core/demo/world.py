"""The embedded demo: a generated Chicago-like city and a week of its residents' phone traces.

It needs no file and no network, so the dashboard and the CLI work on a first run. The street
network and venues are described in `core.demo.city`, the residents and how their traces are
logged in `core.demo.people`. `make_demo_city` returns the *raw* trajectories (every phone
fix, including repeated fixes while a resident stays put) and the street network; run
`core.data.preprocess.preprocess` on the dataset as for any other source.

Everything is a pure function of the seed: one `numpy.random.Generator` is created here and passed
down explicitly; the same seed gives identical arrays, different seeds give different cities and
residents.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from core.data.trajectory import TrajectoryDataset
from core.demo.city import VENUE_KINDS, DemoCity, build_city
from core.demo.people import START_DATE, TIMEZONE, Resident, simulate_residents
from core.errors import check_range
from core.geo.network import RoadNetwork

__all__ = ["DemoWorld", "make_demo_city", "make_demo_world"]


@dataclass(frozen=True)
class DemoWorld:
    """Everything the generator made: the dataset, the network, and the ground truth behind them
    (venues, residents' homes, work places and favourites) for teaching and checking attacks."""

    dataset: TrajectoryDataset
    network: RoadNetwork
    city: DemoCity
    residents: tuple[Resident, ...]


def make_demo_world(seed: int = 0, n_residents: int = 240, days: int = 7) -> DemoWorld:
    """Generate the demo city and simulate `n_residents` residents for `days` days."""
    check_range("n_residents", n_residents, 1, 1000)
    check_range("days", days, 1, 366)
    rng = np.random.default_rng(seed)
    # venue counts grow with the population; residents share homes (apartment buildings)
    city = build_city(rng, n_home=max(40, int(np.ceil(0.6 * n_residents))),
                      n_work=max(20, int(np.ceil(n_residents / 3))),
                      n_leisure=max(30, int(np.ceil(0.4 * n_residents))))
    trajectories, residents = simulate_residents(rng, city, int(n_residents), int(days))
    meta = {"source": "generated demo city (core.demo)", "seed": int(seed),
            "n_residents": int(n_residents), "days": int(days),
            "start_date": START_DATE.isoformat(), "timezone": TIMEZONE,
            "n_venues": int(len(city.venue_node)),
            "venue_kinds": {k: int(np.sum(city.venue_kind == i))
                            for i, k in enumerate(VENUE_KINDS)}}
    ds = TrajectoryDataset.build("demo", trajectories, meta)
    return DemoWorld(ds, city.network, city, tuple(residents))


def make_demo_city(seed: int = 0, n_residents: int = 240,
                   days: int = 7) -> tuple[TrajectoryDataset, RoadNetwork]:
    """The raw demo dataset (name "demo") and its street network (undirected `RoadNetwork`)."""
    world = make_demo_world(seed, n_residents, days)
    return world.dataset, world.network
