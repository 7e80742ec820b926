"""Cost of a federated round (training plus the curious server's attack): DeepMove vs the LSTM.

Run: python bench/bench_deepmove.py [--dataset PATH|demo] [--clients 100] [--rounds 10]

Setting: the `realistic` preset (classification head, hidden 64, history protocol, server Adam),
`--clients` clients, `--rounds` rounds, attack `st-gia+` (on the LSTM: subtraction of kept
windows and the closed form; on DeepMove: the embedding-row attack, `core.attacks.embedding`).
Both models run the same round loop, utility evaluation and session in this one process; we
print the mean wall seconds per round of each, their ratio, and the first and last round's
attack seconds. Under the history protocol a round's cost grows with the round number (round t
trains on t windows), so compare equal round counts.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from core.attacks.registry import get  # noqa: E402
from core.experiments.config import RunConfig  # noqa: E402
from core.experiments.runner import run  # noqa: E402
from core.experiments.setup import prepare  # noqa: E402

NYC = Path("/work/shared/data/foursquare_nyc/nyc_checkins.csv")
ROADS = "/work/shared/data/road_nyc/manhattan_nodes.csv,/work/shared/data/road_nyc/manhattan_edges.csv"


def per_round_seconds(model: str, dataset: str, clients: int, rounds: int) -> dict[str, float]:
    """Mean wall seconds per round (training + attack + utility), and attack seconds."""
    roads = {"roads": ROADS} if dataset != "demo" and Path(ROADS.split(",")[0]).exists() else {}
    cfg = RunConfig.build("realistic", model=model, dataset=dataset, clients=clients,
                          rounds=rounds, **roads)
    prep = prepare(cfg)
    t0 = time.perf_counter()
    res = run(prep, {"st-gia+": get("st-gia+")})
    wall = time.perf_counter() - t0
    ras = res.attacks["st-gia+"]
    return {"per_round": wall / rounds, "attack_first": ras[0].seconds, "attack_last": ras[-1].seconds,
            "asr_min": min(r.asr for r in ras), "recall_at_5": res.utility[-1]["recall_at_5"]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dataset", default=str(NYC) if NYC.exists() else "demo")
    ap.add_argument("--clients", type=int, default=100)
    ap.add_argument("--rounds", type=int, default=10)
    a = ap.parse_args()
    print(f"dataset {a.dataset}, {a.clients} clients, {a.rounds} rounds, preset realistic, st-gia+")
    out = {m: per_round_seconds(m, a.dataset, a.clients, a.rounds) for m in ("lstm", "deepmove")}
    for m, r in out.items():
        print(f"{m:9s} {r['per_round']:7.2f} s/round (attack round 1 {r['attack_first']:.2f} s, "
              f"round {a.rounds} {r['attack_last']:.2f} s); min ASR {r['asr_min']:.3f}; "
              f"recall@5 at round {a.rounds} {r['recall_at_5']:.3f}")
    print(f"ratio deepmove / lstm: {out['deepmove']['per_round'] / out['lstm']['per_round']:.2f}")


if __name__ == "__main__":
    main()
