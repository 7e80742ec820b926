"""A tiny world the attack tests build themselves: a street grid and residents on it."""
from __future__ import annotations

import numpy as np

from core.data.preprocess import Normalizer
from core.data.trajectory import Trajectory
from core.federated.clients import ClientPopulation
from core.geo.bbox import BBox
from core.geo.network import RoadNetwork


def grid_network(n: int = 8, lat0: float = 40.75, lon0: float = -73.99, step: float = 0.002) -> RoadNetwork:
    """An n×n street grid (~170 m blocks) as an undirected RoadNetwork."""
    ii, jj = np.meshgrid(np.arange(n), np.arange(n), indexing="ij")
    lat, lon = lat0 + ii.ravel() * step, lon0 + jj.ravel() * step
    idx = np.arange(n * n).reshape(n, n)
    eu = np.concatenate([idx[:, :-1].ravel(), idx[:-1, :].ravel()])
    ev = np.concatenate([idx[:, 1:].ravel(), idx[1:, :].ravel()])
    return RoadNetwork("grid", np.arange(n * n), lat, lon, eu, ev, directed=False)


def population_on(net: RoadNetwork, n_clients: int = 3, n_points: int = 10,
                  seed: int = 0) -> ClientPopulation:
    """Clients whose points are random intersections of the network."""
    rng = np.random.default_rng(seed)
    trs = []
    for k in range(n_clients):
        nodes = rng.integers(0, net.n_nodes, n_points)
        trs.append(Trajectory(str(k), np.arange(n_points) * 900, net.lat[nodes], net.lon[nodes]))
    return ClientPopulation.from_trajectories(trs, Normalizer(net.bbox))


def bbox_of(net: RoadNetwork) -> BBox:
    return net.bbox
