"""Entry point: a registry from subcommand name to the module that defines it.

Each subcommand module exposes `add_arguments(parser)` and `run(args) -> int`.
"""
from __future__ import annotations

import argparse
import importlib
import sys

from core.errors import InputError

# name -> (module, one-line help). Modules are imported lazily so `--help` stays fast.
COMMANDS: dict[str, tuple[str, str]] = {
    "datasets": ("core.cli.datasets", "describe a dataset: users, points, bbox, time span"),
    "attack": ("core.cli.attack", "federated training with a curious server running one attack"),
    "compare-attacks": ("core.cli.compare_attacks", "all six attacks on one training run (Tables 3/4)"),
    "ablation": ("core.cli.ablation", "ST-GIA with each component switched off in turn (Fig. 4)"),
    "compare-defenses": ("core.cli.compare_defenses", "ASR and recall@5 per defense and epsilon (Table 5, Fig. 5)"),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m core", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    for name, (module, help_text) in COMMANDS.items():
        try:
            mod = importlib.import_module(module)
        except ModuleNotFoundError as exc:  # a command whose module has not landed yet
            if exc.name != module:
                raise
            continue
        p = sub.add_parser(name, help=help_text)
        p.set_defaults(_module=module)
        mod.add_arguments(p)
    return parser


def set_threads() -> None:
    """One torch thread by default (env ST_GIA_TORCH_THREADS overrides): the tensors are small,
    and OpenMP threads that spin-wait collapse when another process shares the two cores
    (measured: a 200-iteration round went from 0.7 s to 10–30 s with 2 threads under load)."""
    import os

    import torch

    torch.set_num_threads(max(1, int(os.environ.get("ST_GIA_TORCH_THREADS", "1"))))


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    set_threads()
    try:
        return int(importlib.import_module(args._module).run(args) or 0)
    except InputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
