"""`python -m core compare-attacks`: every attack on ONE shared training run (paper Tables 3/4).

Writes the JSON document to --json and, next to it, the paper-layout Markdown table (.md), a long
CSV of every round (.csv) and a plotly figure (.html); prints the Markdown tables.
"""
from __future__ import annotations

import argparse
import sys

from core.cli.common import ProgressBar, add_run_arguments, config_from
from core.experiments import compare


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_run_arguments(p, attack=False)
    p.add_argument("--attacks", default=",".join(compare.PAPER_ATTACKS),
                   help="comma-separated attack names (default: the paper's six)")


def run(args: argparse.Namespace) -> int:
    names = compare.parse_names(args.attacks)  # fail fast on an unknown name, before training
    cfg = config_from(args)
    bar = compare.step_progress(ProgressBar(cfg.rounds * len(names), args.quiet), len(names))
    doc = compare.compare_attacks(cfg, names, progress=bar)
    print(compare.markdown_report(doc))
    if args.json:
        for path in compare.write_outputs(doc, args.json):
            print(f"wrote {path}", file=sys.stderr)
    return 0
