"""Metrics (DESIGN.md §4): ASR, AIT, error in metres (attack); recall@5, acc@1, median error and
the four reference baselines (utility)."""
from core.metrics.attack import ait_summary, asr, errors_m
from core.metrics.baselines import BASELINES, baseline_candidates, baselines
from core.metrics.utility import VocabIndex, prediction_metrics, recall_at_k, recall_at_k_logits

__all__ = ["BASELINES", "VocabIndex", "ait_summary", "asr", "baseline_candidates", "baselines",
           "errors_m", "prediction_metrics", "recall_at_k", "recall_at_k_logits"]
