"""One federated run, attacked by one or more attacks on the same recorded uploads.

All attacks of an experiment see the same clients, the same global models and the same uploads
(the run is trained once), so comparing six attacks costs one training plus six attacks.
Progress goes through a callback; `should_stop()` lets a caller (the dashboard) stop between
rounds. Results are plain dicts ready for JSON.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import torch

from core.attacks.session import AttackSession, RoundAttack
from core.attacks.shards import resolve_workers
from core.attacks.spec import AttackSpec
from core.experiments.setup import Prepared
from core.federated.defense_hook import ClientDefense
from core.federated.rounds import run_rounds
from core.geo.distance import haversine
from core.metrics.baselines import baselines as reference_baselines
from core.metrics.utility import prediction_metrics
from core.federated.clients import window_points
from core.models.deepmove import is_embedding
from core.models.recurrent import forward

Progress = Callable[[dict], None]


@dataclass
class RunResult:
    """Per-attack round results plus per-round utility and budget."""

    prepared: Prepared
    attacks: dict[str, list[RoundAttack]] = field(default_factory=dict)
    utility: list[dict] = field(default_factory=list)
    budget: list[dict] = field(default_factory=list)
    final: dict[str, list[dict]] = field(default_factory=dict)
    final_points: dict[str, dict[int, tuple[np.ndarray, np.ndarray]]] = field(default_factory=dict)
    seconds: float = 0.0
    stopped: bool = False
    allocation: list[float] = field(default_factory=list)
    epsilon_total: float | None = None
    baselines: dict[str, float] = field(default_factory=dict)


def utility(prep: Prepared, params: dict[str, torch.Tensor]) -> dict[str, float]:
    """recall@5, acc@1 and median prediction error (m) of a global model on the held-out windows
    (DESIGN §4; regression head: vocabulary points ranked by distance to the prediction)."""
    nan = float("nan")
    if len(prep.heldout_x) == 0:
        return {"recall_at_5": nan, "acc_at_1": nan, "median_pred_error_m": nan}
    with torch.no_grad():
        out = _heldout_outputs(prep, params).numpy().astype(np.float64)
    if prep.model.head == "classification":
        m = prediction_metrics(prep.heldout_y, prep.vocab, logits=out)
    else:
        m = prediction_metrics(prep.heldout_y, prep.vocab,
                               pred_latlon=prep.normalizer.denormalize(out))
    return {"recall_at_5": m["recall_at_5"], "acc_at_1": m["acc_at_1"],
            "median_pred_error_m": m["median_error_m"]}


def _heldout_outputs(prep: Prepared, params: dict[str, torch.Tensor]) -> torch.Tensor:
    """(N, C) model outputs on the held-out windows. A model with history attention
    (`core.models.deepmove`) sees each client's windows in time order from its first point, so
    every held-out window attends over the windows before it, as in training."""
    if not is_embedding(prep.model):
        return forward(params, torch.as_tensor(prep.heldout_x, dtype=torch.float32)[None],
                       prep.model)[0]
    pop, W = prep.population, prep.fed.window
    n = prep.fed.heldout_start + prep.config.evaluation.heldout_per_client     # windows per client
    starts = np.arange(n)
    idx = [np.minimum(window_points(starts, W), len(p) - 1) for p in pop.points]   # (n, W+1) each
    x = torch.as_tensor(np.stack([p[i[:, :W]] for p, i in zip(pop.points, idx)]), dtype=torch.float32)
    slots = torch.as_tensor(np.stack([pop.point_slots(k)[i[:, :W]] for k, i in enumerate(idx)]))
    out = forward(params, x, prep.model, slots)                                    # (K, n, C)
    keep = np.stack([(starts >= prep.fed.heldout_start) & (starts < len(p) - W) for p in pop.points])
    return out[torch.as_tensor(keep)]


def baselines(prep: Prepared) -> dict[str, float]:
    """recall@5 of the four reference predictors on the same held-out windows (DESIGN §4):
    persistence, the user's own top 5, the global top 5, a transition table fitted on the
    clients' training points. A model's utility is read beside these."""
    if len(prep.heldout_x) == 0:
        return {}
    first = prep.fed.heldout_start
    pop = prep.population
    train = [ll[:first] for ll in pop.latlon]  # every point any training window used
    current = prep.normalizer.denormalize(np.asarray(prep.heldout_x[:, -1], dtype=np.float64))
    scores = reference_baselines(train, prep.heldout_client, current, prep.heldout_y, prep.vocab)
    return {name: round(float(v["recall_at_5"]), 6) for name, v in scores.items()}


def class_labels(prep: Prepared) -> Callable[[torch.Tensor], torch.Tensor] | None:
    """For the classification head: normalised targets -> index of the nearest vocabulary point."""
    if prep.model.head != "classification":
        return None
    vocab = torch.as_tensor(prep.normalizer.normalize(prep.vocab), dtype=torch.float32)

    def labels(y: torch.Tensor) -> torch.Tensor:
        # exact distances: cdist's matmul shortcut (its default for large inputs) can name a
        # venue metres away as nearest, so a check-in would train on its neighbour's class
        d = torch.cdist(y.reshape(-1, 2), vocab, compute_mode="donot_use_mm_for_euclid_dist")
        return d.argmin(1).view(y.shape[:-1])
    return labels


def run(prep: Prepared, attacks: dict[str, AttackSpec], defense: ClientDefense | None = None,
        iters: int | None = None, progress: Progress | None = None,
        should_stop: Callable[[], bool] | None = None) -> RunResult:
    """Train the federation for `prep.fed.rounds` rounds; every attack attacks every round."""
    t0 = time.perf_counter()
    iters = iters or prep.config.attack.iters
    mapper = prep.mapper() if any(a.mapping for a in attacks.values()) else None
    vocab_n = prep.normalizer.normalize(prep.vocab)
    workers = resolve_workers(prep.config.attack.workers)  # same results for any value
    sessions = {name: AttackSession(spec, prep.model, prep.normalizer, prep.population.n_clients,
                                    prep.n_points, prep.fed.window, iters,
                                    prep.config.federation.seed + 1, mapper, vocab_n,
                                    prep.config.evaluation.threshold_m, workers)
                for name, spec in attacks.items()}
    result = RunResult(prep, {name: [] for name in attacks})
    defense = defense or ClientDefense()
    result.allocation = [float(a) for a in defense.allocation]
    result.epsilon_total = _epsilon_total(defense)
    result.baselines = baselines(prep)

    def after(t: int, params: dict[str, torch.Tensor]) -> None:
        result.utility.append({"round": t, **utility(prep, params)})

    for rec in run_rounds(prep.population, prep.model, prep.fed, defense, class_labels(prep), after):
        result.budget.append({"round": rec.round, "epsilon_round": rec.epsilon_round,
                              "epsilon_spent": rec.epsilon_spent})
        for name, session in sessions.items():
            ra = session.attack_round(rec)
            result.attacks[name].append(ra)
            if progress:
                progress({"round": rec.round, "rounds": prep.fed.rounds, "attack": name,
                          "asr": ra.asr, "ait": ra.ait, "median_error_m": ra.median_error_m,
                          "seconds": ra.seconds, "result": result})
        if should_stop is not None and should_stop():
            result.stopped = True
            break
    for name, session in sessions.items():
        result.final[name] = [final_scores(session, ra) for ra in result.attacks[name]]
        result.final_points[name] = final_points(session, result.attacks[name])
    result.seconds = time.perf_counter() - t0
    return result


def _epsilon_total(defense: ClientDefense) -> float | None:
    """What the whole run composes to for each user (None without a defense: no guarantee)."""
    return None if defense.name == "none" else float(defense.epsilon_total)


def final_points(session: AttackSession, rounds: list[RoundAttack]) -> dict[int, tuple[np.ndarray, np.ndarray]]:
    """client -> (attacked point indices, their end-of-run estimates (P, 2) lat/lon)."""
    seen: dict[int, set[int]] = {}
    for ra in rounds:
        for c in ra.clients.tolist():
            seen.setdefault(c, set()).update(ra.point_idx.tolist())
    out = {}
    for c, pts in seen.items():
        idx = np.array(sorted(pts))
        out[c] = (idx, session.final_estimate(np.array([c]), idx)[0])
    return out


def final_scores(session: AttackSession, ra: RoundAttack) -> dict[str, float]:
    """A round's points scored with the attacker's estimates at the end of the run (after all
    calibration, chaining and retro passes) — Algorithm 1 calibrates once all rounds are in."""
    est = session.final_estimate(ra.clients, ra.point_idx)
    err = haversine(ra.true_latlon[..., 0], ra.true_latlon[..., 1], est[..., 0], est[..., 1])
    return {"asr_final": float(np.mean(err < session.threshold)),
            "median_error_final_m": float(np.median(err))}
