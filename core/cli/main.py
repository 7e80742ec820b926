"""Command line of ST-GIA Lab: `python -m core COMMAND --help` lists each command's options.

Experiments (attack, compare-attacks, ablation, compare-defenses, defense-maps) come from the
experiment registry; their flags are generated from the run configuration's fields. `datasets`
describes a dataset; `report` turns a result JSON into a stakeholder HTML report.

Interrupting: Ctrl-C (SIGINT) and SIGTERM stop a run at once. A single `attack` run then prints
and writes (`--json`) the rounds it finished, marked ``"stopped": true``; the exit status is 130
(Ctrl-C) or 143 (SIGTERM). Errors in the user's input print one line, ``error: ...``, status 2.
"""
from __future__ import annotations

import argparse
import signal
import sys
import time
from contextlib import contextmanager
from typing import Iterator

from core.errors import InputError, terminal_safe


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised wherever the program is, handled like Ctrl-C."""


@contextmanager
def sigterm_interrupts() -> Iterator[None]:
    """Within the block, SIGTERM raises `Terminated` (main thread only; elsewhere a no-op)."""
    def handler(signum, frame) -> None:
        raise Terminated()
    try:
        old = signal.signal(signal.SIGTERM, handler)
    except ValueError:  # not the main thread: leave signals alone
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, old)


class LatestResult:
    """Keeps the live run result the experiment reports with each finished round."""

    def __init__(self, forward) -> None:
        self.forward, self.result, self.t0 = forward, None, time.perf_counter()

    def __call__(self, event: dict) -> None:
        if event.get("result") is not None:
            self.result = event["result"]
        self.forward(event)

DESCRIPTION = ("ST-GIA Lab: how much of a person's movement a federated-learning server reads "
               "back from the gradients of a location-prediction model, and what each privacy "
               "defense buys. Every experiment writes JSON (--json) and prints a table; `report` turns that "
               "JSON into an HTML report for readers outside the field.")


def build_parser() -> argparse.ArgumentParser:
    from core.cli import datasets, report
    from core.cli.flags import add_config_arguments
    from core.experiments.registry import EXPERIMENTS

    parser = argparse.ArgumentParser(prog="python -m core", description=DESCRIPTION)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("datasets", help=datasets.HELP, description=datasets.HELP)
    datasets.add_arguments(p)
    p = sub.add_parser("report", help=report.HELP, description=report.HELP)
    report.add_arguments(p)
    for name, exp in EXPERIMENTS.items():
        p = sub.add_parser(name, help=exp.help, description=exp.help)
        add_config_arguments(p, exp.fields)
        p.add_argument("--json", default=None, metavar="PATH", help="write the result document here")
        p.add_argument("--quiet", action="store_true", help="no progress bar")
    return parser


def checked_config(args: argparse.Namespace):
    """The experiment and its validated config, with --json checked writable: everything a run
    checks before it reads any data."""
    from core.cli.flags import config_from_args
    from core.cli.output import check_output
    from core.experiments.registry import EXPERIMENTS

    exp = EXPERIMENTS[args.command]
    cfg = config_from_args(args, exp.fields)
    exp.check(cfg)
    check_output(args.json)
    return exp, cfg


def run_experiment(args: argparse.Namespace) -> int:
    from core.cli.output import OUTPUTS, ProgressBar, print_grid
    from core.experiments.grid import CellStore

    exp, cfg = checked_config(args)
    from core.threads import set_threads

    set_threads()
    latest = LatestResult(ProgressBar(args.quiet))
    try:
        doc = exp(cfg, progress=latest, store=CellStore.default())
    except KeyboardInterrupt:
        _write_finished(exp.name, cfg, latest, args.json)
        raise
    OUTPUTS[exp.name](doc, args.json)
    print_grid(doc)
    return 0


def _write_finished(name: str, cfg, latest: LatestResult, path: str | None) -> None:
    """After an interrupt: print and write the finished rounds of a single attack run."""
    from core.cli.output import OUTPUTS
    from core.experiments.single import interrupted_doc

    if name != "attack":
        return  # sweeps keep their finished cells themselves
    if latest.result is None:
        print("\nno round had finished: nothing written", file=sys.stderr)
        return
    print(file=sys.stderr)
    doc = interrupted_doc(latest.result, cfg, time.perf_counter() - latest.t0)
    OUTPUTS[name](doc, path)
    print(f"stopped after {len(doc['rounds'])} finished round(s)", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    with sigterm_interrupts():
        try:
            args = build_parser().parse_args(argv)
            if args.command == "datasets":
                from core.cli import datasets
                return int(datasets.run(args) or 0)
            if args.command == "report":
                from core.cli import report
                return report.run(args)
            return run_experiment(args)
        except InputError as exc:
            print(f"error: {terminal_safe(str(exc))}", file=sys.stderr)
            return 2
        except Terminated:
            print("\nterminated (SIGTERM)", file=sys.stderr)
            return 143
        except KeyboardInterrupt:
            print("\ninterrupted", file=sys.stderr)
            return 130
