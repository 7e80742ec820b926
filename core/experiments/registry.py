"""The experiment registry: one entry per experiment, each `run(config, progress, should_stop)`
returning its result document. The CLI subcommands (`core.cli`) and the dashboard pages are thin
adapters over this dict (DESIGN §7), so an experiment exists once.

`fields` names the configuration fields an experiment reads: the CLI makes exactly these flags,
the pages exactly these widgets, and `check` refuses a config that sets any other field away
from its preset default ("an option that does not apply is an error, not silently ignored").
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from core.errors import ParameterError
from core.experiments import compare, defenses, single
from core.experiments.config import RunConfig, all_fields, preset_default

Progress = Callable[[dict], None]
ShouldStop = Callable[[], bool]

_DATA = ("dataset", "format", "columns", "skip_bad_rows", "max_rows", "min_gap_minutes", "roads",
         "encoding", "road_encoding", "road_columns")
_MODEL = ("model", "head", "hidden", "input_scale")
_FED = ("clients", "rounds", "window", "batch", "protocol", "history", "algorithm",
        "server_optimizer", "server_lr", "local_lr", "local_steps", "clients_per_round", "seed")
_EVAL = ("threshold_m", "heldout_per_client")
_BUDGET = ("epsilon_scope", "delta", "clip_norm", "alpha", "reuse", "radius_km")
_GRID = ("seeds", "executor", "ray_address", "processes")  # every experiment is a grid of cells
_RUN = _DATA + _MODEL + _FED + _EVAL + ("workers",) + _GRID  # workers: processes per inversion


@dataclass(frozen=True)
class Experiment:
    """An experiment: what it is, which configuration fields it reads, how to run it."""

    name: str
    help: str
    fields: tuple[str, ...]
    run: Callable[..., dict]
    needs_defense: bool = False   # `defense`/`epsilon` are read (epsilon iff a defense is set)

    def check(self, cfg: RunConfig) -> None:
        """Refuse fields this experiment does not read but the config sets, and a missing or
        superfluous ε."""
        for name, value in cfg.items():
            if name not in self.fields and value != preset_default(name, cfg.preset):
                flag = all_fields()[name].flag
                raise ParameterError(name, value, f"its default ({preset_default(name, cfg.preset)!r}): "
                                     f"{flag} does not apply to {self.name}")
        if self.needs_defense:
            d = cfg.defense
            if d.defense == "none" and d.epsilon is not None:
                raise ParameterError("epsilon", d.epsilon, "nothing without a defense (pick a "
                                     "--defense, or leave --epsilon out)")
            if d.defense != "none" and d.epsilon is None:
                raise ParameterError("epsilon", None, f"a number > 0 for defense {d.defense!r}")

    def __call__(self, cfg: RunConfig, progress: Progress | None = None,
                 should_stop: ShouldStop | None = None, **kwargs) -> dict:
        self.check(cfg)
        return self.run(cfg, progress=progress, should_stop=should_stop, **kwargs)


def _needs_epsilon(cfg: RunConfig) -> None:
    if cfg.defense.epsilon is None:
        raise ParameterError("epsilon", None, "a number > 0: the budget every defense gets")


def _defense_maps(cfg: RunConfig, **kwargs) -> dict:
    _needs_epsilon(cfg)
    return single.run_defense_maps(cfg, **kwargs)


EXPERIMENTS: dict[str, Experiment] = {
    "attack": Experiment(
        "attack", "federated training with a curious server running one attack",
        _RUN + ("attack", "iters", "prior", "disable", "label", "calibration", "defense", "epsilon") + _BUDGET,
        single.run_attack, needs_defense=True),
    "compare-attacks": Experiment(
        "compare-attacks", "several attacks on one training run (Tables 3/4)",
        _RUN + ("iters", "prior", "attacks", "label", "calibration", "defense", "epsilon") + _BUDGET,
        compare.compare_attacks, needs_defense=True),
    "ablation": Experiment(
        "ablation", "ST-GIA with each component switched off in turn (Fig. 4)",
        _RUN + ("iters", "prior", "base", "components", "label", "calibration", "defense", "epsilon") + _BUDGET,
        compare.ablation, needs_defense=True),
    "compare-defenses": Experiment(
        "compare-defenses", "ASR and final recall@5 per defense and ε (Table 5, Fig. 5)",
        _RUN + ("attack", "iters", "prior", "defenses", "epsilons") + _BUDGET,
        defenses.compare_defenses),
    "defense-maps": Experiment(
        "defense-maps", "the same users attacked under each defense at one ε (side-by-side maps)",
        _RUN + ("attack", "iters", "prior", "defenses", "epsilon") + _BUDGET,
        _defense_maps),
}


def get(name: str) -> Experiment:
    if name not in EXPERIMENTS:
        raise ParameterError("experiment", name, f"one of {', '.join(EXPERIMENTS)}")
    return EXPERIMENTS[name]


def register(exp: Experiment) -> None:
    """Add an experiment; a second one under the same name is a bug."""
    if exp.name in EXPERIMENTS:
        raise ValueError(f"experiment {exp.name!r} is already registered")
    EXPERIMENTS[exp.name] = exp
