"""Arguments and helpers shared by the experiment subcommands."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from core.experiments.config import RunConfig


def add_run_arguments(p: argparse.ArgumentParser, attack: bool = True, defense: bool = True) -> None:
    """--dataset, --format, --roads, model and federation options, --defense/--epsilon."""
    p.add_argument("--dataset", default="demo", help="'demo' or a trajectory file")
    p.add_argument("--format", default=None, help="foursquare | gowalla | mta-bus | csv (default: sniff)")
    p.add_argument("--roads", default=None, help="road network: .graphml, .osm, NODES.csv,EDGES.csv, place:NAME")
    if attack:
        p.add_argument("--attack", default="st-gia", help="attack name (see README)")
    if defense:
        p.add_argument("--defense", default="none", help="none | dpsgd | geoi | geogi | adaptive")
        p.add_argument("--epsilon", type=float, default=None, help="total per-user budget over the run")
    p.add_argument("--clients", type=int, default=100)
    p.add_argument("--rounds", type=int, default=50)
    p.add_argument("--window", type=int, default=1)
    p.add_argument("--batch", type=int, default=1, help="windows per client per round")
    p.add_argument("--iters", type=int, default=200, help="attack iterations per round")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--model", default="lstm", choices=["lstm", "gru"])
    p.add_argument("--head", default="regression", choices=["regression", "classification"])
    p.add_argument("--hidden", type=int, default=16)
    p.add_argument("--algorithm", default="fedsgd", choices=["fedsgd", "fedavg"])
    p.add_argument("--server-lr", type=float, default=RunConfig.server_lr)
    p.add_argument("--server-optimizer", default="sgd", choices=["sgd", "adam"],
                   help="server step: plain SGD (FedSGD) or Adam (FedAdam)")
    p.add_argument("--prior", default="auto", help="mapping prior: auto | roads | venues | roads+venues")
    p.add_argument("--threshold-m", type=float, default=500.0, help="ASR success radius in metres")
    p.add_argument("--json", default=None, help="write the result document here")
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def config_from(args: argparse.Namespace, **override) -> RunConfig:
    fields = dict(dataset=args.dataset, format=args.format, roads=args.roads,
                  attack=getattr(args, "attack", "st-gia"), defense=getattr(args, "defense", "none"),
                  epsilon=getattr(args, "epsilon", None), clients=args.clients, rounds=args.rounds,
                  window=args.window, batch=args.batch, iters=args.iters, seed=args.seed,
                  model=args.model, head=args.head, hidden=args.hidden,
                  algorithm=args.algorithm, server_lr=args.server_lr,
                  server_optimizer=args.server_optimizer, prior=args.prior,
                  threshold_m=args.threshold_m)
    fields.update(override)
    return RunConfig(**fields)


class ProgressBar:
    """A one-line progress bar on stderr, fed by the experiment's progress events."""

    def __init__(self, total: int, quiet: bool = False, width: int = 30) -> None:
        self.total, self.quiet, self.width = max(total, 1), quiet, width

    def __call__(self, event: dict) -> None:
        if self.quiet:
            return
        done = event.get("step", event.get("round", 0))
        frac = min(done / self.total, 1.0)
        bar = "#" * int(frac * self.width)
        extra = " ".join(f"{k}={v:.3f}" if isinstance(v, float) else f"{k}={v}"
                         for k, v in event.items() if k in ("attack", "asr", "median_error_m"))
        print(f"\r[{bar:<{self.width}}] {done}/{self.total} {extra}   ", end="", file=sys.stderr,
              flush=True)
        if done >= self.total:
            print(file=sys.stderr)


def write_json(path: str | None, doc: dict) -> None:
    if path:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_text(json.dumps(doc, indent=1))
        print(f"wrote {path}", file=sys.stderr)
