"""The frozen run configuration shared by the CLI and the dashboard (nanoGPT-style config)."""
from __future__ import annotations

from dataclasses import asdict, dataclass

from core.errors import check_range


@dataclass(frozen=True)
class RunConfig:
    """Everything that determines a run; same config and seed → same result."""

    dataset: str = "demo"
    format: str | None = None
    roads: str | None = None
    attack: str = "st-gia"
    defense: str = "none"
    epsilon: float | None = None
    clients: int = 100
    rounds: int = 50
    window: int = 1
    batch: int = 1
    iters: int = 200
    seed: int = 0
    model: str = "lstm"
    head: str = "regression"
    hidden: int = 16
    algorithm: str = "fedsgd"
    server_lr: float = 0.1
    server_optimizer: str = "sgd"
    local_lr: float = 0.1
    local_steps: int = 5
    clients_per_round: int = 0
    min_gap_minutes: float = 10.0
    threshold_m: float = 500.0
    prior: str = "auto"  # mapping prior: auto | roads | venues | roads+venues

    def __post_init__(self) -> None:
        check_range("clients", self.clients, 1, 10_000)
        check_range("rounds", self.rounds, 1, 10_000)
        check_range("window", self.window, 1, 50)
        check_range("iters", self.iters, 1, 100_000)
        check_range("hidden", self.hidden, 1, 1024)
        check_range("threshold_m", self.threshold_m, 0.0, low_open=True)
        if self.epsilon is not None:
            check_range("epsilon", self.epsilon, 0.0, low_open=True)

    def to_dict(self) -> dict:
        return asdict(self)
