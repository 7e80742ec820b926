"""Command line of ST-GIA Lab: `python -m core COMMAND --help` lists each command's options.

Experiments (attack, compare-attacks, ablation, compare-defenses, defense-maps) come from the
experiment registry; their flags are generated from the run configuration's fields.
"""
from __future__ import annotations

import argparse
import sys

from core.errors import InputError

DESCRIPTION = ("ST-GIA Lab: how much of a person's movement a federated-learning server reads "
               "back from the gradients of a location-prediction model, and what each privacy "
               "defense buys. Every experiment writes JSON (--json) and prints a table.")


def build_parser() -> argparse.ArgumentParser:
    from core.cli import datasets
    from core.cli.flags import add_config_arguments
    from core.experiments.registry import EXPERIMENTS

    parser = argparse.ArgumentParser(prog="python -m core", description=DESCRIPTION)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("datasets", help=datasets.HELP, description=datasets.HELP)
    datasets.add_arguments(p)
    for name, exp in EXPERIMENTS.items():
        p = sub.add_parser(name, help=exp.help, description=exp.help)
        add_config_arguments(p, exp.fields)
        p.add_argument("--json", default=None, metavar="PATH", help="write the result document here")
        p.add_argument("--quiet", action="store_true", help="no progress bar")
    return parser


def set_threads() -> None:
    """One torch thread by default (env ST_GIA_TORCH_THREADS overrides): the tensors are small,
    and OpenMP threads that spin-wait collapse when another process shares the two cores
    (measured: a 200-iteration round went from 0.7 s to 10–30 s with 2 threads under load)."""
    import os

    import torch

    torch.set_num_threads(max(1, int(os.environ.get("ST_GIA_TORCH_THREADS", "1"))))


def run_experiment(args: argparse.Namespace) -> int:
    from core.cli.flags import config_from_args
    from core.cli.output import OUTPUTS, ProgressBar, check_output, print_grid
    from core.experiments.grid import CellStore
    from core.experiments.registry import EXPERIMENTS

    exp = EXPERIMENTS[args.command]
    cfg = config_from_args(args, exp.fields)
    exp.check(cfg)                  # before any data is read
    check_output(args.json)
    set_threads()
    doc = exp(cfg, progress=ProgressBar(args.quiet), store=CellStore.default())
    OUTPUTS[exp.name](doc, args.json)
    print_grid(doc)
    return 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.command == "datasets":
            from core.cli import datasets
            return int(datasets.run(args) or 0)
        return run_experiment(args)
    except InputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        return 130
