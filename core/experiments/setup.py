"""From a RunConfig to everything a run needs: data, roads, clients, model, mapping prior."""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from core.attacks.mapping import Mapper
from core.data.load import DEMO, resolve_dataset
from core.data.preprocess import Normalizer, preprocess, select_users
from core.data.trajectory import TrajectoryDataset
from core.errors import InputError, ParameterError
from core.experiments.config import RunConfig
from core.federated.clients import ClientPopulation
from core.federated.rounds import FedConfig
from core.geo.network import RoadNetwork
from core.models.recurrent import ModelSpec

PRIORS = ("auto", "roads", "venues", "roads+venues")
HELDOUT_PER_CLIENT = 5


@dataclass(frozen=True)
class Prepared:
    """A run's inputs. `venues` is the public venue list (mapping prior); `vocab` the candidate
    locations for recall@5 and the classification head's classes ([lat, lon])."""

    config: RunConfig
    dataset: TrajectoryDataset
    roads: RoadNetwork | None
    population: ClientPopulation
    normalizer: Normalizer
    venues: np.ndarray
    vocab: np.ndarray
    model: ModelSpec
    fed: FedConfig
    heldout_x: np.ndarray
    heldout_y: np.ndarray

    @property
    def n_points(self) -> int:
        return max(len(p) for p in self.population.points)

    def mapper(self) -> Mapper:
        """The mapping prior chosen by `config.prior` (auto: roads and venues when both exist)."""
        prior = self.config.prior
        if prior not in PRIORS:
            raise ParameterError("prior", prior, f"one of {PRIORS}")
        use_roads = prior in ("auto", "roads", "roads+venues") and self.roads is not None
        use_venues = prior in ("auto", "venues", "roads+venues") or self.roads is None
        if prior in ("roads", "roads+venues") and self.roads is None:
            raise InputError(f"prior {prior!r} needs a road network: pass --roads")
        return Mapper(self.normalizer, self.roads if use_roads else None,
                      self.venues if use_venues else None)


@lru_cache(maxsize=2)
def _demo(seed: int = 0):
    """The generated demo world (pure function of the seed; cached, never mutated)."""
    from core.data.demo import make_demo_world

    return make_demo_world(seed)


def load_inputs(cfg: RunConfig) -> tuple[TrajectoryDataset, RoadNetwork | None, np.ndarray]:
    """Raw dataset, road network and venue list named by the config."""
    if cfg.dataset == DEMO:
        world = _demo()
        net = world.network
        venues = np.stack([net.lat[world.city.venue_node], net.lon[world.city.venue_node]], 1)
        roads = net
    else:
        ds, roads = resolve_dataset(cfg.dataset, cfg.format)
        world, venues = None, None
    ds = world.dataset if world is not None else ds
    if cfg.roads:
        from core.geo.loaders import load_road_network

        roads = load_road_network(cfg.roads)
    return ds, roads, venues


def prepare(cfg: RunConfig, raw: TrajectoryDataset | None = None, roads: RoadNetwork | None = None,
            venues: np.ndarray | None = None) -> Prepared:
    """Preprocess, pick the clients (seeded), build model/federation specs and held-out windows.

    `raw`/`roads` may be given directly (the dashboard passes uploaded data this way).
    """
    if raw is None:
        raw, roads, venues = load_inputs(cfg)
    ds = preprocess(raw, cfg.min_gap_minutes)
    if roads is not None:
        _check_coverage(ds, roads)
    fed = FedConfig(rounds=cfg.rounds, window=cfg.window, batch=cfg.batch, algorithm=cfg.algorithm,
                    server_lr=cfg.server_lr, local_lr=cfg.local_lr, local_steps=cfg.local_steps,
                    clients_per_round=cfg.clients_per_round, seed=cfg.seed,
                    server_optimizer=cfg.server_optimizer)
    rng = np.random.default_rng(cfg.seed)
    users = select_users(ds, cfg.clients, fed.min_points, rng)
    norm = Normalizer(ds.bbox)
    pop = ClientPopulation.from_trajectories(users, norm)
    vocab = np.unique(np.concatenate(pop.latlon), axis=0)
    model = ModelSpec(cfg.model, cfg.hidden, cfg.head,
                      len(vocab) if cfg.head == "classification" else 0)
    hx, hy = pop.heldout_windows(fed.rounds + fed.window + fed.batch - 1, fed.window,
                                 HELDOUT_PER_CLIENT)
    v = ds.locations if venues is None else venues
    return Prepared(cfg, ds, roads, pop, norm, v, vocab, model, fed, hx, hy)


def _check_coverage(ds: TrajectoryDataset, roads: RoadNetwork) -> None:
    """Refuse a road network that does not overlap the data at all (a user mistake)."""
    inside = roads.bbox.contains(ds.locations[:, 0], ds.locations[:, 1])
    if not inside.any():
        b = roads.bbox
        raise InputError(
            f"road network {roads.name!r} (lat {b.lat_min:.4f}..{b.lat_max:.4f}, lon "
            f"{b.lon_min:.4f}..{b.lon_max:.4f}) does not cover any location of dataset "
            f"{ds.name!r}; pass a network of the same area")
