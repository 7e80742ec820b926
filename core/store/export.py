"""Result documents as CSV (the History page's downloads; the JSON is the document itself)."""
from __future__ import annotations

import csv
import io
import json


def _csv(rows: list[dict]) -> str:
    if not rows:
        return ""
    cols: list[str] = []
    for r in rows:
        cols.extend(k for k in r if k not in cols)
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=cols, lineterminator="\n")
    w.writeheader()
    for r in rows:
        w.writerow({k: (json.dumps(v) if isinstance(v, (list, dict)) else v) for k, v in r.items()})
    return buf.getvalue()


def rounds_csv(doc: dict) -> str:
    """One line per round (attack documents) or per (attack|variant, round) / (defense, ε)."""
    if "rounds" in doc:
        return _csv(doc["rounds"])
    for key, label in (("attacks", "attack"), ("variants", "variant")):
        if key in doc:
            return _csv([{label: name, **row} for name, body in doc[key].items()
                         for row in body.get("rounds", [])])
    if "defenses" in doc:
        return _csv(defense_rows(doc))
    return ""


def defense_rows(doc: dict) -> list[dict]:
    """Flatten a compare-defenses document: one row per (defense, ε), `none` with ε empty."""
    rows = []
    for name, body in doc.get("defenses", {}).items():
        if isinstance(body, dict) and "asr" in body:  # the undefended baseline
            rows.append({"defense": name, "epsilon": None, **_scalars(body)})
            continue
        for eps, cell in (body or {}).items():
            rows.append({"defense": name, "epsilon": float(eps), **_scalars(cell)})
    return rows


def _scalars(d: dict) -> dict:
    return {k: v for k, v in d.items() if not isinstance(v, (list, dict))}


def points_csv(doc: dict) -> str:
    """Attack documents: one line per reconstructed point (true and reconstructed lat/lon)."""
    rows = []
    for c in doc.get("reconstructions", {}).get("clients", []):
        for p in c["points"]:
            rows.append({"client": c["client"], "user_id": c["user_id"], "index": p["index"],
                         "true_lat": p["true"][0], "true_lon": p["true"][1],
                         "rec_lat": p["rec"][0], "rec_lon": p["rec"][1],
                         "error_m": p["error_m"], "first_round": p.get("first_round", p.get("last_round"))})
    return _csv(rows)
