"""`python -m core ablation`: ST-GIA and ST-GIA with each component switched off (paper Fig. 4).

Same options as `compare-attacks`; writes JSON, .md, .csv and a plotly .html next to --json.
"""
from __future__ import annotations

import argparse
import sys

from core.cli.common import ProgressBar, add_run_arguments, config_from
from core.experiments import compare


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_run_arguments(p, attack=False)
    p.add_argument("--base", default="st-gia", help="the attack to ablate (st-gia or st-gia+)")
    p.add_argument("--components", default=",".join(compare.COMPONENTS),
                   help="components to switch off in turn: " + ", ".join(compare.COMPONENTS))


def run(args: argparse.Namespace) -> int:
    components = [c.strip() for c in args.components.split(",") if c.strip()]
    n = len(compare.ablation_specs(args.base, components))  # fail fast on unknown names
    cfg = config_from(args, attack=args.base)
    bar = compare.step_progress(ProgressBar(cfg.rounds * n, args.quiet), n)
    doc = compare.ablation(cfg, args.base, components, progress=bar)
    print(compare.markdown_report(doc))
    if args.json:
        for path in compare.write_outputs(doc, args.json):
            print(f"wrote {path}", file=sys.stderr)
    return 0
