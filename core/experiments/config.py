"""The one run configuration: a frozen dataclass tree, validated once when built (nanoGPT-style).

    RunConfig(preset, data, model, federation, attack, defense, evaluation, sweep)

Every field is declared once with `param(...)` (default, range or choices, help); the CLI's
flags (`core.cli.flags`) and the dashboard's widgets (`ui.forms`) are generated from these
declarations. Field names are unique across sections, so a configuration also has a flat form:
`to_dict()` writes the flat JSON stored in every result (the shape results have always had, plus
`preset` and the new fields), `from_dict()` reads it back, and `RunConfig.build(**flat)` /
`cfg.with_(**flat)` construct and derive configurations by field name.

Presets (DESIGN §2) change defaults, never what the user set explicitly:
- `paper`: the paper's setting — LSTM regression head on raw normalised inputs, the streaming
  protocol (one window per client per round), FedSGD with a plain server step, ε per round.
- `realistic`: what deployed next-location FL looks like — a classification head over the
  location vocabulary with a fixed public input scale, hidden 64, the history protocol (each
  round a client trains on all its windows so far), server Adam.
"""
from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Iterator, Mapping

from core.attacks.calibration import MODES as CALIBRATE
from core.errors import ParameterError
from core.experiments.params import FieldInfo, check_value, field_info, param, parse_pairs

PRIORS = ("auto", "roads", "venues", "roads+venues")
LABEL_MODES = ("own", "joint", "analytic", "both")
CALIBRATION_MODES = ("own",) + CALIBRATE
COMPONENTS = ("initialisation", "mapping", "calibration")
PAPER_ATTACKS = ("dlg", "idlg", "invgrad", "cpl", "sapag", "st-gia")
DEFAULT_DEFENSES = ("dpsgd", "geoi", "geogi", "adaptive")
DEFAULT_EPSILONS = (1.0, 5.0, 10.0, 20.0, 50.0)
SCOPES = ("round", "total")
PROTOCOLS = ("streaming", "history")
# What each model's upload gives away (shown under the model choice in the dashboard).
MODEL_REVEALS = (
    ("lstm", "Its upload reveals coordinates only through optimisation: the server must invert "
             "the recurrent weights' gradient (one-point windows: in closed form)."),
    ("gru", "Like the LSTM: the places are found by inverting the recurrent weights' gradient."),
    ("deepmove", "Its upload names every place the user fed in outright: only the embedding rows "
                 "of visited locations are non-zero, and the output bias names the next one."),
)
EXECUTORS = ("local", "serial", "ray")
# sweep fields that say how cells run, not what they compute (left out of cell keys and forms)
EXECUTION_FIELDS = ("executor", "ray_address", "processes")


def _attack_names() -> list[str]:
    from core.attacks.registry import names
    return names()


def _defense_names() -> list[str]:
    from core.defenses.registry import names
    return names()


def _defended_names() -> list[str]:
    return [n for n in _defense_names() if n != "none"]


def _format_names() -> list[str]:
    from core.data.formats import format_names
    return format_names()


class Section:
    """Base of the config sections: validates every field against its declaration."""

    def __post_init__(self) -> None:
        for info in section_fields(type(self)):
            object.__setattr__(self, info.name, check_value(info, getattr(self, info.name)))


@dataclass(frozen=True)
class DataConfig(Section):
    dataset: str = param("demo", "'demo' (the embedded demo city) or a trajectory file",
                         label="Dataset", metavar="demo|PATH")
    format: str | None = param(None, "trajectory file format (default: recognised from the "
                               "file's first line)", label="Format", choices=_format_names,
                               none_label="auto")
    columns: str | None = param(None, "csv format: header names, e.g. user=uid,time=ts,lat=y,lon=x "
                                "(default: common names are recognised)", label="Columns",
                                metavar="ROLE=NAME,...")
    skip_bad_rows: bool = param(False, "skip malformed rows (counted) instead of stopping at "
                                "the first one", label="Skip malformed rows")
    max_rows: int | None = param(None, "read at most this many data rows", label="Max rows",
                                 low=1, advanced=True)
    min_gap_minutes: float = param(10.0, "preprocessing: keep points at least this many minutes "
                                   "apart", label="Min gap (minutes)", low=0.0, high=1440.0,
                                   advanced=True)
    roads: str | None = param(None, "road network: .graphml, .osm, NODES.csv,EDGES.csv or "
                              "place:NAME", label="Road network", metavar="SPEC")
    encoding: str | None = param(None, "text encoding of the trajectory file, e.g. latin-1, "
                                 "cp1252, shift_jis, utf-16 (default: a byte-order mark's, else "
                                 "utf-8; latin-1 for foursquare)", label="Encoding",
                                 metavar="CODEC", advanced=True)
    road_encoding: str | None = param(None, "text encoding of a NODES.csv,EDGES.csv road pair "
                                      "(default: a byte-order mark's, else utf-8)",
                                      label="Road CSV encoding", metavar="CODEC", advanced=True)
    road_columns: str | None = param(None, "road CSV pair: header names, e.g. node=name,lat=y,"
                                     "lon=x,u=from,v=to (default: common names are recognised)",
                                     label="Road CSV columns", metavar="ROLE=NAME,...",
                                     advanced=True)


@dataclass(frozen=True)
class ModelConfig(Section):
    model: str = param("lstm", "next-location model: an LSTM or GRU over coordinates (the "
                       "paper), or deepmove: location embeddings, a GRU and attention over the "
                       "user's history (classification head only)", label="Model",
                       choices=("lstm", "gru", "deepmove"), captions=MODEL_REVEALS)
    head: str = param("regression", "output: regress the next point (the paper) or classify "
                      "over the location vocabulary", label="Head",
                      choices=("regression", "classification"))
    hidden: int = param(16, "hidden units (paper: 16)", label="Hidden units", low=1, high=1024,
                        advanced=True)
    input_scale: float = param(1.0, "fixed public input scale: the model sees 0.5 + (x - 0.5)·s "
                               "of the normalised coordinates (1 = the paper; 20 ≈ 2.4 km per "
                               "unit on NYC)", label="Input scale", low=0.0, high=1000.0,
                               low_open=True, advanced=True)

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.model == "deepmove" and self.head != "classification":
            raise ParameterError("head", self.head, "classification with model deepmove (it "
                                 "scores every vocabulary location; try --preset realistic)")


@dataclass(frozen=True)
class FederationConfig(Section):
    clients: int = param(100, "users taking part (one client each)", label="Clients",
                         low=1, high=10_000)
    rounds: int = param(50, "federated rounds", label="Rounds", low=1, high=10_000)
    window: int = param(1, "points per training window (the target is the next point)",
                        label="Window", low=1, high=50)
    batch: int = param(1, "streaming protocol: windows per client per round", label="Batch",
                       low=1, high=64, advanced=True)
    protocol: str = param("streaming", "streaming: each round a client trains on its newest "
                          "window (the paper); history: on all its windows so far",
                          label="Training protocol", choices=PROTOCOLS)
    history: int = param(0, "history protocol: train on the last H windows (0 = all)",
                         label="History windows (0 = all)", low=0, high=10_000, advanced=True)
    algorithm: str = param("fedsgd", "FedSGD (upload the gradient) or FedAvg (local steps, "
                           "upload the model delta)", label="Algorithm",
                           choices=("fedsgd", "fedavg"), advanced=True)
    server_optimizer: str = param("sgd", "server step: plain SGD or Adam (FedAdam)",
                                  label="Server optimiser", choices=("sgd", "adam"), advanced=True)
    server_lr: float = param(0.1, "server learning rate", label="Server learning rate",
                             low=0.0, high=100.0, low_open=True, advanced=True)
    local_lr: float = param(0.1, "FedAvg: clients' local learning rate", label="Local learning rate",
                            low=0.0, high=100.0, low_open=True, advanced=True)
    local_steps: int = param(5, "FedAvg: local steps per round", label="Local steps",
                             low=1, high=1000, advanced=True)
    clients_per_round: int = param(0, "clients sampled per round (0 = all)",
                                   label="Clients per round (0 = all)", low=0, high=10_000,
                                   advanced=True)
    seed: int = param(0, "seed of every random choice (clients, init, noise, attack)",
                      label="Seed", low=0, high=2**32 - 1)

    def __post_init__(self) -> None:
        super().__post_init__()
        self.fed()  # the round loop's own rules across fields (protocol, history, batch)

    def fed(self) -> "FedConfig":
        """The round loop's settings (`core.federated.rounds.FedConfig`)."""
        from core.federated.rounds import FedConfig

        return FedConfig(**{f.name: getattr(self, f.name) for f in dataclasses.fields(FedConfig)})


@dataclass(frozen=True)
class AttackConfig(Section):
    attack: str = param("st-gia", "the curious server's attack", label="Attack",
                        choices=_attack_names)
    iters: int = param(200, "gradient-matching iterations per round (paper: 200)",
                       label="Attack iterations", low=1, high=100_000)
    prior: str = param("auto", "mapping prior: auto = the road network (points more than 200 m "
                       "from every road are left alone) or, without one, the known venues; "
                       "roads+venues = whichever is nearer", label="Mapping prior", choices=PRIORS, advanced=True)
    disable: tuple[str, ...] = param((), "ST-GIA components to switch off (ablation)",
                                     label="Switch off", choices=COMPONENTS, metavar="C,...")
    calibration: str = param("own", "how ST-GIA's calibration combines a point's recoveries: own "
                             "= the recipe's rule (converged for st-gia, residual for st-gia+); "
                             "mean = paper Eq. 9; residual = the recovery that best matched its "
                             "upload; converged = as residual, but only a recovery from a "
                             "matched upload (relative residual ≤ 1e-6) replaces one",
                             label="Calibration", choices=CALIBRATION_MODES, advanced=True)
    label: str = param("own", "how every attack gets the label: own = its recipe's way; joint = "
                       "optimised with the input from N(0, 1) (DLG); analytic = read off the output "
                       "layer's gradient (iDLG); both (compare-attacks only) = each attack twice, "
                       "for a like-for-like table", label="Label", choices=LABEL_MODES,
                       advanced=True)
    workers: int = param(1, "processes sharing each round's inversion (0 = auto: all cores in a "
                         "top-level run, 1 inside a worker process or thread, or whatever "
                         "ST_GIA_WORKERS says); results do not depend on it", label="Worker processes",
                         low=0, high=64, advanced=True)


@dataclass(frozen=True)
class DefenseConfig(Section):
    defense: str = param("none", "client-side privacy defense", label="Defense",
                         choices=_defense_names)
    epsilon: float | None = param(None, "privacy budget (location mechanisms: per km; DP-SGD: "
                                  "with δ); per round or per run, see --epsilon-scope",
                                  label="ε", low=0.0, high=1e6, low_open=True)
    epsilon_scope: str = param("round", "round: every round's release gets ε (the paper); "
                               "total: ε per user over the whole run", label="ε scope",
                               choices=SCOPES)
    delta: float = param(1e-5, "DP-SGD: δ", label="δ", low=0.0, high=0.1, low_open=True,
                         advanced=True)
    clip_norm: float = param(1.0, "DP-SGD: clipping norm C", label="Clip norm C", low=0.0,
                             high=1e6, low_open=True, advanced=True)
    alpha: float = param(0.5, "adaptive: weight α of ASR in γ (β = 1 − α), paper Eq. 10",
                         label="α (adaptive)", low=0.0, high=1.0, advanced=True)
    reuse: bool = param(False, "location mechanisms: perturb each trajectory point once and "
                        "reuse the noisy point in later rounds (it pays for it once)",
                        label="Perturb each point once", advanced=True)
    radius_km: float = param(2.0, "adaptive: constraint-domain radius around visited places",
                             label="Domain radius (km)", low=0.0, high=1000.0, advanced=True)


@dataclass(frozen=True)
class EvaluationConfig(Section):
    threshold_m: float = param(500.0, "ASR success radius in metres (paper: 500)",
                               label="Success radius (m)", low=0.0, high=1e7, low_open=True,
                               advanced=True)
    heldout_per_client: int = param(5, "held-out windows per client for utility",
                                    label="Held-out windows per client", low=1, high=1000,
                                    advanced=True)


@dataclass(frozen=True)
class SweepConfig(Section):
    attacks: tuple[str, ...] = param(PAPER_ATTACKS, "attacks to compare", label="Attacks", nonempty=True,
                                     choices=_attack_names, metavar="A,...")
    base: str = param("st-gia", "the ST-GIA variant to ablate", label="Base attack",
                      choices=("st-gia", "st-gia+"))
    components: tuple[str, ...] = param(COMPONENTS, "components switched off in turn",
                                        label="Components", nonempty=True, choices=COMPONENTS, metavar="C,...")
    defenses: tuple[str, ...] = param(DEFAULT_DEFENSES, "defenses to sweep", label="Defenses", nonempty=True,
                                      choices=_defense_names, metavar="D,...")
    epsilons: tuple[float, ...] = param(DEFAULT_EPSILONS, "privacy budgets to sweep", label="ε values", nonempty=True,
                                        low=0.0, high=1e6, low_open=True, metavar="E,...")
    # how a sweep runs (core.experiments.grid): never part of a cell's result or its cache key
    seeds: tuple[int, ...] = param((), "run every cell once per seed and report mean ± 95 % CI "
                                   "(Student t) across seeds (default: just --seed)",
                                   label="Seeds", low=0, high=2**32 - 1, metavar="S,...",
                                   advanced=True)
    executor: str = param("local", "where a sweep's cells run: local worker processes, serial "
                          "(one after another in this process) or ray (a Ray cluster)",
                          label="Executor", choices=EXECUTORS, advanced=True)
    ray_address: str | None = param(None, "--executor ray: a running cluster's address, e.g. "
                                    "10.0.0.5:6379 or auto (default: start a local instance)",
                                    label="Ray address", metavar="HOST:PORT", advanced=True)
    processes: int = param(0, "worker processes of --executor local, CPUs of a local Ray "
                           "instance (0 = one per core)", label="Processes", low=0, high=4096,
                           advanced=True)


SECTIONS: dict[str, type[Section]] = {
    "data": DataConfig, "model": ModelConfig, "federation": FederationConfig,
    "attack": AttackConfig, "defense": DefenseConfig, "evaluation": EvaluationConfig,
    "sweep": SweepConfig,
}

PRESETS: dict[str, Mapping[str, Any]] = {
    "paper": {},
    "realistic": {"head": "classification", "input_scale": 20.0, "hidden": 64,
                  "protocol": "history", "server_optimizer": "adam", "server_lr": 0.1},
}


TRAJECTORY_ROLES = ("user", "time", "lat", "lon")
ROAD_ROLES = ("node", "lat", "lon", "u", "v")
ROAD_ROLE_ALIASES = {"y": "lat", "x": "lon"}


def _check_text_options(d: DataConfig) -> None:
    """Encodings and column mappings are checked when the config is built, before data loads."""
    from core.files import check_encoding

    check_encoding(d.encoding, "encoding")
    check_encoding(d.road_encoding, "road_encoding")
    parse_pairs(d.columns, "columns", TRAJECTORY_ROLES)
    parse_pairs(d.road_columns, "road_columns", ROAD_ROLES, ROAD_ROLE_ALIASES)


@lru_cache(maxsize=None)
def section_fields(cls: type) -> tuple[FieldInfo, ...]:
    section = next((k for k, v in SECTIONS.items() if v is cls), cls.__name__)
    hints = typing.get_type_hints(cls)
    return tuple(field_info(section, f, hints) for f in dataclasses.fields(cls))


def all_fields() -> dict[str, FieldInfo]:
    """Every configuration field by (unique) name, in declaration order."""
    return {f.name: f for cls in SECTIONS.values() for f in section_fields(cls)}


def preset_default(name: str, preset: str = "paper") -> Any:
    """A field's default under `preset`."""
    return PRESETS[preset].get(name, all_fields()[name].default)


@dataclass(frozen=True)
class RunConfig:
    """Everything that determines a run; the same config gives the same result."""

    preset: str = "paper"
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    federation: FederationConfig = field(default_factory=FederationConfig)
    attack: AttackConfig = field(default_factory=AttackConfig)
    defense: DefenseConfig = field(default_factory=DefenseConfig)
    evaluation: EvaluationConfig = field(default_factory=EvaluationConfig)
    sweep: SweepConfig = field(default_factory=SweepConfig)

    def __post_init__(self) -> None:
        if self.preset not in PRESETS:
            raise ParameterError("preset", self.preset, f"one of {', '.join(PRESETS)}")
        d = self.data
        if d.dataset == "demo":
            for name in ("format", "columns", "max_rows", "encoding"):
                if getattr(d, name) is not None:
                    raise ParameterError(name, getattr(d, name), "nothing with the demo dataset "
                                         "(it is generated, not read from a file)")
            if d.skip_bad_rows:
                raise ParameterError("skip_bad_rows", True, "false with the demo dataset")
        if d.columns is not None and d.format not in (None, "csv"):
            raise ParameterError("columns", d.columns, f"only with format csv, not {d.format}")
        for name in ("road_encoding", "road_columns"):
            if getattr(d, name) is not None and not d.roads:
                raise ParameterError(name, getattr(d, name), "nothing without --roads (it "
                                     "describes a NODES.csv,EDGES.csv road pair)")
        _check_text_options(d)

    # ---- flat views --------------------------------------------------------------------------
    @staticmethod
    def build(preset: str = "paper", **values: Any) -> "RunConfig":
        """A config from flat field names; fields not given take the preset's defaults."""
        if preset not in PRESETS:
            raise ParameterError("preset", preset, f"one of {', '.join(PRESETS)}")
        fields = all_fields()
        unknown = [k for k in values if k not in fields]
        if unknown:
            raise ParameterError("config", unknown[0], f"a field name: {', '.join(fields)}")
        merged = {**PRESETS[preset], **values}
        parts = {}
        for section, cls in SECTIONS.items():
            names = [f.name for f in section_fields(cls)]
            parts[section] = cls(**{k: merged[k] for k in names if k in merged})
        return RunConfig(preset=preset, **parts)

    def with_(self, **values: Any) -> "RunConfig":
        """A copy with some flat fields replaced (validated again)."""
        return RunConfig.build(self.preset, **{**self.explicit(), **values})

    def explicit(self) -> dict[str, Any]:
        """Fields whose value differs from the preset's default."""
        return {k: v for k, v in self.items() if v != preset_default(k, self.preset)}

    def items(self) -> Iterator[tuple[str, Any]]:
        for section in SECTIONS:
            sec = getattr(self, section)
            for info in section_fields(type(sec)):
                yield info.name, getattr(sec, info.name)

    def get(self, name: str) -> Any:
        info = all_fields()[name]
        return getattr(getattr(self, info.section), name)

    def to_dict(self) -> dict[str, Any]:
        """Flat JSON-ready dict: preset and every field (tuples as lists)."""
        return {"preset": self.preset,
                **{k: list(v) if isinstance(v, tuple) else v for k, v in self.items()}}

    @staticmethod
    def from_dict(doc: Mapping[str, Any]) -> "RunConfig":
        """Read `to_dict()`'s output back (fields missing from an older result take defaults;
        keys that are not configuration fields, e.g. a result's labels, are ignored)."""
        fields = all_fields()
        preset = doc.get("preset", "paper")
        return RunConfig.build(preset, **{k: v for k, v in doc.items() if k in fields})
