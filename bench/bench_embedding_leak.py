"""What DP-SGD leaves of the embedding-row leak (issue 13; `core.attacks.embedding`).

Run: python bench/bench_embedding_leak.py [--dataset PATH|demo] [--clients 100] [--rounds 20]
     [--epsilons 1,10,50,1000] [--markdown OUT.md]

Setting: the `realistic` preset with `--model deepmove`; each client clips its whole upload,
embedding table included, to C = 1 and adds N(0, σ²C²) (ε per round, the paper's reading;
`core.defenses.dpsgd`). Undefended, the non-zero rows of ∂L/∂loc_emb are exactly the places the
client fed in. With noise every row is non-zero; the server keeps the n rows of largest norm,
n = the upload's number of input points (public: the protocol). We report, per ε, the mean over
rounds and clients of the share of the client's true visited input places among those rows
(row recall; a random guess scores about n / V), plus the first and last round.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from core.attacks.embedding import row_recall  # noqa: E402
from core.experiments.config import RunConfig  # noqa: E402
from core.experiments.defense_setup import make_defense  # noqa: E402
from core.experiments.runner import class_labels  # noqa: E402
from core.experiments.setup import prepare  # noqa: E402
from core.federated.clients import window_points  # noqa: E402
from core.federated.rounds import run_rounds  # noqa: E402
from core.models.deepmove import location_index  # noqa: E402

NYC = Path("/work/shared/data/foursquare_nyc/nyc_checkins.csv")


def leak_per_round(prep, epsilon: float | None) -> list[float]:
    """Mean row recall of each round under DP-SGD at ε per round (None: undefended)."""
    defense = None if epsilon is None else make_defense("dpsgd", epsilon, prep)
    out = []
    for rec in run_rounds(prep.population, prep.model, prep.fed, defense, class_labels(prep)):
        n = len(np.unique(window_points(rec.starts, prep.fed.window)[:, :prep.fed.window]))
        true_idx = location_index(rec.x_true, prep.model).reshape(len(rec.clients), -1)
        out.append(float(row_recall(rec.uploads["loc_emb"], true_idx, n).mean()))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dataset", default=str(NYC) if NYC.exists() else "demo")
    ap.add_argument("--clients", type=int, default=100)
    ap.add_argument("--rounds", type=int, default=20)
    ap.add_argument("--epsilons", default="1,10,50,1000")
    ap.add_argument("--markdown")
    a = ap.parse_args()
    cfg = RunConfig.build("realistic", model="deepmove", dataset=a.dataset, clients=a.clients,
                          rounds=a.rounds, epsilon_scope="round")
    prep = prepare(cfg)
    lines = [f"Embedding-row leak under DP-SGD (deepmove, realistic preset, {a.dataset}, "
             f"{a.clients} clients, {a.rounds} rounds, C = 1, δ = 1e-5, ε per round; "
             f"vocabulary V = {prep.model.n_classes})", "",
             "| ε per round | row recall (mean) | round 1 | last round |", "|---|---|---|---|"]
    for eps in [None] + [float(e) for e in a.epsilons.split(",")]:
        r = leak_per_round(prep, eps)
        lines.append(f"| {'none' if eps is None else f'{eps:g}'} | {np.mean(r):.3f} | {r[0]:.3f} | {r[-1]:.3f} |")
        print(lines[-1], flush=True)
    text = "\n".join(lines) + "\n"
    print(text)
    if a.markdown:
        Path(a.markdown).write_text(text)


if __name__ == "__main__":
    main()
