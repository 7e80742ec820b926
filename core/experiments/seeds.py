"""Several seeds of one experiment: which seeds run, and mean ± 95 % confidence interval.

`--seeds 0,1,2` runs every cell of an experiment once per seed (the seed picks the clients, the
model's initialisation, every defense's noise and the attack's dummies). Numbers are then reported
as the mean across seeds with the half-width of a two-sided 95 % Student-t interval,
t(0.975, n − 1) · s / √n (s: sample standard deviation); with one seed the half-width is None and
the documents are exactly the single-seed ones.
"""
from __future__ import annotations

import math
from typing import Any, Sequence

from core.errors import ParameterError
from core.experiments.config import RunConfig, preset_default
from core.experiments.results import num


def seeds_of(cfg: RunConfig) -> tuple[int, ...]:
    """The seeds to run: `sweep.seeds`, or just `federation.seed` when none are given."""
    seeds = cfg.sweep.seeds
    if not seeds:
        return (cfg.federation.seed,)
    if cfg.federation.seed != preset_default("seed", cfg.preset):
        raise ParameterError("seeds", ",".join(map(str, seeds)),
                             "either --seed or --seeds, not both")
    return tuple(seeds)


def ci95(values: Sequence[float | None]) -> tuple[float | None, float | None]:
    """(mean, half-width of the 95 % Student-t interval) of the values that are numbers; the
    half-width is None with fewer than two values."""
    vals = [float(v) for v in values if v is not None and not math.isnan(float(v))]
    if not vals:
        return None, None
    mean = sum(vals) / len(vals)
    if len(vals) < 2:
        return num(mean), None
    from scipy.stats import t

    sd = math.sqrt(sum((v - mean) ** 2 for v in vals) / (len(vals) - 1))
    return num(mean), num(float(t.ppf(0.975, len(vals) - 1)) * sd / math.sqrt(len(vals)))


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _number_lists(vals: Sequence[Any]) -> bool:
    return (all(isinstance(x, list) for x in vals) and len({len(x) for x in vals}) == 1
            and all(x is None or _is_number(x) for v in vals for x in v)
            and any(_is_number(x) for v in vals for x in v))


def mean_rows(rows_by_seed: Sequence[Sequence[dict]], key: str = "round") -> tuple[list[dict], list[dict]]:
    """Per-round rows of several seeds -> (rows of means, rows of CI half-widths), matched on
    `key` (the rounds every seed ran)."""
    common = set.intersection(*(set(r[key] for r in rows) for rows in rows_by_seed))
    by_seed = [{r[key]: r for r in rows} for rows in rows_by_seed]
    means, cis = [], []
    for k in sorted(common):
        m, c = mean_dict([b[k] for b in by_seed])
        means.append({**m, key: k})
        cis.append({**c, key: k})
    return means, cis


def mean_dict(docs: Sequence[dict]) -> tuple[dict, dict]:
    """Dicts of the same shape -> (mean of each numeric field, CI half-width of each); fields that
    are not numbers are taken from the first dict, nested dicts are averaged field by field."""
    first = docs[0]
    means: dict = {}
    cis: dict = {}
    for k, v in first.items():
        vals = [d.get(k) for d in docs]
        if isinstance(v, dict) and all(isinstance(x, dict) for x in vals):
            means[k], cis[k] = mean_dict(vals)
        elif all(x is None or _is_number(x) for x in vals) and any(_is_number(x) for x in vals):
            means[k], cis[k] = ci95(vals)
        elif _number_lists(vals):  # e.g. ASR per round: element by element
            pairs = [ci95(col) for col in zip(*vals)]
            means[k], cis[k] = [m for m, _ in pairs], [c for _, c in pairs]
        else:
            means[k] = v
    return means, cis


def pm(mean: float | None, half: float | None, digits: int = 3) -> str:
    """'0.123 ± 0.045' ('–' for no value; no ± with one seed)."""
    if mean is None:
        return "–"
    return f"{mean:.{digits}f}" + ("" if half is None else f" ± {half:.{digits}f}")
