"""From a RunConfig to everything a run needs: data, roads, clients, model, mapping prior."""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import torch

from core.attacks.mapping import Mapper
from core.data.preprocess import Normalizer, preprocess, select_users
from core.data.trajectory import TrajectoryDataset, unique_rows
from core.demo.resolve import DEMO, resolve_dataset
from core.demo.world import make_demo_world
from core.errors import InputError, MalformedRowError, ParameterError
from core.experiments.config import (ROAD_ROLE_ALIASES, ROAD_ROLES, TRAJECTORY_ROLES, DataConfig,
                                     RunConfig)
from core.experiments.params import parse_pairs
from core.federated.clients import ClientPopulation
from core.federated.rounds import FedConfig
from core.geo.network import RoadNetwork
from core.models.recurrent import ModelSpec

HELDOUT_PER_CLIENT = 5  # the evaluation section's default (`heldout_per_client`)


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
    heldout_client: np.ndarray  # (N,) client index of each held-out window

    def with_population(self, pop: ClientPopulation) -> "Prepared":
        """The same run on other clients (the adaptive defense's proxy population), with their
        own held-out windows."""
        from dataclasses import replace

        return replace(self, population=pop, **heldout(pop, self.fed, self.config))

    @property
    def n_points(self) -> int:
        return max(len(p) for p in self.population.points)

    def with_config(self, cfg: RunConfig) -> "Prepared":
        """The same prepared data under a config that differs only in what preparation does
        not read (attack, defense, evaluation radius, sweep lists)."""
        from dataclasses import replace

        for section in ("data", "model", "federation"):
            if getattr(cfg, section) != getattr(self.config, section):
                raise ValueError(f"with_config: the {section} section differs; prepare() again")
        return replace(self, config=cfg)

    def for_config(self, cfg: RunConfig) -> "Prepared":
        """The same data prepared under `cfg` (another seed, model or evaluation setting
        re-picks the clients from the preprocessed dataset; the data section must match)."""
        if cfg.data != self.config.data:
            raise ValueError("for_config: the data section differs; prepare() again")
        same = all(getattr(cfg, s) == getattr(self.config, s)
                   for s in ("model", "federation", "evaluation"))
        return (self.with_config(cfg) if same
                else prepare_clean(cfg, self.dataset, self.roads, self.venues))

    def mapper(self) -> Mapper:
        """The mapping prior chosen by `config.prior` (auto: the road network when there is one,
        as in the paper, else the known venues; `core.attacks.mapping`)."""
        prior = self.config.attack.prior
        use_roads = prior in ("auto", "roads", "roads+venues") and self.roads is not None
        use_venues = prior in ("venues", "roads+venues") or self.roads is None
        if prior in ("roads", "roads+venues") and self.roads is None:
            raise InputError(f"prior {prior!r} needs a road network: pass --roads")
        return Mapper(self.normalizer, self.roads if use_roads else None,
                      self.venues if use_venues else None)


@lru_cache(maxsize=2)
def _demo(seed: int = 0):
    """The generated demo world (pure function of the seed; cached, never mutated)."""
    return make_demo_world(seed)


def load_inputs(cfg: RunConfig) -> tuple[TrajectoryDataset, RoadNetwork | None, np.ndarray]:
    """Raw dataset, road network and venue list named by the config's data section."""
    d = cfg.data
    if d.dataset == DEMO:
        world = _demo()
        net = world.network
        venues = np.stack([net.lat[world.city.venue_node], net.lon[world.city.venue_node]], 1)
        roads = net
    else:
        ds, roads = read_dataset(d)
        world, venues = None, None
    ds = world.dataset if world is not None else ds
    if d.roads:
        from core.geo.loaders import load_road_network

        roads = load_road_network(d.roads, encoding=d.road_encoding,
                                  columns=parse_road_columns(d.road_columns))
    return ds, roads, venues


def read_dataset(d: DataConfig) -> tuple[TrajectoryDataset, RoadNetwork | None]:
    """The trajectory file named by a data section, with its column mapping and row options."""
    try:
        return resolve_dataset(d.dataset, d.format, parse_columns(d.columns), d.max_rows,
                               bad_rows="skip" if d.skip_bad_rows else "error",
                               encoding=d.encoding)
    except MalformedRowError as exc:
        raise InputError(f"{exc} (pass --skip-bad-rows to skip and count such rows)") from exc


def parse_columns(text: str | None) -> dict | None:
    """'user=uid,time=ts' -> {'user': 'uid', 'time': 'ts'}."""
    return parse_pairs(text, "columns", TRAJECTORY_ROLES)


def parse_road_columns(text: str | None) -> dict | None:
    """'node=name,x=x,y=y' -> {'node': 'name', 'lon': 'x', 'lat': 'y'}."""
    return parse_pairs(text, "road_columns", ROAD_ROLES, ROAD_ROLE_ALIASES)


def prepare(cfg: RunConfig, raw: TrajectoryDataset | None = None, roads: RoadNetwork | None = None,
            venues: np.ndarray | None = None) -> Prepared:
    """Preprocess, pick the clients (seeded), build model/federation specs and held-out windows.

    `raw`/`roads` may be given directly (the dashboard passes uploaded data this way).
    """
    if raw is None:
        raw, roads, venues = load_inputs(cfg)
    ds = preprocess(raw, cfg.data.min_gap_minutes)
    if roads is not None:
        _check_coverage(ds, roads)
    return prepare_clean(cfg, ds, roads, ds.locations if venues is None else venues)


def prepare_clean(cfg: RunConfig, ds: TrajectoryDataset, roads: RoadNetwork | None,
                  venues: np.ndarray) -> Prepared:
    """`prepare` after preprocessing: pick the clients (seeded), build the model and federation
    specs and the held-out windows from an already preprocessed dataset."""
    fed = fed_config(cfg)
    rng = np.random.default_rng(cfg.federation.seed)
    users = select_users(ds, cfg.federation.clients, fed.min_points, rng)
    norm = Normalizer(ds.bbox)
    pop = ClientPopulation.from_trajectories(users, norm)
    ll = np.concatenate(pop.latlon)
    vocab = unique_rows(ll[:, 0], ll[:, 1])
    m = cfg.model
    model = ModelSpec(m.model, m.hidden, m.head, len(vocab) if m.head == "classification" else 0,
                      input_scale=m.input_scale, locations=_locations(m.model, norm, vocab))
    v = ds.locations if venues is None else venues
    return Prepared(cfg, ds, roads, pop, norm, v, vocab, model, fed, **heldout(pop, fed, cfg))


def _locations(model: str, norm: Normalizer, vocab: np.ndarray) -> torch.Tensor | None:
    """Embedding models index the vocabulary: its normalised coordinates, row v = location v."""
    if model != "deepmove":
        return None
    return torch.as_tensor(norm.normalize(vocab), dtype=torch.float32)


def heldout(pop: ClientPopulation, fed: FedConfig, cfg: RunConfig) -> dict[str, np.ndarray]:
    """The utility's held-out windows — the first `heldout_per_client` windows after each
    client's training range — and whose they are."""
    args = (fed.heldout_start, fed.window, cfg.evaluation.heldout_per_client)
    hx, hy = pop.heldout_windows(*args)
    return {"heldout_x": hx, "heldout_y": hy, "heldout_client": pop.heldout_clients(*args)}


def fed_config(cfg: RunConfig) -> FedConfig:
    """The round loop's settings, read from the federation section."""
    return cfg.federation.fed()


def _check_coverage(ds: TrajectoryDataset, roads: RoadNetwork) -> None:
    """Refuse a road network that does not overlap the data at all (a user mistake)."""
    inside = roads.bbox.contains(ds.locations[:, 0], ds.locations[:, 1])
    if not inside.any():
        b = roads.bbox
        raise InputError(
            f"road network {roads.name!r} (lat {b.lat_min:.4f}..{b.lat_max:.4f}, lon "
            f"{b.lon_min:.4f}..{b.lon_max:.4f}) does not cover any location of dataset "
            f"{ds.name!r}; pass a network of the same area")
