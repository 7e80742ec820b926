"""`python -m core attack`: federated training with a curious server running one attack."""
from __future__ import annotations

import argparse

from core.attacks import registry as attacks
from core.cli.common import ProgressBar, add_run_arguments, config_from, write_json
from core.defenses import registry as defenses
from core.experiments.report import attack_json, table
from core.experiments import runner
from core.experiments.defense_setup import make_defense
from core.experiments.setup import prepare


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_run_arguments(p)


def run_command(args: argparse.Namespace) -> dict:
    cfg = config_from(args)
    spec = attacks.get(cfg.attack)
    defenses.make(cfg.defense, cfg.epsilon)  # fail on a bad name or budget before loading data
    prep = prepare(cfg)
    defense = make_defense(cfg.defense, cfg.epsilon, prep)
    bar = ProgressBar(cfg.rounds, args.quiet)
    result = runner.run(prep, {cfg.attack: spec}, defense, progress=bar)
    return attack_json(result, cfg.attack)


def run(args: argparse.Namespace) -> int:
    doc = run_command(args)
    cols = ("round", "asr", "asr_final", "ait", "median_error_m", "recall_at_5", "median_pred_error_m")
    if doc["config"]["defense"] != "none":
        cols += ("epsilon_round", "epsilon_spent")
    print(table(doc["rounds"], cols))
    s = doc["summary"]
    print(f"\n{doc['config']['attack']} on {doc['config']['dataset']}: mean ASR {s['mean_asr']}, "
          f"round-1 ASR {s['first_round_asr']}, last-round ASR {s['last_round_asr']}, "
          f"final recall@5 {s['final_recall_at_5']}, wall {s['wall_seconds']} s")
    write_json(args.json, doc)
    return 0
