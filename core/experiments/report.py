"""Turn a RunResult into the documented JSON shape and readable tables."""
from __future__ import annotations

import math

import numpy as np

from core.attacks.session import RoundAttack
from core.experiments.runner import RunResult
from core.metrics.attack import errors_m


def _num(v: float) -> float | None:
    return None if v is None or (isinstance(v, float) and math.isnan(v)) else round(float(v), 6)


def round_rows(result: RunResult, attack: str) -> list[dict]:
    """[{"round", "asr", "ait", "ait_success", "median_error_m", "recall_at_5", ...}] per round."""
    rows = []
    finals = result.final.get(attack, [])
    for i, ra in enumerate(result.attacks[attack]):
        # while a run is live, utility lags one round and end-of-run scores do not exist yet
        ut = result.utility[i] if i < len(result.utility) else {}
        bud = result.budget[i] if i < len(result.budget) else {}
        fin = finals[i] if i < len(finals) else {}
        rows.append({"round": ra.round, "asr": _num(ra.asr), "ait": _num(ra.ait),
                     "ait_success": _num(ra.ait_success), "median_error_m": _num(ra.median_error_m),
                     "recall_at_5": _num(ut.get("recall_at_5")),
                     "median_pred_error_m": _num(ut.get("median_pred_error_m")),
                     "epsilon_round": _num(bud.get("epsilon_round")),
                     "epsilon_spent": _num(bud.get("epsilon_spent")),
                     "asr_final": _num(fin.get("asr_final")),
                     "median_error_final_m": _num(fin.get("median_error_final_m")),
                     "attack_seconds": _num(ra.seconds)})
    return rows


def summary(rows: list[dict], seconds: float) -> dict:
    def mean(key: str) -> float | None:
        vals = [r[key] for r in rows if r[key] is not None]
        return _num(float(np.mean(vals))) if vals else None
    last = rows[-1] if rows else {}
    return {"rounds_run": len(rows), "mean_asr": mean("asr"), "mean_ait": mean("ait"),
            "mean_asr_final": mean("asr_final"),
            "mean_recall_at_5": mean("recall_at_5"),
            "first_round_asr": rows[0]["asr"] if rows else None,
            "last_round_asr": last.get("asr"), "final_recall_at_5": last.get("recall_at_5"),
            "final_median_pred_error_m": last.get("median_pred_error_m"),
            "epsilon_spent": last.get("epsilon_spent"), "wall_seconds": round(seconds, 3)}


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
    """The `attack` command's document: config, rounds, summary, reconstructions."""
    rows = round_rows(result, attack)
    cfg = dict(result.prepared.config.to_dict(), attack=attack)
    return {"config": cfg, "rounds": rows, "summary": summary(rows, result.seconds),
            "stopped": result.stopped, "reconstructions": reconstructions(result, attack)}


def table(rows: list[dict], columns: tuple[str, ...] = ("round", "asr", "asr_final", "ait",
                                                         "median_error_m", "recall_at_5",
                                                         "median_pred_error_m")) -> str:
    """A Markdown table of round rows."""
    head = "| " + " | ".join(columns) + " |\n|" + "---|" * len(columns) + "\n"

    def fmt(v) -> str:
        if v is None:
            return "–"
        return f"{v:.3f}" if isinstance(v, float) else str(v)
    return head + "\n".join("| " + " | ".join(fmt(r[c]) for c in columns) + " |" for r in rows)
