"""Turn a RunResult into typed rows, the documented JSON shape and readable tables."""
from __future__ import annotations

import numpy as np

from core.attacks.session import RoundAttack
from core.experiments.results import RoundRow, Summary, num
from core.experiments.runner import RunResult
from core.metrics.attack import errors_m


def round_rows(result: RunResult, attack: str) -> list[RoundRow]:
    """One typed row per round of `attack` (see `RoundRow`)."""
    rows = []
    finals = result.final.get(attack, [])
    for i, ra in enumerate(result.attacks[attack]):
        # while a run is live, utility lags one round and end-of-run scores do not exist yet
        ut = result.utility[i] if i < len(result.utility) else {}
        bud = result.budget[i] if i < len(result.budget) else {}
        fin = finals[i] if i < len(finals) else {}
        rows.append(RoundRow(
            round=ra.round, asr=num(ra.asr), ait=num(ra.ait), ait_success=num(ra.ait_success),
            median_error_m=num(ra.median_error_m), recall_at_5=num(ut.get("recall_at_5")),
            acc_at_1=num(ut.get("acc_at_1")),
            median_pred_error_m=num(ut.get("median_pred_error_m")),
            epsilon_round=num(bud.get("epsilon_round")), epsilon_spent=num(bud.get("epsilon_spent")),
            asr_final=num(fin.get("asr_final")), median_error_final_m=num(fin.get("median_error_final_m")),
            attack_seconds=num(ra.seconds), slot_accuracy=num(ra.slot_accuracy)))
    return rows


def run_summary(result: RunResult, attack: str, seconds: float | None = None) -> Summary:
    """The run's summary for `attack`: means, the final model's utility and its baselines."""
    rows = round_rows(result, attack)
    secs = result.seconds if seconds is None else seconds
    return Summary.of(rows, secs, result.epsilon_total, result.baselines)


def reconstructions(result: RunResult, attack: str) -> dict:
    """Per client and trajectory point: true and reconstructed lat/lon — the attacker's estimate
    at the end of the run, or while the run is live the latest estimate so far — and per round
    the estimates of that round's points as they stood then (for the dashboard's round slider)."""
    pop = result.prepared.population
    rounds = result.attacks[attack]
    first_round: dict[tuple[int, int], int] = {}
    latest: dict[int, dict[int, np.ndarray]] = {}
    for ra in rounds:
        for row, c in enumerate(ra.clients.tolist()):
            for j, p in enumerate(ra.point_idx.tolist()):
                first_round.setdefault((c, p), ra.round)
                latest.setdefault(c, {})[p] = ra.est_latlon[row, j]
    final = result.final_points.get(attack)
    if final is None:  # live: no end-of-run estimates yet
        final = {c: (np.array(sorted(pts)), np.array([pts[p] for p in sorted(pts)]))
                 for c, pts in latest.items()}
    clients = []
    for c, (idx, est) in sorted(final.items()):
        true = pop.latlon[c][idx]
        err = errors_m(est, true)
        pts = [{"index": int(p), "true": true[j].tolist(), "rec": np.round(est[j], 7).tolist(),
                "error_m": round(float(err[j]), 2), "first_round": first_round[(c, int(p))]}
               for j, p in enumerate(idx)]
        clients.append({"client": c, "user_id": pop.user_ids[c], "points": pts})
    return {"clients": clients, "by_round": [_round_entry(ra) for ra in rounds]}


def _round_entry(ra: RoundAttack) -> dict:
    return {"round": ra.round, "clients": ra.clients.tolist(), "point_index": ra.point_idx.tolist(),
            "rec": np.round(ra.est_latlon, 7).tolist(), "error_m": np.round(ra.errors_m, 2).tolist()}


def attack_json(result: RunResult, attack: str) -> dict:
    """The single run's document: config, the attack that ran, rounds, summary, reconstructions,
    and the defense's per-round allocation."""
    return {"config": result.prepared.config.to_dict(), "attack": attack,
            "rounds": [r.to_dict() for r in round_rows(result, attack)],
            "summary": run_summary(result, attack).to_dict(), "stopped": result.stopped,
            "allocation": list(result.allocation),
            "reconstructions": reconstructions(result, attack)}


def table(rows: list[dict], columns: tuple[str, ...] = ("round", "asr", "asr_final", "ait",
                                                         "median_error_m", "recall_at_5",
                                                         "median_pred_error_m")) -> str:
    """A Markdown table of round rows."""
    head = "| " + " | ".join(columns) + " |\n|" + "---|" * len(columns) + "\n"

    rows = [r.to_dict() if isinstance(r, RoundRow) else r for r in rows]

    def fmt(v) -> str:
        if v is None:
            return "–"
        return f"{v:.3f}" if isinstance(v, float) else str(v)
    return head + "\n".join("| " + " | ".join(fmt(r[c]) for c in columns) + " |" for r in rows)
