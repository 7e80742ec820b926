"""Typed result records: one per round (`RoundRow`), one per run (`Summary`), one per sweep cell
(`SweepCell`). Each serialises with `to_dict()` to the documented JSON (README, "Result
documents"); the documents themselves are built in `core.experiments.report` and the experiment
modules. Numbers are rounded to 6 digits; NaN becomes null.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any, Sequence

import numpy as np


def num(v: Any) -> float | None:
    """A JSON-ready number: None for missing or NaN, else rounded to 6 digits."""
    if v is None:
        return None
    v = float(v)
    return None if math.isnan(v) else round(v, 6)


def mean_of(values: Sequence[float | None]) -> float | None:
    """Mean of the values that are not None/NaN (None if there are none)."""
    vals = [float(v) for v in values if v is not None and not math.isnan(float(v))]
    return num(np.mean(vals)) if vals else None


@dataclass(frozen=True)
class RoundRow:
    """One round of one attack: attack scores, the global model's utility after the round, and
    the privacy budget (ε of this round and the total spent so far under the run's scope)."""

    round: int
    asr: float | None = None
    ait: float | None = None
    ait_success: float | None = None
    median_error_m: float | None = None
    recall_at_5: float | None = None
    acc_at_1: float | None = None
    median_pred_error_m: float | None = None
    epsilon_round: float | None = None
    epsilon_spent: float | None = None
    asr_final: float | None = None
    median_error_final_m: float | None = None
    attack_seconds: float | None = None
    slot_accuracy: float | None = None  # embedding-row attack: input time slots read correctly

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Summary:
    """A run in one line: means over rounds, round 1 and the last round, the *final* global
    model's utility (what the trade-off uses) beside its baselines, and the budget."""

    rounds_run: int
    mean_asr: float | None
    mean_ait: float | None
    mean_asr_final: float | None
    mean_recall_at_5: float | None
    first_round_asr: float | None
    last_round_asr: float | None
    final_recall_at_5: float | None
    final_acc_at_1: float | None
    final_median_pred_error_m: float | None
    epsilon_round: float | None
    epsilon_spent: float | None
    epsilon_total: float | None
    wall_seconds: float
    baselines: dict[str, float] = field(default_factory=dict)

    @staticmethod
    def of(rows: Sequence[RoundRow], seconds: float, epsilon_total: float | None = None,
           baselines: dict[str, float] | None = None) -> "Summary":
        last = rows[-1] if rows else RoundRow(0)
        first_eps = rows[0].epsilon_round if rows else None
        return Summary(
            rounds_run=len(rows), mean_asr=mean_of([r.asr for r in rows]),
            mean_ait=mean_of([r.ait for r in rows]),
            mean_asr_final=mean_of([r.asr_final for r in rows]),
            mean_recall_at_5=mean_of([r.recall_at_5 for r in rows]),
            first_round_asr=rows[0].asr if rows else None, last_round_asr=last.asr,
            final_recall_at_5=last.recall_at_5, final_acc_at_1=last.acc_at_1,
            final_median_pred_error_m=last.median_pred_error_m,
            epsilon_round=first_eps, epsilon_spent=last.epsilon_spent,
            epsilon_total=num(epsilon_total), wall_seconds=round(seconds, 3),
            baselines=dict(baselines or {}))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class SweepCell:
    """One defense at one ε in a defense sweep (Table 5 / Fig. 5): ASR (mean over rounds), the
    final global model's utility, and the budget actually allocated."""

    defense: str
    epsilon: float | None
    asr: float | None
    final_recall_at_5: float | None
    final_acc_at_1: float | None
    recall_at_5: float | None          # mean over rounds (the per-round curve's mean)
    median_pred_error_m: float | None  # final model
    asr_per_round: list[float]
    allocation: list[float]
    epsilon_spent: float | None
    epsilon_total: float | None
    seconds: float
    noise_multiplier: float | None = None

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d.pop("defense"), d.pop("epsilon")
        d["spent"] = d["epsilon_spent"]  # the key older documents used
        return d
