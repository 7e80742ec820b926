"""Metrics (DESIGN.md §4): ASR, AIT, error in metres (attack); recall@5, median error (utility)."""
from core.metrics.attack import ait_summary, asr, errors_m
from core.metrics.utility import recall_at_k

__all__ = ["ait_summary", "asr", "errors_m", "recall_at_k"]
