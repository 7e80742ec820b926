"""`python -m core compare-defenses`: ASR and recall@5 per defense and ε (paper Table 5, Fig. 5).

Runs the undefended baseline once and every defense at every ε, each a full federated run attacked
by ST-GIA, then writes

    {"config": {...},
     "defenses": {"none": {"asr", "recall_at_5", "median_pred_error_m", ...},
                  "<defense>": {"<ε>": {"asr", "recall_at_5", "median_pred_error_m",
                                        "allocation": [ε_1, ..., ε_T], "spent", ...}, ...}, ...},
     "risk_profile": {...} (with adaptive), "frontier": {...}, "wall_seconds": ...}

to --json (ASR and recall@5 are means over rounds), the Markdown tables next to it (.md), and
prints the tables and the privacy–utility frontier.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from core.cli.common import ProgressBar, add_run_arguments, config_from, write_json
from core.errors import InputError, ParameterError
from core.experiments.defenses import (DEFAULT_DEFENSES, DEFAULT_EPSILONS, compare_defenses,
                                       frontier_text, markdown_tables)
from core.experiments.setup import prepare


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_run_arguments(p, attack=False, defense=False)
    p.add_argument("--epsilons", default=",".join(f"{e:g}" for e in DEFAULT_EPSILONS),
                   help="total per-user budgets, comma-separated")
    p.add_argument("--defenses", default=",".join(DEFAULT_DEFENSES),
                   help="comma-separated: dpsgd, geoi, geogi, adaptive")
    p.add_argument("--alpha", type=float, default=0.5, help="adaptive: weight of ASR (beta = 1 - alpha)")
    p.add_argument("--radius-km", type=float, default=2.0, help="adaptive: constraint-domain radius")
    p.add_argument("--clip-norm", type=float, default=1.0, help="dpsgd: clipping norm C")


def _floats(text: str) -> list[float]:
    try:
        vals = [float(t) for t in text.split(",") if t.strip()]
    except ValueError:
        raise ParameterError("epsilons", text, "comma-separated numbers, e.g. 1,5,10") from None
    if not vals or any(not v > 0 for v in vals):
        raise ParameterError("epsilons", text, "one or more numbers > 0")
    return vals


class _LazyBar:
    """A ProgressBar whose total comes with the first event (the sweep knows its length)."""

    def __init__(self, quiet: bool) -> None:
        self.quiet, self.bar = quiet, None

    def __call__(self, ev: dict) -> None:
        if self.bar is None:
            self.bar = ProgressBar(ev["total"], self.quiet)
        self.bar(ev)


def run(args: argparse.Namespace) -> int:
    eps = _floats(args.epsilons)
    names = [n.strip() for n in args.defenses.split(",") if n.strip()]
    if not names:
        raise InputError("--defenses is empty")
    cfg = config_from(args)
    prep = prepare(cfg)
    options = {"adaptive": {"alpha": args.alpha, "radius_km": args.radius_km},
               "dpsgd": {"clip_norm": args.clip_norm}}
    doc = compare_defenses(prep, names, eps, progress=_LazyBar(args.quiet), options=options)
    tables = markdown_tables(doc)
    print(tables)
    print(frontier_text(doc))
    print(f"\nwall {doc['wall_seconds']} s", file=sys.stderr)
    if args.json:
        write_json(args.json, doc)
        md = Path(args.json).with_suffix(".md")
        md.write_text(tables + "\n```\n" + frontier_text(doc) + "\n```\n")
        print(f"wrote {md}", file=sys.stderr)
    return 0
